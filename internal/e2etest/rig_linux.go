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

// Rig is one scenario's world: a coordinator, a display with Chromium
// showing the Agent Desk, a microphone, a session bus with a notification
// server, and the real agent on that display, enrolled and live.
type Rig struct {
	T       testing.TB
	X       *testrig.X
	Pulse   *testrig.PulseAudio
	Bus     *testrig.Bus
	Notes   *testrig.Notifications
	Browser *testrig.Browser
	Co      *Coord
	User    string // the Agent Desk user whose clock the agent drives
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
	r := &Rig{T: t}
	r.Co = StartCoord(t, t.TempDir(), nil)
	r.Co.SetTimeout(true, o.Timeout)
	r.X = testrig.Display(t)
	if o.Unpaced {
		r.Pulse = testrig.PulseUnpaced(t)
	} else {
		r.Pulse = testrig.Pulse(t)
	}
	r.Bus = testrig.SessionBus(t)
	r.Notes = testrig.NotificationServer(t, r.Bus)
	r.Browser = testrig.Chromium(t, r.X, o.Page(r.Co))
	// The browser window takes the top-left 1000×700 of the 1280×800
	// screen, so the pointer can rest outside it: pointer moves over the
	// page would be the page's input too, and windows appearing under the
	// pointer could make Chromium synthesize some.
	r.X.MustXdotool(t, "windowsize", "--sync", r.Browser.Window, "1000", "700")
	r.X.MustXdotool(t, "windowmove", "--sync", r.Browser.Window, "0", "0")
	r.X.Activate(t, r.Browser.Window)
	r.X.MustXdotool(t, "mousemove", "--sync", "1200", "780")

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

	addr := r.Co.Addr
	if o.Via != nil {
		addr = o.Via(addr)
	}
	args := append([]string{"session", "--coordinator", "ws://" + addr, "--enroll-token", r.Co.EnrollmentToken(5),
		"--state-dir", filepath.Join(t.TempDir(), "state"), "--log-level", "debug"}, o.Args...)
	r.Agent = RunAgent(t, o.Bin, AgentEnv(r.X.Env(), r.Pulse.Env(), r.Bus.Env()), o.Clean, args...)
	testrig.Eventually(t, 20*time.Second, func() (bool, string) {
		u := r.Co.User(r.User)
		return u.Sensor.Status == "live" && u.State == "active" && len(u.Paused) == 0,
			fmt.Sprintf("user %s: %+v", r.User, u)
	})
	return r
}

// Input makes keyboard or mouse input through XTEST and returns when the X
// server took it, from its own idle counter. The mouse moves outside the
// browser window; a key goes to the focused window (the Agent Desk).
func (r *Rig) Input(kind string) time.Time {
	r.T.Helper()
	switch kind {
	case "key":
		r.X.MustXdotool(r.T, "key", "shift")
	default:
		r.mouse++
		r.X.MustXdotool(r.T, "mousemove", "--sync", fmt.Sprint(1200+r.mouse%2*60), "780")
	}
	idle, at := r.IdleAt()
	return at.Add(-idle)
}

// IdleAt is the X server's idle time and the instant it was read
// (testrig.X.IdleAt).
func (r *Rig) IdleAt() (time.Duration, time.Time) {
	r.T.Helper()
	return r.X.IdleAt(r.T)
}

// Idle is the X server's idle time.
func (r *Rig) Idle() time.Duration {
	d, _ := r.IdleAt()
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
