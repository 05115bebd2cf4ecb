package store

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

func TestAuditRoundTrip(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	e := AuditEntry{At: t0.Add(1500 * time.Microsecond), Actor: "device:abc", Kind: "user.logged_out", User: "alice",
		Detail: json.RawMessage(`{"timeline":[{"at":"2026-03-02T09:25:00Z","signal":"input"}]}`)}
	id, err := s.Audit(ctx, e)
	must(t, err)
	id2, err := s.Audit(ctx, AuditEntry{Actor: "system", Kind: "sensor.lost"}) // At from the store, no detail
	must(t, err)
	if id <= 0 || id2 <= id {
		t.Fatalf("ids %d, %d: want positive and increasing", id, id2)
	}
	es, err := s.AuditEntries(ctx, AuditFilter{})
	must(t, err)
	if len(es) != 2 {
		t.Fatalf("%d entries", len(es))
	}
	got := es[1]
	if got.ID != id || !got.At.Equal(t0.Add(time.Millisecond)) || got.At.Location() != time.UTC || got.Actor != e.Actor ||
		got.Kind != e.Kind || got.User != "alice" || string(got.Detail) != string(e.Detail) {
		t.Fatalf("entry = %+v\nwant %+v", got, e)
	}
	if es[0].Detail != nil || !es[0].At.Equal(t0) || es[0].User != "" {
		t.Fatalf("entry = %+v", es[0])
	}
	for _, bad := range []AuditEntry{
		{Kind: "k"}, {Actor: "a"}, {Actor: "a", Kind: "k", Detail: json.RawMessage("{")},
	} {
		wantErr(t, func() error { _, err := s.Audit(ctx, bad); return err }(), ErrInvalid)
	}
}

func TestAuditFilter(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	// 60 entries a minute apart: users alice/bob/carol in turn, kinds
	// warned/logged_out alternating.
	users := []string{"alice", "bob", "carol"}
	kinds := []string{"user.warned", "user.logged_out"}
	var ids []int64
	must(t, s.Tx(ctx, func(tx *Tx) error {
		for i := range 60 {
			id, err := tx.Audit(ctx, AuditEntry{At: t0.Add(time.Duration(i) * time.Minute), Actor: "system",
				Kind: kinds[i%2], User: users[i%3], Detail: json.RawMessage(fmt.Sprint(i))})
			if err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return nil
	}))
	// index returns the entry's i from its detail.
	index := func(e AuditEntry) int {
		var i int
		must(t, json.Unmarshal(e.Detail, &i))
		return i
	}
	check := func(name string, f AuditFilter, want []int) {
		t.Helper()
		es, err := s.AuditEntries(ctx, f)
		must(t, err)
		var got []int
		for _, e := range es {
			got = append(got, index(e))
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: got %v, want %v", name, got, want)
		}
	}
	rng := func(from, to, step int) []int { // from down to to, inclusive
		var r []int
		for i := from; i >= to; i -= step {
			r = append(r, i)
		}
		return r
	}
	check("user", AuditFilter{User: "bob", Limit: 5}, []int{58, 55, 52, 49, 46})
	check("kind", AuditFilter{Kind: "user.logged_out", Limit: 3}, []int{59, 57, 55})
	check("user+kind", AuditFilter{User: "alice", Kind: "user.warned"}, rng(54, 0, 6))
	check("since/until", AuditFilter{Since: t0.Add(10 * time.Minute), Until: t0.Add(15 * time.Minute)}, rng(14, 10, 1))
	check("since", AuditFilter{Since: t0.Add(57 * time.Minute)}, []int{59, 58, 57})
	check("until", AuditFilter{Until: t0.Add(2 * time.Minute)}, []int{1, 0})
	check("default limit", AuditFilter{}, rng(59, 0, 1))
	check("none", AuditFilter{User: "dave"}, nil)

	// Keyset pagination walks every entry exactly once, newest first.
	var seen []int
	f := AuditFilter{Limit: 7}
	for {
		es, err := s.AuditEntries(ctx, f)
		must(t, err)
		if len(es) == 0 {
			break
		}
		for _, e := range es {
			seen = append(seen, index(e))
		}
		f.BeforeID = es[len(es)-1].ID
	}
	if fmt.Sprint(seen) != fmt.Sprint(rng(59, 0, 1)) {
		t.Errorf("pages: %v", seen)
	}
	check("before", AuditFilter{BeforeID: ids[3], User: "alice"}, []int{0})
}

func TestAuditLimits(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	must(t, s.Tx(ctx, func(tx *Tx) error {
		for range MaxAuditLimit + 50 {
			if _, err := tx.Audit(ctx, AuditEntry{Actor: "system", Kind: "k"}); err != nil {
				return err
			}
		}
		return nil
	}))
	for limit, want := range map[int]int{0: DefaultAuditLimit, -1: DefaultAuditLimit, 10: 10, 5000: MaxAuditLimit} {
		es, err := s.AuditEntries(ctx, AuditFilter{Limit: limit})
		must(t, err)
		if len(es) != want {
			t.Errorf("Limit %d: %d entries, want %d", limit, len(es), want)
		}
	}
}
