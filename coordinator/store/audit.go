package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// AuditEntry is one line of the audit log. The log is append-only: the
// store has no method to change or remove an entry, and the schema refuses
// UPDATE and DELETE on it.
type AuditEntry struct {
	ID     int64     // assigned by the store, increasing
	At     time.Time // the store's clock if zero
	Actor  string    // "admin:<token name>", "system", "device:<id>"; required
	Kind   string    // "settings.changed", "user.warned", "user.logged_out", …; required
	User   string    // the Agent Desk user concerned; may be empty
	Detail json.RawMessage
}

// AuditFilter selects audit entries. Zero fields do not filter.
type AuditFilter struct {
	User     string
	Kind     string
	Since    time.Time // At ≥ Since
	Until    time.Time // At < Until
	Limit    int       // default DefaultAuditLimit, at most MaxAuditLimit
	BeforeID int64     // ID < BeforeID: the next page after an entry
}

// Page sizes for AuditEntries.
const (
	DefaultAuditLimit = 100
	MaxAuditLimit     = 1000
)

// Audit appends e to the audit log and returns its ID.
func (s *Store) Audit(ctx context.Context, e AuditEntry) (int64, error) {
	var id int64
	err := s.write(ctx, "audit "+e.Kind, func(tx *txn) error {
		var err error
		id, err = s.insertAudit(ctx, tx, e)
		return err
	})
	return id, err
}

func (s *Store) insertAudit(ctx context.Context, q querier, e AuditEntry) (int64, error) {
	if e.Actor == "" || e.Kind == "" {
		return 0, invalid("audit entry needs an actor and a kind (actor %q, kind %q)", e.Actor, e.Kind)
	}
	if err := checkJSON("audit detail", e.Detail); err != nil {
		return 0, err
	}
	if e.At.IsZero() {
		e.At = s.now()
	}
	var id int64
	err := q.QueryRowContext(ctx, `INSERT INTO audit (at, actor, kind, user_name, detail)
VALUES (?, ?, ?, ?, ?) RETURNING id`,
		toMS(e.At), e.Actor, e.Kind, e.User, nullText(string(e.Detail))).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("append audit entry: %w", err)
	}
	return id, nil
}

// AuditEntries returns the entries f selects, newest first. For the next
// page, set f.BeforeID to the last entry's ID.
func (s *Store) AuditEntries(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	var w where
	w.add(f.User != "", "user_name = ?", f.User)
	w.add(f.Kind != "", "kind = ?", f.Kind)
	w.add(!f.Since.IsZero(), "at >= ?", toMS(f.Since))
	w.add(!f.Until.IsZero(), "at < ?", toMS(f.Until))
	w.add(f.BeforeID > 0, "id < ?", f.BeforeID)
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultAuditLimit
	}
	limit = min(limit, MaxAuditLimit)
	query := "SELECT id, at, actor, kind, user_name, detail FROM audit" + w.clause() + " ORDER BY id DESC LIMIT ?"
	args := append(w.args, limit)

	return queryRows(ctx, s.rdb, "read audit", func(sc scanner) (AuditEntry, error) {
		var e AuditEntry
		var at int64
		var detail sql.NullString
		if err := sc.Scan(&e.ID, &at, &e.Actor, &e.Kind, &e.User, &detail); err != nil {
			return AuditEntry{}, err
		}
		e.At = fromMS(at)
		if detail.Valid {
			e.Detail = json.RawMessage(detail.String)
		}
		return e, nil
	}, query, args...)
}
