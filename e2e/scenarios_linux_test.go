//go:build linux

package e2e

// The seed's scenarios, one test per line, T = 30 s, each decision read
// from the coordinator's audit (`at`, ms) and compared with the instant the
// test caused, ± 0.5 s. t0 is an XTEST input made once the agent reports,
// taken from the X server's own idle counter.

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"

	"github.com/vigil-cc/vigil/internal/e2etest"
	"github.com/vigil-cc/vigil/internal/testrig"
)

// Enabled, T = 30: warning at 24 s, no input → logout at 30 s, ann's
// conversation goes to bob (logged in through the API), and the audit
// explains it.
func TestEnabledWarnsThenLogsOutAndReroutes(t *testing.T) {
	scenario(t)
	r := newRig(t, 30)
	chat := newConversation(r.Co, "chat", "Customer One")
	if chat.User != agentName {
		t.Fatalf("the chat went to %q, want %s", chat.User, agentName)
	}
	r.waitJS(fmt.Sprintf(`!!document.querySelector('li[data-id=%q]')`, chat.ID), 5*time.Second)
	t0 := r.Input("mouse")

	// bob logs in half-way: available when ann is logged out, not warned yet.
	e2etest.SleepUntil(t0.Add(12 * time.Second))
	r.Co.Must("POST", "/api/v1/desk/login", map[string]string{"user": "bob"}, nil)

	warned := r.WaitAudit("user.warned", 0, 30*time.Second)
	record(t, "warning (24 s)", t0, t0.Add(24*time.Second), warned.At, tolerance)
	r.waitJS(`!document.getElementById('warning-backdrop').hidden`, 2*time.Second)
	out := r.WaitAudit("user.logged_out", warned.ID, 10*time.Second)
	record(t, "logout (30 s)", t0, t0.Add(30*time.Second), out.At, tolerance)
	r.waitJS(`!document.getElementById('logged-out').hidden`, 3*time.Second)

	var detail struct {
		Reason   string
		Timeline []struct {
			At     time.Time
			Signal string
		}
	}
	if err := json.Unmarshal(out.Detail, &detail); err != nil {
		t.Fatal(err)
	}
	var signals []string
	for _, s := range detail.Timeline {
		signals = append(signals, s.Signal)
	}
	if detail.Reason != "inactivity" || !contains(signals, "input") || !contains(signals, "warned") {
		t.Errorf("the logout's detail: %s", out.Detail)
	}
	rr := r.WaitAudit("conversation.rerouted", out.ID-1, 5*time.Second)
	var rd struct {
		Conversation, From, To string
		LogoutAuditID          int64 `json:"logout_audit_id"`
	}
	if err := json.Unmarshal(rr.Detail, &rd); err != nil {
		t.Fatal(err)
	}
	if rd.Conversation != chat.ID || rd.From != agentName || rd.To != "bob" || rd.LogoutAuditID != out.ID {
		t.Errorf("conversation.rerouted: %s (logout entry %d)", rr.Detail, out.ID)
	}
	var c conversation
	r.Co.Must("GET", "/api/v1/conversations/"+chat.ID, nil, &c)
	if c.User != "bob" || c.ReroutedFrom != agentName {
		t.Errorf("the chat after the logout: %+v", c)
	}
}

// A key during the warning dismisses it; the session continues and the
// next warning comes 24 s after the key. A mouse move does the same.
func TestInputDuringWarningDismissesIt(t *testing.T) {
	scenario(t)
	r := newRig(t, 30)
	t0 := r.Input("mouse")
	w1 := r.WaitAudit("user.warned", 0, 30*time.Second)
	record(t, "warning (24 s)", t0, t0.Add(24*time.Second), w1.At, tolerance)

	e2etest.SleepUntil(t0.Add(26 * time.Second))
	t1 := r.Input("key")
	wd := r.WaitAudit("user.warning_withdrawn", w1.ID, 5*time.Second)
	if !strings.Contains(string(wd.Detail), `"dismissed"`) {
		t.Errorf("withdrawn %s, want dismissed", wd.Detail)
	}
	record(t, "dismissed (key at 26 s)", t0, t1, wd.At, tolerance)
	r.waitJS(`document.getElementById('warning-backdrop').hidden`, 2*time.Second)
	w2 := r.WaitAudit("user.warned", wd.ID, 30*time.Second)
	record(t, "next warning (key + 24 s)", t0, t1.Add(24*time.Second), w2.At, tolerance)

	// The mouse dismisses it too.
	e2etest.SleepUntil(t1.Add(25 * time.Second))
	t2 := r.Input("mouse")
	wd2 := r.WaitAudit("user.warning_withdrawn", w2.ID, 5*time.Second)
	record(t, "dismissed (mouse at key + 25 s)", t0, t2, wd2.At, tolerance)
	r.NoneOf(0, "user.logged_out")
}

// Speech keeps the user active: an utterance ending at S, the warning at
// S + 24 s (plus the VAD's ~0.3 s hangover, within the tolerance).
func TestSpeechKeepsTheUserActive(t *testing.T) {
	scenario(t)
	wav, dur := utterance(t)
	r := newRig(t, 30)
	t0 := r.Input("mouse")
	e2etest.SleepUntil(t0.Add(8 * time.Second))
	if err := <-r.Pulse.PlayAsync(t, wav); err != nil {
		t.Fatal(err)
	}
	s := time.Now() // paplay returns once the sink has played it all
	t.Logf("utterance of %v ended %.3fs after t0", dur.Round(time.Millisecond), s.Sub(t0).Seconds())
	warned := r.WaitAudit("user.warned", 0, 30*time.Second)
	record(t, "warning (end of speech + 24 s)", t0, s.Add(24*time.Second+150*time.Millisecond), warned.At, tolerance)
	if !strings.Contains(r.Agent.Out.String(), `\"voice\":true`) {
		t.Errorf("the agent never reported voice")
	}
}

// pausedScenario runs: t0, then pause() at 10 s and resume() at 17 s (each
// returning when it took effect); the warning comes at 24 s + the paused
// time, and neither switch was input.
func pausedScenario(t *testing.T, r *rig, pause, resume func() time.Time) {
	t.Helper()
	t0 := r.Input("mouse")
	e2etest.SleepUntil(t0.Add(10 * time.Second))
	from := pause()
	testrig.Eventually(t, 3*time.Second, func() (bool, string) {
		u := r.Co.User(agentName)
		return u.State == "paused", fmt.Sprintf("%+v", u)
	})
	e2etest.SleepUntil(t0.Add(17 * time.Second))
	to := resume()
	if idle := r.Idle(); idle < time.Since(t0)-time.Second {
		t.Errorf("X idle %v after the switches, want about %v: they are not input", idle, time.Since(t0))
	}
	t.Logf("paused %.3fs → %.3fs", from.Sub(t0).Seconds(), to.Sub(t0).Seconds())
	warned := r.WaitAudit("user.warned", 0, 30*time.Second)
	record(t, "warning (24 s + paused time)", t0, t0.Add(24*time.Second+to.Sub(from)), warned.At, tolerance)
	r.NoneOf(0, "user.warning_withdrawn")
	for _, e := range r.Co.Audit(agentName) {
		if e.Kind == "user.warned" && e.ID < warned.ID {
			t.Errorf("an earlier warning: %s", e2etest.Kinds(r.Co.Audit(agentName)))
		}
	}
}

// The Agent Desk minimized (windowminimize / windowactivate, not input).
func TestMinimizedIsNotCounted(t *testing.T) {
	scenario(t)
	r := newRig(t, 30)
	pausedScenario(t, r, func() time.Time {
		return e2etest.Midst(func() { r.X.MustXdotool(t, "windowminimize", "--sync", r.Browser.Window) })
	}, r.reactivate)
}

// Another tab in front: a new tab opened and the desk's tab brought back
// over DevTools (Target.createTarget / Target.activateTarget), not input.
func TestOtherTabInFrontIsNotCounted(t *testing.T) {
	scenario(t)
	r := newRig(t, 30)
	browser := chromedp.FromContext(r.bctx).Browser
	// The title changes while the DevTools call is still running (a new
	// tab shows its URL before its title): the switch is timed by watching
	// for the title the agent matches, not by the call's return.
	deskInFront := func(want bool) func() bool {
		return func() bool {
			name, err := r.X.Xdotool("getwindowname", r.Browser.Window)
			return err == nil && strings.HasPrefix(name, "Agent Desk") == want
		}
	}
	pausedScenario(t, r, func() time.Time {
		return r.change(t, "another tab in front", func() error {
			return withTimeout(r.bctx, func(ctx context.Context) error {
				_, err := cdp.Call(ctx, browser, target.CreateTarget, target.CreateTargetParams{URL: "data:text/html,<title>Other tab</title>other"})
				return err
			})
		}, deskInFront(false))
	}, func() time.Time {
		return r.change(t, "the Agent Desk's tab in front again", func() error {
			return withTimeout(r.bctx, func(ctx context.Context) error {
				_, err := cdp.Call(ctx, browser, target.ActivateTarget, target.ActivateTargetParams{TargetID: r.deskID})
				return err
			})
		}, deskInFront(true))
	})
}

// Another window in front: an xmessage window takes the focus, then the
// Agent Desk's window is activated again (neither is input).
func TestOtherWindowInFrontIsNotCounted(t *testing.T) {
	scenario(t)
	r := newRig(t, 30)
	pausedScenario(t, r, func() time.Time {
		r.X.Run(t, "xmessage", "-geometry", "300x100+1000+100", "-title", "Other window", "another application")
		// The window manager gives the new window the focus when it maps:
		// the switch is between the last check that still saw the Agent
		// Desk active and the first that did not.
		prev := time.Now()
		for deadline := prev.Add(10 * time.Second); time.Now().Before(deadline); {
			at := time.Now()
			out, err := r.X.Xdotool("getactivewindow")
			if err == nil && out != "" && out != r.Browser.Window {
				return prev.Add(at.Sub(prev) / 2)
			}
			prev = at
		}
		t.Fatal("the other window never took the focus")
		return time.Time{}
	}, r.reactivate)
}

// On an active voice call: a voice conversation accepted through the
// built-in controller's API pauses the clock; ending it resumes.
func TestVoiceCallIsNotCounted(t *testing.T) {
	scenario(t)
	r := newRig(t, 30)
	call := newConversation(r.Co, "voice", "+44 20 7946 0000")
	if call.User != agentName {
		t.Fatalf("the call went to %q", call.User)
	}
	pausedScenario(t, r, func() time.Time {
		r.Co.Must("POST", "/api/v1/conversations/"+call.ID+"/accept", nil, nil)
		return r.WaitAudit("conversation.accepted", 0, 2*time.Second).At
	}, func() time.Time {
		r.Co.Must("POST", "/api/v1/conversations/"+call.ID+"/end", nil, nil)
		return r.WaitAudit("conversation.ended", 0, 2*time.Second).At
	})
}

// The settings page as admin: 29 is refused inline and nothing is saved;
// changing T from 60 to 30 while ann is at I = 10 s applies to her running
// session: the warning at I = 24 s.
func TestSettingsPageRefusesAndAppliesLive(t *testing.T) {
	scenario(t)
	r := newRig(t, 60)
	ctx := testrig.Headless(t)
	do := func(steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("admin browser: %v", err)
		}
	}
	do(chromedp.Navigate(r.Co.Base+"/login?next=/admin/settings"),
		chromedp.WaitVisible(chromedp.ID("password")),
		chromedp.SendKeys(chromedp.ID("name"), "admin"),
		chromedp.SendKeys(chromedp.ID("password"), r.Co.AdminPassword()),
		chromedp.Click(chromedp.CSS(`form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.ID("settings-form")))
	submit := func(seconds string) {
		t.Helper()
		do(chromedp.Evaluate[chromedp.Void](`document.getElementById('settings-form').noValidate = true; window.before = true`),
			chromedp.Clear(chromedp.ID("seconds")),
			chromedp.SendKeys(chromedp.ID("seconds"), seconds),
			chromedp.Click(chromedp.ID("save")))
		waitJS(t, ctx, `window.before === undefined && document.readyState === 'complete'`, 5*time.Second)
	}

	t0 := r.Input("mouse")
	submit("29")
	do(chromedp.WaitVisible(chromedp.ID("seconds-error")))
	msg, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('seconds-error').textContent`))
	if !strings.Contains(msg, "from 30 to 3600") || !strings.Contains(msg, "29") {
		t.Errorf("the message next to the field: %q", msg)
	}
	var settings struct {
		InactivityTimeout struct{ Seconds int } `json:"inactivity_timeout"`
	}
	r.Co.Must("GET", "/api/v1/settings", nil, &settings)
	if s := settings.InactivityTimeout.Seconds; s != 60 {
		t.Errorf("after 29 was refused T is %d, want 60", s)
	}

	e2etest.SleepUntil(t0.Add(10 * time.Second))
	submit("30")
	do(chromedp.WaitVisible(chromedp.ID("saved")))
	changed := waitKind(t, r.Co, "settings.changed", 3*time.Second)
	t.Logf("T = 30 saved at I = %.3fs", changed.At.Sub(t0).Seconds())
	if d := changed.At.Sub(t0); d < 9*time.Second || d > 20*time.Second {
		t.Fatalf("the change was saved at I = %v, too far from 10 s for this scenario", d)
	}
	warned := r.WaitAudit("user.warned", 0, 30*time.Second)
	record(t, "warning (I = 24 s on the new T)", t0, t0.Add(24*time.Second), warned.At, tolerance)
}

// Disabled: nobody is warned or logged out, for longer than T. Enabled
// again: the clocks start from zero (warning 24 s after).
func TestDisabledThenReenabled(t *testing.T) {
	scenario(t)
	r := newRig(t, 30)
	t0 := r.Input("mouse")
	e2etest.SleepUntil(t0.Add(5 * time.Second))
	r.Co.SetTimeout(false, 30)
	off := waitKind(t, r.Co, "settings.changed", 3*time.Second)
	mark := r.LastID()
	e2etest.SleepUntil(off.At.Add(T + 5*time.Second))
	r.NoneOf(mark, "user.warned", "user.logged_out")
	if u := r.Co.User(agentName); u.State != "disabled" {
		t.Errorf("while disabled ann is %+v", u)
	}
	r.Co.SetTimeout(true, 30)
	on := r.WaitAudit("user.warned", mark, 30*time.Second)
	es := auditKind(t, r.Co, "settings.changed")
	record(t, "warning (re-enabled + 24 s)", t0, es[len(es)-1].At.Add(24*time.Second), on.At, tolerance)
}

// ---- helpers ----

// change runs act while it watches for changed, and returns when the change
// happened: between the last check that did not see it and the first that
// did. act may return long after the change (a DevTools call), or before it
// shows (a window mapping).
func (r *rig) change(t *testing.T, what string, act func() error, changed func() bool) time.Time {
	t.Helper()
	acted := make(chan error, 1)
	prev := time.Now()
	go func() { acted <- act() }()
	var at time.Time
	for deadline := prev.Add(10 * time.Second); ; prev = at {
		at = time.Now()
		if changed() {
			break
		}
		if at.After(deadline) {
			t.Fatalf("%s: not seen within 10 s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := <-acted; err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return prev.Add(at.Sub(prev) / 2)
}

// reactivate brings the Agent Desk's window back in front (not input) and
// returns when that happened.
func (r *rig) reactivate() time.Time {
	at := e2etest.Midst(func() { r.X.MustXdotool(r.T, "windowactivate", "--sync", r.Browser.Window) })
	r.X.Activate(r.T, r.Browser.Window)
	return at
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// auditKind lists all entries of kind, oldest first.
func auditKind(t *testing.T, c *e2etest.Coord, kind string) []e2etest.AuditEntry {
	t.Helper()
	var es []e2etest.AuditEntry
	c.Must("GET", "/api/v1/audit?limit=1000&kind="+kind, nil, &es)
	for i, j := 0, len(es)-1; i < j; i, j = i+1, j-1 {
		es[i], es[j] = es[j], es[i]
	}
	return es
}

// waitKind waits for the newest entry of kind made within the last few
// seconds.
func waitKind(t *testing.T, c *e2etest.Coord, kind string, within time.Duration) e2etest.AuditEntry {
	t.Helper()
	start := time.Now().Add(-within)
	var found e2etest.AuditEntry
	testrig.Eventually(t, within, func() (bool, string) {
		es := auditKind(t, c, kind)
		if len(es) > 0 && es[len(es)-1].At.After(start) {
			found = es[len(es)-1]
			return true, ""
		}
		return false, "no " + kind
	})
	return found
}

// withTimeout runs f with a 10 s context derived from ctx.
func withTimeout(ctx context.Context, f func(context.Context) error) error {
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return f(c)
}

// utterance writes a short espeak-ng utterance as 16 kHz mono, silence
// trimmed, and returns it with its duration.
func utterance(t *testing.T) (string, time.Duration) {
	t.Helper()
	return e2etest.Speech(t, t.TempDir(), "Hello, how can I help you?")
}
