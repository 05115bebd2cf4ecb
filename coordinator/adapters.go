package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/vigil-cc/vigil/coordinator/controller"
	"github.com/vigil-cc/vigil/coordinator/core"
	"github.com/vigil-cc/vigil/coordinator/engine"
	"github.com/vigil-cc/vigil/coordinator/hub"
	"github.com/vigil-cc/vigil/coordinator/secret"
	"github.com/vigil-cc/vigil/coordinator/store"
	"github.com/vigil-cc/vigil/internal/username"
)

// recorder stores the core's batches: each decision as an audit entry with
// the controller's outbox events for it, the snapshots and the alive mark,
// in one transaction.
type recorder struct {
	st  *store.Store
	ctl controller.Controller // set before the first batch; nil: no events
}

func (r *recorder) Record(ctx context.Context, b core.Batch) error {
	return r.st.Tx(ctx, func(tx *store.Tx) error {
		for _, d := range b.Decisions {
			if _, err := tx.Audit(ctx, auditOf(d)); err != nil {
				return err
			}
			if r.ctl == nil {
				continue
			}
			events, err := r.ctl.Outbox(d)
			if err != nil {
				return err
			}
			for _, e := range events {
				if _, err := tx.Enqueue(ctx, e); err != nil {
					return err
				}
			}
		}
		if err := tx.SaveSnapshots(ctx, b.Snapshots); err != nil {
			return err
		}
		return tx.SetAliveUntil(ctx, b.AliveUntil)
	})
}

// auditOf is the audit entry for an engine decision.
func auditOf(d engine.Decision) store.AuditEntry {
	e := store.AuditEntry{At: d.At, Actor: "system", User: d.User}
	var detail any
	switch d.Kind {
	case engine.DecisionWarn:
		e.Kind, detail = "user.warned", map[string]any{"deadline": d.Deadline.UTC()}
	case engine.DecisionWithdraw:
		e.Kind, detail = "user.warning_withdrawn", map[string]any{"reason": d.Reason.String()}
	case engine.DecisionLogout:
		timeline := make([]map[string]any, 0, len(d.Timeline))
		for _, s := range d.Timeline {
			timeline = append(timeline, map[string]any{"at": s.At.UTC(), "signal": s.Kind.String()})
		}
		e.Kind, detail = "user.logged_out", map[string]any{"reason": "inactivity", "timeline": timeline}
	case engine.DecisionSensorLost:
		e.Kind = "sensor.lost"
	}
	if detail != nil {
		e.Detail, _ = json.Marshal(detail)
	}
	return e
}

// system is an audit entry for something the coordinator itself did.
func system(at time.Time, kind string, detail any) store.AuditEntry {
	e := store.AuditEntry{At: at, Actor: "system", Kind: kind}
	e.Detail, _ = json.Marshal(detail)
	return e
}

// directory answers the hub from the store.
type directory struct {
	st  *store.Store
	now func() time.Time
}

func (d directory) Device(ctx context.Context, token string) (hub.Device, error) {
	dev, err := d.st.DeviceByTokenHash(ctx, secret.Hash(token))
	if errors.Is(err, store.ErrNotFound) {
		return hub.Device{}, hub.ErrUnknownDevice
	}
	if err != nil {
		return hub.Device{}, err
	}
	if err := d.st.TouchDevice(ctx, dev.ID, d.now()); err != nil {
		return hub.Device{}, err
	}
	return hub.Device{ID: dev.ID, Approved: dev.Status == store.DeviceApproved, Status: string(dev.Status)}, nil
}

func (d directory) ResolveUser(ctx context.Context, osUser string) (string, bool, error) {
	m, err := d.st.Mapping(ctx, username.Fold(osUser))
	switch {
	case err == nil:
		return m.DeskUser, true, nil
	case !errors.Is(err, store.ErrNotFound):
		return "", false, err
	}
	name := username.Bare(osUser)
	if name == "" {
		return "", false, nil
	}
	ok, err := d.st.DeskUserExists(ctx, name)
	return name, ok, err
}

func (d directory) Unmapped(ctx context.Context, osUser, host string, at time.Time) error {
	return d.st.NoteUnmapped(ctx, osUser, host, at)
}

func (d directory) Audit(ctx context.Context, kind, user string, detail map[string]any) error {
	e := system(d.now(), kind, detail)
	e.User = user
	_, err := d.st.Audit(ctx, e)
	return err
}
