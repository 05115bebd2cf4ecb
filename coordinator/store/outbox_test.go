package store

import (
	"context"
	"encoding/json"
	"testing"
	"time"
)

func TestOutbox(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	p := json.RawMessage(`{"user":"alice","reason":"inactivity"}`)
	id1, err := s.Enqueue(ctx, OutboxEvent{Key: "logout/alice/1", Kind: "user.logged_out", Payload: p})
	must(t, err)
	// The same key again is the same event.
	again, err := s.Enqueue(ctx, OutboxEvent{Key: "logout/alice/1", Kind: "user.logged_out", Payload: json.RawMessage(`{}`)})
	must(t, err)
	if again != id1 {
		t.Fatalf("re-enqueue gave id %d, want %d", again, id1)
	}
	id2, err := s.Enqueue(ctx, OutboxEvent{Key: "logout/bob/1", Kind: "user.logged_out", Payload: p, CreatedAt: t0.Add(-time.Minute)})
	must(t, err)
	id3, err := s.Enqueue(ctx, OutboxEvent{Key: "later", Kind: "k", Payload: p, NextAttemptAt: t0.Add(time.Hour)})
	must(t, err)
	for _, bad := range []OutboxEvent{
		{Kind: "k", Payload: p}, {Key: "x", Payload: p}, {Key: "x", Kind: "k"}, {Key: "x", Kind: "k", Payload: json.RawMessage("{")},
	} {
		_, err := s.Enqueue(ctx, bad)
		wantErr(t, err, ErrInvalid)
	}

	n, err := s.OutboxBacklog(ctx)
	must(t, err)
	if n != 3 {
		t.Fatalf("backlog %d, want 3", n)
	}
	due, err := s.DueOutbox(ctx, t0, 10)
	must(t, err)
	if len(due) != 2 || due[0].ID != id2 || due[1].ID != id1 {
		t.Fatalf("due = %+v", due)
	}
	e := due[1]
	if e.Key != "logout/alice/1" || e.Kind != "user.logged_out" || string(e.Payload) != string(p) ||
		!e.CreatedAt.Equal(t0) || !e.NextAttemptAt.Equal(t0) || e.Attempts != 0 || !e.DeliveredAt.IsZero() {
		t.Fatalf("event = %+v", e)
	}
	if due, _ := s.DueOutbox(ctx, t0, 1); len(due) != 1 {
		t.Fatalf("limit 1 gave %d", len(due))
	}

	// A failure puts it off; a delivery takes it out.
	must(t, s.MarkFailed(ctx, id1, "503 Service Unavailable", t0.Add(30*time.Second)))
	must(t, s.MarkDelivered(ctx, id2, t0.Add(time.Second)))
	must(t, s.MarkDelivered(ctx, id2, t0.Add(time.Hour))) // again: no change
	due, _ = s.DueOutbox(ctx, t0.Add(time.Second), 10)
	if len(due) != 0 {
		t.Fatalf("due = %+v", due)
	}
	due, _ = s.DueOutbox(ctx, t0.Add(30*time.Second), 10)
	if len(due) != 1 || due[0].ID != id1 || due[0].Attempts != 1 || due[0].LastError != "503 Service Unavailable" {
		t.Fatalf("due after failure = %+v", due)
	}
	d2, err := s.OutboxEvent(ctx, id2)
	must(t, err)
	if d2.Attempts != 1 || !d2.DeliveredAt.Equal(t0.Add(time.Second)) {
		t.Fatalf("delivered = %+v", d2)
	}
	wantErr(t, s.MarkFailed(ctx, id2, "late", t0), ErrNotFound) // delivered
	wantErr(t, s.MarkFailed(ctx, 999, "x", t0), ErrNotFound)
	wantErr(t, s.MarkDelivered(ctx, 999, t0), ErrNotFound)
	_, err = s.OutboxEvent(ctx, 999)
	wantErr(t, err, ErrNotFound)
	n, _ = s.OutboxBacklog(ctx)
	if n != 2 {
		t.Fatalf("backlog %d, want 2", n)
	}
	_ = id3
}
