package webhook

import (
	"math"
	"time"
)

// Backoff spaces the attempts to deliver one event: Initial after the first
// failure, growing by Factor per failure up to Max, each spread by ±Jitter
// so a receiver coming back is not hit by every event at once.
type Backoff struct {
	Initial time.Duration // 1 s if zero
	Max     time.Duration // 2 min if zero
	Factor  float64       // 1.6 if zero
	Jitter  float64       // 0.2 (±20 %) if zero; negative for none
}

func (b Backoff) withDefaults() Backoff {
	if b.Initial <= 0 {
		b.Initial = time.Second
	}
	if b.Max <= 0 {
		b.Max = 2 * time.Minute
	}
	if b.Max < b.Initial {
		b.Max = b.Initial
	}
	if b.Factor < 1 {
		b.Factor = 1.6
	}
	switch {
	case b.Jitter == 0:
		b.Jitter = 0.2
	case b.Jitter < 0:
		b.Jitter = 0
	case b.Jitter > 1:
		b.Jitter = 1
	}
	return b
}

// Delay is the wait after the failed-th failed attempt (from 1); r is a
// random number in [0, 1) (0.5 means no jitter). The nominal delay is capped
// at Max before the jitter spreads it.
func (b Backoff) Delay(failed int, r float64) time.Duration {
	b = b.withDefaults()
	d := float64(b.Max)
	if failed < 1 {
		failed = 1
	}
	if e := float64(b.Initial) * math.Pow(b.Factor, float64(failed-1)); e < d {
		d = e
	}
	d *= 1 + b.Jitter*(2*r-1)
	return time.Duration(d)
}
