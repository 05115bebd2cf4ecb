package agent

import (
	"time"

	"github.com/vigil-cc/vigil/protocol"
)

// Observation is one sample of a desktop session's sensors, as the agent
// may report it: nothing here can hold a window title or audio.
type Observation struct {
	// At is when the idle time was read, on the local clock (with its
	// monotonic reading).
	At time.Time
	// Idle is the time since the last keyboard or mouse input, as of At.
	Idle time.Duration
	// The booleans of protocol.Reading.
	Foreground   bool
	Minimized    bool
	Locked       bool
	MicAvailable bool
	Voice        bool
}

// inputAt is when the last keyboard or mouse input happened.
func (o Observation) inputAt() time.Time { return o.At.Add(-o.Idle) }

// sameFlags reports whether a and b agree on every boolean.
func (o Observation) sameFlags(b Observation) bool {
	return o.Foreground == b.Foreground && o.Minimized == b.Minimized && o.Locked == b.Locked &&
		o.MicAvailable == b.MicAvailable && o.Voice == b.Voice
}

// Reading is o as the protocol's reading for session.
func (o Observation) Reading(session string) protocol.Reading {
	idle := max(o.Idle.Milliseconds(), 0)
	return protocol.Reading{
		Session:             session,
		IdleMS:              min(idle, protocol.MaxIdleMS),
		AgentDeskForeground: o.Foreground,
		AgentDeskMinimized:  o.Minimized,
		ScreenLocked:        o.Locked,
		MicAvailable:        o.MicAvailable,
		Voice:               o.Voice,
	}
}

// Rules tune Decide.
type Rules struct {
	// Heartbeat: a heartbeat is due when nothing was sent for this long
	// (the policy's heartbeat_s).
	Heartbeat time.Duration
	// Throttle: while no warning shows, a reading sent only because input
	// happened follows the previous reading by at least this much.
	Throttle time.Duration
	// SameInput: an input time estimated within this of the one last
	// reported is the same input (the estimate wobbles by the time between
	// reading the idle counter and stamping the sample).
	SameInput time.Duration
}

// DefaultRules are the agent's rules before the policy says otherwise.
func DefaultRules() Rules {
	return Rules{Heartbeat: 20 * time.Second, Throttle: time.Second, SameInput: 100 * time.Millisecond}
}

// Sent is what the agent last sent for a session on the current
// connection.
type Sent struct {
	// Reading is the last reading sent, taken at Reading.At; zero if none
	// has been sent on this connection yet.
	Reading Observation
	// Last is when the last message (reading or heartbeat) was sent.
	Last time.Time
}

// Action is what to send for a session after an observation.
type Action uint8

const (
	// Nothing: nothing changed (or input is held back by the throttle),
	// and no heartbeat is due.
	Nothing Action = iota
	// SendReading: send the observation as a full reading.
	SendReading
	// SendHeartbeat: nothing changed for a heartbeat interval.
	SendHeartbeat
)

func (a Action) String() string {
	switch a {
	case SendReading:
		return "reading"
	case SendHeartbeat:
		return "heartbeat"
	}
	return "nothing"
}

// Decide says what to send for a session given what was last sent, a new
// observation and whether a warning shows:
//
//   - a reading when none was sent yet on this connection, or when any
//     boolean changed — at once;
//   - a reading when input happened since the last reading (the idle time
//     dropped, i.e. the input time moved on by more than r.SameInput): at
//     once while a warning shows, so that dismissal is immediate; otherwise
//     at most one per r.Throttle. Input held back by the throttle is still
//     pending at the next observation, so the last input before the user
//     goes idle is always reported (the trailing report): the coordinator
//     takes the input time as arrival − idle_ms, and a missing trailing
//     report would make its warning early;
//   - a heartbeat when nothing was sent for r.Heartbeat;
//   - nothing otherwise. Idle time growing is not a change.
func Decide(s Sent, o Observation, warning bool, r Rules) Action {
	if s.Reading.At.IsZero() || !o.sameFlags(s.Reading) {
		return SendReading
	}
	if o.inputAt().Sub(s.Reading.inputAt()) > r.SameInput {
		if warning || o.At.Sub(s.Reading.At) >= r.Throttle {
			return SendReading
		}
		return Nothing // pending: a later observation sends it
	}
	if o.At.Sub(s.Last) >= r.Heartbeat {
		return SendHeartbeat
	}
	return Nothing
}
