package sensors

import (
	"math/rand/v2"
	"time"
)

// Backoff spaces out retries: Initial, then ×Factor each time up to Max,
// each delay spread by ±Jitter (a fraction). Reset after a success. The
// zero value uses DefaultBackoff's numbers.
type Backoff struct {
	Initial time.Duration
	Max     time.Duration
	Factor  float64
	Jitter  float64
	// Rand returns a number in [0, 1); nil uses math/rand/v2. Tests set it.
	Rand func() float64

	next time.Duration
}

// DefaultBackoff is for reopening a microphone: 1 s, ×1.6, ±20 %, at most
// 30 s apart.
func DefaultBackoff() Backoff {
	return Backoff{Initial: time.Second, Max: 30 * time.Second, Factor: 1.6, Jitter: 0.2}
}

// Next returns the delay before the next attempt.
func (b *Backoff) Next() time.Duration {
	def := DefaultBackoff()
	if b.Initial <= 0 {
		b.Initial = def.Initial
	}
	if b.Max <= 0 {
		b.Max = def.Max
	}
	if b.Factor < 1 {
		b.Factor = def.Factor
	}
	if b.next == 0 {
		b.next = b.Initial
	}
	d := b.next
	b.next = min(time.Duration(float64(b.next)*b.Factor), b.Max)
	if b.Jitter > 0 {
		r := rand.Float64
		if b.Rand != nil {
			r = b.Rand
		}
		d = time.Duration(float64(d) * (1 + b.Jitter*(2*r()-1)))
	}
	return d
}

// Reset starts over at Initial.
func (b *Backoff) Reset() { b.next = 0 }
