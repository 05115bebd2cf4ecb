package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// OutboxStatus describes the undelivered part of the outbox.
type OutboxStatus struct {
	Backlog       int       // undelivered events
	Failing       int       // undelivered events with at least one failed attempt
	OldestPending time.Time // creation of the oldest undelivered event; zero if none
	NextAttempt   time.Time // the earliest next attempt; zero if none
	// The undelivered event that failed most often, and its last error.
	MostAttempts int
	LastError    string
}

// OutboxStatus reports the backlog, for the API and metrics.
func (s *Store) OutboxStatus(ctx context.Context) (OutboxStatus, error) {
	var st OutboxStatus
	var oldest, next sql.NullInt64
	var failing sql.NullInt64
	err := s.rdb.QueryRowContext(ctx, `SELECT COUNT(*), SUM(CASE WHEN attempts > 0 THEN 1 ELSE 0 END),
MIN(created_at), MIN(next_attempt_at) FROM outbox WHERE delivered_at IS NULL`).Scan(&st.Backlog, &failing, &oldest, &next)
	if err != nil {
		return OutboxStatus{}, fmt.Errorf("store: outbox status: %w", err)
	}
	st.Failing = int(failing.Int64)
	st.OldestPending, st.NextAttempt = fromNullMS(oldest), fromNullMS(next)
	if st.Failing > 0 {
		err = s.rdb.QueryRowContext(ctx, `SELECT attempts, last_error FROM outbox
WHERE delivered_at IS NULL AND attempts > 0 ORDER BY attempts DESC, id LIMIT 1`).Scan(&st.MostAttempts, &st.LastError)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return OutboxStatus{}, fmt.Errorf("store: outbox status: %w", err)
		}
	}
	return st, nil
}
