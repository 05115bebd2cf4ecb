// Package protocol defines the wire format spoken between vigil-agent and
// vigil-coordinator: versioned JSON messages, one per WebSocket text frame.
//
// The version is carried by the WebSocket subprotocol name ([Subprotocol]).
// Every frame is a single JSON object with a "type" member naming the
// message; the remaining members are exactly the fields of that message, all
// of them required. Decoding is strict: unknown message types, unknown or
// duplicated fields (field names are case-sensitive), missing fields, null
// values, wrong JSON types, out-of-range values, trailing data and frames
// larger than [MaxFrameBytes] are rejected with an [*Error] that names the
// field, states what is allowed and carries the WebSocket close code to close
// the connection with. Decoding never panics.
//
// Privacy: the agent→coordinator messages can carry nothing but the agent
// version, OS, host name, OS user, session id, idle milliseconds and the
// booleans agent_desk_foreground, agent_desk_minimized, screen_locked,
// mic_available and voice. Because unknown fields are refused on decode and
// the Go types have no other fields, nothing else (no window title, keystroke
// or audio sample) can be sent or accepted. See docs/protocol.md.
//
// The package uses the standard library only and does not depend on a
// WebSocket implementation: close codes are plain ints.
package protocol

import (
	"errors"
	"fmt"
	"strings"
)

// Subprotocol is the WebSocket subprotocol name of this protocol version.
// The agent offers it in Sec-WebSocket-Protocol; the coordinator selects it.
// An incompatible wire change gets a new name ("vigil.v2"), never a change
// to the meaning of "vigil.v1".
const Subprotocol = "vigil.v1"

// MaxFrameBytes is the largest frame, in bytes, that may be sent or is
// accepted. Larger frames are refused with [CloseMessageTooBig].
const MaxFrameBytes = 4096

// WebSocket close codes. The 1xxx codes are defined by RFC 6455; the 4xxx
// codes are application codes of this protocol.
const (
	CloseNormal          = 1000 // normal closure (e.g. agent shutting down)
	CloseGoingAway       = 1001 // endpoint going away (e.g. coordinator restart)
	CloseProtocolError   = 1002 // protocol error: bad first message, message out of order
	CloseUnsupportedData = 1003 // a binary frame (every message is a text frame)
	// ClosePolicyViolation is used for every invalid message: malformed JSON,
	// unknown type or field, missing field, wrong type, out-of-range value,
	// trailing data, or a message sent in the wrong direction.
	ClosePolicyViolation    = 1008
	CloseMessageTooBig      = 1009 // frame larger than MaxFrameBytes
	CloseInternalError      = 1011 // unexpected condition on the closing side
	CloseUnauthorized       = 4001 // missing, unknown or invalid device token
	CloseDeviceRevoked      = 4003 // device token was valid but has been revoked
	CloseUnsupportedVersion = 4004 // no supported subprotocol offered
	// CloseNotLeader: this coordinator is a standby replica (or just
	// stepped down). The reason names the leader's URL when it is known
	// ("not the leader; the leader is wss://b.example:8443"); the agent
	// goes there, or tries its other coordinator URLs.
	CloseNotLeader = 4005
)

// NotLeaderReason is the close reason (and error message) of
// CloseNotLeader, naming leader's URL if it is known ("" if not).
func NotLeaderReason(leader string) string {
	if leader == "" {
		return "not the leader; no leader right now, try another coordinator"
	}
	return "not the leader; the leader is " + leader
}

// Direction says which side sends a message type.
type Direction uint8

const (
	// FromAgent marks messages sent by vigil-agent to the coordinator.
	FromAgent Direction = 1 + iota
	// FromCoordinator marks messages sent by vigil-coordinator to an agent.
	FromCoordinator
)

func (d Direction) String() string {
	switch d {
	case FromAgent:
		return "agent"
	case FromCoordinator:
		return "coordinator"
	}
	return fmt.Sprintf("Direction(%d)", uint8(d))
}

// Message is implemented by the message types of this package (and by
// pointers to them). The set is closed: other packages cannot add types.
type Message interface {
	// Type returns the value of the "type" member, e.g. "reading".
	Type() string
	// Direction reports which side sends this message type.
	Direction() Direction
	// Validate reports whether every field is within its allowed range.
	// It returns nil or an *Error with code ClosePolicyViolation.
	Validate() error

	// wire returns the value that is marshalled, including the "type" member.
	wire() any
}

// Error is a protocol violation. Code is the WebSocket close code the
// connection should be closed with; Field names the offending JSON member
// ("" when the frame as a whole is at fault); Msg says what is wrong and,
// for a field, what is allowed. Msg never quotes the content of a string
// field.
type Error struct {
	Code  int
	Field string
	Msg   string
}

func (e *Error) Error() string { return "protocol: " + e.Msg }

// CloseCode returns the WebSocket close code for err: CloseNormal for nil,
// the Code of an *Error found with errors.As, and CloseInternalError for
// any other error.
func CloseCode(err error) int {
	if err == nil {
		return CloseNormal
	}
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Code
	}
	return CloseInternalError
}

// NewErrorMessage builds the "error" message the coordinator sends before
// closing the connection because of err. Code is CloseCode(err); the text is
// made valid for the wire (control characters replaced by spaces, truncated
// to MaxErrorMessageLen characters).
func NewErrorMessage(err error) ErrorMessage {
	var text string
	var pe *Error
	switch {
	case errors.As(err, &pe):
		text = pe.Msg
	case err != nil:
		text = err.Error()
	}
	text = strings.ToValidUTF8(text, "\uFFFD")
	var b strings.Builder
	n := 0
	for _, r := range text {
		if n == MaxErrorMessageLen {
			break
		}
		if isControl(r) {
			r = ' '
		}
		b.WriteRune(r)
		n++
	}
	return ErrorMessage{Code: CloseCode(err), Message: b.String()}
}

// DevicePending is the coordinator's error message (HTTP 403) to a device
// enrolled with a token that leaves devices pending, until an admin
// approves it: unlike a refusal, the agent retries on its normal backoff.
const DevicePending = "device is pending"
