// Package uplink is the agent's one way to the coordinator: it dials the
// WebSocket with the device token and the protocol's subprotocol, maps a
// refusal (HTTP 401/403, close 4001/4003/4004) to AuthError, checks a
// silent link with pings, turns close codes into errors and reconnects
// with backoff. Session mode (package agent) and service mode
// (agent/service) run each of their connections through a Link.
package uplink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/vigil-cc/vigil/internal/backoff"
	"github.com/vigil-cc/vigil/protocol"
)

// WriteTimeout bounds every write to the coordinator.
const WriteTimeout = 5 * time.Second

// stableAfter: a connection that got the policy and lasted this long
// worked, and the next reconnect starts the backoff over.
const stableAfter = 10 * time.Second

// Endpoint is where the coordinator is (agent.Endpoint).
type Endpoint interface {
	WebSocketURL() string
	HTTPClient() *http.Client
	String() string
}

// Replicas is an Endpoint naming several coordinator replicas (agent
// --coordinator wss://a,wss://b): the link connects to one at a time and
// moves to the leader.
type Replicas interface {
	Endpoint
	Replicas() []Endpoint
}

// Link keeps one connection to the coordinator at a time.
type Link struct {
	// Endpoint is the coordinator; if it is Replicas, any of them.
	Endpoint Endpoint
	// Token returns the device token ("" for none, e.g. to the local
	// service). It is read before every connection attempt, so a
	// re-enrollment by another process is picked up.
	Token func() (string, error)
	Log   *slog.Logger
	// Now is the clock; nil: time.Now.
	Now func() time.Time
	// Backoff between connection attempts; zero: backoff.Default (1 s,
	// ×1.6, ±20 %, at most 30 s), back to 1 s after a connection that
	// worked (it got the policy and lasted 10 s, or the coordinator went
	// away in order).
	Backoff backoff.Backoff
	// AuthBackoff after the coordinator refused the device or the protocol
	// version; zero: AuthBackoff(). A new device token ends the wait early.
	AuthBackoff backoff.Backoff
	// TokenPoll: while waiting after a refusal, the device token is read
	// again this often; zero: 5 s.
	TokenPoll time.Duration
	// Quiet is how long the coordinator may be silent (no message, no ping)
	// before it is pinged; no pong within PongWait drops the connection.
	// Zero: 60 s (the coordinator pings every 20 s) and 15 s.
	Quiet    time.Duration
	PongWait time.Duration
}

// AuthBackoff is how long a device the coordinator refused waits before it
// tries again (unless its token changes): minutes, not seconds, so a
// revoked fleet does not hammer the coordinator.
func AuthBackoff() backoff.Backoff {
	return backoff.Backoff{Initial: time.Minute, Max: 30 * time.Minute, Factor: 2, Jitter: 0.2}
}

func (l *Link) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

func (l *Link) defaults() {
	if l.Log == nil {
		l.Log = slog.New(slog.DiscardHandler)
	}
	if l.Backoff.IsZero() {
		l.Backoff = backoff.Default()
	}
	if l.AuthBackoff.IsZero() {
		l.AuthBackoff = AuthBackoff()
	}
	if l.TokenPoll <= 0 {
		l.TokenPoll = 5 * time.Second
	}
	if l.Quiet <= 0 {
		l.Quiet = time.Minute
	}
	if l.PongWait <= 0 {
		l.PongWait = 15 * time.Second
	}
}

// Run connects and hands each connection to serve, until ctx ends; it
// returns nil then. serve returns when the connection is done with (its
// error says why); Run then reconnects: soon after a failure, after
// minutes when the coordinator refused the device.
//
// With several replicas it starts with the first; a standby's close
// (NotLeaderError) sends it at once to the leader it names, or to the next
// replica; a failed or lost connection moves it to the next replica.
func (l *Link) Run(ctx context.Context, serve func(ctx context.Context, c *Conn) error) error {
	l.defaults()
	bo, authBo := l.Backoff, l.AuthBackoff
	eps := l.endpoints()
	cur := 0
	for {
		token, err := l.Token()
		worked := false
		if err != nil {
			err = fmt.Errorf("reading the device token: %w", err)
		} else {
			var c *Conn
			if c, err = l.dial(ctx, eps[cur], token); err == nil {
				err = c.serve(ctx, serve)
				worked = c.worked(err)
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		var nl *NotLeaderError
		if errors.As(err, &nl) {
			from := eps[cur]
			cur = nextReplica(eps, cur, nl.Leader)
			l.Log.Info("the coordinator is a standby replica; moving to the leader", "from", from.String(), "to", eps[cur].String(), "leader", nl.Leader)
			// A moment's jitter, so a fleet leaving a standby does not
			// arrive at the leader in one instant.
			if !backoff.Sleep(ctx, time.Duration(rand.Int64N(int64(standbyJitter)))) {
				return nil
			}
			continue
		}
		var ae *AuthError
		if errors.As(err, &ae) && ae.Pending() {
			// Awaiting an admin's approval: come in soon after it, on the
			// normal backoff (at most its cap apart).
			wait := bo.Next()
			l.Log.Warn("this device awaits an admin's approval on the coordinator (Devices page); trying again",
				"retry_in", wait.Round(time.Millisecond))
			l.waitForToken(ctx, wait, token)
			continue
		}
		if errors.As(err, &ae) {
			wait := authBo.Next()
			l.Log.Error("the coordinator refused this device; waiting before trying again (a new device token, e.g. from `vigil-agent enroll`, retries at once)",
				"err", err, "retry_in", wait.Round(time.Second))
			l.waitForToken(ctx, wait, token)
			continue
		}
		authBo.Reset()
		if worked {
			bo.Reset()
		}
		if err != nil && len(eps) > 1 {
			cur = (cur + 1) % len(eps)
		}
		wait := bo.Next()
		l.Log.Warn("not connected to the coordinator; retrying", "err", err, "retry_in", wait.Round(time.Millisecond))
		if !backoff.Sleep(ctx, wait) {
			return nil
		}
	}
}

// waitForToken waits d, or less if the device token changes from failed.
func (l *Link) waitForToken(ctx context.Context, d time.Duration, failed string) {
	end := l.now().Add(d)
	for {
		left := end.Sub(l.now())
		if left <= 0 || !backoff.Sleep(ctx, min(left, l.TokenPoll)) {
			return
		}
		if tok, err := l.Token(); err == nil && tok != failed {
			l.Log.Info("the device token changed; connecting again")
			return
		}
	}
}

// standbyJitter bounds the pause before following a standby to the leader.
const standbyJitter = 500 * time.Millisecond

func (l *Link) endpoints() []Endpoint {
	if r, ok := l.Endpoint.(Replicas); ok {
		if eps := r.Replicas(); len(eps) > 0 {
			return eps
		}
	}
	return []Endpoint{l.Endpoint}
}

// nextReplica is the index of the replica at leader's address (scheme
// aside: a load balancer or TLS terminator may change it), or else the one
// after cur.
func nextReplica(eps []Endpoint, cur int, leader string) int {
	if want := hostPort(leader); want != "" {
		for i, ep := range eps {
			if hostPort(ep.WebSocketURL()) == want {
				return i
			}
		}
	}
	return (cur + 1) % len(eps)
}

// hostPort is u's host:port, with the scheme's default port; "" if u is
// not a URL with a host.
func hostPort(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.Host == "" {
		return ""
	}
	port := p.Port()
	if port == "" {
		switch strings.ToLower(p.Scheme) {
		case "https", "wss":
			port = "443"
		default:
			port = "80"
		}
	}
	return strings.ToLower(net.JoinHostPort(p.Hostname(), port))
}

// leaderIn is the first URL in a CloseNotLeader reason ("not the leader;
// the leader is wss://b:8443"), or "".
func leaderIn(reason string) string {
	for _, f := range strings.Fields(reason) {
		if strings.Contains(f, "://") {
			return strings.TrimRight(f, ".,;)")
		}
	}
	return ""
}

// NotLeaderError is a standby replica's refusal (close 4005): Leader is
// the leader's URL if it named one.
type NotLeaderError struct {
	Leader  string
	Message string
}

func (e *NotLeaderError) Error() string {
	return fmt.Sprintf("the coordinator is a standby replica (%d: %s)", protocol.CloseNotLeader, e.Message)
}

// AuthError is the coordinator refusing the device or the protocol
// version: retrying soon cannot help.
type AuthError struct {
	Code    int    // close code 4001, 4003 or 4004, or the HTTP status 401 or 403
	Message string // the coordinator's explanation
}

// Pending reports whether the device is enrolled and awaits approval.
func (e *AuthError) Pending() bool {
	return e.Code == http.StatusForbidden && e.Message == protocol.DevicePending
}

func (e *AuthError) Error() string {
	what := "refused"
	switch e.Code {
	case protocol.CloseUnauthorized, http.StatusUnauthorized:
		what = "does not know this device's token (re-enroll with --enroll-token)"
	case protocol.CloseDeviceRevoked:
		what = "has revoked this device"
	case http.StatusForbidden:
		what = "does not let this device in (revoked, or awaiting an admin's approval)"
	case protocol.CloseUnsupportedVersion:
		what = "does not speak this agent's protocol version " + protocol.Subprotocol + " (upgrade the agent)"
	}
	if e.Message != "" {
		return fmt.Sprintf("the coordinator %s (%d: %s)", what, e.Code, e.Message)
	}
	return fmt.Sprintf("the coordinator %s (%d)", what, e.Code)
}
