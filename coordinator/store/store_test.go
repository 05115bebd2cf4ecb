package store

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/vigil-cc/vigil/coordinator/engine"
	"github.com/vigil-cc/vigil/internal/pgtest"
)

// TestMain stops the package's PostgreSQL, if a test started one.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// sqliteOnly skips a test of the SQLite file itself on PostgreSQL.
func sqliteOnly(t testing.TB) {
	t.Helper()
	if pgtest.Selected() {
		t.Skip("SQLite only")
	}
}

// t0 is the tests' "now".
var t0 = time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)

// openAt opens the SQLite file at path, or the PostgreSQL database if path
// is a postgres:// URL.
func openAt(t testing.TB, path string) *Store {
	t.Helper()
	open := Open
	if IsPostgresURL(path) {
		open = OpenPostgres
	}
	s, err := open(context.Background(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	s.now = func() time.Time { return t0 }
	t.Cleanup(func() { s.Close() })
	return s
}

// openTest opens a new store: a SQLite file, or with VIGIL_TEST_STORE=postgres
// a new database on the package's PostgreSQL. The second result reopens it
// through openAt.
func openTest(t testing.TB) (*Store, string) {
	t.Helper()
	if pgtest.Selected() {
		u := pgtest.Database(t)
		return openAt(t, u), u
	}
	path := filepath.Join(t.TempDir(), "vigil.db")
	return openAt(t, path), path
}

func entry(kind, user string) AuditEntry {
	return AuditEntry{Actor: "admin:test", Kind: kind, User: user}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("err = %v, want %v", err, target)
	}
}

func TestOpenConfiguresSQLite(t *testing.T) {
	sqliteOnly(t)
	s, path := openTest(t)
	ctx := context.Background()
	for pragma, want := range map[string]string{
		"journal_mode": "wal", "foreign_keys": "1", "synchronous": "2", "busy_timeout": "5000",
	} {
		var got string
		must(t, s.db.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got))
		if got != want {
			t.Errorf("writer PRAGMA %s = %s, want %s", pragma, got, want)
		}
	}
	var fk string
	must(t, s.rdb.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk))
	if fk != "1" {
		t.Errorf("reader foreign_keys = %s", fk)
	}
	if _, err := s.rdb.ExecContext(ctx, "INSERT INTO desk_users (name, created_at) VALUES ('x', 0)"); err == nil {
		t.Error("the read pool accepted a write")
	}
	fi, err := os.Stat(path)
	must(t, err)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("database file mode %v, want 0600", fi.Mode().Perm())
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.db")
	must(t, os.WriteFile(junk, []byte(strings.Repeat("this is not a database ", 100)), 0o600))
	if _, err := Open(ctx, junk); err == nil || !strings.Contains(err.Error(), junk) {
		t.Errorf("Open(junk) = %v, want an error naming the file", err)
	}
	if _, err := Open(ctx, filepath.Join(dir, "missing", "vigil.db")); err == nil {
		t.Error("Open in a missing directory succeeded")
	}
	if _, err := Open(ctx, ""); err == nil {
		t.Error("Open(\"\") succeeded")
	}
	// A path with URI-special characters is a file name, not a URI.
	odd := filepath.Join(dir, "a?b#c %d.db")
	s, err := Open(ctx, odd)
	must(t, err)
	s.Close()
	if _, err := os.Stat(odd); err != nil {
		t.Errorf("odd path: %v", err)
	}
}

func TestMigrations(t *testing.T) {
	ctx := context.Background()
	migs, err := loadMigrations(sqliteMigrations, "migrations/sqlite")
	must(t, err)
	latest := len(migs)

	s, path := openTest(t)
	v, err := s.SchemaVersion(ctx)
	must(t, err)
	if v != latest {
		t.Fatalf("fresh database at version %d, want %d", v, latest)
	}
	count := func(s *Store) (n int, applied int64) {
		must(t, s.db.QueryRowContext(ctx, "SELECT COUNT(*), MAX(applied_at) FROM schema_version").Scan(&n, &applied))
		return n, applied
	}
	n1, a1 := count(s)
	if n1 != latest {
		t.Fatalf("%d schema_version rows, want %d", n1, latest)
	}
	s.Close()

	// Reopening is a no-op.
	s = openAt(t, path)
	n2, a2 := count(s)
	if n2 != n1 || a2 != a1 {
		t.Fatalf("reopen changed schema_version: %d rows applied %d, was %d rows applied %d", n2, a2, n1, a1)
	}
	// A newer coordinator's database is refused, untouched.
	_, err = s.db.ExecContext(ctx, "INSERT INTO schema_version (version, applied_at) VALUES (?, 0)", latest+41)
	must(t, err)
	s.Close()
	if s.pg {
		_, err = OpenPostgres(ctx, path)
	} else {
		_, err = Open(ctx, path)
	}
	wantErr(t, err, ErrSchemaTooNew)
	for _, part := range []string{redact(path), "schema version " + strconv.Itoa(latest+41), "up to " + strconv.Itoa(latest)} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("error %q does not say %q", err, part)
		}
	}
}

func TestLoadMigrationsChecksNumbering(t *testing.T) {
	ok := fstest.MapFS{
		"m/0001_init.sql":  {Data: []byte("CREATE TABLE a (x INTEGER);")},
		"m/0002_more.sql":  {Data: []byte("CREATE TABLE b (x INTEGER);")},
		"m/0003_third.sql": {Data: []byte("CREATE TABLE c (x INTEGER);")},
	}
	migs, err := loadMigrations(ok, "m")
	must(t, err)
	if len(migs) != 3 || migs[2].version != 3 || migs[0].name != "0001_init.sql" {
		t.Fatalf("loaded %+v", migs)
	}
	for name, fsys := range map[string]fstest.MapFS{
		"gap":      {"m/0001_a.sql": {}, "m/0003_c.sql": {}},
		"repeat":   {"m/0001_a.sql": {}, "m/0001_b.sql": {}},
		"no one":   {"m/0002_b.sql": {}},
		"bad name": {"m/0001_a.sql": {}, "m/2_b.sql": {}},
	} {
		if _, err := loadMigrations(fsys, "m"); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// The audit is append-only: no method changes or removes an entry, and the
// schema refuses it too.
func TestAuditIsAppendOnly(t *testing.T) {
	allowed := map[string]bool{"Audit": true, "AuditEntries": true}
	changes := regexp.MustCompile(`(?i)update|delete|remove|edit|purge|prune|truncate|clear|replace|set|forget`)
	for _, typ := range []reflect.Type{reflect.TypeFor[*Store](), reflect.TypeFor[*Tx]()} {
		for i := range typ.NumMethod() {
			m := typ.Method(i)
			if strings.Contains(m.Name, "Audit") && !allowed[m.Name] {
				t.Errorf("%v has method %s", typ, m.Name)
			}
			if strings.Contains(m.Name, "Audit") && changes.MatchString(m.Name) {
				t.Errorf("%v.%s changes the audit", typ, m.Name)
			}
		}
	}
	s, _ := openTest(t)
	ctx := context.Background()
	_, err := s.Audit(ctx, entry("x.y", "alice"))
	must(t, err)
	for _, q := range []string{"UPDATE audit SET kind = 'z'", "DELETE FROM audit"} {
		if _, err := s.db.ExecContext(ctx, q); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: err = %v, want append-only refusal", q, err)
		}
	}
	es, err := s.AuditEntries(ctx, AuditFilter{})
	must(t, err)
	if len(es) != 1 || es[0].Kind != "x.y" {
		t.Fatalf("audit changed: %+v", es)
	}
}

func TestTxCommitsTogether(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	snap := engine.Snapshot{User: "alice", At: t0, Desk: "open", Counted: 90 * time.Second}
	err := s.Tx(ctx, func(tx *Tx) error {
		if _, err := tx.Audit(ctx, AuditEntry{Actor: "system", Kind: "user.logged_out", User: "alice"}); err != nil {
			return err
		}
		if err := tx.SaveSnapshots(ctx, []engine.Snapshot{snap}); err != nil {
			return err
		}
		if _, err := tx.Enqueue(ctx, OutboxEvent{Key: "logout/alice/1", Kind: "logout", Payload: json.RawMessage(`{"user":"alice"}`)}); err != nil {
			return err
		}
		return tx.SetAliveUntil(ctx, t0)
	})
	must(t, err)
	es, _ := s.AuditEntries(ctx, AuditFilter{})
	snaps, _ := s.Snapshots(ctx)
	n, _ := s.OutboxBacklog(ctx)
	alive, _ := s.AliveUntil(ctx)
	if len(es) != 1 || len(snaps) != 1 || n != 1 || !alive.Equal(t0) {
		t.Fatalf("after commit: %d audit, %d snapshots, %d outbox, alive %v", len(es), len(snaps), n, alive)
	}
}

func TestTxRollsBack(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	boom := errors.New("boom")
	snap := engine.Snapshot{User: "bob", At: t0, Desk: "open"}
	err := s.Tx(ctx, func(tx *Tx) error {
		if _, err := tx.Audit(ctx, AuditEntry{Actor: "system", Kind: "user.warned", User: "bob"}); err != nil {
			return err
		}
		if err := tx.SaveSnapshots(ctx, []engine.Snapshot{snap}); err != nil {
			return err
		}
		if _, err := tx.Enqueue(ctx, OutboxEvent{Key: "k", Kind: "warn", Payload: json.RawMessage(`{}`)}); err != nil {
			return err
		}
		return boom
	})
	wantErr(t, err, boom)

	// The context ends half-way through: nothing is kept.
	cctx, cancel := context.WithCancel(ctx)
	err = s.Tx(cctx, func(tx *Tx) error {
		if err := tx.SaveSnapshots(cctx, []engine.Snapshot{snap}); err != nil {
			return err
		}
		cancel()
		_, err := tx.Audit(cctx, AuditEntry{Actor: "system", Kind: "user.warned", User: "bob"})
		return err
	})
	if err == nil {
		t.Fatal("transaction with a cancelled context committed")
	}

	es, _ := s.AuditEntries(ctx, AuditFilter{})
	snaps, _ := s.Snapshots(ctx)
	n, _ := s.OutboxBacklog(ctx)
	if len(es) != 0 || len(snaps) != 0 || n != 0 {
		t.Fatalf("after rollback: %d audit, %d snapshots, %d outbox", len(es), len(snaps), n)
	}
	// The write connection is usable again.
	_, err = s.Audit(ctx, entry("after", ""))
	must(t, err)
}

func TestAliveUntil(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	if a, err := s.AliveUntil(ctx); err != nil || !a.IsZero() {
		t.Fatalf("fresh AliveUntil = %v, %v", a, err)
	}
	set := func(at time.Time) {
		must(t, s.Tx(ctx, func(tx *Tx) error { return tx.SetAliveUntil(ctx, at) }))
	}
	set(t0.Add(time.Minute))
	set(t0) // never back
	if a, _ := s.AliveUntil(ctx); !a.Equal(t0.Add(time.Minute)) {
		t.Fatalf("AliveUntil = %v", a)
	}
}

func TestBackup(t *testing.T) {
	sqliteOnly(t)
	s, _ := openTest(t)
	ctx := context.Background()
	must(t, s.EnsureDeskUser(ctx, "alice"))
	dest := filepath.Join(t.TempDir(), "backup.db")
	must(t, s.Backup(ctx, dest))
	if err := s.Backup(ctx, dest); err == nil {
		t.Error("Backup overwrote an existing file")
	}
	b := openAt(t, dest)
	ok, err := b.DeskUserExists(ctx, "alice")
	must(t, err)
	if !ok {
		t.Error("backup lacks alice")
	}
}
