package engine

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// The property tests check the engine against a reference that follows
// the rules of docs/engine.md the slow, obvious way — one millisecond at a time, one user at a
// time — over random event sequences for several users at once.

const grace = 45_000 // ms

type opKind int

const (
	opLogin opKind = iota
	opDeskLogout
	opReading
	opHeartbeat
	opCall
	opPageInput
	opPageVisible
	opSettings
	numOps
)

type op struct {
	at   int64 // ms from base
	user int
	sess int // opReading, opHeartbeat: which of the user's desktop sessions
	kind opKind
	// opReading: input made delay ms before the report
	input                    bool
	delay                    int64
	min, back, locked, voice bool
	// opCall, opPageVisible, opSettings (enabled)
	on      bool
	timeout int64 // opSettings, ms
}

// sessions per user: enough for a desk session, one that takes over and
// one left open elsewhere.
const sessions = 3

func genOps(t *rapid.T, users int) []op {
	n := rapid.IntRange(1, 60).Draw(t, "n")
	var ops []op
	var now int64
	for range n {
		// Mostly close together, so rules meet at their edges (the 1 s
		// resume window), sometimes far apart, so clocks run out.
		if rapid.IntRange(0, 2).Draw(t, "far") == 0 {
			now += int64(rapid.IntRange(0, 30).Draw(t, "gap")) * 1000
		} else {
			now += int64(rapid.IntRange(0, 2).Draw(t, "gap")) * 1000
		}
		o := op{at: now, user: rapid.IntRange(0, users-1).Draw(t, "user"), kind: opKind(rapid.IntRange(0, int(numOps)-1).Draw(t, "kind"))}
		switch o.kind {
		case opReading:
			o.sess = rapid.IntRange(0, sessions-1).Draw(t, "sess")
			o.input = rapid.Bool().Draw(t, "input")
			// Reported at once, a little late (jitter-close to other input),
			// or after a pause may have begun.
			o.delay = rapid.SampledFrom([]int64{0, 0, 100, 400, 1500}).Draw(t, "delay")
			o.min = rapid.IntRange(0, 3).Draw(t, "min") == 0
			o.back = rapid.IntRange(0, 3).Draw(t, "back") == 0
			o.locked = rapid.IntRange(0, 5).Draw(t, "locked") == 0
			o.voice = rapid.IntRange(0, 3).Draw(t, "voice") == 0
		case opHeartbeat:
			o.sess = rapid.IntRange(0, sessions-1).Draw(t, "sess")
		case opCall, opPageVisible:
			o.on = rapid.Bool().Draw(t, "on")
		case opSettings:
			o.on = rapid.IntRange(0, 4).Draw(t, "enabled") != 0
			o.timeout = int64(rapid.SampledFrom([]int{30, 31, 33, 45, 60}).Draw(t, "timeout")) * 1000
		}
		ops = append(ops, o)
	}
	return ops
}

// refSession is one desktop session's sensor in the reference.
type refSession struct {
	status                          SensorStatus // SensorNone: not (or no longer) known
	lastSeen, lastInput, applied    int64
	deskSince, frontSince           int64
	known, min, back, locked, voice bool
}

func (s *refSession) showing() bool {
	return s.status == SensorLive && s.known && !s.min && !s.back && !s.locked
}

// ref is one user's clock, stepped a millisecond at a time.
type ref struct {
	desk                  deskState
	i, w                  int64 // counted inactivity, warning visible time
	warning, counting     bool
	announced             int64
	resumedAt, resumeFrom int64
	periods               []span // ended counting periods, oldest first
	pageInput             int64
	pageHidden, call      bool
	sess                  [sessions]refSession
	order                 []int // sessions by first sight, as the engine keeps them
	deskSess              int   // -1: none
	log                   []string
}

type world struct {
	enabled bool
	timeout int64
}

func newRef() *ref { return &ref{pageInput: noInput, deskSess: -1} }

func (r *ref) deskLive() bool { return r.deskSess >= 0 && r.sess[r.deskSess].status == SensorLive }

func (r *ref) pausedNow() bool {
	var window bool
	if r.deskLive() {
		d := &r.sess[r.deskSess]
		window = !d.locked && (d.min || d.back)
	} else {
		window = r.pageHidden
	}
	return r.call || window
}

// heard: a message from session k at t.
func (r *ref) heard(k int, t int64) *refSession {
	s := &r.sess[k]
	if s.status == SensorNone {
		*s = refSession{lastInput: noInput, applied: noInput}
		r.order = append(r.order, k)
	}
	s.status, s.lastSeen = SensorLive, t
	return s
}

func (r *ref) drop(k int) {
	r.sess[k].status = SensorNone
	r.order = slices.DeleteFunc(r.order, func(x int) bool { return x == k })
}

// choose: the session showing the desk that came to it last (the first
// seen among equals).
func (r *ref) choose() int {
	best := -1
	for _, k := range r.order {
		if r.sess[k].showing() && (best < 0 || r.sess[k].frontSince > r.sess[best].frontSince) {
			best = k
		}
	}
	return best
}

func (r *ref) takeDesk(wd world, k int, t int64) {
	from := r.deskSess
	if from == k {
		return
	}
	r.deskSess = k
	r.sess[k].deskSince = t
	if from >= 0 {
		r.log = append(r.log, fmt.Sprintf("%d desk_moved h%d h%d", t, from, k))
		if r.sess[from].status != SensorLive {
			r.drop(from)
		}
	}
	if r.sess[k].lastInput >= t-1000 {
		r.input(wd, t, t)
	}
}

// since: when input made at in takes effect and how much was counted from
// then to t, by the counting periods (the engine keeps the newest four).
func (r *ref) since(in, t int64) (from, i int64, ok bool) {
	if r.counting {
		if in >= r.resumeFrom {
			return max(in, r.resumedAt), t - max(in, r.resumedAt), true
		}
		i = t - r.resumedAt
	}
	for k := len(r.periods) - 1; k >= max(len(r.periods)-historyLen, 0); k-- {
		p := r.periods[k]
		if in >= p.early {
			if in >= p.to {
				return 0, 0, false
			}
			return max(in, p.from), i + p.to - max(in, p.from), true
		}
		i += p.to - p.from
	}
	return 0, 0, false
}

func (r *ref) input(wd world, in, t int64) {
	_, i, ok := r.since(in, t)
	if !ok || i >= r.i {
		return
	}
	r.i = i
	if i < wd.timeout*4/5 {
		r.belowWarning(t, "dismissed")
	}
}

func (r *ref) lastInput() int64 {
	in := r.pageInput
	if r.deskSess >= 0 {
		in = max(in, r.sess[r.deskSess].lastInput)
	}
	return in
}

// settle applies the instantaneous rules at t.
func (r *ref) settle(wd world, t int64) {
	warnAt, warnMin := wd.timeout*4/5, wd.timeout/5
	for again := r.expiring(t); again; {
		again = false
		for _, k := range slices.Clone(r.order) {
			s := &r.sess[k]
			if s.status != SensorLive || t < s.lastSeen+grace {
				continue
			}
			if k != r.deskSess {
				r.drop(k)
				continue
			}
			s.status = SensorStale
			s.min, s.back, s.locked, s.voice, s.known = false, false, false, false, false
			r.log = append(r.log, fmt.Sprintf("%d sensor_lost", t))
			if next := r.choose(); next >= 0 {
				r.takeDesk(wd, next, t)
				again = true
				break
			}
		}
	}
	counting := wd.enabled && r.desk == deskOpen && !r.pausedNow()
	if counting && !r.counting {
		r.resumedAt, r.resumeFrom = t, t-1000
		if r.lastInput() >= t-1000 {
			r.reset(t)
		}
	}
	if !counting && r.counting {
		r.periods = append(r.periods, span{r.resumedAt, r.resumeFrom, t})
		if r.warning {
			r.withdraw(t, map[bool]string{true: "paused", false: "disabled"}[wd.enabled])
			if wd.enabled && r.desk != deskOpen {
				r.log[len(r.log)-1] = fmt.Sprintf("%d withdraw desk_logout", t)
			}
		}
	}
	r.counting = counting
	if counting {
		if !r.warning && r.i >= warnAt {
			r.warning = true
		}
		if r.warning && r.i >= wd.timeout && r.w >= warnMin {
			r.log = append(r.log, fmt.Sprintf("%d logout", t))
			r.desk, r.warning, r.counting, r.announced = deskLoggedOut, false, false, 0
			r.periods = nil
		}
		if r.voiceHold() {
			r.i = 0
		}
	}
	if r.warning {
		if d := t + max(wd.timeout-r.i, warnMin-r.w); d != r.announced {
			r.announced = d
			r.log = append(r.log, fmt.Sprintf("%d warn %d", t, d))
		}
	}
}

func (r *ref) voiceHold() bool {
	if !r.counting || r.warning || !r.deskLive() {
		return false
	}
	d := &r.sess[r.deskSess]
	return d.voice && !d.locked
}

// expiring: some live session's grace has run out at t.
func (r *ref) expiring(t int64) bool {
	for _, k := range r.order {
		if s := &r.sess[k]; s.status == SensorLive && t >= s.lastSeen+grace {
			return true
		}
	}
	return false
}

// reset is activity: I = 0, and with it the warning period ends.
func (r *ref) reset(t int64) {
	r.i = 0
	r.belowWarning(t, "dismissed")
}

func (r *ref) belowWarning(t int64, why string) {
	r.w = 0
	if r.warning {
		r.withdraw(t, why)
	}
}

func (r *ref) withdraw(t int64, why string) {
	r.warning, r.announced = false, 0
	r.log = append(r.log, fmt.Sprintf("%d withdraw %s", t, why))
}

// tick lets one millisecond pass.
func (r *ref) tick() {
	if r.counting && !r.voiceHold() {
		r.i++
		if r.warning {
			r.w++
		}
	}
}

// apply runs o at t; in is the workstation's last input (for readings).
func (r *ref) apply(wd world, o op, in, t int64) {
	switch o.kind {
	case opLogin:
		if r.warning {
			r.withdraw(t, "dismissed")
		}
		r.desk, r.i, r.w, r.counting, r.periods = deskOpen, 0, 0, false, nil
		if r.deskSess < 0 || !r.sess[r.deskSess].showing() {
			if r.deskSess = r.choose(); r.deskSess >= 0 {
				r.sess[r.deskSess].deskSince = t
			}
		}
	case opDeskLogout:
		r.desk = deskNone
		r.settle(wd, t)
		r.i, r.w = 0, 0
	case opReading:
		s := r.heard(o.sess, t)
		fresh := false
		if in > s.lastInput {
			s.lastInput = in
			if in > s.applied+250 {
				s.applied, fresh = in, true
				if o.sess == r.deskSess && in >= s.deskSince-1000 {
					r.input(wd, max(in, s.deskSince), t)
				}
			}
		}
		was := s.showing()
		s.known, s.min, s.back, s.locked, s.voice = true, o.min, o.back || o.min, o.locked, o.voice
		if s.showing() && !was {
			s.frontSince = t
		}
		if r.desk == deskOpen && s.showing() && (!was || fresh) {
			r.takeDesk(wd, o.sess, t)
		}
	case opHeartbeat:
		r.heard(o.sess, t)
	case opCall:
		r.call = o.on
	case opPageInput:
		if t > r.pageInput {
			r.pageInput = t
			r.input(wd, t, t)
		}
	case opPageVisible:
		r.pageHidden = !o.on
	}
	r.settle(wd, t)
}

func TestEngineMatchesReference(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		const users = 3
		ops := genOps(t, users)
		end := ops[len(ops)-1].at + 200_000

		// Reference: every user stepped per millisecond.
		wd := world{enabled: true, timeout: 30_000}
		trueInput := newInputs(users)
		refs := make([]*ref, users)
		for i := range refs {
			refs[i] = newRef()
		}
		next := 0
		for ms := int64(0); ms <= end; ms++ {
			// Rules due at an instant fire before the events of that instant.
			for _, r := range refs {
				r.settle(wd, ms)
			}
			for next < len(ops) && ops[next].at == ms {
				o := ops[next]
				next++
				if o.kind == opSettings {
					old := wd
					wd = world{enabled: o.on, timeout: o.timeout}
					for _, r := range refs {
						switch {
						case !old.enabled && wd.enabled:
							r.i, r.w, r.counting = 0, 0, false
						case old.enabled == wd.enabled && old.timeout != wd.timeout && r.i < wd.timeout*4/5:
							r.belowWarning(ms, "settings")
						}
						r.settle(wd, ms)
					}
					continue
				}
				refs[o.user].apply(wd, o, trueInput.next(o), ms)
			}
			for _, r := range refs {
				r.tick()
			}
		}

		// Engine: driven as the coordinator drives it.
		d := newDriver(t, users)
		d.run(ops)
		d.advance(end)

		for u := range users {
			if !slices.Equal(d.logs[u], refs[u].log) {
				t.Fatalf("user %d:\n engine    %v\n reference %v", u, d.logs[u], refs[u].log)
			}
		}
	})
}

// driver feeds ops to an engine as the coordinator would — one timer for the
// next deadline — logging each user's decisions and checking the invariants
// that must hold whatever the sequence.
type driver struct {
	t         *rapid.T
	e         *Engine
	logs      [][]string
	changes   [][]string // each user's decisions, Changed included
	trueInput inputs     // each workstation's real last input
	last      []State    // each user's state after the previous call
}

func newDriver(t *rapid.T, users int) *driver {
	d := &driver{
		t:         t,
		e:         New(Settings{Enabled: true, Timeout: 30 * time.Second}, grace*time.Millisecond),
		logs:      make([][]string, users),
		changes:   make([][]string, users),
		trueInput: newInputs(users),
		last:      make([]State, users),
	}
	return d
}

func (d *driver) collect(ds []Decision) {
	warnAt := d.e.Settings().WarnAt()
	for _, x := range ds {
		u := int(x.User[1] - '0')
		ms := x.At.Sub(base).Milliseconds()
		d.changes[u] = append(d.changes[u], fmt.Sprintf("%d %s %s %s %v", ms, x.User, x.Kind, x.Deadline.Sub(base), x.State))
		switch x.Kind {
		case DecisionWarn:
			d.logs[u] = append(d.logs[u], fmt.Sprintf("%d warn %d", ms, x.Deadline.Sub(base).Milliseconds()))
			if st, _ := d.e.State(x.User); st.Inactivity < warnAt {
				d.t.Fatalf("%s warned at %d with I = %v < 0.8·T = %v", x.User, ms, st.Inactivity, warnAt)
			}
		case DecisionWithdraw:
			d.logs[u] = append(d.logs[u], fmt.Sprintf("%d withdraw %s", ms, x.Reason))
		case DecisionLogout, DecisionSensorLost:
			d.logs[u] = append(d.logs[u], fmt.Sprintf("%d %s", ms, x.Kind))
		case DecisionDeskMoved:
			d.logs[u] = append(d.logs[u], fmt.Sprintf("%d desk_moved %s %s", ms, x.From.Host, x.To.Host))
		}
	}
}

// advance fires every deadline up to ms, checking before each that no paused
// clock moved.
func (d *driver) advance(ms int64) {
	for {
		next, ok := d.e.NextDeadline()
		if !ok || next.After(base.Add(time.Duration(ms)*time.Millisecond)) {
			break
		}
		d.checkPaused()
		d.collect(d.e.Advance(next))
		d.record()
	}
	d.e.Advance(base.Add(time.Duration(ms) * time.Millisecond))
	d.checkPaused()
}

// checkPaused: a clock paused by a live sensor or a call has not counted
// since the last call.
func (d *driver) checkPaused() {
	for u, was := range d.last {
		name := fmt.Sprintf("u%d", u)
		now, ok := d.e.State(name)
		paused := was.Status == StatusPaused && (was.Reasons&ReasonOnCall != 0 || was.Sensor == SensorLive)
		if ok && paused && now.Inactivity != was.Inactivity {
			d.t.Fatalf("%s paused (%v, sensor %v) but I went %v → %v", name, was.Reasons.Strings(), was.Sensor, was.Inactivity, now.Inactivity)
		}
	}
}

func (d *driver) record() {
	for u := range d.last {
		d.last[u], _ = d.e.State(fmt.Sprintf("u%d", u))
	}
}

func (d *driver) run(ops []op) {
	for _, o := range ops {
		d.advance(o.at)
		d.collect(d.apply(o))
		d.record()
	}
}

func (d *driver) apply(o op) []Decision {
	e, now, name := d.e, base.Add(time.Duration(o.at)*time.Millisecond), fmt.Sprintf("u%d", o.user)
	switch o.kind {
	case opLogin:
		return e.DeskLogin(now, name)
	case opDeskLogout:
		return e.DeskLogout(now, name)
	case opReading:
		in := d.trueInput.next(o)
		return e.Reading(now, name, sourceOf(o.sess), Reading{
			Idle:       time.Duration(o.at-in) * time.Millisecond,
			Foreground: !o.back && !o.min, Minimized: o.min, Locked: o.locked, Voice: o.voice,
		})
	case opHeartbeat:
		return e.Heartbeat(now, name, sourceOf(o.sess))
	case opCall:
		return e.Call(now, name, o.on)
	case opPageInput:
		return e.PageInput(now, name)
	case opPageVisible:
		return e.PageVisibility(now, name, o.on)
	case opSettings:
		return e.SetSettings(now, Settings{Enabled: o.on, Timeout: time.Duration(o.timeout) * time.Millisecond})
	}
	panic("unknown op")
}

// Snapshot → restore at the same instant gives the same future decisions,
// state changes for the dashboard included.
func TestSnapshotRestoreKeepsTheFuture(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		const users = 3
		ops := genOps(t, users)
		k := rapid.IntRange(1, len(ops)).Draw(t, "split")
		end := ops[len(ops)-1].at + 200_000

		a := newDriver(t, users)
		a.run(ops[:k])
		b := newDriver(t, users)
		b.e.SetSettings(base, a.e.Settings())
		now := base.Add(time.Duration(ops[k-1].at) * time.Millisecond)
		b.e.Restore(now, now, a.e.Snapshots())
		b.trueInput = a.trueInput.clone()
		b.record()
		a.changes = make([][]string, users)

		a.run(ops[k:])
		a.advance(end)
		b.run(ops[k:])
		b.advance(end)
		for u := range users {
			if !slices.Equal(a.changes[u], b.changes[u]) {
				t.Fatalf("user %d after restore at op %d:\n kept     %v\n restored %v", u, k, a.changes[u], b.changes[u])
			}
		}
	})
}

// inputs are each workstation's real last keyboard/mouse input, by user and
// session: what a reading's idle time is measured from.
type inputs [][sessions]int64

func newInputs(users int) inputs {
	in := make(inputs, users)
	for u := range in {
		for s := range sessions {
			in[u][s] = -3_600_000
		}
	}
	return in
}

// next applies a reading op's input (if it has one newer than the last) and
// returns the workstation's last input.
func (in inputs) next(o op) int64 {
	p := &in[o.user][o.sess]
	if o.input && o.at-o.delay > *p {
		*p = o.at - o.delay
	}
	return *p
}

func (in inputs) clone() inputs { return slices.Clone(in) }

func sourceOf(sess int) Source {
	return Source{Key: fmt.Sprintf("s%d", sess), Host: fmt.Sprintf("h%d", sess)}
}
