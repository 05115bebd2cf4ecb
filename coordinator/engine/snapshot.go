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
	LastInput  time.Time     `json:"last_input,omitzero"`
	Sensor     string        `json:"sensor"`
	LastSeen   time.Time     `json:"last_seen"`
	Minimized  bool          `json:"minimized,omitempty"`
	NotInFront bool          `json:"not_in_front,omitempty"`
	Locked     bool          `json:"locked,omitempty"`
	Voice      bool          `json:"voice,omitempty"`
	Mic        bool          `json:"mic,omitempty"`
	PageHidden bool          `json:"page_hidden,omitempty"`
	Call       bool          `json:"call,omitempty"`
	Timeline   []Signal      `json:"timeline,omitempty"`
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
		Sensor:     u.sensor.String(),
		LastSeen:   msTime(u.lastSeen),
		Minimized:  u.minimized,
		NotInFront: u.notFront,
		Locked:     u.locked,
		Voice:      u.voice,
		Mic:        u.mic,
		PageHidden: u.pageHidden,
		Call:       u.call,
		Timeline:   u.tl.signals(),
	}
	if u.lastInput != noInput {
		s.LastInput = msTime(u.lastInput)
	}
	return s, true
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

// Restore loads snapshots taken before a restart. The coordinator ran, with
// no events, until aliveUntil (it records that mark every second, so a crash
// loses at most that second): each snapshot is played forward to then, firing
// what fell due, exactly as if the coordinator had stayed up. The time from
// aliveUntil to now, when it was down, is not counted — nobody could have
// been warned during it — so a restart neither resets a clock nor brings a
// warning or logout early. Each live sensor gets a fresh grace to reconnect;
// input made during the downtime still resets the clock when the sensor's
// fresh reading reports it. The decisions returned include a restatement of
// each user's state (and any warning showing) for the dashboard and agents.
func (e *Engine) Restore(now, aliveUntil time.Time, snaps []Snapshot) []Decision {
	t, alive := now.UnixMilli(), aliveUntil.UnixMilli()
	e.out = e.out[:0]
	for _, s := range snaps {
		at := s.At.UnixMilli()
		u := &user{
			name:       s.User,
			heapIdx:    -1,
			deadline:   never,
			mark:       at,
			counted:    s.Counted.Milliseconds(),
			warnShown:  s.WarnShown.Milliseconds(),
			warning:    s.Warning,
			resumedAt:  s.ResumedAt.UnixMilli(),
			lastInput:  noInput,
			lastSeen:   s.LastSeen.UnixMilli(),
			minimized:  s.Minimized,
			notFront:   s.NotInFront,
			locked:     s.Locked,
			voice:      s.Voice,
			mic:        s.Mic,
			pageHidden: s.PageHidden,
			call:       s.Call,
		}
		u.desk = deskState(max(slices.Index(deskNames[:], s.Desk), 0))
		u.sensor = SensorStatus(max(slices.Index(sensorNames[:], s.Sensor), 0))
		if !s.LastInput.IsZero() {
			u.lastInput = s.LastInput.UnixMilli()
		}
		u.tl.load(s.Timeline)
		// As it was, so restoring is not a resume.
		u.counting = e.settings.Enabled && u.desk == deskOpen && u.paused() == 0
		u.voiceHold = u.counting && u.voice && !u.locked && !u.warning
		u.reported.status = unreported // so the state is restated
		if u.warning {
			u.announced = at + max(e.timeout-u.counted, e.warnMin-u.warnShown)
		}
		e.Remove(u.name)
		e.users[u.name] = u
		e.sched.set(u, e.deadline(u, at))
		e.now = max(e.now, at)
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
		if u.sensor == SensorLive {
			u.lastSeen += down
		}
		u.announced = 0 // so a showing warning is restated
		e.settle(u, e.now)
	}
	return e.out
}
