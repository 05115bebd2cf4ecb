package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/vigil-cc/vigil/internal/username"
)

// DeskUser is an Agent Desk user the coordinator knows. Names are kept as
// given (exact match).
type DeskUser struct {
	Name      string
	CreatedAt time.Time
}

// EnsureDeskUser records name as a known Agent Desk user; a no-op if it is
// known already.
func (s *Store) EnsureDeskUser(ctx context.Context, name string) error {
	if name == "" {
		return fmt.Errorf("store: ensure desk user: %w", invalid("no name"))
	}
	return s.write(ctx, fmt.Sprintf("ensure desk user %q", name), func(tx *txn) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO desk_users (name, created_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
			name, toMS(s.now()))
		return err
	})
}

// DeskUsers returns the known Agent Desk users by name.
func (s *Store) DeskUsers(ctx context.Context) ([]DeskUser, error) {
	return queryRows(ctx, s.rdb, "list desk users", func(sc scanner) (DeskUser, error) {
		var u DeskUser
		var created int64
		if err := sc.Scan(&u.Name, &created); err != nil {
			return DeskUser{}, err
		}
		u.CreatedAt = fromMS(created)
		return u, nil
	}, "SELECT name, created_at FROM desk_users ORDER BY name")
}

// DeskUserExists reports whether name is a known Agent Desk user.
func (s *Store) DeskUserExists(ctx context.Context, name string) (bool, error) {
	var one int
	err := s.rdb.QueryRowContext(ctx, "SELECT 1 FROM desk_users WHERE name = ?", name).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store: desk user %q: %w", name, err)
	}
	return true, nil
}

// Mapping is an explicit OS user → Agent Desk user mapping, overriding the
// default (same name, case-folded, DOMAIN\ and @domain stripped).
type Mapping struct {
	OSUser    string // stored as username.Fold: the domain kept
	DeskUser  string
	CreatedAt time.Time // when the mapping was last set; the store's clock if zero
}

// Mapping returns the explicit mapping for osUser (matched case-
// insensitively). ErrNotFound if there is none.
func (s *Store) Mapping(ctx context.Context, osUser string) (Mapping, error) {
	return queryRow(ctx, s.rdb, fmt.Sprintf("mapping for %q", osUser), scanMapping, "SELECT "+mappingCols+" FROM identity_mappings WHERE os_user = ?",
		username.Fold(osUser))
}

// Mappings returns every explicit mapping by OS user.
func (s *Store) Mappings(ctx context.Context) ([]Mapping, error) {
	return queryRows(ctx, s.rdb, "list mappings", scanMapping, "SELECT "+mappingCols+" FROM identity_mappings ORDER BY os_user")
}

const mappingCols = "os_user, desk_user, created_at"

func scanMapping(sc scanner) (Mapping, error) {
	var m Mapping
	var created int64
	if err := sc.Scan(&m.OSUser, &m.DeskUser, &created); err != nil {
		return Mapping{}, err
	}
	m.CreatedAt = fromMS(created)
	return m, nil
}

// SetMapping creates or replaces the mapping for m.OSUser and appends audit,
// in one transaction. The OS user is no longer unmapped, so it also leaves
// the unmapped list.
func (s *Store) SetMapping(ctx context.Context, m Mapping, audit AuditEntry) error {
	m.OSUser = username.Fold(m.OSUser)
	if m.OSUser == "" || m.DeskUser == "" {
		return fmt.Errorf("store: set mapping: %w", invalid("mapping needs an OS user and a desk user (%q → %q)", m.OSUser, m.DeskUser))
	}
	if m.CreatedAt.IsZero() {
		m.CreatedAt = s.now()
	}
	return s.write(ctx, fmt.Sprintf("set mapping %q → %q", m.OSUser, m.DeskUser), func(tx *txn) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO identity_mappings (os_user, desk_user, created_at) VALUES (?, ?, ?)
ON CONFLICT (os_user) DO UPDATE SET desk_user = excluded.desk_user, created_at = excluded.created_at`,
			m.OSUser, m.DeskUser, toMS(m.CreatedAt)); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM unmapped_os_users WHERE os_user = ?", m.OSUser); err != nil {
			return err
		}
		_, err := s.insertAudit(ctx, tx, audit)
		return err
	})
}

// DeleteMapping removes the explicit mapping for osUser (matched case-
// insensitively) and appends audit, in one transaction. ErrNotFound if there
// is none.
func (s *Store) DeleteMapping(ctx context.Context, osUser string, audit AuditEntry) error {
	return s.write(ctx, fmt.Sprintf("delete mapping %q", osUser), func(tx *txn) error {
		if err := execOne(ctx, tx, "DELETE FROM identity_mappings WHERE os_user = ?", username.Fold(osUser)); err != nil {
			return err
		}
		_, err := s.insertAudit(ctx, tx, audit)
		return err
	})
}

// UnmappedUser is an OS user a sensor reported that maps to no Agent Desk
// user, listed for the admin.
type UnmappedUser struct {
	OSUser      string // case-folded
	Host        string // where it was last seen
	DeviceID    string // the device that last reported it ('' if unknown)
	FirstSeenAt time.Time
	LastSeenAt  time.Time
}

// UnmappedBounds bound the unmapped list: at most PerDevice rows last seen
// on one device and Total in all (≤ 0: DefaultUnmappedPerDevice,
// DefaultUnmappedTotal). A device reporting ever new names cannot grow the
// table without end.
type UnmappedBounds struct{ PerDevice, Total int }

// The unmapped list's default bounds: a shared host's worth of users per
// device, and more than a contact center's staff in all.
const (
	DefaultUnmappedPerDevice = 200
	DefaultUnmappedTotal     = 5000
)

// NoteUnmapped records that u.OSUser was seen on u.Host (device
// u.DeviceID) at u.LastSeenAt and maps to no Agent Desk user. Seeing it
// again updates host, device and last seen (never backwards). A new name
// past the bounds drops the oldest rows (least recently seen) of its device,
// then of the whole list; dropped says how many.
func (s *Store) NoteUnmapped(ctx context.Context, u UnmappedUser, b UnmappedBounds) (dropped int64, err error) {
	name := username.Fold(u.OSUser)
	if name == "" {
		return 0, fmt.Errorf("store: note unmapped user: %w", invalid("no OS user"))
	}
	if b.PerDevice <= 0 {
		b.PerDevice = DefaultUnmappedPerDevice
	}
	if b.Total <= 0 {
		b.Total = DefaultUnmappedTotal
	}
	at := toMS(u.LastSeenAt)
	err = s.write(ctx, fmt.Sprintf("note unmapped user %q", name), func(tx *txn) error {
		var known int
		err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM unmapped_os_users WHERE os_user = ?", name).Scan(&known)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO unmapped_os_users (os_user, host, device_id, first_seen_at, last_seen_at) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (os_user) DO UPDATE SET host = excluded.host, device_id = excluded.device_id, last_seen_at = excluded.last_seen_at
WHERE excluded.last_seen_at >= unmapped_os_users.last_seen_at`,
			name, u.Host, u.DeviceID, at, at); err != nil {
			return err
		}
		if known > 0 {
			return nil // nothing grew
		}
		// The oldest beyond each bound go, never the row just noted. (Both
		// databases want a LIMIT with an OFFSET; MaxInt32 stands for none.)
		for _, q := range []struct {
			query string
			args  []any
		}{
			{`DELETE FROM unmapped_os_users WHERE os_user IN (SELECT os_user FROM unmapped_os_users WHERE device_id = ? AND os_user <> ?
ORDER BY last_seen_at DESC, os_user LIMIT ? OFFSET ?)`, []any{u.DeviceID, name, math.MaxInt32, b.PerDevice - 1}},
			{`DELETE FROM unmapped_os_users WHERE os_user IN (SELECT os_user FROM unmapped_os_users WHERE os_user <> ?
ORDER BY last_seen_at DESC, os_user LIMIT ? OFFSET ?)`, []any{name, math.MaxInt32, b.Total - 1}},
		} {
			res, err := tx.ExecContext(ctx, q.query, q.args...)
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			dropped += n
		}
		return nil
	})
	return dropped, err
}

// Unmapped returns the unmapped OS users, most recently seen first.
func (s *Store) Unmapped(ctx context.Context) ([]UnmappedUser, error) {
	return queryRows(ctx, s.rdb, "list unmapped users", func(sc scanner) (UnmappedUser, error) {
		var u UnmappedUser
		var first, last int64
		if err := sc.Scan(&u.OSUser, &u.Host, &u.DeviceID, &first, &last); err != nil {
			return UnmappedUser{}, err
		}
		u.FirstSeenAt, u.LastSeenAt = fromMS(first), fromMS(last)
		return u, nil
	}, `SELECT os_user, host, device_id, first_seen_at, last_seen_at FROM unmapped_os_users
ORDER BY last_seen_at DESC, os_user`)
}

// ForgetUnmapped removes osUser (matched case-insensitively) from the
// unmapped list. ErrNotFound if it is not listed.
func (s *Store) ForgetUnmapped(ctx context.Context, osUser string) error {
	return s.write(ctx, fmt.Sprintf("forget unmapped user %q", osUser), func(tx *txn) error {
		return execOne(ctx, tx, "DELETE FROM unmapped_os_users WHERE os_user = ?", username.Fold(osUser))
	})
}
