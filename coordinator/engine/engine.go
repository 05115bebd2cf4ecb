// Package engine decides inactivity warnings and logouts (DESIGN §1).
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

	mark      int64 // counters below are as of this instant
	counted   int64 // I: counted inactivity
	warnShown int64 // how long the warning has been visible since I last fell below 0.8·T
	resumedAt int64 // when counting last began
	announced int64 // the logout deadline last sent with a warning; 0 when none shows
	lastInput int64 // newest known keyboard/mouse input
	lastSeen  int64 // the sensor's last message

	desk      deskState
	counting  bool
	warning   bool
	voiceHold bool // speaking while counting below the warning point keeps I at 0

	sensor     SensorStatus
	minimized  bool
	notFront   bool
	locked     bool
	voice      bool
	mic        bool
	pageHidden bool
	call       bool

	reported struct { // what the last DecisionChanged said
		status  Status
		reasons Reasons
		sensor  SensorStatus
	}

	tl timeline
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

// Advance fires every rule due by now. The returned slice is valid until the
// next call, as for every method that returns decisions.
func (e *Engine) Advance(now time.Time) []Decision {
	e.begin(now)
	return e.out
}

// Reading applies a full sensor report for user.
func (e *Engine) Reading(now time.Time, name string, r Reading) []Decision {
	t, u := e.touch(now, name)
	if u.sensor != SensorLive {
		u.tl.add(t, SignalSensorLive)
	}
	u.sensor, u.lastSeen, u.mic = SensorLive, t, r.MicAvailable
	// Input is applied under the counting state it happened in, before the
	// reading's other changes; the resume rule catches input that brought
	// the Agent Desk back.
	if in := t - max(r.Idle.Milliseconds(), 0); in > u.lastInput+InputJitter.Milliseconds() {
		e.input(u, in, t)
	}
	flip(u, &u.minimized, r.Minimized, t, SignalMinimized, SignalRestored)
	flip(u, &u.notFront, !r.Foreground, t, SignalLeftFront, SignalInFront)
	flip(u, &u.locked, r.Locked, t, SignalLocked, SignalUnlocked)
	flip(u, &u.voice, r.Voice, t, SignalVoiceOn, SignalVoiceOff)
	e.settle(u, t)
	return e.out
}

// Heartbeat notes that user's sensor is alive with nothing changed.
func (e *Engine) Heartbeat(now time.Time, name string) []Decision {
	t, u := e.touch(now, name)
	if u.sensor != SensorLive {
		u.tl.add(t, SignalSensorLive)
	}
	u.sensor, u.lastSeen = SensorLive, t
	e.settle(u, t)
	return e.out
}

// DeskLogin starts user's clock at 0: they logged in to the Agent Desk.
func (e *Engine) DeskLogin(now time.Time, name string) []Decision {
	t, u := e.touch(now, name)
	if u.warning {
		e.withdraw(u, t, WithdrawDismissed)
	}
	u.desk = deskOpen
	u.counted, u.warnShown = 0, 0
	u.counting = false // so settle starts it as a resume
	u.tl.restart(t, SignalDeskLogin)
	e.settle(u, t)
	return e.out
}

// DeskLogout stops user's clock: they left the Agent Desk.
func (e *Engine) DeskLogout(now time.Time, name string) []Decision {
	t, u := e.touch(now, name)
	u.desk = deskNone
	u.tl.add(t, SignalDeskLogout)
	e.settle(u, t)
	u.counted, u.warnShown = 0, 0
	return e.out
}

// Call sets whether user is on an active voice or video call. Only the
// controller may say so; no workstation signal pauses for a call.
func (e *Engine) Call(now time.Time, name string, active bool) []Decision {
	t, u := e.touch(now, name)
	flip(u, &u.call, active, t, SignalCallStarted, SignalCallEnded)
	e.settle(u, t)
	return e.out
}

// PageInput is keyboard or mouse input seen by the Agent Desk page itself.
func (e *Engine) PageInput(now time.Time, name string) []Decision {
	t, u := e.touch(now, name)
	if t > u.lastInput {
		e.input(u, t, t)
	}
	e.settle(u, t)
	return e.out
}

// PageVisibility is the Agent Desk page's Page Visibility state. It pauses
// the clock only while no live sensor speaks for the user.
func (e *Engine) PageVisibility(now time.Time, name string, visible bool) []Decision {
	t, u := e.touch(now, name)
	flip(u, &u.pageHidden, !visible, t, SignalPageHidden, SignalPageVisible)
	e.settle(u, t)
	return e.out
}

// SetSettings applies new settings (which must be valid) to every user live.
func (e *Engine) SetSettings(now time.Time, s Settings) []Decision {
	t := e.begin(now)
	old := e.settings
	e.apply(s)
	for _, u := range e.users {
		e.elapse(u, t)
		switch {
		case !old.Enabled && s.Enabled:
			// Enabling starts every clock at 0, as a resume.
			u.counted, u.warnShown, u.counting = 0, 0, false
			u.tl.restart(t, SignalEnabled)
		case old.Enabled && !s.Enabled:
			u.tl.add(t, SignalDisabled)
		case old.Timeout != s.Timeout:
			u.tl.add(t, SignalTimeoutChanged)
			if u.counted < e.warnAt {
				e.belowWarning(u, t, WithdrawSettings)
			}
		}
		e.settle(u, t)
	}
	return e.out
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

// begin moves the engine to now, firing every rule due before it. Time never
// goes back: a late event is applied at the engine's present.
func (e *Engine) begin(now time.Time) int64 {
	t := max(now.UnixMilli(), e.now)
	e.out = e.out[:0]
	for len(e.sched) > 0 && e.sched[0].deadline <= t {
		u := e.sched[0]
		d := u.deadline
		e.elapse(u, d)
		e.settle(u, d)
	}
	e.now = t
	return t
}

// touch begins an event for one user, creating it on first sight.
func (e *Engine) touch(now time.Time, name string) (int64, *user) {
	t := e.begin(now)
	u, ok := e.users[name]
	if !ok {
		u = &user{name: name, heapIdx: -1, deadline: never, mark: t, lastInput: noInput}
		e.users[name] = u
	}
	e.elapse(u, t)
	return t, u
}

// elapse brings u's counters to t; nothing is due before t (begin saw to it).
func (e *Engine) elapse(u *user, t int64) {
	dt := t - u.mark
	if dt <= 0 {
		return
	}
	u.mark = t
	if u.counting && !u.voiceHold {
		u.counted += dt
		if u.warning {
			u.warnShown += dt
		}
	}
}

// input applies keyboard or mouse input that happened at in (≤ t).
func (e *Engine) input(u *user, in, t int64) {
	u.lastInput = in
	if !u.counting || in < u.resumedAt-ResumeWindow.Milliseconds() {
		return // input while not counted does nothing; settle applies the resume rule
	}
	i := t - max(in, u.resumedAt)
	if i >= u.counted {
		return
	}
	u.counted = i
	u.tl.restart(max(in, u.resumedAt), SignalInput)
	if i < e.warnAt {
		e.belowWarning(u, t, WithdrawDismissed)
	}
}

// belowWarning ends a warning period: I fell below the warning point.
func (e *Engine) belowWarning(u *user, t int64, why WithdrawReason) {
	u.warnShown = 0
	if u.warning {
		e.withdraw(u, t, why)
	}
}

func (e *Engine) withdraw(u *user, t int64, why WithdrawReason) {
	u.warning, u.announced = false, 0
	u.tl.add(t, SignalWithdrawn)
	e.emit(Decision{Kind: DecisionWithdraw, User: u.name, At: msTime(t), Reason: why})
}

// paused reports the reasons u's clock is not counted, ignoring the feature
// switch and the desk session.
func (u *user) paused() Reasons {
	var r Reasons
	if u.call {
		r |= ReasonOnCall
	}
	switch {
	case u.sensor == SensorLive && u.locked:
		// A locked workstation keeps counting: window exceptions are ignored.
	case u.sensor == SensorLive && u.minimized:
		r |= ReasonMinimized
	case u.sensor == SensorLive && u.notFront:
		r |= ReasonNotInFront
	case u.sensor != SensorLive && u.pageHidden:
		r |= ReasonNotInFront
	}
	return r
}

// settle applies every rule that holds for u at t after a change, reports
// what changed, and reschedules u.
func (e *Engine) settle(u *user, t int64) {
	if u.sensor == SensorLive && t >= u.lastSeen+e.grace {
		// Drop what the silent sensor said, so killing it never avoids a logout.
		u.sensor = SensorStale
		u.minimized, u.notFront, u.locked, u.voice = false, false, false, false
		u.tl.add(t, SignalSensorLost)
		e.emit(Decision{Kind: DecisionSensorLost, User: u.name, At: msTime(t)})
	}

	counting := e.settings.Enabled && u.desk == deskOpen && u.paused() == 0
	if counting != u.counting {
		u.counting = counting
		if counting {
			u.resumedAt = t
			if u.lastInput >= t-ResumeWindow.Milliseconds() {
				u.counted = 0
				u.tl.restart(t, SignalInput)
				e.belowWarning(u, t, WithdrawDismissed)
			}
		} else if u.warning {
			e.withdraw(u, t, e.whyNotCounting(u))
		}
	}

	if u.counting {
		if !u.warning && u.counted >= e.warnAt {
			u.warning = true
			u.tl.add(t, SignalWarned)
		}
		if u.warning && u.counted >= e.timeout && u.warnShown >= e.warnMin {
			e.logout(u, t)
		}
	}
	// Speech keeps the user active until the warning shows; after that only
	// keyboard or mouse proves someone is at the desk. Voice near a locked
	// screen is no proof either.
	hold := u.counting && u.voice && !u.locked && !u.warning
	if hold && !u.voiceHold {
		u.counted = 0
		u.tl.restart(t, SignalVoiceOn)
	}
	u.voiceHold = hold

	if u.warning {
		if d := t + max(e.timeout-u.counted, e.warnMin-u.warnShown); d != u.announced {
			u.announced = d
			e.emit(Decision{Kind: DecisionWarn, User: u.name, At: msTime(t), Deadline: msTime(d)})
		}
	}

	if st := e.state(u); st.Status != u.reported.status || st.Reasons != u.reported.reasons || st.Sensor != u.reported.sensor {
		u.reported.status, u.reported.reasons, u.reported.sensor = st.Status, st.Reasons, st.Sensor
		e.emit(Decision{Kind: DecisionChanged, User: u.name, At: msTime(t), State: st})
	}

	e.sched.set(u, e.deadline(u, t))
}

func (e *Engine) whyNotCounting(u *user) WithdrawReason {
	switch {
	case !e.settings.Enabled:
		return WithdrawDisabled
	case u.desk != deskOpen:
		return WithdrawDeskLogout
	}
	return WithdrawPaused
}

func (e *Engine) logout(u *user, t int64) {
	u.desk = deskLoggedOut
	u.counting, u.warning, u.announced = false, false, 0
	u.tl.add(t, SignalLoggedOut)
	e.emit(Decision{Kind: DecisionLogout, User: u.name, At: msTime(t), Timeline: u.tl.signals()})
}

// deadline is the next instant u's state changes by itself: the sensor's
// grace runs out, the warning shows, or the logout comes.
func (e *Engine) deadline(u *user, t int64) int64 {
	d := int64(never)
	if u.sensor == SensorLive {
		d = u.lastSeen + e.grace
	}
	if u.counting && !u.voiceHold {
		if !u.warning {
			d = min(d, t+e.warnAt-u.counted)
		} else {
			d = min(d, t+max(e.timeout-u.counted, e.warnMin-u.warnShown))
		}
	}
	return d
}

func (e *Engine) state(u *user) State {
	st := State{
		User:         u.name,
		Inactivity:   time.Duration(u.counted) * time.Millisecond,
		Sensor:       u.sensor,
		Locked:       u.locked,
		MicAvailable: u.mic,
	}
	if u.sensor != SensorNone {
		st.LastSeen = msTime(u.lastSeen)
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

// msTime turns engine milliseconds back into a time.
func msTime(ms int64) time.Time { return time.UnixMilli(ms) }

func (e *Engine) emit(d Decision) { e.out = append(e.out, d) }

// flip sets *b to v, noting a change in u's timeline.
func flip(u *user, b *bool, v bool, t int64, on, off SignalKind) {
	if *b == v {
		return
	}
	*b = v
	if v {
		u.tl.add(t, on)
	} else {
		u.tl.add(t, off)
	}
}
