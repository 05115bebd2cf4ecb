package engine

// A user may have live desktop sessions on several workstations at once
// (DESIGN §1, Identity). Input and voice count only from the desk session:
// the one whose Agent Desk was most recently in front. Only it can pause the
// clock, and a session takes the role only by showing the Agent Desk, so a
// session left open elsewhere can neither pause nor keep the user.

// session is one desktop session's sensor as the engine knows it.
type session struct {
	src        Source
	status     SensorStatus // live, or stale (only the desk session is kept stale)
	lastSeen   int64
	lastInput  int64 // newest input estimate, jitter included: the resume rule's
	applied    int64 // the last estimate taken as new input
	deskSince  int64 // when it last became the desk session
	frontSince int64 // when its Agent Desk last came to front

	known                                   bool // its window flags came in a reading since it (re)started
	minimized, notFront, locked, voice, mic bool
}

// showing: the Agent Desk is in front of an unlocked screen, where someone
// can be working in it.
func (s *session) showing() bool {
	return s.status == SensorLive && s.known && !s.minimized && !s.notFront && !s.locked
}

// sessionFor returns u's session for src, opening it on first sight.
func (u *user) sessionFor(src Source, t int64) *session {
	for _, s := range u.sessions {
		if s.src.Key == src.Key {
			if src.Host != "" {
				s.src.Host = src.Host
			}
			return s
		}
	}
	s := &session{src: src, status: SensorLive, lastSeen: t, lastInput: noInput, applied: noInput}
	u.sessions = append(u.sessions, s)
	return s
}

// live counts u's live sessions.
func (u *user) live() int {
	n := 0
	for _, s := range u.sessions {
		if s.status == SensorLive {
			n++
		}
	}
	return n
}

// sensorOf is the session whose sensor status the dashboard shows: the desk
// session, else any live one, else none.
func (u *user) sensorOf() *session {
	if u.deskSess != nil {
		return u.deskSess
	}
	for _, s := range u.sessions {
		if s.status == SensorLive {
			return s
		}
	}
	return nil
}

// sensorStatus is the status the user's state reports.
func (u *user) sensorStatus() SensorStatus {
	if s := u.sensorOf(); s != nil {
		return s.status
	}
	return SensorNone
}

// takeDesk makes s the desk session at t, reporting the move. Input s made
// within ResumeWindow before it (the click that brought its Agent Desk to
// front) counts at t, as at a resume.
func (e *Engine) takeDesk(u *user, s *session, t int64) {
	from := u.deskSess
	if from == s {
		return
	}
	u.deskSess, s.deskSince = s, t
	if from != nil {
		u.tl.add(t, SignalDeskMoved)
		e.emit(Decision{Kind: DecisionDeskMoved, User: u.name, At: msTime(t), From: from.src, To: s.src})
		if from.status != SensorLive {
			u.drop(from)
		}
	}
	if s.lastInput >= t-ResumeWindow.Milliseconds() {
		e.input(u, t, t)
	}
}

// chooseDesk picks, at a desk login or when the desk session is lost, the
// session now showing the Agent Desk that came to it last; nil when none.
func (u *user) chooseDesk() *session {
	var best *session
	for _, s := range u.sessions {
		if s.showing() && (best == nil || s.frontSince > best.frontSince) {
			best = s
		}
	}
	return best
}

// drop forgets s.
func (u *user) drop(s *session) {
	for i, x := range u.sessions {
		if x == s {
			u.sessions = append(u.sessions[:i], u.sessions[i+1:]...)
			return
		}
	}
}

// expire applies the heartbeat grace at t: a silent session other than the
// desk session is forgotten; the silent desk session goes stale, dropping
// what it said, so killing it never avoids a logout, and another session
// showing the Agent Desk takes over.
func (e *Engine) expire(u *user, t int64) {
	for i := 0; i < len(u.sessions); i++ {
		s := u.sessions[i]
		if s.status != SensorLive || t < s.lastSeen+e.grace {
			continue
		}
		if s != u.deskSess {
			u.drop(s)
			i--
			continue
		}
		s.status = SensorStale
		s.minimized, s.notFront, s.locked, s.voice, s.known = false, false, false, false, false
		u.tl.add(t, SignalSensorLost)
		e.emit(Decision{Kind: DecisionSensorLost, User: u.name, At: msTime(t)})
		if next := u.chooseDesk(); next != nil {
			e.takeDesk(u, next, t)
			i = -1 // the list changed
		}
	}
}

// nextExpiry is the earliest instant a live session's grace runs out.
func (u *user) nextExpiry(grace int64) int64 {
	d := int64(never)
	for _, s := range u.sessions {
		if s.status == SensorLive {
			d = min(d, s.lastSeen+grace)
		}
	}
	return d
}
