//go:build linux

package acceptance

// The timing scenarios of the issue, end to end: the real agent on a rig
// display with Chromium showing the Agent Desk, a real coordinator with
// T = 30 s, decisions read from the coordinator's audit (exact ms
// timestamps), measured against the instants the test caused. t0 is an
// input the test makes once the agent is reporting; it is taken from the X
// server's own idle counter.

import (
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/vigil-cc/vigil/agent"
	"github.com/vigil-cc/vigil/internal/e2etest"
	"github.com/vigil-cc/vigil/internal/testrig"
)

// tolerance for every decision against its ideal instant.
const tolerance = 500 * time.Millisecond

// No input with the Agent Desk in front: warning at 24 s, logout at 30 s,
// and both on screen.
func TestTimingNoInput(t *testing.T) {
	const name = "no input"
	r, t0 := startTiming(t)
	warned := r.WaitAudit("user.warned", 0, 35*time.Second)
	record(t, name, "warning", t0, t0.Add(24*time.Second), warned.At, tolerance)
	out := r.WaitAudit("user.logged_out", warned.ID, 15*time.Second)
	record(t, name, "logout", t0, t0.Add(30*time.Second), out.At, tolerance)

	// The coordinator's own idea of the input (arrival − idle_ms), from the
	// logout's timeline.
	var detail struct {
		Timeline []struct {
			At     time.Time
			Signal string
		}
	}
	if err := json.Unmarshal(out.Detail, &detail); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, s := range detail.Timeline {
		if s.Signal == "input" {
			record(t, name, "input time as inferred", t0, t0, s.At, 250*time.Millisecond)
			found = true
		}
	}
	if !found {
		t.Errorf("the logout's timeline has no input: %s", out.Detail)
	}

	// On screen: a countdown from 6 s updated in place once a second, then
	// the logout notice in its place.
	notice := waitNotification(t, r, agent.LoggedOutBody, 5*time.Second)
	calls := r.Notes.Calls()
	var countdown []testrig.Notification
	for _, c := range calls {
		if c.Method == "Notify" && strings.HasPrefix(c.Body, "You will be logged out in ") {
			countdown = append(countdown, c)
		}
	}
	if len(countdown) < 6 {
		t.Fatalf("the countdown showed %d times, want 6 or 7:\n%s", len(countdown), describeCalls(calls, t0))
	}
	record(t, name, "warning on screen", t0, warned.At, countdown[0].At, 300*time.Millisecond)
	record(t, name, "logout notice on screen", t0, out.At, notice.At, 300*time.Millisecond)
	for i, c := range countdown {
		if want := agent.CountdownBody(6 - i); c.Body != want || c.Urgency != 2 || c.Expire != 0 {
			t.Errorf("countdown %d: %q urgency %d expire %d, want %q, critical, never expiring", i, c.Body, c.Urgency, c.Expire, want)
		}
		if i > 0 && (c.Replace != countdown[0].ID || c.ID != countdown[0].ID) {
			t.Errorf("countdown %d: notification %d replacing %d, want it updated in place (%d)", i, c.ID, c.Replace, countdown[0].ID)
		}
		if gap := c.At.Sub(countdown[0].At) - time.Duration(i)*time.Second; i > 0 && (gap < -300*time.Millisecond || gap > 300*time.Millisecond) {
			t.Errorf("countdown %d shown %+.3fs off its second", i, gap.Seconds())
		}
	}
	if notice.Replace != countdown[0].ID {
		t.Errorf("the logout notice replaces %d, want the countdown %d", notice.Replace, countdown[0].ID)
	}
}

// A key at 26 s dismisses the warning at once and the next one comes at 50 s.
func TestTimingKeyDismisses(t *testing.T) {
	const name = "key at 26 s dismisses"
	r, t0 := startTiming(t)
	w1 := r.WaitAudit("user.warned", 0, 35*time.Second)
	record(t, name, "warning", t0, t0.Add(24*time.Second), w1.At, tolerance)

	e2etest.SleepUntil(t0.Add(26 * time.Second))
	t1 := r.Input("key")
	wd := r.WaitAudit("user.warning_withdrawn", w1.ID, 5*time.Second)
	if !strings.Contains(string(wd.Detail), `"dismissed"`) {
		t.Errorf("withdrawn %s, want dismissed", wd.Detail)
	}
	record(t, name, "dismissed (key at 26 s)", t0, t1, wd.At, tolerance)
	w2 := r.WaitAudit("user.warned", wd.ID, 30*time.Second)
	record(t, name, "next warning (key + 24 s)", t0, t1.Add(24*time.Second), w2.At, tolerance)

	// On screen: the countdown was closed at the dismissal.
	var closed *testrig.Notification
	testrig.Eventually(t, 2*time.Second, func() (bool, string) {
		for _, c := range r.Notes.Calls() {
			if c.Method == "CloseNotification" {
				closed = &c
				return true, ""
			}
		}
		return false, "no CloseNotification yet:\n" + describeCalls(r.Notes.Calls(), t0)
	})
	record(t, name, "countdown closed on screen", t0, wd.At, closed.At, 300*time.Millisecond)
	waitNotification(t, r, agent.CountdownBody(6), 2*time.Second)
	for _, e := range r.Co.Audit(r.User) {
		if e.Kind == "user.logged_out" {
			t.Errorf("logged out: %s", e2etest.Kinds(r.Co.Audit(r.User)))
		}
	}
}

// Minimized from 10 s to 17 s (xdotool windowminimize / windowactivate,
// which are not input): the warning comes at 31 s.
func TestTimingMinimized(t *testing.T) {
	const name = "minimized 10-17 s"
	r, t0 := startTiming(t)
	e2etest.SleepUntil(t0.Add(10 * time.Second))
	// Each switch is timed at the middle of the call that makes it (it
	// returns once the window manager did it): on a loaded machine the
	// restore alone can take half a second.
	minimizedAt := e2etest.Midst(func() { r.X.MustXdotool(t, "windowminimize", "--sync", r.Browser.Window) })
	e2etest.SleepUntil(t0.Add(17 * time.Second))
	restoredAt := e2etest.Midst(func() { r.X.MustXdotool(t, "windowactivate", "--sync", r.Browser.Window) })
	r.X.Activate(t, r.Browser.Window)
	if idle := r.Idle(); idle < time.Since(t0)-time.Second {
		t.Errorf("X idle %v after minimizing and restoring, want about %v: they are not input", idle, time.Since(t0))
	}
	warned := r.WaitAudit("user.warned", 0, 30*time.Second)
	record(t, name, "warning (24 s + 7 s paused)", t0, t0.Add(24*time.Second+restoredAt.Sub(minimizedAt)), warned.At, tolerance)
	for _, e := range r.Co.Audit(r.User) {
		if e.ID < warned.ID && (e.Kind == "user.warned" || e.Kind == "user.warning_withdrawn") {
			t.Errorf("a warning before the expected one: %s", e2etest.Kinds(r.Co.Audit(r.User)))
		}
	}
}

// A short utterance ending at S while counting: the warning at S + 24 s.
func TestTimingSpeech(t *testing.T) {
	e2etest.Long(t, nil)
	const name = "utterance ending at S"
	wav, dur := utterance(t)
	r := newRig(t, rigOptions{})
	t0 := r.Input("mouse")
	e2etest.SleepUntil(t0.Add(5 * time.Second))
	played := r.Pulse.PlayAsync(t, wav)
	if err := <-played; err != nil {
		t.Fatal(err)
	}
	s := time.Now() // paplay returns once the sink has played it all
	t.Logf("utterance of %v played, ending %.3fs after t0", dur.Round(time.Millisecond), s.Sub(t0).Seconds())
	warned := r.WaitAudit("user.warned", 0, 35*time.Second)
	record(t, name, "warning (S + 24 s)", t0, s.Add(24*time.Second), warned.At, tolerance)
	if !strings.Contains(r.Agent.Out.String(), `\"voice\":true`) {
		t.Errorf("the agent never reported voice:\n%s", r.Agent.Out.String())
	}
}

// The coordinator restarted mid-session (stopped, started again on the same
// address and data): the agent is back within 5 s, and the downtime brings
// no false warning or logout; the clock resumes where it stopped.
func TestTimingCoordinatorRestart(t *testing.T) {
	const name = "coordinator restart at 8 s"
	r, t0 := startTiming(t)
	e2etest.SleepUntil(t0.Add(8 * time.Second))
	stoppedAt := time.Now()
	stopped := r.Co
	stopped.Close() // what Serve returned is checked at cleanup
	downAt := time.Now()
	time.Sleep(time.Second)
	openedAt := time.Now()
	ln, err := net.Listen("tcp", stopped.Addr)
	if err != nil {
		t.Fatalf("listening again on %s: %v", stopped.Addr, err)
	}
	r.Co = e2etest.StartCoord(t, stopped.Dir, ln)
	upAt := time.Now()
	var back time.Time
	testrig.Eventually(t, 5*time.Second, func() (bool, string) {
		for _, s := range r.Co.Hub.Sessions() {
			if s.DeskUser == r.User {
				back = s.Since
				return true, ""
			}
		}
		return false, fmt.Sprintf("the agent is not back %v after the restart", time.Since(openedAt))
	})
	t.Logf("agent back %v after the coordinator started again (stopping took %v, down %v, starting took %v)", back.Sub(openedAt).Round(time.Millisecond),
		downAt.Sub(stoppedAt).Round(time.Millisecond), openedAt.Sub(downAt).Round(time.Millisecond), upAt.Sub(openedAt).Round(time.Millisecond))
	record(t, name, "agent back (restart + ≤ 5 s)", t0, openedAt, back, 5*time.Second)
	if d := back.Sub(openedAt); d < 0 || d > 5*time.Second {
		t.Errorf("the agent came back %v after the restart, want within 5 s", d)
	}

	// The downtime is not counted: warning at t0 + 24 s + downtime. It runs
	// from the last instant the stopped coordinator recorded itself alive
	// (its final flush, inside the shutdown) to the restore (inside Open);
	// a slow shutdown or Open on a loaded machine moves both, so they are
	// the coordinator's own, checked to lie in those two windows.
	dt := r.Co.Downtime
	from := stoppedAt.Add(-time.Millisecond) // the mark is stored in ms
	if dt.From.Before(from) || dt.From.After(downAt) || dt.To.Before(openedAt) || dt.To.After(upAt) {
		t.Fatalf("downtime %v – %v is not within the shutdown (%v – %v) and the start (%v – %v)",
			dt.From, dt.To, stoppedAt, downAt, openedAt, upAt)
	}
	if downAt.Sub(stoppedAt) > time.Second { // say where a slow stop spent its time
		for l := range strings.Lines(stopped.Log.String()) {
			if strings.Contains(l, "coordinator stopped") {
				t.Log(l)
			}
		}
	}
	down := dt.To.Sub(dt.From)
	warned := r.WaitAudit("user.warned", 0, 30*time.Second)
	record(t, name, "warning (24 s + downtime)", t0, t0.Add(24*time.Second+down), warned.At, tolerance)
	out := r.WaitAudit("user.logged_out", warned.ID, 15*time.Second)
	record(t, name, "logout (30 s + downtime)", t0, t0.Add(30*time.Second+down), out.At, tolerance)
	for _, e := range r.Co.Audit(r.User) {
		if e.ID < warned.ID && (e.Kind == "user.warned" || e.Kind == "user.logged_out" || e.Kind == "sensor.lost") {
			t.Errorf("%s before the expected warning: %s", e.Kind, e2etest.Kinds(r.Co.Audit(r.User)))
		}
	}
	for _, c := range r.Notes.Calls() {
		if c.At.Before(warned.At) {
			t.Errorf("a notification before the warning: %+v", c)
		}
	}
	if n := strings.Count(r.Agent.Out.String(), `msg="connected to the coordinator"`); n != 2 {
		t.Errorf("the agent connected %d times, want 2", n)
	}
}

// waitNotification waits for a Notify showing body.
func waitNotification(t *testing.T, r *e2etest.Rig, body string, within time.Duration) testrig.Notification {
	t.Helper()
	var found testrig.Notification
	testrig.Eventually(t, within, func() (bool, string) {
		for _, c := range r.Notes.Calls() {
			if c.Method == "Notify" && c.Body == body {
				found = c
				return true, ""
			}
		}
		return false, fmt.Sprintf("no notification %q:\n%s", body, describeCalls(r.Notes.Calls(), time.Time{}))
	})
	return found
}

func describeCalls(calls []testrig.Notification, t0 time.Time) string {
	var b strings.Builder
	for _, c := range calls {
		at := c.At.Format("15:04:05.000")
		if !t0.IsZero() {
			at = fmt.Sprintf("%+.3fs", c.At.Sub(t0).Seconds())
		}
		fmt.Fprintf(&b, "  %s %s #%d (replaces %d) %q\n", at, c.Method, c.ID, c.Replace, c.Body)
	}
	return b.String()
}

// utterance writes a short espeak-ng utterance as 16 kHz mono, silence
// trimmed, and returns it with its duration.
func utterance(t *testing.T) (string, time.Duration) {
	t.Helper()
	return e2etest.Speech(t, t.TempDir(), "Hello, how can I help you?")
}
