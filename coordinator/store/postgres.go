package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// PostgreSQL specifics live in this file and in migrations/postgres/.

const (
	pgConns = 16 // the pool's connections: every replica's writers and readers
	// pgIdleInTx ends a session left idle inside a transaction this long
	// (its process paused or cut off), so the locks it holds (the lease
	// row's, a decision's) cannot keep a standby from taking over.
	pgIdleInTx = 5 * time.Second
	// migrationLock is the advisory lock key that serializes replicas
	// migrating one database at once.
	migrationLock = 0x5649474c // "VIGL"
)

// IsPostgresURL reports whether u names a PostgreSQL database
// (postgres://… or postgresql://…).
func IsPostgresURL(u string) bool {
	return strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://")
}

// OpenPostgres opens the PostgreSQL database at databaseURL
// (postgres://user:password@host:port/db?sslmode=…, as libpq takes it) and
// brings its schema up to date, like Open does a SQLite file. Several
// coordinator replicas may open one database at once: migrations are
// serialized by an advisory lock.
func OpenPostgres(ctx context.Context, databaseURL string) (*Store, error) {
	if !IsPostgresURL(databaseURL) {
		return nil, errors.New("store: open: the database URL must start with postgres:// or postgresql://")
	}
	cfg, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", redact(databaseURL), err)
	}
	if cfg.RuntimeParams["application_name"] == "" {
		cfg.RuntimeParams["application_name"] = "vigil-coordinator"
	}
	cfg.RuntimeParams["idle_in_transaction_session_timeout"] = fmt.Sprint(pgIdleInTx.Milliseconds())
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(pgConns)
	db.SetMaxIdleConns(pgConns)
	db.SetConnMaxIdleTime(time.Minute)
	c := &conn{DB: db, pg: true}
	s := &Store{db: c, rdb: c, pg: true, now: time.Now}
	if err := s.initPostgres(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open %s: %w", redact(databaseURL), err)
	}
	return s, nil
}

func (s *Store) initPostgres(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return err
	}
	migs, err := loadMigrations(postgresMigrations, "migrations/postgres")
	if err != nil {
		return err
	}
	return s.migrate(ctx, migs)
}

// redact is u without its password, for messages.
func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "the database URL"
	}
	return p.Redacted()
}

// isPgUniqueViolation reports whether err is SQLSTATE 23505.
func isPgUniqueViolation(err error) bool {
	var e *pgconn.PgError
	return errors.As(err, &e) && e.Code == "23505"
}

// isPgSerializationFailure reports whether err is one PostgreSQL resolves
// by aborting a transaction that would succeed if run again: a deadlock
// (40P01) or a serialization failure (40001).
func isPgSerializationFailure(err error) bool {
	var e *pgconn.PgError
	return errors.As(err, &e) && (e.Code == "40P01" || e.Code == "40001")
}

// lockMigrations makes tx wait for any other replica's migration (PostgreSQL
// only; SQLite's write lock already does it).
func (s *Store) lockMigrations(ctx context.Context, tx *txn) error {
	if !s.pg {
		return nil
	}
	_, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(?)", int64(migrationLock))
	return err
}
