package webhook

import (
	"context"

	"github.com/vigil-cc/vigil/coordinator/controller"
	"github.com/vigil-cc/vigil/coordinator/engine"
	"github.com/vigil-cc/vigil/coordinator/store"
)

// Controller is the webhook controller: Outbox turns decisions into events
// for the recorder's transaction, Decisions wakes the Deliverer once they
// are committed, and Run delivers.
type Controller struct {
	*Deliverer
}

var _ controller.Controller = (*Controller)(nil)

// New returns a webhook controller delivering st's outbox as cfg says.
func New(st *store.Store, cfg Config) (*Controller, error) {
	d, err := NewDeliverer(st, cfg)
	if err != nil {
		return nil, err
	}
	return &Controller{Deliverer: d}, nil
}

// Outbox returns the events reporting d; see Events.
func (c *Controller) Outbox(d engine.Decision) ([]store.OutboxEvent, error) { return Events(d) }

// Decisions wakes the deliverer when a decision made events (they are
// committed by the time handlers run). A core.Handler: it never blocks.
func (c *Controller) Decisions(ds []engine.Decision) {
	if controller.Any(ds, engine.DecisionWarn, engine.DecisionWithdraw, engine.DecisionLogout) {
		c.Notify()
	}
}

// Run delivers until ctx ends.
func (c *Controller) Run(ctx context.Context) error { return c.Deliverer.Run(ctx) }
