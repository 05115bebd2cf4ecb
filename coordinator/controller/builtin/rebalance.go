package builtin

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/vigil-cc/vigil/coordinator/engine"
	"github.com/vigil-cc/vigil/coordinator/store"
)

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
