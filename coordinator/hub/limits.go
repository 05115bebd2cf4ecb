package hub

import (
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/vigil-cc/vigil/coordinator/engine"
	"github.com/vigil-cc/vigil/coordinator/ratelimit"
	"github.com/vigil-cc/vigil/protocol"
)

// What one agent may send (docs/protocol.md, "Limits"). A real agent sends
// on change, polling its desktop 4 times a second, and a heartbeat every
// 20 s: it never comes near these. Past a message limit the connection is
// closed (1008, audited once per connection); past the flip limit a
// session's pause flags are held back, not refused.
var (
	// DefaultSessionLimit: readings and heartbeats per session.
	DefaultSessionLimit = ratelimit.Limit{Every: 100 * time.Millisecond, Burst: 40}
	// DefaultConnLimit: hello, session_open and session_close per
	// device, and the messages of sessions it does not know. Its burst
	// grows by twice MaxSessions, since a reconnecting terminal server
	// reopens every session at once, and may have to twice in a row.
	DefaultConnLimit = ratelimit.Limit{Every: 50 * time.Millisecond, Burst: 100}
	// DefaultFlipLimit: changes of the flags that pause the clock
	// (foreground, minimized, locked) per session. A person switching
	// windows stays under it; a sensor flapping them (each flip during a
	// warning is a withdraw and a warn, audited and sent to the platform)
	// has its later flips passed on at this pace, the newest state last.
	DefaultFlipLimit = ratelimit.Limit{Every: time.Second, Burst: 4}
)

// flips holds back a session's pause-flag changes beyond Config.FlipLimit:
// a reading that changes them too soon passes on with the flags as they
// were (its idle time, voice and mic go through), and the newest held
// state is passed on when the limit allows, its idle time advanced. The
// engine's rules are untouched: it just hears of a flapping sensor's
// changes at a human pace.
type flips struct {
	mu      sync.Mutex // held while passing a reading on, so they stay in order
	lim     *rate.Limiter
	have    bool
	passed  engine.Reading // the flags last passed on
	held    *engine.Reading
	heldAt  time.Time
	timer   *time.Timer
	stopped bool
	now     func() time.Time
}

func newFlips(lim *rate.Limiter, now func() time.Time) *flips {
	return &flips{lim: lim, now: now}
}

// maxLimitKeys bounds each of the hub's keyed limits (ratelimit.Keyed):
// beyond it, new devices or sessions share one budget until old ones idle.
const maxLimitKeys = 100000

// sessionKey keys a session's limits: its device and id.
func sessionKey(device, session string) string { return device + "\x00" + session }

func samePause(a, b engine.Reading) bool {
	return a.Foreground == b.Foreground && a.Minimized == b.Minimized && a.Locked == b.Locked
}

// pass gives r (arrived at now) to deliver, or r with the pause flags held
// back; release is called later, from a timer, with the held state.
func (f *flips) pass(now time.Time, r engine.Reading, deliver func(engine.Reading)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopped {
		return
	}
	if !f.have || samePause(r, f.passed) || f.lim.AllowN(now, 1) {
		f.held = nil
		f.have, f.passed = true, r
		deliver(r)
		return
	}
	held := r
	f.held, f.heldAt = &held, now
	r.Foreground, r.Minimized, r.Locked = f.passed.Foreground, f.passed.Minimized, f.passed.Locked
	deliver(r)
	if f.timer == nil {
		wait := ratelimit.WaitAt(f.lim, now)
		f.timer = time.AfterFunc(wait, func() { f.release(deliver) })
	}
}

// release passes the held state on once the limit allows.
func (f *flips) release(deliver func(engine.Reading)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.timer = nil
	if f.stopped || f.held == nil {
		return
	}
	now := f.now()
	if wait := ratelimit.WaitAt(f.lim, now); wait > 0 {
		f.timer = time.AfterFunc(wait, func() { f.release(deliver) })
		return
	}
	f.lim.AllowN(now, 1)
	r := *f.held
	r.Idle += max(now.Sub(f.heldAt), 0)
	f.held, f.passed = nil, r
	deliver(r)
}

// stop drops what is held (the session or connection ended).
func (f *flips) stop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stopped, f.held = true, nil
	if f.timer != nil {
		f.timer.Stop()
	}
}

// admit counts msg against its device's or its session's limit; past it,
// the connection is closed as a flood (audited once per device).
func (c *conn) admit(msg protocol.Message) error {
	now := c.h.core.Now()
	lim := c.msgs
	switch m := msg.(type) {
	case protocol.Reading:
		lim = c.sessionLimit(m.Session, lim)
	case protocol.Heartbeat:
		lim = c.sessionLimit(m.Session, lim)
	}
	if lim.AllowN(now, 1) {
		return nil
	}
	c.auditOnce("sensor.flood", map[string]any{
		"device": c.device.ID, "host": c.host, "message": msg.Type()})
	return &protocol.Error{Code: protocol.ClosePolicyViolation, Msg: "too many messages: an agent sends on change, a few a second at most"}
}

// sessionLimit is session id's message limit, or else def.
func (c *conn) sessionLimit(id string, def *rate.Limiter) *rate.Limiter {
	c.h.mu.Lock()
	defer c.h.mu.Unlock()
	if s := c.sessions.get(id); s != nil {
		return s.msgs
	}
	return def
}
