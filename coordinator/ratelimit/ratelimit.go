// Package ratelimit holds token buckets per key (a client address, an
// account name), bounded in number without ever forgetting a bucket that is
// still holding someone back.
package ratelimit

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limit is a token bucket: Burst at once, then one per Every.
type Limit struct {
	Every time.Duration
	Burst int
}

// Valid reports whether l allows anything at all.
func (l Limit) Valid() bool { return l.Every > 0 && l.Burst > 0 }

// New is a bucket for l, full at start.
func (l Limit) New() *rate.Limiter { return rate.NewLimiter(rate.Every(l.Every), l.Burst) }

// DefaultMaxKeys bounds a Keyed's buckets unless told otherwise.
const DefaultMaxKeys = 10000

// Keyed is a bucket per key, at most Max of them. Only idle buckets (full
// again: their key has not been limited for a while) are dropped to make
// room; a bucket that still holds a key back is kept, so a flood of new keys
// cannot unlock a locked one. While every bucket is busy, new keys share one
// overflow bucket: a flood of distinct keys is limited as one client.
type Keyed struct {
	lim Limit
	max int

	mu       sync.Mutex
	m        map[string]*rate.Limiter
	overflow *rate.Limiter
	// noIdleUntil: the last sweep found no idle bucket, and none can be
	// idle before this instant, so new keys skip the sweep until then.
	noIdleUntil time.Time
}

// NewKeyed returns buckets of lim, at most max (≤ 0: DefaultMaxKeys).
func NewKeyed(lim Limit, max int) *Keyed {
	if max <= 0 {
		max = DefaultMaxKeys
	}
	return &Keyed{lim: lim, max: max, m: map[string]*rate.Limiter{}, overflow: lim.New()}
}

// Get returns key's bucket at now (rate.Limiter is safe to use
// concurrently).
func (k *Keyed) Get(now time.Time, key string) *rate.Limiter {
	k.mu.Lock()
	defer k.mu.Unlock()
	if b, ok := k.m[key]; ok {
		return b
	}
	if len(k.m) >= k.max && !now.Before(k.noIdleUntil) {
		for key, b := range k.m {
			if b.TokensAt(now) >= float64(b.Burst()) {
				delete(k.m, key)
			}
		}
		if len(k.m) >= k.max {
			k.noIdleUntil = now.Add(k.lim.Every)
		}
	}
	if len(k.m) >= k.max {
		return k.overflow
	}
	b := k.lim.New()
	k.m[key] = b
	return b
}

// Allow takes one token from key's bucket at now, if it has one.
func (k *Keyed) Allow(now time.Time, key string) bool { return k.Get(now, key).AllowN(now, 1) }

// Wait is how long until key may take one token at now, without taking it.
func (k *Keyed) Wait(now time.Time, key string) time.Duration { return WaitAt(k.Get(now, key), now) }

// Len is the number of keys held.
func (k *Keyed) Len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.m)
}

// WaitAt is how long until b has a token at now, without taking it.
func WaitAt(b *rate.Limiter, now time.Time) time.Duration {
	tokens := b.TokensAt(now)
	if tokens >= 1 {
		return 0
	}
	return time.Duration(math.Ceil((1 - tokens) / float64(b.Limit()) * float64(time.Second)))
}
