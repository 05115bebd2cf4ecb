package coordinator_test

// Attacks on a real coordinator, one per finding of the security review
// (issue 16, docs/deploy.md "Hardening"): each performs the attack and
// checks it now fails.

import (
	"context"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-cc/vigil/coordinator"
	"github.com/vigil-cc/vigil/coordinator/store"
	"github.com/vigil-cc/vigil/internal/coordtest"
	"github.com/vigil-cc/vigil/internal/testrig"
	"github.com/vigil-cc/vigil/protocol"
)

// enroll enrolls host with an enrollment token made with spec, returning
// the answer's status and body.
func (s *testServer) enrollWith(spec map[string]any, host string) (int, map[string]any) {
	s.t.Helper()
	e := s.mustCall("POST", "/api/v1/enrollment-tokens", spec)
	code, d, _ := s.call("POST", "/api/v1/enroll", "", map[string]any{"enrollment_token": e["token"], "host": host, "os": "linux"})
	if code == http.StatusCreated {
		hosts.Store(d["device_token"], host)
	}
	return code, d
}

// Finding 1: an enrollment token limited to some hosts enrolls no other,
// and a device token speaks only for the host it was enrolled on.
func TestAttackHostScopedToken(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir())
	code, d := s.enrollWith(map[string]any{"max_uses": 5, "host_pattern": "floor2-*", "auto_approve": true}, "floor3-ws7")
	if code != http.StatusForbidden {
		t.Fatalf("enrolling floor3-ws7 with a floor2-* token: %d %v, want 403", code, d)
	}
	if n := len(s.audit("kind=device.enroll_refused")); n != 1 {
		t.Errorf("%d refused enrollments audited, want 1", n)
	}
	code, d = s.enrollWith(map[string]any{"max_uses": 5, "host_pattern": "floor2-*", "auto_approve": true}, "FLOOR2-ws1")
	if code != http.StatusCreated || d["status"] != "approved" {
		t.Fatalf("enrolling FLOOR2-ws1: %d %v", code, d)
	}
	// The device token copied to another host: its hello names that host.
	a := mustDial(t, s, d["device_token"].(string))
	a.send(protocol.Hello{AgentVersion: "test", OS: "linux", Host: "floor3-ws7"})
	a.wantClose(protocol.ClosePolicyViolation)
	if es := s.audit("kind=device.host_mismatch"); len(es) != 1 || !strings.Contains(fmt.Sprint(es[0]["detail"]), "floor3-ws7") {
		t.Errorf("host mismatch audit: %v", es)
	}
}

// Finding 1: a token that does not auto-approve (the default, and the
// first start's) leaves its device pending: it cannot report, so its
// readings change nobody's clock, until an admin approves it.
func TestAttackPendingDeviceCannotReport(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir())
	s.setTimeout(30)
	s.mustCall("POST", "/api/v1/desk/login", map[string]string{"user": "jane"})
	code, d := s.enrollWith(map[string]any{"max_uses": 5}, "ws-p")
	if code != http.StatusCreated || d["status"] != "pending" {
		t.Fatalf("enrolling with a default token: %d %v, want pending", code, d)
	}
	token := d["device_token"].(string)
	_, resp, err := dial(t, s, token)
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a pending device dialing: %v %v, want 403", err, resp)
	}
	_, u, _ := s.call("GET", "/api/v1/users/jane", adminToken, nil)
	if sensor, _ := u["sensor"].(map[string]any); sensor["status"] != "none" {
		t.Errorf("jane's sensor with only a pending device: %v", sensor)
	}
	_, _, pending := s.call("GET", "/api/v1/devices?status=pending", adminToken, nil)
	if len(pending) != 1 || pending[0].(map[string]any)["host"] != "ws-p" || pending[0].(map[string]any)["enrollment_id"] == "" {
		t.Fatalf("pending devices: %v", pending)
	}
	// Approved all at once from its token, it connects and reports.
	enrollment := pending[0].(map[string]any)["enrollment_id"].(string)
	if r := s.mustCall("POST", "/api/v1/enrollment-tokens/"+enrollment+"/approve-devices", nil); fmt.Sprint(r["devices"]) != "["+d["device_id"].(string)+"]" {
		t.Fatalf("approving the token's devices: %v", r)
	}
	a := mustDial(t, s, token)
	a.open("1", "jane", 0)
	testrig.Eventually(t, 5*time.Second, func() (bool, string) {
		_, u, _ := s.call("GET", "/api/v1/users/jane", adminToken, nil)
		sensor, _ := u["sensor"].(map[string]any)
		return sensor["status"] == "live", fmt.Sprintf("jane's sensor %v", sensor)
	})
}

// Finding 1: the first start's enrollment token lasts 24 h and leaves its
// devices pending.
func TestFirstStartEnrollmentTokenIsShortAndPending(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv := coordtest.Start(t, coordtest.Config(dir, ""), nil)
	b, err := os.ReadFile(filepath.Join(dir, "enrollment.token"))
	if err != nil {
		t.Fatal(err)
	}
	code, d := func() (int, map[string]any) {
		s := &testServer{t: t, dir: dir, addr: srv.Addr, srv: srv}
		code, d, _ := s.call("POST", "/api/v1/enroll", "", map[string]any{"enrollment_token": strings.TrimSpace(string(b)), "host": "ws-1", "os": "linux"})
		return code, d
	}()
	if code != http.StatusCreated || d["status"] != "pending" {
		t.Fatalf("enrolling with the first start's token: %d %v, want pending", code, d)
	}
	es, err := srv.Store.Enrollments(context.Background())
	if err != nil || len(es) != 1 {
		t.Fatal(es, err)
	}
	if life := es[0].ExpiresAt.Sub(es[0].CreatedAt); life != coordinator.FirstEnrollmentTTL || es[0].AutoApprove || coordinator.FirstEnrollmentTTL > 24*time.Hour {
		t.Errorf("first enrollment token: lasts %v, auto-approves %v", life, es[0].AutoApprove)
	}
}

// Finding 2: a flood of 4000 readings flipping the Agent Desk's
// foreground flag during a warning (each flip a withdraw and a warn,
// audited and sent to the platform) is cut: the connection is closed as a
// policy violation, audited once, leaving a handful of audit rows.
func TestAttackReadingFlood(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir())
	s.setTimeout(30)
	s.mustCall("POST", "/api/v1/desk/login", map[string]string{"user": "jane"})
	a := mustDial(t, s, s.enrollDevice("ws-f"))
	a.open("1", "jane", 0)
	a.next(protocol.TypeWarn, 30*time.Second)
	testrig.Eventually(t, 5*time.Second, func() (bool, string) {
		return len(s.audit("user=jane&kind=user.warned")) == 1, "the warning audited"
	})
	before := len(s.audit("user=jane&limit=1000"))

	start := time.Now()
	var sendErr error
	for i := range 4000 {
		r := reading("1", 25*time.Second+time.Duration(i)*time.Millisecond/10)
		r.AgentDeskForeground = i%2 == 1
		b, _ := protocol.Encode(r)
		if sendErr = a.sendRaw(b); sendErr != nil {
			break // closed by the coordinator: the rest cannot be sent
		}
	}
	t.Logf("sent the flood in %v (stopped by %v)", time.Since(start), sendErr)
	if c := a.closeStatus(5 * time.Second); c != protocol.ClosePolicyViolation {
		t.Errorf("closed with %d, want 1008", c)
	}
	testrig.Eventually(t, 5*time.Second, func() (bool, string) {
		n := len(s.audit("kind=sensor.flood"))
		return n == 1, fmt.Sprintf("%d floods audited", n)
	})
	after := s.audit("user=jane&limit=1000")
	t.Logf("the flood left %d audit rows for jane", len(after)-before)
	if n := len(after) - before; n > 6 {
		t.Errorf("the flood left %d audit rows for jane, want a handful (≤ 6)", n)
	}
	if n := len(s.audit("kind=sensor.flood")); n != 1 {
		t.Errorf("%d floods audited, want 1", n)
	}
}

// Finding 3: 10,000 distinct unknown OS users from one device (500 under
// the race detector) leave the unmapped list at its bound, the overflow
// audited once.
func TestAttackUnmappedFlood(t *testing.T) {
	t.Parallel()
	cfg := coordtest.Config(t.TempDir(), adminToken)
	cfg.MaxSessionsPerConnection = 10000 // so one connection can open them all
	srv := coordtest.Start(t, cfg, nil)
	s := &testServer{t: t, dir: cfg.DataDir, addr: srv.Addr, srv: srv}
	a := mustDial(t, s, s.enrollDevice("ws-unmapped"))
	a.send(protocol.Hello{AgentVersion: "test", OS: "linux", Host: "ws-unmapped"})
	a.next(protocol.TypePolicy, 5*time.Second)
	start := time.Now()
	n := 10000
	if raceBuild {
		// Under the race detector and the load of the whole suite even
		// 2,000 took over 10 minutes; 500 are still 2.5 times the
		// per-device bound. `make unit` runs the 10,000 without it.
		n = 500
	}
	for i := range n {
		b, _ := protocol.Encode(protocol.SessionOpen{Session: fmt.Sprint(i), OSUser: fmt.Sprintf("intruder%05d", i)})
		if err := a.sendRaw(b); err != nil {
			t.Fatalf("session_open %d: %v", i, err)
		}
	}
	// The last one listed means every one was handled (in order). About
	// 25 s on a quiet machine; minutes under the race detector and load.
	// (Several noted in the same millisecond list by name, so the last one
	// need not come first.)
	last := fmt.Sprintf("intruder%05d", n-1)
	testrig.Eventually(t, 10*time.Minute, func() (bool, string) {
		_, _, list := s.call("GET", "/api/v1/unmapped", adminToken, nil)
		return slices.ContainsFunc(list, func(u any) bool { return u.(map[string]any)["os_user"] == last }),
			fmt.Sprintf("%d listed, %s not among them", len(list), last)
	})
	t.Logf("%d unknown OS users handled in %v", n, time.Since(start))
	_, _, list := s.call("GET", "/api/v1/unmapped", adminToken, nil)
	if len(list) != store.DefaultUnmappedPerDevice {
		t.Errorf("%d unmapped users listed, want the bound %d", len(list), store.DefaultUnmappedPerDevice)
	}
	if n := len(s.audit("kind=sensor.unmapped_overflow")); n != 1 {
		t.Errorf("%d overflows audited, want 1", n)
	}
}

// Finding 4 (the coordinator's side; agent/service has the service's): a
// connection opening more sessions than its cap has the extra ones refused
// alone, and keeps its others.
func TestAttackSessionCapRefusesAlone(t *testing.T) {
	t.Parallel()
	cfg := coordtest.Config(t.TempDir(), adminToken)
	cfg.MaxSessionsPerConnection = 3
	srv := coordtest.Start(t, cfg, nil)
	s := &testServer{t: t, dir: cfg.DataDir, addr: srv.Addr, srv: srv}
	s.mustCall("POST", "/api/v1/desk/login", map[string]string{"user": "jane"})
	a := mustDial(t, s, s.enrollDevice("ws-rds"))
	a.open("jane", "jane", 0)
	for i := range 4 {
		a.send(protocol.SessionOpen{Session: fmt.Sprint(i), OSUser: fmt.Sprintf("guest%d", i)})
	}
	m, _ := a.next(protocol.TypeSessionRefused, 5*time.Second)
	if r := m.(protocol.SessionRefused); r.Reason != protocol.RefusedTooManySessions || r.Session != "2" {
		t.Errorf("refusal %+v, want session 2 too_many_sessions", r)
	}
	a.send(protocol.Reading{Session: "3", IdleMS: 1}) // a refused session's messages are dropped
	a.send(protocol.Heartbeat{Session: "jane"})
	a.none(protocol.TypeError, 300*time.Millisecond)
	if n := len(s.audit("kind=sensor.sessions_refused")); n != 1 {
		t.Errorf("%d session refusals audited, want 1 (once per connection)", n)
	}
	_, u, _ := s.call("GET", "/api/v1/users/jane", adminToken, nil)
	if sensor, _ := u["sensor"].(map[string]any); sensor["status"] != "live" {
		t.Errorf("jane's sensor after the refusals: %v", sensor)
	}
}

// Finding 5: a short configured admin token is refused at start, and
// guessing API tokens is rate-limited per client address.
func TestAttackAdminTokenAndGuessing(t *testing.T) {
	t.Parallel()
	_, err := coordinator.Open(context.Background(), coordtest.Config(t.TempDir(), "0123456789"))
	if err == nil || !strings.Contains(err.Error(), "at least 32 characters") {
		t.Fatalf("starting with a 10-character admin token: %v", err)
	}
	s := startServer(t, t.TempDir())
	got := map[int]int{}
	for i := range 30 {
		code, _, _ := s.call("GET", "/api/v1/settings", fmt.Sprintf("vgl_api_guess%02d", i), nil)
		got[code]++
	}
	if got[http.StatusUnauthorized] != 10 || got[http.StatusTooManyRequests] != 20 {
		t.Errorf("30 guesses answered %v, want 10 × 401 then 429", got)
	}
	// The right token still works from another client (the limit is per
	// address; here every client is 127.0.0.1, so only the count shows).
	if code, _, _ := s.call("GET", "/api/v1/settings", adminToken, nil); code != http.StatusTooManyRequests {
		t.Errorf("the real token from the limited address: %d, want 429 until the limit refills", code)
	}
	// Device tokens are checked against the same limit.
	_, resp, _ := dial(t, s, "vgl_dev_guess")
	if resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("guessing a device token from the limited address: %v", resp)
	}
}

// Finding 6: disabling an account, or changing its password, ends its
// open sessions at once.
func TestAttackDisabledAccountSession(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir())
	for _, name := range []string{"sue", "sam"} {
		s.mustCall("POST", "/api/v1/accounts", map[string]string{"name": name, "role": "supervisor", "password": "a good password"})
	}
	base := "http://" + s.addr
	signIn := func(name string) *http.Client {
		return coordtestSignIn(t, base, name, "a good password")
	}
	sue, sam := signIn("sue"), signIn("sam")
	get := func(c *http.Client) int {
		resp, err := c.Get(base + "/admin/dashboard")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if get(sue) != http.StatusOK || get(sam) != http.StatusOK {
		t.Fatal("not signed in")
	}
	s.mustCall("POST", "/api/v1/accounts/sue/disable", nil)
	if code := get(sue); code != http.StatusSeeOther {
		t.Errorf("a disabled account's session: %d, want 303 to the sign-in page", code)
	}
	r := s.mustCall("PUT", "/api/v1/accounts/sam/password", map[string]any{})
	if code := get(sam); code != http.StatusSeeOther {
		t.Errorf("the session after a password reset: %d, want 303 to the sign-in page", code)
	}
	if coordtestSignIn(t, base, "sam", r["password"].(string)) == nil {
		t.Error("the new password does not sign in")
	}
	for _, kind := range []string{"account.disabled", "account.password_changed"} {
		if n := len(s.audit("kind=" + kind)); n != 1 {
			t.Errorf("%d %s audited, want 1", n, kind)
		}
	}
}

// Finding 8: a device revoked while its handshake is in flight ends
// disconnected, every time.
func TestAttackRevocationRace(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir())
	const runs = 100
	var wg sync.WaitGroup
	for i := range runs {
		token := s.enrollDevice(fmt.Sprintf("ws-race%d", i))
		_, _, list := s.call("GET", "/api/v1/devices", adminToken, nil)
		var id string
		for _, d := range list {
			if m := d.(map[string]any); m["host"] == fmt.Sprintf("ws-race%d", i) {
				id = m["id"].(string)
			}
		}
		wg.Add(1)
		// The revocation lands at a spread of instants across the handshake.
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i%10) * 300 * time.Microsecond)
			s.mustCall("POST", "/api/v1/devices/"+id+"/revoke", nil)
		}()
		a, _, err := dial(t, s, token)
		if err != nil {
			continue // refused at the door: disconnected
		}
		select {
		case <-a.closed:
		case <-time.After(5 * time.Second):
			t.Errorf("run %d: a revoked device is still connected after 5 s", i)
		}
	}
	wg.Wait()
	testrig.Eventually(t, 5*time.Second, func() (bool, string) {
		n := s.srv.Hub.Connected()
		return n == 0, fmt.Sprintf("%d connections left", n)
	})
}

// coordtestSignIn signs name in to the admin pages and returns a client
// holding the session (no redirects followed), or nil if it is refused.
func coordtestSignIn(t *testing.T, base, name, password string) *http.Client {
	t.Helper()
	c := newBrowser()
	resp, err := c.Get(base + "/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var token string
	for _, ck := range c.Jar.Cookies(mustURL(base)) {
		if ck.Name == "vigil_login" {
			token = ck.Value
		}
	}
	resp, err = c.PostForm(base+"/login", map[string][]string{"name": {name}, "password": {password}, "csrf": {token}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		return nil
	}
	return c
}

// newBrowser is a client with a cookie jar that does not follow redirects.
func newBrowser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

// Finding 7: behind a trusted reverse proxy the rate limits count the
// client the proxy saw, an IPv6 client by its /64: another address of the
// same /64 is limited with it, another /64 is not. (The sign-in limit and
// the failed-authentication limit share the client's key, clientip; the
// failed API authentications are used here because each costs no bcrypt.)
func TestAttackLimitByNetworkBehindProxy(t *testing.T) {
	t.Parallel()
	cfg := coordtest.Config(t.TempDir(), adminToken)
	cfg.TrustedProxies = "127.0.0.1"
	srv := coordtest.Start(t, cfg, nil)
	guess := func(client string) int {
		req, _ := http.NewRequest("GET", "http://"+srv.Addr+"/api/v1/settings", nil)
		req.Header.Set("Authorization", "Bearer vgl_api_guess")
		req.Header.Set("X-Forwarded-For", client)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for i := range 10 { // the limit's burst
		if code := guess("2001:db8:1:2::1"); code != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d, want 401", i, code)
		}
	}
	if code := guess("2001:db8:1:2:ffff::7"); code != http.StatusTooManyRequests {
		t.Errorf("another address of the same /64: %d, want 429", code)
	}
	if code := guess("2001:db8:1:3::1"); code != http.StatusUnauthorized {
		t.Errorf("an address of another /64: %d, want 401 (its own limit)", code)
	}
	// What the client writes into the header itself is not believed.
	if code := guess("2001:db8:1:3::1, 2001:db8:1:2::5"); code != http.StatusTooManyRequests {
		t.Errorf("a forged left-hand entry: %d, want 429 (counted as the /64 the proxy saw)", code)
	}
}

// Finding 2: the flip bound holds a flapping sensor's pause flags back, not
// away: after 9 quick flips the user ends in the sensor's last state, late
// by at most the bound's pace, and the connection stays (9 readings are
// far under the message limit).
func TestFlappingSensorEndsInItsLastState(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir())
	s.setTimeout(300)
	s.mustCall("POST", "/api/v1/desk/login", map[string]string{"user": "jane"})
	a := mustDial(t, s, s.enrollDevice("ws-flap"))
	a.open("1", "jane", 0)
	paused := func() string {
		_, u, _ := s.call("GET", "/api/v1/users/jane", adminToken, nil)
		return fmt.Sprint(u["paused"])
	}
	testrig.Eventually(t, 5*time.Second, func() (bool, string) { return paused() == "<nil>", "jane counting: paused " + paused() })
	start := time.Now()
	for i := range 9 { // ends not in front
		r := reading("1", 0)
		r.AgentDeskForeground = i%2 == 1
		a.send(r)
	}
	testrig.Eventually(t, 10*time.Second, func() (bool, string) {
		return paused() == "[not_in_front]", "jane paused as the last reading says: " + paused()
	})
	// 4 flips pass at once, the rest at one a second: the last state lands
	// within about 5 s.
	if d := time.Since(start); d > 7*time.Second {
		t.Errorf("the last state took %v", d)
	}
	a.none(protocol.TypeError, 300*time.Millisecond)
}
