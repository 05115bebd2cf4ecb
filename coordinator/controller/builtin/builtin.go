// Package builtin is the reference contact-center controller: the built-in
// Agent Desk router (DESIGN §2).
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
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/vigil-cc/vigil/coordinator/controller"
	"github.com/vigil-cc/vigil/coordinator/engine"
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

// Errors the API maps to statuses; they come wrapped with what was wrong.
var (
	// ErrInvalid: a value the controller refuses (unknown channel, bad
	// capacity).
	ErrInvalid = errors.New("invalid")
	// ErrConflict: the conversation or user is not in a state that allows
	// the request (accepting a queued conversation).
	ErrConflict = errors.New("conflict")
)

// kindError is an error whose message is meant for the API's caller and
// which errors.Is takes for its kind.
type kindError struct {
	kind error
	msg  string
}

func (e *kindError) Error() string        { return e.msg }
func (e *kindError) Is(target error) bool { return target == e.kind }

func invalidf(format string, args ...any) error {
	return &kindError{ErrInvalid, fmt.Sprintf(format, args...)}
}

func conflictf(format string, args ...any) error {
	return &kindError{ErrConflict, fmt.Sprintf(format, args...)}
}

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
	for _, d := range ds {
		switch d.Kind {
		case engine.DecisionLogout, engine.DecisionWithdraw, engine.DecisionChanged:
			c.poke()
			return
		}
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

// startCalls takes the engine's call state as what the controller told it,
// so the first sync makes the engine agree with the stored conversations
// (the built-in desk owns call state).
func (c *Controller) startCalls() {
	c.core.View(func(e *engine.Engine) {
		for _, s := range e.Snapshots() {
			if s.Call {
				c.onCall[s.User] = true
			}
		}
	})
}

// op is one change being made: the conversations it touched and the audit
// entries that record it, written in one transaction.
type op struct {
	now      time.Time
	status   map[string]engine.Status
	dirty    []*store.Conversation
	touched  map[string]bool
	audits   []store.AuditEntry
	capacity map[string]int // capacities set by this op
	// How each conversation the op queued got there, for its audit.
	origin map[string]origin
	actor  string
}

type origin struct {
	created  bool
	from     string // rerouted from this user
	reason   string // logout, desk_logout
	logoutID int64
}

// begin starts an op at the core's now, with every user's status. Called
// locked.
func (c *Controller) begin() *op {
	if !c.started {
		c.startCalls()
		c.started = true
	}
	o := &op{now: c.core.Now(), status: map[string]engine.Status{}, touched: map[string]bool{},
		capacity: map[string]int{}, origin: map[string]origin{}, actor: "system"}
	c.core.View(func(e *engine.Engine) {
		e.States(func(s engine.State) { o.status[s.User] = s.Status })
	})
	return o
}

func (o *op) touch(cv *store.Conversation) {
	cv.UpdatedAt = o.now
	if !o.touched[cv.ID] {
		o.touched[cv.ID] = true
		o.dirty = append(o.dirty, cv)
	}
}

func (o *op) audit(kind, user string, detail map[string]any) {
	raw, _ := json.Marshal(detail) // plain values
	o.audits = append(o.audits, store.AuditEntry{At: o.now, Actor: o.actor, Kind: kind, User: user, Detail: raw})
}

// rebalance takes every open conversation from users who no longer hold
// conversations (logged out, left the Agent Desk, unknown to the engine) and
// queues it, then serves the queue. It fails, changing nothing, only if the
// logouts cannot be looked up in the audit.
func (c *Controller) rebalance(ctx context.Context, o *op) error {
	var leaving []*store.Conversation
	logouts := map[string]int64{}
	for _, cv := range c.convs {
		if !held(cv) || holds(statusOf(o, cv.User)) {
			continue
		}
		leaving = append(leaving, cv)
		if _, ok := logouts[cv.User]; !ok && statusOf(o, cv.User) == engine.StatusLoggedOut {
			id, err := c.logoutAuditID(ctx, cv.User)
			if err != nil {
				return err
			}
			logouts[cv.User] = id
		}
	}
	slices.SortFunc(leaving, bySeq)
	for _, cv := range leaving {
		from := cv.User
		or := origin{from: from, reason: "desk_logout"}
		if id, ok := logouts[from]; ok {
			or.reason, or.logoutID = "logout", id
		}
		cv.State, cv.User, cv.AssignedAt, cv.AcceptedAt = store.ConversationQueued, "", time.Time{}, time.Time{}
		cv.ReroutedFrom, cv.LogoutAuditID = from, or.logoutID
		cv.Reroutes++
		o.origin[cv.ID] = or
		o.touch(cv)
	}
	if c.cfg.Rerouted != nil && len(leaving) > 0 {
		c.cfg.Rerouted(len(leaving))
	}
	c.serveQueue(o)
	// Audit what the queue could not place.
	for _, cv := range leaving {
		if cv.State == store.ConversationQueued {
			c.auditRoute(o, cv)
		}
	}
	return nil
}

// logoutAuditID is the audit entry of user's latest logout for inactivity
// (recorded before the core's handlers run), 0 if there is none.
func (c *Controller) logoutAuditID(ctx context.Context, user string) (int64, error) {
	es, err := c.st.AuditEntries(ctx, store.AuditFilter{User: user, Kind: "user.logged_out", Limit: 1})
	if err != nil {
		return 0, fmt.Errorf("finding %s's logout in the audit: %w", user, err)
	}
	if len(es) == 0 {
		return 0, nil
	}
	return es[0].ID, nil
}

// serveQueue gives queued conversations, in arrival order, to available
// users with room, and stops at the first that finds nobody (the next would
// find nobody either).
func (c *Controller) serveQueue(o *op) {
	var queue []*store.Conversation
	for _, cv := range c.convs {
		if cv.State == store.ConversationQueued {
			queue = append(queue, cv)
		}
	}
	if len(queue) == 0 {
		return
	}
	slices.SortFunc(queue, bySeq)
	cands := c.candidates(o)
	for _, cv := range queue {
		user, ok := Pick(cands)
		if !ok {
			return
		}
		for i := range cands {
			if cands[i].User == user {
				cands[i].Load++
			}
		}
		waited := o.now.Sub(cv.UpdatedAt)
		cv.State, cv.User, cv.AssignedAt = store.ConversationAssigned, user, o.now
		o.touch(cv)
		if _, ok := o.origin[cv.ID]; ok {
			c.auditRoute(o, cv)
		} else {
			d := map[string]any{"conversation": cv.ID, "channel": cv.Channel, "to": user, "from_queue": true, "waited_ms": waited.Milliseconds()}
			if cv.ReroutedFrom != "" {
				d["rerouted_from"] = cv.ReroutedFrom
			}
			if cv.LogoutAuditID > 0 {
				d["logout_audit_id"] = cv.LogoutAuditID
			}
			o.audit("conversation.assigned", user, d)
		}
	}
}

// auditRoute records where a conversation this op created or rerouted went:
// to a user, or to the queue.
func (c *Controller) auditRoute(o *op, cv *store.Conversation) {
	or := o.origin[cv.ID]
	d := map[string]any{"conversation": cv.ID, "channel": cv.Channel}
	if cv.User != "" {
		d["to"] = cv.User
	} else {
		d["to"], d["queued"] = "", true
	}
	if or.created {
		o.audit("conversation.created", cv.User, d)
		return
	}
	d["from"], d["reason"] = or.from, or.reason
	if or.logoutID > 0 {
		d["logout_audit_id"] = or.logoutID
	}
	// Under the user it was taken from, so the user's audit shows where
	// each of their conversations went.
	o.audit("conversation.rerouted", or.from, d)
}

// candidates are the available users, with their load.
func (c *Controller) candidates(o *op) []Candidate {
	load := map[string]int{}
	for _, cv := range c.convs {
		if held(cv) {
			load[cv.User]++
		}
	}
	var out []Candidate
	for user, s := range o.status {
		if !available(s) {
			continue
		}
		out = append(out, Candidate{User: user, Capacity: c.capacityOf(user), Load: load[user], LastEnded: c.lastEnded[user]})
	}
	return out
}

func (c *Controller) capacityOf(user string) int {
	if n, ok := c.capacity[user]; ok {
		return n
	}
	return c.cfg.DefaultCapacity
}

// held reports whether cv counts against its user's capacity: assigned or
// active.
func held(cv *store.Conversation) bool {
	return cv.User != "" && (cv.State == store.ConversationAssigned || cv.State == store.ConversationActive)
}

func statusOf(o *op, user string) engine.Status {
	if s, ok := o.status[user]; ok {
		return s
	}
	return engine.StatusOffline
}

func bySeq(a, b *store.Conversation) int {
	switch {
	case a.Seq < b.Seq:
		return -1
	case a.Seq > b.Seq:
		return 1
	}
	return 0
}

// commit writes o in one transaction, then brings the engine's call state in
// line. If the write fails, the controller reloads what is stored, so memory
// never holds what the store lost.
func (c *Controller) commit(ctx context.Context, o *op) error {
	if len(o.dirty) > 0 || len(o.audits) > 0 || len(o.capacity) > 0 {
		err := c.st.Tx(ctx, func(tx *store.Tx) error {
			for user, n := range o.capacity {
				if err := tx.SetCapacity(ctx, user, n, o.now); err != nil {
					return err
				}
			}
			for _, cv := range o.dirty {
				if err := tx.PutConversation(ctx, *cv); err != nil {
					return err
				}
			}
			for _, e := range o.audits {
				if _, err := tx.Audit(ctx, e); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return c.undo(ctx, err)
		}
	}
	for _, cv := range o.dirty {
		if !cv.Open() {
			delete(c.convs, cv.ID)
		}
	}
	c.syncCalls()
	return nil
}

// undo forgets an op that failed half-way by reloading what is stored, so
// memory never holds what the store does not; it returns err.
func (c *Controller) undo(ctx context.Context, err error) error {
	if lerr := c.load(context.WithoutCancel(ctx)); lerr != nil {
		c.log.Error("reloading conversations after a failed change", "err", lerr)
	}
	return err
}

// onCallIn reports whether cv puts its user on a call.
func onCallIn(cv *store.Conversation) bool {
	return cv.State == store.ConversationActive && cv.User != "" && (cv.Channel == ChannelVoice || cv.Channel == ChannelVideo)
}

// syncCalls tells the engine who is on a call now, where that changed.
// Called locked: the controller's lock comes before the core's.
func (c *Controller) syncCalls() {
	want := map[string]bool{}
	for _, cv := range c.convs {
		if onCallIn(cv) {
			want[cv.User] = true
		}
	}
	var users []string
	for u := range want {
		users = append(users, u)
	}
	for u := range c.onCall {
		if !want[u] {
			users = append(users, u)
		}
	}
	slices.Sort(users)
	for _, u := range users {
		active := want[u]
		if c.onCall[u] == active {
			continue
		}
		c.core.Do(u, func(e *engine.Engine, now time.Time) []engine.Decision { return e.Call(now, u, active) })
		if active {
			c.onCall[u] = true
		} else {
			delete(c.onCall, u)
		}
	}
}

// Create adds a conversation and routes it at once, or queues it.
func (c *Controller) Create(ctx context.Context, channel, customer, actor string) (store.Conversation, error) {
	channel = strings.ToLower(strings.TrimSpace(channel))
	switch channel {
	case ChannelChat, ChannelVoice, ChannelVideo:
	default:
		return store.Conversation{}, invalidf("channel must be chat, voice or video, got %q", channel)
	}
	if customer == "" || len(customer) > 256 || strings.IndexFunc(customer, unicode.IsControl) >= 0 {
		return store.Conversation{}, invalidf("customer must be 1 to 256 characters with no control characters")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	o := c.begin()
	o.actor = actor
	c.seq++
	cv := &store.Conversation{ID: store.NewID(), Seq: c.seq, Channel: channel, Customer: customer,
		State: store.ConversationQueued, CreatedAt: o.now}
	c.convs[cv.ID] = cv
	o.origin[cv.ID] = origin{created: true}
	o.touch(cv)
	if err := c.rebalance(ctx, o); err != nil {
		return store.Conversation{}, c.undo(ctx, err)
	}
	if cv.State == store.ConversationQueued {
		c.auditRoute(o, cv)
	}
	if err := c.commit(ctx, o); err != nil {
		return store.Conversation{}, err
	}
	return *cv, nil
}

// Accept marks conversation id accepted by its user; a voice or video
// conversation puts them on a call. Accepting an active one again changes
// nothing.
func (c *Controller) Accept(ctx context.Context, id, actor string) (store.Conversation, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cv, err := c.open(ctx, id)
	if errors.Is(err, errEnded) {
		return store.Conversation{}, conflictf("conversation %s has ended", id)
	}
	if err != nil {
		return store.Conversation{}, err
	}
	switch cv.State {
	case store.ConversationActive:
		return *cv, nil
	case store.ConversationQueued:
		return store.Conversation{}, conflictf("conversation %s is queued: nobody to accept it yet", id)
	}
	o := c.begin()
	o.actor = actor
	if !holds(statusOf(o, cv.User)) {
		return store.Conversation{}, conflictf("conversation %s's user %s is %s; it is being rerouted", id, cv.User, statusOf(o, cv.User))
	}
	cv.State, cv.AcceptedAt = store.ConversationActive, o.now
	o.touch(cv)
	o.audit("conversation.accepted", cv.User, map[string]any{"conversation": cv.ID, "channel": cv.Channel})
	if err := c.rebalance(ctx, o); err != nil {
		return store.Conversation{}, c.undo(ctx, err)
	}
	if err := c.commit(ctx, o); err != nil {
		return store.Conversation{}, err
	}
	return *cv, nil
}

// End ends conversation id (queued, assigned or active); a call it carried
// ends with it, and the room it frees serves the queue. Ending an ended one
// again changes nothing.
func (c *Controller) End(ctx context.Context, id, actor string) (store.Conversation, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cv, err := c.open(ctx, id)
	if errors.Is(err, errEnded) {
		return c.st.Conversation(ctx, id)
	}
	if err != nil {
		return store.Conversation{}, err
	}
	o := c.begin()
	o.actor = actor
	cv.State, cv.EndedAt = store.ConversationEnded, o.now
	if cv.User != "" {
		c.lastEnded[cv.User] = o.now
	}
	o.touch(cv)
	o.audit("conversation.ended", cv.User, map[string]any{"conversation": cv.ID, "channel": cv.Channel})
	if err := c.rebalance(ctx, o); err != nil {
		return store.Conversation{}, c.undo(ctx, err)
	}
	if err := c.commit(ctx, o); err != nil {
		return store.Conversation{}, err
	}
	return *cv, nil
}

var errEnded = errors.New("ended")

// open finds open conversation id: ErrNotFound if there is none, errEnded
// if it ended.
func (c *Controller) open(ctx context.Context, id string) (*store.Conversation, error) {
	if cv, ok := c.convs[id]; ok {
		return cv, nil
	}
	stored, err := c.st.Conversation(ctx, id)
	if err != nil {
		return nil, err
	}
	if stored.State == store.ConversationEnded {
		return nil, fmt.Errorf("%w: conversation %s ended at %s", errEnded, id, stored.EndedAt.Format(time.RFC3339))
	}
	return nil, fmt.Errorf("conversation %s is stored open but not loaded: %w", id, store.ErrNotFound)
}

// Agent is a user as the router sees them.
type Agent struct {
	User      string
	Status    engine.Status
	Capacity  int
	Load      int
	Available bool      // logged in to the Agent Desk, neither warned nor logged out
	LastEnded time.Time // zero: never
}

// SetCapacity sets how many open conversations user takes at most; more
// room serves the queue, less takes nothing away.
func (c *Controller) SetCapacity(ctx context.Context, user string, n int, actor string) (Agent, error) {
	if n < 0 || n > MaxCapacity {
		return Agent{}, invalidf("capacity must be a whole number from 0 to %d, got %d", MaxCapacity, n)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	o := c.begin()
	o.actor = actor
	old := c.capacityOf(user)
	c.capacity[user] = n
	o.capacity[user] = n
	o.audit("user.capacity_set", user, map[string]any{"capacity": n, "was": old})
	if err := c.rebalance(ctx, o); err != nil {
		return Agent{}, c.undo(ctx, err)
	}
	if err := c.commit(ctx, o); err != nil {
		return Agent{}, err
	}
	return c.agent(user, o.status), nil
}

// Agents lists every user the engine knows or who has a capacity set or a
// conversation, by name.
func (c *Controller) Agents() []Agent {
	c.mu.Lock()
	defer c.mu.Unlock()
	o := c.begin()
	names := map[string]bool{}
	for u := range o.status {
		names[u] = true
	}
	for u := range c.capacity {
		names[u] = true
	}
	for _, cv := range c.convs {
		if cv.User != "" {
			names[cv.User] = true
		}
	}
	out := make([]Agent, 0, len(names))
	for u := range names {
		out = append(out, c.agent(u, o.status))
	}
	slices.SortFunc(out, func(a, b Agent) int { return strings.Compare(a.User, b.User) })
	return out
}

// Agent is one user as the router sees them.
func (c *Controller) Agent(user string) Agent {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.agent(user, c.begin().status)
}

func (c *Controller) agent(user string, status map[string]engine.Status) Agent {
	s, ok := status[user]
	if !ok {
		s = engine.StatusOffline
	}
	a := Agent{User: user, Status: s, Capacity: c.capacityOf(user), Available: available(s), LastEnded: c.lastEnded[user]}
	for _, cv := range c.convs {
		if held(cv) && cv.User == user {
			a.Load++
		}
	}
	return a
}
