// Package builtin is the reference contact-center controller: the built-in
// Agent Desk router (docs/integration.md).
//
// Agent Desk users take conversations (chat, voice, video) up to a capacity
// (DefaultCapacity unless set). A new conversation goes at once to the
// least-loaded available user (Pick), or waits in the queue. Available means
// logged in to the Agent Desk and neither warned nor logged out, as the
// engine says. When a user is logged out (for inactivity, or by leaving the
// Agent Desk) each of their open conversations is rerouted the same way;
// what finds nobody waits in the queue, which is served in arrival order
// whenever someone becomes available (a desk login, a warning withdrawn,
// capacity freed). Nothing is dropped: conversations and capacities are
// stored, so a restart loses none, and every reroute is audited with the
// logout it followed.
//
// An accepted voice or video conversation puts its user on a call, which
// pauses their inactivity clock until the conversation ends (or leaves them).
//
// Locking: the controller's lock is taken before the core's (it calls
// core.Do while holding it), never the other way round. The core handler
// (Decisions) therefore takes no lock of the controller's: it only wakes
// Run, which does the work.
package builtin

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/vigil-cc/vigil/coordinator/controller"
	"github.com/vigil-cc/vigil/coordinator/engine"
	"github.com/vigil-cc/vigil/coordinator/fault"
	"github.com/vigil-cc/vigil/coordinator/store"
)

// DefaultCapacity is how many open conversations a user takes when no
// capacity was set for them.
const DefaultCapacity = 3

// MaxCapacity bounds a capacity set through the API.
const MaxCapacity = 100

// Channels a conversation may have.
const (
	ChannelChat  = "chat"
	ChannelVoice = "voice"
	ChannelVideo = "video"
)

// Errors the API maps to statuses; they come wrapped with what was wrong
// (see coordinator/fault).
var (
	// ErrInvalid: a value the controller refuses (unknown channel, bad
	// capacity).
	ErrInvalid = fault.ErrInvalid
	// ErrConflict: the conversation or user is not in a state that allows
	// the request (accepting a queued conversation).
	ErrConflict = fault.ErrConflict
)

// Core is what the controller needs of the coordinator's core
// (*core.Core): events in, state out.
type Core interface {
	Do(user string, event func(e *engine.Engine, now time.Time) []engine.Decision)
	View(fn func(e *engine.Engine))
	Now() time.Time
}

// Config tunes the controller.
type Config struct {
	DefaultCapacity int // DefaultCapacity when zero
	Log             *slog.Logger
	// Rerouted, if set, is called with the number of conversations taken
	// from a logged-out user in one go (for metrics). Called with the
	// controller locked; it must not call back into it.
	Rerouted func(n int)
}

// Controller is the built-in controller. It is safe for concurrent use.
type Controller struct {
	st   *store.Store
	core Core
	cfg  Config
	log  *slog.Logger
	wake chan struct{} // Decisions → Run

	mu        sync.Mutex
	convs     map[string]*store.Conversation // open ones, by ID
	capacity  map[string]int                 // set explicitly
	lastEnded map[string]time.Time
	seq       int64
	onCall    map[string]bool // what the controller last told the engine
	started   bool            // onCall was read from the engine
}

var _ controller.Controller = (*Controller)(nil)

// New loads the controller's conversations and capacities from st. core is
// the coordinator's core; register c.Decisions with it.
func New(ctx context.Context, st *store.Store, core Core, cfg Config) (*Controller, error) {
	if cfg.DefaultCapacity <= 0 {
		cfg.DefaultCapacity = DefaultCapacity
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	c := &Controller{st: st, core: core, cfg: cfg, log: cfg.Log, wake: make(chan struct{}, 1), onCall: map[string]bool{}}
	if err := c.load(ctx); err != nil {
		return nil, fmt.Errorf("loading the built-in controller's conversations: %w", err)
	}
	return c, nil
}

// Reload reads the conversations, capacities and call states again from
// the store: a replica taking over does, since the replica that led before
// changed them.
func (c *Controller) Reload(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.onCall) // the restored engine's, not this replica's: say each again
	return c.load(ctx)
}

// load reads the controller's state from the store. Called at New and,
// locked, after a failed write to forget what was not stored.
func (c *Controller) load(ctx context.Context) error {
	open, err := c.st.Conversations(ctx, store.ConversationFilter{OpenOnly: true, Limit: -1})
	if err != nil {
		return err
	}
	caps, err := c.st.Capacities(ctx)
	if err != nil {
		return err
	}
	ended, err := c.st.LastEnded(ctx)
	if err != nil {
		return err
	}
	seq, err := c.st.MaxConversationSeq(ctx)
	if err != nil {
		return err
	}
	c.convs = make(map[string]*store.Conversation, len(open))
	for i := range open {
		c.convs[open[i].ID] = &open[i]
	}
	c.capacity, c.lastEnded, c.seq = caps, ended, seq
	return nil
}

// Outbox returns nothing: the built-in controller sends no webhooks.
func (c *Controller) Outbox(engine.Decision) ([]store.OutboxEvent, error) { return nil, nil }

// Decisions wakes Run when a decision may change who holds or may take
// conversations: a logout, a withdrawn warning, any change of state. It is
// a core.Handler: it never blocks.
func (c *Controller) Decisions(ds []engine.Decision) {
	if controller.Any(ds, engine.DecisionLogout, engine.DecisionWithdraw, engine.DecisionChanged) {
		c.poke()
	}
}

func (c *Controller) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Run reconciles once at start (call state, conversations of users who left
// while the coordinator was down, the queue), then reroutes and serves the
// queue whenever a decision wakes it, until ctx ends. A failed write is
// retried a second later.
func (c *Controller) Run(ctx context.Context) error {
	c.poke()
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-c.wake:
		case <-retry.C:
		}
		if err := c.Settle(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			c.log.Error("rerouting conversations", "err", err)
			retry.Reset(time.Second)
		}
	}
}

// Settle does now what Run does when woken: it reroutes the conversations
// of users who no longer hold them and serves the queue.
func (c *Controller) Settle(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	o := c.begin()
	if err := c.rebalance(ctx, o); err != nil {
		return err
	}
	return c.commit(ctx, o)
}
