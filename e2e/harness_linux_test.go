//go:build linux

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/remote"

	"github.com/vigil-cc/vigil/coordinator"
	"github.com/vigil-cc/vigil/internal/e2etest"
	"github.com/vigil-cc/vigil/internal/testrig"
)

// tolerance for every decision against its ideal instant.
const tolerance = 500 * time.Millisecond

// T is the timeout of the scenarios: the minimum the settings allow.
const T = 30 * time.Second

// rigs bounds how many scenarios run at once. Each one is an Xvfb, a
// PulseAudio, a Chromium, the agent and a coordinator, mostly waiting for
// real time to pass; the machine has 2 cores shared with others, so more
// than 3 at once would slow every rig's timing.
var rigs = make(chan struct{}, 3)

func TestMain(m *testing.M) {
	// Every scenario waits on the semaphore rather than on -parallel.
	e2etest.Main(m, builder, &timings, "End-to-end timing (seconds after each scenario's t0):", "")
}

// scenario marks a long end-to-end test: parallel, and holding one of the
// rig slots until it ends. Skipped under -short on a developer's machine,
// never in CI (CI=true or VIGIL_REQUIRE_RIG=1).
func scenario(t *testing.T) {
	t.Helper()
	if testing.Short() && !testrig.Strict() {
		t.Skip("takes 30-70 s of real time; skipped under -short (CI runs it)")
	}
	t.Parallel()
	rigs <- struct{}{}
	t.Cleanup(func() { <-rigs })
}

// ---- the agent binary ----

var builder = &e2etest.Builder{Prefix: "vigil-e2e-"}

// agentBinary builds ./cmd/vigil-agent once per test binary. It is built
// without -race: the agent's own race tests live in its package, and a race
// build would cost the rigs' shared CPU.
func agentBinary(t testing.TB) string {
	t.Helper()
	return builder.Binary(t, false)
}

// ---- a real coordinator on loopback ----

const adminToken = "vgl_api_e2e-admin"

type coord struct {
	t    testing.TB
	dir  string
	base string // http://127.0.0.1:PORT
	addr string
}

func startCoordinator(t testing.TB) *coord {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logBuf := &e2etest.Buffer{}
	ec := e2etest.StartCoordinator(t, t.TempDir(), ln, adminToken, logBuf)
	t.Cleanup(func() {
		done, err := ec.Stop(15 * time.Second)
		switch {
		case !done:
			t.Error("the coordinator did not stop within 15 s")
		case err != nil:
			t.Errorf("coordinator stopped with: %v", err)
		}
		if t.Failed() {
			t.Logf("coordinator log (tail):\n%s", e2etest.Tail(logBuf.String(), 60))
		}
	})
	return &coord{t: t, dir: ec.Dir, base: "http://" + ec.Addr, addr: ec.Addr}
}

// call calls the API as the admin token and decodes a 2xx answer into out.
func (c *coord) call(method, path string, body, out any) (int, []byte) {
	c.t.Helper()
	code, raw := e2etest.Call(c.t, c.base, adminToken, method, path, body)
	if out != nil && code/100 == 2 {
		if err := json.Unmarshal(raw, out); err != nil {
			c.t.Fatalf("%s %s: %v: %s", method, path, err, raw)
		}
	}
	return code, raw
}

func (c *coord) must(method, path string, body, out any) {
	c.t.Helper()
	if code, raw := c.call(method, path, body, out); code/100 != 2 {
		c.t.Fatalf("%s %s: %d %s", method, path, code, raw)
	}
}

func (c *coord) setTimeout(enabled bool, seconds int) {
	c.t.Helper()
	c.must("PUT", "/api/v1/settings", map[string]any{"inactivity_timeout": map[string]any{"enabled": enabled, "seconds": seconds}}, nil)
}

func (c *coord) adminPassword() string {
	c.t.Helper()
	b, err := os.ReadFile(filepath.Join(c.dir, coordinator.AdminPasswordFile))
	if err != nil {
		c.t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func (c *coord) user(name string) e2etest.User {
	c.t.Helper()
	var u e2etest.User
	c.call("GET", "/api/v1/users/"+url.PathEscape(name), nil, &u)
	return u
}

// audit returns user's audit entries, oldest first.
func (c *coord) audit(user string) []e2etest.AuditEntry {
	c.t.Helper()
	var es []e2etest.AuditEntry
	c.must("GET", "/api/v1/audit?limit=1000&user="+url.QueryEscape(user), nil, &es)
	e2etest.SortAudit(es)
	return es
}

type conversation struct {
	ID           string `json:"id"`
	Channel      string `json:"channel"`
	State        string `json:"state"`
	User         string `json:"user"`
	ReroutedFrom string `json:"rerouted_from"`
}

func (c *coord) newConversation(channel, customer string) conversation {
	c.t.Helper()
	var conv conversation
	c.must("POST", "/api/v1/conversations", map[string]string{"channel": channel, "customer": customer}, &conv)
	return conv
}

// ---- the agent process ----

// agentEnv is the environment for the agent: this process's, minus the
// developer's desktop session, plus the rig's.
func agentEnv(rigEnv ...[]string) []string { return e2etest.AgentEnv(rigEnv...) }

func startAgent(t testing.TB, bin string, env []string, args ...string) *e2etest.Agent {
	t.Helper()
	a := e2etest.StartAgent(t, bin, env, args...)
	t.Cleanup(func() {
		a.Stop(t, false)
		if t.Failed() {
			t.Logf("vigil-agent output (tail):\n%s", e2etest.Tail(a.Out.String(), 40))
		}
	})
	return a
}

// ---- the rig ----

// agentName is the Agent Desk user of every rig: the agent's OS user is
// mapped to it, and it signs in to the reference Agent Desk.
const agentName = "ann"

const agentPassword = "ann-desk-password"

type rig struct {
	t       *testing.T
	x       *testrig.X
	pulse   *testrig.PulseAudio
	browser *testrig.Browser
	bctx    context.Context // chromedp, connected to the rig's Chromium
	cancelB context.CancelFunc
	deskID  target.ID // the Agent Desk's tab
	co      *coord
	agent   *e2etest.Agent
	mouse   int
}

// newRig starts a coordinator with T = timeout, a display with Chromium
// showing the reference Agent Desk signed in as ann (the agent's OS user
// is mapped to ann), a microphone and the real agent, and waits until the
// coordinator has the agent's first reading: ann's clock counts and the
// sensor is live.
func newRig(t *testing.T, timeout int) *rig {
	t.Helper()
	testrig.Require(t, "xmessage", "xprintidle")
	bin := agentBinary(t)
	r := &rig{t: t}
	r.co = startCoordinator(t)
	r.co.setTimeout(true, timeout)
	r.co.must("POST", "/api/v1/accounts", map[string]string{"name": agentName, "role": "agent", "password": agentPassword}, nil)
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	r.co.must("PUT", "/api/v1/mappings/"+url.PathEscape(me.Username), map[string]string{"desk_user": agentName}, nil)

	r.x = testrig.Display(t)
	r.pulse = testrig.Pulse(t)
	bus := testrig.SessionBus(t)
	testrig.NotificationServer(t, bus)
	r.browser = testrig.Chromium(t, r.x, r.co.base+"/desk/")
	// The browser window takes the top-left 1000×700 of the 1280×800
	// screen, so the pointer can rest outside it: pointer moves over the
	// page would be the page's input too, and windows appearing under the
	// pointer could make Chromium synthesize some.
	r.x.MustXdotool(t, "windowsize", "--sync", r.browser.Window, "1000", "700")
	r.x.MustXdotool(t, "windowmove", "--sync", r.browser.Window, "0", "0")
	e2etest.Activate(t, r.x, r.browser.Window)
	r.x.MustXdotool(t, "mousemove", "--sync", "1200", "780")

	// DevTools, for tab switches and to look at the page (never input).
	actx, cancelA := remote.NewAllocator(context.Background(), r.browser.DevToolsURL)
	r.bctx, r.cancelB = chromedp.NewContext(actx)
	t.Cleanup(func() { r.cancelB(); cancelA() })
	r.findDesk(r.bctx)

	// Sign in to the Agent Desk in that window by typing, as a person
	// would (XTEST input, all before the scenario's t0), once the form is
	// there with the focus in its name field.
	for attempt := 1; ; attempt++ {
		r.waitJS(`document.readyState === 'complete' && !!document.getElementById('name') &&
			(document.getElementById('name').value = '', document.getElementById('password').value = '',
			 document.getElementById('name').focus(), document.activeElement.id === 'name') && document.hasFocus()`, 15*time.Second)
		r.x.MustXdotool(t, "type", "--delay", "30", agentName)
		r.x.MustXdotool(t, "key", "Tab")
		r.x.MustXdotool(t, "type", "--delay", "30", agentPassword)
		r.x.MustXdotool(t, "key", "Return")
		ok := poll(10*time.Second, func() bool { return r.co.user(agentName).State == "active" })
		if ok {
			break
		}
		if attempt == 3 {
			t.Fatalf("the desk sign-in did not take after %d attempts: %+v", attempt, r.co.user(agentName))
		}
		t.Logf("the desk sign-in did not take (attempt %d); again", attempt)
		e2etest.Activate(t, r.x, r.browser.Window)
	}
	r.waitJS(`!!document.getElementById('policy') && document.readyState === 'complete' && document.title.startsWith('Agent Desk')`, 15*time.Second)

	var e struct{ Token string }
	r.co.must("POST", "/api/v1/enrollment-tokens", map[string]any{"max_uses": 1}, &e)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s's audit:%s", agentName, e2etest.Kinds(r.co.audit(agentName)))
		}
	})
	r.agent = startAgent(t, bin, agentEnv(r.x.Env(), r.pulse.Env(), bus.Env()),
		"session", "--coordinator", "ws://"+r.co.addr, "--enroll-token", e.Token,
		"--state-dir", filepath.Join(t.TempDir(), "state"), "--log-level", "debug")
	testrig.Eventually(t, 20*time.Second, func() (bool, string) {
		u := r.co.user(agentName)
		return u.Sensor.Status == "live" && u.State == "active" && len(u.Paused) == 0,
			fmt.Sprintf("user %s: %+v", agentName, u)
	})
	// Let a second pass since the last in-page input (the sign-in), so the
	// page's next input report is sent at once.
	time.Sleep(1100 * time.Millisecond)
	return r
}

// pageJS evaluates js in the Agent Desk's tab, attaching for this call
// only (and detaching after, which leaves the tab open).
func (r *rig) pageJS(js string) (bool, error) {
	ctx, cancel := chromedp.NewContext(r.bctx, chromedp.WithTargetID(r.deskID), chromedp.WithDetachOnCancel())
	defer cancel()
	c, cancelT := context.WithTimeout(ctx, 3*time.Second)
	defer cancelT()
	return chromedp.Run(c, chromedp.Evaluate[bool](js))
}

// waitJS polls js (a boolean expression) in the Agent Desk's tab.
func (r *rig) waitJS(js string, within time.Duration) {
	r.t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, err := r.pageJS(js)
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("waited %v in the Agent Desk for %s (last error %v)", within, js, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func waitJS(t *testing.T, ctx context.Context, js string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		c, cancel := context.WithTimeout(ctx, 2*time.Second)
		ok, err := chromedp.Run(c, chromedp.Evaluate[bool](js))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s (last error %v)", within, js, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// input makes keyboard or mouse input through XTEST and returns when the X
// server took it, from its own idle counter. The mouse moves outside the
// browser window; a key goes to the focused window (the Agent Desk).
func (r *rig) input(kind string) time.Time {
	r.t.Helper()
	switch kind {
	case "key":
		r.x.MustXdotool(r.t, "key", "shift")
	default:
		r.mouse++
		r.x.MustXdotool(r.t, "mousemove", "--sync", fmt.Sprint(1200+r.mouse%2*60), "780")
	}
	idle, at := r.idleAt()
	return at.Add(-idle)
}

// idleAt is the X server's idle time and the instant it was read (the
// middle of the call). It asks xprintidle rather than connecting from
// this process: xgb registers extensions in package-level maps, which
// races between parallel tests' connections.
func (r *rig) idleAt() (time.Duration, time.Time) {
	r.t.Helper()
	cmd := exec.Command("xprintidle")
	cmd.Env = append(os.Environ(), r.x.Env()...)
	before := time.Now()
	out, err := cmd.Output()
	after := time.Now()
	if err != nil {
		r.t.Fatalf("xprintidle: %v", err)
	}
	ms, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		r.t.Fatalf("xprintidle: %q", out)
	}
	return time.Duration(ms) * time.Millisecond, before.Add(after.Sub(before) / 2)
}

func (r *rig) idle() time.Duration {
	d, _ := r.idleAt()
	return d
}

// poll calls cond every 100 ms until it holds or d passes.
func poll(d time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(d); ; time.Sleep(100 * time.Millisecond) {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// waitAudit waits for the first entry of kind (for ann) after entry id from.
func (r *rig) waitAudit(kind string, from int64, within time.Duration) e2etest.AuditEntry {
	r.t.Helper()
	return waitAudit(r.t, r.co, agentName, kind, from, within)
}

func waitAudit(t *testing.T, c *coord, user, kind string, from int64, within time.Duration) e2etest.AuditEntry {
	t.Helper()
	return e2etest.WaitAudit(t, func() []e2etest.AuditEntry { return c.audit(user) }, kind, from, within)
}

// noneOf fails if ann's audit holds an entry of one of kinds after from.
func (r *rig) noneOf(from int64, unwanted ...string) {
	r.t.Helper()
	es := r.co.audit(agentName)
	for _, e := range es {
		if e.ID > from && slices.Contains(unwanted, e.Kind) {
			r.t.Errorf("unexpected %s: %s", e.Kind, e2etest.Kinds(es))
			return
		}
	}
}

// lastID is the id of ann's newest audit entry.
func (r *rig) lastID() int64 {
	es := r.co.audit(agentName)
	if len(es) == 0 {
		return 0
	}
	return es[len(es)-1].ID
}

// attachDesk attaches a chromedp context to the Agent Desk's tab.
func (r *rig) attachDesk(bctx context.Context) (context.Context, context.CancelFunc) {
	r.t.Helper()
	r.findDesk(bctx)
	return chromedp.NewContext(bctx, chromedp.WithTargetID(r.deskID))
}

// findDesk waits for the Agent Desk's tab and notes its target id.
func (r *rig) findDesk(bctx context.Context) {
	r.t.Helper()
	testrig.Eventually(r.t, 10*time.Second, func() (bool, string) {
		ts, err := chromedp.Targets(bctx)
		if err != nil {
			return false, err.Error()
		}
		for _, ti := range ts {
			if ti.Type == "page" && strings.Contains(ti.URL, "/desk/") {
				r.deskID = ti.TargetID
				return true, ""
			}
		}
		return false, fmt.Sprintf("no Agent Desk tab among %d targets", len(ts))
	})
}

// ---- timing records ----

var timings e2etest.Timings

// record notes an observed instant against the ideal one (offsets from
// t0), and fails the test beyond tol.
func record(t *testing.T, event string, t0, want, got time.Time, tol time.Duration) {
	t.Helper()
	tm := e2etest.Timing{Scenario: t.Name(), Event: event, Want: want.Sub(t0), Got: got.Sub(t0)}
	timings.Add(tm)
	d := got.Sub(want)
	t.Logf("TIMING %-28s ideal %7.3fs observed %7.3fs error %+.3fs", event, tm.Want.Seconds(), tm.Got.Seconds(), d.Seconds())
	if d < -tol || d > tol {
		load, _ := os.ReadFile("/proc/loadavg")
		t.Errorf("%s: %+.3fs from the ideal instant (tolerance ±%v); load average %s", event, d.Seconds(), tol, strings.TrimSpace(string(load)))
	}
}
