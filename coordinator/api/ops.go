package api

import (
	"context"
	"net/http"
	"time"

	"github.com/vigil-cc/vigil/coordinator/engine"
	"github.com/vigil-cc/vigil/coordinator/secret"
	"github.com/vigil-cc/vigil/coordinator/store"
	"github.com/vigil-cc/vigil/internal/username"
)

// The changes below are shared by the JSON API and the web pages
// (coordinator/web): each checks its input, keeps the store, the engine and
// the agents' hub in step, and audits as actor ("admin:<token>",
// "account:<name>"). Errors a person can act on are *Error with a 4xx
// status and a message naming what to fix.

// SetMapping maps OS user osUser to Agent Desk user desk (names are
// canonicalised first) and lets sensors waiting for a user claim it.
func (a *API) SetMapping(ctx context.Context, actor, osUser, desk string) (store.Mapping, error) {
	osUser, desk = username.Fold(osUser), username.Fold(desk)
	if err := checkName("os_user", osUser); err != nil {
		return store.Mapping{}, err
	}
	if err := checkName("desk_user", desk); err != nil {
		return store.Mapping{}, err
	}
	if err := a.Store.EnsureDeskUser(ctx, desk); err != nil {
		return store.Mapping{}, err
	}
	m := store.Mapping{OSUser: osUser, DeskUser: desk, CreatedAt: a.Core.Now()}
	if err := a.Store.SetMapping(ctx, m, a.entry(by(actor), "mapping.set", desk, map[string]string{"os_user": osUser})); err != nil {
		return store.Mapping{}, err
	}
	a.Hub.Reresolve(ctx)
	return m, nil
}

// DeleteMapping removes osUser's explicit mapping (store.ErrNotFound if it
// has none).
func (a *API) DeleteMapping(ctx context.Context, actor, osUser string) error {
	osUser = username.Fold(osUser)
	return a.Store.DeleteMapping(ctx, osUser, a.entry(by(actor), "mapping.deleted", "", map[string]string{"os_user": osUser}))
}

// SetDeviceStatus approves or revokes device id; a revoked device's live
// connection is closed at once.
func (a *API) SetDeviceStatus(ctx context.Context, actor, id string, status store.DeviceStatus) error {
	kind := map[store.DeviceStatus]string{store.DeviceApproved: "device.approved", store.DeviceRevoked: "device.revoked"}[status]
	if kind == "" {
		return errorf(http.StatusBadRequest, "a device can be approved or revoked, not set %q", status)
	}
	dev, err := a.Store.Device(ctx, id)
	if err != nil {
		return err
	}
	if dev.Status == store.DeviceRevoked && status == store.DeviceApproved {
		// Its token may have leaked; a device that is trusted again enrolls again.
		return errorf(http.StatusConflict, "device %s is revoked, and stays so: enroll it again with a new token", id)
	}
	if err := a.Store.SetDeviceStatus(ctx, id, status, a.entry(by(actor), kind, "", map[string]string{"device": id})); err != nil {
		return err
	}
	if status == store.DeviceRevoked {
		a.Hub.DropDevice(id)
	}
	return nil
}

// Enrollment token bounds.
const (
	MinEnrollmentTTL  = time.Minute
	MaxEnrollmentTTL  = 365 * 24 * time.Hour
	MaxEnrollmentUses = 100000
)

// CreateEnrollment makes an enrollment token valid for ttl (0: a week) and
// uses enrollments (0: 100). The token is returned once; only its hash is
// stored.
func (a *API) CreateEnrollment(ctx context.Context, actor, note string, ttl time.Duration, uses int) (store.Enrollment, string, error) {
	if ttl == 0 {
		ttl = defaultEnrollmentTTL
	}
	if uses == 0 {
		uses = defaultEnrollmentUses
	}
	switch {
	case ttl < MinEnrollmentTTL || ttl > MaxEnrollmentTTL:
		return store.Enrollment{}, "", errorf(http.StatusBadRequest, "expires_in_s must be from 60 to 31536000 (a year)")
	case uses < 1 || uses > MaxEnrollmentUses:
		return store.Enrollment{}, "", errorf(http.StatusBadRequest, "max_uses must be from 1 to 100000")
	case len(note) > 200:
		return store.Enrollment{}, "", errorf(http.StatusBadRequest, "note must be at most 200 characters")
	}
	token, hash := secret.New(secret.PrefixEnrollment)
	now := a.Core.Now()
	e := store.Enrollment{ID: store.NewID(), Hash: hash, Note: note, CreatedBy: actor, CreatedAt: now, ExpiresAt: now.Add(ttl), MaxUses: uses}
	err := a.Store.Tx(ctx, func(tx *store.Tx) error {
		if err := tx.CreateEnrollment(ctx, e); err != nil {
			return err
		}
		_, err := tx.Audit(ctx, a.entry(by(actor), "enrollment.created", "", map[string]any{"id": e.ID, "max_uses": uses, "expires_at": e.ExpiresAt}))
		return err
	})
	if err != nil {
		return store.Enrollment{}, "", err
	}
	return e, token, nil
}

// RevokeEnrollment revokes enrollment token id.
func (a *API) RevokeEnrollment(ctx context.Context, actor, id string) error {
	return a.Store.Tx(ctx, func(tx *store.Tx) error {
		if err := tx.RevokeEnrollment(ctx, id); err != nil {
			return err
		}
		_, err := tx.Audit(ctx, a.entry(by(actor), "enrollment.revoked", "", map[string]string{"id": id}))
		return err
	})
}

// DeskLogin records that user logged in to the Agent Desk: their clock
// starts at 0 (the built-in controller takes them as available from the
// engine's state), and a sensor waiting for this user may claim it.
func (a *API) DeskLogin(ctx context.Context, actor, user string) error {
	name := username.Fold(user)
	if err := checkName("user", name); err != nil {
		return err
	}
	if err := a.Store.EnsureDeskUser(ctx, name); err != nil {
		return err
	}
	a.Core.Do(name, func(e *engine.Engine, now time.Time) []engine.Decision { return e.DeskLogin(now, name) })
	a.Hub.Reresolve(ctx) // a new user may claim a waiting sensor
	_, err := a.Store.Audit(ctx, a.entry(by(actor), "desk.login", name, nil))
	return err
}

// DeskLogout records that user left the Agent Desk: their clock stops.
func (a *API) DeskLogout(ctx context.Context, actor, user string) error {
	name := username.Fold(user)
	if err := checkName("user", name); err != nil {
		return err
	}
	a.Core.Do(name, func(e *engine.Engine, now time.Time) []engine.Decision { return e.DeskLogout(now, name) })
	_, err := a.Store.Audit(ctx, a.entry(by(actor), "desk.logout", name, nil))
	return err
}

// by is the actor named name, for the audit.
func by(name string) actor { return actor{name: name} }
