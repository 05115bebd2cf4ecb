package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"
)

// Enrollment is a token admins hand out for devices to enroll with. Only
// its hash is stored.
type Enrollment struct {
	ID        string // NewID() if empty at creation
	Hash      []byte
	Note      string
	CreatedBy string
	CreatedAt time.Time // the store's clock if zero
	ExpiresAt time.Time // required; the token enrolls nothing from this instant
	MaxUses   int       // ≥ 1
	Uses      int
	RevokedAt time.Time // zero while live
	// HostPattern limits the host names that may enroll with it: a
	// shell-style pattern (path.Match: *, ?, [a-z]) matched against the
	// host name in lower case; "" allows any.
	HostPattern string
	// AutoApprove: devices enrolled with it are approved at once;
	// otherwise they wait pending for an admin.
	AutoApprove bool
}

// HostAllowed reports whether host may enroll with e.
func (e Enrollment) HostAllowed(host string) bool {
	if e.HostPattern == "" {
		return true
	}
	ok, err := path.Match(strings.ToLower(e.HostPattern), strings.ToLower(host))
	return ok && err == nil
}

// CheckHostPattern says what is wrong with a host pattern, or nil.
func CheckHostPattern(p string) error {
	if len(p) > 253 {
		return invalid("host pattern is over 253 characters")
	}
	if _, err := path.Match(strings.ToLower(p), ""); err != nil || strings.Contains(p, "/") {
		return invalid("host pattern %q is malformed: use letters, digits, '.', '-', and the wildcards * ? [a-z]", p)
	}
	return nil
}

// DeviceStatus is whether a device's token is honoured.
type DeviceStatus string

const (
	DevicePending  DeviceStatus = "pending"  // enrolled, waiting for an admin's approval
	DeviceApproved DeviceStatus = "approved" // may connect
	DeviceRevoked  DeviceStatus = "revoked"  // refused
)

// Valid reports whether d is one of the statuses.
func (d DeviceStatus) Valid() bool {
	return d == DevicePending || d == DeviceApproved || d == DeviceRevoked
}

// Device is an enrolled workstation. TokenHash is the hash of its own
// device token.
type Device struct {
	ID           string // NewID() if empty at enrollment
	Host, OS     string
	TokenHash    []byte
	Status       DeviceStatus
	EnrollmentID string
	CreatedAt    time.Time
	LastSeenAt   time.Time
}

const enrollmentCols = "id, hash, note, created_by, created_at, expires_at, max_uses, uses, revoked_at, host_pattern, auto_approve"

func scanEnrollment(sc scanner) (Enrollment, error) {
	var e Enrollment
	var created, expires int64
	var revoked sql.NullInt64
	if err := sc.Scan(&e.ID, &e.Hash, &e.Note, &e.CreatedBy, &created, &expires, &e.MaxUses, &e.Uses, &revoked, &e.HostPattern, &e.AutoApprove); err != nil {
		return Enrollment{}, err
	}
	e.CreatedAt, e.ExpiresAt, e.RevokedAt = fromMS(created), fromMS(expires), fromNullMS(revoked)
	return e, nil
}

// CreateEnrollment stores e. Give it an ID (NewID) to know it; one is made
// up otherwise. To audit it in the same transaction, use
// (*Tx).CreateEnrollment.
func (s *Store) CreateEnrollment(ctx context.Context, e Enrollment) error {
	return s.write(ctx, "create enrollment "+e.ID, func(tx *txn) error {
		return s.createEnrollment(ctx, tx, e)
	})
}

func (s *Store) createEnrollment(ctx context.Context, q querier, e Enrollment) error {
	if e.CreatedAt.IsZero() {
		e.CreatedAt = s.now()
	}
	switch {
	case len(e.Hash) == 0:
		return invalid("enrollment has no hash")
	case e.MaxUses < 1:
		return invalid("max uses %d < 1", e.MaxUses)
	case !e.ExpiresAt.After(e.CreatedAt):
		return invalid("expiry %v is not after creation %v", e.ExpiresAt, e.CreatedAt)
	}
	if err := CheckHostPattern(e.HostPattern); err != nil {
		return err
	}
	if e.ID == "" {
		e.ID = NewID()
	}
	_, err := q.ExecContext(ctx, "INSERT INTO enrollments ("+enrollmentCols+") VALUES (?, ?, ?, ?, ?, ?, ?, 0, NULL, ?, ?)",
		e.ID, e.Hash, e.Note, e.CreatedBy, toMS(e.CreatedAt), toMS(e.ExpiresAt), e.MaxUses, e.HostPattern, b2i(e.AutoApprove))
	return dup(err, "the id or hash is taken")
}

// Enrollment returns enrollment id.
func (s *Store) Enrollment(ctx context.Context, id string) (Enrollment, error) {
	return queryRow(ctx, s.rdb, "enrollment "+id, scanEnrollment, "SELECT "+enrollmentCols+" FROM enrollments WHERE id = ?", id)
}

// Enrollments returns every enrollment token, oldest first.
func (s *Store) Enrollments(ctx context.Context) ([]Enrollment, error) {
	return queryRows(ctx, s.rdb, "list enrollments", scanEnrollment, "SELECT "+enrollmentCols+" FROM enrollments ORDER BY created_at, id")
}

// RevokeEnrollment revokes enrollment id; devices already enrolled with it
// are not affected. Revoking a revoked enrollment changes nothing.
// ErrNotFound if there is no such enrollment. To audit it in the same
// transaction, use (*Tx).RevokeEnrollment.
func (s *Store) RevokeEnrollment(ctx context.Context, id string) error {
	return s.write(ctx, "revoke enrollment "+id, func(tx *txn) error {
		return s.revoke(ctx, tx, "enrollments", id)
	})
}

// enrollState says why e cannot enroll at now, or nil if it can.
func enrollState(e Enrollment, now time.Time) error {
	switch {
	case !e.RevokedAt.IsZero():
		return ErrEnrollmentRevoked
	case toMS(now) >= toMS(e.ExpiresAt):
		return ErrEnrollmentExpired
	case e.Uses >= e.MaxUses:
		return ErrEnrollmentUsedUp
	}
	return nil
}

// Enroll enrolls dev with the enrollment token whose hash is enrollmentHash,
// at now, in one transaction: it checks the token (ErrNotFound,
// ErrEnrollmentRevoked, ErrEnrollmentExpired, ErrEnrollmentUsedUp,
// ErrEnrollmentHost, checked in that order), counts the use and inserts the
// device (Status as dev says, or if empty as the token says: approved if it
// auto-approves, else pending; CreatedAt and LastSeenAt now). A failure
// anywhere uses nothing up. It returns the device as stored. To audit it in
// the same transaction, use (*Tx).Enroll.
func (s *Store) Enroll(ctx context.Context, enrollmentHash []byte, now time.Time, dev Device) (Device, error) {
	err := s.write(ctx, "enroll device "+dev.Host, func(tx *txn) error {
		var err error
		dev, err = s.enroll(ctx, tx, enrollmentHash, now, dev)
		return err
	})
	if err != nil {
		return Device{}, err
	}
	return dev, nil
}

func (s *Store) enroll(ctx context.Context, q querier, enrollmentHash []byte, now time.Time, dev Device) (Device, error) {
	switch {
	case len(dev.TokenHash) == 0:
		return Device{}, invalid("device has no token hash")
	case dev.Status != "" && dev.Status != DevicePending && dev.Status != DeviceApproved:
		return Device{}, invalid("a device enrolls pending or approved, not %q", dev.Status)
	}
	if dev.ID == "" {
		dev.ID = NewID()
	}
	dev.CreatedAt, dev.LastSeenAt = fromMS(toMS(now)), fromMS(toMS(now))

	e, err := scanEnrollment(q.QueryRowContext(ctx, "SELECT "+enrollmentCols+" FROM enrollments WHERE hash = ?", enrollmentHash))
	if err != nil {
		return Device{}, fmt.Errorf("enrollment token: %w", notFound(err))
	}
	if err := enrollState(e, now); err != nil {
		return Device{}, fmt.Errorf("enrollment %s: %w", e.ID, err)
	}
	if !e.HostAllowed(dev.Host) {
		return Device{}, fmt.Errorf("enrollment %s, host %q, pattern %q: %w", e.ID, dev.Host, e.HostPattern, ErrEnrollmentHost)
	}
	if dev.Status == "" {
		dev.Status = DevicePending
		if e.AutoApprove {
			dev.Status = DeviceApproved
		}
	}
	// The WHERE repeats the checks, so uses can never pass max_uses even
	// where another transaction could interleave (PostgreSQL, READ
	// COMMITTED: the UPDATE waits for the other's row lock, then re-checks).
	res, err := q.ExecContext(ctx, `UPDATE enrollments SET uses = uses + 1
WHERE id = ? AND revoked_at IS NULL AND expires_at > ? AND uses < max_uses`, e.ID, toMS(now))
	if err != nil {
		return Device{}, err
	}
	if err := affected(res); err != nil {
		if errors.Is(err, ErrNotFound) {
			err = ErrEnrollmentUsedUp
		}
		return Device{}, fmt.Errorf("enrollment %s: %w", e.ID, err)
	}
	dev.EnrollmentID = e.ID
	if _, err := q.ExecContext(ctx, "INSERT INTO devices ("+deviceCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		dev.ID, dev.Host, dev.OS, dev.TokenHash, string(dev.Status), nullText(dev.EnrollmentID),
		toMS(dev.CreatedAt), toMS(dev.LastSeenAt)); err != nil {
		return Device{}, dup(err, "the device id or token hash is taken")
	}
	return dev, nil
}

const deviceCols = "id, host, os, token_hash, status, enrollment_id, created_at, last_seen_at"

func scanDevice(sc scanner) (Device, error) {
	var d Device
	var enrollment sql.NullString
	var created, seen int64
	if err := sc.Scan(&d.ID, &d.Host, &d.OS, &d.TokenHash, &d.Status, &enrollment, &created, &seen); err != nil {
		return Device{}, err
	}
	d.EnrollmentID, d.CreatedAt, d.LastSeenAt = enrollment.String, fromMS(created), fromMS(seen)
	return d, nil
}

// DeviceByTokenHash returns the device whose token hashes to hash, whatever
// its status: the caller refuses pending and revoked devices.
func (s *Store) DeviceByTokenHash(ctx context.Context, hash []byte) (Device, error) {
	return queryRow(ctx, s.rdb, "device by token", scanDevice, "SELECT "+deviceCols+" FROM devices WHERE token_hash = ?", hash)
}

// Device returns device id.
func (s *Store) Device(ctx context.Context, id string) (Device, error) {
	return queryRow(ctx, s.rdb, "device "+id, scanDevice, "SELECT "+deviceCols+" FROM devices WHERE id = ?", id)
}

// Devices returns every device, oldest first.
func (s *Store) Devices(ctx context.Context) ([]Device, error) {
	return queryRows(ctx, s.rdb, "list devices", scanDevice, "SELECT "+deviceCols+" FROM devices ORDER BY created_at, id")
}

// SetDeviceStatus sets device id's status and appends audit in one
// transaction. ErrNotFound if there is no such device.
func (s *Store) SetDeviceStatus(ctx context.Context, id string, status DeviceStatus, audit AuditEntry) error {
	if !status.Valid() {
		return fmt.Errorf("store: set device %s status: %w", id, invalid("unknown status %q", status))
	}
	return s.write(ctx, fmt.Sprintf("set device %s %s", id, status), func(tx *txn) error {
		if err := execOne(ctx, tx, "UPDATE devices SET status = ? WHERE id = ?", string(status), id); err != nil {
			return err
		}
		_, err := s.insertAudit(ctx, tx, audit)
		return err
	})
}

// TouchDevice records that device id was seen at at. Last-seen never moves
// back. ErrNotFound if there is no such device.
func (s *Store) TouchDevice(ctx context.Context, id string, at time.Time) error {
	return s.write(ctx, "touch device "+id, func(tx *txn) error {
		return execOne(ctx, tx, `UPDATE devices
SET last_seen_at = CASE WHEN last_seen_at < ? THEN ? ELSE last_seen_at END WHERE id = ?`,
			toMS(at), toMS(at), id)
	})
}
