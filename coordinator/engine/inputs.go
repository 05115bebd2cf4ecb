package engine

import "time"

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
