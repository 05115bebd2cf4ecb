//go:build cgo

package audio

/*
#cgo pkg-config: alsa jack
#include <alsa/asoundlib.h>
#include <jack/jack.h>

// PortAudio probes every ALSA PCM and JACK when it initialises; on a
// machine without a sound card (or without a JACK server) both libraries
// print dozens of lines to stderr. Open reports failures itself, so they
// are silenced unless VIGIL_AUDIO_DEBUG is set.
static void vigilAlsaSilent(const char *file, int line, const char *function, int err, const char *fmt, ...) {}
static void vigilJackSilent(const char *msg) {}
static void vigilQuietAudioLibs(void) {
	snd_lib_error_set_handler(vigilAlsaSilent);
	jack_set_error_function(vigilJackSilent);
	jack_set_info_function(vigilJackSilent);
}
*/
import "C"

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gordonklaus/portaudio"

	"github.com/vigil-cc/vigil/sensors"
)

// paMu serialises PortAudio's global state: Initialize/Terminate counting,
// device enumeration, opening and closing streams.
var (
	paMu      sync.Mutex
	quietOnce sync.Once
	streams   int // streams opened by this process
)

// Capture is an open microphone stream.
type Capture struct {
	name    string
	stream  *portaudio.Stream
	frames  chan []float32
	pending []float32 // callback side: samples not yet a full frame
	dropped atomic.Uint64
	timer   *time.Timer
	closed  bool
}

// Open opens a microphone: the default input device when device is empty,
// else the first input device whose name contains device (case-insensitive).
// Each Open initialises PortAudio afresh, so devices plugged in since the
// last attempt are found.
func Open(device string) (*Capture, error) {
	paMu.Lock()
	defer paMu.Unlock()
	if os.Getenv("VIGIL_AUDIO_DEBUG") == "" {
		quietOnce.Do(func() { C.vigilQuietAudioLibs() })
	}
	if err := portaudio.Initialize(); err != nil {
		return nil, fmt.Errorf("initialising PortAudio: %w", err)
	}
	opened := false
	defer func() {
		if !opened {
			_ = portaudio.Terminate()
		}
	}()
	dev, err := pick(device)
	if err != nil {
		return nil, err
	}
	if raceEnabled && streams > 0 {
		return nil, ErrRaceReopen
	}
	streams++
	c := &Capture{name: dev.Name, frames: make(chan []float32, queueFrames)}
	params := portaudio.StreamParameters{
		Input:           portaudio.StreamDeviceParameters{Device: dev, Channels: 1, Latency: dev.DefaultLowInputLatency},
		SampleRate:      sensors.SampleRate,
		FramesPerBuffer: sensors.FrameSamples,
	}
	s, err := portaudio.OpenStream(params, c.callback)
	if err != nil {
		return nil, fmt.Errorf("opening microphone %q at 16 kHz mono: %w", dev.Name, err)
	}
	if err := s.Start(); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("starting microphone %q: %w", dev.Name, err)
	}
	c.stream = s
	opened = true
	return c, nil
}

// pick chooses the input device.
func pick(device string) (*portaudio.DeviceInfo, error) {
	if device == "" {
		d, err := portaudio.DefaultInputDevice()
		if err != nil {
			return nil, fmt.Errorf("finding the default microphone: %w", err)
		}
		return d, nil
	}
	devs, err := portaudio.Devices()
	if err != nil {
		return nil, fmt.Errorf("listing audio devices: %w", err)
	}
	var inputs []string
	for _, d := range devs {
		if d.MaxInputChannels < 1 {
			continue
		}
		if strings.Contains(strings.ToLower(d.Name), strings.ToLower(device)) {
			return d, nil
		}
		inputs = append(inputs, fmt.Sprintf("%q", d.Name))
	}
	return nil, fmt.Errorf("no input device matching %q (inputs: %s)", device, strings.Join(inputs, ", "))
}

// callback runs on PortAudio's thread: it cuts the input into 20 ms frames
// and queues them without blocking.
func (c *Capture) callback(in []float32) {
	c.pending = append(c.pending, in...)
	for len(c.pending) >= sensors.FrameSamples {
		f := make([]float32, sensors.FrameSamples)
		copy(f, c.pending)
		n := copy(c.pending, c.pending[sensors.FrameSamples:])
		clear(c.pending[n:])
		c.pending = c.pending[:n]
		select {
		case c.frames <- f:
		default:
			c.dropped.Add(1)
		}
	}
}

// Name is the device's name as PortAudio lists it.
func (c *Capture) Name() string { return c.name }

// Dropped counts frames dropped because the reader fell behind.
func (c *Capture) Dropped() uint64 { return c.dropped.Load() }

// ReadFrame fills frame with the next 20 ms of audio. It returns ErrStalled
// if nothing arrives within StallTimeout. It is not safe for concurrent
// use.
func (c *Capture) ReadFrame(ctx context.Context, frame []float32) error {
	if c.timer == nil {
		c.timer = time.NewTimer(StallTimeout)
	} else {
		c.timer.Reset(StallTimeout)
	}
	select {
	case f := <-c.frames:
		copy(frame, f)
		clear(f)
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-c.timer.C:
		return fmt.Errorf("%w for %v", ErrStalled, StallTimeout)
	}
}

// Close stops the stream and releases PortAudio.
func (c *Capture) Close() error {
	paMu.Lock()
	defer paMu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	if c.timer != nil {
		c.timer.Stop()
	}
	_ = c.stream.Abort() // fails when the device is already gone; Close still frees it
	err := c.stream.Close()
	if terr := portaudio.Terminate(); err == nil {
		err = terr
	}
	if err != nil {
		return fmt.Errorf("closing microphone %q: %w", c.name, err)
	}
	return nil
}
