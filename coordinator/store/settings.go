package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Settings are the admin's Agent Desk settings. Range checks (30 ≤ T ≤ 3600)
// belong to the API, which names the allowed range; the store only refuses
// a non-positive timeout.
type Settings struct {
	Enabled        bool
	TimeoutSeconds int
	TitlePattern   string // the Agent Desk window-title pattern sensors match
}

// DefaultSettings are what Settings returns before an admin saves any.
func DefaultSettings() Settings {
	return Settings{Enabled: true, TimeoutSeconds: 300, TitlePattern: "^Agent Desk"}
}

// Settings returns the stored settings, or DefaultSettings if none are
// stored.
func (s *Store) Settings(ctx context.Context) (Settings, error) {
	var st Settings
	var enabled int64
	err := s.rdb.QueryRowContext(ctx, "SELECT enabled, timeout_seconds, title_pattern FROM settings WHERE id = 1").
		Scan(&enabled, &st.TimeoutSeconds, &st.TitlePattern)
	if errors.Is(err, sql.ErrNoRows) {
		return DefaultSettings(), nil
	}
	if err != nil {
		return Settings{}, fmt.Errorf("store: read settings: %w", err)
	}
	st.Enabled = enabled != 0
	return st, nil
}

// SaveSettings stores st and appends audit in one transaction: both or
// neither.
func (s *Store) SaveSettings(ctx context.Context, st Settings, audit AuditEntry) error {
	if st.TimeoutSeconds <= 0 {
		return fmt.Errorf("store: save settings: %w", invalid("timeout %d s is not positive", st.TimeoutSeconds))
	}
	return s.write(ctx, "save settings", func(tx *txn) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO settings (id, enabled, timeout_seconds, title_pattern, updated_at)
VALUES (1, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET enabled = excluded.enabled, timeout_seconds = excluded.timeout_seconds,
	title_pattern = excluded.title_pattern, updated_at = excluded.updated_at`,
			b2i(st.Enabled), st.TimeoutSeconds, st.TitlePattern, toMS(s.now())); err != nil {
			return err
		}
		_, err := s.insertAudit(ctx, tx, audit)
		return err
	})
}
