package store

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func countAudit(t testing.TB, s *Store, kind string) int {
	t.Helper()
	es, err := s.AuditEntries(context.Background(), AuditFilter{Kind: kind, Limit: 1000})
	must(t, err)
	return len(es)
}

// One holder at a time; a takeover of a lapsed lease has the next epoch;
// the old holder can then neither renew nor write through FencedTx.
func TestLeaseFencing(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()

	a, ok, err := s.AcquireLease(ctx, "a", "wss://a:8443", time.Minute)
	must(t, err)
	if !ok || a.Epoch != 1 || !a.Live || a.Address != "wss://a:8443" {
		t.Fatalf("first acquire: %+v ok=%v", a, ok)
	}
	cur, ok, err := s.AcquireLease(ctx, "b", "wss://b:8443", time.Minute)
	must(t, err)
	if ok || cur.Holder != "a" || cur.Address != "wss://a:8443" || !cur.Live {
		t.Fatalf("acquire of a held lease: %+v ok=%v", cur, ok)
	}
	must(t, s.FencedTx(ctx, a, func(tx *Tx) error {
		_, err := tx.Audit(ctx, entry("user.warned", "alice"))
		return err
	}))
	a2, err := s.RenewLease(ctx, a, 100*time.Millisecond)
	must(t, err)
	if a2.Epoch != 1 || !a2.ExpiresAt.Before(a.ExpiresAt) {
		t.Fatalf("renewed: %+v (was %+v)", a2, a)
	}

	// a's lease lapses (a paused); b takes over with epoch 2.
	var b Lease
	deadline := time.Now().Add(10 * time.Second)
	for {
		if b, ok, err = s.AcquireLease(ctx, "b", "wss://b:8443", time.Minute); err != nil || ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the lease did not lapse within 10 s of a 100 ms renewal")
		}
		time.Sleep(20 * time.Millisecond)
	}
	must(t, err)
	if b.Epoch != 2 || b.Holder != "b" {
		t.Fatalf("takeover: %+v", b)
	}
	err = s.FencedTx(ctx, a, func(tx *Tx) error {
		_, err := tx.Audit(ctx, entry("user.warned", "bob"))
		return err
	})
	wantErr(t, err, ErrFenced)
	if n := countAudit(t, s, "user.warned"); n != 1 {
		t.Fatalf("%d user.warned entries, want 1 (the fenced one must not be written)", n)
	}
	_, err = s.RenewLease(ctx, a, time.Minute)
	wantErr(t, err, ErrFenced)
	must(t, s.ReleaseLease(ctx, a)) // a no-op: not a's any more
	l, err := s.Leader(ctx)
	must(t, err)
	if l.Holder != "b" || !l.Live || l.Epoch != 2 {
		t.Fatalf("leader after a's late release: %+v", l)
	}

	// b stops in order: the lease is free at once, for epoch 3.
	must(t, s.ReleaseLease(ctx, b))
	c, ok, err := s.AcquireLease(ctx, "c", "wss://c:8443", time.Minute)
	must(t, err)
	if !ok || c.Epoch != 3 {
		t.Fatalf("acquire after release: %+v ok=%v", c, ok)
	}
}

// Replicas racing for a free lease: exactly one wins.
func TestLeaseOneWinner(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var winners []string
	for _, h := range []string{"r1", "r2", "r3", "r4", "r5", "r6"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, ok, err := s.AcquireLease(ctx, h, "", time.Minute)
			if err != nil {
				t.Error(err)
				return
			}
			if ok {
				mu.Lock()
				winners = append(winners, l.Holder)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(winners) != 1 {
		t.Fatalf("winners %v, want exactly one", winners)
	}
	if _, _, err := s.AcquireLease(ctx, "", "", time.Minute); !errors.Is(err, ErrInvalid) {
		t.Fatalf("empty holder: %v", err)
	}
}
