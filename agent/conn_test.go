package agent

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/vigil-cc/vigil/internal/backoff"
	"github.com/vigil-cc/vigil/internal/testrig"
	"github.com/vigil-cc/vigil/platform/desktop"
	"github.com/vigil-cc/vigil/protocol"
	"github.com/vigil-cc/vigil/sensors"
)

// ---- a fake desktop ----

type fakeDesktop struct {
	mu        sync.Mutex
	lastInput time.Time
	title     string // the foreground window's title ("" none)
	minimized bool   // the title's window is minimized instead
	locked    bool
}

func newFakeDesktop(title string) *fakeDesktop {
	return &fakeDesktop{lastInput: time.Now().Add(-time.Minute), title: title}
}

func (d *fakeDesktop) input() time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.lastInput = time.Now()
	return d.lastInput
}

func (d *fakeDesktop) set(f func(d *fakeDesktop)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	f(d)
}

func (d *fakeDesktop) Idle() (time.Duration, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return time.Since(d.lastInput), nil
}

func (d *fakeDesktop) Windows() (sensors.WindowList, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var wl sensors.WindowList
	if d.title == "" {
		return wl, nil
	}
	w := sensors.Window{ID: 1, Title: d.title, Hidden: d.minimized}
	wl.Windows = []sensors.Window{w}
	if !d.minimized {
		wl.Foreground = &wl.Windows[0]
	}
	return wl, nil
}

func (d *fakeDesktop) ScreenLocked() (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.locked, nil
}

func (d *fakeDesktop) Close() {}

// ---- a fake coordinator speaking the protocol ----

type fakeCoordinator struct {
	t      *testing.T
	srv    *httptest.Server
	token  atomic.Value // string: the device token it accepts
	status atomic.Int32 // non-zero: answer the upgrade with this HTTP status
	noSub  atomic.Bool  // accept without selecting a subprotocol
	silent bool         // send no policy
	policy protocol.Policy
	conns  chan *fakeConn
}

type received struct {
	msg protocol.Message
	at  time.Time
}

type fakeConn struct {
	t      *testing.T
	ws     *websocket.Conn
	msgs   chan received
	closed chan websocket.StatusCode
}

func newFakeCoordinator(t *testing.T) *fakeCoordinator {
	f := &fakeCoordinator{t: t, conns: make(chan *fakeConn, 8), policy: protocol.Policy{
		Enabled: true, TimeoutS: 30, WarnAtS: 24, TitlePattern: "^Agent Desk", HeartbeatS: 20, ServerTimeMS: 1,
	}}
	f.token.Store("vgl_dev_good")
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeCoordinator) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/agent/v1/ws" {
		http.NotFound(w, r)
		return
	}
	if s := f.status.Load(); s != 0 {
		w.WriteHeader(int(s))
		fmt.Fprintf(w, `{"error":"device is revoked"}`)
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+f.token.Load().(string) {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintf(w, `{"error":"unknown device token"}`)
		return
	}
	opts := &websocket.AcceptOptions{Subprotocols: []string{protocol.Subprotocol}}
	if f.noSub.Load() {
		opts.Subprotocols = nil
	}
	ws, err := websocket.Accept(w, r, opts)
	if err != nil {
		return
	}
	c := &fakeConn{t: f.t, ws: ws, msgs: make(chan received, 256), closed: make(chan websocket.StatusCode, 1)}
	f.conns <- c
	if !f.silent {
		p := f.policy
		p.ServerTimeMS = time.Now().UnixMilli()
		c.send(p)
	}
	for {
		typ, data, err := ws.Read(context.Background())
		if err != nil {
			c.closed <- websocket.CloseStatus(err)
			close(c.msgs)
			return
		}
		if typ != websocket.MessageText {
			f.t.Errorf("the agent sent a %v frame", typ)
			continue
		}
		m, err := protocol.DecodeFromAgent(data)
		if err != nil {
			f.t.Errorf("the agent sent an invalid message: %v: %s", err, data)
			continue
		}
		c.msgs <- received{m, time.Now()}
	}
}

func (f *fakeCoordinator) url() string { return f.srv.URL }

// conn waits for the agent's next connection.
func (f *fakeCoordinator) conn(within time.Duration) *fakeConn {
	f.t.Helper()
	select {
	case c := <-f.conns:
		f.t.Cleanup(func() { c.ws.CloseNow() })
		return c
	case <-time.After(within):
		f.t.Fatalf("the agent did not connect within %v", within)
		return nil
	}
}

// noConn fails if the agent connects within d.
func (f *fakeCoordinator) noConn(d time.Duration) {
	f.t.Helper()
	select {
	case c := <-f.conns:
		c.ws.CloseNow()
		f.t.Fatalf("the agent connected again within %v", d)
	case <-time.After(d):
	}
}

func (c *fakeConn) send(m protocol.Message) {
	b, err := protocol.Encode(m)
	if err != nil {
		c.t.Error(err)
		return
	}
	_ = c.ws.Write(context.Background(), websocket.MessageText, b)
}

// next returns the next message, failing unless it is of type typ.
func (c *fakeConn) next(typ string, within time.Duration) received {
	c.t.Helper()
	select {
	case r, ok := <-c.msgs:
		if !ok {
			c.t.Fatalf("connection closed while waiting for %s", typ)
		}
		if r.msg.Type() != typ {
			c.t.Fatalf("got %s %+v, want %s", r.msg.Type(), r.msg, typ)
		}
		return r
	case <-time.After(within):
		c.t.Fatalf("no %s within %v", typ, within)
	}
	return received{}
}

// nextReading skips heartbeats up to the next reading.
func (c *fakeConn) nextReading(within time.Duration) (protocol.Reading, time.Time) {
	c.t.Helper()
	deadline := time.After(within)
	for {
		select {
		case r, ok := <-c.msgs:
			if !ok {
				c.t.Fatal("connection closed while waiting for a reading")
			}
			if m, ok := r.msg.(protocol.Reading); ok {
				return m, r.at
			}
			if r.msg.Type() != protocol.TypeHeartbeat {
				c.t.Fatalf("got %s %+v while waiting for a reading", r.msg.Type(), r.msg)
			}
		case <-deadline:
			c.t.Fatalf("no reading within %v", within)
		}
	}
}

// quiet fails if a message arrives within d.
func (c *fakeConn) quiet(d time.Duration) {
	c.t.Helper()
	select {
	case r, ok := <-c.msgs:
		if ok {
			c.t.Fatalf("unexpected %s %+v", r.msg.Type(), r.msg)
		}
	case <-time.After(d):
	}
}

// ---- the agent under test ----

type testAgent struct {
	*Agent
	desk  *fakeDesktop
	notes *fakeNotifier
	log   *testrig.Buffer
	token atomic.Value
	stop  context.CancelFunc
	done  chan error
}

func startTestAgent(t *testing.T, f *fakeCoordinator, desk *fakeDesktop, mod ...func(*Agent)) *testAgent {
	t.Helper()
	ep, err := ParseEndpoint(f.url(), false, "")
	if err != nil {
		t.Fatal(err)
	}
	ta := &testAgent{desk: desk, notes: newFakeNotifier(), log: &testrig.Buffer{}, done: make(chan error, 1)}
	ta.token.Store("vgl_dev_good")
	log := newTextLog(ta.log)
	ta.Agent = &Agent{
		Endpoint: ep,
		Token:    func() (string, error) { return ta.token.Load().(string), nil },
		Hello:    protocol.Hello{AgentVersion: "test", OS: protocol.OSLinux, Host: "ws-test"},
		Session:  "display:9",
		OSUser:   "jane",
		Sampler: &Sampler{
			OpenDesktop: func() (desktop.Desktop, error) { return desk, nil },
			Interval:    50 * time.Millisecond,
			Log:         log,
		},
		Warn:           &Warnings{Notifier: ta.notes, Log: log},
		Log:            log,
		Backoff:        backoff.Backoff{Initial: 50 * time.Millisecond, Max: 200 * time.Millisecond, Factor: 2},
		AuthBackoff:    backoff.Backoff{Initial: time.Hour, Max: time.Hour, Factor: 2},
		RefusedBackoff: backoff.Backoff{Initial: 300 * time.Millisecond, Max: time.Second, Factor: 2},
		TokenPoll:      20 * time.Millisecond,
		StaleWarning:   300 * time.Millisecond,
	}
	for _, m := range mod {
		m(ta.Agent)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ta.stop = cancel
	go func() { ta.done <- ta.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-ta.done:
		case <-time.After(10 * time.Second):
			t.Error("the agent did not stop within 10 s")
		}
		if t.Failed() {
			t.Logf("agent log:\n%s", ta.logText())
		}
	})
	return ta
}

func (ta *testAgent) logText() string { return ta.log.String() }

// open expects hello, session_open and the first reading.
func open(t *testing.T, c *fakeConn) protocol.Reading {
	t.Helper()
	h := c.next(protocol.TypeHello, 5*time.Second).msg.(protocol.Hello)
	if h != (protocol.Hello{AgentVersion: "test", OS: protocol.OSLinux, Host: "ws-test"}) {
		t.Errorf("hello %+v", h)
	}
	so := c.next(protocol.TypeSessionOpen, 5*time.Second).msg.(protocol.SessionOpen)
	if so != (protocol.SessionOpen{Session: "display:9", OSUser: "jane"}) {
		t.Errorf("session_open %+v", so)
	}
	return c.next(protocol.TypeReading, 5*time.Second).msg.(protocol.Reading)
}

func within(t *testing.T, what string, got, want, tol time.Duration) {
	t.Helper()
	if d := got - want; d < -tol || d > tol {
		t.Errorf("%s: %v, want %v ± %v", what, got, want, tol)
	}
}

// hello, policy, session_open, a fresh reading with the policy's pattern;
// changes and input; the warning's countdown, dismissal and logout.
func TestAgentSession(t *testing.T) {
	t.Parallel()
	f := newFakeCoordinator(t)
	f.policy.TitlePattern = "^Desk$" // the default pattern would not match
	desk := newFakeDesktop("Desk - Chromium")
	lastInput := desk.input().Add(-2 * time.Second)
	desk.set(func(d *fakeDesktop) { d.lastInput = lastInput })
	ta := startTestAgent(t, f, desk)
	c := f.conn(5 * time.Second)

	r := open(t, c)
	if !r.AgentDeskForeground || r.AgentDeskMinimized || r.ScreenLocked || r.MicAvailable || r.Voice || r.Session != "display:9" {
		t.Errorf("first reading %+v: want the Agent Desk in front by the policy's pattern", r)
	}
	within(t, "first reading's idle", time.Duration(r.IdleMS)*time.Millisecond, time.Since(lastInput), 150*time.Millisecond)
	c.quiet(300 * time.Millisecond) // idle growing is no change

	// Minimized: at once.
	desk.set(func(d *fakeDesktop) { d.minimized = true })
	r, _ = c.nextReading(time.Second)
	if r.AgentDeskForeground || !r.AgentDeskMinimized {
		t.Errorf("after minimizing: %+v", r)
	}
	desk.set(func(d *fakeDesktop) { d.minimized = false })
	r, _ = c.nextReading(time.Second)
	if !r.AgentDeskForeground {
		t.Errorf("after restoring: %+v", r)
	}

	// Input a second after the last reading: at once, with the idle time
	// as of sending.
	time.Sleep(time.Second)
	in := desk.input()
	r, at := c.nextReading(time.Second)
	within(t, "input time the coordinator infers", at.Sub(in), time.Duration(r.IdleMS)*time.Millisecond, 30*time.Millisecond)
	// More input at once: held back by the throttle, then the trailing
	// report carries the last one.
	time.Sleep(100 * time.Millisecond)
	desk.input()
	time.Sleep(100 * time.Millisecond)
	in = desk.input()
	c.quiet(500 * time.Millisecond)
	r, at = c.nextReading(time.Second)
	within(t, "trailing report's input time", at.Sub(in), time.Duration(r.IdleMS)*time.Millisecond, 30*time.Millisecond)

	// A warning, with the coordinator's clock an hour ahead: the countdown
	// is deadline − server_time from receipt.
	shown := make(chan string, 16)
	ta.Warn.OnShow = func(b string) { shown <- b }
	server := time.Now().Add(time.Hour).UnixMilli()
	c.send(protocol.Warn{Session: "display:9", DeadlineMS: server + 6000, ServerTimeMS: server})
	select {
	case b := <-shown:
		if b != CountdownBody(6) {
			t.Errorf("warning shows %q, want %q", b, CountdownBody(6))
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no warning on screen")
	}
	// Warned: input goes out at once, even right after another.
	time.Sleep(1100 * time.Millisecond)
	desk.input()
	c.nextReading(400 * time.Millisecond)
	time.Sleep(100 * time.Millisecond)
	desk.input()
	c.nextReading(400 * time.Millisecond)
	c.send(protocol.Withdraw{Session: "display:9", Reason: protocol.ReasonDismissed})
	testrig.Eventually(t, time.Second, func() (bool, string) {
		return ta.notes.onScreen() == 0 && !ta.Warn.Showing(), "the notification closed"
	})

	// Warned again, then logged out: the countdown becomes the notice.
	server = time.Now().UnixMilli()
	c.send(protocol.Warn{Session: "display:9", DeadlineMS: server + 3000, ServerTimeMS: server})
	c.send(protocol.LoggedOut{Session: "display:9", Reason: protocol.ReasonInactivity, AtMS: server + 3000})
	testrig.Eventually(t, 2*time.Second, func() (bool, string) {
		for len(shown) > 0 {
			if <-shown == LoggedOutBody {
				return true, "the logout notice"
			}
		}
		return false, "the logout notice"
	})
	// Messages for other sessions are ignored.
	c.send(protocol.Warn{Session: "other", DeadlineMS: server + 3000, ServerTimeMS: server})
	time.Sleep(100 * time.Millisecond)
	if ta.Warn.Showing() {
		t.Error("a warning for another session shows")
	}

	// Stopping: session_close, then close 1000.
	ta.stop()
	c.next(protocol.TypeSessionClose, 2*time.Second)
	c.wantClose(websocket.StatusNormalClosure, 5*time.Second)
	if err := <-ta.done; err != nil {
		t.Errorf("Run returned %v", err)
	}
	ta.done <- nil
}

// A dropped connection is reopened with backoff; the session starts again
// with hello, session_open and a fresh reading, and a warning the
// coordinator does not confirm afterwards is taken down.
func TestAgentReconnects(t *testing.T) {
	t.Parallel()
	f := newFakeCoordinator(t)
	ta := startTestAgent(t, f, newFakeDesktop("Agent Desk - Chromium"))
	c := f.conn(5 * time.Second)
	open(t, c)
	server := time.Now().UnixMilli()
	c.send(protocol.Warn{Session: "display:9", DeadlineMS: server + 20000, ServerTimeMS: server})
	testrig.Eventually(t, time.Second, func() (bool, string) { return ta.Warn.Showing(), "the warning" })

	_ = c.ws.Close(websocket.StatusGoingAway, "coordinator stopping")
	c = f.conn(2 * time.Second)
	open(t, c)
	if !ta.Warn.Showing() {
		t.Error("the warning went down at the reconnect, before the coordinator had a say")
	}
	testrig.Eventually(t, 2*time.Second, func() (bool, string) { return !ta.Warn.Showing(), "the unconfirmed warning taken down" })

	// Confirmed after a reconnect: it stays.
	server = time.Now().UnixMilli()
	c.send(protocol.Warn{Session: "display:9", DeadlineMS: server + 20000, ServerTimeMS: server})
	testrig.Eventually(t, time.Second, func() (bool, string) { return ta.Warn.Showing(), "the warning" })
	c.ws.CloseNow() // a dropped connection, no close frame
	c = f.conn(2 * time.Second)
	open(t, c)
	server = time.Now().UnixMilli()
	c.send(protocol.Warn{Session: "display:9", DeadlineMS: server + 20000, ServerTimeMS: server})
	time.Sleep(600 * time.Millisecond)
	if !ta.Warn.Showing() {
		t.Error("a confirmed warning was taken down")
	}
}

// A refused session is silent, then closed and opened again after a while.
func TestAgentSessionRefused(t *testing.T) {
	t.Parallel()
	f := newFakeCoordinator(t)
	desk := newFakeDesktop("Agent Desk - Chromium")
	ta := startTestAgent(t, f, desk)
	c := f.conn(5 * time.Second)
	open(t, c)
	c.send(protocol.SessionRefused{Session: "display:9", Reason: protocol.RefusedUserBound})
	time.Sleep(50 * time.Millisecond)
	desk.input()
	c.quiet(200 * time.Millisecond) // no reading for a refused session
	c.next(protocol.TypeSessionClose, time.Second)
	c.next(protocol.TypeSessionOpen, time.Second)
	c.next(protocol.TypeReading, time.Second)
	if !strings.Contains(ta.logText(), "refused this session") {
		t.Errorf("the refusal is not logged:\n%s", ta.logText())
	}
}

// The coordinator refusing the device (HTTP 401/403, close 4003) or the
// protocol (4004): no quick retries, but a new device token retries at once.
func TestAgentAuthFailures(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		fail func(f *fakeCoordinator)
		log  string
	}{
		{"unknown token", func(f *fakeCoordinator) { f.token.Store("vgl_dev_other") }, "does not know this device's token"},
		{"forbidden", func(f *fakeCoordinator) { f.status.Store(http.StatusForbidden) }, "device is revoked"},
		{"revoked while connected", nil, "has revoked this device"},
		{"no common subprotocol", func(f *fakeCoordinator) { f.noSub.Store(true) }, "protocol version"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeCoordinator(t)
			if tc.fail != nil {
				tc.fail(f)
			}
			ta := startTestAgent(t, f, newFakeDesktop("Agent Desk - Chromium"))
			switch tc.name {
			case "revoked while connected":
				c := f.conn(5 * time.Second)
				open(t, c)
				c.send(protocol.ErrorMessage{Code: protocol.CloseDeviceRevoked, Message: "device revoked"})
				_ = c.ws.Close(protocol.CloseDeviceRevoked, "device revoked")
			case "no common subprotocol":
				c := f.conn(5 * time.Second)
				c.wantClose(protocol.CloseUnsupportedVersion, 5*time.Second)
			}
			testrig.Eventually(t, 5*time.Second, func() (bool, string) { return strings.Contains(ta.logText(), tc.log), "the failure logged" })
			f.noConn(500 * time.Millisecond)

			// Fixed on the coordinator's side and a new token: back at once.
			f.status.Store(0)
			f.noSub.Store(false)
			f.token.Store("vgl_dev_new")
			ta.token.Store("vgl_dev_new")
			open(t, f.conn(2*time.Second))
		})
	}
}

// Until the desktop can be read no session is opened: the coordinator sees
// a silent sensor, never one without input.
func TestAgentWaitsForTheDesktop(t *testing.T) {
	t.Parallel()
	f := newFakeCoordinator(t)
	desk := newFakeDesktop("Agent Desk - Chromium")
	var ok atomic.Bool
	startTestAgent(t, f, desk, func(a *Agent) {
		a.Sampler.Backoff = backoff.Backoff{Initial: 20 * time.Millisecond, Max: 20 * time.Millisecond, Factor: 1}
		a.Sampler.OpenDesktop = func() (desktop.Desktop, error) {
			if !ok.Load() {
				return nil, errors.New("no display")
			}
			return desk, nil
		}
	})
	c := f.conn(5 * time.Second)
	c.next(protocol.TypeHello, time.Second)
	c.quiet(300 * time.Millisecond)
	ok.Store(true)
	c.next(protocol.TypeSessionOpen, time.Second)
	c.next(protocol.TypeReading, time.Second)
}

// Without a policy the session opens anyway after PolicyWait.
func TestAgentWithoutPolicy(t *testing.T) {
	t.Parallel()
	f := newFakeCoordinator(t)
	f.silent = true
	startTestAgent(t, f, newFakeDesktop("Agent Desk - Chromium"), func(a *Agent) { a.PolicyWait = 200 * time.Millisecond })
	c := f.conn(5 * time.Second)
	c.next(protocol.TypeHello, time.Second)
	start := time.Now()
	c.next(protocol.TypeSessionOpen, time.Second)
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("session opened %v after hello, before the policy wait", d)
	}
	if r := c.next(protocol.TypeReading, time.Second).msg.(protocol.Reading); !r.AgentDeskForeground {
		t.Errorf("the default pattern did not match: %+v", r)
	}
}

func TestSamplerPattern(t *testing.T) {
	t.Parallel()
	s := &Sampler{}
	g := s.Gen()
	if s.SetPattern(regexp.MustCompile(sensors.DefaultAgentDeskPattern)) != g {
		t.Error("the same pattern got a new generation")
	}
	if s.SetPattern(regexp.MustCompile("^Desk")) != g+1 {
		t.Error("a new pattern kept the generation")
	}
}

// wantClose fails the test unless the agent closes the connection with
// code within d.
func (c *fakeConn) wantClose(code websocket.StatusCode, d time.Duration) {
	c.t.Helper()
	select {
	case got := <-c.closed:
		if got != code {
			c.t.Errorf("the agent closed with %d, want %d", got, code)
		}
	case <-time.After(d):
		c.t.Fatalf("the agent did not close within %v", d)
	}
}
