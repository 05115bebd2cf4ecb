// Package controller is the coordinator's link to the contact-center side
// (docs/integration.md): what happens to a user's conversations when the
// engine warns or logs them out. There are two implementations, chosen by configuration:
//
//   - builtin (coordinator/controller/builtin): the reference Agent Desk
//     router. It holds conversations itself, routes each to the least-loaded
//     available user and reroutes a logged-out user's conversations.
//   - webhook (coordinator/controller/webhook): for a real platform. Each
//     warning, withdrawal and logout becomes a signed webhook, written to the
//     outbox in the transaction that records the decision and delivered at
//     least once.
//
// Either way the platform (or the built-in desk) reports desk logins and
// call state through the coordinator's API; see docs/integration.md.
package controller

import (
	"context"
	"slices"

	"github.com/vigil-cc/vigil/coordinator/engine"
	"github.com/vigil-cc/vigil/coordinator/setting"
	"github.com/vigil-cc/vigil/coordinator/store"
)

// Kind names a controller implementation.
type Kind string

const (
	Builtin Kind = "builtin"
	Webhook Kind = "webhook"
)

// ParseKind checks the Controller setting; empty means Builtin. Its error
// is a *setting.Error naming Controller.
func ParseKind(s string) (Kind, error) {
	switch Kind(s) {
	case "", Builtin:
		return Builtin, nil
	case Webhook:
		return Webhook, nil
	}
	return "", setting.Errorf("{Controller} must be builtin or webhook, got %q", s)
}

// Controller acts on the engine's decisions for the contact-center side.
type Controller interface {
	// Outbox returns the outbox events that report d. The recorder enqueues
	// them in the transaction that audits d, so a decision is never stored
	// without its events nor an event without its decision. It must be
	// quick and pure: it is called with the core locked.
	Outbox(d engine.Decision) ([]store.OutboxEvent, error)
	// Decisions is a core.Handler: called with the core locked, after the
	// decisions were recorded, in order. It must not block or call back
	// into the core; work it causes is queued for Run.
	Decisions(ds []engine.Decision)
	// Run does the controller's background work until ctx ends.
	Run(ctx context.Context) error
}

// Any reports whether any of ds is of one of kinds: a controller's
// Decisions wakes its Run only for the kinds it acts on.
func Any(ds []engine.Decision, kinds ...engine.DecisionKind) bool {
	for _, d := range ds {
		if slices.Contains(kinds, d.Kind) {
			return true
		}
	}
	return false
}
