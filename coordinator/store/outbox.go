package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// OutboxEvent is a webhook event waiting for delivery. It is written in the
// same transaction as the decision it reports (see (*Store).Tx), so no
// logout or reroute is lost between deciding and telling the platform.
type OutboxEvent struct {
	ID            int64
	Key           string // idempotency key, unique; the receiver dedupes by it
	Kind          string
	Payload       json.RawMessage // required, valid JSON
	CreatedAt     time.Time       // the store's clock if zero
	Attempts      int
	NextAttemptAt time.Time // CreatedAt if zero
	DeliveredAt   time.Time // zero until delivered
	LastError     string
}

// Enqueue adds e to the outbox in its own transaction and returns its ID.
// Enqueueing is idempotent by key: if an event with e.Key exists, nothing is
// written and its ID is returned. To enqueue with the decision that causes
// it, use (*Tx).Enqueue.
func (s *Store) Enqueue(ctx context.Context, e OutboxEvent) (int64, error) {
	var id int64
	err := s.write(ctx, fmt.Sprintf("enqueue %q", e.Key), func(tx *txn) error {
		var err error
		id, err = s.enqueue(ctx, tx, e)
		return err
	})
	return id, err
}

func (s *Store) enqueue(ctx context.Context, q querier, e OutboxEvent) (int64, error) {
	switch {
	case e.Key == "" || e.Kind == "":
		return 0, invalid("outbox event needs a key and a kind (key %q, kind %q)", e.Key, e.Kind)
	case len(e.Payload) == 0:
		return 0, invalid("outbox event %q has no payload", e.Key)
	}
	if err := checkJSON("outbox payload", e.Payload); err != nil {
		return 0, err
	}
	if e.CreatedAt.IsZero() {
		e.CreatedAt = s.now()
	}
	if e.NextAttemptAt.IsZero() {
		e.NextAttemptAt = e.CreatedAt
	}
	var id int64
	err := q.QueryRowContext(ctx, `INSERT INTO outbox (idem_key, kind, payload, created_at, next_attempt_at)
VALUES (?, ?, ?, ?, ?) ON CONFLICT (idem_key) DO NOTHING RETURNING id`,
		e.Key, e.Kind, string(e.Payload), toMS(e.CreatedAt), toMS(e.NextAttemptAt)).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) { // the key was there already
		err = q.QueryRowContext(ctx, "SELECT id FROM outbox WHERE idem_key = ?", e.Key).Scan(&id)
	}
	if err != nil {
		return 0, err
	}
	return id, nil
}

const outboxCols = "id, idem_key, kind, payload, created_at, attempts, next_attempt_at, delivered_at, last_error"

func scanOutbox(sc scanner) (OutboxEvent, error) {
	var e OutboxEvent
	var payload string
	var created, next int64
	var delivered sql.NullInt64
	if err := sc.Scan(&e.ID, &e.Key, &e.Kind, &payload, &created, &e.Attempts, &next, &delivered, &e.LastError); err != nil {
		return OutboxEvent{}, err
	}
	e.Payload = json.RawMessage(payload)
	e.CreatedAt, e.NextAttemptAt, e.DeliveredAt = fromMS(created), fromMS(next), fromNullMS(delivered)
	return e, nil
}

// OutboxEvent returns outbox event id.
func (s *Store) OutboxEvent(ctx context.Context, id int64) (OutboxEvent, error) {
	return queryRow(ctx, s.rdb, fmt.Sprintf("outbox event %d", id), scanOutbox, "SELECT "+outboxCols+" FROM outbox WHERE id = ?", id)
}

// DueOutbox returns up to limit undelivered events whose next attempt is at
// or before now, oldest due first. With SQLite one coordinator delivers, so
// nothing is claimed; see docs/store.md for PostgreSQL.
func (s *Store) DueOutbox(ctx context.Context, now time.Time, limit int) ([]OutboxEvent, error) {
	if limit <= 0 {
		limit = 100
	}
	return queryRows(ctx, s.rdb, "due outbox", scanOutbox, "SELECT "+outboxCols+` FROM outbox
WHERE delivered_at IS NULL AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?`, toMS(now), limit)
}

// MarkDelivered records that event id was delivered at at, counting the
// attempt. Marking it again changes nothing. ErrNotFound if there is no such
// event.
func (s *Store) MarkDelivered(ctx context.Context, id int64, at time.Time) error {
	return s.write(ctx, fmt.Sprintf("mark outbox event %d delivered", id), func(tx *txn) error {
		res, err := tx.ExecContext(ctx, `UPDATE outbox SET delivered_at = ?, attempts = attempts + 1, last_error = ''
WHERE id = ? AND delivered_at IS NULL`, toMS(at), id)
		if err != nil {
			return err
		}
		if err := affected(res); errors.Is(err, ErrNotFound) {
			var one int
			return notFound(tx.QueryRowContext(ctx, "SELECT 1 FROM outbox WHERE id = ?", id).Scan(&one))
		} else if err != nil {
			return err
		}
		return nil
	})
}

// MarkFailed records a failed delivery attempt of event id: the error, and
// when to try again. ErrNotFound if there is no such undelivered event.
func (s *Store) MarkFailed(ctx context.Context, id int64, errText string, next time.Time) error {
	return s.write(ctx, fmt.Sprintf("mark outbox event %d failed", id), func(tx *txn) error {
		return execOne(ctx, tx, `UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?
WHERE id = ? AND delivered_at IS NULL`, errText, toMS(next), id)
	})
}

// OutboxBacklog counts undelivered events.
func (s *Store) OutboxBacklog(ctx context.Context) (int, error) {
	var n int
	if err := s.rdb.QueryRowContext(ctx, "SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL").Scan(&n); err != nil {
		return 0, fmt.Errorf("store: outbox backlog: %w", err)
	}
	return n, nil
}
