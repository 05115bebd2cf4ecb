package engine

import "time"

// Advance fires every rule due by now. The returned slice is valid until the
// next call, as for every method that returns decisions.
func (e *Engine) Advance(now time.Time) []Decision {
	e.begin(now)
	return e.out
}

// Reading applies a full sensor report from one of user's desktop sessions.
func (e *Engine) Reading(now time.Time, name string, src Source, r Reading) []Decision {
	t, u := e.touch(now, name)
	s := e.heard(u, src, t)
	s.mic = r.MicAvailable
	// Input is judged by the state when it happened, before this reading's
	// window changes; only the desk session's input is input in the Agent
	// Desk. An estimate within InputJitter of the last one taken is that
	// input again, seen through network delay.
	in, fresh := t-max(r.Idle.Milliseconds(), 0), false
	if in > s.lastInput {
		s.lastInput = in
		if in > s.applied+InputJitter.Milliseconds() {
			s.applied, fresh = in, true
			if s == u.deskSess && in >= s.deskSince-ResumeWindow.Milliseconds() {
				e.input(u, max(in, s.deskSince), t)
			}
		}
	}
	wasShowing := s.showing()
	desk := s == u.deskSess
	s.known = true
	flip(u, desk, &s.minimized, r.Minimized, t, SignalMinimized, SignalRestored)
	flip(u, desk, &s.notFront, !r.Foreground, t, SignalLeftFront, SignalInFront)
	flip(u, desk, &s.locked, r.Locked, t, SignalLocked, SignalUnlocked)
	flip(u, desk, &s.voice, r.Voice, t, SignalVoiceOn, SignalVoiceOff)
	// A session takes the desk role by bringing the Agent Desk to front, or
	// by input while it is there: the user works in it.
	if s.showing() && !wasShowing {
		s.frontSince = t
	}
	if u.desk == deskOpen && s.showing() && (!wasShowing || fresh) {
		e.takeDesk(u, s, t)
	}
	e.settle(u, t)
	return e.out
}

// Heartbeat notes that one of user's sessions is alive with nothing changed.
func (e *Engine) Heartbeat(now time.Time, name string, src Source) []Decision {
	t, u := e.touch(now, name)
	e.heard(u, src, t)
	e.settle(u, t)
	return e.out
}

// heard notes a message from src at t: its session is live, and the user's
// sensor has reported since a restart.
func (e *Engine) heard(u *user, src Source, t int64) *session {
	s := u.sessionFor(src, t)
	if s.status != SensorLive && s == u.deskSess {
		u.tl.add(t, SignalSensorLive)
	}
	s.status, s.lastSeen = SensorLive, t
	u.held = 0
	return s
}

// DeskLogin starts user's clock at 0: they logged in to the Agent Desk. The
// desk session is the one showing the Agent Desk now, if any: a session
// that has not shown it since the login cannot pause the clock.
func (e *Engine) DeskLogin(now time.Time, name string) []Decision {
	t, u := e.touch(now, name)
	if u.warning {
		e.withdraw(u, t, WithdrawDismissed)
	}
	u.desk = deskOpen
	u.counted, u.warnShown = 0, 0
	u.counting = false // so settle starts it as a resume
	u.past.forget()
	if u.deskSess == nil || !u.deskSess.showing() {
		if u.deskSess = u.chooseDesk(); u.deskSess != nil {
			u.deskSess.deskSince = t
		}
	}
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
	flip(u, true, &u.call, active, t, SignalCallStarted, SignalCallEnded)
	e.settle(u, t)
	return e.out
}

// PageInput is keyboard or mouse input seen by the Agent Desk page itself.
func (e *Engine) PageInput(now time.Time, name string) []Decision {
	t, u := e.touch(now, name)
	if t > u.pageInput {
		u.pageInput = t
		e.input(u, t, t)
	}
	e.settle(u, t)
	return e.out
}

// PageVisibility is the Agent Desk page's Page Visibility state. It pauses
// the clock only while no live sensor speaks for the user.
func (e *Engine) PageVisibility(now time.Time, name string, visible bool) []Decision {
	t, u := e.touch(now, name)
	flip(u, true, &u.pageHidden, !visible, t, SignalPageHidden, SignalPageVisible)
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
			u.past.forget()
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
