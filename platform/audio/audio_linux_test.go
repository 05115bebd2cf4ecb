//go:build linux && cgo

package audio_test

import (
	"context"
	"errors"

	"math"
	"strings"
	"testing"
	"time"

	"github.com/vigil-cc/vigil/internal/testrig"
	"github.com/vigil-cc/vigil/platform/audio"
	"github.com/vigil-cc/vigil/sensors"
)

// usePulse points this process's PortAudio (ALSA → pulse plugin) at a
// private PulseAudio daemon. It sets the environment, so these tests are
// not parallel.
func usePulse(t *testing.T) *testrig.PulseAudio {
	t.Helper()
	p := testrig.Pulse(t)
	for _, kv := range p.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	return p
}

// openCapture opens the default device, closed at cleanup.
func openCapture(t *testing.T) *audio.Capture {
	t.Helper()
	c, err := audio.Open("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestCaptureFromPulseAndLoss(t *testing.T) {
	p := usePulse(t)
	tone := testrig.Tone(t, "1")

	c := openCapture(t)
	if c.Name() == "" {
		t.Error("no device name")
	}
	ctx := t.Context()
	frame := make([]float32, sensors.FrameSamples)
	played := p.PlayAsync(t, tone)
	heard := false
	deadline := time.Now().Add(5 * time.Second)
	for !heard && time.Now().Before(deadline) {
		if err := c.ReadFrame(ctx, frame); err != nil {
			t.Fatal(err)
		}
		heard = math.Abs(sensors.FrameDBFS(frame)-(-23.01)) < 0.5
	}
	if !heard {
		t.Fatal("never heard the -23 dBFS tone")
	}
	if err := <-played; err != nil {
		t.Fatal(err)
	}

	// The sound server stops delivering (the sink whose monitor it records is suspended, as when a
	// USB headset is unplugged mid-stream): the device is gone for us.
	if _, err := p.Pactl("suspend-sink", testrig.PulseSink, "1"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var readErr error
	for readErr == nil && time.Since(start) < audio.StallTimeout+3*time.Second {
		readErr = c.ReadFrame(ctx, frame)
	}
	if readErr == nil {
		t.Fatal("still reading after the sink was suspended")
	}
	t.Logf("after the sink was suspended: %v (after %v)", readErr, time.Since(start).Round(time.Millisecond))
	if err := c.Close(); err != nil {
		t.Logf("closing a lost stream: %v", err)
	}

	// A fresh Open works again once the source is back (in race builds too:
	// the stream is PortAudio's own, not a Go-side id).
	if _, err := p.Pactl("suspend-sink", testrig.PulseSink, "0"); err != nil {
		t.Fatal(err)
	}
	c2, err := audio.Open("default")
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := c2.ReadFrame(rctx, frame); err != nil {
		t.Fatalf("reopened device: %v", err)
	}
}

func TestOpenUnknownDevice(t *testing.T) {
	usePulse(t)
	_, err := audio.Open("no-such-microphone")
	if err == nil {
		t.Fatal("opened a device that does not exist")
	}
	if !strings.Contains(err.Error(), `"no-such-microphone"`) || !strings.Contains(err.Error(), "inputs:") {
		t.Errorf("error should name the wanted device and list the inputs: %v", err)
	}
	if errors.Is(err, audio.ErrUnsupported) {
		t.Error(err)
	}
}

// heard is one frame as the test's reader got it.
type heard struct {
	at   time.Time
	dbfs float64
}

// reader reads c until the test ends, sending every frame.
func reader(t *testing.T, c *audio.Capture) <-chan heard {
	ch := make(chan heard, 1000)
	ctx := t.Context()
	go func() {
		frame := make([]float32, sensors.FrameSamples)
		for c.ReadFrame(ctx, frame) == nil {
			ch <- heard{time.Now(), sensors.FrameDBFS(frame)}
		}
	}()
	return ch
}

// wakeups takes d of audio from ch and counts the reader's wake-ups:
// frames more than 30 ms after the previous one.
func wakeups(ch <-chan heard, d time.Duration) int {
	n, last := 0, time.Time{}
	for range int(d / sensors.FrameDuration) {
		h := <-ch
		if h.at.Sub(last) > 30*time.Millisecond {
			n++
		}
		last = h.at
	}
	return n
}

// TestCaptureBatchesWhileResting: eager, the reader wakes for every chunk;
// resting, quiet audio waits for RestWait or Flush, and a loud chunk wakes
// it at once.
func TestCaptureBatchesWhileResting(t *testing.T) {
	p := usePulse(t)
	tone := testrig.Tone(t, "0.5")
	c := openCapture(t)
	ch := reader(t, c)

	wakeups(ch, 200*time.Millisecond) // started
	eager := wakeups(ch, 2*time.Second)
	if eager < 14 {
		t.Errorf("eager: 2 s of audio came in %d wake-ups, want one per %v chunk (about 20)", eager, audio.ChunkDuration)
	}

	c.Rest(true, -40) // silence is far below
	wakeups(ch, 200*time.Millisecond)
	resting := wakeups(ch, 2*time.Second)
	if resting > 7 {
		t.Errorf("resting: 2 s of quiet audio came in %d wake-ups, want one per %v (about 4)", resting, audio.RestWait)
	}
	t.Logf("2 s of audio: %d wake-ups eager, %d resting", eager, resting)

	// Flush: the waiting reader takes what is there at once.
	for len(ch) > 0 {
		<-ch
	}
	time.Sleep(audio.RestWait / 4) // the reader is waiting; audio piles up
	flushed := time.Now()
	c.Flush()
	if lag := (<-ch).at.Sub(flushed); lag > audio.RestWait/4 {
		t.Errorf("the first frame came %v after Flush, want at once", lag.Round(time.Millisecond))
	}

	// A loud chunk wakes the resting reader without Flush: each of three
	// tones is heard well before RestWait could have passed.
	for i := range 3 {
		time.Sleep(audio.RestWait / 2)
		for len(ch) > 0 {
			<-ch
		}
		played := p.PlayAsync(t, tone)
		start := time.Now()
		for h := <-ch; h.dbfs < -30; h = <-ch {
		}
		if lag := time.Since(start); lag > audio.RestWait/2 {
			t.Errorf("tone %d: heard %v after it started, want within a chunk or two", i, lag.Round(time.Millisecond))
		} else {
			t.Logf("tone %d heard %v after it started", i, lag.Round(time.Millisecond))
		}
		if err := <-played; err != nil {
			t.Fatal(err)
		}
	}
}
