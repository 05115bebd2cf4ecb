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

// conn is one agent connection: a reader (this goroutine), a writer fed by a
// bounded queue, and a pinger.
type conn struct {
	h      *Hub
	ws     *websocket.Conn
	device Device
	host   string
	out    chan protocol.Message

	// sessions is written by the reader and read under h.mu.
	sessions map[string]*session

	closeOnce sync.Once
}

// session is one desktop session on a device.
type session struct {
	c        *conn
	id       string
	osUser   string
	since    time.Time
	deskUser string // "" while unmapped or refused
	refused  bool
}

func (c *conn) run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go c.write(ctx)
	go c.ping(ctx)
	c.send(c.h.policy())
	err := c.read(ctx)
	c.closeWith(err)
	return err
}

func (c *conn) read(ctx context.Context) error {
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
		_, dup := c.sessions[m.Session]
		full := len(c.sessions) >= h.cfg.MaxSessions
		s := &session{c: c, id: m.Session, osUser: m.OSUser, since: h.core.Now()}
		if !dup && !full {
			c.sessions[m.Session] = s
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
		return c.forSession(m.Session, func(user string) {
			r := engine.Reading{
				Idle:       time.Duration(m.IdleMS) * time.Millisecond,
				Foreground: m.AgentDeskForeground, Minimized: m.AgentDeskMinimized,
				Locked: m.ScreenLocked, MicAvailable: m.MicAvailable, Voice: m.Voice,
			}
			h.core.Do(user, func(e *engine.Engine, now time.Time) []engine.Decision { return e.Reading(now, user, r) })
		})
	case protocol.Heartbeat:
		return c.forSession(m.Session, func(user string) {
			h.core.Do(user, func(e *engine.Engine, now time.Time) []engine.Decision { return e.Heartbeat(now, user) })
		})
	case protocol.SessionClose:
		h.mu.Lock()
		s := c.sessions[m.Session]
		if s != nil {
			h.unbindLocked(s)
			delete(c.sessions, m.Session)
		}
		h.mu.Unlock()
		if s == nil {
			return &protocol.Error{Code: protocol.CloseProtocolError, Msg: "session used before session_open"}
		}
	}
	return nil
}

// forSession runs fn with the Agent Desk user of an open session; messages
// of unmapped or refused sessions are dropped.
func (c *conn) forSession(id string, fn func(user string)) error {
	h := c.h
	h.mu.Lock()
	s := c.sessions[id]
	user := ""
	if s != nil {
		user = s.deskUser
	}
	h.mu.Unlock()
	if s == nil {
		return &protocol.Error{Code: protocol.CloseProtocolError, Msg: "session used before session_open"}
	}
	if user != "" {
		fn(user)
	}
	return nil
}

// send queues m; a peer too slow to drain its queue is dropped. Safe to call
// with h.mu held.
func (c *conn) send(m protocol.Message) {
	select {
	case c.out <- m:
	default:
		go c.fail(&protocol.Error{Code: protocol.ClosePolicyViolation, Msg: "too slow: send queue full"})
	}
}

func (c *conn) write(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-c.out:
			b, err := protocol.Encode(m)
			if err == nil {
				wctx, cancel := context.WithTimeout(ctx, c.h.cfg.WriteTimeout)
				err = c.ws.Write(wctx, websocket.MessageText, b)
				cancel()
			}
			if err != nil {
				c.fail(err)
				return
			}
		}
	}
}

func (c *conn) ping(ctx context.Context) {
	t := time.NewTicker(c.h.cfg.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			pctx, cancel := context.WithTimeout(ctx, c.h.cfg.PingInterval)
			err := c.ws.Ping(pctx)
			cancel()
			if err != nil {
				c.fail(err)
				return
			}
		}
	}
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
