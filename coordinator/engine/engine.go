// Package engine decides inactivity warnings and logouts by the rules in
// docs/engine.md.
//
// It is pure and clock-injected: every call carries the time it happens at,
// the engine never reads a clock, starts a goroutine or holds a timer. The
// caller schedules one timer for NextDeadline and calls Advance when it fires.
// Decisions come out in time order, stamped with the exact instant their rule
// fired. The engine is not safe for concurrent use: one goroutine owns it.
package engine

import (
	"math"
	"time"
)

const noInput = math.MinInt64 / 2

type deskState uint8

const (
	deskNone      deskState = iota // not logged in to the Agent Desk
	deskOpen                       // logged in: the clock runs
	deskLoggedOut                  // logged out for inactivity
)

// user is one inactivity clock and what the engine knows of the user's
// signals. Times are Unix milliseconds.
type user struct {
	name     string
	heapIdx  int
	deadline int64

	mark       int64 // counters below are as of this instant
	counted    int64 // I: counted inactivity
	warnShown  int64 // how long the warning has been visible since I last fell below 0.8·T
	resumedAt  int64 // when counting last began
	resumeFrom int64 // input from this instant on counts at resumedAt (the resume rule)
	announced  int64 // the logout deadline last sent with a warning; 0 when none shows
	pageInput  int64 // the Agent Desk page's last input
	held       int64 // after a restart, no warning or logout before this (0: none)

	desk      deskState
	counting  bool
	warning   bool
	voiceHold bool // speaking while counting below the warning point keeps I at 0

	// sessions are the user's desktop sessions with a sensor (live, or the
	// desk session gone stale); deskSess is the one whose Agent Desk was
	// most recently in front, nil when none has shown it since the login.
	sessions   []*session
	deskSess   *session
	pageHidden bool
	call       bool

	reported struct { // what the last DecisionChanged said
		status   Status
		reasons  Reasons
		sensor   SensorStatus
		deskHost string
		sessions int
	}

	past history
	tl   timeline
}

// Engine holds every user's clock.
type Engine struct {
	settings Settings
	timeout  int64 // T, ms
	warnAt   int64 // 0.8·T
	warnMin  int64 // 0.2·T: the least visible time before a logout
	grace    int64

	now   int64
	users map[string]*user
	sched schedule
	out   []Decision
}

// New returns an engine with the given settings (which must be valid) and
// sensor heartbeat grace (DefaultHeartbeatGrace when zero).
func New(s Settings, grace time.Duration) *Engine {
	if grace <= 0 {
		grace = DefaultHeartbeatGrace
	}
	e := &Engine{users: make(map[string]*user), grace: grace.Milliseconds(), now: math.MinInt64}
	e.apply(s)
	return e
}

func (e *Engine) apply(s Settings) {
	e.settings = s
	e.timeout = s.Timeout.Milliseconds()
	e.warnAt = s.WarnAt().Milliseconds()
	e.warnMin = e.timeout - e.warnAt
}

// Settings returns the settings in force.
func (e *Engine) Settings() Settings { return e.settings }

// NextDeadline is when the engine must next be advanced, if ever.
func (e *Engine) NextDeadline() (time.Time, bool) {
	if len(e.sched) == 0 {
		return time.Time{}, false
	}
	return msTime(e.sched[0].deadline), true
}

// Remove forgets user entirely (no desk session, no sensor).
func (e *Engine) Remove(name string) {
	if u, ok := e.users[name]; ok {
		if u.heapIdx >= 0 {
			e.sched.remove(u)
		}
		delete(e.users, name)
	}
}

// State returns user's live state as of the last call.
func (e *Engine) State(name string) (State, bool) {
	u, ok := e.users[name]
	if !ok {
		return State{}, false
	}
	e.elapse(u, e.now)
	return e.state(u), true
}

// States calls fn with every user's live state, in no particular order.
func (e *Engine) States(fn func(State)) {
	for _, u := range e.users {
		e.elapse(u, e.now)
		fn(e.state(u))
	}
}

func (e *Engine) state(u *user) State {
	st := State{
		User:       u.name,
		Inactivity: time.Duration(u.counted) * time.Millisecond,
		Sessions:   u.live(),
	}
	if s := u.sensorOf(); s != nil {
		st.Sensor, st.LastSeen, st.Locked, st.MicAvailable = s.status, msTime(s.lastSeen), s.locked, s.mic
	}
	if u.deskSess != nil {
		st.DeskHost = u.deskSess.src.Host
	}
	switch {
	case u.desk == deskNone:
		st.Status = StatusOffline
	case u.desk == deskLoggedOut:
		st.Status = StatusLoggedOut
	case !e.settings.Enabled:
		st.Status = StatusDisabled
	case u.warning:
		st.Status = StatusWarned
		st.Deadline = msTime(u.announced)
	case !u.counting:
		st.Status, st.Reasons = StatusPaused, u.paused()
	default:
		st.Status = StatusActive
	}
	return st
}
