package service

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/coder/websocket"

	"github.com/vigil-cc/vigil/agent/uplink"
	"github.com/vigil-cc/vigil/internal/username"
	"github.com/vigil-cc/vigil/protocol"
)

// The local side: helpers connect to the service's socket and speak the
// coordinator's protocol to it.

// Limits per helper and per local user. One user of a shared host (RDS,
// Citrix, several X sessions) must not crowd out the others on the
// device's one connection: whatever they open past these is refused alone
// (session_refused "too_many_sessions", or 429 for a connection).
const (
	// MaxSessionsPerHelper bounds the sessions one local connection may open.
	MaxSessionsPerHelper = 4
	// MaxSessionsPerUser bounds the sessions of one local user (a uid on
	// Linux, an account on Windows) over all their helpers: a user has a
	// desktop session or two.
	MaxSessionsPerUser = 8
	// MaxHelpersPerUser bounds one local user's helper connections.
	MaxHelpersPerUser = 16
)

// userKey is who a limit per local user counts: the account, whatever
// its desktop session (on Windows Peer.ID is per session).
func userKey(p Peer) string { return username.Fold(p.User) }

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
	key := userKey(peer)
	r.mu.Lock()
	admitted := r.perUser[key] < MaxHelpersPerUser
	if admitted {
		r.perUser[key]++
	}
	r.mu.Unlock()
	if !admitted {
		r.Log.Warn("refused a helper connection: too many for one user", "peer", peer.ID, "user", peer.User, "max", MaxHelpersPerUser)
		http.Error(w, "too many helper connections for this user", http.StatusTooManyRequests)
		return
	}
	defer func() {
		r.mu.Lock()
		if r.perUser[key]--; r.perUser[key] == 0 {
			delete(r.perUser, key)
		}
		r.mu.Unlock()
	}()
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
	r.Log.Info("helper connected", "peer", peer.ID, "user", peer.User)
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
				"peer_uid", h.peer.ID, "peer_user", h.peer.User, "claimed_user", msg.OSUser, "session", msg.Session)
			_ = writeMsg(ctx, h.ws, protocol.SessionRefused{Session: msg.Session, Reason: protocol.RefusedUserBound})
			_ = h.ws.Close(protocol.ClosePolicyViolation, "that session is not your user's")
			return false
		}
		if old := h.local[msg.Session]; old != nil {
			r.closeSession(ctx, old)
		}
		if len(h.local) >= MaxSessionsPerHelper || r.userSessions(h.peer) >= MaxSessionsPerUser {
			// One helper serves one desktop session; a few spare for
			// reopening. More would crowd the device's one connection,
			// which every user of a shared host needs.
			r.Log.Warn("refused a session: too many for one helper or one user", "peer_uid", h.peer.ID, "peer_user", h.peer.User,
				"helper_sessions", len(h.local), "user_sessions", r.userSessions(h.peer))
			_ = writeMsg(ctx, h.ws, protocol.SessionRefused{Session: msg.Session, Reason: protocol.RefusedTooManySessions})
			return true
		}
		s := r.ids.open(h, msg.Session)
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
	r.ids.forget(s)
	r.upstream(ctx, protocol.SessionClose{Session: s.id})
	r.Log.Info("session closed", "session", s.id, "os_user", s.user)
}

func (r *Relay) helperGone(h *helper) {
	ctx, cancel := context.WithTimeout(context.Background(), uplink.WriteTimeout)
	defer cancel()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range h.local {
		r.closeSession(ctx, s)
	}
	delete(r.helpers, h)
	r.Log.Info("helper disconnected", "peer", h.peer.ID, "user", h.peer.User)
}

// userSessions counts the sessions open for p's user over all helpers.
// r.mu is held.
func (r *Relay) userSessions(p Peer) int {
	n := 0
	for h := range r.helpers {
		if userKey(h.peer) == userKey(p) {
			n += len(h.local)
		}
	}
	return n
}
