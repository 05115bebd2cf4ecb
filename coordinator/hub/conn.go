package hub

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/coder/websocket"

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
	deskUser string // "" while unmapped
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
		c.host = m.Host
	case protocol.SessionOpen:
		h.mu.Lock()
		dup := c.sessions.get(m.Session) != nil
		full := len(c.sessions) >= h.cfg.MaxSessions
		s := &session{c: c, id: m.Session, osUser: m.OSUser, since: h.core.Now()}
		if !dup && !full {
			c.sessions = append(c.sessions, s)
		}
		h.mu.Unlock()
		switch {
		case dup:
			return &protocol.Error{Code: protocol.CloseProtocolError, Msg: "session opened twice"}
		case full:
			return &protocol.Error{Code: protocol.ClosePolicyViolation, Msg: "too many sessions on one connection"}
		}
		if err := h.resolve(ctx, s); err != nil {
			h.log.Warn("opening a session", "err", err, "device", c.device.ID)
		}
	case protocol.Reading:
		return c.forSession(m.Session, func(user string, src engine.Source) {
			r := engine.Reading{
				Idle:       time.Duration(m.IdleMS) * time.Millisecond,
				Foreground: m.AgentDeskForeground, Minimized: m.AgentDeskMinimized,
				Locked: m.ScreenLocked, MicAvailable: m.MicAvailable, Voice: m.Voice,
			}
			h.core.Do(user, func(e *engine.Engine, now time.Time) []engine.Decision { return e.Reading(now, user, src, r) })
		})
	case protocol.Heartbeat:
		return c.forSession(m.Session, func(user string, src engine.Source) {
			h.core.Do(user, func(e *engine.Engine, now time.Time) []engine.Decision { return e.Heartbeat(now, user, src) })
		})
	case protocol.SessionClose:
		h.mu.Lock()
		s := c.sessions.get(m.Session)
		if s != nil {
			h.unbindLocked(s)
			c.sessions = c.sessions.without(s)
		}
		h.mu.Unlock()
		if s == nil {
			return &protocol.Error{Code: protocol.CloseProtocolError, Msg: "session used before session_open"}
		}
	}
	return nil
}

// forSession runs fn with the Agent Desk user of an open session; messages
// of unmapped sessions are dropped.
func (c *conn) forSession(id string, fn func(user string, src engine.Source)) error {
	h := c.h
	h.mu.Lock()
	s := c.sessions.get(id)
	user, src := "", engine.Source{}
	if s != nil {
		user, src = s.deskUser, s.source()
	}
	h.mu.Unlock()
	if s == nil {
		return &protocol.Error{Code: protocol.CloseProtocolError, Msg: "session used before session_open"}
	}
	if user != "" {
		fn(user, src)
	}
	return nil
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
