package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/vigil-cc/vigil/coordinator/engine"
)

// SaveSnapshots upserts the engine's snapshots, one row per user, in one
// transaction. Users not in snaps keep their rows (see DeleteSnapshot).
func (s *Store) SaveSnapshots(ctx context.Context, snaps []engine.Snapshot) error {
	return s.write(ctx, "save snapshots", func(tx *txn) error {
		return s.saveSnapshots(ctx, tx, snaps)
	})
}

func (s *Store) saveSnapshots(ctx context.Context, tx *txn, snaps []engine.Snapshot) error {
	if len(snaps) == 0 {
		return nil
	}
	// One order, by user, in every transaction that writes these rows (the
	// core's flush and a decision's batch can hold overlapping users at
	// once): two transactions locking rows in opposite orders deadlock on
	// PostgreSQL.
	snaps = slices.Clone(snaps)
	slices.SortFunc(snaps, func(a, b engine.Snapshot) int { return strings.Compare(a.User, b.User) })
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO engine_snapshots (user_name, taken_at, data) VALUES (?, ?, ?)
ON CONFLICT (user_name) DO UPDATE SET taken_at = excluded.taken_at, data = excluded.data`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, sn := range snaps {
		if sn.User == "" {
			return invalid("snapshot without a user")
		}
		data, err := json.Marshal(sn)
		if err != nil {
			return fmt.Errorf("snapshot of %q: %w", sn.User, err)
		}
		if _, err := stmt.ExecContext(ctx, sn.User, toMS(sn.At), string(data)); err != nil {
			return fmt.Errorf("snapshot of %q: %w", sn.User, err)
		}
	}
	return nil
}

// Snapshots returns every stored snapshot, by user.
func (s *Store) Snapshots(ctx context.Context) ([]engine.Snapshot, error) {
	return queryRows(ctx, s.rdb, "read snapshots", func(sc scanner) (engine.Snapshot, error) {
		var user, data string
		if err := sc.Scan(&user, &data); err != nil {
			return engine.Snapshot{}, err
		}
		var sn engine.Snapshot
		if err := json.Unmarshal([]byte(data), &sn); err != nil {
			return engine.Snapshot{}, fmt.Errorf("snapshot of %q: %w", user, err)
		}
		return sn, nil
	}, "SELECT user_name, data FROM engine_snapshots ORDER BY user_name")
}

// DeleteSnapshot removes user's snapshot. ErrNotFound if there is none.
func (s *Store) DeleteSnapshot(ctx context.Context, user string) error {
	return s.write(ctx, fmt.Sprintf("delete snapshot %q", user), func(tx *txn) error {
		return s.deleteSnapshot(ctx, tx, user)
	})
}

func (s *Store) deleteSnapshot(ctx context.Context, q querier, user string) error {
	return execOne(ctx, q, "DELETE FROM engine_snapshots WHERE user_name = ?", user)
}
