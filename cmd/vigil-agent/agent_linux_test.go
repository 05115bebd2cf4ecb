//go:build linux

package main

// Helpers for the acceptance tests: build the real vigil-agent once, run
// `doctor` one-shot or `doctor --watch` against a test rig's display and
// PulseAudio, and follow its output.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-cc/vigil/internal/e2etest"
	"github.com/vigil-cc/vigil/internal/testrig"
)

var builder = &e2etest.Builder{Prefix: "vigil-agent-bin-"}

// agentBinary builds ./cmd/vigil-agent (with -race if the tests run with
// it) once per test binary and returns its path.
func agentBinary(t *testing.T) string {
	t.Helper()
	return builder.Binary(t, raceBuild)
}

func TestMain(m *testing.M) {
	code := m.Run()
	builder.Remove()
	os.Exit(code)
}

// doctorOnce runs `vigil-agent doctor` and returns stdout, stderr and its
// error.
func doctorOnce(t *testing.T, env []string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := exec.Command(agentBinary(t), append([]string{"doctor"}, args...)...)
	cmd.Env = env
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err = cmd.Run()
	return o.String(), e.String(), err
}

// doctorJSON runs `doctor --json args...` and decodes its one object.
func doctorJSON(t *testing.T, env []string, args ...string) doctorOutput {
	t.Helper()
	stdout, stderr, err := doctorOnce(t, env, append([]string{"--json"}, args...)...)
	if err != nil {
		t.Fatalf("doctor --json %q: %v\nstdout: %s\nstderr: %s", args, err, stdout, stderr)
	}
	var o doctorOutput
	if err := json.Unmarshal([]byte(stdout), &o); err != nil {
		t.Fatalf("doctor --json output %q: %v", stdout, err)
	}
	return o
}

// watchLine is one line of `doctor --watch --json`, stamped on arrival.
type watchLine struct {
	at  time.Time
	out doctorOutput
}

func (l watchLine) String() string {
	o := l.out
	return fmt.Sprintf("%s idle=%d fg=%v min=%v pid=%d locked=%v mic=%v voice=%v dbfs=%.1f errs=%v",
		l.at.Format("15:04:05.000"), o.IdleMs, o.AgentDeskForeground, o.AgentDeskMinimized, o.ForegroundPID,
		o.ScreenLocked, o.MicAvailable, o.Voice, o.MicDBFS, o.Errors)
}

// watcher runs `vigil-agent doctor --watch --json` and collects its lines.
type watcher struct {
	t      *testing.T
	mu     sync.Mutex
	lines  []watchLine
	raw    bytes.Buffer // everything it wrote, stdout and stderr
	cmd    *exec.Cmd
	exited chan struct{}
	err    error
}

func startWatch(t *testing.T, env []string, args ...string) *watcher {
	t.Helper()
	cmd := exec.Command(agentBinary(t), append([]string{"doctor", "--watch", "--json"}, args...)...)
	cmd.Env = env
	w := watch(t, cmd)
	t.Cleanup(func() { w.stop() })
	return w
}

// watch starts cmd, a `doctor --watch --json` (native or under Wine), and
// collects its lines; the caller stops it.
func watch(t *testing.T, cmd *exec.Cmd) *watcher {
	t.Helper()
	w := &watcher{t: t, cmd: cmd, exited: make(chan struct{})}
	w.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := w.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	w.cmd.Stderr = writerFunc(func(p []byte) (int, error) { w.mu.Lock(); defer w.mu.Unlock(); return w.raw.Write(p) })
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			at := time.Now()
			line := sc.Text()
			var o doctorOutput
			jerr := json.Unmarshal([]byte(line), &o)
			w.mu.Lock()
			w.raw.WriteString(line + "\n")
			if jerr == nil {
				w.lines = append(w.lines, watchLine{at, o})
			}
			w.mu.Unlock()
		}
		_, _ = io.Copy(io.Discard, stdout)
		w.err = w.cmd.Wait()
		close(w.exited)
	}()
	return w
}

// speech plays wav (dur long) into p's sink and returns the line where
// voice came on and the final voice off, with the play's start and end.
// Voice may drop and come back in a long pause inside the speech: what
// counts is the last off after the end.
func (w *watcher) speech(p *testrig.PulseAudio, wav string, dur, timeout time.Duration) (on, final watchLine, start, end time.Time) {
	w.t.Helper()
	from := w.mark()
	start = time.Now()
	played := p.PlayAsync(w.t, wav)
	on, onIdx := w.waitFor(from, timeout, "voice on", func(o doctorOutput) bool { return o.Voice })
	if err := <-played; err != nil {
		w.t.Fatal(err)
	}
	end = time.Now() // paplay returns once the sink has played it all
	off, _ := w.waitFor(onIdx, timeout, "voice off", func(o doctorOutput) bool { return !o.Voice })
	testrig.Eventually(w.t, timeout, func() (bool, string) {
		l, _ := w.last()
		return !l.out.Voice && l.at.After(end.Add(-dur/2)), "waiting for the final voice off"
	})
	final, _ = w.last()
	w.t.Logf("speech %v: voice on %v after play start, first off %v, final off %v after playback ended; lines:\n%s",
		dur.Round(time.Millisecond), on.at.Sub(start).Round(time.Millisecond), off.at.Sub(start).Round(time.Millisecond),
		final.at.Sub(end).Round(time.Millisecond), w.describe(from))
	return on, final, start, end
}

// stop interrupts the watcher and checks it exited cleanly.
func (w *watcher) stop() {
	switch signaled, inTime := testrig.Terminate(w.cmd, w.exited, 5*time.Second); {
	case !inTime:
		w.t.Errorf("doctor --watch did not stop within 5 s of SIGTERM")
	case signaled && w.err != nil:
		w.t.Errorf("doctor --watch exited with %v after SIGTERM\n%s", w.err, w.output())
	}
}

// output is everything the watcher wrote so far.
func (w *watcher) output() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.raw.String()
}

// mark returns the number of lines so far: waitFor(mark, ...) only looks at
// later lines.
func (w *watcher) mark() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.lines)
}

func (w *watcher) since(from int) []watchLine {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]watchLine(nil), w.lines[min(from, len(w.lines)):]...)
}

// last is the latest line (zero if none).
func (w *watcher) last() (watchLine, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.lines) == 0 {
		return watchLine{}, false
	}
	return w.lines[len(w.lines)-1], true
}

var errExited = errors.New("doctor --watch exited")

// waitFor waits until a line after index from satisfies cond and returns
// it with its index.
func (w *watcher) waitFor(from int, timeout time.Duration, what string, cond func(doctorOutput) bool) (watchLine, int) {
	w.t.Helper()
	var found watchLine
	idx := -1
	testrig.Eventually(w.t, timeout, func() (bool, string) {
		for i, l := range w.since(from) {
			if cond(l.out) {
				found, idx = l, from+i
				return true, ""
			}
		}
		select {
		case <-w.exited:
			return false, fmt.Sprintf("%v (%v) while waiting for %s:\n%s", errExited, w.err, what, w.output())
		default:
		}
		return false, fmt.Sprintf("no line with %s yet; lines so far:\n%s", what, w.describe(from))
	})
	return found, idx
}

func (w *watcher) describe(from int) string {
	var b strings.Builder
	for _, l := range w.since(from) {
		b.WriteString("  " + l.String() + "\n")
	}
	return b.String()
}

// sh runs a fixture-making command.
func sh(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %q: %v\n%s", name, args, err, out)
	}
}
