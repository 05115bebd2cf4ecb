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
