package backoff

import (
	"context"
	"slices"
	"testing"
	"testing/synctest"
	"time"
)

func TestDelay(t *testing.T) {
	b := Backoff{Initial: time.Second, Max: 10 * time.Second, Factor: 2, Jitter: 0.2}
	for _, tc := range []struct {
		b        Backoff
		failed   int
		r        float64
		want     time.Duration
		min, max time.Duration
	}{
		{b, 1, 0.5, time.Second, 0, 0},
		{b, 2, 0.5, 2 * time.Second, 0, 0},
		{b, 3, 0.5, 4 * time.Second, 0, 0},
		{b, 4, 0.5, 8 * time.Second, 0, 0},
		{b, 5, 0.5, 10 * time.Second, 0, 0}, // capped
		{b, 50, 0.5, 10 * time.Second, 0, 0},
		{b, 5000, 0.5, 10 * time.Second, 0, 0},  // no overflow
		{b, 0, 0.5, time.Second, 0, 0},          // before the first failure: the first delay
		{b, 1, 0, 800 * time.Millisecond, 0, 0}, // −20 %
		{b, 5, 0.999999, 0, 11999 * time.Millisecond, 12 * time.Second},
		{Backoff{}, 1, 0.5, time.Second, 0, 0}, // the zero value: 1 s, ×1.6, 30 s, no jitter
		{Backoff{}, 2, 0, 1600 * time.Millisecond, 0, 0},
		{Backoff{}, 100, 0.5, 30 * time.Second, 0, 0},
		{Backoff{Initial: time.Minute, Max: time.Second}, 3, 0.5, time.Minute, 0, 0}, // Max below Initial
		{Backoff{Jitter: -1}, 1, 0, time.Second, 0, 0},                               // negative: no jitter
		{Backoff{Jitter: 5}, 1, 0, 0, 0, 0},                                          // at most ±100 %
		{Default(), 2, 0.5, 1600 * time.Millisecond, 0, 0},
	} {
		got := tc.b.Delay(tc.failed, tc.r)
		if tc.min == 0 && tc.max == 0 && got != tc.want {
			t.Errorf("%+v.Delay(%d, %v) = %v, want %v", tc.b, tc.failed, tc.r, got, tc.want)
		}
		if (tc.min != 0 || tc.max != 0) && (got < tc.min || got > tc.max) {
			t.Errorf("%+v.Delay(%d, %v) = %v, want in [%v, %v]", tc.b, tc.failed, tc.r, got, tc.min, tc.max)
		}
	}
}

func TestNextAndReset(t *testing.T) {
	b := Backoff{Initial: time.Second, Max: 5 * time.Second, Factor: 2, Jitter: 0.2, Rand: func() float64 { return 0.5 }}
	var got []time.Duration
	for range 5 {
		got = append(got, b.Next())
	}
	if want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}; !slices.Equal(got, want) {
		t.Errorf("delays %v, want %v", got, want)
	}
	b.Reset()
	if d := b.Next(); d != time.Second {
		t.Errorf("after Reset %v, want 1s", d)
	}
	b.Rand = func() float64 { return 0 }
	if d := b.Next(); d != 1600*time.Millisecond { // 2 s − 20 %
		t.Errorf("low jitter %v, want 1.6s", d)
	}
	var zero Backoff
	if d := zero.Next(); d != time.Second {
		t.Errorf("zero Backoff first delay %v, want the default 1s", d)
	}
	for range 20 {
		zero.Next()
	}
	if d := zero.Next(); d != 30*time.Second {
		t.Errorf("zero Backoff cap %v, want 30s", d)
	}
}

func TestFill(t *testing.T) {
	def := Backoff{Initial: time.Second, Max: 2 * time.Minute, Factor: 1.6, Jitter: 0.2}
	for _, tc := range []struct{ in, want Backoff }{
		{Backoff{}, def},
		{Backoff{Initial: 5 * time.Millisecond, Max: 100 * time.Millisecond}, Backoff{Initial: 5 * time.Millisecond, Max: 100 * time.Millisecond, Factor: 1.6, Jitter: 0.2}},
		{Backoff{Jitter: -1}, Backoff{Initial: time.Second, Max: 2 * time.Minute, Factor: 1.6, Jitter: -1}},
	} {
		if got := tc.in.Fill(def); got.Initial != tc.want.Initial || got.Max != tc.want.Max || got.Factor != tc.want.Factor || got.Jitter != tc.want.Jitter {
			t.Errorf("%+v.Fill = %+v, want %+v", tc.in, got, tc.want)
		}
	}
	if !(Backoff{Jitter: 0.2}).IsZero() || Default().IsZero() {
		t.Error("IsZero")
	}
}

// An attempt that stays up StableAfter starts the delays over; shorter
// ones keep growing them. Wait sleeps on the (fake) clock.
func TestStableAfterAndWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := Backoff{Initial: time.Second, Max: time.Minute, Factor: 2, StableAfter: 30 * time.Second}
		var waits []time.Duration
		for _, up := range []time.Duration{time.Second, time.Second, 40 * time.Second, 0} {
			b.Begin()
			time.Sleep(up)
			start := time.Now()
			if !b.Wait(t.Context()) {
				t.Fatal("Wait cut short")
			}
			waits = append(waits, time.Since(start))
		}
		if want := []time.Duration{time.Second, 2 * time.Second, time.Second, 2 * time.Second}; !slices.Equal(waits, want) {
			t.Errorf("waits %v, want %v", waits, want)
		}
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if b.Wait(ctx) {
			t.Error("Wait passed on an ended context")
		}
	})
}
