package sensors

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vigil-cc/vigil/internal/backoff"
)

var errGone = errors.New("device gone")

// fakeSource plays frames in real (or synctest's fake) time, 20 ms each,
// then fails with end (or, if end is nil, blocks until ctx ends).
type fakeSource struct {
	frames [][]float32
	end    error
	closed bool
}

func (f *fakeSource) ReadFrame(ctx context.Context, frame []float32) error {
	if len(f.frames) == 0 {
		if f.end != nil {
			return f.end
		}
		<-ctx.Done()
		return ctx.Err()
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(FrameDuration):
	}
	copy(frame, f.frames[0])
	f.frames = f.frames[1:]
	return nil
}

func (f *fakeSource) Close() error { f.closed = true; return nil }

// fakeOpener hands out sources in order; nil entries fail to open.
type fakeOpener struct {
	mu      sync.Mutex
	sources []*fakeSource
	opens   []time.Duration // when each attempt happened, since start
	devices []string
	start   time.Time
}

func (o *fakeOpener) open(device string) (FrameSource, string, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.opens = append(o.opens, time.Since(o.start))
	o.devices = append(o.devices, device)
	if len(o.sources) == 0 || o.sources[0] == nil {
		if len(o.sources) > 0 {
			o.sources = o.sources[1:]
		}
		return nil, "", fmt.Errorf("no input device matching %q", device)
	}
	s := o.sources[0]
	o.sources = o.sources[1:]
	return s, "fake mic", nil
}

func TestMicRetriesAndPublishesTransitions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &fakeSource{frames: render(silence(50), sine(50, 1000, 0.1), silence(50)), end: errGone}
		o := &fakeOpener{sources: []*fakeSource{nil, nil, src}, start: time.Now()}
		type event struct {
			at time.Duration
			s  MicState
		}
		var events []event
		start := time.Now()
		m := &Mic{
			Open:    o.open,
			Device:  "USB",
			Backoff: backoff.Backoff{Initial: time.Second, Max: 5 * time.Second, Factor: 1.6, Jitter: 0.2, Rand: func() float64 { return 0.5 }},
			OnChange: func(s MicState) {
				events = append(events, event{time.Since(start), s})
			},
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- m.Run(ctx) }()

		time.Sleep(2 * time.Second)
		synctest.Wait()
		if s := m.State(); s.Available || s.DBFS != SilenceDBFS {
			t.Errorf("state while no device: %+v", s)
		}
		if err := m.Err(); err == nil || !strings.Contains(err.Error(), `"USB"`) {
			t.Errorf("Err() while no device = %v", err)
		}

		time.Sleep(8 * time.Second)
		synctest.Wait()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v", err)
		}
		if !src.closed {
			t.Error("source not closed after it failed")
		}

		// Opens: 0, 1 s, 2.6 s (×1.6); the source delivered, so the backoff
		// restarts at 1 s after it fails at 2.6 + 3.0 s; then 1.6 s later.
		ms := func(d time.Duration) string { return fmt.Sprint(d.Milliseconds()) }
		var opens []string
		for _, d := range o.opens {
			opens = append(opens, ms(d))
		}
		if want := []string{"0", "1000", "2600", "6600", "8200"}; !slices.Equal(opens, want) {
			t.Errorf("open attempts at %v ms, want %v", opens, want)
		}
		if o.devices[0] != "USB" {
			t.Errorf("opened %q, want the configured name", o.devices[0])
		}

		var got []string
		for _, e := range events {
			got = append(got, fmt.Sprintf("%s avail=%v voice=%v", ms(e.at), e.s.Available, e.s.Voice))
		}
		want := []string{
			"2620 avail=true voice=false", // first frame
			"3800 avail=true voice=true",  // 50 silent + 10 tone frames
			// The 1 s tone fills the floor's window at its 50th frame (99),
			// so frame 98 is the last speech frame and 113 the 15th quiet.
			"4880 avail=true voice=false",
			"5600 avail=false voice=false",
		}
		if !slices.Equal(got, want) {
			t.Errorf("transitions:\n got %q\nwant %q", got, want)
		}
		if p := m.TakePeak(); math.Abs(p-(-23.01)) > 0.01 {
			t.Errorf("peak %.2f, want -23.01", p)
		}
		if p := m.TakePeak(); p != SilenceDBFS {
			t.Errorf("peak after TakePeak %.2f, want silence", p)
		}
	})
}

func TestMicStateLevel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &fakeSource{frames: render(silence(10), sine(10, 1000, 0.1))} // then blocks
		o := &fakeOpener{sources: []*fakeSource{src}, start: time.Now()}
		m := &Mic{Open: o.open}
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go m.Run(ctx)
		time.Sleep(time.Second)
		synctest.Wait()
		s := m.State()
		if !s.Available || s.Device != "fake mic" || math.Abs(s.DBFS-(-23.01)) > 0.01 {
			t.Errorf("state %+v, want available fake mic at -23.01 dBFS", s)
		}
	})
}

// batchingSource is a fakeSource that is a Batcher: it records the hint in
// force when each frame was asked for, and the Flushes.
type batchingSource struct {
	fakeSource
	atRest  bool
	wake    float64
	hints   []bool // at rest, per frame asked for
	flushes int
}

func (b *batchingSource) Rest(atRest bool, wakeDBFS float64) { b.atRest, b.wake = atRest, wakeDBFS }
func (b *batchingSource) Flush()                             { b.flushes++ }
func (b *batchingSource) ReadFrame(ctx context.Context, frame []float32) error {
	b.hints = append(b.hints, b.atRest)
	return b.fakeSource.ReadFrame(ctx, frame)
}

func TestMicHintsABatchingSource(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &batchingSource{fakeSource: fakeSource{frames: render(silence(20), sine(40, 1000, 0.1), silence(40)), end: errGone}}
		m := &Mic{Open: func(string) (FrameSource, string, error) { return src, "fake mic", nil }}
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go m.Run(ctx)
		time.Sleep(500 * time.Millisecond)
		m.Flush()
		m.Flush()
		time.Sleep(2 * time.Second) // the source ends at 2 s and is closed
		synctest.Wait()
		m.Flush() // no source open: nothing to flush

		// Frame i is asked for after frames 0..i-1 were processed. The
		// tone (frames 20-59) leaves rest with its first frame; voice is on
		// from frame 29 and off at frame 74 (hangover), at rest again after.
		if len(src.hints) < 100 {
			t.Fatalf("%d frames asked for, want 100", len(src.hints))
		}
		for i, atRest := range src.hints[:100] {
			if want := i <= 20 || i >= 75; atRest != want {
				t.Errorf("frame %d asked for with at rest %v, want %v", i, atRest, want)
			}
		}
		if src.flushes != 2 {
			t.Errorf("%d flushes reached the source, want 2", src.flushes)
		}
		if src.wake < -56 || src.wake > -50 {
			t.Errorf("wake level after silence %.1f dBFS, want MinDBFS less the slack (-56)", src.wake)
		}
	})
}

func TestListen(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		open := func(frames [][]float32, end error) OpenMic {
			return (&fakeOpener{sources: []*fakeSource{{frames: frames, end: end}}}).open
		}
		speech := render(silence(10), sine(30, 500, 0.1), silence(20))

		r := Listen(t.Context(), open(speech, nil), "", time.Second, VADConfig{})
		if !r.Available || !r.Voice || r.Frames != 50 || r.Device != "fake mic" || math.Abs(r.PeakDBFS-(-23.01)) > 0.01 || r.Err != nil {
			t.Errorf("speech: %+v", r)
		}
		r = Listen(t.Context(), open(render(silence(100)), nil), "", time.Second, VADConfig{})
		if !r.Available || r.Voice || r.PeakDBFS != SilenceDBFS {
			t.Errorf("silence: %+v", r)
		}
		r = Listen(t.Context(), open(render(sine(5, 1000, 0.1)), nil), "", 0, VADConfig{})
		if !r.Available || r.Frames != 1 || math.Abs(r.PeakDBFS-(-23.01)) > 0.01 {
			t.Errorf("probe: %+v", r)
		}
		r = Listen(t.Context(), open(render(silence(10)), errGone), "", time.Second, VADConfig{})
		if r.Available || !errors.Is(r.Err, errGone) || r.Frames != 10 {
			t.Errorf("device gone: %+v", r)
		}
		// A device that opens but never delivers: unavailable after the
		// stall allowance, not hung.
		start := time.Now()
		r = Listen(t.Context(), open(nil, nil), "", time.Second, VADConfig{})
		if r.Available || r.Err == nil || time.Since(start) != 3*time.Second {
			t.Errorf("stalled device: %+v after %v", r, time.Since(start))
		}
		r = Listen(t.Context(), (&fakeOpener{}).open, "Jabra", time.Second, VADConfig{})
		if r.Available || r.Err == nil || !strings.Contains(r.Err.Error(), "Jabra") {
			t.Errorf("no device: %+v", r)
		}
	})
}
