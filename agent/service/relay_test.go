package service

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/vigil-cc/vigil/agent"
	"github.com/vigil-cc/vigil/internal/backoff"
	"github.com/vigil-cc/vigil/internal/testrig"
	"github.com/vigil-cc/vigil/protocol"
)

func TestSameUser(t *testing.T) {
	for _, c := range []struct {
		claimed, local string
		want           bool
	}{
		{"ann", "ann", true},
		{"Ann", "ann", true},
		{`CORP\ann`, "ann", true},
		{"ann@corp.example", "ann", true},
		{`corp\ANN`, `CORP\ann`, true},
		{"bob", "ann", false},
		{`CORP\bob`, "ann", false},
		{"annie", "ann", false},
		{"", "ann", false},
		{`CORP\`, "ann", false},
	} {
		if got := SameUser(c.claimed, c.local); got != c.want {
			t.Errorf("SameUser(%q, %q) = %v, want %v", c.claimed, c.local, got, c.want)
		}
	}
}

// fakeCoordinator accepts agent connections and records what they send.
type fakeCoordinator struct {
	t     *testing.T
	srv   *httptest.Server
	mu    sync.Mutex
	conns int
	got   []string // "<conn>: <frame>"
	cur   *websocket.Conn
}

func newFakeCoordinator(t *testing.T) *fakeCoordinator {
	f := &fakeCoordinator{t: t}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer devtok" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{protocol.Subprotocol}})
		if err != nil {
			return
		}
		defer ws.CloseNow()
		f.mu.Lock()
		f.conns++
		n := f.conns
		f.cur = ws
		f.mu.Unlock()
		b, _ := protocol.Encode(protocol.Policy{Enabled: true, TimeoutS: 300, WarnAtS: 240, TitlePattern: "^Agent Desk", HeartbeatS: 20, ServerTimeMS: time.Now().UnixMilli()})
		_ = ws.Write(r.Context(), websocket.MessageText, b)
		for {
			_, data, err := ws.Read(r.Context())
			if err != nil {
				return
			}
			f.mu.Lock()
			f.got = append(f.got, string(rune('0'+n))+": "+string(data))
			f.mu.Unlock()
		}
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeCoordinator) frames() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.got...)
}

func (f *fakeCoordinator) send(m protocol.Message) {
	f.mu.Lock()
	ws := f.cur
	f.mu.Unlock()
	b, _ := protocol.Encode(m)
	if err := ws.Write(context.Background(), websocket.MessageText, b); err != nil {
		f.t.Errorf("fake coordinator write: %v", err)
	}
}

func (f *fakeCoordinator) dropCurrent() {
	f.mu.Lock()
	ws := f.cur
	f.mu.Unlock()
	_ = ws.CloseNow()
}

func has(frames []string, sub string) bool {
	for _, f := range frames {
		if strings.Contains(f, sub) {
			return true
		}
	}
	return false
}

// helperConn is a helper speaking to the relay over its socket.
type helperConn struct {
	t  *testing.T
	ws *websocket.Conn
	in chan string
}

func dialHelper(t *testing.T, sock string, user string) *helperConn {
	t.Helper()
	h, err := tryDialHelper(t, sock, user)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// tryDialHelper is dialHelper, answering an error instead of failing.
func tryDialHelper(t *testing.T, sock string, user string) (*helperConn, error) {
	t.Helper()
	ep, err := agent.ParseEndpoint("unix://"+sock, false, "")
	if err != nil {
		return nil, err
	}
	// The peer's user travels in a first line the test listener strips (a
	// stand-in for SO_PEERCRED, which the acceptance test uses for real).
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c := ep.HTTPClient()
	c.Transport.(*http.Transport).DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
		conn, err := (&net.Dialer{}).DialContext(ctx, "unix", sock)
		if err != nil {
			return nil, err
		}
		if _, err := conn.Write([]byte(user + "\n")); err != nil {
			return nil, err
		}
		return conn, nil
	}
	ws, _, err := websocket.Dial(ctx, ep.WebSocketURL(), &websocket.DialOptions{HTTPClient: c, Subprotocols: []string{protocol.Subprotocol}})
	if err != nil {
		return nil, err
	}
	h := &helperConn{t: t, ws: ws, in: make(chan string, 32)}
	go func() {
		defer close(h.in)
		for {
			_, data, err := ws.Read(context.Background())
			if err != nil {
				h.in <- "closed " + websocket.CloseStatus(err).String()
				return
			}
			h.in <- string(data)
		}
	}()
	t.Cleanup(func() { ws.CloseNow() })
	return h, nil
}

func (h *helperConn) send(m protocol.Message) {
	b, _ := protocol.Encode(m)
	if err := h.ws.Write(context.Background(), websocket.MessageText, b); err != nil {
		h.t.Fatalf("helper write: %v", err)
	}
}

func (h *helperConn) expect(sub string) string {
	h.t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case m, ok := <-h.in:
			if !ok {
				h.t.Fatalf("helper connection ended waiting for %q", sub)
			}
			if strings.Contains(m, sub) {
				return m
			}
		case <-timeout:
			h.t.Fatalf("helper: no message with %q", sub)
		}
	}
}

// userConn is a net.Conn whose peer said who it is in its first line (the
// stand-in for SO_PEERCRED in this test).
type userConn struct {
	net.Conn
	user string
}

type userListener struct{ net.Listener }

func (l userListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	var line []byte
	b := make([]byte, 1)
	for {
		if _, err := c.Read(b); err != nil {
			c.Close()
			return nil, err
		}
		if b[0] == '\n' {
			break
		}
		line = append(line, b[0])
	}
	return &userConn{Conn: c, user: string(line)}, nil
}

// startRelay runs a Relay for host with the device token tok, to the
// coordinator at url, its helpers' socket served through userListener
// (ann is uid 1001, bob 1002), until the test ends. It returns the
// socket's path and the relay's log.
func startRelay(t *testing.T, url, tok, host string) (string, *testrig.Buffer) {
	t.Helper()
	ep, err := agent.ParseEndpoint(url, false, "")
	if err != nil {
		t.Fatal(err)
	}
	logBuf := new(testrig.Buffer)
	r := &Relay{
		Endpoint: ep,
		Token:    func() (string, error) { return tok, nil },
		Hello:    protocol.Hello{AgentVersion: "test", OS: protocol.OSLinux, Host: host},
		Log:      slog.New(slog.NewTextHandler(logBuf, nil)),
		PeerOf: func(c net.Conn) (Peer, error) {
			u := c.(*userConn).user
			return Peer{ID: map[string]string{"ann": "1001", "bob": "1002"}[u], User: u}, nil
		},
		Backoff: backoff.Backoff{Initial: 20 * time.Millisecond, Max: 50 * time.Millisecond, Factor: 1.6},
	}
	sock := filepath.Join(t.TempDir(), "agent.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = r.ServeLocal(ctx, userListener{ln}) })
	wg.Go(func() { _ = r.Run(ctx) })
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	return sock, logBuf
}

func TestRelayStampsSessionsRefusesForgersAndReconnects(t *testing.T) {
	fc := newFakeCoordinator(t)
	sock, logBuf := startRelay(t, fc.srv.URL, "devtok", "ws1")
	testrig.Eventually(t, 5*time.Second, func() (bool, string) { return has(fc.frames(), `1: {"type":"hello"`), "hello upstream" })

	ann := dialHelper(t, sock, "ann")
	ann.expect(`"type":"policy"`)
	ann.send(protocol.Hello{AgentVersion: "helper", OS: protocol.OSLinux, Host: "whatever"})
	ann.send(protocol.SessionOpen{Session: "display:0", OSUser: "ANN"})
	ann.send(protocol.Reading{Session: "display:0", IdleMS: 5, AgentDeskForeground: true})
	// (ann's session first, so the ids are predictable)
	testrig.Eventually(t, 5*time.Second, func() (bool, string) {
		return has(fc.frames(), `"session":"1001-1","idle_ms":5`), "ann's session upstream"
	})
	bob := dialHelper(t, sock, "bob")
	bob.send(protocol.SessionOpen{Session: "display:0", OSUser: `CORP\bob`})
	bob.send(protocol.Heartbeat{Session: "display:0"})
	testrig.Eventually(t, 5*time.Second, func() (bool, string) {
		defer func() {
			if t.Failed() {
				t.Logf("frames: %q\nlog: %s", fc.frames(), logBuf.String())
			}
		}()
		f := fc.frames()
		return has(f, `1: {"type":"session_open","session":"1001-1","os_user":"ann"}`) &&
			has(f, `1: {"type":"reading","session":"1001-1","idle_ms":5,"agent_desk_foreground":true`) &&
			has(f, `1: {"type":"session_open","session":"1002-2","os_user":"bob"}`) &&
			has(f, `1: {"type":"heartbeat","session":"1002-2"}`), "both sessions upstream"
	})
	if n := strings.Count(strings.Join(fc.frames(), "\n"), `"type":"hello"`); n != 1 {
		t.Errorf("hello sent %d times upstream, want once: %v", n, fc.frames())
	}

	// A forger: ann's process claiming bob's session.
	forger := dialHelper(t, sock, "ann")
	forger.send(protocol.SessionOpen{Session: "x", OSUser: "bob"})
	forger.expect(`{"type":"session_refused","session":"x","reason":"user_bound"}`)
	forger.expect("closed StatusPolicyViolation")
	if !strings.Contains(logBuf.String(), "refused a helper claiming another user") || !strings.Contains(logBuf.String(), "claimed_user=bob") {
		t.Errorf("refusal not logged:\n%s", logBuf.String())
	}

	// One connection cannot crowd the device's connection with sessions.
	for i := range MaxSessionsPerHelper + 1 {
		ann.send(protocol.SessionOpen{Session: "extra" + string(rune('a'+i)), OSUser: "ann"})
	}
	ann.expect(`{"type":"session_refused","session":"extrad"`)

	// Coordinator → helper routing, with the helper's own session id.
	fc.send(protocol.Warn{Session: "1002-2", DeadlineMS: 2000, ServerTimeMS: 1000})
	bob.expect(`{"type":"warn","session":"display:0","deadline_ms":2000`)
	fc.send(protocol.SessionRefused{Session: "1001-1", Reason: protocol.RefusedUserBound})
	ann.expect(`{"type":"session_refused","session":"display:0"`)

	// The upstream connection drops: the relay reconnects, says hello,
	// opens both sessions again and resends ann's last reading.
	fc.dropCurrent()
	testrig.Eventually(t, 5*time.Second, func() (bool, string) {
		f := fc.frames()
		return has(f, `2: {"type":"hello"`) && has(f, `2: {"type":"session_open","session":"1001-1","os_user":"ann"}`) &&
			has(f, `2: {"type":"session_open","session":"1002-2","os_user":"bob"}`) && has(f, `2: {"type":"reading","session":"1001-1"`), "sessions reopened on the second connection"
	})

	// A helper that goes away closes its session upstream.
	bob.ws.CloseNow()
	testrig.Eventually(t, 5*time.Second, func() (bool, string) {
		return has(fc.frames(), `2: {"type":"session_close","session":"1002-2"}`), "bob's session closed"
	})
	if has(fc.frames(), `"os_user":"bob","session":"x"`) || has(fc.frames(), `"session":"x"`) {
		t.Errorf("the forged session reached the coordinator: %v", fc.frames())
	}
}

func TestLogFileRotates(t *testing.T) {
	p := filepath.Join(t.TempDir(), "logs", "agent.log")
	l := &LogFile{Path: p, MaxBytes: 10}
	for _, s := range []string{"12345\n", "67890\n", "abc\n"} {
		if _, err := l.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	cur, _ := os.ReadFile(p)
	old, _ := os.ReadFile(p + ".1")
	if string(cur) != "67890\nabc\n" || string(old) != "12345\n" {
		t.Errorf("current %q, rotated %q", cur, old)
	}
}
