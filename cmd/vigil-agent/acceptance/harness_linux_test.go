//go:build linux

package acceptance

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os/user"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil-cc/vigil/coordinator"
	"github.com/vigil-cc/vigil/coordinator/hub"
	"github.com/vigil-cc/vigil/internal/e2etest"
	"github.com/vigil-cc/vigil/internal/testrig"
	"github.com/vigil-cc/vigil/internal/username"
	"github.com/vigil-cc/vigil/platform/x11"
)

// ---- the agent binary ----

var builder = &e2etest.Builder{Prefix: "vigil-agent-acceptance-"}

// agentBinary builds ./cmd/vigil-agent once per test binary (with -race
// when race is set) and returns its path.
func agentBinary(t testing.TB, race bool) string {
	t.Helper()
	return builder.Binary(t, race)
}

func TestMain(m *testing.M) {
	// The scenarios spend 30-60 s each mostly waiting for real time to pass
	// (the coordinator's T is 30 s): they run all at once.
	e2etest.Main(m, builder, &timings, "Agent ↔ coordinator timing (ideal and observed, seconds after t0):", " s")
}

// long marks a test that takes 30-60 s of real time: skipped under
// -short on a developer's machine, never in CI (CI=true or
// VIGIL_REQUIRE_RIG=1 run everything).
func long(t *testing.T) {
	t.Helper()
	if testing.Short() && !testrig.Strict() {
		t.Skip("takes 30-60 s; skipped under -short (CI runs it)")
	}
	t.Parallel()
}

// ---- a real coordinator on loopback ----

const adminToken = "vgl_api_acceptance-admin"

type coord struct {
	t    testing.TB
	dir  string
	addr string
	srv  *coordinator.Server
	c    *e2etest.Coordinator // nil once shut down
	log  *e2etest.Buffer
}

// startCoordinator runs a coordinator with its data in dir on ln
// (heartbeat 20 s, grace 45 s, as in production).
func startCoordinator(t testing.TB, dir string, ln net.Listener) *coord {
	t.Helper()
	logBuf := &e2etest.Buffer{}
	ec := e2etest.StartCoordinator(t, dir, ln, adminToken, logBuf)
	c := &coord{t: t, dir: dir, addr: ec.Addr, srv: ec.Srv, c: ec, log: logBuf}
	t.Cleanup(c.shutdown)
	return c
}

func listen(t testing.TB, addr string) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listening on %s: %v", addr, err)
	}
	return ln
}

// shutdown stops the coordinator (agents are told 1001 going away) and
// waits until its store is closed.
func (c *coord) shutdown() {
	if c.c == nil {
		return
	}
	ec := c.c
	c.c = nil
	if _, err := ec.Stop(0); err != nil {
		c.t.Errorf("coordinator stopped with: %v", err)
	}
}

func (c *coord) call(method, path string, body any) (int, []byte) {
	c.t.Helper()
	return e2etest.Call(c.t, "http://"+c.addr, adminToken, method, path, body)
}

func (c *coord) mustCall(method, path string, body any) []byte {
	c.t.Helper()
	code, raw := c.call(method, path, body)
	if code/100 != 2 {
		c.t.Fatalf("%s %s: %d %s", method, path, code, raw)
	}
	return raw
}

func (c *coord) setTimeout(seconds int) {
	c.mustCall("PUT", "/api/v1/settings", map[string]any{"inactivity_timeout": map[string]any{"enabled": true, "seconds": seconds}})
}

func (c *coord) deskLogin(user string) {
	c.mustCall("POST", "/api/v1/desk/login", map[string]string{"user": user})
}

func (c *coord) enrollmentToken() string {
	var e struct{ Token string }
	if err := json.Unmarshal(c.mustCall("POST", "/api/v1/enrollment-tokens", map[string]any{"max_uses": 5}), &e); err != nil || e.Token == "" {
		c.t.Fatalf("enrollment token: %v", err)
	}
	return e.Token
}

func (c *coord) user(name string) e2etest.User {
	c.t.Helper()
	var u e2etest.User
	code, raw := c.call("GET", "/api/v1/users/"+url.PathEscape(name), nil)
	if code == http.StatusOK {
		_ = json.Unmarshal(raw, &u)
	}
	return u
}

// audit returns user's audit entries, oldest first.
func (c *coord) audit(user string) []e2etest.AuditEntry {
	c.t.Helper()
	_, raw := c.call("GET", "/api/v1/audit?limit=1000&user="+url.QueryEscape(user), nil)
	var es []e2etest.AuditEntry
	if err := json.Unmarshal(raw, &es); err != nil {
		c.t.Fatalf("audit: %v: %s", err, raw)
	}
	e2etest.SortAudit(es)
	return es
}

// sessions lists the sessions bound to Agent Desk users.
func (c *coord) sessions() []hub.SessionInfo { return c.srv.Hub.Sessions() }

// ---- the agent process ----

type agentProc struct {
	t testing.TB
	p *e2etest.Agent
}

// agentEnv is the environment for the agent: this process's, minus the
// developer's desktop session, plus the rig's.
func agentEnv(rigEnv ...[]string) []string {
	// A -race binary otherwise sleeps 1 s at exit (to flush reports).
	return append(e2etest.AgentEnv(rigEnv...), "GORACE=atexit_sleep_ms=0 halt_on_error=1")
}

// startAgent runs `vigil-agent args...`; cleanup stops it with SIGTERM and
// expects a clean exit.
func startAgent(t testing.TB, bin string, env []string, args ...string) *agentProc {
	t.Helper()
	a := &agentProc{t: t, p: e2etest.StartAgent(t, bin, env, args...)}
	t.Cleanup(func() {
		a.stop()
		if t.Failed() {
			t.Logf("vigil-agent output:\n%s", a.output())
		}
	})
	return a
}

func (a *agentProc) pid() int { return a.p.Cmd.Process.Pid }

func (a *agentProc) output() string { return a.p.Out.String() }

// stop sends SIGTERM and expects exit status 0 within 10 s.
func (a *agentProc) stop() { a.p.Stop(a.t, true) }

// ---- the rig: display, microphone, bus, Agent Desk, coordinator, agent ----

// deskPage is the Agent Desk page, titled title.
func deskPage(title string) string {
	return "data:text/html," + url.PathEscape("<title>"+title+"</title><p>Agent Desk</p>")
}

type rig struct {
	t       testing.TB
	x       *testrig.X
	pulse   *testrig.PulseAudio
	bus     *testrig.Bus
	notes   *testrig.Notifications
	browser *testrig.Browser
	xc      *x11.Conn
	co      *coord
	user    string // the Agent Desk user the agent's OS user maps to
	agent   *agentProc
	mouse   int
}

type rigOptions struct {
	title   string              // the Agent Desk page title; default "Agent Desk"
	timeout int                 // T; default 30
	via     func(string) string // maps the coordinator's address to the one the agent dials (a proxy)
	race    *bool               // build the agent with -race; default: as the tests
	args    []string            // more vigil-agent session flags
	unpaced bool                // testrig.PulseUnpaced: for measuring, not for timing
}

// rigStarts bounds how many rigs start at once: a start is a burst of CPU
// (Xvfb, PulseAudio, Chromium, the agent), and a pile of them at once would
// slow other packages' timing tests running beside this one. Once started a
// rig mostly waits.
var rigStarts = make(chan struct{}, 2)

// newRig starts everything and waits until the coordinator has the
// agent's first reading: the user's clock counts, the sensor is live.
func newRig(t testing.TB, o rigOptions) *rig {
	t.Helper()
	rigStarts <- struct{}{}
	defer func() { <-rigStarts }()
	if o.title == "" {
		o.title = "Agent Desk"
	}
	if o.timeout == 0 {
		o.timeout = 30
	}
	race := raceBuild
	if o.race != nil {
		race = *o.race
	}
	bin := agentBinary(t, race)
	r := &rig{t: t}
	r.x = testrig.Display(t)
	if o.unpaced {
		r.pulse = testrig.PulseUnpaced(t)
	} else {
		r.pulse = testrig.Pulse(t)
	}
	r.bus = testrig.SessionBus(t)
	r.notes = testrig.NotificationServer(t, r.bus)
	r.browser = testrig.Chromium(t, r.x, deskPage(o.title))
	e2etest.Activate(t, r.x, r.browser.Window)
	var err error
	if r.xc, err = x11.Connect(r.x.Name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.xc.Close)

	r.co = startCoordinator(t, t.TempDir(), listen(t, "127.0.0.1:0"))
	r.co.setTimeout(o.timeout)
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	r.user = username.Bare(me.Username)
	r.co.deskLogin(r.user)
	addr := r.co.addr
	if o.via != nil {
		addr = o.via(addr)
	}
	args := append([]string{"session", "--coordinator", "ws://" + addr, "--enroll-token", r.co.enrollmentToken(),
		"--state-dir", filepath.Join(t.TempDir(), "state"), "--log-level", "debug"}, o.args...)
	r.agent = startAgent(t, bin, agentEnv(r.x.Env(), r.pulse.Env(), r.bus.Env()), args...)
	testrig.Eventually(t, 20*time.Second, func() (bool, string) {
		u := r.co.user(r.user)
		return u.Sensor.Status == "live" && u.State == "active" && len(u.Paused) == 0,
			fmt.Sprintf("user %s: %+v", r.user, u)
	})
	return r
}

// input makes keyboard or mouse input through XTEST and returns when the X
// server took it, from its own idle counter.
func (r *rig) input(kind string) time.Time {
	r.t.Helper()
	switch kind {
	case "key":
		r.x.MustXdotool(r.t, "key", "shift")
	default:
		r.mouse++
		r.x.MustXdotool(r.t, "mousemove", "--sync", fmt.Sprint(100+r.mouse%2*200), "300")
	}
	before := time.Now()
	ms, err := r.xc.IdleMs()
	after := time.Now()
	if err != nil {
		r.t.Fatal(err)
	}
	return before.Add(after.Sub(before) / 2).Add(-time.Duration(ms) * time.Millisecond)
}

// idle is the X server's idle time.
func (r *rig) idle() time.Duration {
	ms, err := r.xc.IdleMs()
	if err != nil {
		r.t.Fatal(err)
	}
	return time.Duration(ms) * time.Millisecond
}

// waitAudit waits for the first entry of kind after entry id from.
func (r *rig) waitAudit(kind string, from int64, within time.Duration) e2etest.AuditEntry {
	r.t.Helper()
	return e2etest.WaitAudit(r.t, func() []e2etest.AuditEntry { return r.co.audit(r.user) }, kind, from, within)
}

// ---- timing records ----

var timings e2etest.Timings

// record notes an observed instant against the ideal one (both as offsets
// from the scenario's t0), and fails the test beyond tol.
func record(t *testing.T, scenario, event string, t0, want, got time.Time, tol time.Duration) {
	t.Helper()
	tm := e2etest.Timing{Scenario: scenario, Event: event, Want: want.Sub(t0), Got: got.Sub(t0)}
	timings.Add(tm)
	err := got.Sub(want)
	t.Logf("TIMING %-34s %-28s ideal %7.3fs observed %7.3fs error %+.3fs", scenario, event,
		tm.Want.Seconds(), tm.Got.Seconds(), err.Seconds())
	if err < -tol || err > tol {
		t.Errorf("%s: %s %+.3fs from the ideal instant (tolerance ±%v)", scenario, event, err.Seconds(), tol)
	}
}
