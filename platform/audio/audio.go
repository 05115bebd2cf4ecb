// Package audio captures the microphone for the voice activity detector:
// 16 kHz mono float32 in 20 ms frames (sensors.FrameSamples), through
// PortAudio (on Linux via ALSA, whose "pulse"/"default" devices reach
// PulseAudio or PipeWire; on Windows via MME). It is built on Linux and
// Windows with cgo; elsewhere Open returns ErrUnsupported.
//
// Samples never leave the process: PortAudio's callback (in C) stores them
// in an in-memory ring of at most 1 s; a Capture hands each frame to its
// reader, clears it from the ring, and clears the ring on Close. PortAudio
// delivers ChunkDuration (100 ms) at a time to keep wake-ups rare, and while
// the voice detector rests a Capture hands quiet audio over in batches
// (sensors.Batcher): only a loud chunk wakes its reader at once.
package audio

import (
	"errors"
	"time"
)

// ErrUnsupported is returned by Open where capture is not built (not Linux,
// or built without cgo).
var ErrUnsupported = errors.New("microphone capture needs cgo (PortAudio) on Linux or Windows")

// ErrStalled is returned by ReadFrame when the device delivers nothing for
// StallTimeout: it is gone (unplugged, the sound server died) even if
// PortAudio did not say so.
var ErrStalled = errors.New("microphone delivered no audio")

// StallTimeout is how long ReadFrame waits for audio before ErrStalled.
const StallTimeout = 2 * time.Second

// queueFrames bounds the frames buffered between PortAudio's thread and the
// reader (1 s); when the reader falls further behind, the oldest frames are
// dropped.
const queueFrames = 50
