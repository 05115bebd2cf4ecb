package engine

import "time"

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
