//go:build race

package audio

// raceEnabled: see Open. gordonklaus/portaudio passes its stream ids to C
// as pointers (unsafe.Pointer(s.id)); the race detector's checkptr accepts
// id 0 (nil) but aborts the whole process with "pointer arithmetic computed
// bad pointer value" for any later id. So a race-instrumented binary can
// open only one stream in its lifetime.
const raceEnabled = true
