// Package store is the coordinator's persistence: settings, API and
// enrollment tokens, devices, Agent Desk users, identity mappings, unmapped OS
// users, engine snapshots, the append-only audit log and the webhook outbox.
//
// It runs on SQLite through the pure-Go driver modernc.org/sqlite (Open,
// the default) or on PostgreSQL through pgx (OpenPostgres), so the
// coordinator builds with CGO_ENABLED=0 either way. The queries are shared,
// written with ? placeholders that the PostgreSQL store rebinds; each
// dialect has its own migrations with the same numbers. See docs/store.md.
//
// Rules every method keeps:
//   - it takes a context and returns errors that say what was being done
//     ("store: revoke api token x: not found");
//   - a missing row is ErrNotFound (test with errors.Is);
//   - times are stored as UTC unix milliseconds and come back in UTC,
//     truncated to the millisecond; a zero time.Time is stored as NULL;
//   - a state change an admin or the engine decides is written in the same
//     transaction as its audit entry (and, for webhooks, its outbox event).
package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"strings"
	"time"

	"github.com/vigil-cc/vigil/coordinator/engine"
)

// Errors the API layer maps to messages. Test with errors.Is: they come
// wrapped with what was being done.
var (
	// ErrNotFound: the row asked for does not exist.
	ErrNotFound = errors.New("not found")
	// ErrDuplicate: a unique key (token hash, live token name, device token,
	// ID) is already taken.
	ErrDuplicate = errors.New("already exists")
	// ErrInvalid: the value cannot be stored (empty required field, unknown
	// role or status, malformed JSON).
	ErrInvalid = errors.New("invalid")
	// ErrAPITokenRevoked: the API token exists but was revoked. It also
	// matches ErrNotFound.
	ErrAPITokenRevoked error = notFoundError("api token revoked")
	// ErrEnrollmentRevoked, ErrEnrollmentExpired, ErrEnrollmentUsedUp: why an
	// enrollment token cannot enroll a device.
	ErrEnrollmentRevoked = errors.New("enrollment token revoked")
	ErrEnrollmentExpired = errors.New("enrollment token expired")
	ErrEnrollmentUsedUp  = errors.New("enrollment token used up")
	// ErrEnrollmentHost: the device's host name does not match the
	// enrollment token's host pattern.
	ErrEnrollmentHost = errors.New("host name not allowed by the enrollment token")
	// ErrLastAdmin: the change would leave no admin account that may sign
	// in to the web pages.
	ErrLastAdmin = errors.New("the last admin account that may sign in")
	// ErrSchemaTooNew: the database was written by a newer coordinator.
	ErrSchemaTooNew = errors.New("database schema is newer than this coordinator")
)

// notFoundError is an error that errors.Is also takes for ErrNotFound.
type notFoundError string

func (e notFoundError) Error() string        { return string(e) }
func (e notFoundError) Is(target error) bool { return target == ErrNotFound }

// Store is the coordinator's database. It is safe for concurrent use.
type Store struct {
	// SQLite: db writes through one connection, so writers queue here, not
	// on SQLITE_BUSY, and rdb reads (WAL lets several run beside the
	// writer). PostgreSQL: both are the one pool.
	db, rdb *conn
	path    string // the SQLite file; "" on PostgreSQL
	pg      bool
	now     func() time.Time
}

// querier is what conn and txn (and *sql.DB, *sql.Tx) have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// scanner is what *sql.Row and *sql.Rows have in common.
type scanner interface{ Scan(dest ...any) error }

// eachRow runs query on q and calls each for every row; what names the
// query in errors.
func eachRow(ctx context.Context, q querier, what string, each func(scanner) error, query string, args ...any) error {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := each(rows); err != nil {
			return fmt.Errorf("store: %s: %w", what, err)
		}
	}
	return wrap(what, rows.Err())
}

// queryRows runs query on q and scans every row with scan.
func queryRows[T any](ctx context.Context, q querier, what string, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	var out []T
	err := eachRow(ctx, q, what, func(sc scanner) error {
		v, err := scan(sc)
		if err != nil {
			return err
		}
		out = append(out, v)
		return nil
	}, query, args...)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// queryRow runs query on q and scans its one row with scan; no row is
// ErrNotFound. what names the row in errors.
func queryRow[T any](ctx context.Context, q querier, what string, scan func(scanner) (T, error), query string, args ...any) (T, error) {
	v, err := scan(q.QueryRowContext(ctx, query, args...))
	if err != nil {
		var zero T
		return zero, fmt.Errorf("store: %s: %w", what, notFound(err))
	}
	return v, nil
}

// execOne runs a statement on q that must change a row: ErrNotFound if it
// changed none.
func execOne(ctx context.Context, q querier, query string, args ...any) error {
	res, err := q.ExecContext(ctx, query, args...)
	if err != nil {
		return err
	}
	return affected(res)
}

// where gathers the conditions of a filter that apply.
type where struct {
	conds []string
	args  []any
}

// add adds cond with its args if applies.
func (w *where) add(applies bool, cond string, args ...any) {
	if applies {
		w.conds, w.args = append(w.conds, cond), append(w.args, args...)
	}
}

// clause is " WHERE …" with every condition, or "" for none.
func (w *where) clause() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// Path is the database file, or "" on PostgreSQL.
func (s *Store) Path() string { return s.path }

// PostgreSQL reports whether the store is on PostgreSQL (several replicas
// can share it) rather than a SQLite file.
func (s *Store) PostgreSQL() bool { return s.pg }

// Close closes the database. Calls in flight fail.
func (s *Store) Close() error {
	if s.rdb == s.db {
		return s.db.Close()
	}
	return errors.Join(s.rdb.Close(), s.db.Close())
}

// write runs fn in one write transaction and commits it; what names the
// operation in errors.
func (s *Store) write(ctx context.Context, what string, fn func(tx *txn) error) error {
	return s.retry(ctx, func() error {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("store: %s: begin: %w", what, err)
		}
		defer tx.Rollback() //nolint:errcheck // no-op after Commit
		if err := fn(tx); err != nil {
			return fmt.Errorf("store: %s: %w", what, err)
		}
		return wrap(what+": commit", tx.Commit())
	})
}

// txAttempts is how many times a write transaction runs when PostgreSQL
// aborts it as a deadlock or serialization failure.
const txAttempts = 5

// retry runs attempt, the whole of one write transaction, again when
// PostgreSQL aborted it as a deadlock victim (40P01) or a serialization
// failure (40001): the other transaction has then committed or is about to,
// and the same writes succeed on a second run, so a decision's audit row is
// not lost to a lock-order race. Every write transaction goes through here,
// so each attempt must be whole: it begins, writes and commits, and leaves
// nothing behind in memory when it fails. SQLite has one writer and never
// aborts that way.
func (s *Store) retry(ctx context.Context, attempt func() error) error {
	for i := 1; ; i++ {
		err := attempt()
		if err == nil || !s.pg || i == txAttempts || !isPgSerializationFailure(err) {
			return err
		}
		// A short, growing, jittered pause so the two transactions do not
		// collide again in step.
		pause := time.Duration(i)*5*time.Millisecond + time.Duration(mrand.Int64N(int64(5*time.Millisecond)))
		select {
		case <-ctx.Done():
			return err
		case <-time.After(pause):
		}
	}
}

// Tx is a write transaction open through (*Store).Tx: what the coordinator
// decides, its audit entries and its outbox events commit together or not at
// all.
type Tx struct {
	s  *Store
	tx *txn
}

// Tx runs fn in one write transaction, committed if fn returns nil and rolled
// back otherwise (fn's error is returned as it is). fn must use only tx: the
// store has one write connection, so a write through the Store from inside fn
// waits for fn and deadlocks until ctx ends; a read through the Store does not
// see tx's uncommitted writes.
//
// On PostgreSQL a transaction aborted as a deadlock victim or a
// serialization failure is run again, fn included, a few times: fn must
// therefore be safe to run more than once (write only through tx, and set
// rather than append to what it returns).
func (s *Store) Tx(ctx context.Context, fn func(tx *Tx) error) error {
	return s.retry(ctx, func() error {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("store: begin transaction: %w", err)
		}
		defer tx.Rollback() //nolint:errcheck // no-op after Commit
		if err := fn(&Tx{s: s, tx: tx}); err != nil {
			return err
		}
		return wrap("commit transaction", tx.Commit())
	})
}

// Audit appends e to the audit log within the transaction.
func (t *Tx) Audit(ctx context.Context, e AuditEntry) (int64, error) {
	id, err := t.s.insertAudit(ctx, t.tx, e)
	if err != nil {
		return 0, fmt.Errorf("store: audit: %w", err)
	}
	return id, nil
}

// SaveSnapshots upserts engine snapshots within the transaction.
func (t *Tx) SaveSnapshots(ctx context.Context, snaps []engine.Snapshot) error {
	return wrap("save snapshots", t.s.saveSnapshots(ctx, t.tx, snaps))
}

// DeleteSnapshot removes user's snapshot within the transaction (ErrNotFound
// if there is none).
func (t *Tx) DeleteSnapshot(ctx context.Context, user string) error {
	return wrap(fmt.Sprintf("delete snapshot %q", user), t.s.deleteSnapshot(ctx, t.tx, user))
}

// Enqueue adds an event to the outbox within the transaction; see
// (*Store).Enqueue.
func (t *Tx) Enqueue(ctx context.Context, e OutboxEvent) (int64, error) {
	id, err := t.s.enqueue(ctx, t.tx, e)
	if err != nil {
		return 0, fmt.Errorf("store: enqueue %q: %w", e.Key, err)
	}
	return id, nil
}

// CreateAPIToken stores t within the transaction; see (*Store).CreateAPIToken.
func (t *Tx) CreateAPIToken(ctx context.Context, tok APIToken) error {
	return wrap(fmt.Sprintf("create api token %q", tok.Name), t.s.createAPIToken(ctx, t.tx, tok))
}

// RevokeAPIToken revokes token id within the transaction; see
// (*Store).RevokeAPIToken.
func (t *Tx) RevokeAPIToken(ctx context.Context, id string) error {
	return wrap("revoke api token "+id, t.s.revoke(ctx, t.tx, "api_tokens", id))
}

// CreateEnrollment stores e within the transaction; see
// (*Store).CreateEnrollment.
func (t *Tx) CreateEnrollment(ctx context.Context, e Enrollment) error {
	return wrap("create enrollment "+e.ID, t.s.createEnrollment(ctx, t.tx, e))
}

// RevokeEnrollment revokes enrollment id within the transaction; see
// (*Store).RevokeEnrollment.
func (t *Tx) RevokeEnrollment(ctx context.Context, id string) error {
	return wrap("revoke enrollment "+id, t.s.revoke(ctx, t.tx, "enrollments", id))
}

// Enroll enrolls a device within the transaction; see (*Store).Enroll. If
// it fails, return its error from fn: the transaction must not commit.
func (t *Tx) Enroll(ctx context.Context, enrollmentHash []byte, now time.Time, dev Device) (Device, error) {
	d, err := t.s.enroll(ctx, t.tx, enrollmentHash, now, dev)
	if err != nil {
		return Device{}, fmt.Errorf("store: enroll device %s: %w", dev.Host, err)
	}
	return d, nil
}

// NewID returns a random identifier (16 lowercase base32 characters, 80
// bits) of the kind the store gives tokens, enrollments and devices created
// without one.
func NewID() string {
	var b [10]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return strings.ToLower(base32.StdEncoding.EncodeToString(b[:]))
}

// Times are unix milliseconds, UTC.

func toMS(t time.Time) int64 { return t.UnixMilli() }

func nullMS(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMilli(), Valid: true}
}

func fromMS(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

func fromNullMS(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return fromMS(v.Int64)
}

// Booleans are stored as 0/1 integers, the same in SQLite and PostgreSQL.
func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// nullText stores "" as NULL.
func nullText(s string) sql.NullString {
	return sql.NullString{String: s, Valid: s != ""}
}

// checkJSON accepts empty (stored as NULL) or valid JSON.
func checkJSON(field string, raw json.RawMessage) error {
	if len(raw) > 0 && !json.Valid(raw) {
		return fmt.Errorf("%w: %s is not valid JSON", ErrInvalid, field)
	}
	return nil
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// affected returns ErrNotFound when res changed no row.
func affected(res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// wrap is err with what the store was doing, or nil.
func wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("store: %s: %w", what, err)
}

// notFound maps sql.ErrNoRows to ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

// dup maps a unique-constraint violation to ErrDuplicate, naming what.
func dup(err error, what string) error {
	if isUniqueViolation(err) {
		return fmt.Errorf("%w: %s", ErrDuplicate, what)
	}
	return err
}
