package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// ConversationState is where a conversation of the built-in controller is.
type ConversationState string

const (
	// ConversationQueued: nobody available had room; it waits, in arrival
	// order, with no user.
	ConversationQueued ConversationState = "queued"
	// ConversationAssigned: routed to User, not yet accepted.
	ConversationAssigned ConversationState = "assigned"
	// ConversationActive: User accepted it (for voice and video: on a call).
	ConversationActive ConversationState = "active"
	// ConversationEnded: over; User is the last user it had.
	ConversationEnded ConversationState = "ended"
)

// Valid reports whether s is one of the states.
func (s ConversationState) Valid() bool {
	switch s {
	case ConversationQueued, ConversationAssigned, ConversationActive, ConversationEnded:
		return true
	}
	return false
}

// Conversation is one customer conversation the built-in controller routes.
type Conversation struct {
	ID       string
	Seq      int64  // arrival order, unique
	Channel  string // chat, voice or video
	Customer string
	State    ConversationState
	User     string // the assigned user; "" while queued; the last user once ended

	CreatedAt  time.Time
	UpdatedAt  time.Time
	AssignedAt time.Time // given to User; zero while queued
	AcceptedAt time.Time // zero until accepted
	EndedAt    time.Time // zero until ended

	// The last reroute: the user it was taken from and, for a logout, the
	// ID of the audit entry that recorded the logout.
	ReroutedFrom  string
	LogoutAuditID int64
	Reroutes      int
}

// Open reports whether the conversation still holds a place (queued,
// assigned or active).
func (c Conversation) Open() bool { return c.State != ConversationEnded }

// ConversationFilter selects conversations. Zero fields do not filter.
type ConversationFilter struct {
	User     string
	State    ConversationState
	OpenOnly bool  // queued, assigned or active
	AfterSeq int64 // Seq > AfterSeq: the next page
	Limit    int   // default 100, at most 1000; negative: no limit
}

const conversationCols = `id, seq, channel, customer, state, user_name, created_at, updated_at,
assigned_at, accepted_at, ended_at, rerouted_from, logout_audit_id, reroutes`

func scanConversation(sc scanner) (Conversation, error) {
	var c Conversation
	var state string
	var created, updated int64
	var assigned, accepted, ended, logout sql.NullInt64
	if err := sc.Scan(&c.ID, &c.Seq, &c.Channel, &c.Customer, &state, &c.User, &created, &updated,
		&assigned, &accepted, &ended, &c.ReroutedFrom, &logout, &c.Reroutes); err != nil {
		return Conversation{}, err
	}
	c.State = ConversationState(state)
	c.CreatedAt, c.UpdatedAt = fromMS(created), fromMS(updated)
	c.AssignedAt, c.AcceptedAt, c.EndedAt = fromNullMS(assigned), fromNullMS(accepted), fromNullMS(ended)
	c.LogoutAuditID = logout.Int64
	return c, nil
}

// PutConversation inserts or replaces conversation c (by ID) within the
// transaction.
func (t *Tx) PutConversation(ctx context.Context, c Conversation) error {
	switch {
	case c.ID == "" || c.Seq <= 0:
		return fmt.Errorf("store: put conversation: %w", invalid("conversation needs an id and a positive seq (id %q, seq %d)", c.ID, c.Seq))
	case !c.State.Valid():
		return fmt.Errorf("store: put conversation %s: %w", c.ID, invalid("unknown state %q", c.State))
	case (c.State == ConversationQueued) != (c.User == "") && c.State != ConversationEnded:
		return fmt.Errorf("store: put conversation %s: %w", c.ID, invalid("a %s conversation with user %q", c.State, c.User))
	}
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = t.s.now()
	}
	if c.CreatedAt.IsZero() {
		c.CreatedAt = c.UpdatedAt
	}
	var logout sql.NullInt64
	if c.LogoutAuditID > 0 {
		logout = sql.NullInt64{Int64: c.LogoutAuditID, Valid: true}
	}
	_, err := t.tx.ExecContext(ctx, `INSERT INTO conversations (`+conversationCols+`)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET channel = excluded.channel, customer = excluded.customer, state = excluded.state,
user_name = excluded.user_name, updated_at = excluded.updated_at, assigned_at = excluded.assigned_at,
accepted_at = excluded.accepted_at, ended_at = excluded.ended_at, rerouted_from = excluded.rerouted_from,
logout_audit_id = excluded.logout_audit_id, reroutes = excluded.reroutes`,
		c.ID, c.Seq, c.Channel, c.Customer, string(c.State), c.User, toMS(c.CreatedAt), toMS(c.UpdatedAt),
		nullMS(c.AssignedAt), nullMS(c.AcceptedAt), nullMS(c.EndedAt), c.ReroutedFrom, logout, c.Reroutes)
	if err != nil {
		return fmt.Errorf("store: put conversation %s: %w", c.ID, dup(err, "conversation seq"))
	}
	return nil
}

// Conversation returns conversation id.
func (s *Store) Conversation(ctx context.Context, id string) (Conversation, error) {
	return queryRow(ctx, s.rdb, "conversation "+id, scanConversation, "SELECT "+conversationCols+" FROM conversations WHERE id = ?", id)
}

// Conversations returns the conversations f selects in arrival order.
func (s *Store) Conversations(ctx context.Context, f ConversationFilter) ([]Conversation, error) {
	var w where
	w.add(f.User != "", "user_name = ?", f.User)
	w.add(f.State != "", "state = ?", string(f.State))
	w.add(f.OpenOnly, "state <> 'ended'")
	w.add(f.AfterSeq > 0, "seq > ?", f.AfterSeq)
	query := "SELECT " + conversationCols + " FROM conversations" + w.clause() + " ORDER BY seq"
	args := w.args
	if f.Limit >= 0 {
		limit := f.Limit
		if limit == 0 {
			limit = 100
		}
		query += " LIMIT ?"
		args = append(args, min(limit, 1000))
	}
	return queryRows(ctx, s.rdb, "conversations", scanConversation, query, args...)
}

// MaxConversationSeq is the highest Seq given so far (0 for none).
func (s *Store) MaxConversationSeq(ctx context.Context) (int64, error) {
	var v sql.NullInt64
	if err := s.rdb.QueryRowContext(ctx, "SELECT MAX(seq) FROM conversations").Scan(&v); err != nil {
		return 0, fmt.Errorf("store: max conversation seq: %w", err)
	}
	return v.Int64, nil
}

// LastEnded returns, for every user who ended a conversation, when their
// last one ended.
func (s *Store) LastEnded(ctx context.Context) (map[string]time.Time, error) {
	out := map[string]time.Time{}
	err := eachRow(ctx, s.rdb, "last ended conversations", func(sc scanner) error {
		var user string
		var ms int64
		if err := sc.Scan(&user, &ms); err != nil {
			return err
		}
		out[user] = fromMS(ms)
		return nil
	}, `SELECT user_name, MAX(ended_at) FROM conversations
WHERE state = 'ended' AND user_name <> '' AND ended_at IS NOT NULL GROUP BY user_name`)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// SetCapacity sets, within the transaction, how many open conversations
// user gets at most.
func (t *Tx) SetCapacity(ctx context.Context, user string, capacity int, at time.Time) error {
	if user == "" || capacity < 0 {
		return fmt.Errorf("store: set capacity: %w", invalid("user %q, capacity %d", user, capacity))
	}
	if at.IsZero() {
		at = t.s.now()
	}
	_, err := t.tx.ExecContext(ctx, `INSERT INTO desk_capacity (user_name, capacity, updated_at) VALUES (?, ?, ?)
ON CONFLICT (user_name) DO UPDATE SET capacity = excluded.capacity, updated_at = excluded.updated_at`,
		user, capacity, toMS(at))
	if err != nil {
		return fmt.Errorf("store: set capacity of %q: %w", user, err)
	}
	return nil
}

// Capacities returns every capacity set; users without one have the
// default.
func (s *Store) Capacities(ctx context.Context) (map[string]int, error) {
	out := map[string]int{}
	err := eachRow(ctx, s.rdb, "capacities", func(sc scanner) error {
		var user string
		var n int
		if err := sc.Scan(&user, &n); err != nil {
			return err
		}
		out[user] = n
		return nil
	}, "SELECT user_name, capacity FROM desk_capacity")
	if err != nil {
		return nil, err
	}
	return out, nil
}
