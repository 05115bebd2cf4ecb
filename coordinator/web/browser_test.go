//go:build linux

package web_test

// These tests drive the pages in real Chromium (Debian's, headless, one
// browser per test) against a real coordinator on loopback. Screenshots go
// to $VIGIL_ARTIFACTS, or to an artifacts/ directory under the test's temp
// directory.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/vigil-cc/vigil/internal/testrig"
)

// chrome starts a headless Chromium for t, in UTC: the page shows times in
// the browser's zone, and the tests compare them.
func chrome(t *testing.T) context.Context {
	t.Helper()
	ctx := testrig.Headless(t, chromedp.WindowSize(1280, 860), chromedp.Env("TZ=UTC"))
	ctx, cancel := context.WithTimeout(ctx, 4*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("browser: %v", err)
	}
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("evaluating %s: %v", js, err)
	}
	return v
}

// waitJS polls js (a boolean expression) every 50 ms until it holds.
func waitJS(t *testing.T, ctx context.Context, js string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s (last error %v)", within, js, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// newPage waits until the page that set window.before is replaced by a
// loaded one.
func newPage(t *testing.T, ctx context.Context) {
	t.Helper()
	waitJS(t, ctx, `window.before === undefined && document.readyState === 'complete'`, 15*time.Second) // a page load on a loaded machine
}

// screenshot saves the viewport as <artifacts>/<test>-<name>.png.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("VIGIL_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(t.TempDir(), "artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_")+"-"+name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// signIn fills a sign-in form (/login or the desk's) and submits it.
func signIn(t *testing.T, ctx context.Context, url, name, password string) {
	t.Helper()
	do(t, ctx,
		chromedp.Navigate(url),
		chromedp.WaitVisible(chromedp.ID("name")),
		chromedp.SendKeys(chromedp.ID("name"), name),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Evaluate[chromedp.Void](`window.before = true`),
		chromedp.Click(chromedp.CSS(`form button[type=submit]`)),
	)
	newPage(t, ctx)
}

func TestBrowserSettings(t *testing.T) {
	t.Parallel()
	s := start(t)
	ctx := chrome(t)

	// Without a session the page sends the browser to sign in, and back.
	do(t, ctx, chromedp.Navigate(s.base+"/admin/settings"), chromedp.WaitVisible(chromedp.ID("password")))
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); !strings.Contains(loc, "/login?next=") {
		t.Fatalf("without a session: at %s", loc)
	}
	do(t, ctx,
		chromedp.SendKeys(chromedp.ID("name"), "admin"),
		chromedp.SendKeys(chromedp.ID("password"), s.adminPassword()),
		chromedp.Click(chromedp.CSS(`form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.ID("settings-form")),
	)

	// The server refuses what the browser's own checks would have stopped:
	// they are switched off (novalidate) to prove it.
	save := func(seconds string) {
		t.Helper()
		do(t, ctx,
			chromedp.WaitVisible(chromedp.ID("seconds")),
			chromedp.Evaluate[chromedp.Void](`document.getElementById('settings-form').noValidate = true; window.before = true`),
			chromedp.Clear(chromedp.ID("seconds")),
			chromedp.SendKeys(chromedp.ID("seconds"), seconds),
			chromedp.Click(chromedp.ID("save")),
		)
		newPage(t, ctx)
	}
	for _, bad := range []string{"29", "3601", "12.5"} {
		save(bad)
		do(t, ctx, chromedp.WaitVisible(chromedp.ID("seconds-error")))
		msg := eval[string](t, ctx, `document.getElementById('seconds-error').textContent`)
		if !strings.Contains(msg, "from 30 to 3600") || !strings.Contains(msg, bad) {
			t.Errorf("%s: the message next to the field is %q", bad, msg)
		}
		if !eval[bool](t, ctx, `document.getElementById('seconds').getAttribute('aria-invalid') === 'true' && document.activeElement.id === 'seconds'`) {
			t.Errorf("%s: the field is not marked invalid and focused", bad)
		}
		if bad == "29" {
			screenshot(t, ctx, "settings-error")
		}
	}
	if es := s.audit("kind=settings.changed"); len(es) != 0 {
		t.Fatalf("a refused value was saved: %+v", es)
	}

	save("45")
	do(t, ctx, chromedp.WaitVisible(chromedp.ID("saved")))
	if msg := eval[string](t, ctx, `document.getElementById('saved').textContent`); msg != "Saved. Applies to every session now." {
		t.Errorf("confirmation %q", msg)
	}
	screenshot(t, ctx, "settings-saved")
	do(t, ctx, chromedp.Navigate(s.base+"/admin/settings"), chromedp.WaitVisible(chromedp.ID("seconds")))
	if v, _ := chromedp.Run(ctx, chromedp.Value(chromedp.ID("seconds"))); v != "45" {
		t.Fatalf("after a reload the field shows %q, want 45", v)
	}
	var doc map[string]map[string]any
	s.mustAPI("GET", "/api/v1/settings", nil, &doc)
	if doc["inactivity_timeout"]["seconds"] != float64(45) {
		t.Fatalf("GET /api/v1/settings: %v", doc)
	}

	// The toggle, off and on again, each surviving a reload.
	for _, want := range []bool{false, true} {
		do(t, ctx, chromedp.Evaluate[chromedp.Void](`window.before = true`), chromedp.Click(chromedp.ID("enabled")), chromedp.Click(chromedp.ID("save")))
		newPage(t, ctx)
		do(t, ctx, chromedp.WaitVisible(chromedp.ID("saved")), chromedp.Navigate(s.base+"/admin/settings"), chromedp.WaitVisible(chromedp.ID("enabled")))
		if got := eval[bool](t, ctx, `document.getElementById('enabled').checked`); got != want {
			t.Fatalf("after saving the toggle %v and reloading it shows %v", want, got)
		}
		s.mustAPI("GET", "/api/v1/settings", nil, &doc)
		if doc["inactivity_timeout"]["enabled"] != want {
			t.Fatalf("GET /api/v1/settings after the toggle: %v", doc)
		}
	}
	// Keyboard: every control is reachable and labelled.
	unlabelled := eval[[]string](t, ctx, `Array.from(document.querySelectorAll('input:not([type=hidden]), select, button'))
		.filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.textContent.trim()).map(e => e.id || e.name)`)
	if len(unlabelled) > 0 {
		t.Errorf("controls without a label: %v", unlabelled)
	}
}

// decisionAt is the instant of the newest audit entry of kind for user.
func (s *server) decisionAt(t *testing.T, kind, user string) (time.Time, bool) {
	es := s.audit("kind=" + kind + "&user=" + user + "&limit=1")
	if len(es) == 0 {
		return time.Time{}, false
	}
	return es[0].At, true
}

func (s *server) waitDecision(t *testing.T, kind, user string, after time.Time, within time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		if at, ok := s.decisionAt(t, kind, user); ok && !at.Before(after) {
			return at
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s for %s within %v", kind, user, within)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func within(t *testing.T, what string, got, want time.Time, tol time.Duration) {
	t.Helper()
	d := got.Sub(want)
	t.Logf("%s: %+.3f s from the ideal", what, d.Seconds())
	if d < -tol || d > tol {
		t.Errorf("%s at %s, want %s ± %v (off by %v)", what, got.Format("15:04:05.000"), want.Format("15:04:05.000"), tol, d)
	}
}

func TestBrowserDeskWarningLogoutAndReroute(t *testing.T) {
	t.Parallel()
	s := start(t)
	s.setTimeout(true, 30)
	s.account("ann", "agent", "ann's password")
	s.account("bob", "agent", "bob's password")
	ctx := chrome(t)

	signIn(t, ctx, s.base+"/desk/", "ann", "ann's password")
	do(t, ctx, chromedp.WaitVisible(chromedp.ID("policy")))
	login, ok := s.decisionAt(t, "desk.login", "ann")
	if !ok {
		t.Fatal("no desk.login audited for ann")
	}
	if title, _ := chromedp.Run(ctx, chromedp.Title()); !strings.HasPrefix(title, "Agent Desk") {
		t.Errorf("title %q does not start with Agent Desk", title)
	}
	if p := eval[string](t, ctx, `document.getElementById('policy').textContent`); p != "You are logged out after 30 seconds without activity; a warning shows 6 seconds before." {
		t.Errorf("policy line %q", p)
	}

	// A chat comes in: the built-in controller gives it to ann, the only
	// agent available, and the page shows it. It is accepted through the
	// API, so no input in the page resets the clock we measure.
	var chat struct {
		ID   string `json:"id"`
		User string `json:"user"`
	}
	s.mustAPI("POST", "/api/v1/conversations", map[string]string{"channel": "chat", "customer": "Customer One"}, &chat)
	if chat.User != "ann" {
		t.Fatalf("the chat went to %q, want ann", chat.User)
	}
	s.mustAPI("POST", "/api/v1/conversations/"+chat.ID+"/accept", nil, nil)
	waitJS(t, ctx, fmt.Sprintf(`!!document.querySelector('li[data-id=%q][data-state=active]')`, chat.ID), 3*time.Second)

	// The warning at 0.8·T = 24 s after the login, counting down to the
	// coordinator's deadline.
	waitJS(t, ctx, `!document.getElementById('warning-backdrop').hidden`, 30*time.Second)
	shown := time.Now()
	within(t, "warning modal", shown, login.Add(24*time.Second), time.Second)
	a11y := eval[map[string]any](t, ctx, `(() => { const m = document.getElementById('warning');
		return {role: m.getAttribute('role'), modal: m.getAttribute('aria-modal'), focusIn: m.contains(document.activeElement),
		        live: document.getElementById('announce').getAttribute('aria-live'), text: m.querySelector('#warning-text').textContent,
		        inert: document.getElementById('desk-main').inert}; })()`)
	if a11y["role"] != "alertdialog" || a11y["modal"] != "true" || a11y["focusIn"] != true || a11y["live"] != "assertive" || a11y["inert"] != true {
		t.Errorf("the warning's accessibility: %v", a11y)
	}
	if !regexp.MustCompile(`^You will be logged out in [0-9] seconds due to inactivity\.$`).MatchString(a11y["text"].(string)) {
		t.Errorf("warning text %q", a11y["text"])
	}
	waitJS(t, ctx, `document.getElementById('announce').textContent.startsWith('You will be logged out in')`, time.Second)
	n1 := eval[string](t, ctx, `document.getElementById('warning-seconds').textContent`)
	screenshot(t, ctx, "warning-modal")
	time.Sleep(1500 * time.Millisecond)
	n2 := eval[string](t, ctx, `document.getElementById('warning-seconds').textContent`)
	if n2 >= n1 {
		t.Errorf("the countdown does not count down: %s then %s", n1, n2)
	}

	// A key press in the page dismisses it (page input → engine →
	// withdrawn as dismissed).
	pressed := time.Now()
	do(t, ctx, chromedp.KeyEvent("x"))
	waitJS(t, ctx, `document.getElementById('warning-backdrop').hidden`, 2*time.Second)
	s.waitDecision(t, "user.warning_withdrawn", "ann", pressed.Add(-time.Second), 2*time.Second)
	es := s.audit("kind=user.warning_withdrawn&user=ann&limit=1")
	if !strings.Contains(string(es[0].Detail), `"dismissed"`) {
		t.Errorf("withdrawn for %s, want dismissed", es[0].Detail)
	}
	if !eval[bool](t, ctx, `document.activeElement !== null && !document.getElementById('desk-main').inert`) {
		t.Error("the page stays inert after the warning")
	}

	// Another agent logs in half-way, so someone is available to take the
	// chat when ann is logged out (and is not warned by then).
	time.Sleep(time.Until(pressed.Add(15 * time.Second)))
	s.mustAPI("POST", "/api/v1/desk/login", map[string]string{"user": "bob"}, nil)

	// With no input, the logged-out screen at T = 30 s after the key.
	waitJS(t, ctx, `!document.getElementById('logged-out').hidden`, 35*time.Second)
	out := time.Now()
	within(t, "logged-out screen", out, pressed.Add(30*time.Second), time.Second)
	logout := s.waitDecision(t, "user.logged_out", "ann", pressed, time.Second)
	within(t, "logout decision", logout, pressed.Add(30*time.Second), time.Second)
	text := eval[string](t, ctx, `document.getElementById('logged-out').querySelector('p').textContent`)
	want := "You were logged out because of inactivity at " + logout.UTC().Format("15:04:05") + ". Your open conversations were passed to colleagues."
	if text != want {
		t.Errorf("logged-out screen says %q, want %q", text, want)
	}
	screenshot(t, ctx, "logged-out")

	// The chat is now with bob.
	testrig.Eventually(t, 3*time.Second, func() (bool, string) {
		var c struct {
			User  string `json:"user"`
			State string `json:"state"`
		}
		s.mustAPI("GET", "/api/v1/conversations/"+chat.ID, nil, &c)
		return c.User == "bob", fmt.Sprintf("the chat is with %q (%s)", c.User, c.State)
	})
	// The desk session is over: reloading offers to sign in again and says why.
	do(t, ctx, chromedp.Navigate(s.base+"/desk/"), chromedp.WaitVisible(chromedp.ID("out-time")))
	if got := eval[string](t, ctx, `document.getElementById('out-time').textContent`); got != logout.UTC().Format("15:04:05") {
		t.Errorf("after a reload the logout time shows %q", got)
	}

	// The audit page shows the logout, what led to it and where the chat went.
	signIn(t, ctx, s.base+"/login", "admin", s.adminPassword())
	do(t, ctx, chromedp.Navigate(s.base+"/admin/audit?user=ann"), chromedp.WaitVisible(chromedp.ID("audit")))
	row := eval[map[string]any](t, ctx, `(() => { const r = document.querySelector('tr[data-kind="user.logged_out"]');
		return r ? {text: r.textContent, reroute: (r.querySelector('li.reroute') || {}).textContent || ''} : null; })()`)
	if row == nil || !strings.Contains(row["reroute"].(string), "chat "+chat.ID+" → bob") ||
		!strings.Contains(row["text"].(string), "warning shown") || !strings.Contains(row["text"].(string), "keyboard or mouse input") {
		t.Errorf("the audit's logout row: %v", row)
	}
	screenshot(t, ctx, "audit")
}

func TestBrowserDashboardIsLive(t *testing.T) {
	t.Parallel()
	s := start(t)
	s.setTimeout(true, 30)
	s.account("sam", "supervisor", "supervisor pass")
	ctx := chrome(t)

	signIn(t, ctx, s.base+"/login", "sam", "supervisor pass")
	do(t, ctx, chromedp.WaitVisible(chromedp.ID("users")))
	waitJS(t, ctx, `document.getElementById('live').textContent === 'Live'`, 15*time.Second)
	// Record when each user's row first shows each state.
	eval[chromedp.Void](t, ctx, `(() => { window.seen = {};
		const note = () => document.querySelectorAll('#users tr[data-user]').forEach(r => {
			const k = r.dataset.user + ':' + r.dataset.status; if (!(k in window.seen)) window.seen[k] = Date.now(); });
		new MutationObserver(note).observe(document.getElementById('users'), {subtree: true, childList: true, attributes: true});
		note(); })()`)
	seenAt := func(key string, within time.Duration) time.Time {
		t.Helper()
		waitJS(t, ctx, fmt.Sprintf(`%q in window.seen`, key), within)
		return time.UnixMilli(int64(eval[float64](t, ctx, fmt.Sprintf(`window.seen[%q]`, key))))
	}
	latency := func(what string, shown, decided time.Time) {
		t.Helper()
		d := shown.Sub(decided)
		t.Logf("%s: shown %d ms after the decision", what, d.Milliseconds())
		if d > time.Second {
			t.Errorf("%s shown %v after the engine's decision, want ≤ 1 s", what, d)
		}
	}

	s.mustAPI("POST", "/api/v1/desk/login", map[string]string{"user": "carol"}, nil)
	login, _ := s.decisionAt(t, "desk.login", "carol")
	latency("active", seenAt("carol:active", 2*time.Second), login)

	warnShown := seenAt("carol:warned", 30*time.Second)
	warned := s.waitDecision(t, "user.warned", "carol", login, time.Second)
	latency("warned", warnShown, warned)
	// Another user, on a call: paused, and why.
	s.mustAPI("POST", "/api/v1/desk/login", map[string]string{"user": "dave"}, nil)
	s.mustAPI("PUT", "/api/v1/users/dave/call", map[string]bool{"active": true}, nil)
	seenAt("dave:paused", 2*time.Second)
	if got := eval[string](t, ctx, `document.querySelector('tr[data-user=dave] .c-state').textContent`); got != "Paused — on a call" {
		t.Errorf("dave's state cell %q", got)
	}
	time.Sleep(1200 * time.Millisecond)
	cd := eval[string](t, ctx, `document.querySelector('tr[data-user=carol] .c-countdown').textContent`)
	if !regexp.MustCompile(`^[1-5] s$`).MatchString(cd) {
		t.Errorf("countdown cell %q, want 1–5 s", cd)
	}
	screenshot(t, ctx, "dashboard-warned")

	outShown := seenAt("carol:logged_out", 10*time.Second)
	out := s.waitDecision(t, "user.logged_out", "carol", warned, time.Second)
	latency("logged out", outShown, out)
	if r := eval[bool](t, ctx, `performance.getEntriesByType('navigation').length === 1 && document.getElementById('live').textContent === 'Live'`); !r {
		t.Error("the dashboard reloaded or lost its stream")
	}
	// The states shown: what the engine says, in words.
	got := eval[string](t, ctx, `document.querySelector('tr[data-user=carol] .c-state').textContent`)
	if got != "Logged out" {
		t.Errorf("state cell %q", got)
	}
	var raw json.RawMessage
	s.mustAPI("GET", "/api/v1/users/carol", nil, &raw)
	if !strings.Contains(string(raw), `"state": "logged_out"`) {
		t.Errorf("API says %s", raw)
	}
}
