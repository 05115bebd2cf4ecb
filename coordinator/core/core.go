// Package core owns the coordinator's inactivity engine: it stamps every
// event with the clock, applies it, records the decisions durably, hands
// them to the parts that act on them, and keeps the engine's one timer.
package core

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/vigil-cc/vigil/coordinator/engine"
	"github.com/vigil-cc/vigil/internal/offload"
)

// Batch is what the core asks to be stored in one transaction.
type Batch struct {
	// AliveUntil: the coordinator was running at this instant. After a crash
	// the engine plays snapshots forward to the last stored mark.
	AliveUntil time.Time
	Decisions  []engine.Decision // warn, withdraw, logout, sensor lost
	Snapshots  []engine.Snapshot // of every user changed since the last batch
}

// Recorder stores batches. The store implements it.
type Recorder interface {
	Record(ctx context.Context, b Batch) error
}

// ErrNotLeader is what a Recorder returns (wrapped) when this replica may
// not record decisions: it is a standby, or its leader's lease was taken
// over (fenced). The core then acts on nothing: a decision nobody recorded
// must not reach an agent from a replica that no longer leads.
var ErrNotLeader = errors.New("not the leader")

// Handler acts on decisions (send to agents, update metrics, reroute). It is
// called with the core locked, in decision order, and must not block or call
// back into the core.
type Handler func(ds []engine.Decision)

// Core serializes all access to the engine.
type Core struct {
	mu       sync.Mutex
	eng      *engine.Engine
	now      func() time.Time
	rec      Recorder
	log      *slog.Logger
	handlers []Handler
	dirty    map[string]struct{}
	wake     chan struct{}
	flushing time.Duration
	// store runs Record for events applied on callers' goroutines, which
	// then keep small stacks (see package offload).
	store *offload.Pool
}

// New returns a core around eng. now is the clock (time.Now in production).
func New(eng *engine.Engine, rec Recorder, now func() time.Time, log *slog.Logger) *Core {
	return &Core{
		eng:      eng,
		now:      now,
		rec:      rec,
		log:      log,
		dirty:    make(map[string]struct{}),
		wake:     make(chan struct{}, 1),
		flushing: time.Second,
		store:    offload.New(1),
	}
}

// OnDecisions adds a handler; call before Run.
func (c *Core) OnDecisions(h Handler) { c.handlers = append(c.handlers, h) }

// Run fires the engine's deadlines on time and persists changed state every
// second until ctx ends, then persists everything once more.
func (c *Core) Run(ctx context.Context) error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	flush := time.NewTicker(c.flushing)
	defer flush.Stop()
	for {
		c.mu.Lock()
		next, ok := c.eng.NextDeadline()
		c.mu.Unlock()
		wait := time.Hour
		if ok {
			wait = max(next.Sub(c.now()), 0)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			defer c.store.Close()
			return c.flush(context.WithoutCancel(ctx), true)
		case <-timer.C:
			c.Do("", func(e *engine.Engine, now time.Time) []engine.Decision { return e.Advance(now) })
		case <-c.wake:
		case <-flush.C:
			if err := c.flush(ctx, false); err != nil {
				c.log.Error("persisting engine state", "err", err)
			}
		}
	}
}

// Do applies one event for user (empty for none) at the clock's now.
func (c *Core) Do(user string, event func(e *engine.Engine, now time.Time) []engine.Decision) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ds := event(c.eng, c.now())
	if user != "" {
		c.dirty[user] = struct{}{}
	}
	c.dispatch(ds)
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Reset replaces the engine with eng and forgets what was not yet
// persisted: the core starts over as a new process would. A replica does
// it when it steps down (an empty engine) and before it restores the
// clocks from the database when it takes over; Run must not be running.
func (c *Core) Reset(eng *engine.Engine) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.eng = eng
	c.dirty = make(map[string]struct{})
	c.store = offload.New(1) // Run closed the last one
}

// Restart puts eng, new, in place of the engine and restores it with
// restore in one locked step, acting on what restore decides: no event can
// reach eng before it is restored (an event moves the engine's clock, and
// the restore would then count the outage as time the coordinator ran).
// What was not yet persisted is forgotten, as in Reset.
func (c *Core) Restart(eng *engine.Engine, restore func(e *engine.Engine, now time.Time) []engine.Decision) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.eng = eng
	c.dirty = make(map[string]struct{})
	c.dispatch(restore(eng, c.now()))
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// View runs fn with the engine locked, for reads.
func (c *Core) View(fn func(e *engine.Engine)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fn(c.eng)
}

// Now is the core's clock.
func (c *Core) Now() time.Time { return c.now() }

// dispatch records the decisions that matter, with their users' snapshots,
// then hands all of them to the handlers. Called locked.
func (c *Core) dispatch(ds []engine.Decision) {
	if len(ds) == 0 {
		return
	}
	var b Batch
	for _, d := range ds {
		c.dirty[d.User] = struct{}{}
		if d.Kind != engine.DecisionChanged {
			b.Decisions = append(b.Decisions, d)
		}
	}
	if len(b.Decisions) > 0 {
		b.AliveUntil, b.Snapshots = c.now(), c.takeDirty()
		var err error
		c.store.Do(func() { err = c.rec.Record(context.Background(), b) })
		if errors.Is(err, ErrNotLeader) {
			c.log.Warn("not acting on decisions: this replica does not lead", "err", err, "decisions", len(b.Decisions))
			return
		}
		if err != nil {
			// Act anyway: a missing audit row is better than a user left
			// logged in. The users stay dirty for the next flush.
			c.log.Error("recording decisions", "err", err, "decisions", len(b.Decisions))
			c.markDirty(b.Snapshots)
		}
	}
	for _, h := range c.handlers {
		h(ds)
	}
}

// flush persists the snapshots of users changed since the last batch (all
// users when all is set) and the alive mark.
func (c *Core) flush(ctx context.Context, all bool) error {
	c.mu.Lock()
	if all {
		c.eng.States(func(s engine.State) { c.dirty[s.User] = struct{}{} })
	}
	b := Batch{AliveUntil: c.now(), Snapshots: c.takeDirty()}
	c.mu.Unlock()
	if err := c.rec.Record(ctx, b); err != nil {
		c.mu.Lock()
		c.markDirty(b.Snapshots)
		c.mu.Unlock()
		return fmt.Errorf("persisting %d snapshots: %w", len(b.Snapshots), err)
	}
	return nil
}

func (c *Core) takeDirty() []engine.Snapshot {
	snaps := make([]engine.Snapshot, 0, len(c.dirty))
	for u := range c.dirty {
		if s, ok := c.eng.Snapshot(u); ok {
			snaps = append(snaps, s)
		}
		delete(c.dirty, u)
	}
	return snaps
}

func (c *Core) markDirty(snaps []engine.Snapshot) {
	for _, s := range snaps {
		c.dirty[s.User] = struct{}{}
	}
}
