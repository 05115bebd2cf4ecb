package store

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-cc/vigil/coordinator/engine"
)

// The core's once-a-second flush and a decision's batch can upsert the
// same users' snapshots at once, each in its own order. Every one of them
// commits, with its audit entry: on PostgreSQL the rows are written in one
// order (no deadlock), and on SQLite the one writer queues them.
func TestConcurrentSnapshotsAndDecisions(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	users := make([]string, 40)
	for i := range users {
		users[i] = string(rune('a'+i%26)) + string(rune('a'+i/26)) + "-agent"
	}
	asc := engineSnapshots(t, users...)
	desc := slices.Clone(asc)
	slices.Reverse(desc)
	const rounds = 40
	var wg sync.WaitGroup
	errs := make(chan error, 2*rounds)
	for g, snaps := range [][]engine.Snapshot{asc, desc} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				// A decision (g 0) and a flush with a decision in it (g 1),
				// overlapping every user, in opposite orders.
				errs <- s.Tx(ctx, func(tx *Tx) error {
					e := entry("user.warned", snaps[i%len(snaps)].User)
					e.At = t0.Add(time.Duration(g*rounds+i) * time.Millisecond)
					if _, err := tx.Audit(ctx, e); err != nil {
						return err
					}
					if err := tx.SaveSnapshots(ctx, snaps); err != nil {
						return err
					}
					return tx.SetAliveUntil(ctx, e.At)
				})
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("a transaction failed: %v", err)
		}
	}
	if n := countAudit(t, s, "user.warned"); n != 2*rounds {
		t.Fatalf("%d decisions recorded, want %d", n, 2*rounds)
	}
	got, err := s.Snapshots(ctx)
	must(t, err)
	if len(got) != len(users) {
		t.Fatalf("%d snapshots stored, want %d", len(got), len(users))
	}
}

// A transaction PostgreSQL aborts as a deadlock's victim runs again, whole,
// and commits: two transactions that lock two users' rows in opposite
// orders (which no sorting within one call can prevent) both commit their
// audit entries, once each.
func TestTxRetriesDeadlockVictim(t *testing.T) {
	postgresOnly(t)
	s, _ := openTest(t)
	ctx := context.Background()
	snaps := engineSnapshots(t, "alice", "bob")
	must(t, s.SaveSnapshots(ctx, snaps))
	var attempts [2]atomic.Int32
	var holding sync.WaitGroup // both hold their first row
	holding.Add(2)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for g := range 2 {
		first, second := snaps[g], snaps[1-g]
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[g] = s.Tx(ctx, func(tx *Tx) error {
				n := attempts[g].Add(1)
				if _, err := tx.Audit(ctx, entry("user.logged_out", first.User)); err != nil {
					return err
				}
				if err := tx.SaveSnapshots(ctx, []engine.Snapshot{first}); err != nil {
					return err
				}
				if n == 1 {
					holding.Done()
					holding.Wait()
				}
				return tx.SaveSnapshots(ctx, []engine.Snapshot{second})
			})
		}()
	}
	wg.Wait()
	for g, err := range errs {
		if err != nil {
			t.Errorf("transaction %d: %v", g, err)
		}
	}
	if a, b := attempts[0].Load(), attempts[1].Load(); a+b != 3 {
		t.Errorf("attempts %d and %d, want one deadlock victim run twice", a, b)
	}
	for _, u := range []string{"alice", "bob"} {
		es, err := s.AuditEntries(ctx, AuditFilter{Kind: "user.logged_out", User: u})
		must(t, err)
		if len(es) != 1 {
			t.Errorf("%s: %d audit entries, want 1", u, len(es))
		}
	}
}
