package core_test

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vigil-cc/vigil/coordinator/core"
	"github.com/vigil-cc/vigil/coordinator/engine"
)

// recorder keeps the batches the core asks to store.
type recorder struct {
	mu      sync.Mutex
	batches []core.Batch
}

func (r *recorder) Record(_ context.Context, b core.Batch) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.batches = append(r.batches, b)
	return nil
}

func (r *recorder) decisions() []engine.DecisionKind {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ks []engine.DecisionKind
	for _, b := range r.batches {
		for _, d := range b.Decisions {
			ks = append(ks, d.Kind)
		}
	}
	return ks
}

// The core fires the engine's deadlines on its own timer, records each
// decision before any handler sees it, and persists every user's clock when
// it stops.
func TestCoreFiresRecordsThenHandsOver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		eng := engine.New(engine.Settings{Enabled: true, Timeout: 30 * time.Second}, 0)
		c := core.New(eng, rec, time.Now, slog.New(slog.DiscardHandler))
		var mu sync.Mutex
		var handled []engine.DecisionKind
		seen := func() []engine.DecisionKind { mu.Lock(); defer mu.Unlock(); return slices.Clone(handled) }
		c.OnDecisions(func(ds []engine.Decision) {
			mu.Lock()
			defer mu.Unlock()
			for _, d := range ds {
				if d.Kind == engine.DecisionChanged {
					continue
				}
				if !slices.Contains(rec.decisions(), d.Kind) {
					t.Errorf("%v handed over before it was recorded", d.Kind)
				}
				handled = append(handled, d.Kind)
			}
		})
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- c.Run(ctx) }()

		start := time.Now()
		c.Do("ann", func(e *engine.Engine, now time.Time) []engine.Decision { return e.DeskLogin(now, "ann") })
		time.Sleep(24*time.Second - time.Nanosecond)
		synctest.Wait()
		if got := seen(); len(got) != 0 {
			t.Fatalf("decisions before 24 s: %v", got)
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		if want := []engine.DecisionKind{engine.DecisionWarn}; !slices.Equal(seen(), want) {
			t.Fatalf("at %v: handled %v, want %v", time.Since(start), seen(), want)
		}
		time.Sleep(6 * time.Second)
		synctest.Wait()
		if want := []engine.DecisionKind{engine.DecisionWarn, engine.DecisionLogout}; !slices.Equal(seen(), want) {
			t.Fatalf("at %v: handled %v, want %v", time.Since(start), seen(), want)
		}

		stop()
		if err := <-done; err != nil {
			t.Fatalf("Run: %v", err)
		}
		last := rec.batches[len(rec.batches)-1]
		if len(last.Snapshots) != 1 || last.Snapshots[0].User != "ann" || !last.AliveUntil.Equal(time.Now()) {
			t.Errorf("the last batch at stop: %+v, want ann's snapshot alive until now", last)
		}
	})
}

// A takeover's restore runs on a new engine in one step with putting it
// in place: an event that reached the core before (an agent connecting
// during the takeover) cannot make the outage count as time the
// coordinator ran. Ann idled from 0 s; the old leader died at 20 s (its
// last alive mark); the restore at 30 s decides neither her warning (due
// at 24 s of her clock) nor her logout in the gap: they wait for her
// agent to report or for the grace.
func TestRestartCountsNoOutage(t *testing.T) {
	settings := engine.Settings{Enabled: true, Timeout: 30 * time.Second}
	old := engine.New(settings, 0)
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	old.DeskLogin(t0, "ann")
	old.Reading(t0, "ann", engine.Source{Key: "dev/1", Host: "pc"}, engine.Reading{Foreground: true})
	old.Advance(t0.Add(20 * time.Second))
	snaps := old.Snapshots()

	rec := &recorder{}
	now := t0.Add(30 * time.Second)
	c := core.New(engine.New(settings, 0), rec, func() time.Time { return now }, slog.New(slog.DiscardHandler))
	// Bob's agent, in before the restore.
	c.Do("bob", func(e *engine.Engine, now time.Time) []engine.Decision {
		return e.Reading(now, "bob", engine.Source{Key: "dev/2", Host: "pc2"}, engine.Reading{Foreground: true})
	})
	var restored []engine.Decision
	c.Restart(engine.New(settings, 45*time.Second), func(e *engine.Engine, now time.Time) []engine.Decision {
		restored = e.Restore(now, t0.Add(20*time.Second), snaps)
		return restored
	})
	for _, d := range restored {
		if d.Kind == engine.DecisionWarn || d.Kind == engine.DecisionLogout {
			t.Errorf("the restore decided %v at %v: the outage counted", d.Kind, d.At.Sub(t0))
		}
	}
	if ks := rec.decisions(); slices.Contains(ks, engine.DecisionWarn) || slices.Contains(ks, engine.DecisionLogout) {
		t.Errorf("recorded %v", ks)
	}
	var st engine.State
	c.View(func(e *engine.Engine) { st, _ = e.State("ann") })
	if st.Inactivity != 20*time.Second {
		t.Errorf("ann's inactivity after the restore %v, want the 20 s before the outage", st.Inactivity)
	}
}
