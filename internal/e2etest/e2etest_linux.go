//go:build linux

package e2etest

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
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-cc/vigil/coordinator"
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
// setting) into a temporary directory named after Prefix.
type Builder struct {
	Prefix string

	mu    sync.Mutex
	dir   string
	built map[bool]string // race → path
}

// Binary builds the agent (with -race when race is set) unless it already
// has, and returns its path.
func (b *Builder) Binary(t testing.TB, race bool) string {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if p := b.built[race]; p != "" {
		return p
	}
	if b.dir == "" {
		d, err := os.MkdirTemp("", b.Prefix)
		if err != nil {
			t.Fatal(err)
		}
		b.dir = d
	}
	name := "vigil-agent"
	args := []string{"build"}
	if race {
		name += "-race"
		args = append(args, "-race")
	}
	p := filepath.Join(b.dir, name)
	out, err := exec.Command(GoTool(), append(args, "-o", p, "github.com/vigil-cc/vigil/cmd/vigil-agent")...).CombinedOutput()
	if err != nil {
		t.Fatalf("building vigil-agent: %v\n%s", err, out)
	}
	if b.built == nil {
		b.built = map[bool]string{}
	}
	b.built[race] = p
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

// Coordinator is a coordinator running in this process.
type Coordinator struct {
	Srv   *coordinator.Server
	Dir   string
	Addr  string // 127.0.0.1:PORT
	Token string // the admin API token

	cancel  context.CancelFunc
	stopped chan error
}

// StartCoordinator runs a coordinator with its data in dir on ln, with the
// admin token token, logging at debug level to log (heartbeat 20 s, grace
// 45 s, as in production).
func StartCoordinator(t testing.TB, dir string, ln net.Listener, token string, log io.Writer) *Coordinator {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := coordinator.Open(ctx, coordinator.Config{
		Listen: ln.Addr().String(), DataDir: dir, AdminToken: token,
		Heartbeat: 20 * time.Second, Grace: 45 * time.Second,
		Log: slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		cancel()
		ln.Close()
		t.Fatalf("opening the coordinator: %v", err)
	}
	c := &Coordinator{Srv: srv, Dir: dir, Addr: ln.Addr().String(), Token: token, cancel: cancel, stopped: make(chan error, 1)}
	go func() {
		err := srv.Serve(ctx, ln)
		srv.Store.Close()
		c.stopped <- err
	}()
	return c
}

// Stop stops the coordinator (agents are told 1001 going away) and waits
// until its store is closed, at most within (0: no limit). done is false
// if it did not stop in time; err is what Serve returned. Call it once.
func (c *Coordinator) Stop(within time.Duration) (done bool, err error) {
	c.cancel()
	if within == 0 {
		return true, <-c.stopped
	}
	select {
	case err := <-c.stopped:
		return true, err
	case <-time.After(within):
		return false, nil
	}
}

// Call calls the API at base (http://HOST:PORT) with the bearer token and
// returns the status and body.
func Call(t testing.TB, base, token, method, path string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, base+path, rd)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}

// User is a user as the API shows it.
type User struct {
	User         string
	State        string
	Paused       []string
	InactivityMS int64 `json:"inactivity_ms"`
	Sensor       struct{ Status, Host string }
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
// developer's desktop session, plus the rig's.
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
	return env
}

// StartAgent runs `bin args...` with env; it is killed if this process
// dies. Stopping it is the caller's.
func StartAgent(t testing.TB, bin string, env []string, args ...string) *Agent {
	t.Helper()
	a := &Agent{Exited: make(chan struct{})}
	a.Cmd = exec.Command(bin, args...)
	a.Cmd.Env = env
	a.Cmd.Stdout, a.Cmd.Stderr = &a.Out, &a.Out
	a.Cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := a.Cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		a.Err = a.Cmd.Wait()
		close(a.Exited)
	}()
	return a
}

// Stop sends SIGTERM unless the agent has exited, and waits 10 s for it to
// exit (then kills it and fails t). With clean, an exit after SIGTERM
// with an error fails t too.
func (a *Agent) Stop(t testing.TB, clean bool) {
	select {
	case <-a.Exited:
		return
	default:
	}
	_ = a.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.Exited:
		if clean && a.Err != nil {
			t.Errorf("vigil-agent exited with %v after SIGTERM", a.Err)
		}
	case <-time.After(10 * time.Second):
		_ = a.Cmd.Process.Kill()
		<-a.Exited
		t.Errorf("vigil-agent did not stop within 10 s of SIGTERM")
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

// Activate makes window id active and waits until the window manager says
// so (an activation asked for before the window is managed is lost).
// Activation is not input.
func Activate(t testing.TB, x *testrig.X, id string) {
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
