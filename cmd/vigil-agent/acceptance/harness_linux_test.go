//go:build linux

package acceptance

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-cc/vigil/coordinator"
	"github.com/vigil-cc/vigil/coordinator/hub"
	"github.com/vigil-cc/vigil/coordinator/identity"
	"github.com/vigil-cc/vigil/internal/testrig"
	"github.com/vigil-cc/vigil/platform/x11"
)

// ---- the agent binary ----

var (
	buildMu  sync.Mutex
	builtBin = map[bool]string{} // race → path
	binDir   string
)

// agentBinary builds ./cmd/vigil-agent once per test binary (with -race
// when race is set) and returns its path.
func agentBinary(t testing.TB, race bool) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if p := builtBin[race]; p != "" {
		return p
	}
	if binDir == "" {
		d, err := os.MkdirTemp("", "vigil-agent-acceptance-")
		if err != nil {
			t.Fatal(err)
		}
		binDir = d
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	name := "vigil-agent"
	args := []string{"build"}
	if race {
		name += "-race"
		args = append(args, "-race")
	}
	p := filepath.Join(binDir, name)
	out, err := exec.Command(goTool, append(args, "-o", p, "github.com/vigil-cc/vigil/cmd/vigil-agent")...).CombinedOutput()
	if err != nil {
		t.Fatalf("building vigil-agent: %v\n%s", err, out)
	}
	builtBin[race] = p
	return p
}

func TestMain(m *testing.M) {
	flag.Parse()
	// The scenarios spend 30-60 s each mostly waiting for real time to pass
	// (the coordinator's T is 30 s): run them all at once rather than
	// GOMAXPROCS at a time, unless -parallel was given.
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if !explicit {
		_ = flag.Set("test.parallel", "16")
	}
	code := m.Run()
	printTimings(os.Stdout)
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
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
	t       testing.TB
	dir     string
	addr    string
	srv     *coordinator.Server
	stop    context.CancelFunc
	stopped chan error
	log     *bytes.Buffer
}

// startCoordinator runs a coordinator with its data in dir on ln
// (heartbeat 20 s, grace 45 s, as in production).
func startCoordinator(t testing.TB, dir string, ln net.Listener) *coord {
	t.Helper()
	logBuf := &bytes.Buffer{}
	log := slog.New(slog.NewTextHandler(&lockedWriter{w: logBuf}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := coordinator.Open(ctx, coordinator.Config{
		Listen: ln.Addr().String(), DataDir: dir, AdminToken: adminToken,
		Heartbeat: 20 * time.Second, Grace: 45 * time.Second, Log: log,
	})
	if err != nil {
		cancel()
		ln.Close()
		t.Fatalf("opening the coordinator: %v", err)
	}
	c := &coord{t: t, dir: dir, addr: ln.Addr().String(), srv: srv, stop: cancel, stopped: make(chan error, 1), log: logBuf}
	go func() {
		err := srv.Serve(ctx, ln)
		srv.Store.Close()
		c.stopped <- err
	}()
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
	if c.stop == nil {
		return
	}
	c.stop()
	c.stop = nil
	if err := <-c.stopped; err != nil {
		c.t.Errorf("coordinator stopped with: %v", err)
	}
}

func (c *coord) call(method, path string, body any) (int, []byte) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, "http://"+c.addr+path, rd)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
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

type apiUser struct {
	State        string
	Paused       []string
	InactivityMS int64 `json:"inactivity_ms"`
	Sensor       struct{ Status, Host string }
}

func (c *coord) user(name string) apiUser {
	c.t.Helper()
	var u apiUser
	code, raw := c.call("GET", "/api/v1/users/"+url.PathEscape(name), nil)
	if code == http.StatusOK {
		_ = json.Unmarshal(raw, &u)
	}
	return u
}

type auditEntry struct {
	ID     int64
	At     time.Time
	Kind   string
	User   string
	Detail json.RawMessage
}

// audit returns user's audit entries, oldest first.
func (c *coord) audit(user string) []auditEntry {
	c.t.Helper()
	_, raw := c.call("GET", "/api/v1/audit?limit=1000&user="+url.QueryEscape(user), nil)
	var es []auditEntry
	if err := json.Unmarshal(raw, &es); err != nil {
		c.t.Fatalf("audit: %v: %s", err, raw)
	}
	slices.SortFunc(es, func(a, b auditEntry) int { return int(a.ID - b.ID) })
	return es
}

// sessions lists the sessions bound to Agent Desk users.
func (c *coord) sessions() []hub.SessionInfo { return c.srv.Hub.Sessions() }

// ---- the agent process ----

type agentProc struct {
	t      testing.TB
	cmd    *exec.Cmd
	out    lockedBuffer
	exited chan struct{}
	err    error
}

// agentEnv is the environment for the agent: this process's, minus the
// developer's desktop session, plus the rig's.
func agentEnv(rigEnv ...[]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case k == "GORACE", k == "DISPLAY", k == "XAUTHORITY", k == "WAYLAND_DISPLAY", k == "PULSE_SERVER",
			k == "PULSE_RUNTIME_PATH", k == "XDG_RUNTIME_DIR", k == "XDG_SESSION_ID", k == "XDG_STATE_HOME",
			k == "DBUS_SESSION_BUS_ADDRESS", strings.HasPrefix(k, "VIGIL_"):
			continue
		}
		env = append(env, kv)
	}
	for _, e := range rigEnv {
		env = append(env, e...)
	}
	// A -race binary otherwise sleeps 1 s at exit (to flush reports).
	return append(env, "GORACE=atexit_sleep_ms=0 halt_on_error=1")
}

// startAgent runs `vigil-agent args...`; cleanup stops it with SIGTERM and
// expects a clean exit.
func startAgent(t testing.TB, bin string, env []string, args ...string) *agentProc {
	t.Helper()
	a := &agentProc{t: t, exited: make(chan struct{})}
	a.cmd = exec.Command(bin, args...)
	a.cmd.Env = env
	a.cmd.Stdout, a.cmd.Stderr = &a.out, &a.out
	a.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		a.err = a.cmd.Wait()
		close(a.exited)
	}()
	t.Cleanup(func() {
		a.stop()
		if t.Failed() {
			t.Logf("vigil-agent output:\n%s", a.output())
		}
	})
	return a
}

func (a *agentProc) pid() int { return a.cmd.Process.Pid }

func (a *agentProc) output() string { return a.out.String() }

// stop sends SIGTERM and expects exit status 0 within 10 s.
func (a *agentProc) stop() {
	select {
	case <-a.exited:
		return
	default:
	}
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.exited:
		if a.err != nil {
			a.t.Errorf("vigil-agent exited with %v after SIGTERM", a.err)
		}
	case <-time.After(10 * time.Second):
		_ = a.cmd.Process.Kill()
		<-a.exited
		a.t.Errorf("vigil-agent did not stop within 10 s of SIGTERM")
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

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
	activate(t, r.x, r.browser.Window)
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
	r.user = identity.Normalize(me.Username)
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
func (r *rig) waitAudit(kind string, from int64, within time.Duration) auditEntry {
	r.t.Helper()
	var found auditEntry
	testrig.Eventually(r.t, within, func() (bool, string) {
		es := r.co.audit(r.user)
		for _, e := range es {
			if e.ID > from && e.Kind == kind {
				found = e
				return true, ""
			}
		}
		return false, fmt.Sprintf("no %s after entry %d; audit: %s", kind, from, kinds(es))
	})
	return found
}

func kinds(es []auditEntry) string {
	var b strings.Builder
	for _, e := range es {
		fmt.Fprintf(&b, "\n  %d %s %s %s", e.ID, e.At.Format("15:04:05.000"), e.Kind, e.Detail)
	}
	return b.String()
}

// sleepUntil sleeps until t.
func sleepUntil(t time.Time) { time.Sleep(time.Until(t)) }

// activate makes window id active and waits until the window manager says
// so (an activation asked for before the window is managed is lost).
func activate(t testing.TB, x *testrig.X, id string) {
	t.Helper()
	testrig.Eventually(t, 10*time.Second, func() (bool, string) {
		out, err := x.Xdotool("getactivewindow")
		if err == nil && out == id {
			return true, ""
		}
		_, _ = x.Xdotool("windowactivate", id)
		return false, fmt.Sprintf("active window %q (%v), want %s", out, err, id)
	})
}

// ---- timing records ----

type timing struct {
	scenario string
	event    string
	want     time.Duration // after t0
	got      time.Duration
}

var (
	timingsMu sync.Mutex
	timings   []timing
)

// record notes an observed instant against the ideal one (both as offsets
// from the scenario's t0), and fails the test beyond tol.
func record(t *testing.T, scenario, event string, t0, want, got time.Time, tol time.Duration) {
	t.Helper()
	tm := timing{scenario: scenario, event: event, want: want.Sub(t0), got: got.Sub(t0)}
	timingsMu.Lock()
	timings = append(timings, tm)
	timingsMu.Unlock()
	err := got.Sub(want)
	t.Logf("TIMING %-34s %-28s ideal %7.3fs observed %7.3fs error %+.3fs", scenario, event,
		tm.want.Seconds(), tm.got.Seconds(), err.Seconds())
	if err < -tol || err > tol {
		t.Errorf("%s: %s %+.3fs from the ideal instant (tolerance ±%v)", scenario, event, err.Seconds(), tol)
	}
}

// printTimings prints the recorded timings, one line per event, for
// docs/performance.md.
func printTimings(w io.Writer) {
	timingsMu.Lock()
	defer timingsMu.Unlock()
	if len(timings) == 0 {
		return
	}
	slices.SortStableFunc(timings, func(a, b timing) int { return strings.Compare(a.scenario, b.scenario) })
	fmt.Fprintf(w, "\nAgent ↔ coordinator timing (ideal and observed, seconds after t0):\n")
	fmt.Fprintf(w, "| scenario | event | ideal | observed | error |\n|---|---|---|---|---|\n")
	for _, tm := range timings {
		fmt.Fprintf(w, "| %s | %s | %.3f s | %.3f s | %+.3f s |\n", tm.scenario, tm.event, tm.want.Seconds(), tm.got.Seconds(), (tm.got - tm.want).Seconds())
	}
}
