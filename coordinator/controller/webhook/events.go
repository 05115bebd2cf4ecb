// Package webhook is the controller for real contact-center platforms: each
// warning, withdrawn warning and logout is POSTed to the platform as a
// signed JSON event, which for a logout asks it to reroute all of the
// user's active conversations.
//
// Events are written to the store's outbox in the same transaction as the
// decision's audit entry (the recorder asks Outbox for them), so none is
// lost between deciding and telling; a Deliverer then sends them at least
// once, retrying with exponential backoff and jitter, and the receiver
// drops duplicates by the event's idempotency key. docs/integration.md is
// the receiver's side; package verify checks a request.
package webhook

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/vigil-cc/vigil/coordinator/engine"
	"github.com/vigil-cc/vigil/coordinator/store"
)

// Event types.
const (
	EventWarned           = "user.warned"
	EventWarningWithdrawn = "user.warning_withdrawn"
	EventLoggedOut        = "user.logged_out"
)

// Event is the JSON body of every webhook.
type Event struct {
	// ID is the idempotency key, also sent as the Idempotency-Key header.
	// It is derived from the decision, so recording the same decision twice
	// gives the same event.
	ID         string    `json:"id"`
	Type       string    `json:"type"`
	OccurredAt time.Time `json:"occurred_at"` // the instant the rule fired (ms)
	User       string    `json:"user"`        // the Agent Desk user
	Data       any       `json:"data"`
}

// Warned is the data of user.warned.
type Warned struct {
	// Deadline is when the user will be logged out if nothing changes; a
	// new user.warned with a new deadline follows a settings change.
	Deadline time.Time `json:"deadline"`
}

// Withdrawn is the data of user.warning_withdrawn.
type Withdrawn struct {
	// Reason: dismissed, paused, settings, disabled or desk_logout.
	Reason string `json:"reason"`
}

// LoggedOut is the data of user.logged_out.
type LoggedOut struct {
	Reason  string  `json:"reason"` // inactivity
	Reroute Reroute `json:"reroute"`
}

// Reroute asks the platform to reroute a user's conversations.
type Reroute struct {
	User          string `json:"user"`
	Conversations string `json:"conversations"` // all_active
}

// Events returns the outbox events that report d (none for sensor losses
// and state changes).
func Events(d engine.Decision) ([]store.OutboxEvent, error) {
	ev := Event{Type: "", OccurredAt: d.At.UTC(), User: d.User}
	switch d.Kind {
	case engine.DecisionWarn:
		ev.Type, ev.Data = EventWarned, Warned{Deadline: d.Deadline.UTC()}
	case engine.DecisionWithdraw:
		ev.Type, ev.Data = EventWarningWithdrawn, Withdrawn{Reason: d.Reason.String()}
	case engine.DecisionLogout:
		ev.Type, ev.Data = EventLoggedOut, LoggedOut{Reason: "inactivity", Reroute: Reroute{User: d.User, Conversations: "all_active"}}
	default:
		return nil, nil
	}
	ev.ID = EventID(d)
	body, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("encoding the %s event for %s: %w", ev.Type, d.User, err)
	}
	return []store.OutboxEvent{{Key: ev.ID, Kind: ev.Type, Payload: body, CreatedAt: d.At}}, nil
}

// EventID is the idempotency key of the event reporting d: a hash of what
// identifies the decision (kind, user, instant, and the deadline or reason),
// so the same decision always gives the same key and different ones differ.
func EventID(d engine.Decision) string {
	h := sha256.New()
	for _, part := range []string{
		"vigil-webhook-v1", d.Kind.String(), d.User, strconv.FormatInt(d.At.UnixMilli(), 10),
		strconv.FormatInt(d.Deadline.UnixMilli(), 10), d.Reason.String(),
	} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return "evt_" + hex.EncodeToString(h.Sum(nil)[:16])
}
