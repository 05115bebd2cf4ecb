// Package admin holds the changes that both the JSON API (coordinator/api)
// and the web pages (coordinator/web) make: identity mappings, devices,
// enrollment tokens, desk login and logout. Each checks its input, keeps the
// store, the engine and the agents' hub in step, and audits as the actor
// ("admin:<token>", "account:<name>").
//
// Errors are domain errors, matched with errors.Is: ErrInvalid (the text
// says what to fix), ErrConflict (the text says why not) and
// store.ErrNotFound. Each caller maps them to its own answers.
package admin

import (
	"context"
	"encoding/json"
	"strings"
	"time"
	"unicode"

	"github.com/vigil-cc/vigil/coordinator/core"
	"github.com/vigil-cc/vigil/coordinator/engine"
	"github.com/vigil-cc/vigil/coordinator/fault"
	"github.com/vigil-cc/vigil/coordinator/hub"
	"github.com/vigil-cc/vigil/coordinator/secret"
	"github.com/vigil-cc/vigil/coordinator/store"
	"github.com/vigil-cc/vigil/internal/username"
)

// Admin makes the changes.
type Admin struct {
	Store *store.Store
	Core  *core.Core
	Hub   *hub.Hub
}

// The errors admin returns besides store.ErrNotFound (see coordinator/fault).
var (
	ErrInvalid  = fault.ErrInvalid
	ErrConflict = fault.ErrConflict
)

// CheckName reports (ErrInvalid) what is wrong with a name given as what:
// it must be 1 to 256 characters with no control characters.
func CheckName(what, s string) error {
	if s == "" || len(s) > 256 || strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return fault.Invalidf("%s must be 1 to 256 characters with no control characters", what)
	}
	return nil
}

// Entry is an audit entry for something actor did now.
func (a *Admin) Entry(actor, kind, user string, detail any) store.AuditEntry {
	e := store.AuditEntry{At: a.Core.Now(), Actor: actor, Kind: kind, User: user}
	if detail != nil {
		raw, err := json.Marshal(detail) // maps of plain values: cannot fail
		if err != nil {
			panic(err)
		}
		e.Detail = raw
	}
	return e
}

// SetMapping maps OS user osUser to Agent Desk user desk (names are
// canonicalised first) and lets sensors waiting for a user claim it.
func (a *Admin) SetMapping(ctx context.Context, actor, osUser, desk string) (store.Mapping, error) {
	osUser, desk = username.Fold(osUser), username.Fold(desk)
	if err := CheckName("os_user", osUser); err != nil {
		return store.Mapping{}, err
	}
	if err := CheckName("desk_user", desk); err != nil {
		return store.Mapping{}, err
	}
	if err := a.Store.EnsureDeskUser(ctx, desk); err != nil {
		return store.Mapping{}, err
	}
	m := store.Mapping{OSUser: osUser, DeskUser: desk, CreatedAt: a.Core.Now()}
	if err := a.Store.SetMapping(ctx, m, a.Entry(actor, "mapping.set", desk, map[string]string{"os_user": osUser})); err != nil {
		return store.Mapping{}, err
	}
	a.Hub.Reresolve(ctx)
	return m, nil
}

// DeleteMapping removes osUser's explicit mapping (store.ErrNotFound if it
// has none).
func (a *Admin) DeleteMapping(ctx context.Context, actor, osUser string) error {
	osUser = username.Fold(osUser)
	return a.Store.DeleteMapping(ctx, osUser, a.Entry(actor, "mapping.deleted", "", map[string]string{"os_user": osUser}))
}

// SetDeviceStatus approves or revokes device id; a revoked device's live
// connection is closed at once.
func (a *Admin) SetDeviceStatus(ctx context.Context, actor, id string, status store.DeviceStatus) error {
	kind := map[store.DeviceStatus]string{store.DeviceApproved: "device.approved", store.DeviceRevoked: "device.revoked"}[status]
	if kind == "" {
		return fault.Invalidf("a device can be approved or revoked, not set %q", status)
	}
	dev, err := a.Store.Device(ctx, id)
	if err != nil {
		return err
	}
	if dev.Status == store.DeviceRevoked && status == store.DeviceApproved {
		// Its token may have leaked; a device that is trusted again enrolls again.
		return fault.Conflictf("device %s is revoked, and stays so: enroll it again with a new token", id)
	}
	if err := a.Store.SetDeviceStatus(ctx, id, status, a.Entry(actor, kind, "", map[string]string{"device": id})); err != nil {
		return err
	}
	if status == store.DeviceRevoked {
		a.Hub.DropDevice(id)
	}
	return nil
}

// Enrollment token bounds, and defaults: a week, and enough uses for a
// floor of workstations installed from one package.
const (
	DefaultEnrollmentTTL  = 7 * 24 * time.Hour
	DefaultEnrollmentUses = 100

	MinEnrollmentTTL  = time.Minute
	MaxEnrollmentTTL  = 365 * 24 * time.Hour
	MaxEnrollmentUses = 100000
)

// EnrollmentSpec is what an enrollment token allows.
type EnrollmentSpec struct {
	Note string
	TTL  time.Duration // 0: DefaultEnrollmentTTL
	Uses int           // 0: DefaultEnrollmentUses
	// HostPattern limits the host names that may enroll (store.Enrollment).
	HostPattern string
	// AutoApprove: its devices are approved at once instead of waiting
	// pending (unless the coordinator requires approval for all).
	AutoApprove bool
}

// CreateEnrollment makes an enrollment token as spec says. The token is
// returned once; only its hash is stored.
func (a *Admin) CreateEnrollment(ctx context.Context, actor string, spec EnrollmentSpec) (store.Enrollment, string, error) {
	ttl, uses := spec.TTL, spec.Uses
	if ttl == 0 {
		ttl = DefaultEnrollmentTTL
	}
	if uses == 0 {
		uses = DefaultEnrollmentUses
	}
	switch {
	case ttl < MinEnrollmentTTL || ttl > MaxEnrollmentTTL:
		return store.Enrollment{}, "", fault.Invalidf("an enrollment token lasts from a minute to a year")
	case uses < 1 || uses > MaxEnrollmentUses:
		return store.Enrollment{}, "", fault.Invalidf("an enrollment token has from 1 to %d uses", MaxEnrollmentUses)
	case len(spec.Note) > 200:
		return store.Enrollment{}, "", fault.Invalidf("note must be at most 200 characters")
	case store.CheckHostPattern(spec.HostPattern) != nil:
		return store.Enrollment{}, "", fault.Invalidf("host_pattern must be a host name pattern of at most 253 characters, with the wildcards * ? [a-z] (e.g. floor2-*)")
	}
	token, hash := secret.New(secret.PrefixEnrollment)
	now := a.Core.Now()
	e := store.Enrollment{ID: store.NewID(), Hash: hash, Note: spec.Note, CreatedBy: actor, CreatedAt: now, ExpiresAt: now.Add(ttl), MaxUses: uses,
		HostPattern: spec.HostPattern, AutoApprove: spec.AutoApprove}
	err := a.Store.Tx(ctx, func(tx *store.Tx) error {
		if err := tx.CreateEnrollment(ctx, e); err != nil {
			return err
		}
		_, err := tx.Audit(ctx, a.Entry(actor, "enrollment.created", "", map[string]any{"id": e.ID, "max_uses": uses, "expires_at": e.ExpiresAt,
			"host_pattern": e.HostPattern, "auto_approve": e.AutoApprove}))
		return err
	})
	if err != nil {
		return store.Enrollment{}, "", err
	}
	return e, token, nil
}

// SetEnrollmentDevicesStatus approves every pending device enrolled with
// enrollment token id, or revokes every device enrolled with it that is not
// revoked yet, each audited as one by one. It returns the devices changed.
func (a *Admin) SetEnrollmentDevicesStatus(ctx context.Context, actor, id string, status store.DeviceStatus) ([]string, error) {
	if _, err := a.Store.Enrollment(ctx, id); err != nil {
		return nil, err
	}
	devs, err := a.Store.Devices(ctx)
	if err != nil {
		return nil, err
	}
	changed := []string{}
	for _, d := range devs {
		if d.EnrollmentID != id || d.Status == store.DeviceRevoked ||
			(status == store.DeviceApproved && d.Status != store.DevicePending) {
			continue
		}
		if err := a.SetDeviceStatus(ctx, actor, d.ID, status); err != nil {
			return changed, err
		}
		changed = append(changed, d.ID)
	}
	return changed, nil
}

// RevokeEnrollment revokes enrollment token id.
func (a *Admin) RevokeEnrollment(ctx context.Context, actor, id string) error {
	return a.Store.Tx(ctx, func(tx *store.Tx) error {
		if err := tx.RevokeEnrollment(ctx, id); err != nil {
			return err
		}
		_, err := tx.Audit(ctx, a.Entry(actor, "enrollment.revoked", "", map[string]string{"id": id}))
		return err
	})
}

// DeskLogin records that user logged in to the Agent Desk: their clock
// starts at 0 (the built-in controller takes them as available from the
// engine's state), and a sensor waiting for this user may claim it.
func (a *Admin) DeskLogin(ctx context.Context, actor, user string) error {
	name := username.Fold(user)
	if err := CheckName("user", name); err != nil {
		return err
	}
	if err := a.Store.EnsureDeskUser(ctx, name); err != nil {
		return err
	}
	a.Core.Do(name, func(e *engine.Engine, now time.Time) []engine.Decision { return e.DeskLogin(now, name) })
	a.Hub.Reresolve(ctx) // a new user may claim a waiting sensor
	_, err := a.Store.Audit(ctx, a.Entry(actor, "desk.login", name, nil))
	return err
}

// DeskLogout records that user left the Agent Desk: their clock stops.
func (a *Admin) DeskLogout(ctx context.Context, actor, user string) error {
	name := username.Fold(user)
	if err := CheckName("user", name); err != nil {
		return err
	}
	a.Core.Do(name, func(e *engine.Engine, now time.Time) []engine.Decision { return e.DeskLogout(now, name) })
	_, err := a.Store.Audit(ctx, a.Entry(actor, "desk.logout", name, nil))
	return err
}
