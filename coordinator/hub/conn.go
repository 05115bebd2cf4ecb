package hub

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/time/rate"

	"github.com/vigil-cc/vigil/coordinator/engine"
	"github.com/vigil-cc/vigil/protocol"
)

// conn is one agent connection. Only its reader is a standing goroutine,
// started after the HTTP handler has returned so that net/http's request
// state is freed; writes are drained by a goroutine started when there is
// something to send, and pings run from a timer, so an idle agent costs less
// than a bare WebSocket connection does (docs/performance.md). Nothing waits
// on a context: closing the WebSocket ends every read, write and ping.
type conn struct {
	h      *Hub
	ws     *websocket.Conn
	device Device
	host   string

	qmu     sync.Mutex
	queue   []protocol.Message // bounded by Config.QueueLen
	writing bool               // a drain goroutine is running
	pinger  *time.Timer

	// sessions is written by the reader and read under h.mu.
	sessions sessionList
	// refused are sessions refused for the session limit, whose messages
	// are dropped until they close; at most MaxSessions of them. The
	// reader's alone.
	refused map[string]struct{}
	msgs    *rate.Limiter // the device's ConnLimit

	closeOnce sync.Once
}

// sessionList is a connection's sessions: usually one, a few on a shared
// workstation, so a slice costs less than a map per connection.
type sessionList []*session

func (l sessionList) get(id string) *session {
	for _, s := range l {
		if s.id == id {
			return s
		}
	}
	return nil
}

func (l sessionList) without(s *session) sessionList {
	for i, x := range l {
		if x == s {
			return append(l[:i:i], l[i+1:]...)
		}
	}
	return l
}

// session is one desktop session on a device.
type session struct {
	c        *conn
	id       string
	osUser   string
	since    time.Time
	deskUser string        // "" while unmapped
	msgs     *rate.Limiter // SessionLimit
	flips    *flips
}

// source names s for the engine: unique across devices.
func (s *session) source() engine.Source {
	return engine.Source{Key: s.c.device.ID + "/" + s.id, Host: s.c.host}
}

func (c *conn) run() error {
	c.pinger = time.AfterFunc(c.h.cfg.PingInterval, c.ping)
	defer c.pinger.Stop()
	c.send(c.h.policy())
	err := c.read()
	c.closeWith(err)
	return err
}

func (c *conn) read() error {
	// A context that is never done: a cancellable one would register a
	// callback on every Read for as long as the connection is idle.
	ctx := context.Background()
	hello := false
	for {
		typ, data, err := c.ws.Read(ctx)
		if err != nil {
			return err // includes a frame over the read limit: the library closed with 1009
		}
		if typ != websocket.MessageText {
			return &protocol.Error{Code: protocol.CloseUnsupportedData, Msg: "binary frames are not part of the protocol"}
		}
		msg, err := protocol.DecodeFromAgent(data)
		if err != nil {
			return err
		}
		if _, isHello := msg.(protocol.Hello); isHello == hello {
			return &protocol.Error{Code: protocol.CloseProtocolError, Msg: "hello must be the first message, and only the first"}
		}
		if err := c.admit(msg); err != nil {
			return err
		}
		if err := c.handle(ctx, msg); err != nil {
			return err
		}
		hello = true
	}
}

func (c *conn) handle(ctx context.Context, msg protocol.Message) error {
	h := c.h
	switch m := msg.(type) {
	case protocol.Hello:
		if !strings.EqualFold(m.Host, c.device.Host) {
			// A device token speaks for the host it was enrolled on: one
			// copied elsewhere, or a host renamed since, enrolls again.
			// Audited once per claimed host, however often it reconnects.
			c.auditOnceAs("device.host_mismatch", "device.host_mismatch\x00"+m.Host, map[string]any{
				"device": c.device.ID, "enrolled_host": c.device.Host, "hello_host": m.Host})
			return &protocol.Error{Code: protocol.ClosePolicyViolation,
				Msg: "this device token was enrolled for the host " + c.device.Host + ", not " + m.Host + ": enroll this host with its own token"}
		}
		c.host = c.device.Host
	case protocol.SessionOpen:
		h.mu.Lock()
		dup := c.sessions.get(m.Session) != nil
		full := len(c.sessions) >= h.cfg.MaxSessions
		now, key := h.core.Now(), sessionKey(c.device.ID, m.Session)
		s := &session{c: c, id: m.Session, osUser: m.OSUser, since: now,
			msgs: h.sessMsgs.Get(now, key), flips: newFlips(h.flipLims.Get(now, key), h.core.Now)}
		if !dup && !full {
			c.sessions = append(c.sessions, s)
		}
		h.mu.Unlock()
		if full && !dup {
			c.refuse(m.Session)
		} else {
			delete(c.refused, m.Session)
		}
		switch {
		case dup:
			return &protocol.Error{Code: protocol.CloseProtocolError, Msg: "session opened twice"}
		case full:
			// Refused alone (above): closing the connection would cut every
			// other session on a terminal server, and the agent would
			// reconnect and reopen them all into the same limit, forever.
			return nil
		}
		if err := h.resolve(ctx, s); err != nil {
			h.log.Warn("opening a session", "err", err, "device", c.device.ID)
		}
	case protocol.Reading:
		r := engine.Reading{
			Idle:       time.Duration(m.IdleMS) * time.Millisecond,
			Foreground: m.AgentDeskForeground, Minimized: m.AgentDeskMinimized,
			Locked: m.ScreenLocked, MicAvailable: m.MicAvailable, Voice: m.Voice,
		}
		return c.withSession(m.Session, func(s *session) {
			s.flips.pass(h.core.Now(), r, func(r engine.Reading) {
				if user, src := c.userOf(s); user != "" {
					h.core.Do(user, func(e *engine.Engine, now time.Time) []engine.Decision { return e.Reading(now, user, src, r) })
				}
			})
		})
	case protocol.Heartbeat:
		return c.withSession(m.Session, func(s *session) {
			if user, src := c.userOf(s); user != "" {
				h.core.Do(user, func(e *engine.Engine, now time.Time) []engine.Decision { return e.Heartbeat(now, user, src) })
			}
		})
	case protocol.SessionClose:
		h.mu.Lock()
		s := c.sessions.get(m.Session)
		if s != nil {
			h.unbindLocked(s)
			c.sessions = c.sessions.without(s)
		}
		h.mu.Unlock()
		if s != nil {
			s.flips.stop()
		}
		if _, ok := c.refused[m.Session]; ok && s == nil {
			delete(c.refused, m.Session)
			return nil
		}
		if s == nil {
			return &protocol.Error{Code: protocol.CloseProtocolError, Msg: "session used before session_open"}
		}
	}
	return nil
}

// withSession runs fn with an open session; messages of sessions refused
// for the session limit are dropped.
func (c *conn) withSession(id string, fn func(s *session)) error {
	h := c.h
	h.mu.Lock()
	s := c.sessions.get(id)
	h.mu.Unlock()
	if s == nil {
		if _, ok := c.refused[id]; ok {
			return nil // refused for the session limit: its messages are dropped
		}
		return &protocol.Error{Code: protocol.CloseProtocolError, Msg: "session used before session_open"}
	}
	fn(s)
	return nil
}

// userOf is the Agent Desk user s speaks for, "" while it is unmapped (its
// messages are then dropped), and s as the engine names it.
func (c *conn) userOf(s *session) (string, engine.Source) {
	c.h.mu.Lock()
	defer c.h.mu.Unlock()
	return s.deskUser, s.source()
}

// send queues m; a peer too slow to drain its queue is dropped. It never
// blocks, so it is safe with h.mu held.
func (c *conn) send(m protocol.Message) {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	if len(c.queue) >= c.h.cfg.QueueLen {
		go c.fail(&protocol.Error{Code: protocol.ClosePolicyViolation, Msg: "too slow: send queue full"})
		return
	}
	c.queue = append(c.queue, m)
	if !c.writing {
		c.writing = true
		go c.drain()
	}
}

// drain writes the queue in order, each write with a deadline, and ends
// when the queue is empty.
func (c *conn) drain() {
	for {
		c.qmu.Lock()
		if len(c.queue) == 0 {
			c.queue, c.writing = nil, false
			c.qmu.Unlock()
			return
		}
		m := c.queue[0]
		c.queue = c.queue[1:]
		c.qmu.Unlock()
		b, err := protocol.Encode(m)
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), c.h.cfg.WriteTimeout)
			err = c.ws.Write(ctx, websocket.MessageText, b)
			cancel()
		}
		if err != nil {
			c.fail(err) // the queue is dropped with the connection
			return
		}
	}
}

// ping checks the peer answers within PingInterval, then schedules the next.
func (c *conn) ping() {
	ctx, cancel := context.WithTimeout(context.Background(), c.h.cfg.PingInterval)
	err := c.ws.Ping(ctx)
	cancel()
	if err != nil {
		c.fail(err)
		return
	}
	c.pinger.Reset(c.h.cfg.PingInterval)
}

// fail ends the connection from any goroutine.
func (c *conn) fail(err error) { c.closeWith(err) }

// closeWith sends the error message (for a protocol error) and closes with
// its code, once.
func (c *conn) closeWith(err error) {
	c.closeOnce.Do(func() {
		code := protocol.CloseCode(err)
		var pe *protocol.Error
		if errors.As(err, &pe) {
			if b, encErr := protocol.Encode(protocol.NewErrorMessage(err)); encErr == nil {
				ctx, cancel := context.WithTimeout(context.Background(), c.h.cfg.WriteTimeout)
				_ = c.ws.Write(ctx, websocket.MessageText, b)
				cancel()
			}
			_ = c.ws.Close(websocket.StatusCode(code), pe.Msg)
			return
		}
		// A transport failure or the peer's own close: nothing to tell it.
		_ = c.ws.CloseNow()
	})
}

// refuse refuses session id for the session limit, alone: the connection
// and its other sessions carry on.
func (c *conn) refuse(id string) {
	if c.refused == nil {
		c.refused = map[string]struct{}{}
	}
	if len(c.refused) < c.h.cfg.MaxSessions {
		c.refused[id] = struct{}{}
	}
	c.send(protocol.SessionRefused{Session: id, Reason: protocol.RefusedTooManySessions})
	c.auditOnce("sensor.sessions_refused", map[string]any{
		"device": c.device.ID, "host": c.host, "max_sessions": c.h.cfg.MaxSessions})
}

// auditOnce records kind for this connection's device the first time
// since the start, so a misbehaving agent leaves one audit entry, not one
// per message or per reconnection.
func (c *conn) auditOnce(kind string, detail map[string]any) { c.auditOnceAs(kind, kind, detail) }

// auditOnceAs is auditOnce counting it once per key rather than per kind.
func (c *conn) auditOnceAs(kind, key string, detail map[string]any) {
	if !c.h.firstTime(key, c.device.ID) {
		return
	}
	var err error
	c.h.ask(context.Background(), func(ctx context.Context) { err = c.h.dir.Audit(ctx, kind, "", detail) })
	if err != nil {
		c.h.log.Warn("auditing", "kind", kind, "err", err, "device", c.device.ID)
	}
}
