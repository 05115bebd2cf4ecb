package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// AliveUntil is the last instant the coordinator recorded it was running
// (see (*Tx).SetAliveUntil), or the zero time if it never did. After a
// crash the engine's clocks are played forward to it.
func (s *Store) AliveUntil(ctx context.Context) (time.Time, error) {
	var ms int64
	err := s.rdb.QueryRowContext(ctx, "SELECT alive_until FROM coordinator_state WHERE id = 1").Scan(&ms)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("store: read alive mark: %w", err)
	}
	return fromMS(ms), nil
}

// SetAliveUntil records, within the transaction, that the coordinator was
// running at at. The mark never moves back.
func (t *Tx) SetAliveUntil(ctx context.Context, at time.Time) error {
	if at.IsZero() {
		return nil
	}
	_, err := t.tx.ExecContext(ctx, `INSERT INTO coordinator_state (id, alive_until) VALUES (1, ?)
ON CONFLICT (id) DO UPDATE SET alive_until = excluded.alive_until
WHERE excluded.alive_until > coordinator_state.alive_until`, toMS(at))
	if err != nil {
		return fmt.Errorf("store: set alive mark: %w", err)
	}
	return nil
}
