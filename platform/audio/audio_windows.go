//go:build cgo

package audio

// The Windows capture mirrors audio_linux.go: the same C ring filled by a
// C callback and read from Go without cgo calls, the same reader. Only the
// wake-up differs: an auto-reset event object (SetEvent is safe on
// PortAudio's audio thread) instead of an eventfd, waited on with
// WaitForSingleObject. PortAudio comes from scripts/portaudio-windows.sh
// (static, MME), found through pkg-config.

/*
#cgo pkg-config: portaudio-2.0
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <windows.h>
#include <portaudio.h>

typedef struct {
	float *buf;            // cap samples
	uint64_t cap;
	uint64_t written;      // samples written in total; atomic
	HANDLE wake;           // auto-reset event
	uint32_t eager;        // atomic
	uint32_t wakePower;    // a float's bits; atomic
	unsigned long block;   // samples per 20 ms block
} vigilRing;

static int vigilCapture(const void *input, void *output, unsigned long n,
		const PaStreamCallbackTimeInfo *ti, PaStreamCallbackFlags flags, void *user) {
	vigilRing *r = user;
	const float *in = input;
	uint64_t w = __atomic_load_n(&r->written, __ATOMIC_RELAXED);
	for (unsigned long i = 0; i < n; i++)
		r->buf[(w + i) % r->cap] = in ? in[i] : 0;
	// See audio_linux.go: ordered against the reader's eager store.
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
		SetEvent(r->wake);
	return paContinue;
}

// vigilRingNew returns an eager ring, or NULL; the caller owns (closes)
// its wake event.
static vigilRing *vigilRingNew(uint64_t cap, unsigned long block) {
	vigilRing *r = calloc(1, sizeof *r);
	if (r == NULL)
		return NULL;
	r->buf = calloc(cap, sizeof(float));
	if (r->buf == NULL) {
		free(r);
		return NULL;
	}
	r->wake = CreateEventW(NULL, FALSE, FALSE, NULL);
	if (r->wake == NULL) {
		free(r->buf);
		free(r);
		return NULL;
	}
	r->cap = cap;
	r->block = block;
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
	"golang.org/x/sys/windows"

	"github.com/vigil-cc/vigil/sensors"
)

// ChunkDuration is how much audio PortAudio delivers per callback (see
// audio_linux.go).
const ChunkDuration = 100 * time.Millisecond

// RestWait bounds how long quiet audio is held back while the detector
// rests (sensors.Batcher) and nobody calls Flush.
const RestWait = 500 * time.Millisecond

const (
	chunkSamples = sensors.SampleRate * int(ChunkDuration/time.Millisecond) / 1000
	latency      = 2 * ChunkDuration
	ringSamples  = queueFrames * sensors.FrameSamples
)

// paMu serialises PortAudio's global state.
var paMu sync.Mutex

// Capture is an open microphone stream. It is a sensors.Batcher.
type Capture struct {
	name    string
	stream  unsafe.Pointer // *C.PaStream
	ring    *C.vigilRing
	wake    windows.Handle // the ring's event
	read    uint64
	dataAt  time.Time
	dropped atomic.Uint64

	mu     sync.Mutex // guards closed and the ring against a concurrent Close
	closed bool
	// waitMu is held while a reader waits on wake, so Close closes the
	// handle only once nobody waits on it.
	waitMu sync.Mutex
}

// Open opens a microphone: the default input device when device is empty,
// else the first input device whose name contains device (case-insensitive).
func Open(device string) (*Capture, error) {
	paMu.Lock()
	defer paMu.Unlock()
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
	ring := C.vigilRingNew(C.uint64_t(ringSamples), C.ulong(sensors.FrameSamples))
	if ring == nil {
		return nil, fmt.Errorf("opening microphone %q: no memory or event for its buffer", dev.Name)
	}
	wake := windows.Handle(unsafe.Pointer(ring.wake))
	var s unsafe.Pointer // *C.PaStream
	if e := C.vigilOpen(&s, C.PaDeviceIndex(index), C.double(sensors.SampleRate), C.double(latency.Seconds()), C.ulong(chunkSamples), ring); e != C.paNoError {
		C.vigilRingFree(ring)
		windows.CloseHandle(wake)
		return nil, fmt.Errorf("opening microphone %q at 16 kHz mono: %w", dev.Name, paError(e))
	}
	if e := C.Pa_StartStream(s); e != C.paNoError {
		C.Pa_CloseStream(s)
		C.vigilRingFree(ring)
		windows.CloseHandle(wake)
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

// pick chooses the input device and returns it with its PortAudio index.
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

// Dropped counts frames dropped because the reader fell behind.
func (c *Capture) Dropped() uint64 { return c.dropped.Load() }

func (c *Capture) written() uint64 {
	return atomic.LoadUint64((*uint64)(unsafe.Pointer(&c.ring.written)))
}

// ReadFrame fills frame with the next 20 ms of audio; see audio_linux.go.
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

// Rest implements sensors.Batcher.
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
func (c *Capture) Flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		_ = windows.SetEvent(c.wake)
	}
}

// await sleeps until the callback sets the wake event, Flush, ctx ends or
// wait passes. The wait blocks an OS thread (the runtime hands its P on),
// which is what a syscall costs anyway.
func (c *Capture) await(ctx context.Context, wait time.Duration) error {
	stop := context.AfterFunc(ctx, c.Flush)
	defer stop()
	c.waitMu.Lock()
	defer c.waitMu.Unlock()
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return nil // take reports it
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	ms := uint32(min(wait.Milliseconds()+1, math.MaxInt32))
	_, err := windows.WaitForSingleObject(c.wake, ms)
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case err != nil:
		return fmt.Errorf("reading microphone %q: %w", c.name, err)
	}
	return nil // signalled or timed out: take says whether there is audio
}

// take copies the next frame out of the ring into frame and returns 0, or
// returns how long to wait before looking again (see audio_linux.go).
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
			skip := (w - c.read - (size - chunk) + n - 1) / n
			c.read += skip * n
			c.dropped.Add(skip)
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
				c.dropped.Add(1)
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
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	C.Pa_AbortStream(c.stream)
	var err error
	if e := C.Pa_CloseStream(c.stream); e != C.paNoError {
		err = paError(e)
	}
	C.vigilRingFree(c.ring) // the callback has stopped: the stream is closed
	c.ring = nil
	_ = windows.SetEvent(c.wake) // wakes a waiting ReadFrame
	c.mu.Unlock()
	c.waitMu.Lock() // no reader waits on the event any more
	windows.CloseHandle(c.wake)
	c.waitMu.Unlock()
	if terr := portaudio.Terminate(); err == nil {
		err = terr
	}
	if err != nil {
		return fmt.Errorf("closing microphone %q: %w", c.name, err)
	}
	return nil
}
