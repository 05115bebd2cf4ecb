//go:build linux

package main

// The Windows agent's session under Wine against a real coordinator in
// this process (T = 30 s): the warning and logout at their instants, timed
// by the coordinator's audit against the X server's instant of the input,
// the warning window on screen (Wine maps it to an X window) and gone when
// a key dismisses the warning, and the clock paused while the Agent Desk
// (Wine's notepad) is minimized.

import (
	"fmt"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-cc/vigil/internal/e2etest"
	"github.com/vigil-cc/vigil/internal/testrig"
	"github.com/vigil-cc/vigil/internal/username"
	"github.com/vigil-cc/vigil/platform/notify"
)

// wineTolerance for every decision against its ideal instant, as on Linux.
const wineTolerance = 500 * time.Millisecond

var wineTimings e2etest.Timings

// wineSession is one scenario's world: a display, a Wine prefix with
// notepad in front as the Agent Desk, a coordinator with T = 30 s, the
// OS user signed in to the Agent Desk, and vigil-agent.exe session live.
type wineSession struct {
	t    testing.TB
	x    *testrig.X
	wine *testrig.WinePrefix
	co   *e2etest.Coord
	user string
	pad  string // notepad's X window
	out  *testrig.Buffer
}

// wineOptions are what a scenario changes in its world.
type wineOptions struct {
	timeout int                 // T in seconds
	via     func(string) string // the address the agent dials for the coordinator's (a proxy), or nil
	pulse   *testrig.PulseAudio // the microphone Wine's driver reaches; nil: --mic=false
}

func startWineSession(t *testing.T) *wineSession {
	t.Helper()
	return startWine(t, wineOptions{timeout: 30})
}

// startWine starts the world with o's T, proxy and microphone; the Wine
// session tests use T = 30 s, no proxy and --mic=false.
func startWine(t testing.TB, o wineOptions) *wineSession {
	t.Helper()
	exe := windowsAgent(t)
	testrig.Require(t, "xprintidle")
	s := &wineSession{t: t, out: &testrig.Buffer{}}
	s.co = e2etest.StartCoord(t, t.TempDir(), nil)
	s.co.SetTimeout(true, o.timeout)
	s.co.Must("PUT", "/api/v1/settings", map[string]any{"agent_desk": map[string]any{"title_pattern": "Notepad"}}, nil)
	s.x = testrig.Display(t)
	var rigEnv [][]string
	if o.pulse != nil {
		rigEnv = append(rigEnv, o.pulse.Env())
	}
	s.wine = testrig.Wine(t, s.x, rigEnv...)
	s.wine.Start(t, "notepad")
	s.pad = searchWindow(t, s.x, "--name", "Notepad")
	// Notepad in the top left, the warning window comes in the top right,
	// and the pointer rests off both: windows appearing under it could make
	// input of their own. (No --sync: it waits for a change that does not
	// come if the window is there already.)
	s.x.MustXdotool(t, "windowsize", s.pad, "600", "400")
	s.x.MustXdotool(t, "windowmove", s.pad, "0", "0")
	s.x.MustXdotool(t, "mousemove", "--sync", "1200", "780")
	s.x.Activate(t, s.pad)

	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	s.user = username.Bare(me.Username) // Wine's user is the Unix one
	s.co.DeskLogin(s.user)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s's audit:%s", s.user, e2etest.Kinds(s.co.Audit(s.user)))
		}
	})

	// The state directory on this machine, as Wine's Z: drive shows it.
	state := filepath.Join(t.TempDir(), "state")
	addr := s.co.Addr
	if o.via != nil {
		addr = o.via(addr)
	}
	args := []string{"session", "--coordinator", "ws://" + addr,
		"--enroll-token", s.co.EnrollmentToken(2), "--state-dir", `Z:` + strings.ReplaceAll(state, "/", `\`),
		fmt.Sprintf("--mic=%v", o.pulse != nil), "--log-level", "debug"}
	// Now and then Wine's launcher ends at once without the program
	// writing a byte (seen once in about ten runs): that is not the agent
	// failing (a Go program that dies says why), so it gets one more start.
	for attempt := 1; ; attempt++ {
		err := s.runAgent(exe, args)
		if err == nil {
			break
		}
		if attempt == 2 || s.out.String() != "" {
			t.Fatalf("%v\n%s", err, s.out.String())
		}
		t.Logf("%v; starting it once more", err)
	}
	return s
}

// runAgent starts vigil-agent.exe under Wine and waits until its sensor is
// live for the user, the user active and nothing paused. It reports an
// early exit as an error.
func (s *wineSession) runAgent(exe string, args []string) error {
	t := s.t
	t.Helper()
	cmd := s.wine.Command(exe, args...)
	cmd.Stdout, cmd.Stderr = s.out, s.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	// Wine's process gets no console interrupt from a signal: killed, and
	// the prefix's wineserver -k (testrig.Wine) ends what is left.
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("vigil-agent.exe output (tail):\n%s", e2etest.Tail(s.out.String(), 80))
		}
	})
	var early error
	testrig.Eventually(t, 90*time.Second, func() (bool, string) {
		select {
		case <-exited:
			early = fmt.Errorf("vigil-agent.exe exited after %d bytes of output: %v", len(s.out.String()), waitErr)
			return true, ""
		default:
		}
		u := s.co.User(s.user)
		return u.Sensor.Status == "live" && u.State == "active" && len(u.Paused) == 0,
			fmt.Sprintf("user %s: %+v", s.user, u)
	})
	return early
}

// input presses shift in notepad (the focused window) and returns the X
// server's instant of it, from its idle counter: the instant Wine stamps
// the input with.
func (s *wineSession) input() time.Time {
	s.t.Helper()
	s.x.MustXdotool(s.t, "key", "shift")
	idle, at := s.x.IdleAt(s.t)
	return at.Add(-idle)
}

// warningWindows lists the visible X windows named like the warning
// window.
func (s *wineSession) warningWindows() []string {
	out, _ := s.x.Xdotool("search", "--onlyvisible", "--name", "^Vigil")
	if out == "" {
		return nil // xdotool fails when it finds none
	}
	return strings.Fields(out)
}

// waitWindow waits until the warning window is shown (or gone) and returns
// when it was first seen so.
func (s *wineSession) waitWindow(shown bool, within time.Duration) time.Time {
	s.t.Helper()
	var at time.Time
	testrig.Eventually(s.t, within, func() (bool, string) {
		ws := s.warningWindows()
		at = time.Now()
		return (len(ws) > 0) == shown, fmt.Sprintf("warning windows %q, want shown=%v", ws, shown)
	})
	return at
}

func (s *wineSession) record(scenario, event string, t0, want, got time.Time, tol time.Duration) {
	s.t.Helper()
	wineTimings.Record(s.t, scenario, event, t0, want, got, tol)
}

// noAudit fails if the audit holds an entry of one of kinds.
func (s *wineSession) noAudit(kinds ...string) {
	s.t.Helper()
	es := s.co.Audit(s.user)
	for _, e := range es {
		for _, k := range kinds {
			if e.Kind == k {
				s.t.Errorf("unexpected %s: %s", k, e2etest.Kinds(es))
				return
			}
		}
	}
}

// No input with notepad in front: the warning at 24 s with its window on
// screen (notepad keeping the focus); a key at 26 s withdraws it and the
// window goes; then the next warning at key + 24 s and the logout at
// key + 30 s, the window showing the notice.
func TestWineSessionWarningAndLogout(t *testing.T) {
	t.Parallel()
	const name = "wine: no input"
	s := startWineSession(t)
	t0 := s.input()

	w1 := s.co.WaitAudit(s.user, "user.warned", 0, 40*time.Second)
	s.record(name, "warning", t0, t0.Add(24*time.Second), w1.At, wineTolerance)
	seen := s.waitWindow(true, 5*time.Second)
	s.record(name, "warning window seen", t0, w1.At, seen, time.Second)
	win := s.warningWindows()
	if len(win) != 1 {
		t.Fatalf("warning windows %q, want one", win)
	}
	if title := s.x.MustXdotool(t, "getwindowname", win[0]); title != notify.WindowTitle {
		t.Errorf("the warning window's title is %q, want %q", title, notify.WindowTitle)
	}
	if active, err := s.x.Xdotool("getactivewindow"); err != nil || active != s.pad {
		t.Errorf("active window %q (%v) with the warning shown, want notepad %s: the warning took the focus", active, err, s.pad)
	}

	e2etest.SleepUntil(t0.Add(26 * time.Second))
	t1 := s.input()
	wd := s.co.WaitAudit(s.user, "user.warning_withdrawn", w1.ID, 5*time.Second)
	if !strings.Contains(string(wd.Detail), `"dismissed"`) {
		t.Errorf("withdrawn %s, want dismissed", wd.Detail)
	}
	s.record(name, "dismissed (key at 26 s)", t0, t1, wd.At, wineTolerance)
	gone := s.waitWindow(false, 5*time.Second)
	s.record(name, "warning window gone", t0, wd.At, gone, time.Second)

	w2 := s.co.WaitAudit(s.user, "user.warned", wd.ID, 30*time.Second)
	s.record(name, "next warning (key + 24 s)", t0, t1.Add(24*time.Second), w2.At, wineTolerance)
	s.waitWindow(true, 5*time.Second)
	out := s.co.WaitAudit(s.user, "user.logged_out", w2.ID, 10*time.Second)
	s.record(name, "logout (key + 30 s)", t0, t1.Add(30*time.Second), out.At, wineTolerance)
	// The window stays, with the notice in place of the countdown.
	testrig.Eventually(t, 5*time.Second, func() (bool, string) {
		return strings.Contains(s.out.String(), "logged out of the Agent Desk due to inactivity"), "no logout notice in the agent's log"
	})
	if ws := s.warningWindows(); len(ws) != 1 {
		t.Errorf("warning windows %q after the logout, want the notice", ws)
	}
	if strings.Contains(s.out.String(), "Untitled") {
		t.Errorf("the agent's output holds notepad's title")
	}
}

// Notepad minimized from 8 s to 27 s (not input): no warning at 24 s, and
// the warning at 24 s + the 19 s paused.
func TestWineSessionMinimizedPauses(t *testing.T) {
	t.Parallel()
	const name = "wine: minimized 8-27 s"
	s := startWineSession(t)
	t0 := s.input()
	e2etest.SleepUntil(t0.Add(8 * time.Second))
	minimizedAt := time.Now()
	s.x.MustXdotool(t, "windowminimize", "--sync", s.pad)
	e2etest.SleepUntil(t0.Add(27 * time.Second))
	s.noAudit("user.warned", "user.logged_out")
	if ws := s.warningWindows(); len(ws) > 0 {
		t.Errorf("warning windows %q while notepad is minimized", ws)
	}
	restoredAt := time.Now()
	s.x.Activate(t, s.pad)
	warned := s.co.WaitAudit(s.user, "user.warned", 0, 30*time.Second)
	s.record(name, "warning (24 s + paused)", t0, t0.Add(24*time.Second+restoredAt.Sub(minimizedAt)), warned.At, wineTolerance)
	seen := s.waitWindow(true, 5*time.Second)
	s.record(name, "warning window seen", t0, warned.At, seen, time.Second)
}
