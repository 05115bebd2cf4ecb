package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/vigil-cc/vigil/coordinator/admin"
	"github.com/vigil-cc/vigil/coordinator/secret"
	"github.com/vigil-cc/vigil/coordinator/store"
	"github.com/vigil-cc/vigil/internal/username"
	"github.com/vigil-cc/vigil/protocol"
)

func (a *API) listDevices(r *http.Request, _ actor) (any, error) {
	status := store.DeviceStatus(r.URL.Query().Get("status"))
	if status != "" && !status.Valid() {
		return nil, errorf(http.StatusBadRequest, "status must be pending, approved or revoked")
	}
	devs, err := a.Store.Devices(r.Context())
	if err == nil && status != "" {
		kept := devs[:0]
		for _, d := range devs {
			if d.Status == status {
				kept = append(kept, d)
			}
		}
		devs = kept
	}
	return views(devs, err, func(d store.Device) map[string]any {
		return map[string]any{
			"id": d.ID, "host": d.Host, "os": d.OS, "status": d.Status, "enrollment_id": d.EnrollmentID,
			"enrolled_at": d.CreatedAt, "last_seen_at": d.LastSeenAt,
		}
	})
}

// setEnrollmentDevices approves the pending devices of an enrollment token,
// or revokes all of its devices.
func (a *API) setEnrollmentDevices(status store.DeviceStatus) handler {
	return func(r *http.Request, who actor) (any, error) {
		ids, err := a.Admin.SetEnrollmentDevicesStatus(r.Context(), who.name, r.PathValue("id"), status)
		if err != nil {
			return nil, err
		}
		return map[string]any{"enrollment_id": r.PathValue("id"), "status": status, "devices": ids}, nil
	}
}

func (a *API) approveDevice(r *http.Request, who actor) (any, error) {
	return a.setDeviceStatus(r, who, store.DeviceApproved)
}

func (a *API) revokeDevice(r *http.Request, who actor) (any, error) {
	return a.setDeviceStatus(r, who, store.DeviceRevoked)
}

func (a *API) setDeviceStatus(r *http.Request, who actor, status store.DeviceStatus) (any, error) {
	id := r.PathValue("id")
	if err := a.Admin.SetDeviceStatus(r.Context(), who.name, id, status); err != nil {
		return nil, err
	}
	return map[string]any{"id": id, "status": status}, nil
}

func (a *API) listEnrollments(r *http.Request, _ actor) (any, error) {
	es, err := a.Store.Enrollments(r.Context())
	return views(es, err, func(e store.Enrollment) map[string]any {
		return revocable(map[string]any{"id": e.ID, "note": e.Note, "created_by": e.CreatedBy, "created_at": e.CreatedAt,
			"expires_at": e.ExpiresAt, "max_uses": e.MaxUses, "uses": e.Uses,
			"host_pattern": e.HostPattern, "auto_approve": e.AutoApprove}, e.RevokedAt)
	})
}

func (a *API) createEnrollment(r *http.Request, who actor) (any, error) {
	var b struct {
		Note        string `json:"note"`
		ExpiresInS  *int   `json:"expires_in_s"`
		MaxUses     *int   `json:"max_uses"`
		HostPattern string `json:"host_pattern"`
		AutoApprove bool   `json:"auto_approve"`
	}
	if err := decodeStrict(r, &b); err != nil {
		return nil, err
	}
	ttl, uses := admin.DefaultEnrollmentTTL, admin.DefaultEnrollmentUses
	if b.ExpiresInS != nil {
		if *b.ExpiresInS < 60 || *b.ExpiresInS > 365*24*3600 {
			return nil, errorf(http.StatusBadRequest, "expires_in_s must be from 60 to 31536000 (a year)")
		}
		ttl = time.Duration(*b.ExpiresInS) * time.Second
	}
	if b.MaxUses != nil {
		if *b.MaxUses < 1 || *b.MaxUses > admin.MaxEnrollmentUses {
			return nil, errorf(http.StatusBadRequest, "max_uses must be from 1 to 100000")
		}
		uses = *b.MaxUses
	}
	e, token, err := a.Admin.CreateEnrollment(r.Context(), who.name, admin.EnrollmentSpec{Note: b.Note, TTL: ttl, Uses: uses,
		HostPattern: b.HostPattern, AutoApprove: b.AutoApprove})
	if err != nil {
		return nil, err
	}
	return created{map[string]any{"id": e.ID, "token": token, "expires_at": e.ExpiresAt, "max_uses": e.MaxUses,
		"host_pattern": e.HostPattern, "auto_approve": e.AutoApprove}}, nil
}

func (a *API) revokeEnrollment(r *http.Request, who actor) (any, error) {
	return nil, a.Admin.RevokeEnrollment(r.Context(), who.name, r.PathValue("id"))
}

func (a *API) listTokens(r *http.Request, _ actor) (any, error) {
	ts, err := a.Store.APITokens(r.Context())
	return views(ts, err, func(t store.APIToken) map[string]any {
		return revocable(map[string]any{"id": t.ID, "name": t.Name, "role": t.Role, "created_at": t.CreatedAt}, t.RevokedAt)
	})
}

// revocable is m with revoked_at if it was revoked.
func revocable(m map[string]any, revokedAt time.Time) map[string]any {
	if !revokedAt.IsZero() {
		m["revoked_at"] = revokedAt
	}
	return m
}

func (a *API) createToken(r *http.Request, who actor) (any, error) {
	var b struct {
		Name string     `json:"name"`
		Role store.Role `json:"role"`
	}
	if err := decodeStrict(r, &b); err != nil {
		return nil, err
	}
	switch b.Role {
	case store.RoleAdmin, store.RoleSupervisor, store.RoleIntegration:
	default:
		return nil, errorf(http.StatusBadRequest, "role must be admin, supervisor or integration")
	}
	if err := admin.CheckName("name", b.Name); err != nil {
		return nil, err
	}
	token, hash := secret.New(secret.PrefixAPI)
	t := store.APIToken{ID: store.NewID(), Name: b.Name, Role: b.Role, Hash: hash, CreatedAt: a.Core.Now()}
	err := a.Store.Tx(r.Context(), func(tx *store.Tx) error {
		if err := tx.CreateAPIToken(r.Context(), t); err != nil {
			return err
		}
		_, err := tx.Audit(r.Context(), a.Admin.Entry(who.name, "token.created", "", map[string]any{"id": t.ID, "name": t.Name, "role": t.Role}))
		return err
	})
	if errors.Is(err, store.ErrDuplicate) {
		return nil, errorf(http.StatusConflict, "a live token named %q exists; revoke it first or pick another name", b.Name)
	}
	if err != nil {
		return nil, err
	}
	return created{map[string]any{"id": t.ID, "name": t.Name, "role": t.Role, "token": token}}, nil
}

func (a *API) revokeToken(r *http.Request, who actor) (any, error) {
	id := r.PathValue("id")
	return nil, a.Store.Tx(r.Context(), func(tx *store.Tx) error {
		if err := tx.RevokeAPIToken(r.Context(), id); err != nil {
			return err
		}
		_, err := tx.Audit(r.Context(), a.Admin.Entry(who.name, "token.revoked", "", map[string]string{"id": id}))
		return err
	})
}

func (a *API) listAudit(r *http.Request, _ actor) (any, error) {
	q := r.URL.Query()
	f := store.AuditFilter{User: username.Fold(q.Get("user")), Kind: q.Get("kind")}
	var err error
	if f.Since, err = timeParam(q.Get("since"), "since"); err != nil {
		return nil, err
	}
	if f.Until, err = timeParam(q.Get("until"), "until"); err != nil {
		return nil, err
	}
	if v := q.Get("limit"); v != "" {
		if f.Limit, err = strconv.Atoi(v); err != nil || f.Limit < 1 || f.Limit > 1000 {
			return nil, errorf(http.StatusBadRequest, "limit must be a whole number from 1 to 1000")
		}
	}
	if v := q.Get("before"); v != "" {
		if f.BeforeID, err = strconv.ParseInt(v, 10, 64); err != nil || f.BeforeID < 1 {
			return nil, errorf(http.StatusBadRequest, "before must be an audit entry id")
		}
	}
	entries, err := a.Store.AuditEntries(r.Context(), f)
	return views(entries, err, func(e store.AuditEntry) AuditEntry {
		return AuditEntry{ID: e.ID, At: e.At.UTC(), Actor: e.Actor, Kind: e.Kind, User: e.User, Detail: e.Detail}
	})
}

// AuditEntry is one audit log entry as the API shows it.
type AuditEntry struct {
	ID     int64           `json:"id"`
	At     time.Time       `json:"at"`
	Actor  string          `json:"actor"`
	Kind   string          `json:"kind"`
	User   string          `json:"user,omitempty"`
	Detail json.RawMessage `json:"detail,omitempty"`
}

func timeParam(v, name string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, errorf(http.StatusBadRequest, "%s must be an RFC 3339 time like 2026-11-26T09:00:00Z", name)
	}
	return t, nil
}

var hostRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,253}$`)

// enroll exchanges an enrollment token for a device token.
func (a *API) enroll(r *http.Request, _ actor) (any, error) {
	var b struct {
		EnrollmentToken string `json:"enrollment_token"`
		Host            string `json:"host"`
		OS              string `json:"os"`
	}
	if err := decodeStrict(r, &b); err != nil {
		return nil, err
	}
	if !hostRE.MatchString(b.Host) {
		return nil, errorf(http.StatusBadRequest, "host must be 1 to 253 characters of letters, digits, '.', '_' and '-'")
	}
	switch b.OS {
	case protocol.OSLinux, protocol.OSWindows, protocol.OSDarwin:
	default:
		return nil, errorf(http.StatusBadRequest, "os must be linux, windows or darwin")
	}
	if err := a.checkFailures(r); err != nil {
		return nil, err
	}
	token, hash := secret.New(secret.PrefixDevice)
	var status store.DeviceStatus // as the enrollment token says
	if a.RequireApproval {
		status = store.DevicePending
	}
	now := a.Core.Now()
	var dev store.Device
	err := a.Store.Tx(r.Context(), func(tx *store.Tx) error {
		var err error
		dev, err = tx.Enroll(r.Context(), secret.Hash(b.EnrollmentToken), now,
			store.Device{ID: store.NewID(), Host: b.Host, OS: b.OS, TokenHash: hash, Status: status, CreatedAt: now})
		if err != nil {
			return err
		}
		_, err = tx.Audit(r.Context(), store.AuditEntry{At: now, Actor: "device:" + dev.ID, Kind: "device.enrolled",
			Detail: mustJSON(map[string]string{"host": dev.Host, "os": dev.OS, "status": string(dev.Status), "enrollment_id": dev.EnrollmentID})})
		return err
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		a.failed(r)
		return nil, errorf(http.StatusUnauthorized, "unknown enrollment token")
	case errors.Is(err, store.ErrEnrollmentExpired):
		return nil, errorf(http.StatusUnauthorized, "enrollment token expired: ask your admin for a new one")
	case errors.Is(err, store.ErrEnrollmentUsedUp):
		return nil, errorf(http.StatusUnauthorized, "enrollment token has no uses left: ask your admin for a new one")
	case errors.Is(err, store.ErrEnrollmentRevoked):
		return nil, errorf(http.StatusUnauthorized, "enrollment token revoked")
	case errors.Is(err, store.ErrEnrollmentHost):
		_, aerr := a.Store.Audit(r.Context(), store.AuditEntry{At: now, Actor: "system", Kind: "device.enroll_refused",
			Detail: mustJSON(map[string]string{"host": b.Host, "os": b.OS, "reason": "host_pattern", "client": a.Clients.Key(r)})})
		if aerr != nil {
			a.Log.Warn("auditing a refused enrollment", "err", aerr)
		}
		return nil, errorf(http.StatusForbidden, "this enrollment token does not allow the host name %q: ask your admin for a token for this host", b.Host)
	case err != nil:
		return nil, err
	}
	return created{map[string]any{"device_id": dev.ID, "device_token": token, "status": dev.Status}}, nil
}
