package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// SQLite specifics live in this file and in migrations/sqlite/. Everything
// else is SQL a PostgreSQL implementation can share.

const (
	busyTimeout = 5 * time.Second // another process holding the write lock
	readers     = 4               // read connections beside the one writer
)

// Open opens the SQLite database at path, creating the file (mode 0600) if
// it does not exist, and brings its schema up to date. The directory must
// exist. It refuses, with ErrSchemaTooNew, a database written by a newer
// coordinator.
//
// Connections run in WAL mode with foreign keys on, synchronous=FULL (a
// committed audit entry or outbox event survives a power cut) and a busy
// timeout of 5 s. Writes go through one connection and begin IMMEDIATE, so
// they queue in the process rather than fail with SQLITE_BUSY, and a second
// process on the same file waits for the write lock instead of failing
// half-way through a transaction.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("store: open: no database path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	// Create it private before SQLite does (its -wal and -shm files take the
	// same mode): the audit names people.
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", abs, err)
	}
	f.Close()

	w, err := sql.Open("sqlite", dsn(abs, url.Values{
		"_pragma": {
			fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()),
			"foreign_keys(1)",
			"journal_mode(WAL)",
			"synchronous(FULL)",
		},
		"_txlock": {"immediate"},
	}))
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", abs, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxIdleTime(0)
	w.SetConnMaxLifetime(0)

	r, err := sql.Open("sqlite", dsn(abs, url.Values{
		"_pragma": {
			fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()),
			"foreign_keys(1)",
			"query_only(1)",
		},
	}))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("store: open %s: %w", abs, err)
	}
	r.SetMaxOpenConns(readers)
	r.SetMaxIdleConns(readers)

	s := &Store{db: &conn{DB: w}, rdb: &conn{DB: r}, path: abs, now: time.Now}
	if err := s.init(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("store: open %s: %w", abs, err)
	}
	return s, nil
}

func (s *Store) init(ctx context.Context) error {
	var mode string
	if err := s.db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return err // e.g. "file is not a database"
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("journal mode is %q, want wal (is the file on a network file system?)", mode)
	}
	migs, err := loadMigrations(sqliteMigrations, "migrations/sqlite")
	if err != nil {
		return err
	}
	return s.migrate(ctx, migs)
}

// dsn is a file: URI for path with the driver's parameters. SQLite ignores
// the parameters it does not know (the driver's _pragma, _txlock).
func dsn(path string, params url.Values) string {
	p := filepath.ToSlash(path)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // C:/x → /C:/x
	}
	return "file:" + (&url.URL{Path: p}).EscapedPath() + "?" + params.Encode()
}

// isUniqueViolation reports whether err is a UNIQUE or PRIMARY KEY
// constraint failure.
func isUniqueViolation(err error) bool {
	if isPgUniqueViolation(err) {
		return true
	}
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

// Backup writes a consistent copy of the database to dest (a new file, mode
// 0600; it must not exist) while the store stays open, with SQLite's VACUUM INTO. Writers wait
// while it runs; readers do not.
func (s *Store) Backup(ctx context.Context, dest string) error {
	if s.pg {
		return errors.New("store: backup: on PostgreSQL use pg_dump or the server's own backups")
	}
	abs, err := filepath.Abs(dest)
	if err != nil {
		return fmt.Errorf("store: backup to %s: %w", dest, err)
	}
	// An empty file is allowed as the target; creating it first keeps the
	// copy private and refuses to overwrite anything.
	f, err := os.OpenFile(abs, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("store: backup to %s: %w", abs, err)
	}
	f.Close()
	if _, err := s.db.ExecContext(ctx, "VACUUM INTO ?", abs); err != nil {
		os.Remove(abs)
		return fmt.Errorf("store: backup to %s: %w", abs, err)
	}
	return nil
}
