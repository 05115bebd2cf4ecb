package store

import (
	"context"
	"encoding/json"
	"testing"
	"time"
)

// A coordinator restart keeps settings, users, mappings, devices, tokens,
// engine snapshots, the audit and the outbox: close the file, open it again,
// everything is there.
func TestPersistsAcrossReopen(t *testing.T) {
	s, path := openTest(t)
	ctx := context.Background()
	settings := Settings{Enabled: false, TimeoutSeconds: 600, TitlePattern: "^Desk"}
	must(t, s.SaveSettings(ctx, settings, entry("settings.changed", "")))
	tok := APIToken{ID: NewID(), Name: "ops", Role: RoleSupervisor, Hash: []byte("tok")}
	must(t, s.CreateAPIToken(ctx, tok))
	enr := newEnrollment(t, s, "enroll", 3, time.Hour)
	dev, err := s.Enroll(ctx, []byte("enroll"), t0, Device{Host: "ws-1", OS: "windows", TokenHash: []byte("dev"), Status: DeviceApproved})
	must(t, err)
	must(t, s.EnsureDeskUser(ctx, "alice"))
	must(t, s.SetMapping(ctx, Mapping{OSUser: `CORP\Alice`, DeskUser: "alice"}, entry("mapping.set", "alice")))
	if _, err := s.NoteUnmapped(ctx, UnmappedUser{OSUser: "guest", Host: "ws-2", LastSeenAt: t0}, UnmappedBounds{}); err != nil {
		t.Fatal(err)
	}
	snaps := engineSnapshots(t, "alice", "bob")
	must(t, s.Tx(ctx, func(tx *Tx) error {
		if err := tx.SaveSnapshots(ctx, snaps); err != nil {
			return err
		}
		if _, err := tx.Enqueue(ctx, OutboxEvent{Key: "k1", Kind: "user.logged_out", Payload: json.RawMessage(`{"user":"bob"}`)}); err != nil {
			return err
		}
		if _, err := tx.Audit(ctx, AuditEntry{Actor: "system", Kind: "user.logged_out", User: "bob"}); err != nil {
			return err
		}
		return tx.SetAliveUntil(ctx, t0.Add(time.Minute))
	}))
	must(t, s.Close())

	s = openAt(t, path)
	if got, _ := s.Settings(ctx); got != settings {
		t.Errorf("settings = %+v", got)
	}
	if got, err := s.APITokenByHash(ctx, []byte("tok")); err != nil || got.ID != tok.ID || got.Role != RoleSupervisor {
		t.Errorf("token = %+v, %v", got, err)
	}
	if got, err := s.Enrollment(ctx, enr.ID); err != nil || got.Uses != 1 {
		t.Errorf("enrollment = %+v, %v", got, err)
	}
	if got, err := s.DeviceByTokenHash(ctx, []byte("dev")); err != nil || got.ID != dev.ID || got.Status != DeviceApproved {
		t.Errorf("device = %+v, %v", got, err)
	}
	if ok, _ := s.DeskUserExists(ctx, "alice"); !ok {
		t.Error("desk user alice lost")
	}
	if m, err := s.Mapping(ctx, `corp\alice`); err != nil || m.DeskUser != "alice" {
		t.Errorf("mapping = %+v, %v", m, err)
	}
	if us, _ := s.Unmapped(ctx); len(us) != 1 || us[0].OSUser != "guest" {
		t.Errorf("unmapped = %+v", us)
	}
	got, err := s.Snapshots(ctx)
	must(t, err)
	want := map[string]string{}
	for _, sn := range snaps {
		want[sn.User] = jsonOf(t, sn)
	}
	if len(got) != 2 {
		t.Errorf("%d snapshots, want 2", len(got))
	}
	for _, sn := range got {
		if jsonOf(t, sn) != want[sn.User] {
			t.Errorf("snapshot of %s = %s\nwant %s", sn.User, jsonOf(t, sn), want[sn.User])
		}
	}
	if n, _ := s.OutboxBacklog(ctx); n != 1 {
		t.Errorf("outbox backlog = %d", n)
	}
	if es, _ := s.AuditEntries(ctx, AuditFilter{}); len(es) != 3 {
		t.Errorf("%d audit entries, want 3", len(es))
	}
	if a, _ := s.AliveUntil(ctx); !a.Equal(t0.Add(time.Minute)) {
		t.Errorf("alive until = %v", a)
	}
}
