// Package backoff spaces out retries: exponential delays with jitter and a
// cap, reset after a success or after an attempt that stayed up long
// enough. It is the one retry policy of the agent and the coordinator's
// webhook; the clock, the random source and the sleep can be injected.
package backoff

import (
	"context"
	"math"
	"math/rand/v2"
	"time"
)

// Backoff is Initial, then ×Factor per failure up to Max, each delay
// spread by ±Jitter (a fraction; zero or negative: none). A zero Initial
// is 1 s, a zero Max 30 s, a Factor below 1 is 1.6. Next and Reset keep
// the count of failures; Delay is the pure rule behind them.
type Backoff struct {
	Initial time.Duration
	Max     time.Duration
	Factor  float64
	Jitter  float64
	// StableAfter: an attempt that lasted at least this long (from Begin
	// to Next) counts as a success, and Next starts over at Initial. Zero:
	// only Reset starts over.
	StableAfter time.Duration
	// Rand returns a number in [0, 1); nil uses math/rand/v2.
	Rand func() float64
	// Now is the clock for StableAfter; nil: time.Now.
	Now func() time.Time
	// Sleep waits for Wait; nil: Sleep.
	Sleep func(ctx context.Context, d time.Duration) bool

	failed int
	begun  time.Time
}

// Default is 1 s, ×1.6, ±20 %, at most 30 s (gRPC's connection-backoff
// numbers with a lower cap).
func Default() Backoff {
	return Backoff{Initial: time.Second, Max: 30 * time.Second, Factor: 1.6, Jitter: 0.2}
}

// IsZero reports whether no numbers are set, so the caller's default
// applies.
func (b Backoff) IsZero() bool { return b.Initial == 0 && b.Max == 0 && b.Factor == 0 }

// Fill returns b with each number it leaves zero taken from def.
func (b Backoff) Fill(def Backoff) Backoff {
	if b.Initial <= 0 {
		b.Initial = def.Initial
	}
	if b.Max <= 0 {
		b.Max = def.Max
	}
	if b.Factor == 0 {
		b.Factor = def.Factor
	}
	if b.Jitter == 0 {
		b.Jitter = def.Jitter
	}
	return b
}

// Delay is the wait after the failed-th failed attempt (from 1); r is a
// random number in [0, 1) (0.5 means no jitter). The nominal delay is
// capped at Max before the jitter spreads it.
func (b Backoff) Delay(failed int, r float64) time.Duration {
	initial, maxD, factor, jitter := b.Initial, b.Max, b.Factor, b.Jitter
	if initial <= 0 {
		initial = time.Second
	}
	if maxD <= 0 {
		maxD = 30 * time.Second
	}
	maxD = max(maxD, initial)
	if factor < 1 {
		factor = 1.6
	}
	jitter = min(max(jitter, 0), 1)
	failed = max(failed, 1)
	d := float64(maxD)
	if e := float64(initial) * math.Pow(factor, float64(failed-1)); e < d {
		d = e
	}
	d *= 1 + jitter*(2*r-1)
	return time.Duration(math.Round(d))
}

// Begin marks the start of an attempt (see StableAfter).
func (b *Backoff) Begin() { b.begun = b.now() }

// Next counts a failed attempt and returns the delay before the next one.
func (b *Backoff) Next() time.Duration {
	if b.StableAfter > 0 && !b.begun.IsZero() && b.now().Sub(b.begun) >= b.StableAfter {
		b.failed = 0
	}
	b.begun = time.Time{}
	b.failed++
	r := rand.Float64
	if b.Rand != nil {
		r = b.Rand
	}
	return b.Delay(b.failed, r())
}

// Reset starts over at Initial: the last attempt worked.
func (b *Backoff) Reset() { b.failed, b.begun = 0, time.Time{} }

// Wait sleeps Next(), or less if ctx ends; it reports whether the whole
// delay passed.
func (b *Backoff) Wait(ctx context.Context) bool {
	sleep := Sleep
	if b.Sleep != nil {
		sleep = b.Sleep
	}
	return sleep(ctx, b.Next())
}

func (b *Backoff) now() time.Time {
	if b.Now != nil {
		return b.Now()
	}
	return time.Now()
}

// Sleep waits d or until ctx ends; it reports whether d passed.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
