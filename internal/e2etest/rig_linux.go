//go:build linux

package e2etest

import (
	"fmt"
	"os/user"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/vigil-cc/vigil/internal/testrig"
	"github.com/vigil-cc/vigil/internal/username"
)

// Rig is one scenario's world: a coordinator and a workstation (Seat)
// with Chromium showing the Agent Desk and the real agent on its display,
// enrolled and live. AddSeat adds more workstations for the same user.
type Rig struct {
	*Seat
	T    testing.TB
	Co   *Coord
	User string // the Agent Desk user whose clock the agent drives
	o    RigOptions
}

// Seat is one workstation of a rig: a display, a microphone, a session bus
// with a notification server, perhaps Chromium, and the real agent on that
// display.
type Seat struct {
	T       testing.TB
	Host    string // the host name its agent reports; "" for this machine's
	X       *testrig.X
	Pulse   *testrig.PulseAudio
	Bus     *testrig.Bus
	Notes   *testrig.Notifications
	Browser *testrig.Browser // nil without a page
	Agent   *Agent
	mouse   int
}

// RigOptions says what differs between rigs.
type RigOptions struct {
	Bin     string                 // the agent binary (Builder.Binary)
	Timeout int                    // T in seconds; default 30
	Page    func(co *Coord) string // the page Chromium shows first
	// SignIn puts r.User at the Agent Desk once Chromium shows Page
	// (before the agent starts). Default: the OS user, signed in through
	// the API.
	SignIn  func(r *Rig)
	Via     func(addr string) string // the address the agent dials for the coordinator's (a proxy)
	Args    []string                 // more vigil-agent session flags
	Unpaced bool                     // testrig.PulseUnpaced: for measuring, not for timing
	Clean   bool                     // the agent must exit cleanly on SIGTERM at cleanup
	// Host is the host name the first seat's agent reports (see
	// SeatOptions.Host); "" for this machine's.
	Host string
	// CoordBin runs the coordinator as a process of this binary
	// (Builder.Coordinator), for tests that kill it; "" runs it in this
	// process.
	CoordBin string
}

// SeatOptions says what differs between a rig's seats.
type SeatOptions struct {
	// Host is the host name the seat's agent reports: it runs in a UTS
	// namespace of its own with that name, so two seats on this machine
	// are two workstations to the coordinator. "" for this machine's.
	Host string
	Page string // the page the seat's Chromium shows; "" for no Chromium
}

// rigStarts bounds how many rigs start at once: a start is a burst of CPU
// (Xvfb, PulseAudio, Chromium, the agent), and a pile of them at once would
// slow other packages' timing tests running beside this one. Once started a
// rig mostly waits.
var rigStarts = make(chan struct{}, 2)

// NewRig starts everything and waits until the coordinator has the agent's
// first reading: the user's clock counts, the sensor is live.
func NewRig(t testing.TB, o RigOptions) *Rig {
	t.Helper()
	rigStarts <- struct{}{}
	defer func() { <-rigStarts }()
	testrig.Require(t, "xmessage", "xprintidle")
	if o.Timeout == 0 {
		o.Timeout = 30
	}
	r := &Rig{T: t, o: o}
	if o.CoordBin != "" {
		r.Co = StartCoordProcess(t, o.CoordBin, t.TempDir(), "")
	} else {
		r.Co = StartCoord(t, t.TempDir(), nil)
	}
	r.Co.SetTimeout(true, o.Timeout)
	r.Seat = newSeat(t, SeatOptions{Host: o.Host, Page: o.Page(r.Co)}, o.Unpaced)

	if o.SignIn != nil {
		o.SignIn(r)
	} else {
		me, err := user.Current()
		if err != nil {
			t.Fatal(err)
		}
		r.User = username.Bare(me.Username)
		r.Co.DeskLogin(r.User)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s's audit:%s", r.User, Kinds(r.Co.Audit(r.User)))
		}
	})

	r.StartAgent(r.Seat)
	testrig.Eventually(t, 20*time.Second, func() (bool, string) {
		u := r.Co.User(r.User)
		return u.Sensor.Status == "live" && u.State == "active" && len(u.Paused) == 0,
			fmt.Sprintf("user %s: %+v", r.User, u)
	})
	return r
}

// AddSeat starts another workstation for the rig's coordinator: its
// display, microphone, session bus and (with a page) Chromium. StartAgent
// starts its agent.
func (r *Rig) AddSeat(o SeatOptions) *Seat {
	r.T.Helper()
	rigStarts <- struct{}{}
	defer func() { <-rigStarts }()
	return newSeat(r.T, o, r.o.Unpaced)
}

// newSeat starts a seat's display, microphone, session bus and (with a
// page) Chromium, but not its agent.
func newSeat(t testing.TB, o SeatOptions, unpaced bool) *Seat {
	t.Helper()
	s := &Seat{T: t, Host: o.Host}
	s.X = testrig.Display(t)
	if unpaced {
		s.Pulse = testrig.PulseUnpaced(t)
	} else {
		s.Pulse = testrig.Pulse(t)
	}
	s.Bus = testrig.SessionBus(t)
	s.Notes = testrig.NotificationServer(t, s.Bus)
	if o.Page == "" {
		return s
	}
	s.Browser = testrig.Chromium(t, s.X, o.Page)
	// The browser window takes the top-left 1000×700 of the 1280×800
	// screen, so the pointer can rest outside it: pointer moves over the
	// page would be the page's input too, and windows appearing under the
	// pointer could make Chromium synthesize some.
	s.X.MustXdotool(t, "windowsize", "--sync", s.Browser.Window, "1000", "700")
	s.X.MustXdotool(t, "windowmove", "--sync", s.Browser.Window, "0", "0")
	s.X.Activate(t, s.Browser.Window)
	s.X.MustXdotool(t, "mousemove", "--sync", "1200", "780")
	return s
}

// StartAgent runs the agent of seat s (with the rig's options, as the same
// OS user as every seat's) against the rig's coordinator, or the proxy
// RigOptions.Via gives, enrolled with a token of its own; it returns once
// the agent runs: what the coordinator makes of it is the caller's to wait
// for.
func (r *Rig) StartAgent(s *Seat) {
	t := r.T
	t.Helper()
	addr := r.Co.Addr
	if r.o.Via != nil {
		addr = r.o.Via(addr)
	}
	args := append([]string{"session", "--coordinator", "ws://" + addr, "--enroll-token", r.Co.EnrollmentToken(5),
		"--state-dir", filepath.Join(t.TempDir(), "state"), "--log-level", "debug"}, r.o.Args...)
	s.Agent = runAgent(t, s.Host, r.o.Bin, AgentEnv(s.X.Env(), s.Pulse.Env(), s.Bus.Env()), r.o.Clean, args...)
}

// Input makes keyboard or mouse input through XTEST and returns when the X
// server took it, from its own idle counter. The mouse moves outside the
// browser window; a key goes to the focused window (the Agent Desk).
func (s *Seat) Input(kind string) time.Time {
	s.T.Helper()
	switch kind {
	case "key":
		s.X.MustXdotool(s.T, "key", "shift")
	default:
		s.mouse++
		s.X.MustXdotool(s.T, "mousemove", "--sync", fmt.Sprint(1200+s.mouse%2*60), "780")
	}
	idle, at := s.IdleAt()
	return at.Add(-idle)
}

// IdleAt is the X server's idle time and the instant it was read
// (testrig.X.IdleAt).
func (s *Seat) IdleAt() (time.Duration, time.Time) {
	s.T.Helper()
	return s.X.IdleAt(s.T)
}

// Idle is the X server's idle time.
func (s *Seat) Idle() time.Duration {
	d, _ := s.IdleAt()
	return d
}

// Audit is r.User's audit, oldest first.
func (r *Rig) Audit() []AuditEntry { return r.Co.Audit(r.User) }

// WaitAudit waits for the first entry of kind for r.User after entry id
// from.
func (r *Rig) WaitAudit(kind string, from int64, within time.Duration) AuditEntry {
	r.T.Helper()
	return r.Co.WaitAudit(r.User, kind, from, within)
}

// NoneOf fails if r.User's audit holds an entry of one of kinds after from.
func (r *Rig) NoneOf(from int64, unwanted ...string) {
	r.T.Helper()
	es := r.Audit()
	for _, e := range es {
		if e.ID > from && slices.Contains(unwanted, e.Kind) {
			r.T.Errorf("unexpected %s: %s", e.Kind, Kinds(es))
			return
		}
	}
}

// LastID is the id of r.User's newest audit entry.
func (r *Rig) LastID() int64 {
	es := r.Audit()
	if len(es) == 0 {
		return 0
	}
	return es[len(es)-1].ID
}
