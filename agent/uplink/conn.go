package uplink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/vigil-cc/vigil/protocol"
)

// Conn is one connection to the coordinator. Send and Read may be called
// from different goroutines; Read from one at a time.
type Conn struct {
	l     *Link
	ep    Endpoint // the coordinator (replica) it is connected to
	ws    *websocket.Conn
	start time.Time

	heardNS   atomic.Int64 // when the coordinator was last heard from, ns since start
	gotPolicy atomic.Bool
	errMsg    atomic.Pointer[protocol.ErrorMessage] // the coordinator's last error message
	silent    atomic.Pointer[error]                 // the watchdog gave up on the coordinator
	done      chan struct{}
}

// dial opens a connection with token ("" sends none).
func (l *Link) dial(ctx context.Context, ep Endpoint, token string) (*Conn, error) {
	client := ep.HTTPClient()
	defer client.CloseIdleConnections()
	c := &Conn{l: l, ep: ep, start: l.now(), done: make(chan struct{})}
	hdr := http.Header{}
	if token != "" {
		hdr.Set("Authorization", "Bearer "+token)
	}
	dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	ws, resp, err := websocket.Dial(dctx, ep.WebSocketURL(), &websocket.DialOptions{
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
			return nil, &AuthError{Code: resp.StatusCode, Message: errorBody(resp)}
		}
		return nil, fmt.Errorf("connecting to %s: %w", ep, err)
	}
	if ws.Subprotocol() != protocol.Subprotocol {
		_ = ws.Close(protocol.CloseUnsupportedVersion, "this agent speaks "+protocol.Subprotocol)
		return nil, &AuthError{Code: protocol.CloseUnsupportedVersion, Message: "no common protocol version"}
	}
	ws.SetReadLimit(protocol.MaxFrameBytes)
	c.ws = ws
	c.heard()
	return c, nil
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

// serve runs serve on c with the ping watchdog, then drops c.
func (c *Conn) serve(ctx context.Context, serve func(context.Context, *Conn) error) error {
	defer c.ws.CloseNow()
	defer close(c.done)
	c.l.Log.Info("connected to the coordinator", "url", c.ep.String())
	go c.watch(ctx)
	return serve(ctx, c)
}

// worked says whether the connection, ended by err, was a working one:
// the next reconnect starts the backoff over.
func (c *Conn) worked(err error) bool {
	lived := c.l.now().Sub(c.start)
	return c.gotPolicy.Load() && (lived >= stableAfter || websocket.CloseStatus(err) == websocket.StatusGoingAway)
}

func (c *Conn) heard() { c.heardNS.Store(int64(c.l.now().Sub(c.start))) }

// watch pings a coordinator silent for Quiet; no pong within PongWait
// drops the connection, and Read then says so.
func (c *Conn) watch(ctx context.Context) {
	quiet := c.l.Quiet
	t := time.NewTimer(quiet)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.done:
			return
		case <-t.C:
		}
		since := c.l.now().Sub(c.start) - time.Duration(c.heardNS.Load())
		if since < quiet {
			t.Reset(quiet - since)
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, c.l.PongWait)
		err := c.ws.Ping(pctx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			err = fmt.Errorf("the coordinator stopped answering: %w", err)
			c.silent.Store(&err)
			_ = c.ws.CloseNow()
			return
		}
		c.heard()
		t.Reset(quiet)
	}
}

// Send encodes and writes one message.
func (c *Conn) Send(ctx context.Context, m protocol.Message) error {
	b, err := protocol.Encode(m)
	if err != nil {
		return fmt.Errorf("encoding %s: %w", m.Type(), err)
	}
	wctx, cancel := context.WithTimeout(ctx, WriteTimeout)
	defer cancel()
	if err := c.ws.Write(wctx, websocket.MessageText, b); err != nil {
		return fmt.Errorf("sending %s: %w", m.Type(), err)
	}
	if c.l.Log.Enabled(ctx, slog.LevelDebug) {
		c.l.Log.Debug("sent", "msg", string(b))
	}
	return nil
}

// Read returns the coordinator's next message and when it arrived. An
// invalid message closes the connection with the protocol's close code.
// Errors: *AuthError when the coordinator closed with 4001, 4003 or 4004;
// otherwise one that says how the connection ended (websocket.CloseStatus
// works on it).
func (c *Conn) Read(ctx context.Context) (protocol.Message, time.Time, error) {
	typ, data, err := c.ws.Read(ctx)
	at := c.l.now()
	if err != nil {
		return nil, at, c.readError(err)
	}
	c.heard()
	var m protocol.Message
	if typ != websocket.MessageText {
		err = &protocol.Error{Code: protocol.CloseUnsupportedData, Msg: "binary frames are not part of the protocol"}
	} else {
		m, err = protocol.DecodeFromCoordinator(data)
	}
	if err != nil {
		// The coordinator sent something invalid: say so and close.
		_ = c.ws.Close(websocket.StatusCode(protocol.CloseCode(err)), protocol.NewErrorMessage(err).Message)
		return nil, at, fmt.Errorf("the coordinator sent an invalid message: %w", err)
	}
	switch msg := m.(type) {
	case protocol.Policy:
		c.gotPolicy.Store(true)
	case protocol.ErrorMessage:
		c.errMsg.Store(&msg)
		c.l.Log.Warn("the coordinator reports an error and will close the connection", "code", msg.Code, "message", msg.Message)
	}
	return m, at, nil
}

// readError says why a read failed.
func (c *Conn) readError(err error) error {
	if silent := c.silent.Load(); silent != nil {
		return *silent
	}
	code := int(websocket.CloseStatus(err))
	reason := ""
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		reason = ce.Reason
	}
	if em := c.errMsg.Load(); em != nil && em.Code == code && em.Message != "" {
		reason = em.Message
	}
	switch code {
	case protocol.CloseUnauthorized, protocol.CloseDeviceRevoked, protocol.CloseUnsupportedVersion:
		return &AuthError{Code: code, Message: reason}
	case protocol.CloseNotLeader:
		return &NotLeaderError{Leader: leaderIn(reason), Message: reason}
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

// Close closes the connection properly with a normal closure and reason.
func (c *Conn) Close(reason string) error {
	return c.ws.Close(websocket.StatusNormalClosure, reason)
}

// CloseNow drops the connection without a close handshake.
func (c *Conn) CloseNow() error { return c.ws.CloseNow() }
