package coordinator_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/vigil-cc/vigil/internal/coordtest"
	"github.com/vigil-cc/vigil/internal/testrig"
	"github.com/vigil-cc/vigil/protocol"
)

const adminToken = "vgl_api_test-admin-token-32-characters-long"

// testServer is a real coordinator on a loopback port.
type testServer struct {
	t    *testing.T
	dir  string
	addr string
	srv  *coordtest.Server
}

// hosts are the host names devices were enrolled with, by token, across
// restarts: the test agents say hello with them.
var hosts sync.Map

func startServer(t *testing.T, dir string) *testServer {
	t.Helper()
	return startOn(t, dir, nil)
}

// startOn serves a coordinator with its data in dir on ln (nil: a free
// port).
func startOn(t *testing.T, dir string, ln net.Listener) *testServer {
	t.Helper()
	srv := coordtest.Start(t, coordtest.Config(dir, adminToken), ln)
	return &testServer{t: t, dir: dir, addr: srv.Addr, srv: srv}
}

// shutdown stops the coordinator and waits for it.
func (s *testServer) shutdown() {
	if err := s.srv.Close(); err != nil {
		s.t.Errorf("coordinator stopped with: %v", err)
	}
}

// call makes an API request and decodes the JSON answer.
func (s *testServer) call(method, path, token string, body any) (int, map[string]any, []any) {
	s.t.Helper()
	code, raw := coordtest.Call(s.t, "http://"+s.addr, token, method, path, body)
	var obj map[string]any
	var list []any
	if json.Unmarshal(raw, &obj) != nil {
		json.Unmarshal(raw, &list)
	}
	return code, obj, list
}

func (s *testServer) mustCall(method, path string, body any) map[string]any {
	s.t.Helper()
	code, obj, _ := s.call(method, path, adminToken, body)
	if code/100 != 2 {
		s.t.Fatalf("%s %s: %d %v", method, path, code, obj)
	}
	return obj
}

func (s *testServer) setTimeout(seconds int) {
	s.mustCall("PUT", "/api/v1/settings", map[string]any{"inactivity_timeout": map[string]any{"enabled": true, "seconds": seconds}})
}

// enrollDevice returns a fresh device token.
func (s *testServer) enrollDevice(host string) string {
	s.t.Helper()
	e := s.mustCall("POST", "/api/v1/enrollment-tokens", map[string]any{"max_uses": 5, "auto_approve": true})
	code, d, _ := s.call("POST", "/api/v1/enroll", "", map[string]any{"enrollment_token": e["token"], "host": host, "os": "linux"})
	if code != http.StatusCreated {
		s.t.Fatalf("enrolling: %d %v", code, d)
	}
	hosts.Store(d["device_token"], host)
	return d["device_token"].(string)
}

func (s *testServer) audit(query string) []map[string]any {
	s.t.Helper()
	code, _, list := s.call("GET", "/api/v1/audit?"+query, adminToken, nil)
	if code != http.StatusOK {
		s.t.Fatalf("audit: %d", code)
	}
	var out []map[string]any
	for _, e := range list {
		out = append(out, e.(map[string]any))
	}
	return out
}

// agent is a minimal real agent connection speaking the protocol.
type agent struct {
	t  *testing.T
	ws *websocket.Conn
	in chan protocol.Message
	// closed receives the close status once the connection ends.
	closed chan websocket.StatusCode
	host   string // enrolled with
}

func dial(t *testing.T, s *testServer, token string) (*agent, *http.Response, error) {
	t.Helper()
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, "ws://"+s.addr+"/agent/v1/ws",
		&websocket.DialOptions{HTTPHeader: h, Subprotocols: []string{protocol.Subprotocol}})
	if err != nil {
		return nil, resp, err
	}
	a := &agent{t: t, ws: ws, in: make(chan protocol.Message, 64), closed: make(chan websocket.StatusCode, 1)}
	if h, ok := hosts.Load(token); ok {
		a.host = h.(string)
	}
	go func() {
		for {
			_, data, err := ws.Read(context.Background())
			if err != nil {
				a.closed <- websocket.CloseStatus(err)
				close(a.in)
				return
			}
			m, err := protocol.DecodeFromCoordinator(data)
			if err != nil {
				t.Errorf("coordinator sent an invalid message: %v: %s", err, data)
				continue
			}
			a.in <- m
		}
	}()
	t.Cleanup(func() { ws.CloseNow() })
	return a, resp, nil
}

func mustDial(t *testing.T, s *testServer, token string) *agent {
	t.Helper()
	a, _, err := dial(t, s, token)
	if err != nil {
		t.Fatalf("dialing the coordinator: %v", err)
	}
	return a
}

func (a *agent) send(m protocol.Message) {
	a.t.Helper()
	b, err := protocol.Encode(m)
	if err != nil {
		a.t.Fatal(err)
	}
	if err := a.ws.Write(context.Background(), websocket.MessageText, b); err != nil {
		a.t.Fatalf("sending %s: %v", m.Type(), err)
	}
}

func (a *agent) sendRaw(b []byte) error {
	return a.ws.Write(context.Background(), websocket.MessageText, b)
}

// next waits for the next message of type typ, skipping others.
func (a *agent) next(typ string, within time.Duration) (protocol.Message, time.Time) {
	a.t.Helper()
	deadline := time.After(within)
	for {
		select {
		case m, ok := <-a.in:
			if !ok {
				a.t.Fatalf("connection closed while waiting for %s", typ)
			}
			if m.Type() == typ {
				return m, time.Now()
			}
		case <-deadline:
			a.t.Fatalf("no %s within %v", typ, within)
		}
	}
}

// none fails if a message of type typ arrives within d.
func (a *agent) none(typ string, d time.Duration) {
	a.t.Helper()
	deadline := time.After(d)
	for {
		select {
		case m, ok := <-a.in:
			if ok && m.Type() == typ {
				a.t.Fatalf("unexpected %s: %+v", typ, m)
			}
			if !ok {
				return
			}
		case <-deadline:
			return
		}
	}
}

// wantClose fails the test unless the coordinator closes a's connection
// with code within 5 s.
func (a *agent) wantClose(code websocket.StatusCode) {
	a.t.Helper()
	if c := a.closeStatus(5 * time.Second); c != code {
		a.t.Errorf("closed with %d, want %d", c, code)
	}
}

func (a *agent) closeStatus(within time.Duration) websocket.StatusCode {
	a.t.Helper()
	select {
	case c := <-a.closed:
		return c
	case <-time.After(within):
		a.t.Fatalf("connection not closed within %v", within)
		return 0
	}
}

// open says hello and opens one session for osUser, sending a reading.
func (a *agent) open(session, osUser string, idle time.Duration) time.Time {
	a.send(protocol.Hello{AgentVersion: "test", OS: "linux", Host: a.host})
	a.next(protocol.TypePolicy, 5*time.Second)
	a.send(protocol.SessionOpen{Session: session, OSUser: osUser})
	sent := time.Now()
	a.send(reading(session, idle))
	return sent
}

func reading(session string, idle time.Duration) protocol.Reading {
	return protocol.Reading{Session: session, IdleMS: idle.Milliseconds(), AgentDeskForeground: true, MicAvailable: true}
}

func within(t *testing.T, what string, got, want time.Time, tol time.Duration) {
	t.Helper()
	if d := got.Sub(want); d < -tol || d > tol {
		t.Errorf("%s %+.3fs from the ideal instant (tolerance %v)", what, d.Seconds(), tol)
	}
}

func TestAgentIsWarnedThenLoggedOut(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir())
	s.setTimeout(30)
	s.mustCall("POST", "/api/v1/desk/login", map[string]string{"user": "jane"})
	a := mustDial(t, s, s.enrollDevice("ws-1"))
	start := a.open("1", `CORP\Jane`, 0)

	w, warnedAt := a.next(protocol.TypeWarn, 30*time.Second)
	within(t, "warning", warnedAt, start.Add(24*time.Second), 500*time.Millisecond)
	deadline := time.UnixMilli(w.(protocol.Warn).DeadlineMS)
	within(t, "warning's deadline", deadline, start.Add(30*time.Second), 500*time.Millisecond)
	lo, loggedOutAt := a.next(protocol.TypeLoggedOut, 10*time.Second)
	within(t, "logout", loggedOutAt, start.Add(30*time.Second), 500*time.Millisecond)
	if r := lo.(protocol.LoggedOut).Reason; r != protocol.ReasonInactivity {
		t.Errorf("logout reason %q", r)
	}

	entries := s.audit("user=jane")
	kinds := map[string]map[string]any{}
	for _, e := range entries {
		kinds[e["kind"].(string)] = e
	}
	for _, k := range []string{"desk.login", "user.warned", "user.logged_out"} {
		if kinds[k] == nil {
			t.Errorf("audit has no %s for jane: %v", k, entries)
		}
	}
	if lo := kinds["user.logged_out"]; lo != nil {
		detail, _ := json.Marshal(lo["detail"])
		for _, signal := range []string{"input", "warned", "logged_out"} {
			if !strings.Contains(string(detail), `"signal":"`+signal+`"`) {
				t.Errorf("logout timeline lacks %q: %s", signal, detail)
			}
		}
	}
	code, u, _ := s.call("GET", "/api/v1/users/jane", adminToken, nil)
	if code != http.StatusOK || u["state"] != "logged_out" {
		t.Errorf("user state after logout: %d %v", code, u)
	}

	resp, err := http.Get("http://" + s.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, line := range []string{
		`vigil_decisions_total{kind="warn"} 1`,
		`vigil_decisions_total{kind="logout"} 1`,
		`vigil_users{state="logged_out"} 1`,
		`vigil_connected_agents 1`,
		`vigil_decision_latency_seconds_count 2`,
	} {
		if !strings.Contains(string(body), line+"\n") {
			t.Errorf("metrics lack %q", line)
		}
	}
}

// An agent away when its user's warning or logout was decided (e.g.
// reconnecting after a takeover) is told on its return: the warning while
// it shows, the logout once, while the user is still logged out.
func TestAgentAwayGetsWhatItMissed(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir())
	s.setTimeout(30)
	s.mustCall("POST", "/api/v1/desk/login", map[string]string{"user": "jane"})
	tok := s.enrollDevice("ws-1")
	a := mustDial(t, s, tok)
	start := a.open("1", "jane", 0)
	a.ws.Close(websocket.StatusNormalClosure, "away")
	decided := func(kind string) {
		t.Helper()
		testrig.Eventually(t, 35*time.Second, func() (bool, string) {
			return len(s.audit("user=jane&kind="+kind)) == 1, "no " + kind + " for jane yet"
		})
	}
	back := func(idle time.Duration) *agent {
		t.Helper()
		b := mustDial(t, s, tok)
		b.open("1", "jane", idle)
		return b
	}

	decided("user.warned")
	b := back(time.Since(start))
	w, _ := b.next(protocol.TypeWarn, 5*time.Second)
	within(t, "restated warning's deadline", time.UnixMilli(w.(protocol.Warn).DeadlineMS), start.Add(30*time.Second), 500*time.Millisecond)
	b.ws.Close(websocket.StatusNormalClosure, "away")

	decided("user.logged_out")
	c := back(time.Since(start))
	lo, _ := c.next(protocol.TypeLoggedOut, 5*time.Second)
	if m := lo.(protocol.LoggedOut); m.Session != "1" || m.Reason != protocol.ReasonInactivity {
		t.Errorf("missed logout sent as %+v", m)
	}
	within(t, "missed logout's instant", time.UnixMilli(lo.(protocol.LoggedOut).AtMS), start.Add(30*time.Second), 500*time.Millisecond)
	c.ws.Close(websocket.StatusNormalClosure, "away")
	back(time.Since(start)).none(protocol.TypeLoggedOut, time.Second) // told once
}

// After a restart the engine holds a warned user's logout until their
// agent reports, so the warning's deadline may have passed when the agent
// comes back: it is told the warning with the deadline as the server's
// present (a deadline before server_time_ms is not valid protocol, and an
// agent would close over it and lose the logout that follows), then the
// logout.
func TestWarningOverdueAfterARestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startServer(t, dir)
	s.setTimeout(30)
	s.mustCall("POST", "/api/v1/desk/login", map[string]string{"user": "jane"})
	token := s.enrollDevice("ws-1")
	a := mustDial(t, s, token)
	start := a.open("1", "jane", 0)
	a.next(protocol.TypeWarn, 30*time.Second)

	addr := s.addr
	s.shutdown()
	a.wantClose(websocket.StatusGoingAway)
	time.Sleep(time.Second)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listening again on %s: %v", addr, err)
	}
	s = startOn(t, dir, ln)
	// The logout falls due about 5 s after the restart, but waits for
	// jane's agent, which comes back after 7 s.
	time.Sleep(7 * time.Second)
	a = mustDial(t, s, token)
	a.open("1", "jane", time.Since(start))
	w, _ := a.next(protocol.TypeWarn, 5*time.Second)
	if m := w.(protocol.Warn); m.DeadlineMS < m.ServerTimeMS || m.DeadlineMS > m.ServerTimeMS+1000 {
		t.Errorf("overdue warning sent as %+v: want its deadline the server's present", m)
	}
	a.next(protocol.TypeLoggedOut, 5*time.Second)
}

func TestRestartKeepsEverything(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startServer(t, dir)
	s.setTimeout(30)
	s.mustCall("POST", "/api/v1/desk/login", map[string]string{"user": "jane"})
	s.mustCall("PUT", "/api/v1/mappings/CORP%5Cjsmith", map[string]string{"desk_user": "jane"})
	token := s.enrollDevice("ws-1")
	a := mustDial(t, s, token)
	start := a.open("1", `CORP\jsmith`, 0)

	// At I = 20 s, restart for about 3 s.
	time.Sleep(time.Until(start.Add(20 * time.Second)))
	addr := s.addr
	s.shutdown()
	a.wantClose(websocket.StatusGoingAway)
	time.Sleep(3 * time.Second)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listening again on %s: %v", addr, err)
	}
	s = startOn(t, dir, ln)
	down := s.srv.Downtime // from the stopped run's last alive mark to the restore
	if down.From.Before(start.Add(20*time.Second)) || down.To.Before(down.From.Add(3*time.Second)) {
		t.Fatalf("downtime %v – %v: want from after I = 20 s (%v), at least 3 s long", down.From, down.To, start.Add(20*time.Second))
	}

	// Settings, mapping and device survived: the same token connects and
	// the same OS user speaks for jane.
	if got := s.mustCall("GET", "/api/v1/settings", nil)["inactivity_timeout"].(map[string]any)["seconds"]; got != float64(30) {
		t.Errorf("timeout after restart = %v, want 30", got)
	}
	a = mustDial(t, s, token)
	a.open("1", `CORP\jsmith`, time.Since(start)) // no input since the start

	// I was a little over 20 s: the warning comes at I = 24 s counted
	// without the downtime (about 4 s after the restart), not at once and
	// not 24 s later.
	paused := down.To.Sub(down.From)
	_, warnedAt := a.next(protocol.TypeWarn, 15*time.Second)
	within(t, "warning after the restart", warnedAt, start.Add(24*time.Second+paused), 700*time.Millisecond)
	_, loggedOutAt := a.next(protocol.TypeLoggedOut, 10*time.Second)
	within(t, "logout after the restart", loggedOutAt, start.Add(30*time.Second+paused), 700*time.Millisecond)
	if n := len(s.audit("user=jane&kind=desk.login")); n != 1 {
		t.Errorf("audit after restart has %d desk logins, want 1", n)
	}
}

func TestBadSettingsChangeNothing(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir())
	s.setTimeout(45)
	before := s.mustCall("GET", "/api/v1/settings", nil)
	for _, tc := range []struct {
		name, body, want string
	}{
		{"29", `{"inactivity_timeout":{"enabled":true,"seconds":29}}`, "from 30 to 3600"},
		{"3601", `{"inactivity_timeout":{"enabled":true,"seconds":3601}}`, "from 30 to 3600"},
		{"12.5", `{"inactivity_timeout":{"enabled":true,"seconds":12.5}}`, "from 30 to 3600"},
		{"abc", `{"inactivity_timeout":{"enabled":true,"seconds":"abc"}}`, "from 30 to 3600"},
		{"null", `{"inactivity_timeout":{"enabled":true,"seconds":null}}`, "from 30 to 3600"},
		{"empty string", `{"inactivity_timeout":{"enabled":true,"seconds":""}}`, "from 30 to 3600"},
		{"missing seconds", `{"inactivity_timeout":{"enabled":true}}`, "seconds is missing"},
		{"missing enabled", `{"inactivity_timeout":{"seconds":300}}`, "enabled is missing"},
		{"enabled not a bool", `{"inactivity_timeout":{"enabled":"yes","seconds":300}}`, "true or false"},
		{"unknown field", `{"inactivity_timeout":{"enabled":true,"seconds":300,"warn":1}}`, "unknown field"},
		{"unknown section", `{"inactivity":{"enabled":true,"seconds":300}}`, "unknown section"},
		{"section not an object", `{"inactivity_timeout":300}`, "must be an object"},
		{"empty body", ``, "invalid JSON"},
		{"empty object", `{}`, "must hold"},
		{"bad pattern", `{"agent_desk":{"title_pattern":"(["}}`, "not a valid regular expression"},
		{"empty pattern", `{"agent_desk":{"title_pattern":""}}`, "1 to 512"},
		{"good timeout, bad pattern", `{"inactivity_timeout":{"enabled":true,"seconds":60},"agent_desk":{"title_pattern":"(["}}`, "regular expression"},
		{"trailing data", `{"inactivity_timeout":{"enabled":true,"seconds":60}} {}`, "after the object"},
	} {
		code, obj, _ := s.call("PUT", "/api/v1/settings", adminToken, tc.body)
		msg, _ := obj["error"].(string)
		if code != http.StatusBadRequest || !strings.Contains(msg, tc.want) {
			t.Errorf("%s: %d %q, want 400 naming %q", tc.name, code, msg, tc.want)
		}
	}
	if after := s.mustCall("GET", "/api/v1/settings", nil); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("settings changed: %v → %v", before, after)
	}
	if n := len(s.audit("kind=settings.changed")); n != 1 {
		t.Errorf("%d settings changes audited, want 1 (the valid one)", n)
	}
	// A valid partial change applies, audited with who did it.
	s.mustCall("PUT", "/api/v1/settings", map[string]any{"agent_desk": map[string]string{"title_pattern": "^Desk"}})
	got := s.mustCall("GET", "/api/v1/settings", nil)
	if got["agent_desk"].(map[string]any)["title_pattern"] != "^Desk" || got["inactivity_timeout"].(map[string]any)["seconds"] != float64(45) {
		t.Errorf("after a partial change: %v", got)
	}
}

func TestRolesAndTokens(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir())
	sup := s.mustCall("POST", "/api/v1/tokens", map[string]string{"name": "floor-lead", "role": "supervisor"})["token"].(string)
	integ := s.mustCall("POST", "/api/v1/tokens", map[string]string{"name": "platform", "role": "integration"})["token"].(string)
	settings := `{"inactivity_timeout":{"enabled":true,"seconds":60}}`
	for _, tc := range []struct {
		method, path, token, body string
		want                      int
	}{
		{"GET", "/api/v1/settings", "", "", http.StatusUnauthorized},
		{"GET", "/api/v1/settings", "vgl_api_wrong", "", http.StatusUnauthorized},
		{"GET", "/api/v1/settings", sup, "", http.StatusOK},
		{"PUT", "/api/v1/settings", sup, settings, http.StatusForbidden},
		{"PUT", "/api/v1/settings", integ, settings, http.StatusForbidden},
		{"GET", "/api/v1/audit", integ, "", http.StatusForbidden},
		{"GET", "/api/v1/audit", sup, "", http.StatusOK},
		{"POST", "/api/v1/desk/login", sup, `{"user":"bob"}`, http.StatusForbidden},
		{"POST", "/api/v1/desk/login", integ, `{"user":"bob"}`, http.StatusOK},
		{"PUT", "/api/v1/users/bob/call", integ, `{"active":true}`, http.StatusOK},
		{"PUT", "/api/v1/users/bob/call", integ, `{}`, http.StatusBadRequest},
		{"POST", "/api/v1/enrollment-tokens", sup, `{}`, http.StatusForbidden},
		{"GET", "/api/v1/users", sup, "", http.StatusOK},
	} {
		code, obj, _ := s.call(tc.method, tc.path, tc.token, tc.body)
		if code != tc.want {
			t.Errorf("%s %s as %.12q: %d %v, want %d", tc.method, tc.path, tc.token, code, obj, tc.want)
		}
		if code >= 400 && obj["error"] == "" {
			t.Errorf("%s %s: %d without an error message", tc.method, tc.path, code)
		}
	}
	// bob is on a call: paused.
	code, u, _ := s.call("GET", "/api/v1/users/bob", sup, nil)
	if code != http.StatusOK || u["state"] != "paused" || fmt.Sprint(u["paused"]) != "[on_call]" {
		t.Errorf("bob: %d %v, want paused on_call", code, u)
	}
	// A revoked token stops working at once.
	var id string
	_, _, list := s.call("GET", "/api/v1/tokens", adminToken, nil)
	for _, tok := range list {
		if m := tok.(map[string]any); m["name"] == "floor-lead" {
			id = m["id"].(string)
		}
	}
	s.mustCall("DELETE", "/api/v1/tokens/"+id, nil)
	if code, _, _ := s.call("GET", "/api/v1/settings", sup, nil); code != http.StatusUnauthorized {
		t.Errorf("revoked token: %d, want 401", code)
	}
}

func TestAgentBadInput(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir())
	s.mustCall("POST", "/api/v1/desk/login", map[string]string{"user": "jane"})

	t.Run("upgrade without a token", func(t *testing.T) {
		_, resp, err := dial(t, s, "")
		if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("dial without token: %v %v, want 401", err, resp)
		}
	})
	t.Run("unknown token", func(t *testing.T) {
		_, resp, err := dial(t, s, "vgl_dev_nobody")
		if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("dial with an unknown token: %v, want 401", err)
		}
	})
	t.Run("no subprotocol", func(t *testing.T) {
		h := http.Header{"Authorization": {"Bearer " + s.enrollDevice("ws-np")}}
		ws, _, err := websocket.Dial(context.Background(), "ws://"+s.addr+"/agent/v1/ws", &websocket.DialOptions{HTTPHeader: h})
		if err != nil {
			t.Fatal(err)
		}
		defer ws.CloseNow()
		_, _, err = ws.Read(context.Background()) // the error message
		if err == nil {
			_, _, err = ws.Read(context.Background())
		}
		if c := websocket.CloseStatus(err); c != protocol.CloseUnsupportedVersion {
			t.Errorf("closed with %d, want 4004", c)
		}
	})
	t.Run("frame over the read limit", func(t *testing.T) {
		a := mustDial(t, s, s.enrollDevice("ws-big"))
		_ = a.sendRaw([]byte(`{"type":"hello","agent_version":"` + strings.Repeat("x", protocol.MaxFrameBytes) + `"}`))
		a.wantClose(websocket.StatusMessageTooBig)
	})
	t.Run("malformed message", func(t *testing.T) {
		a := mustDial(t, s, s.enrollDevice("ws-bad"))
		_ = a.sendRaw([]byte(`{"type":"hello","agent_version":"1","os":"linux","host":"h","title":"secret"}`))
		a.wantClose(protocol.ClosePolicyViolation)
	})
	t.Run("reading before hello", func(t *testing.T) {
		a := mustDial(t, s, s.enrollDevice("ws-order"))
		a.send(reading("1", 0))
		a.wantClose(protocol.CloseProtocolError)
	})
	t.Run("a session this connection did not open", func(t *testing.T) {
		owner := mustDial(t, s, s.enrollDevice("ws-owner"))
		owner.open("7", "nobody-known", 0)
		other := mustDial(t, s, s.enrollDevice("ws-other"))
		other.send(protocol.Hello{AgentVersion: "test", OS: "linux", Host: "ws-other"})
		other.send(reading("7", 0))
		other.wantClose(protocol.CloseProtocolError)
	})
	t.Run("a second workstation of the same user is accepted", func(t *testing.T) {
		s.mustCall("POST", "/api/v1/desk/login", map[string]string{"user": "jane"})
		first := mustDial(t, s, s.enrollDevice("ws-a"))
		first.open("1", "jane", 0)
		second := mustDial(t, s, s.enrollDevice("ws-b"))
		second.open("1", `CORP\JANE`, 0)
		second.none(protocol.TypeSessionRefused, 300*time.Millisecond)
		testrig.Eventually(t, 5*time.Second, func() (bool, string) {
			_, u, _ := s.call("GET", "/api/v1/users/jane", adminToken, nil)
			return u["live_sessions"] == float64(2), fmt.Sprintf("user %v", u)
		})
		if n := len(s.audit("user=jane&kind=sensor.claim_refused")); n != 0 {
			t.Errorf("%d claim refusals audited, want none", n)
		}
	})
	t.Run("revoked device", func(t *testing.T) {
		token := s.enrollDevice("ws-rev")
		a := mustDial(t, s, token)
		a.open("1", "someone", 0)
		var id string
		_, _, list := s.call("GET", "/api/v1/devices", adminToken, nil)
		for _, d := range list {
			if m := d.(map[string]any); m["host"] == "ws-rev" {
				id = m["id"].(string)
			}
		}
		s.mustCall("POST", "/api/v1/devices/"+id+"/revoke", nil)
		a.wantClose(protocol.CloseDeviceRevoked)
		_, resp, err := dial(t, s, token)
		if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("revoked device dialing: %v, want 403", err)
		}
		if code, _, _ := s.call("POST", "/api/v1/devices/"+id+"/approve", adminToken, nil); code != http.StatusConflict {
			t.Errorf("approving a revoked device: %d, want 409", code)
		}
	})
	t.Run("enrollment token used up", func(t *testing.T) {
		e := s.mustCall("POST", "/api/v1/enrollment-tokens", map[string]any{"max_uses": 1})
		body := map[string]any{"enrollment_token": e["token"], "host": "ws-x", "os": "linux"}
		if code, _, _ := s.call("POST", "/api/v1/enroll", "", body); code != http.StatusCreated {
			t.Fatalf("first use: %d", code)
		}
		code, obj, _ := s.call("POST", "/api/v1/enroll", "", body)
		if code != http.StatusUnauthorized || !strings.Contains(fmt.Sprint(obj["error"]), "no uses left") {
			t.Errorf("second use: %d %v", code, obj)
		}
	})
}

func TestUnmappedUsersAreListedAndBoundOnceMapped(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir())
	s.setTimeout(30)
	a := mustDial(t, s, s.enrollDevice("ws-u"))
	a.open("1", `CORP\mary.k`, 0)
	testrig.Eventually(t, 5*time.Second, func() (bool, string) {
		_, _, list := s.call("GET", "/api/v1/unmapped", adminToken, nil)
		return strings.Contains(fmt.Sprint(list), `corp\mary.k`), "the unmapped OS user to be listed"
	})
	s.mustCall("POST", "/api/v1/desk/login", map[string]string{"user": "mary"})
	s.mustCall("PUT", "/api/v1/mappings/CORP%5Cmary.k", map[string]string{"desk_user": "mary"})
	testrig.Eventually(t, 5*time.Second, func() (bool, string) {
		_, u, _ := s.call("GET", "/api/v1/users/mary", adminToken, nil)
		sensor, _ := u["sensor"].(map[string]any)
		return sensor["host"] == "ws-u", "mary's sensor to be bound"
	})
}
