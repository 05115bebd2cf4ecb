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
		u = &user{name: name, heapIdx: -1, deadline: never, mark: t, pageInput: noInput}
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

// input applies keyboard or mouse input made at in (≤ t), judged by the
// state at that instant (user.since): input while counting resets I as of
// in, input within ResumeWindow before a resume counts at the resume, other
// input while not counted does nothing.
func (e *Engine) input(u *user, in, t int64) {
	from, i, ok := u.since(in, t)
	if !ok || i >= u.counted {
		return
	}
	u.counted = i
	u.tl.restart(from, SignalInput)
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
// switch and the desk session. Window reasons come from the desk session's
// live sensor, and from the page only while there is none.
func (u *user) paused() Reasons {
	var r Reasons
	if u.call {
		r |= ReasonOnCall
	}
	s := u.deskSess
	switch {
	case s != nil && s.status == SensorLive:
		switch {
		case s.locked:
			// A locked workstation keeps counting: window exceptions are ignored.
		case s.minimized:
			r |= ReasonMinimized
		case s.notFront:
			r |= ReasonNotInFront
		}
	case u.pageHidden:
		r |= ReasonNotInFront
	}
	return r
}

// settle applies every rule that holds for u at t after a change, reports
// what changed, and reschedules u.
func (e *Engine) settle(u *user, t int64) {
	e.expire(u, t)
	if u.held != 0 && t >= u.held {
		u.held = 0
	}

	counting := e.settings.Enabled && u.desk == deskOpen && u.paused() == 0
	if counting != u.counting {
		u.counting = counting
		if counting {
			u.resumedAt, u.resumeFrom = t, t-ResumeWindow.Milliseconds()
			if u.lastInput() >= u.resumeFrom {
				u.counted = 0
				u.tl.restart(t, SignalInput)
				e.belowWarning(u, t, WithdrawDismissed)
			}
		} else {
			u.past.add(span{u.resumedAt, u.resumeFrom, t})
			if u.warning {
				e.withdraw(u, t, e.whyNotCounting(u))
			}
		}
	}

	if u.counting && u.held == 0 {
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
	s := u.deskSess
	hold := u.counting && s != nil && s.status == SensorLive && s.voice && !s.locked && !u.warning
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

	if st := e.state(u); st.Status != u.reported.status || st.Reasons != u.reported.reasons || st.Sensor != u.reported.sensor ||
		st.DeskHost != u.reported.deskHost || st.Sessions != u.reported.sessions {
		u.reported.status, u.reported.reasons, u.reported.sensor = st.Status, st.Reasons, st.Sensor
		u.reported.deskHost, u.reported.sessions = st.DeskHost, st.Sessions
		e.emit(Decision{Kind: DecisionChanged, User: u.name, At: msTime(t), State: st})
	}

	e.sched.set(u, e.deadline(u, t))
}

// lastInput is the newest input that can count at a resume: the desk
// session's newest estimate, or the page's.
func (u *user) lastInput() int64 {
	in := u.pageInput
	if u.deskSess != nil {
		in = max(in, u.deskSess.lastInput)
	}
	return in
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
	u.past.forget()
	u.tl.add(t, SignalLoggedOut)
	e.emit(Decision{Kind: DecisionLogout, User: u.name, At: msTime(t), Timeline: u.tl.signals()})
}

// deadline is the next instant u's state changes by itself: a sensor's
// grace runs out, the warning shows, the logout comes, or a restart's hold
// ends with one of those due.
func (e *Engine) deadline(u *user, t int64) int64 {
	d := u.nextExpiry(e.grace)
	if u.counting && !u.voiceHold {
		var due int64
		if !u.warning {
			due = t + e.warnAt - u.counted
		} else {
			due = t + max(e.timeout-u.counted, e.warnMin-u.warnShown)
		}
		d = min(d, max(due, u.held))
	}
	return d
}

// msTime turns engine milliseconds back into a time.
func msTime(ms int64) time.Time { return time.UnixMilli(ms) }

func (e *Engine) emit(d Decision) { e.out = append(e.out, d) }

// flip sets *b to v, noting a change in u's timeline when it tells.
func flip(u *user, tells bool, b *bool, v bool, t int64, on, off SignalKind) {
	if *b == v {
		return
	}
	*b = v
	if !tells {
		return
	}
	if v {
		u.tl.add(t, on)
	} else {
		u.tl.add(t, off)
	}
}
