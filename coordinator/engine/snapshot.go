package engine

import (
	"slices"
	"time"
)

// Snapshot is one user's clock and signals, for persistence across a
// coordinator restart. It is plain data, stable as JSON.
type Snapshot struct {
	User       string        `json:"user"`
	At         time.Time     `json:"at"` // when it was taken
	Desk       string        `json:"desk"`
	Counted    time.Duration `json:"counted"`
	WarnShown  time.Duration `json:"warn_shown"`
	Warning    bool          `json:"warning"`
	ResumedAt  time.Time     `json:"resumed_at"`
	ResumeFrom time.Time     `json:"resume_from"`
	// Counting: the last counting periods to end, oldest first, to judge
	// input reported late by the state when it happened.
	Counting    []Period          `json:"counting,omitempty"`
	PageInput   time.Time         `json:"page_input,omitzero"`
	Sessions    []SessionSnapshot `json:"sessions,omitempty"`
	DeskSession string            `json:"desk_session,omitempty"` // its Key
	PageHidden  bool              `json:"page_hidden,omitempty"`
	Call        bool              `json:"call,omitempty"`
	Timeline    []Signal          `json:"timeline,omitempty"`
}

// Period is a counting period [From, To); input from Early on counts at From.
type Period struct {
	From  time.Time `json:"from"`
	Early time.Time `json:"early"`
	To    time.Time `json:"to"`
}

// SessionSnapshot is one desktop session's sensor.
type SessionSnapshot struct {
	Source
	Sensor     string    `json:"sensor"`
	LastSeen   time.Time `json:"last_seen"`
	LastInput  time.Time `json:"last_input,omitzero"`
	Applied    time.Time `json:"applied,omitzero"`
	DeskSince  time.Time `json:"desk_since"`
	FrontSince time.Time `json:"front_since"`
	Known      bool      `json:"known,omitempty"`
	Minimized  bool      `json:"minimized,omitempty"`
	NotInFront bool      `json:"not_in_front,omitempty"`
	Locked     bool      `json:"locked,omitempty"`
	Voice      bool      `json:"voice,omitempty"`
	Mic        bool      `json:"mic,omitempty"`
}

var deskNames = [...]string{"none", "open", "logged_out"}

// Snapshot returns user's state as of the last call.
func (e *Engine) Snapshot(name string) (Snapshot, bool) {
	u, ok := e.users[name]
	if !ok {
		return Snapshot{}, false
	}
	e.elapse(u, e.now)
	s := Snapshot{
		User:       u.name,
		At:         msTime(e.now),
		Desk:       deskNames[u.desk],
		Counted:    time.Duration(u.counted) * time.Millisecond,
		WarnShown:  time.Duration(u.warnShown) * time.Millisecond,
		Warning:    u.warning,
		ResumedAt:  msTime(u.resumedAt),
		ResumeFrom: msTime(u.resumeFrom),
		PageInput:  optTime(u.pageInput),
		PageHidden: u.pageHidden,
		Call:       u.call,
		Timeline:   u.tl.signals(),
	}
	for k := int(u.past.n) - 1; k >= 0; k-- {
		p := u.past.at(k)
		s.Counting = append(s.Counting, Period{msTime(p.from), msTime(p.early), msTime(p.to)})
	}
	for _, x := range u.sessions {
		s.Sessions = append(s.Sessions, SessionSnapshot{
			Source: x.src, Sensor: x.status.String(), LastSeen: msTime(x.lastSeen),
			LastInput: optTime(x.lastInput), Applied: optTime(x.applied),
			DeskSince: msTime(x.deskSince), FrontSince: msTime(x.frontSince),
			Known: x.known, Minimized: x.minimized, NotInFront: x.notFront, Locked: x.locked, Voice: x.voice, Mic: x.mic,
		})
	}
	if u.deskSess != nil {
		s.DeskSession = u.deskSess.src.Key
	}
	return s, true
}

// optTime is ms as a time, zero for noInput.
func optTime(ms int64) time.Time {
	if ms == noInput {
		return time.Time{}
	}
	return msTime(ms)
}

// optMS is optTime's inverse.
func optMS(t time.Time) int64 {
	if t.IsZero() {
		return noInput
	}
	return t.UnixMilli()
}

// Snapshots returns every user's snapshot.
func (e *Engine) Snapshots() []Snapshot {
	out := make([]Snapshot, 0, len(e.users))
	for name := range e.users {
		s, _ := e.Snapshot(name)
		out = append(out, s)
	}
	return out
}

// restoreUser rebuilds a user from its snapshot, as it was when taken.
func (e *Engine) restoreUser(s Snapshot) *user {
	u := &user{
		name:       s.User,
		heapIdx:    -1,
		deadline:   never,
		mark:       s.At.UnixMilli(),
		counted:    s.Counted.Milliseconds(),
		warnShown:  s.WarnShown.Milliseconds(),
		warning:    s.Warning,
		resumedAt:  s.ResumedAt.UnixMilli(),
		resumeFrom: s.ResumeFrom.UnixMilli(),
		pageInput:  optMS(s.PageInput),
		pageHidden: s.PageHidden,
		call:       s.Call,
	}
	u.desk = deskState(max(slices.Index(deskNames[:], s.Desk), 0))
	for _, p := range s.Counting[max(len(s.Counting)-historyLen, 0):] {
		u.past.add(span{p.From.UnixMilli(), p.Early.UnixMilli(), p.To.UnixMilli()})
	}
	for _, x := range s.Sessions {
		ss := &session{
			src: x.Source, lastSeen: x.LastSeen.UnixMilli(),
			lastInput: optMS(x.LastInput), applied: optMS(x.Applied),
			deskSince: x.DeskSince.UnixMilli(), frontSince: x.FrontSince.UnixMilli(),
			known: x.Known, minimized: x.Minimized, notFront: x.NotInFront, locked: x.Locked, voice: x.Voice, mic: x.Mic,
		}
		ss.status = SensorStatus(max(slices.Index(sensorNames[:], x.Sensor), 0))
		u.sessions = append(u.sessions, ss)
		if x.Key == s.DeskSession {
			u.deskSess = ss
		}
	}
	u.tl.load(s.Timeline)
	// As it was, so restoring is not a resume.
	u.counting = e.settings.Enabled && u.desk == deskOpen && u.paused() == 0
	u.voiceHold = u.counting && u.speaking() && !u.warning
	u.reported.status = unreported // so the state is restated
	if u.warning {
		u.announced = u.mark + max(e.timeout-u.counted, e.warnMin-u.warnShown)
	}
	return u
}

// Restore loads snapshots taken before a restart (DESIGN §1, Restart). The
// coordinator ran, with no events, until aliveUntil (it records that mark
// every second, so a crash loses at most that second): each snapshot is
// played forward to then, firing what fell due, exactly as if the
// coordinator had stayed up. The time from aliveUntil to now, when it was
// down, is not counted: nobody could have been warned during it. Input made
// during it counts at the restart, as at a resume. After an outage, no
// warning or logout is decided for a user until one of their sensors has
// reported again or the heartbeat grace has passed: agents need a moment to
// reconnect and tell what the user did meanwhile. Each live sensor gets a
// fresh grace. The decisions returned include a restatement of each user's
// state (and any warning showing) for the dashboard and agents.
//
// Call it on a new engine, before any event: an event moves the engine's
// clock, and the restore would take that instant as the last one the
// coordinator ran, counting the outage and firing all it made due.
func (e *Engine) Restore(now, aliveUntil time.Time, snaps []Snapshot) []Decision {
	t, alive := now.UnixMilli(), aliveUntil.UnixMilli()
	e.out = e.out[:0]
	for _, s := range snaps {
		u := e.restoreUser(s)
		e.Remove(u.name)
		e.users[u.name] = u
		e.sched.set(u, e.deadline(u, u.mark))
		e.now = max(e.now, u.mark)
	}
	// Up to aliveUntil the coordinator was running: play it forward.
	alive = max(alive, e.now)
	e.now = min(e.now, alive)
	e.begin(msTime(alive))
	// From aliveUntil to now it was down: freeze.
	down := max(t-alive, 0)
	e.now = alive + down
	for _, u := range e.users {
		e.elapse(u, alive)
		u.mark = e.now
		for _, s := range u.sessions {
			if s.status == SensorLive {
				s.lastSeen += down
			}
		}
		if down > 0 {
			u.held = e.now + e.grace
			if u.counting {
				u.past.add(span{u.resumedAt, u.resumeFrom, alive})
				u.resumedAt, u.resumeFrom = e.now, alive
			}
		}
		u.announced = 0 // so a showing warning is restated
		e.settle(u, e.now)
	}
	return e.out
}
