// Package audio captures the microphone for the voice activity detector:
// 16 kHz mono float32 in 20 ms frames (sensors.FrameSamples), through
// PortAudio (on Linux via ALSA, whose "pulse"/"default" devices reach
// PulseAudio or PipeWire). It is built on Linux with cgo; elsewhere Open
// returns ErrUnsupported.
//
// Samples never leave the process: a Capture hands each frame to its
// reader and keeps nothing.
package audio

import (
	"errors"
	"time"
)

// ErrUnsupported is returned by Open where capture is not built (not Linux,
// or built without cgo).
var ErrUnsupported = errors.New("microphone capture needs Linux and cgo (PortAudio)")

// ErrStalled is returned by ReadFrame when the device delivers nothing for
// StallTimeout: it is gone (unplugged, the sound server died) even if
// PortAudio did not say so.
var ErrStalled = errors.New("microphone delivered no audio")

// ErrRaceReopen is returned by Open in race-instrumented builds after the
// first stream: gordonklaus/portaudio hands its stream ids to C as
// pointers, which the race detector's pointer checks reject fatally for
// every id but the first. Normal builds reopen without limit.
var ErrRaceReopen = errors.New("race-instrumented build: PortAudio can open only one stream per process")

// StallTimeout is how long ReadFrame waits for audio before ErrStalled.
const StallTimeout = 2 * time.Second

// queueFrames bounds the frames buffered between PortAudio's thread and the
// reader (1 s); when the reader falls further behind, new frames are
// dropped.
const queueFrames = 50
