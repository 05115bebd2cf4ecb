package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/vigil-cc/vigil/protocol"
	"github.com/vigil-cc/vigil/sensors"
)

// WriteTimeout bounds every write to the coordinator.
const WriteTimeout = 5 * time.Second

// result is how one connection ended.
type result struct {
	err    error
	token  string // the device token it used
	worked bool   // it was a working connection: reset the backoff
}

// connect makes one connection and runs it until it ends.
func (a *Agent) connect(ctx context.Context) result {
	token, err := a.Token()
	if err != nil {
		return result{err: fmt.Errorf("reading the device token: %w", err)}
	}
	client := a.Endpoint.HTTPClient()
	defer client.CloseIdleConnections()
	start := a.now()
	c := &conn{a: a, start: start, rules: a.Rules, refusedBo: a.RefusedBackoff}
	dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	hdr := http.Header{}
	if token != "" {
		hdr.Set("Authorization", "Bearer "+token)
	}
	ws, resp, err := websocket.Dial(dctx, a.Endpoint.WebSocketURL(), &websocket.DialOptions{
		HTTPClient:      client,
		HTTPHeader:      hdr,
		Subprotocols:    []string{protocol.Subprotocol},
		CompressionMode: websocket.CompressionDisabled,
		OnPingReceived: func(context.Context, []byte) bool {
			c.heard()
			return true
		},
	})
	cancel()
	if err != nil {
		if resp != nil && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden) {
			return result{err: &AuthError{Code: resp.StatusCode, Message: errorBody(resp)}, token: token}
		}
		return result{err: fmt.Errorf("connecting to %s: %w", a.Endpoint, err), token: token}
	}
	defer ws.CloseNow()
	if ws.Subprotocol() != protocol.Subprotocol {
		_ = ws.Close(protocol.CloseUnsupportedVersion, "this agent speaks "+protocol.Subprotocol)
		return result{err: &AuthError{Code: protocol.CloseUnsupportedVersion, Message: "no common protocol version"}, token: token}
	}
	ws.SetReadLimit(protocol.MaxFrameBytes)
	c.ws = ws
	a.Log.Info("connected to the coordinator", "url", a.Endpoint.String())
	err = c.run(ctx)
	lived := a.now().Sub(start)
	worked := c.gotPolicy && (lived >= 10*time.Second || websocket.CloseStatus(err) == websocket.StatusGoingAway)
	return result{err: err, token: token, worked: worked}
}

// errorBody is the coordinator's {"error": "..."} message, if any.
func errorBody(resp *http.Response) string {
	if resp.Body == nil {
		return ""
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	s := string(b)
	if i := strings.Index(s, `"error":"`); i >= 0 {
		s = s[i+len(`"error":"`):]
		if j := strings.IndexByte(s, '"'); j >= 0 {
			return s[:j]
		}
	}
	return strings.TrimSpace(s)
}

// phase of the session on a connection.
type phase uint8

const (
	phaseHello   phase = iota // hello sent, waiting for the policy
	phaseOpening              // session_open goes out with the next sample
	phaseOpen                 // open: readings and heartbeats
	phaseRefused              // refused: silent until reopened
)

// inbound is one message from the coordinator, stamped on arrival.
type inbound struct {
	msg protocol.Message
	at  time.Time
	err error
}

// conn is one connection's state. Only run's goroutine touches it, except
// heardNS.
type conn struct {
	a     *Agent
	ws    *websocket.Conn
	start time.Time

	heardNS   atomic.Int64 // when the coordinator was last heard from, ns since start
	gotPolicy bool
	rules     Rules
	phase     phase
	minGen    uint64 // samples with an older title pattern are ignored
	sent      Sent
	warning   bool
	errMsg    *protocol.ErrorMessage
	refusedBo sensors.Backoff
}

func (c *conn) heard() { c.heardNS.Store(int64(c.a.now().Sub(c.start))) }

func (c *conn) run(ctx context.Context) error {
	a := c.a
	// The reader's context outlives ctx: cancelling a read closes the
	// connection at once, and on shutdown we close it properly first.
	rctx, rcancel := context.WithCancel(context.WithoutCancel(ctx))
	defer rcancel()
	in := make(chan inbound, 16)
	go c.read(rctx, in)
	c.heard()

	if err := c.send(ctx, a.Hello); err != nil {
		return err
	}
	policyWait := time.NewTimer(a.PolicyWait)
	defer policyWait.Stop()
	reopen := time.NewTimer(time.Hour)
	reopen.Stop()
	defer reopen.Stop()
	stale := time.NewTimer(time.Hour)
	stale.Stop()
	defer stale.Stop()
	if a.Warn.Showing() {
		// A warning from before the reconnect: it stands if confirmed.
		c.warning = true
	}
	quiet := time.NewTimer(a.Quiet)
	defer quiet.Stop()
	pingFailed := make(chan error, 1)
	pinging := false

	for {
		select {
		case <-ctx.Done():
			c.shutdown()
			return nil

		case m := <-in:
			if m.err != nil {
				return c.readError(m.err)
			}
			c.heard()
			if err := c.handle(ctx, m, reopen, stale); err != nil {
				return err
			}

		case <-policyWait.C:
			if c.phase == phaseHello {
				a.Log.Warn("no policy from the coordinator yet; opening the session with the title pattern in force")
				c.opening()
			}

		case smp := <-a.Sampler.Samples():
			if err := c.sample(ctx, smp, stale); err != nil {
				return err
			}

		case <-reopen.C:
			if c.phase == phaseRefused {
				a.Log.Info("opening the refused session again", "session", a.Session)
				if err := c.send(ctx, protocol.SessionClose{Session: a.Session}); err != nil {
					return err
				}
				c.opening()
			}

		case <-stale.C:
			if c.warning {
				a.Log.Info("the coordinator did not confirm the warning after reconnecting; taking it down")
				c.warning = false
				a.Warn.Withdraw()
			}

		case <-quiet.C:
			since := a.now().Sub(c.start) - time.Duration(c.heardNS.Load())
			if since < a.Quiet {
				quiet.Reset(a.Quiet - since)
				continue
			}
			if !pinging {
				pinging = true
				go func() {
					pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
					defer cancel()
					pingFailed <- c.ws.Ping(pctx)
				}()
			}
			quiet.Reset(a.Quiet)

		case err := <-pingFailed:
			pinging = false
			if err != nil {
				if ctx.Err() != nil {
					continue
				}
				return fmt.Errorf("the coordinator stopped answering: %w", err)
			}
			c.heard()
		}
	}
}

// read delivers the coordinator's messages until the connection fails.
func (c *conn) read(ctx context.Context, in chan<- inbound) {
	for {
		typ, data, err := c.ws.Read(ctx)
		at := c.a.now()
		if err == nil && typ != websocket.MessageText {
			err = &protocol.Error{Code: protocol.CloseUnsupportedData, Msg: "binary frames are not part of the protocol"}
		}
		var m protocol.Message
		if err == nil {
			m, err = protocol.DecodeFromCoordinator(data)
		}
		select {
		case in <- inbound{msg: m, at: at, err: err}:
		case <-ctx.Done():
			return
		}
		if err != nil {
			return
		}
	}
}

// readError ends the connection after a read failed, and says why.
func (c *conn) readError(err error) error {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		// The coordinator sent something invalid: say so and close.
		_ = c.ws.Close(websocket.StatusCode(pe.Code), pe.Msg)
		return fmt.Errorf("the coordinator sent an invalid message: %w", err)
	}
	code := int(websocket.CloseStatus(err))
	reason := ""
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		reason = ce.Reason
	}
	if c.errMsg != nil && c.errMsg.Code == code && c.errMsg.Message != "" {
		reason = c.errMsg.Message
	}
	switch code {
	case protocol.CloseUnauthorized, protocol.CloseDeviceRevoked, protocol.CloseUnsupportedVersion:
		return &AuthError{Code: code, Message: reason}
	case -1:
		return fmt.Errorf("connection to the coordinator lost: %w", err)
	}
	return fmt.Errorf("the coordinator closed the connection: %w", closeErr{code: code, reason: reason, err: err})
}

// closeErr keeps websocket.CloseStatus working on the wrapped error.
type closeErr struct {
	code   int
	reason string
	err    error
}

func (e closeErr) Error() string { return fmt.Sprintf("close code %d (%s)", e.code, e.reason) }
func (e closeErr) Unwrap() error { return e.err }

// handle acts on one message from the coordinator.
func (c *conn) handle(ctx context.Context, m inbound, reopen, stale *time.Timer) error {
	a := c.a
	switch msg := m.msg.(type) {
	case protocol.Policy:
		re, err := regexp.Compile(msg.TitlePattern) // protocol.Decode checked it compiles
		if err != nil {
			return fmt.Errorf("policy: %w", err)
		}
		c.rules.Heartbeat = time.Duration(msg.HeartbeatS) * time.Second
		gen := a.Sampler.SetPattern(re)
		c.minGen = max(c.minGen, gen)
		if !c.gotPolicy {
			a.Log.Info("policy received", "enabled", msg.Enabled, "timeout_s", msg.TimeoutS, "warn_at_s", msg.WarnAtS,
				"heartbeat_s", msg.HeartbeatS, "clock_offset", time.UnixMilli(msg.ServerTimeMS).Sub(m.at).Round(time.Millisecond))
		} else {
			a.Log.Info("policy changed", "enabled", msg.Enabled, "timeout_s", msg.TimeoutS, "heartbeat_s", msg.HeartbeatS)
		}
		c.gotPolicy = true
		if c.phase == phaseHello {
			c.opening()
		}
	case protocol.Warn:
		if msg.Session != a.Session || c.phase != phaseOpen {
			return nil
		}
		// Skew-free: the time left as the coordinator counts it, from
		// receipt, on the local monotonic clock.
		deadline := m.at.Add(time.Duration(msg.DeadlineMS-msg.ServerTimeMS) * time.Millisecond)
		c.warning = true
		stale.Stop()
		a.Warn.Show(deadline)
	case protocol.Withdraw:
		if msg.Session != a.Session {
			return nil
		}
		a.Log.Debug("warning withdrawn", "reason", msg.Reason)
		c.warning = false
		a.Warn.Withdraw()
	case protocol.LoggedOut:
		if msg.Session != a.Session {
			return nil
		}
		c.warning = false
		a.Warn.LoggedOut()
	case protocol.SessionRefused:
		if msg.Session != a.Session || c.phase != phaseOpen {
			return nil
		}
		wait := c.refusedBo.Next()
		a.Log.Error("the coordinator refused this session: its user is already bound to another live session (another workstation or session); not reporting it",
			"session", a.Session, "os_user", a.OSUser, "reason", msg.Reason, "retry_in", wait.Round(time.Second))
		c.phase = phaseRefused
		if c.warning {
			c.warning = false
			a.Warn.Withdraw()
		}
		reopen.Reset(wait)
	case protocol.ErrorMessage:
		c.errMsg = &msg
		a.Log.Warn("the coordinator reports an error and will close the connection", "code", msg.Code, "message", msg.Message)
	}
	return nil
}

// opening moves to phaseOpening: the next sample with the current title
// pattern opens the session.
func (c *conn) opening() {
	c.phase = phaseOpening
	c.minGen = max(c.minGen, c.a.Sampler.Gen())
	c.a.Sampler.Kick()
}

// sample acts on a new sample: opens the session, or decides what to send.
func (c *conn) sample(ctx context.Context, smp Sample, stale *time.Timer) error {
	a := c.a
	if smp.Gen < c.minGen {
		return nil
	}
	switch c.phase {
	case phaseOpening:
		if err := c.send(ctx, protocol.SessionOpen{Session: a.Session, OSUser: a.OSUser}); err != nil {
			return err
		}
		a.Log.Info("session opened", "session", a.Session, "os_user", a.OSUser)
		c.phase, c.sent = phaseOpen, Sent{}
		if c.warning {
			stale.Reset(a.StaleWarning)
		}
	case phaseOpen:
	default:
		return nil
	}
	switch Decide(c.sent, smp.Observation, c.warning, c.rules) {
	case SendReading:
		// The idle time as of now: the coordinator takes the input time as
		// arrival − idle_ms, so a sample's age must not count as input.
		now := a.now()
		o := smp.Observation
		o.Idle += max(now.Sub(o.At), 0)
		o.At = now
		if err := c.send(ctx, o.Reading(a.Session)); err != nil {
			return err
		}
		c.sent = Sent{Reading: o, Last: now}
	case SendHeartbeat:
		if err := c.send(ctx, protocol.Heartbeat{Session: a.Session}); err != nil {
			return err
		}
		c.sent.Last = a.now()
	}
	return nil
}

// send encodes and writes one message.
func (c *conn) send(ctx context.Context, m protocol.Message) error {
	b, err := protocol.Encode(m)
	if err != nil {
		return fmt.Errorf("encoding %s: %w", m.Type(), err)
	}
	wctx, cancel := context.WithTimeout(ctx, WriteTimeout)
	defer cancel()
	if err := c.ws.Write(wctx, websocket.MessageText, b); err != nil {
		return fmt.Errorf("sending %s: %w", m.Type(), err)
	}
	if c.a.Log.Enabled(ctx, slog.LevelDebug) {
		c.a.Log.Debug("sent", "msg", string(b))
	}
	return nil
}

// shutdown closes the session and the connection properly (the agent is
// stopping).
func (c *conn) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if c.phase == phaseOpen || c.phase == phaseRefused {
		if b, err := protocol.Encode(protocol.SessionClose{Session: c.a.Session}); err == nil {
			_ = c.ws.Write(ctx, websocket.MessageText, b)
		}
	}
	_ = c.ws.Close(websocket.StatusNormalClosure, "agent stopping")
}
