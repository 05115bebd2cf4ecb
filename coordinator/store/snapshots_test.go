package store

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/vigil-cc/vigil/coordinator/engine"
)

// engineSnapshots drives a real engine to get snapshots with every field
// the engine fills in.
func engineSnapshots(t testing.TB, users ...string) []engine.Snapshot {
	t.Helper()
	e := engine.New(engine.Settings{Enabled: true, Timeout: 300 * time.Second}, 0)
	now := t0
	for _, u := range users {
		e.DeskLogin(now, u)
		now = now.Add(time.Second)
		e.Reading(now, u, engine.Source{Key: "dev/s1", Host: "pc"}, engine.Reading{Foreground: true, MicAvailable: true, Idle: 500 * time.Millisecond})
		now = now.Add(time.Second)
		e.Call(now, u, true)
	}
	e.Advance(now.Add(10 * time.Second))
	return e.Snapshots()
}

func jsonOf(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	must(t, err)
	return string(b)
}

func TestSnapshots(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	snaps := engineSnapshots(t, "carol", "alice", "bob")
	must(t, s.SaveSnapshots(ctx, snaps))
	got, err := s.Snapshots(ctx)
	must(t, err)
	if len(got) != 3 || got[0].User != "alice" || got[2].User != "carol" {
		t.Fatalf("Snapshots = %+v", got)
	}
	byUser := map[string]engine.Snapshot{}
	for _, sn := range snaps {
		byUser[sn.User] = sn
	}
	for _, sn := range got {
		if a, b := jsonOf(t, sn), jsonOf(t, byUser[sn.User]); a != b {
			t.Errorf("snapshot of %s:\n got %s\nwant %s", sn.User, a, b)
		}
		if len(sn.Timeline) == 0 || !sn.Call {
			t.Errorf("snapshot of %s lost fields: %+v", sn.User, sn)
		}
	}

	// Upsert by user: alice changes, the others stay.
	alice := byUser["alice"]
	alice.Counted, alice.Warning = 250*time.Second, true
	must(t, s.SaveSnapshots(ctx, []engine.Snapshot{alice}))
	got, _ = s.Snapshots(ctx)
	if len(got) != 3 || got[0].Counted != 250*time.Second || !got[0].Warning {
		t.Fatalf("after upsert: %+v", got[0])
	}
	must(t, s.SaveSnapshots(ctx, nil))
	wantErr(t, s.SaveSnapshots(ctx, []engine.Snapshot{{}}), ErrInvalid)

	must(t, s.DeleteSnapshot(ctx, "bob"))
	wantErr(t, s.DeleteSnapshot(ctx, "bob"), ErrNotFound)
	got, _ = s.Snapshots(ctx)
	if len(got) != 2 {
		t.Fatalf("after delete: %d snapshots", len(got))
	}
}
