package store

import (
	"context"
	"encoding/json"
	"testing"
)

func TestSettingsDefaultsAndRoundTrip(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	got, err := s.Settings(ctx)
	must(t, err)
	if want := (Settings{Enabled: true, TimeoutSeconds: 300, TitlePattern: "^Agent Desk"}); got != want {
		t.Fatalf("defaults = %+v, want %+v", got, want)
	}
	for _, st := range []Settings{
		{Enabled: false, TimeoutSeconds: 45, TitlePattern: `^Agent Desk — .*$`},
		{Enabled: true, TimeoutSeconds: 3600, TitlePattern: ""},
	} {
		must(t, s.SaveSettings(ctx, st, AuditEntry{Actor: "admin:ops", Kind: "settings.changed", Detail: json.RawMessage(`{"timeout_s":45}`)}))
		got, err := s.Settings(ctx)
		must(t, err)
		if got != st {
			t.Fatalf("Settings = %+v, want %+v", got, st)
		}
	}
	es, err := s.AuditEntries(ctx, AuditFilter{Kind: "settings.changed"})
	must(t, err)
	if len(es) != 2 || es[0].Actor != "admin:ops" {
		t.Fatalf("audit = %+v", es)
	}
}

// Settings and their audit entry are one transaction: when the audit insert
// fails, the settings are unchanged.
func TestSaveSettingsIsAtomicWithAudit(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	before := Settings{Enabled: true, TimeoutSeconds: 120, TitlePattern: "^Desk"}
	must(t, s.SaveSettings(ctx, before, entry("settings.changed", "")))
	after := Settings{Enabled: false, TimeoutSeconds: 900, TitlePattern: "^Other"}

	// Injected failure: the database refuses the audit insert, after the
	// settings row was written in the same transaction.
	failAudit := `CREATE TRIGGER fail_audit BEFORE INSERT ON audit
BEGIN SELECT RAISE(ABORT, 'injected audit failure'); END`
	if s.pg {
		failAudit = `CREATE FUNCTION fail_audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'injected audit failure'; END $$;
CREATE TRIGGER fail_audit BEFORE INSERT ON audit FOR EACH ROW EXECUTE FUNCTION fail_audit()`
	}
	_, err := s.db.ExecContext(ctx, failAudit)
	must(t, err)
	if err := s.SaveSettings(ctx, after, entry("settings.changed", "")); err == nil {
		t.Fatal("SaveSettings succeeded although its audit failed")
	}
	dropTrigger := "DROP TRIGGER fail_audit"
	if s.pg {
		dropTrigger += " ON audit"
	}
	_, err = s.db.ExecContext(ctx, dropTrigger)
	must(t, err)

	// An invalid entry, a cancelled context: the same.
	if err := s.SaveSettings(ctx, after, AuditEntry{Actor: "admin:ops"}); err == nil {
		t.Fatal("SaveSettings with an audit entry without kind succeeded")
	}
	if err := s.SaveSettings(ctx, after, AuditEntry{Actor: "admin:ops", Kind: "k", Detail: json.RawMessage(`{not json`)}); err == nil {
		t.Fatal("SaveSettings with malformed detail succeeded")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.SaveSettings(cctx, after, entry("settings.changed", "")); err == nil {
		t.Fatal("SaveSettings with a cancelled context succeeded")
	}
	if err := s.SaveSettings(ctx, Settings{TimeoutSeconds: 0}, entry("settings.changed", "")); err == nil {
		t.Fatal("SaveSettings with timeout 0 succeeded")
	}

	got, err := s.Settings(ctx)
	must(t, err)
	if got != before {
		t.Fatalf("settings = %+v after failed saves, want %+v", got, before)
	}
	es, _ := s.AuditEntries(ctx, AuditFilter{})
	if len(es) != 1 {
		t.Fatalf("%d audit entries, want 1", len(es))
	}
}
