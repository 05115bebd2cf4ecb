// Package svc is the agent's system service: it supervises one sensor
// helper (`vigil-agent session`) in each interactive desktop session, serves
// the helpers the coordinator's protocol on a local socket, and relays
// their sessions over the service's ONE connection to the coordinator.
//
// Trust: the helpers hold no device token. The service knows each helper's
// OS user from the local socket's peer credentials (SO_PEERCRED on Linux),
// refuses a helper claiming another user, and stamps every session with its
// own session id and that user, never the helper's word.
package svc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/vigil-cc/vigil/agent"
	"github.com/vigil-cc/vigil/protocol"
	"github.com/vigil-cc/vigil/sensors"
)

// Peer is who is at the other end of a local connection, as the OS says.
type Peer struct {
	UID  uint32
	User string // the local account name
}

// SameUser reports whether a helper's claimed OS user is the peer's
// account: case-insensitive, and DOMAIN\user or user@domain match user
// (on either side; Windows peers are DOMAIN\user).
func SameUser(claimed, local string) bool {
	c, l := bareUser(claimed), bareUser(local)
	return c != "" && strings.EqualFold(c, l)
}

func bareUser(u string) string {
	if i := strings.LastIndexByte(u, '\\'); i >= 0 {
		u = u[i+1:]
	}
	if i := strings.IndexByte(u, '@'); i >= 0 {
		u = u[:i]
	}
	return u
}

// MaxSessionsPerHelper bounds the sessions one local connection may open.
const MaxSessionsPerHelper = 4

// Relay serves helpers locally and holds the one upstream connection.
type Relay struct {
	Endpoint agent.Endpoint
	// Token returns the device token; read before every connection attempt.
	Token func() (string, error)
	Hello protocol.Hello
	Log   *slog.Logger
	// PeerOf says who is connected on a local connection (peer credentials).
	PeerOf func(net.Conn) (Peer, error)
	// Backoff between upstream connection attempts; zero: 1 s, ×1.6, ±20 %,
	// at most 30 s, reset after a connection that lasted 10 s.
	Backoff sensors.Backoff
	// Now is the clock; nil: time.Now.
	Now func() time.Time

	mu       sync.Mutex // guards the fields below and orders upstream writes
	up       *websocket.Conn
	policy   *protocol.Policy
	sessions map[string]*session // by upstream session id
	helpers  map[*helper]struct{}
	counter  int
}

type helper struct {
	ws    *websocket.Conn
	peer  Peer
	local map[string]*session // by the helper's own session id
}

type session struct {
	id     string // the service's id, sent upstream
	local  string // the helper's id
	user   string // from the peer credentials
	h      *helper
	last   *protocol.Reading
	lastAt time.Time
}

func (r *Relay) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Relay) init() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sessions == nil {
		r.sessions = map[string]*session{}
		r.helpers = map[*helper]struct{}{}
	}
	if r.Log == nil {
		r.Log = slog.New(slog.DiscardHandler)
	}
	if r.Backoff.Initial == 0 && r.Backoff.Max == 0 {
		r.Backoff = sensors.DefaultBackoff()
	}
}

// ---- the local side ----

type connKey struct{}

// ServeLocal serves helpers on ln until ctx ends.
func (r *Relay) ServeLocal(ctx context.Context, ln net.Listener) error {
	r.init()
	srv := &http.Server{
		Handler:           http.HandlerFunc(r.serveHelper),
		ReadHeaderTimeout: 10 * time.Second,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, c)
		},
		BaseContext: func(net.Listener) context.Context { return ctx },
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		r.mu.Lock()
		for h := range r.helpers {
			_ = h.ws.CloseNow()
		}
		r.mu.Unlock()
	}()
	err := srv.Serve(ln)
	<-done
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

func (r *Relay) serveHelper(w http.ResponseWriter, req *http.Request) {
	if req.URL.Path != "/agent/v1/ws" {
		http.NotFound(w, req)
		return
	}
	c, _ := req.Context().Value(connKey{}).(net.Conn)
	if c == nil || r.PeerOf == nil {
		http.Error(w, "no peer credentials", http.StatusForbidden)
		return
	}
	peer, err := r.PeerOf(c)
	if err != nil {
		r.Log.Warn("refused a local connection: cannot tell who it is", "err", err)
		http.Error(w, "no peer credentials", http.StatusForbidden)
		return
	}
	ws, err := websocket.Accept(w, req, &websocket.AcceptOptions{Subprotocols: []string{protocol.Subprotocol}})
	if err != nil {
		return
	}
	defer ws.CloseNow()
	if ws.Subprotocol() != protocol.Subprotocol {
		_ = ws.Close(protocol.CloseUnsupportedVersion, "this service speaks "+protocol.Subprotocol)
		return
	}
	ws.SetReadLimit(protocol.MaxFrameBytes)
	h := &helper{ws: ws, peer: peer, local: map[string]*session{}}
	r.mu.Lock()
	r.helpers[h] = struct{}{}
	pol := r.policy
	r.mu.Unlock()
	r.Log.Info("helper connected", "uid", peer.UID, "user", peer.User)
	defer r.helperGone(h)
	ctx := req.Context()
	if pol != nil {
		p := *pol
		p.ServerTimeMS = r.now().UnixMilli()
		if err := writeMsg(ctx, ws, p); err != nil {
			return
		}
	}
	for {
		typ, data, err := ws.Read(ctx)
		if err != nil {
			return
		}
		if typ != websocket.MessageText {
			_ = ws.Close(protocol.CloseUnsupportedData, "binary frames are not part of the protocol")
			return
		}
		m, err := protocol.DecodeFromAgent(data)
		if err != nil {
			_ = ws.Close(websocket.StatusCode(protocol.CloseCode(err)), protocol.NewErrorMessage(err).Message)
			return
		}
		if !r.fromHelper(ctx, h, m) {
			return
		}
	}
}

// fromHelper handles one message from a helper; false ends its connection.
func (r *Relay) fromHelper(ctx context.Context, h *helper, m protocol.Message) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch msg := m.(type) {
	case protocol.Hello:
		// The service says hello upstream once per connection itself.
	case protocol.SessionOpen:
		if !SameUser(msg.OSUser, h.peer.User) {
			r.Log.Warn("refused a helper claiming another user's session",
				"peer_uid", h.peer.UID, "peer_user", h.peer.User, "claimed_user", msg.OSUser, "session", msg.Session)
			_ = writeMsg(ctx, h.ws, protocol.SessionRefused{Session: msg.Session, Reason: protocol.RefusedUserBound})
			_ = h.ws.Close(protocol.ClosePolicyViolation, "that session is not your user's")
			return false
		}
		if old := h.local[msg.Session]; old != nil {
			r.closeSession(ctx, old)
		}
		if len(h.local) >= MaxSessionsPerHelper {
			// One helper serves one desktop session; a few spare for
			// reopening. More would crowd the device's one connection.
			r.Log.Warn("refused a session: too many on one helper connection", "peer_uid", h.peer.UID, "peer_user", h.peer.User)
			_ = writeMsg(ctx, h.ws, protocol.SessionRefused{Session: msg.Session, Reason: protocol.RefusedUserBound})
			return true
		}
		r.counter++
		s := &session{id: strconv.FormatUint(uint64(h.peer.UID), 10) + "-" + strconv.Itoa(r.counter), local: msg.Session, user: h.peer.User, h: h}
		h.local[msg.Session] = s
		r.sessions[s.id] = s
		r.Log.Info("session opened", "session", s.id, "os_user", s.user, "helper_session", msg.Session)
		r.upstream(ctx, protocol.SessionOpen{Session: s.id, OSUser: s.user})
	case protocol.Reading:
		s := h.local[msg.Session]
		if s == nil {
			return true
		}
		msg.Session = s.id
		s.last, s.lastAt = &msg, r.now()
		r.upstream(ctx, msg)
	case protocol.Heartbeat:
		if s := h.local[msg.Session]; s != nil {
			r.upstream(ctx, protocol.Heartbeat{Session: s.id})
		}
	case protocol.SessionClose:
		if s := h.local[msg.Session]; s != nil {
			r.closeSession(ctx, s)
		}
	}
	return true
}

// closeSession forgets s and closes it upstream. r.mu is held.
func (r *Relay) closeSession(ctx context.Context, s *session) {
	delete(s.h.local, s.local)
	delete(r.sessions, s.id)
	r.upstream(ctx, protocol.SessionClose{Session: s.id})
	r.Log.Info("session closed", "session", s.id, "os_user", s.user)
}

func (r *Relay) helperGone(h *helper) {
	ctx, cancel := context.WithTimeout(context.Background(), agent.WriteTimeout)
	defer cancel()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range h.local {
		r.closeSession(ctx, s)
	}
	delete(r.helpers, h)
	r.Log.Info("helper disconnected", "uid", h.peer.UID, "user", h.peer.User)
}

// upstream sends m to the coordinator if connected. r.mu is held. A failed
// write closes the connection, which the upstream loop then replaces.
func (r *Relay) upstream(ctx context.Context, m protocol.Message) {
	if r.up == nil {
		return
	}
	if err := writeMsg(context.WithoutCancel(ctx), r.up, m); err != nil {
		r.Log.Warn("writing to the coordinator failed", "err", err)
		_ = r.up.CloseNow()
		r.up = nil
	}
}

func writeMsg(ctx context.Context, ws *websocket.Conn, m protocol.Message) error {
	b, err := protocol.Encode(m)
	if err != nil {
		return fmt.Errorf("encoding %s: %w", m.Type(), err)
	}
	wctx, cancel := context.WithTimeout(ctx, agent.WriteTimeout)
	defer cancel()
	return ws.Write(wctx, websocket.MessageText, b)
}

// ---- the upstream side ----

// Run keeps the one connection to the coordinator until ctx ends,
// reconnecting with backoff; on every connection it says hello once and
// opens every live session again with its last reading.
func (r *Relay) Run(ctx context.Context) error {
	r.init()
	bo := r.Backoff
	authBo := agent.AuthBackoff()
	for {
		start := r.now()
		token, _ := r.Token()
		err := r.connect(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var ae *agent.AuthError
		if errors.As(err, &ae) {
			// Refused device: wait long, unless the device token changes
			// (re-enrolled).
			wait := authBo.Next()
			r.Log.Error("the coordinator refused this device; waiting before trying again", "err", err, "retry_in", wait.Round(time.Second))
			end := r.now().Add(wait)
			for r.now().Before(end) {
				if !agent.Sleep(ctx, min(5*time.Second, end.Sub(r.now()))) {
					return nil
				}
				if t, err := r.Token(); err == nil && t != token {
					break
				}
			}
			continue
		}
		authBo.Reset()
		if r.now().Sub(start) >= 10*time.Second {
			bo.Reset()
		}
		wait := bo.Next()
		r.Log.Warn("not connected to the coordinator; retrying", "err", err, "retry_in", wait.Round(time.Millisecond))
		if !agent.Sleep(ctx, wait) {
			return nil
		}
	}
}

func (r *Relay) connect(ctx context.Context) error {
	token, err := r.Token()
	if err != nil {
		return fmt.Errorf("reading the device token: %w", err)
	}
	client := r.Endpoint.HTTPClient()
	defer client.CloseIdleConnections()
	dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	var heard atomic.Int64
	heard.Store(r.now().UnixNano())
	readDone := make(chan struct{})
	defer close(readDone)
	ws, resp, err := websocket.Dial(dctx, r.Endpoint.WebSocketURL(), &websocket.DialOptions{
		HTTPClient:      client,
		HTTPHeader:      http.Header{"Authorization": {"Bearer " + token}},
		Subprotocols:    []string{protocol.Subprotocol},
		CompressionMode: websocket.CompressionDisabled,
		OnPingReceived: func(context.Context, []byte) bool {
			heard.Store(r.now().UnixNano())
			return true
		},
	})
	cancel()
	if err != nil {
		if resp != nil && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden) {
			return &agent.AuthError{Code: resp.StatusCode}
		}
		return fmt.Errorf("connecting to %s: %w", r.Endpoint, err)
	}
	defer ws.CloseNow()
	if ws.Subprotocol() != protocol.Subprotocol {
		_ = ws.Close(protocol.CloseUnsupportedVersion, "this agent speaks "+protocol.Subprotocol)
		return &agent.AuthError{Code: protocol.CloseUnsupportedVersion}
	}
	ws.SetReadLimit(protocol.MaxFrameBytes)
	wctx := context.WithoutCancel(ctx)
	if err := writeMsg(wctx, ws, r.Hello); err != nil {
		return fmt.Errorf("sending hello: %w", err)
	}
	// Open every live session again, each with its last reading (its idle
	// time advanced to now), then go live.
	r.mu.Lock()
	for _, s := range r.sessions {
		if err = writeMsg(wctx, ws, protocol.SessionOpen{Session: s.id, OSUser: s.user}); err != nil {
			break
		}
		if s.last != nil {
			rd := *s.last
			rd.IdleMS = min(rd.IdleMS+max(r.now().Sub(s.lastAt), 0).Milliseconds(), protocol.MaxIdleMS)
			if err = writeMsg(wctx, ws, rd); err != nil {
				break
			}
		}
	}
	if err == nil {
		r.up = ws
	}
	n := len(r.sessions)
	r.mu.Unlock()
	if err != nil {
		return fmt.Errorf("opening the sessions again: %w", err)
	}
	r.Log.Info("connected to the coordinator", "url", r.Endpoint.String(), "sessions", n)
	defer func() {
		r.mu.Lock()
		if r.up == ws {
			r.up = nil
		}
		r.mu.Unlock()
	}()

	// A silent coordinator (it pings every 20 s): after 60 s without a
	// message or ping, ping it; no pong within 15 s drops the connection.
	go func() {
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-readDone:
				return
			case <-t.C:
			}
			if r.now().Sub(time.Unix(0, heard.Load())) < time.Minute {
				continue
			}
			pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			err := ws.Ping(pctx)
			cancel()
			if err != nil && ctx.Err() == nil {
				r.Log.Warn("the coordinator stopped answering; reconnecting", "err", err)
				_ = ws.CloseNow()
				return
			}
			heard.Store(r.now().UnixNano())
		}
	}()
	go func() {
		<-ctx.Done()
		r.mu.Lock()
		if r.up == ws {
			// Stopping: close every session properly, then the connection.
			for _, s := range r.sessions {
				_ = writeMsg(wctx, ws, protocol.SessionClose{Session: s.id})
			}
			r.up = nil
		}
		r.mu.Unlock()
		_ = ws.Close(websocket.StatusNormalClosure, "agent service stopping")
	}()
	for {
		typ, data, err := ws.Read(wctx)
		if err != nil {
			switch code := int(websocket.CloseStatus(err)); code {
			case protocol.CloseUnauthorized, protocol.CloseDeviceRevoked, protocol.CloseUnsupportedVersion:
				return &agent.AuthError{Code: code}
			}
			return fmt.Errorf("connection to the coordinator ended: %w", err)
		}
		heard.Store(r.now().UnixNano())
		if typ != websocket.MessageText {
			_ = ws.Close(protocol.CloseUnsupportedData, "binary frames are not part of the protocol")
			return errors.New("the coordinator sent a binary frame")
		}
		m, err := protocol.DecodeFromCoordinator(data)
		if err != nil {
			_ = ws.Close(websocket.StatusCode(protocol.CloseCode(err)), protocol.NewErrorMessage(err).Message)
			return fmt.Errorf("the coordinator sent an invalid message: %w", err)
		}
		r.fromCoordinator(wctx, m)
	}
}

// fromCoordinator routes a message to the helper(s) it concerns, with the
// helper's own session id.
func (r *Relay) fromCoordinator(ctx context.Context, m protocol.Message) {
	r.mu.Lock()
	var to *helper
	switch msg := m.(type) {
	case protocol.Policy:
		r.policy = &msg
		hs := make([]*helper, 0, len(r.helpers))
		for h := range r.helpers {
			hs = append(hs, h)
		}
		r.mu.Unlock()
		for _, h := range hs {
			_ = writeMsg(ctx, h.ws, msg)
		}
		return
	case protocol.Warn:
		if s := r.sessions[msg.Session]; s != nil {
			msg.Session = s.local
			to, m = s.h, msg
		}
	case protocol.Withdraw:
		if s := r.sessions[msg.Session]; s != nil {
			msg.Session = s.local
			to, m = s.h, msg
		}
	case protocol.LoggedOut:
		if s := r.sessions[msg.Session]; s != nil {
			msg.Session = s.local
			to, m = s.h, msg
		}
	case protocol.SessionRefused:
		if s := r.sessions[msg.Session]; s != nil {
			r.Log.Warn("the coordinator refused a session: its user is bound elsewhere", "session", s.id, "os_user", s.user)
			msg.Session = s.local
			to, m = s.h, msg
		}
	case protocol.ErrorMessage:
		r.Log.Warn("the coordinator reports an error and will close the connection", "code", msg.Code, "message", msg.Message)
	}
	r.mu.Unlock()
	if to != nil {
		_ = writeMsg(ctx, to.ws, m)
	}
}
