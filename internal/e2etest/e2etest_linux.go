//go:build linux

package e2etest

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-cc/vigil/internal/coordtest"
	"github.com/vigil-cc/vigil/internal/testrig"
)

// Main is a scenario package's TestMain: it runs the tests 16 at a time
// (they mostly wait for real time to pass) unless -parallel was given,
// prints the timings recorded, removes the binaries b built and exits.
func Main(m *testing.M, b *Builder, ts *Timings, title, unit string) {
	flag.Parse()
	defaultParallel(16)
	code := m.Run()
	ts.Print(os.Stdout, title, unit)
	b.Remove()
	os.Exit(code)
}

// Long marks a test that takes 30-70 s of real time: parallel, holding
// one of slots (if not nil) until it ends, and skipped under -short on a
// developer's machine, never in CI (CI=true or VIGIL_REQUIRE_RIG=1).
func Long(t *testing.T, slots chan struct{}) {
	t.Helper()
	if testing.Short() && !testrig.Strict() {
		t.Skip("takes 30-70 s of real time; skipped under -short (CI runs it)")
	}
	t.Parallel()
	if slots != nil {
		slots <- struct{}{}
		t.Cleanup(func() { <-slots })
	}
}

// defaultParallel sets -test.parallel to n unless it was given.
func defaultParallel(n int) {
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if !explicit {
		_ = flag.Set("test.parallel", strconv.Itoa(n))
	}
}

// ---- the agent binary ----

// Builder builds ./cmd/vigil-agent once per test binary (and per -race
// setting), and ./cmd/vigil-coordinator once, into a temporary directory
// named after Prefix.
type Builder struct {
	Prefix string

	mu    sync.Mutex
	dir   string
	built map[string]string // binary name → path
}

// Binary builds the agent (with -race when race is set) unless it already
// has, and returns its path.
func (b *Builder) Binary(t testing.TB, race bool) string {
	t.Helper()
	name, args := "vigil-agent", []string{"build"}
	if race {
		name += "-race"
		args = append(args, "-race")
	}
	return b.build(t, name, "github.com/vigil-cc/vigil/cmd/vigil-agent", args, nil)
}

// Coordinator builds the coordinator (pure Go, CGO_ENABLED=0, as released)
// unless it already has, and returns its path.
func (b *Builder) Coordinator(t testing.TB) string {
	t.Helper()
	return b.build(t, "vigil-coordinator", "github.com/vigil-cc/vigil/cmd/vigil-coordinator", []string{"build"}, []string{"CGO_ENABLED=0"})
}

// build runs `go args... -o DIR/name pkg` with env added, once per name.
func (b *Builder) build(t testing.TB, name, pkg string, args, env []string) string {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if p := b.built[name]; p != "" {
		return p
	}
	if b.dir == "" {
		d, err := os.MkdirTemp("", b.Prefix)
		if err != nil {
			t.Fatal(err)
		}
		b.dir = d
	}
	p := filepath.Join(b.dir, name)
	cmd := exec.Command(GoTool(), append(args, "-o", p, pkg)...)
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", name, err, out)
	}
	if b.built == nil {
		b.built = map[string]string{}
	}
	b.built[name] = p
	return p
}

// Remove deletes the built binaries.
func (b *Builder) Remove() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.dir != "" {
		os.RemoveAll(b.dir)
	}
}

// GoTool is the go command: from PATH, else from GOROOT.
func GoTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// ---- a real coordinator on loopback ----

// AdminToken is the admin API token of every scenario's coordinator.
const AdminToken = "vgl_api_e2e-admin-token-of-32-characters"

// Coord is a coordinator on loopback, running in this process
// (internal/coordtest) or as a process of its own (Proc), and its API
// called as the admin.
type Coord struct {
	*coordtest.Server            // nil for a process
	Proc              *CoordProc // nil in this process
	T                 testing.TB
	Addr              string          // 127.0.0.1:PORT
	Dir               string          // its data directory
	Base              string          // http://127.0.0.1:PORT
	Log               *testrig.Buffer // its log, at debug level
	runs              *coordRuns      // a process's: every run of it
}

// StartCoord runs a coordinator with its data in dir on ln (nil: a free
// loopback port), with AdminToken (heartbeat 20 s, grace 45 s, as in
// production). It is stopped at cleanup (or by Stop), and if t failed the
// tail of its log is shown.
func StartCoord(t testing.TB, dir string, ln net.Listener) *Coord {
	t.Helper()
	logBuf := &testrig.Buffer{}
	t.Cleanup(func() { // after the stop below
		if t.Failed() {
			t.Logf("coordinator log (tail):\n%s", Tail(logBuf.String(), 60))
		}
	})
	cfg := coordtest.Config(dir, AdminToken)
	cfg.Log = slog.New(slog.NewTextHandler(logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := coordtest.Start(t, cfg, ln)
	return &Coord{Server: srv, T: t, Addr: srv.Addr, Dir: srv.Dir, Base: "http://" + srv.Addr, Log: logBuf}
}

// CoordProc is a vigil-coordinator process.
type CoordProc struct {
	Cmd    *exec.Cmd
	Exited chan struct{}
	// Started is when it was started; Restored the instant its log gives
	// for the restore of the clocks ("restored clocks", ms); Listening
	// when this process read that it listens.
	Started, Restored, Listening time.Time
}

var (
	listeningLine = regexp.MustCompile(`msg="coordinator listening" addr=(\S+)`)
	restoredLine  = regexp.MustCompile(`^time=(\S+) .*msg="restored clocks"`)
)

// StartCoordProcess runs bin (Builder.Coordinator) with its data in dir on
// addr ("": a free loopback port), with AdminToken and the production
// heartbeat and grace, and waits until it listens. At cleanup it and the
// processes Restart started are killed if they still run, and if t failed
// the tail of each one's log is shown.
func StartCoordProcess(t testing.TB, bin, dir, addr string) *Coord {
	t.Helper()
	// One cleanup for every run, registered now: it comes after the
	// cleanups registered later, which may still call the API.
	runs := &coordRuns{}
	t.Cleanup(func() {
		runs.mu.Lock()
		defer runs.mu.Unlock()
		for _, c := range runs.list {
			_ = c.Proc.Cmd.Process.Kill()
			<-c.Proc.Exited
			if t.Failed() {
				t.Logf("coordinator (pid %d) log (tail):\n%s", c.Proc.Cmd.Process.Pid, Tail(c.Log.String(), 60))
			}
		}
	})
	return startCoordProcess(t, bin, dir, addr, runs)
}

// coordRuns are the processes of one coordinator: its first start and its
// restarts.
type coordRuns struct {
	mu   sync.Mutex
	list []*Coord
}

func startCoordProcess(t testing.TB, bin, dir, addr string, runs *coordRuns) *Coord {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	logBuf := &testrig.Buffer{}
	cmd := exec.Command(bin)
	// The agent's environment is this process's without VIGIL_* settings.
	cmd.Env = append(AgentEnv(), "VIGIL_LISTEN="+addr, "VIGIL_DATA_DIR="+dir, "VIGIL_ADMIN_TOKEN="+AdminToken, "VIGIL_LOG_LEVEL=debug")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &CoordProc{Cmd: cmd, Exited: make(chan struct{}), Started: time.Now()}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the coordinator: %v", err)
	}
	listening := make(chan string, 1)
	restored := make(chan time.Time, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logBuf, line)
			if m := restoredLine.FindStringSubmatch(line); m != nil {
				at, _ := time.Parse(time.RFC3339Nano, m[1])
				select {
				case restored <- at:
				default:
				}
			}
			if m := listeningLine.FindStringSubmatch(line); m != nil {
				select {
				case listening <- m[1]:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		_ = cmd.Wait()
		close(p.Exited)
	}()
	c := &Coord{Proc: p, T: t, Dir: dir, Log: logBuf, runs: runs}
	runs.mu.Lock()
	runs.list = append(runs.list, c)
	runs.mu.Unlock()
	select {
	case c.Addr = <-listening:
		p.Listening = time.Now()
	case <-p.Exited:
		t.Fatalf("the coordinator exited at start:\n%s", logBuf.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("the coordinator did not listen within 30 s:\n%s", logBuf.String())
	}
	select {
	case p.Restored = <-restored:
	default:
		t.Fatalf("the coordinator listens but did not log when it restored the clocks:\n%s", logBuf.String())
	}
	c.Base = "http://" + c.Addr
	return c
}

// Kill kills a coordinator process with SIGKILL and waits until it is gone.
func (c *Coord) Kill() {
	c.T.Helper()
	if err := c.Proc.Cmd.Process.Signal(syscall.SIGKILL); err != nil {
		c.T.Fatalf("killing the coordinator: %v", err)
	}
	<-c.Proc.Exited
}

// Restart starts the stopped coordinator process again, on the same
// address and data, and returns it.
func (c *Coord) Restart() *Coord {
	c.T.Helper()
	return startCoordProcess(c.T, c.Proc.Cmd.Path, c.Dir, c.Addr, c.runs)
}

// Call calls the API as the admin and decodes a 2xx answer into out (if
// not nil); it returns the status and body.
func (c *Coord) Call(method, path string, body, out any) (int, []byte) {
	c.T.Helper()
	code, raw := coordtest.Call(c.T, c.Base, AdminToken, method, path, body)
	if out != nil && code/100 == 2 {
		if err := json.Unmarshal(raw, out); err != nil {
			c.T.Fatalf("%s %s: %v: %s", method, path, err, raw)
		}
	}
	return code, raw
}

// Must is Call failing t unless the status is 2xx.
func (c *Coord) Must(method, path string, body, out any) []byte {
	c.T.Helper()
	code, raw := c.Call(method, path, body, out)
	if code/100 != 2 {
		c.T.Fatalf("%s %s: %d %s", method, path, code, raw)
	}
	return raw
}

// SetTimeout sets the inactivity timeout T.
func (c *Coord) SetTimeout(enabled bool, seconds int) {
	c.T.Helper()
	c.Must("PUT", "/api/v1/settings", map[string]any{"inactivity_timeout": map[string]any{"enabled": enabled, "seconds": seconds}}, nil)
}

// DeskLogin signs user in to the Agent Desk through the API.
func (c *Coord) DeskLogin(user string) {
	c.T.Helper()
	c.Must("POST", "/api/v1/desk/login", map[string]string{"user": user}, nil)
}

// EnrollmentToken makes an enrollment token for maxUses enrollments whose
// devices are approved at once.
func (c *Coord) EnrollmentToken(maxUses int) string {
	c.T.Helper()
	var e struct{ Token string }
	if c.Must("POST", "/api/v1/enrollment-tokens", map[string]any{"max_uses": maxUses, "auto_approve": true}, &e); e.Token == "" {
		c.T.Fatal("no enrollment token")
	}
	return e.Token
}

// AdminPassword is the first start's password for the account "admin".
func (c *Coord) AdminPassword() string { return coordtest.AdminPassword(c.T, c.Dir) }

// User is user as the API shows it (zero if the API does not know it).
func (c *Coord) User(name string) User {
	c.T.Helper()
	var u User
	c.Call("GET", "/api/v1/users/"+url.PathEscape(name), nil, &u)
	return u
}

// Audit returns user's audit entries, oldest first.
func (c *Coord) Audit(user string) []AuditEntry {
	c.T.Helper()
	var es []AuditEntry
	c.Must("GET", "/api/v1/audit?limit=1000&user="+url.QueryEscape(user), nil, &es)
	SortAudit(es)
	return es
}

// WaitAudit waits for the first entry of kind for user after entry id from.
func (c *Coord) WaitAudit(user, kind string, from int64, within time.Duration) AuditEntry {
	c.T.Helper()
	return WaitAudit(c.T, func() []AuditEntry { return c.Audit(user) }, kind, from, within)
}

// User is a user as the API shows it.
type User struct {
	User         string
	State        string
	Paused       []string
	InactivityMS int64 `json:"inactivity_ms"`
	Sensor       struct{ Status, Host string }
	// The desk session's host, and how many of the user's desktop
	// sessions have a live sensor.
	DeskHost     string `json:"desk_host"`
	LiveSessions int    `json:"live_sessions"`
}

// AuditEntry is an entry of the audit as the API shows it.
type AuditEntry struct {
	ID     int64
	At     time.Time
	Kind   string
	User   string
	Detail json.RawMessage
}

// SortAudit sorts es oldest first.
func SortAudit(es []AuditEntry) {
	slices.SortFunc(es, func(a, b AuditEntry) int { return int(a.ID - b.ID) })
}

// WaitAudit waits for the first entry of kind after entry id from in what
// audit returns.
func WaitAudit(t testing.TB, audit func() []AuditEntry, kind string, from int64, within time.Duration) AuditEntry {
	t.Helper()
	var found AuditEntry
	testrig.Eventually(t, within, func() (bool, string) {
		es := audit()
		for _, e := range es {
			if e.ID > from && e.Kind == kind {
				found = e
				return true, ""
			}
		}
		return false, fmt.Sprintf("no %s after entry %d; audit: %s", kind, from, Kinds(es))
	})
	return found
}

// Kinds lists es, one entry a line.
func Kinds(es []AuditEntry) string {
	var b strings.Builder
	for _, e := range es {
		fmt.Fprintf(&b, "\n  %d %s %s %s", e.ID, e.At.Format("15:04:05.000"), e.Kind, e.Detail)
	}
	return b.String()
}

// ---- the agent process ----

// Agent is a vigil-agent subprocess.
type Agent struct {
	Cmd    *exec.Cmd
	Out    testrig.Buffer // stdout and stderr
	Exited chan struct{}
	Err    error // from Wait, once Exited is closed
}

// AgentEnv is the environment for the agent: this process's, minus the
// developer's desktop session, plus the rig's (and GORACE for a -race
// build).
func AgentEnv(rigEnv ...[]string) []string {
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

// StartAgent runs `bin args...` with env; it is killed if this process
// dies. Stopping it is the caller's.
func StartAgent(t testing.TB, bin string, env []string, args ...string) *Agent {
	t.Helper()
	return startAgent(t, "", bin, env, args)
}

// startAgent is StartAgent on host (see OnHost; "" for this machine).
func startAgent(t testing.TB, host, bin string, env []string, args []string) *Agent {
	t.Helper()
	a := &Agent{Exited: make(chan struct{})}
	a.Cmd = exec.Command(bin, args...)
	a.Cmd.Env = env
	a.Cmd.Stdout, a.Cmd.Stderr = &a.Out, &a.Out
	a.Cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if host != "" {
		OnHost(a.Cmd, host)
	}
	if err := a.Cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		a.Err = a.Cmd.Wait()
		close(a.Exited)
	}()
	return a
}

// OnHost makes cmd run in a UTS namespace of its own named host: it sees
// host as this machine's name, so two agents here are two workstations to
// the coordinator. Without root it is a user namespace too, mapping only
// this user and group to themselves, with the one capability that sets
// the name (the process keeps its uid, files and sockets). The name is set
// by hostname(1) before cmd's program is exec'd in its place (same pid).
func OnHost(cmd *exec.Cmd, host string) {
	cmd.Args = append([]string{"sh", "-c", `hostname "$0" && exec "$@"`, host, cmd.Path}, cmd.Args[1:]...)
	cmd.Path = "/bin/sh"
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	attr := cmd.SysProcAttr
	attr.Cloneflags |= syscall.CLONE_NEWUTS
	if uid, gid := os.Getuid(), os.Getgid(); uid != 0 {
		attr.Cloneflags |= syscall.CLONE_NEWUSER
		attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: uid, HostID: uid, Size: 1}}
		attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: gid, HostID: gid, Size: 1}}
		attr.AmbientCaps = append(attr.AmbientCaps, capSysAdmin)
	}
}

// capSysAdmin is CAP_SYS_ADMIN, which sethostname(2) needs in the UTS
// namespace's user namespace.
const capSysAdmin = 21

// RunAgent is StartAgent stopped at cleanup (Stop with clean), where the
// tail of its output is shown if t failed.
func RunAgent(t testing.TB, bin string, env []string, clean bool, args ...string) *Agent {
	t.Helper()
	return runAgent(t, "", bin, env, clean, args...)
}

// runAgent is RunAgent on host (see OnHost; "" for this machine).
func runAgent(t testing.TB, host, bin string, env []string, clean bool, args ...string) *Agent {
	t.Helper()
	a := startAgent(t, host, bin, env, args)
	t.Cleanup(func() {
		a.Stop(t, clean)
		if t.Failed() {
			t.Logf("vigil-agent %s output (tail):\n%s", host, Tail(a.Out.String(), 200))
		}
	})
	return a
}

// Pid is the agent's process id.
func (a *Agent) Pid() int { return a.Cmd.Process.Pid }

// Stop sends SIGTERM unless the agent has exited, and waits 10 s for it to
// exit (then kills it and fails t). With clean, an exit after SIGTERM
// with an error fails t too.
func (a *Agent) Stop(t testing.TB, clean bool) {
	switch signaled, inTime := testrig.Terminate(a.Cmd, a.Exited, 10*time.Second); {
	case !inTime:
		t.Errorf("vigil-agent did not stop within 10 s of SIGTERM")
	case signaled && clean && a.Err != nil:
		t.Errorf("vigil-agent exited with %v after SIGTERM", a.Err)
	}
}

// Tail is the last lines of s.
func Tail(s string, lines int) string {
	ls := strings.Split(s, "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return strings.Join(ls, "\n")
}

// ---- the rig ----

// SleepUntil sleeps until t.
func SleepUntil(t time.Time) { time.Sleep(time.Until(t)) }

// Speech writes text spoken by espeak-ng in dir as 16 kHz mono s16 with
// leading and trailing silence trimmed, and returns its path and duration.
func Speech(t testing.TB, dir, text string) (string, time.Duration) {
	t.Helper()
	testrig.Require(t, "espeak-ng", "sox")
	raw, wav := filepath.Join(dir, "speech-raw.wav"), filepath.Join(dir, "speech.wav")
	Sh(t, "espeak-ng", "-w", raw, text)
	Sh(t, "sox", raw, "-r", "16000", "-c", "1", "-b", "16", wav,
		"silence", "1", "0.02", "1%", "reverse", "silence", "1", "0.02", "1%", "reverse")
	out, err := exec.Command("sox", "--i", "-D", wav).Output()
	if err != nil {
		t.Fatal(err)
	}
	secs, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil {
		t.Fatal(err)
	}
	return wav, time.Duration(secs * float64(time.Second))
}

// Sh runs a command and fails t, with its output, if it fails.
func Sh(t testing.TB, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %q: %v\n%s", name, args, err, out)
	}
}

// ---- timing records ----

// Timing is an observed instant against the ideal one, both as offsets
// from the scenario's t0.
type Timing struct {
	Scenario, Event string
	Want, Got       time.Duration
}

// Timings collects the timings of a test binary.
type Timings struct {
	mu   sync.Mutex
	list []Timing
}

// Add records tm.
func (ts *Timings) Add(tm Timing) {
	ts.mu.Lock()
	ts.list = append(ts.list, tm)
	ts.mu.Unlock()
}

// Record notes an observed instant against the ideal one (both as offsets
// from the scenario's t0), and fails t beyond tol, with the load average.
func (ts *Timings) Record(t testing.TB, scenario, event string, t0, want, got time.Time, tol time.Duration) {
	t.Helper()
	tm := Timing{Scenario: scenario, Event: event, Want: want.Sub(t0), Got: got.Sub(t0)}
	ts.Add(tm)
	d := got.Sub(want)
	t.Logf("TIMING %-34s %-28s ideal %7.3fs observed %7.3fs error %+.3fs", scenario, event,
		tm.Want.Seconds(), tm.Got.Seconds(), d.Seconds())
	if d < -tol || d > tol {
		load, _ := os.ReadFile("/proc/loadavg")
		t.Errorf("%s: %s %+.3fs from the ideal instant (tolerance ±%v); load average %s", scenario, event, d.Seconds(), tol, strings.TrimSpace(string(load)))
	}
}

// Print writes the recorded timings under title as a Markdown table, one
// row per event, by scenario, each number of seconds followed by unit.
func (ts *Timings) Print(w io.Writer, title, unit string) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if len(ts.list) == 0 {
		return
	}
	slices.SortStableFunc(ts.list, func(a, b Timing) int { return strings.Compare(a.Scenario, b.Scenario) })
	fmt.Fprintf(w, "\n%s\n", title)
	fmt.Fprintf(w, "| scenario | event | ideal | observed | error |\n|---|---|---|---|---|\n")
	for _, tm := range ts.list {
		fmt.Fprintf(w, "| %s | %s | %.3f%s | %.3f%s | %+.3f%s |\n", tm.Scenario, tm.Event,
			tm.Want.Seconds(), unit, tm.Got.Seconds(), unit, (tm.Got - tm.Want).Seconds(), unit)
	}
}

// Midst runs f and returns the middle of its run: the best guess of when
// the change f makes (and waits for) happened.
func Midst(f func()) time.Time {
	before := time.Now()
	f()
	return before.Add(time.Since(before) / 2)
}
