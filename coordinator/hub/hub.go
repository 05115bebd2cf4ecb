// Package hub is the agents' WebSocket endpoint: it authenticates devices,
// binds each desktop session to the Agent Desk user it speaks for (a user
// may have sessions on several workstations; the engine decides which one
// speaks for the Agent Desk), feeds readings to the core and carries the
// policy and warnings back.
package hub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/vigil-cc/vigil/coordinator/clientip"
	"github.com/vigil-cc/vigil/coordinator/core"
	"github.com/vigil-cc/vigil/coordinator/engine"
	"github.com/vigil-cc/vigil/coordinator/ratelimit"
	"github.com/vigil-cc/vigil/coordinator/secret"
	"github.com/vigil-cc/vigil/internal/offload"
	"github.com/vigil-cc/vigil/protocol"
)

// Device is an enrolled workstation as the hub needs it.
type Device struct {
	ID       string
	Host     string // fixed at enrollment: a hello naming another is refused
	Approved bool   // false: revoked or awaiting approval
	Status   string
}

// ErrUnknownDevice is returned by Directory.Device for a token nobody holds.
var ErrUnknownDevice = errors.New("unknown device token")

// Directory answers the hub's questions about devices and users.
type Directory interface {
	// Device finds the device holding token.
	Device(ctx context.Context, token string) (Device, error)
	// ResolveUser maps an OS user to an Agent Desk user (ok false: unmapped).
	ResolveUser(ctx context.Context, osUser string) (deskUser string, ok bool, err error)
	// Unmapped notes an OS user that maps to nobody, for the admin, in a
	// bounded list; overflowed says older entries were dropped for it.
	Unmapped(ctx context.Context, osUser, host, deviceID string, at time.Time) (overflowed bool, err error)
	// Audit records something the hub refused or noticed.
	Audit(ctx context.Context, kind, user string, detail map[string]any) error
}

// Config tunes the endpoint.
type Config struct {
	PingInterval time.Duration // a ping this often; no pong within it drops the peer
	WriteTimeout time.Duration // for every write
	QueueLen     int           // messages waiting for a slow peer before it is dropped
	// MaxSessions bounds the sessions open on one connection (a terminal
	// server reports all of its users' sessions on one): past it a
	// session_open is refused alone (session_refused "too_many_sessions"),
	// the connection and its other sessions carry on.
	MaxSessions int
	// Clients finds a request's client address; AuthFailures counts its
	// failed device-token checks (nil: not limited).
	Clients      clientip.Resolver
	AuthFailures *ratelimit.Keyed
	// Message limits (limits.go; the Default… values when not Valid).
	SessionLimit, ConnLimit, FlipLimit ratelimit.Limit
}

// Sessions per connection: the default, sized for a large terminal server
// (RDS or Citrix hosts run a few hundred sessions at most), and the most
// the setting allows.
const (
	DefaultMaxSessions = 1000
	MaxMaxSessions     = 10000
)

func (c *Config) defaults() {
	if c.PingInterval <= 0 {
		c.PingInterval = 20 * time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 5 * time.Second
	}
	if c.QueueLen <= 0 {
		c.QueueLen = 32
	}
	if c.MaxSessions <= 0 {
		c.MaxSessions = DefaultMaxSessions
	}
	if !c.SessionLimit.Valid() {
		c.SessionLimit = DefaultSessionLimit
	}
	if !c.ConnLimit.Valid() {
		c.ConnLimit = DefaultConnLimit
		c.ConnLimit.Burst += 2 * c.MaxSessions
	}
	if !c.FlipLimit.Valid() {
		c.FlipLimit = DefaultFlipLimit
	}
}

// Hub holds every live agent connection.
type Hub struct {
	cfg    Config
	core   *core.Core
	dir    Directory
	policy func() protocol.Policy
	log    *slog.Logger
	// store runs dir's calls, keeping the connections' goroutines' stacks
	// small (see package offload).
	store *offload.Pool

	readers sync.WaitGroup // one per live connection, added under mu

	// leading, when set (replicas on PostgreSQL), says whether this
	// replica leads and, if not, the leader's URL ("" unknown).
	leading func() (bool, string)

	mu      sync.Mutex
	closed  bool
	devices map[string]*conn             // device id → its live connection
	bound   map[string]map[*session]bool // Agent Desk user → their live sessions
	// audited are the misbehaviours (kind and device) audited since the
	// start: each is audited once, however often the device reconnects.
	audited map[string]struct{}
	// undelivered are logouts decided while none of the user's sessions
	// was bound (their agent reconnecting): the first session bound while
	// the user is still logged out gets it, so the agent's warning turns
	// into the logout notice.
	undelivered map[string]protocol.LoggedOut

	// Message limits (limits.go), kept by device and session rather than
	// by connection, so reconnecting starts no fresh budget.
	devMsgs, sessMsgs, flipLims *ratelimit.Keyed
}

// maxAudited bounds Hub.audited; past it, misbehaviours are audited again.
const maxAudited = 100000

// firstTime reports whether kind is seen for device for the first time
// since the start.
func (h *Hub) firstTime(kind, device string) bool {
	key := kind + "\x00" + device
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.audited[key]; ok {
		return false
	}
	if len(h.audited) >= maxAudited {
		clear(h.audited) // audit again rather than grow without bound
	}
	h.audited[key] = struct{}{}
	return true
}

// New returns a hub; policy gives the policy in force (with server time).
// Register h.Decisions with the core.
func New(cfg Config, c *core.Core, dir Directory, policy func() protocol.Policy, log *slog.Logger) *Hub {
	cfg.defaults()
	return &Hub{cfg: cfg, core: c, dir: dir, policy: policy, log: log, store: offload.New(4),
		devices: make(map[string]*conn), bound: make(map[string]map[*session]bool), audited: map[string]struct{}{},
		undelivered: map[string]protocol.LoggedOut{},
		devMsgs:     ratelimit.NewKeyed(cfg.ConnLimit, maxLimitKeys), sessMsgs: ratelimit.NewKeyed(cfg.SessionLimit, maxLimitKeys),
		flipLims: ratelimit.NewKeyed(cfg.FlipLimit, maxLimitKeys)}
}

// SessionInfo describes a bound session, for the dashboard.
type SessionInfo struct {
	DeskUser, OSUser, Host, DeviceID, Session string
	Since                                     time.Time
}

// Sessions lists the sessions bound to Agent Desk users.
func (h *Hub) Sessions() []SessionInfo {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]SessionInfo, 0, len(h.bound))
	for user, ss := range h.bound {
		for s := range ss {
			out = append(out, SessionInfo{DeskUser: user, OSUser: s.osUser, Host: s.c.host, DeviceID: s.c.device.ID, Session: s.id, Since: s.since})
		}
	}
	return out
}

// Connected is the number of live agent connections.
func (h *Hub) Connected() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.devices)
}

// PushPolicy sends the policy in force to every agent (after a change).
func (h *Hub) PushPolicy() {
	p := h.policy()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.devices {
		c.send(p)
	}
}

// Close ends every agent connection and waits for them (the coordinator is
// stopping).
func (h *Hub) Close() {
	h.mu.Lock()
	h.closed = true
	conns := make([]*conn, 0, len(h.devices))
	for _, c := range h.devices {
		conns = append(conns, c)
	}
	h.mu.Unlock()
	for _, c := range conns {
		c.fail(&protocol.Error{Code: protocol.CloseGoingAway, Msg: "coordinator stopping"})
	}
	h.readers.Wait()
	h.store.Close()
}

// SetLeadership makes the hub serve agents only while leading says this
// replica leads; otherwise it closes their connections at once with
// CloseNotLeader, naming the leader. Call before serving.
func (h *Hub) SetLeadership(leading func() (leads bool, leader string)) { h.leading = leading }

// StepDown closes every agent connection with CloseNotLeader naming leader
// (the replica lost the lease); their agents go to the leader.
func (h *Hub) StepDown(leader string) {
	h.mu.Lock()
	clear(h.undelivered) // the next term's engine has its own
	conns := make([]*conn, 0, len(h.devices))
	for _, c := range h.devices {
		conns = append(conns, c)
	}
	h.mu.Unlock()
	for _, c := range conns {
		c.fail(&protocol.Error{Code: protocol.CloseNotLeader, Msg: protocol.NotLeaderReason(leader)})
	}
}

// DropDevice closes the device's connection (it was revoked).
func (h *Hub) DropDevice(id string) {
	h.mu.Lock()
	c := h.devices[id]
	h.mu.Unlock()
	if c != nil {
		c.fail(&protocol.Error{Code: protocol.CloseDeviceRevoked, Msg: "device revoked"})
	}
}

// Decisions carries the engine's decisions to every live session of the
// user they concern: the warning shows wherever the user may be.
// It is a core.Handler: called with the core locked, it only queues.
func (h *Hub) Decisions(ds []engine.Decision) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, d := range ds {
		switch d.Kind {
		case engine.DecisionLogout:
			if len(h.bound[d.User]) == 0 {
				if len(h.undelivered) >= maxAudited {
					clear(h.undelivered) // bounded, like audited
				}
				h.undelivered[d.User] = protocol.LoggedOut{Reason: protocol.ReasonInactivity, AtMS: d.At.UnixMilli()}
				h.log.Info("logged out while no agent of the user is connected: the next one is told", "user", d.User)
			}
		case engine.DecisionWarn:
			delete(h.undelivered, d.User) // a new round: the user logged in again
		}
		for s := range h.bound[d.User] {
			switch d.Kind {
			case engine.DecisionWarn:
				s.c.send(h.warn(s.id, d.Deadline))
			case engine.DecisionWithdraw:
				s.c.send(protocol.Withdraw{Session: s.id, Reason: d.Reason.String()})
			case engine.DecisionLogout:
				s.c.send(protocol.LoggedOut{Session: s.id, Reason: protocol.ReasonInactivity, AtMS: d.At.UnixMilli()})
			}
		}
	}
}

// warn is the warning for session counting down to deadline. A deadline
// already past (a logout due while the engine holds it after a restart or
// takeover, until the user's agent reports) is sent as now: the logout is
// imminent, and the protocol refuses a deadline before the server's time
// (an agent would close the connection over it, and lose what followed).
func (h *Hub) warn(session string, deadline time.Time) protocol.Warn {
	now := h.core.Now().UnixMilli()
	return protocol.Warn{Session: session, DeadlineMS: max(deadline.UnixMilli(), now), ServerTimeMS: now}
}

// Reresolve retries the sessions whose OS user mapped to nobody, after the
// mappings or the known Agent Desk users changed.
func (h *Hub) Reresolve(ctx context.Context) {
	h.mu.Lock()
	var pending []*session
	for _, c := range h.devices {
		for _, s := range c.sessions {
			if s.deskUser == "" {
				pending = append(pending, s)
			}
		}
	}
	h.mu.Unlock()
	for _, s := range pending {
		if err := h.resolve(ctx, s); err != nil {
			h.log.Warn("resolving a session's user", "err", err, "device", s.c.device.ID)
		}
	}
}

// ServeHTTP upgrades an authenticated agent to the protocol.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	token, ok := secret.Bearer(r)
	if !ok {
		httpError(w, http.StatusUnauthorized, "missing device token: send Authorization: Bearer <device token>")
		return
	}
	client := h.cfg.Clients.Key(r)
	if h.cfg.AuthFailures != nil {
		if wait := h.cfg.AuthFailures.Wait(h.core.Now(), client); wait > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
			httpError(w, http.StatusTooManyRequests, "too many failed authentications from your address")
			return
		}
	}
	var dev Device
	var err error
	h.ask(r.Context(), func(ctx context.Context) { dev, err = h.dir.Device(ctx, token) })
	switch {
	case errors.Is(err, ErrUnknownDevice):
		if h.cfg.AuthFailures != nil {
			h.cfg.AuthFailures.Allow(h.core.Now(), client)
		}
		httpError(w, http.StatusUnauthorized, "unknown device token")
		return
	case err != nil:
		h.log.Error("looking up a device", "err", err)
		httpError(w, http.StatusInternalServerError, "looking up the device failed")
		return
	case !dev.Approved && dev.Status == "pending":
		httpError(w, http.StatusForbidden, protocol.DevicePending)
		return
	case !dev.Approved:
		httpError(w, http.StatusForbidden, "device is "+dev.Status)
		return
	}
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{protocol.Subprotocol}})
	if err != nil {
		return // Accept has answered
	}
	ws.SetReadLimit(protocol.MaxFrameBytes)
	c := &conn{h: h, ws: ws, device: dev, msgs: h.devMsgs.Get(h.core.Now(), dev.ID)}
	if ws.Subprotocol() != protocol.Subprotocol {
		c.closeWith(&protocol.Error{Code: protocol.CloseUnsupportedVersion, Msg: "offer the subprotocol " + protocol.Subprotocol})
		return
	}
	if refused := h.attach(c); refused != nil {
		c.closeWith(refused)
		return
	}
	// The connection is hijacked and outlives this handler; returning lets
	// net/http free the request, its headers and buffers.
	go func() {
		defer h.readers.Done()
		defer h.detach(c)
		// A revocation committed between the lookup above and attach found
		// no connection to drop: look again now that c is attached, so a
		// revoked device's connection is closed every time (DropDevice
		// closes it if the revocation comes later).
		var again Device
		var err error
		h.ask(context.Background(), func(ctx context.Context) { again, err = h.dir.Device(ctx, token) })
		switch {
		case errors.Is(err, ErrUnknownDevice):
			c.fail(&protocol.Error{Code: protocol.CloseUnauthorized, Msg: "unknown device token"})
		case err != nil:
			h.log.Error("looking up a device again", "err", err)
			c.fail(&protocol.Error{Code: protocol.CloseInternalError, Msg: "looking up the device failed"})
		case !again.Approved:
			c.fail(&protocol.Error{Code: protocol.CloseDeviceRevoked, Msg: "device " + again.Status})
		}
		err = c.run()
		h.log.Debug("agent disconnected", "device", dev.ID, "host", c.host, "err", err)
	}()
}

// attach makes c the device's connection, closing any older one; the
// error to close c with once the hub is closed or while a standby. (The
// leadership is checked under mu, so StepDown, which takes mu after the
// replica stopped leading, sees every connection attached before.)
func (h *Hub) attach(c *conn) *protocol.Error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return &protocol.Error{Code: protocol.CloseGoingAway, Msg: "coordinator stopping"}
	}
	if h.leading != nil {
		if leads, leader := h.leading(); !leads {
			h.mu.Unlock()
			return &protocol.Error{Code: protocol.CloseNotLeader, Msg: protocol.NotLeaderReason(leader)}
		}
	}
	h.readers.Add(1)
	old := h.devices[c.device.ID]
	h.devices[c.device.ID] = c
	h.mu.Unlock()
	if old != nil {
		old.fail(&protocol.Error{Code: protocol.CloseGoingAway, Msg: "replaced by a newer connection from the same device"})
	}
	return nil
}

func (h *Hub) detach(c *conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.devices[c.device.ID] == c {
		delete(h.devices, c.device.ID)
	}
	for _, s := range c.sessions {
		h.unbindLocked(s)
		s.flips.stop()
	}
}

func (h *Hub) unbindLocked(s *session) {
	if ss := h.bound[s.deskUser]; ss != nil {
		delete(ss, s)
		if len(ss) == 0 {
			delete(h.bound, s.deskUser)
		}
	}
}

// resolve maps s's OS user and binds it, or notes it unmapped. Every live
// session of a user is bound: which one speaks for the Agent Desk is the
// engine's rule (the desk session), not the order they connected in.
func (h *Hub) resolve(ctx context.Context, s *session) error {
	var desk string
	var ok bool
	var err error
	h.ask(ctx, func(ctx context.Context) { desk, ok, err = h.dir.ResolveUser(ctx, s.osUser) })
	if err != nil {
		return fmt.Errorf("resolving OS user: %w", err)
	}
	if !ok {
		var overflowed bool
		h.ask(ctx, func(ctx context.Context) {
			overflowed, err = h.dir.Unmapped(ctx, s.osUser, s.c.host, s.c.device.ID, h.core.Now())
		})
		if err == nil && overflowed && h.firstTime("sensor.unmapped_overflow", s.c.device.ID) {
			h.ask(ctx, func(ctx context.Context) {
				err = h.dir.Audit(ctx, "sensor.unmapped_overflow", "", map[string]any{"device": s.c.device.ID, "host": s.c.host})
			})
		}
		return err
	}
	// What the user's agent missed while it was away (e.g. reconnecting
	// after a takeover): a warning showing, or a logout decided meanwhile
	// while the user is still logged out. Read with the core locked and
	// then bound, so a decision comes either here or through Decisions.
	var st engine.State
	var missed protocol.LoggedOut
	var bound bool
	h.core.View(func(e *engine.Engine) {
		st, _ = e.State(desk)
		h.mu.Lock()
		defer h.mu.Unlock()
		if s.c.sessions.get(s.id) != s { // closed meanwhile
			return
		}
		if h.bound[desk] == nil {
			h.bound[desk] = make(map[*session]bool)
		}
		h.bound[desk][s], s.deskUser, bound = true, desk, true
		if m, ok := h.undelivered[desk]; ok {
			delete(h.undelivered, desk)
			if st.Status == engine.StatusLoggedOut {
				missed = m
			}
		}
	})
	if !bound {
		return nil
	}
	switch {
	case st.Status == engine.StatusWarned:
		s.c.send(h.warn(s.id, st.Deadline))
	case missed.AtMS != 0:
		missed.Session = s.id
		s.c.send(missed)
		h.log.Info("told a reconnecting agent of the logout it missed", "user", desk, "device", s.c.device.ID)
	}
	return nil
}

// ask runs a directory call on the store pool, with a context of its own:
// one derived from the connection's would leave a trace in it (context and
// database/sql bookkeeping) for as long as the connection lives.
func (h *Hub) ask(ctx context.Context, fn func(ctx context.Context)) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	h.store.Do(func() { fn(ctx) })
}

func httpError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	fmt.Fprintf(w, "{\"error\":%q}\n", msg)
}
