package store

import (
	"context"
	"encoding/json"
	"testing"
	"time"
)

func TestConversations(t *testing.T) {
	s, path := openTest(t)
	ctx := context.Background()
	put := func(c Conversation) error {
		return s.Tx(ctx, func(tx *Tx) error { return tx.PutConversation(ctx, c) })
	}
	a := Conversation{ID: "a", Seq: 1, Channel: "chat", Customer: "c1", State: ConversationAssigned, User: "jane",
		CreatedAt: t0, AssignedAt: t0}
	b := Conversation{ID: "b", Seq: 2, Channel: "voice", Customer: "c2", State: ConversationQueued, CreatedAt: t0}
	must(t, put(a))
	must(t, put(b))
	for _, bad := range []Conversation{
		{Seq: 3, Channel: "chat", State: ConversationQueued},                     // no id
		{ID: "x", Channel: "chat", State: ConversationQueued},                    // no seq
		{ID: "x", Seq: 3, Channel: "chat", State: "lost"},                        // unknown state
		{ID: "x", Seq: 3, Channel: "chat", State: ConversationQueued, User: "j"}, // queued with a user
		{ID: "x", Seq: 3, Channel: "chat", State: ConversationActive},            // active without one
	} {
		wantErr(t, put(bad), ErrInvalid)
	}
	wantErr(t, put(Conversation{ID: "y", Seq: 1, Channel: "chat", State: ConversationQueued}), ErrDuplicate)

	// Update: b is assigned, accepted, then a ends.
	b.State, b.User, b.AssignedAt, b.AcceptedAt, b.ReroutedFrom, b.LogoutAuditID, b.Reroutes =
		ConversationActive, "joe", t0.Add(time.Second), t0.Add(2*time.Second), "jane", 42, 1
	must(t, put(b))
	a.State, a.EndedAt = ConversationEnded, t0.Add(3*time.Second)
	must(t, put(a))

	got, err := s.Conversation(ctx, "b")
	must(t, err)
	if got.State != ConversationActive || got.User != "joe" || !got.AcceptedAt.Equal(t0.Add(2*time.Second)) ||
		got.LogoutAuditID != 42 || got.ReroutedFrom != "jane" || got.Reroutes != 1 || !got.EndedAt.IsZero() {
		t.Errorf("b: %+v", got)
	}
	_, err = s.Conversation(ctx, "nope")
	wantErr(t, err, ErrNotFound)

	for _, tc := range []struct {
		f    ConversationFilter
		want []string
	}{
		{ConversationFilter{}, []string{"a", "b"}},
		{ConversationFilter{OpenOnly: true}, []string{"b"}},
		{ConversationFilter{User: "jane"}, []string{"a"}},
		{ConversationFilter{State: ConversationEnded}, []string{"a"}},
		{ConversationFilter{AfterSeq: 1}, []string{"b"}},
		{ConversationFilter{Limit: 1}, []string{"a"}},
	} {
		cs, err := s.Conversations(ctx, tc.f)
		must(t, err)
		var ids []string
		for _, c := range cs {
			ids = append(ids, c.ID)
		}
		if len(ids) != len(tc.want) || (len(ids) > 0 && ids[0] != tc.want[0]) {
			t.Errorf("%+v: %v, want %v", tc.f, ids, tc.want)
		}
	}
	ended, err := s.LastEnded(ctx)
	must(t, err)
	if len(ended) != 1 || !ended["jane"].Equal(t0.Add(3*time.Second)) {
		t.Errorf("last ended %v", ended)
	}
	seq, err := s.MaxConversationSeq(ctx)
	must(t, err)
	if seq != 2 {
		t.Errorf("max seq %d", seq)
	}

	must(t, s.Tx(ctx, func(tx *Tx) error { return tx.SetCapacity(ctx, "jane", 5, t0) }))
	must(t, s.Tx(ctx, func(tx *Tx) error { return tx.SetCapacity(ctx, "jane", 0, t0) }))
	wantErr(t, s.Tx(ctx, func(tx *Tx) error { return tx.SetCapacity(ctx, "jane", -1, t0) }), ErrInvalid)
	s.Close()
	s = openAt(t, path) // survives a reopen
	caps, err := s.Capacities(ctx)
	must(t, err)
	if len(caps) != 1 || caps["jane"] != 0 {
		t.Errorf("capacities %v", caps)
	}
	if cs, _ := s.Conversations(ctx, ConversationFilter{Limit: -1}); len(cs) != 2 {
		t.Errorf("after reopen: %d conversations", len(cs))
	}
}

func TestOutboxStatus(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	st, err := s.OutboxStatus(ctx)
	must(t, err)
	if st != (OutboxStatus{}) {
		t.Fatalf("empty outbox: %+v", st)
	}
	p := json.RawMessage(`{}`)
	id1, _ := s.Enqueue(ctx, OutboxEvent{Key: "k1", Kind: "k", Payload: p, CreatedAt: t0})
	id2, _ := s.Enqueue(ctx, OutboxEvent{Key: "k2", Kind: "k", Payload: p, CreatedAt: t0.Add(time.Second)})
	id3, _ := s.Enqueue(ctx, OutboxEvent{Key: "k3", Kind: "k", Payload: p, CreatedAt: t0.Add(2 * time.Second)})
	must(t, s.MarkDelivered(ctx, id1, t0))
	must(t, s.MarkFailed(ctx, id2, "HTTP 503", t0.Add(time.Minute)))
	must(t, s.MarkFailed(ctx, id2, "HTTP 500", t0.Add(2*time.Minute)))
	must(t, s.MarkFailed(ctx, id3, "refused", t0.Add(30*time.Second)))
	st, err = s.OutboxStatus(ctx)
	must(t, err)
	want := OutboxStatus{Backlog: 2, Failing: 2, OldestPending: t0.Add(time.Second), NextAttempt: t0.Add(30 * time.Second),
		MostAttempts: 2, LastError: "HTTP 500"}
	if st != want {
		t.Errorf("status %+v, want %+v", st, want)
	}
}
