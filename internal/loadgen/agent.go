package loadgen

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/vigil-cc/vigil/internal/backoff"
	"github.com/vigil-cc/vigil/protocol"
)

// AgentState is one simulated agent's counters, as Gen.Agents and
// Report.States give them.
type AgentState struct {
	Number int    `json:"number"`
	User   string `json:"user"`
	Role   Role   `json:"role"`
	// URL is the coordinator the agent is connected to now ("" while it is
	// not); Connects counts its connections, LastConnect the newest.
	URL         string    `json:"url,omitempty"`
	Connects    int       `json:"connects"`
	LastConnect time.Time `json:"last_connect,omitzero"`
	// LastURL is the coordinator of the newest connection (kept after it
	// ends); Source the local address it came from.
	LastURL string `json:"last_url,omitempty"`
	Source  string `json:"source,omitempty"`
	// LastInput is the last keyboard or mouse input the agent reported.
	LastInput time.Time `json:"last_input,omitzero"`
	// Warnings, Withdrawals and Logouts count what the coordinator sent;
	// LastWarning and LastLogout are when the newest arrived.
	Warnings    int       `json:"warnings"`
	Withdrawals int       `json:"withdrawals"`
	Logouts     int       `json:"logouts"`
	LastWarning time.Time `json:"last_warning,omitzero"`
	LastLogout  time.Time `json:"last_logout,omitzero"`
	// WarnedConnecting and LoggedOutConnecting count the warnings and
	// logouts that came before the window started, while the agents were
	// still connecting (Warnings and Logouts include them).
	WarnedConnecting    int `json:"warned_connecting,omitempty"`
	LoggedOutConnecting int `json:"logged_out_connecting,omitempty"`
	Refused             int `json:"refused,omitempty"` // session_refused
	// NotLeader counts closes by a standby replica (4005).
	NotLeader int `json:"not_leader,omitempty"`
	// Cycles are an idle agent's rounds: its input, then the warning and
	// the logout it should get, each with the instant it was due.
	Cycles []Cycle `json:"cycles,omitempty"`
	// DeskWeb: signed in through the desk's form; DeskShowedLogout counts
	// the logouts after which /desk/ showed the logged-out screen.
	DeskWeb          bool   `json:"desk_web,omitempty"`
	DeskShowedLogout int    `json:"desk_showed_logout,omitempty"`
	LastError        string `json:"last_error,omitempty"`
	// Ends are how the newest connections ended (at most maxEnds): when,
	// where to, and why, for a test to tell what an agent went through.
	Ends []End `json:"ends,omitempty"`
}

// End is how one connection (or attempt) ended.
type End struct {
	At   time.Time `json:"at"`
	URL  string    `json:"url"`
	Code int       `json:"code"`
	Err  string    `json:"err"`
	// Served: the connection was up (policy, session, reading) before.
	Served bool `json:"served"`
}

const maxEnds = 8

// Cycle is one round of an idle agent: input at Input, then nothing. The
// warning is due at Input + warn_at_s of the policy in force, the logout
// at Input + timeout_s (the warning has then shown for 0.2·T).
type Cycle struct {
	Input     time.Time `json:"input"`
	WarnDue   time.Time `json:"warn_due"`
	LogoutDue time.Time `json:"logout_due"`
	Warned    time.Time `json:"warned,omitzero"`     // arrival of the warn
	LoggedOut time.Time `json:"logged_out,omitzero"` // arrival of logged_out
	// Deadline is the logout instant the warn announced.
	Deadline time.Time `json:"deadline,omitzero"`
}

// agent is one simulated workstation with one desktop session.
type agent struct {
	g          *Gen
	n          int // number
	user, host string
	role       Role
	web        bool
	rng        *rand.Rand

	token  string       // device token
	cookie *http.Cookie // desk session, for a web sign-in

	mu sync.Mutex
	st AgentState

	// Owned by the agent's goroutine.
	policy    protocol.Policy
	fg, min   bool      // the Agent Desk in front, minimized
	away      bool      // a window agent with the desk away
	loggedIn  bool      // logged in to the Agent Desk (as far as it knows)
	started   bool      // logged in for the first time
	lastSent  time.Time // last message written
	lastInput time.Time
	outAt     time.Time // when logged_out arrived
	nextInput time.Time
	nextWin   time.Time
	walked    bool      // an idle agent has walked away (from walkAt)
	walkAt    time.Time // zero until the window starts
}

func newAgent(g *Gen, n int) *agent {
	user := fmt.Sprintf("%s%05d", g.cfg.Prefix, n)
	a := &agent{
		g: g, n: n, user: user, host: "ws-" + user,
		role: roleOf(n, g.cfg.IdleShare, g.cfg.WindowShare),
		web:  n-g.cfg.First < g.cfg.DeskWeb,
		rng:  rand.New(rand.NewPCG(uint64(n), 0x5eed)),
		fg:   true,
	}
	a.st = AgentState{Number: n, User: user, Role: a.role, DeskWeb: a.web}
	return a
}

func (a *agent) state() AgentState {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.st
	s.Cycles = append([]Cycle(nil), a.st.Cycles...)
	s.Ends = append([]End(nil), a.st.Ends...)
	return s
}

func (a *agent) update(f func(s *AgentState)) {
	a.mu.Lock()
	f(&a.st)
	a.mu.Unlock()
}

func (a *agent) fail(err error) {
	a.g.noteErr(fmt.Errorf("%s: %w", a.user, err))
	a.update(func(s *AgentState) { s.LastError = err.Error() })
}

// password is a web agent's account password: made up from the name, so
// that a second run against the same coordinator signs in with it again.
func (a *agent) password() string { return "loadgen-" + a.user + "-pw" }

// enroll exchanges the enrollment token for the device's token.
func (a *agent) enroll(ctx context.Context) error {
	var d struct {
		DeviceToken string `json:"device_token"`
	}
	if err := call(ctx, a.g.hc.forAgent(a.n), a.g.base, "", "POST", "/api/v1/enroll",
		map[string]any{"enrollment_token": a.g.enrollToken, "host": a.host, "os": "linux"}, &d); err != nil {
		return fmt.Errorf("enrolling: %w", err)
	}
	a.token = d.DeviceToken
	return nil
}

// login logs the user in to the Agent Desk: through the desk's sign-in
// form for a web agent, else through the platform's API call.
func (a *agent) login(ctx context.Context) error {
	if a.web {
		c, err := deskSignIn(ctx, a.g.hc.forAgent(a.n), a.g.base, a.user, a.password())
		if err == nil {
			a.cookie = c
			a.loggedIn = true
			return nil
		}
		// A sign-in refused by the rate limit still needs the user logged
		// in; the platform's call does that.
		a.fail(err)
	}
	if err := call(ctx, a.g.hc.def, a.g.base, a.g.integration, "POST", "/api/v1/desk/login", map[string]string{"user": a.user}, nil); err != nil {
		return fmt.Errorf("logging in to the Agent Desk: %w", err)
	}
	a.loggedIn = true
	return nil
}

// inbound is a message from the coordinator, stamped when it was read.
type inbound struct {
	msg protocol.Message
	at  time.Time
}

// conn is one connection's reader results.
type conn struct {
	ws   *websocket.Conn
	url  string
	in   chan inbound
	err  error  // why the reader stopped; read after in is closed
	text string // the coordinator's error message, if it sent one
}

// run is the agent's life: the first connection (started reports when it
// was made or failed), then reconnecting until ctx ends.
func (a *agent) run(ctx context.Context, started func()) {
	url := a.g.cfg.URLs[0]
	bo := backoff.Backoff{Initial: 500 * time.Millisecond, Max: 5 * time.Second, Factor: 1.6, Jitter: 0.2, StableAfter: 10 * time.Second}
	first := true
	for ctx.Err() == nil {
		c, err := a.connect(ctx, url)
		if first {
			first = false
			started()
		}
		served := err == nil
		if served {
			bo.Begin()
			err = a.serve(ctx, c)
			a.update(func(s *AgentState) { s.URL = "" })
		}
		if ctx.Err() != nil {
			return
		}
		code, reason := closeOf(err, c)
		switch {
		case served || code == closeNotLeader:
			// A dropped connection (Reconnects counts them) or a standby's
			// refusal is part of a restart or failover, not a failure.
			a.update(func(s *AgentState) { s.LastError = err.Error() })
		default:
			a.fail(err)
		}
		a.g.cfg.Log.Debug("connection ended", "user", a.user, "url", url, "code", code, "reason", reason, "err", err)
		a.update(func(s *AgentState) {
			s.Ends = append(s.Ends, End{At: time.Now(), URL: url, Code: code, Err: err.Error(), Served: served})
			if len(s.Ends) > maxEnds {
				s.Ends = s.Ends[len(s.Ends)-maxEnds:]
			}
		})
		next := a.next(url, code, reason)
		a.update(func(s *AgentState) {
			if code == closeNotLeader {
				s.NotLeader++
			}
		})
		if code == closeNotLeader && next != url && names(reason, hostOf(next)) {
			// A standby named the leader: go there at once.
			bo.Reset()
			url = next
			continue
		}
		url = next
		bo.Wait(ctx)
	}
}

// closeNotLeader is a standby replica's close code; its reason names the
// leader's URL when the standby knows it (docs/protocol.md).
const closeNotLeader = 4005

// closeOf is the close code and the coordinator's words (close reason and
// error message) of a connection that ended with err (c nil: it never
// got going).
func closeOf(err error, c *conn) (int, string) {
	var ce websocket.CloseError
	var reason string
	if errors.As(err, &ce) {
		reason = ce.Reason
	}
	if c != nil && c.text != "" {
		reason += " " + c.text
	}
	var ref *refused
	if errors.As(err, &ref) {
		return ref.code, ref.reason
	}
	return int(websocket.CloseStatus(err)), strings.TrimSpace(reason)
}

// refused is a connection the coordinator closed before it sent its
// policy (a standby replica does).
type refused struct {
	code   int
	reason string
	err    error
}

func (e *refused) Error() string {
	if e.err == nil {
		return fmt.Sprintf("closed with %d before the policy: %s", e.code, e.reason)
	}
	return fmt.Sprintf("closed with %d before the policy: %s (%v)", e.code, e.reason, e.err)
}

func hostOf(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		return u[i+3:]
	}
	return u
}

func (a *agent) next(url string, code int, reason string) string {
	if a.g.cfg.NextURL != nil {
		if u := a.g.cfg.NextURL(url, code, reason); u != "" {
			return u
		}
	}
	return defaultNext(a.g.cfg.URLs, url, code, reason)
}

// connect makes the device's first or next connection: enrollment the
// first time, then hello, the policy and the session, the desk login the
// first time, and a fresh reading (with input the first time).
func (a *agent) connect(ctx context.Context, url string) (*conn, error) {
	if a.token == "" {
		if err := a.enroll(ctx); err != nil {
			return nil, err
		}
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var local string
	ws, resp, err := websocket.Dial(dctx, wsURL(url), &websocket.DialOptions{
		HTTPClient:      a.g.hc.wsClient(a.n, &local),
		HTTPHeader:      http.Header{"Authorization": {"Bearer " + a.token}},
		Subprotocols:    []string{protocol.Subprotocol},
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("connecting to %s: HTTP %d: %w", url, resp.StatusCode, err)
		}
		return nil, fmt.Errorf("connecting to %s: %w", url, err)
	}
	ws.SetReadLimit(protocol.MaxFrameBytes)
	c := &conn{ws: ws, url: url, in: make(chan inbound, 16)}
	go a.read(c)
	fail := func(err error) (*conn, error) {
		ws.CloseNow()
		for range c.in {
		}
		var ref *refused
		if code, reason := closeOf(c.err, c); code >= 3000 && !errors.As(err, &ref) {
			err = &refused{code: code, reason: reason, err: err}
		}
		return nil, fmt.Errorf("on %s: %w", url, err)
	}
	if err := a.write(ctx, c, protocol.Hello{AgentVersion: "loadgen", OS: protocol.OSLinux, Host: a.host}); err != nil {
		return fail(err)
	}
	// The policy comes first: the agent times its expectations by it.
	select {
	case m, ok := <-c.in:
		p, isPolicy := m.msg.(protocol.Policy)
		if e, isErr := m.msg.(protocol.ErrorMessage); ok && isErr {
			// A standby replica (4005), or a coordinator in trouble.
			return fail(&refused{code: e.Code, reason: e.Message})
		}
		if !ok || !isPolicy {
			return fail(fmt.Errorf("expected the policy first, got %T (%v)", m.msg, c.err))
		}
		a.policy = p
		a.g.timeoutS.Store(int64(p.TimeoutS))
	case <-dctx.Done():
		return fail(errors.New("no policy within 30 s"))
	}
	if err := a.write(ctx, c, protocol.SessionOpen{Session: "1", OSUser: a.user}); err != nil {
		return fail(err)
	}
	first := !a.started
	if first {
		// Logged in to the Agent Desk only now, with the sensor bound: a
		// login long before the sensor reports (a slow connection under
		// load) would start a clock that nothing resets.
		if err := a.login(ctx); err != nil {
			return fail(err)
		}
		a.started = true
	}
	now := time.Now()
	if !first && a.role != RoleIdle && !a.nextInput.IsZero() && !now.Before(a.nextInput) {
		// An active user kept working while the agent was away (a failover,
		// a dropped connection): the real agent's first reading after a
		// reconnect reports the OS's idle time, so their latest input, and
		// the coordinator counts it at its restart (DESIGN §1).
		a.nextInput = now.Add(a.jitter(a.g.cfg.InputEvery))
		a.lastInput = now.Add(-time.Duration(a.rng.IntN(250)) * time.Millisecond)
		a.update(func(s *AgentState) { s.LastInput = a.lastInput })
	}
	if err := a.reading(ctx, c, first); err != nil {
		return fail(err)
	}
	a.update(func(s *AgentState) {
		s.URL, s.LastURL, s.Source, s.Connects, s.LastConnect = url, url, local, s.Connects+1, now
	})
	return c, nil
}

// read passes the coordinator's messages to the agent's goroutine, each
// stamped as it arrives, until the connection ends.
func (a *agent) read(c *conn) {
	defer close(c.in)
	for {
		_, data, err := c.ws.Read(context.Background())
		at := time.Now()
		if err != nil {
			c.err = err
			return
		}
		a.g.received.Add(1)
		m, err := protocol.DecodeFromCoordinator(data)
		if err != nil {
			c.err = err
			c.ws.Close(websocket.StatusCode(protocol.CloseCode(err)), "invalid message")
			return
		}
		if e, ok := m.(protocol.ErrorMessage); ok {
			c.text = e.Message
		}
		c.in <- inbound{msg: m, at: at}
	}
}

func (a *agent) write(ctx context.Context, c *conn, m protocol.Message) error {
	b, err := protocol.Encode(m)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := c.ws.Write(wctx, websocket.MessageText, b); err != nil {
		return fmt.Errorf("sending %s: %w", m.Type(), err)
	}
	a.lastSent = time.Now()
	a.g.sent.Add(1)
	return nil
}

// reading reports the session's state; with input, the input is now (an
// idle agent starts a cycle with it).
func (a *agent) reading(ctx context.Context, c *conn, input bool) error {
	now := time.Now()
	if input || a.lastInput.IsZero() {
		a.lastInput = now
	}
	r := protocol.Reading{Session: "1", IdleMS: max(now.Sub(a.lastInput).Milliseconds(), 0),
		AgentDeskForeground: a.fg, AgentDeskMinimized: a.min, MicAvailable: true}
	if err := a.write(ctx, c, r); err != nil {
		return err
	}
	if input {
		a.update(func(s *AgentState) {
			s.LastInput = a.lastInput
			if a.role == RoleIdle && a.loggedIn && a.walked {
				s.Cycles = append(s.Cycles, Cycle{Input: a.lastInput,
					WarnDue:   a.lastInput.Add(time.Duration(a.policy.WarnAtS) * time.Second),
					LogoutDue: a.lastInput.Add(time.Duration(a.policy.TimeoutS) * time.Second)})
			}
		})
	}
	return nil
}

// serve runs the connection: the coordinator's messages, and the agent's
// own input, window changes, heartbeats and desk logins, until it drops.
func (a *agent) serve(ctx context.Context, c *conn) error {
	defer c.ws.CloseNow()
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	window := a.g.windowStarted // plans change when the window starts
	if a.g.start.Load() != 0 {
		window = nil
	}
	for {
		t.Reset(time.Until(a.plan()))
		select {
		case <-window:
			window = nil
		case <-ctx.Done():
			c.ws.Close(websocket.StatusNormalClosure, "load generator done")
			for range c.in {
			}
			return ctx.Err()
		case m, ok := <-c.in:
			if !ok {
				if c.err == nil {
					c.err = errors.New("connection closed")
				}
				return c.err
			}
			a.handle(ctx, m)
		case <-t.C:
			if err := a.act(ctx, c); err != nil {
				return err
			}
		}
	}
}

// walking reports whether an idle agent's input at t would come too close
// before its walk-away (within inputApart), or after it was due: it
// makes none then, so the walk-away is at most inputApart late.
func (a *agent) walking(t time.Time) bool {
	return !a.walkAt.IsZero() && !t.Before(a.walkAt.Add(-inputApart))
}

// inputApart keeps an idle agent's last input this far after the one
// before: the coordinator counts input within engine.InputJitter (250 ms)
// of the last as the same, and it estimates each as arrival − idle_ms, so
// a reading it reads late looks later. At 500 ms apart, 5 of 2,840 walk-
// aways at 10,000 agents were merged with the input before (their
// decisions 27–196 ms early by the agent's clock).
const inputApart = time.Second

// jitter is d ±50 %.
func (a *agent) jitter(d time.Duration) time.Duration {
	return d/2 + time.Duration(a.rng.Int64N(int64(d)+1))
}

// plan is when the agent next does something.
func (a *agent) plan() time.Time {
	now := time.Now()
	hb := a.lastSent.Add(time.Duration(max(a.policy.HeartbeatS, 5)) * time.Second)
	next := hb
	if a.role == RoleIdle && a.walkAt.IsZero() {
		if start := a.g.start.Load(); start != 0 {
			a.walkAt = time.Unix(0, start).Add(time.Duration(a.rng.Int64N(int64(a.g.walkSpread()) + 1)))
		}
	}
	if a.role == RoleIdle && !a.walked && !a.walkAt.IsZero() {
		next = earliest(next, a.walkAt)
		if a.walking(a.nextInput) {
			return next // no more input before the last one
		}
	}
	if a.role == RoleIdle && a.walked {
		if !a.loggedIn && !a.outAt.IsZero() {
			next = earliest(next, a.outAt.Add(a.g.cfg.Relogin))
		}
		return next
	}
	if a.nextInput.IsZero() {
		a.nextInput = now.Add(a.jitter(a.g.cfg.InputEvery))
	}
	next = earliest(next, a.nextInput)
	if a.role == RoleWindow {
		if a.nextWin.IsZero() {
			a.nextWin = now.Add(a.jitter(20 * time.Second))
		}
		next = earliest(next, a.nextWin)
	}
	return next
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// act does what plan scheduled.
func (a *agent) act(ctx context.Context, c *conn) error {
	now := time.Now()
	switch {
	case a.role == RoleIdle && !a.walked && !a.walkAt.IsZero() && !now.Before(a.walkAt):
		if since := now.Sub(a.lastInput); since < inputApart {
			// The coordinator takes input this close to the last as the
			// same input (engine.InputJitter); wait, so that it counts.
			a.walkAt = a.lastInput.Add(inputApart)
			return nil
		}
		// The last input before walking away: the cycle starts.
		a.walked = true
		return a.reading(ctx, c, true)
	case a.role == RoleIdle && !a.loggedIn && !a.outAt.IsZero() && !now.Before(a.outAt.Add(a.g.cfg.Relogin)):
		a.outAt = time.Time{}
		if !a.g.cycleFits(now, time.Duration(a.policy.TimeoutS)*time.Second) {
			return nil // stays logged out: no whole cycle fits in the run
		}
		if err := a.login(ctx); err != nil {
			a.fail(err)
			return nil
		}
		return a.reading(ctx, c, true)
	case (a.role != RoleIdle || !a.walked && !a.walking(a.nextInput)) && !now.Before(a.nextInput):
		a.nextInput = now.Add(a.jitter(a.g.cfg.InputEvery))
		// Input a moment ago, as a real agent's throttled report says.
		a.lastInput = now.Add(-time.Duration(a.rng.IntN(250)) * time.Millisecond)
		a.update(func(s *AgentState) { s.LastInput = a.lastInput })
		return a.reading(ctx, c, false)
	case a.role == RoleWindow && !now.Before(a.nextWin):
		if a.away {
			// Back: the click that brought the Agent Desk to the front.
			a.away, a.fg, a.min = false, true, false
			a.nextWin = now.Add(a.jitter(20 * time.Second))
			return a.reading(ctx, c, true)
		}
		a.away = true
		if a.rng.IntN(2) == 0 {
			a.fg = false
		} else {
			a.min = true
		}
		a.nextWin = now.Add(a.jitter(5 * time.Second))
		return a.reading(ctx, c, false)
	case !now.Before(a.lastSent.Add(time.Duration(max(a.policy.HeartbeatS, 5)) * time.Second)):
		return a.write(ctx, c, protocol.Heartbeat{Session: "1"})
	}
	return nil
}

// handle takes a message from the coordinator.
func (a *agent) handle(ctx context.Context, m inbound) {
	switch msg := m.msg.(type) {
	case protocol.Policy:
		a.policy = msg
		a.g.timeoutS.Store(int64(msg.TimeoutS))
	case protocol.Warn:
		a.update(func(s *AgentState) {
			s.Warnings++
			if a.g.start.Load() == 0 {
				s.WarnedConnecting++
			}
			s.LastWarning = m.at
			if n := len(s.Cycles); a.role == RoleIdle && n > 0 && s.Cycles[n-1].Warned.IsZero() {
				s.Cycles[n-1].Warned = m.at
				s.Cycles[n-1].Deadline = time.UnixMilli(msg.DeadlineMS)
			}
		})
	case protocol.Withdraw:
		a.update(func(s *AgentState) { s.Withdrawals++ })
	case protocol.LoggedOut:
		a.loggedIn = false
		a.outAt = m.at
		a.update(func(s *AgentState) {
			s.Logouts++
			if a.g.start.Load() == 0 {
				s.LoggedOutConnecting++
			}
			s.LastLogout = m.at
			if n := len(s.Cycles); a.role == RoleIdle && n > 0 && s.Cycles[n-1].LoggedOut.IsZero() {
				s.Cycles[n-1].LoggedOut = m.at
			}
		})
		if a.web && a.cookie != nil {
			// The desk's own page must say so too.
			ok, err := deskShowsLogout(ctx, a.g.hc.forAgent(a.n), a.g.base, a.cookie)
			switch {
			case err != nil:
				a.fail(err)
			case ok:
				a.update(func(s *AgentState) { s.DeskShowedLogout++ })
			}
			a.cookie = nil
		}
	case protocol.SessionRefused:
		a.update(func(s *AgentState) { s.Refused++ })
	}
}
