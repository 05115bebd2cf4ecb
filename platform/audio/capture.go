//go:build (linux || windows) && cgo

package audio

// The capture shared by Linux and Windows: PortAudio's callback in C fills
// a ring the Go reader reads without cgo calls. Only the wake-up is per OS
// (a waker: capture_linux.go, an eventfd read through Go's netpoller;
// capture_windows.go, an auto-reset event object), with what else one OS
// needs before PortAudio initialises (prepare).

/*
#cgo pkg-config: portaudio-2.0
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <portaudio.h>

// vigilRing is the capture buffer between PortAudio's audio thread and the
// Go reader. The callback below runs entirely in C: it never enters the Go
// runtime, whose scheduler would otherwise keep polling for several
// milliseconds after each callback (see docs/performance.md). The reader
// reads this C memory directly (no cgo call) and sleeps on its waker, which
// the callback signals (vigilSignal) when the reader should look: after
// every chunk while eager, else only for a chunk with a 20 ms block at
// least wakePower loud (mean square), so that a quiet microphone can be
// read in batches.
typedef struct {
	float *buf;            // cap samples
	uint64_t cap;
	uint64_t written;      // samples written in total; atomic
	intptr_t wake;         // the waker's handle, for vigilSignal
	uint32_t eager;        // atomic
	uint32_t wakePower;    // a float's bits; atomic
	unsigned long block;   // samples per 20 ms block
} vigilRing;

// vigilSignal wakes the reader sleeping on wake; it is defined per OS
// (capture_linux.go, capture_windows.go) and safe on the audio thread.
void vigilSignal(intptr_t wake);

static int vigilCapture(const void *input, void *output, unsigned long n,
		const PaStreamCallbackTimeInfo *ti, PaStreamCallbackFlags flags, void *user) {
	vigilRing *r = user;
	const float *in = input;
	uint64_t w = __atomic_load_n(&r->written, __ATOMIC_RELAXED);
	for (unsigned long i = 0; i < n; i++)
		r->buf[(w + i) % r->cap] = in ? in[i] : 0;
	// Sequentially consistent with the reader's store of eager and its
	// load of written: a reader that found nothing new and then rests is
	// woken by the next loud block.
	__atomic_store_n(&r->written, w + n, __ATOMIC_SEQ_CST);
	int wake = __atomic_load_n(&r->eager, __ATOMIC_SEQ_CST);
	if (!wake && in) {
		uint32_t bits = __atomic_load_n(&r->wakePower, __ATOMIC_RELAXED);
		float thr;
		memcpy(&thr, &bits, sizeof thr);
		for (unsigned long i = 0; !wake && i + r->block <= n; i += r->block) {
			float sum = 0;
			for (unsigned long j = i; j < i + r->block; j++)
				sum += in[j] * in[j];
			wake = sum / r->block >= thr;
		}
	}
	if (wake)
		vigilSignal(r->wake);
	return paContinue;
}

// vigilRingNew returns an eager ring that signals wake, or NULL; the caller
// owns (closes) the waker.
static vigilRing *vigilRingNew(uint64_t cap, unsigned long block, intptr_t wake) {
	vigilRing *r = calloc(1, sizeof *r);
	if (r == NULL)
		return NULL;
	r->buf = calloc(cap, sizeof(float));
	if (r->buf == NULL) {
		free(r);
		return NULL;
	}
	r->cap = cap;
	r->block = block;
	r->wake = wake;
	r->eager = 1;
	return r;
}

static void vigilRingFree(vigilRing *r) {
	memset(r->buf, 0, r->cap * sizeof(float));
	free(r->buf);
	free(r);
}

static PaError vigilOpen(PaStream **s, PaDeviceIndex dev, double rate, double latency, unsigned long frames, vigilRing *r) {
	PaStreamParameters in;
	memset(&in, 0, sizeof in);
	in.device = dev;
	in.channelCount = 1;
	in.sampleFormat = paFloat32;
	in.suggestedLatency = latency;
	return Pa_OpenStream(s, &in, NULL, rate, frames, paNoFlag, vigilCapture, r);
}
*/
import "C"

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/gordonklaus/portaudio"

	"github.com/vigil-cc/vigil/sensors"
)

// ChunkDuration is how much audio PortAudio delivers per callback, and so
// how often an eager reader wakes: the detector still sees 20 ms frames,
// but up to one chunk later. The voice onset (200 ms) plus one chunk stays
// well within the 500 ms the agent promises.
const ChunkDuration = 100 * time.Millisecond

// RestWait bounds how long quiet audio is held back while the detector
// rests (sensors.Batcher) and nobody calls Flush.
const RestWait = 500 * time.Millisecond

const (
	chunkSamples = sensors.SampleRate * int(ChunkDuration/time.Millisecond) / 1000
	// latency asked of PortAudio (its ALSA or MME buffer): two chunks, so
	// one can be read while the next fills.
	latency = 2 * ChunkDuration
	// ringSamples is the capture buffer (queueFrames of audio); when the
	// reader falls further behind, the oldest frames are dropped.
	ringSamples = queueFrames * sensors.FrameSamples
)

// paMu serialises PortAudio's global state: Initialize/Terminate counting,
// device enumeration, opening and closing streams.
var paMu sync.Mutex

// Capture is an open microphone stream. It is a sensors.Batcher.
type Capture struct {
	name   string
	stream unsafe.Pointer // *C.PaStream
	ring   *C.vigilRing
	wake   *waker    // signalled by the ring's callback
	read   uint64    // samples consumed
	dataAt time.Time // when the reader last found new audio

	mu     sync.Mutex // guards closed and the ring against a concurrent Close
	closed bool
}

// Open opens a microphone: the default input device when device is empty,
// else the first input device whose name contains device (case-insensitive).
// Each Open initialises PortAudio afresh, so devices plugged in since the
// last attempt are found.
func Open(device string) (*Capture, error) {
	paMu.Lock()
	defer paMu.Unlock()
	prepare()
	if err := portaudio.Initialize(); err != nil {
		return nil, fmt.Errorf("initialising PortAudio: %w", err)
	}
	opened := false
	defer func() {
		if !opened {
			_ = portaudio.Terminate()
		}
	}()
	dev, index, err := pick(device)
	if err != nil {
		return nil, err
	}
	wake, err := newWaker()
	if err != nil {
		return nil, fmt.Errorf("opening microphone %q: %w", dev.Name, err)
	}
	ring := C.vigilRingNew(C.uint64_t(ringSamples), C.ulong(sensors.FrameSamples), wake.handle())
	if ring == nil {
		wake.close()
		return nil, fmt.Errorf("opening microphone %q: no memory for its buffer", dev.Name)
	}
	var s unsafe.Pointer // *C.PaStream
	if e := C.vigilOpen(&s, C.PaDeviceIndex(index), C.double(sensors.SampleRate), C.double(latency.Seconds()), C.ulong(chunkSamples), ring); e != C.paNoError {
		C.vigilRingFree(ring)
		wake.close()
		return nil, fmt.Errorf("opening microphone %q at 16 kHz mono: %w", dev.Name, paError(e))
	}
	if e := C.Pa_StartStream(s); e != C.paNoError {
		C.Pa_CloseStream(s)
		C.vigilRingFree(ring)
		wake.close()
		return nil, fmt.Errorf("starting microphone %q: %w", dev.Name, paError(e))
	}
	opened = true
	return &Capture{name: dev.Name, stream: s, ring: ring, wake: wake, dataAt: time.Now()}, nil
}

// paError turns a PortAudio error code into gordonklaus/portaudio's error
// (or, for a host API error, the host API's message).
func paError(e C.PaError) error {
	if e == C.paUnanticipatedHostError {
		if info := C.Pa_GetLastHostErrorInfo(); info != nil && info.errorText != nil {
			return fmt.Errorf("%s", C.GoString(info.errorText))
		}
	}
	return portaudio.Error(int(e))
}

// pick chooses the input device and returns it with its PortAudio index
// (portaudio.Devices lists the devices in index order).
func pick(device string) (*portaudio.DeviceInfo, int, error) {
	devs, err := portaudio.Devices()
	if err != nil {
		return nil, 0, fmt.Errorf("listing audio devices: %w", err)
	}
	if device == "" {
		d, err := portaudio.DefaultInputDevice()
		if err != nil {
			return nil, 0, fmt.Errorf("finding the default microphone: %w", err)
		}
		for i, x := range devs {
			if x == d {
				return d, i, nil
			}
		}
		return nil, 0, fmt.Errorf("finding the default microphone: %q is not in PortAudio's device list", d.Name)
	}
	var inputs []string
	for i, d := range devs {
		if d.MaxInputChannels < 1 {
			continue
		}
		if strings.Contains(strings.ToLower(d.Name), strings.ToLower(device)) {
			return d, i, nil
		}
		inputs = append(inputs, fmt.Sprintf("%q", d.Name))
	}
	return nil, 0, fmt.Errorf("no input device matching %q (inputs: %s)", device, strings.Join(inputs, ", "))
}

// Name is the device's name as PortAudio lists it.
func (c *Capture) Name() string { return c.name }

// written is how many samples the callback has stored so far.
func (c *Capture) written() uint64 {
	return atomic.LoadUint64((*uint64)(unsafe.Pointer(&c.ring.written)))
}

// ReadFrame fills frame with the next 20 ms of audio. It returns ErrStalled
// if nothing arrives within StallTimeout. It is not safe for concurrent
// use, but Close may be called while it waits (it then returns an error).
//
// The audio arrives a chunk (ChunkDuration) at a time; ReadFrame returns
// the frames of a chunk at once and, when none is left, sleeps until the
// callback says there is more — or, while resting, until a loud chunk,
// Flush or RestWait.
func (c *Capture) ReadFrame(ctx context.Context, frame []float32) error {
	for {
		wait, err := c.take(frame)
		if wait == 0 || err != nil {
			return err
		}
		if err := c.await(ctx, wait); err != nil {
			return err
		}
	}
}

// Rest implements sensors.Batcher: at rest, only a 20 ms block at least
// wakeDBFS loud wakes the reader before Flush or RestWait.
func (c *Capture) Rest(atRest bool, wakeDBFS float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	power := float32(math.Pow(10, wakeDBFS/10))
	atomic.StoreUint32((*uint32)(unsafe.Pointer(&c.ring.wakePower)), math.Float32bits(power))
	eager := uint32(1)
	if atRest {
		eager = 0
	}
	atomic.StoreUint32((*uint32)(unsafe.Pointer(&c.ring.eager)), eager)
}

// Flush implements sensors.Batcher: a waiting ReadFrame looks at once.
func (c *Capture) Flush() { c.wake.interrupt() }

// await sleeps until the callback signals the waker, Flush, ctx ends or
// wait passes.
func (c *Capture) await(ctx context.Context, wait time.Duration) error {
	stop := context.AfterFunc(ctx, c.Flush)
	defer stop()
	err := c.wake.wait(ctx, wait)
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case err != nil:
		return fmt.Errorf("reading microphone %q: %w", c.name, err)
	}
	return nil // take says whether there is audio, a stall or a Close
}

// take copies the next frame out of the ring into frame and returns 0, or
// returns how long to wait before looking again.
func (c *Capture) take(frame []float32) (time.Duration, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, fmt.Errorf("reading microphone %q: closed", c.name)
	}
	const n = uint64(sensors.FrameSamples)
	const size, chunk = uint64(ringSamples), uint64(chunkSamples)
	ring := unsafe.Slice((*float32)(unsafe.Pointer(c.ring.buf)), ringSamples)
	for {
		w := c.written()
		if w-c.read > size-chunk {
			// Fell behind by more than the buffer: skip to the newest
			// whole frames, leaving room for the chunk being written.
			skip := (w - c.read - (size - chunk) + n - 1) / n
			c.read += skip * n
		}
		if w-c.read >= n {
			for i := range n {
				j := (c.read + i) % size
				frame[i] = ring[j]
				ring[j] = 0 // no sample outlives its frame
			}
			c.read += n
			c.dataAt = time.Now()
			if c.written()-(c.read-n) > size {
				// The callback overwrote this frame while it was copied.
				continue
			}
			return 0, nil
		}
		wait := c.dataAt.Add(StallTimeout).Sub(time.Now())
		if wait <= 0 {
			return 0, fmt.Errorf("%w for %v", ErrStalled, StallTimeout)
		}
		if atomic.LoadUint32((*uint32)(unsafe.Pointer(&c.ring.eager))) == 0 { // resting
			wait = min(wait, RestWait)
		}
		return wait + time.Millisecond, nil
	}
}

// Close stops the stream, clears the buffer and releases PortAudio.
func (c *Capture) Close() error {
	paMu.Lock()
	defer paMu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	C.Pa_AbortStream(c.stream) // fails when the device is already gone; Close still frees it
	var err error
	if e := C.Pa_CloseStream(c.stream); e != C.paNoError {
		err = paError(e)
	}
	C.vigilRingFree(c.ring) // the callback has stopped: the stream is closed
	c.ring = nil
	c.wake.close() // wakes a waiting ReadFrame
	if terr := portaudio.Terminate(); err == nil {
		err = terr
	}
	if err != nil {
		return fmt.Errorf("closing microphone %q: %w", c.name, err)
	}
	return nil
}
