package store

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// One audit entry, one transaction, synchronous=FULL: the cost of an
// admin action or an engine decision.
func BenchmarkAudit(b *testing.B) {
	s, _ := openTest(b)
	ctx := context.Background()
	e := AuditEntry{Actor: "system", Kind: "user.warned", User: "alice", Detail: json.RawMessage(`{"deadline":"2026-03-02T09:35:00Z"}`)}
	for b.Loop() {
		if _, err := s.Audit(ctx, e); err != nil {
			b.Fatal(err)
		}
	}
}

// 100 users' snapshots upserted in one transaction: the periodic flush.
func BenchmarkSaveSnapshots100(b *testing.B) {
	s, _ := openTest(b)
	ctx := context.Background()
	users := make([]string, 100)
	for i := range users {
		users[i] = fmt.Sprintf("agent%03d", i)
	}
	snaps := engineSnapshots(b, users...)
	i := 0
	for b.Loop() {
		i++
		for j := range snaps {
			snaps[j].Counted = time.Duration(i) * time.Millisecond
		}
		if err := s.SaveSnapshots(ctx, snaps); err != nil {
			b.Fatal(err)
		}
	}
}
