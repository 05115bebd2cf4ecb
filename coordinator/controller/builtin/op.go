package builtin

import (
	"context"
	"encoding/json"
	"time"

	"github.com/vigil-cc/vigil/coordinator/engine"
	"github.com/vigil-cc/vigil/coordinator/store"
)

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

// finish rebalances after o's change and commits it; if rebalancing fails,
// the change is undone.
func (c *Controller) finish(ctx context.Context, o *op) error {
	if err := c.rebalance(ctx, o); err != nil {
		return c.undo(ctx, err)
	}
	return c.commit(ctx, o)
}
