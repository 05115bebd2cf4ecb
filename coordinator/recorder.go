package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/vigil-cc/vigil/coordinator/controller"
	"github.com/vigil-cc/vigil/coordinator/core"
	"github.com/vigil-cc/vigil/coordinator/engine"
	"github.com/vigil-cc/vigil/coordinator/store"
)

// recorder stores the core's batches: each decision as an audit entry with
// the controller's outbox events for it, the snapshots and the alive mark,
// in one transaction.
type recorder struct {
	st  *store.Store
	ctl controller.Controller // set before the first batch; nil: no events
	// lease, for a replica, is the lease to fence each batch with (ok
	// false: a standby records nothing); fenced is told when a batch was
	// fenced. Nil on SQLite.
	lease  func() (store.Lease, bool)
	fenced func()
}

func (r *recorder) Record(ctx context.Context, b core.Batch) error {
	if r.lease == nil {
		return r.st.Tx(ctx, func(tx *store.Tx) error { return r.record(ctx, tx, b, 0) })
	}
	l, ok := r.lease()
	if !ok {
		return fmt.Errorf("%w: a standby replica records no decision", core.ErrNotLeader)
	}
	err := r.st.FencedTx(ctx, l, func(tx *store.Tx) error { return r.record(ctx, tx, b, l.Epoch) })
	if errors.Is(err, store.ErrFenced) {
		r.fenced()
		return fmt.Errorf("%w: %w", core.ErrNotLeader, err)
	}
	return err
}

// record writes b in tx; epoch, for a replica, is the leader's lease epoch,
// which each decision's audit entry names ("epoch" in its detail).
func (r *recorder) record(ctx context.Context, tx *store.Tx, b core.Batch, epoch int64) error {
	for _, d := range b.Decisions {
		e := auditOf(d)
		if epoch > 0 {
			detail := map[string]any{}
			_ = json.Unmarshal(e.Detail, &detail)
			detail["epoch"] = epoch
			e.Detail, _ = json.Marshal(detail)
		}
		if _, err := tx.Audit(ctx, e); err != nil {
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
	case engine.DecisionDeskMoved:
		e.Kind, detail = "sensor.desk_moved", map[string]any{
			"from_host": d.From.Host, "to_host": d.To.Host, "from_session": d.From.Key, "to_session": d.To.Key}
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
