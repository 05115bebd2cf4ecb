package ratelimit

import (
	"fmt"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)

// A flood of distinct keys past the bound never unlocks a key that is held
// back: only idle buckets are dropped, and new keys share an overflow
// bucket while none is idle. (The limiter this replaces cleared every
// bucket once it held 10,000 keys.)
func TestFloodOfKeysKeepsLockedKeysLocked(t *testing.T) {
	k := NewKeyed(Limit{Every: 30 * time.Second, Burst: 5}, 100)
	for range 5 {
		k.Allow(t0, "victim")
	}
	if k.Wait(t0, "victim") == 0 {
		t.Fatal("victim not locked after 5 failures")
	}
	now := t0
	for i := range 10000 {
		now = now.Add(time.Millisecond)
		k.Allow(now, fmt.Sprintf("guess%d", i))
	}
	if w := k.Wait(now, "victim"); w == 0 {
		t.Fatal("a flood of 10,000 other keys unlocked the victim")
	}
	if k.Len() > 100 {
		t.Fatalf("%d keys held, bound 100", k.Len())
	}
	// The overflow bucket limits the flood as one client.
	if k.Allow(now, "one more") && k.Allow(now, "and another") && k.Allow(now, "and more") &&
		k.Allow(now, "4") && k.Allow(now, "5") && k.Allow(now, "6") {
		t.Error("new keys past the bound were not limited together")
	}
	// Once buckets idle (full again), they make room for new keys.
	later := now.Add(10 * time.Minute)
	if !k.Allow(later, "fresh") || k.Get(later, "fresh") == k.Get(later, "another fresh") {
		t.Error("idle buckets did not make room for new keys")
	}
}

func TestWaitAt(t *testing.T) {
	k := NewKeyed(Limit{Every: 10 * time.Second, Burst: 1}, 0)
	if k.Wait(t0, "a") != 0 || !k.Allow(t0, "a") {
		t.Fatal("a fresh key is limited")
	}
	if w := k.Wait(t0.Add(4*time.Second), "a"); w != 6*time.Second {
		t.Fatalf("wait %v, want 6s", w)
	}
}
