// Package agent is the brain of `vigil-agent session`: it fuses the
// session's sensor readings into the protocol's state changes (Decide),
// keeps the WebSocket link to the coordinator (hello, session_open, a fresh
// reading, then changes and heartbeats; reconnecting with backoff), and
// shows the coordinator's warnings on screen (Warnings).
//
// Components have a Run(ctx) error method and stop when ctx ends. Decisions
// are made by pure functions or on an injected clock; the OS is reached
// through small interfaces (Desktop, Notifier) that tests replace.
//
// Privacy: what the agent sends is built only from Observation, which has
// no field a window title, keystroke or audio sample could go into, and is
// encoded with protocol.Encode, which refuses anything the protocol does
// not allow.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/vigil-cc/vigil/protocol"
	"github.com/vigil-cc/vigil/sensors"
)

// Agent reports one desktop session to the coordinator and shows the
// coordinator's warnings for it.
type Agent struct {
	Endpoint Endpoint
	// Token returns the device token. It is called before every connection
	// attempt, so a re-enrollment by another process is picked up.
	Token func() (string, error)
	// Hello is what the agent says first on every connection.
	Hello protocol.Hello
	// Session and OSUser identify the desktop session (session_open).
	Session string
	OSUser  string
	Sampler *Sampler  // required; Run runs it
	Warn    *Warnings // required; Run runs it
	Log     *slog.Logger
	// Now is the clock; nil: time.Now.
	Now func() time.Time
	// Rules: zero: DefaultRules. The policy's heartbeat_s replaces
	// Rules.Heartbeat.
	Rules Rules
	// Backoff between connection attempts; zero: 1 s, ×1.6, ±20 %, at most
	// 30 s, back to 1 s after a connection that worked.
	Backoff sensors.Backoff
	// AuthBackoff after the coordinator refused the device (401/403, close
	// 4001/4003) or the protocol version (4004); zero: 1 min, ×2, ±20 %,
	// at most 30 min. A new device token ends the wait early.
	AuthBackoff sensors.Backoff
	// RefusedBackoff before opening a refused session again; zero: 30 s,
	// ×2, ±20 %, at most 5 min.
	RefusedBackoff sensors.Backoff
	// PolicyWait bounds how long the agent waits for the policy before
	// opening the session with the title pattern it has; zero: 5 s.
	PolicyWait time.Duration
	// Quiet is how long the coordinator may be silent (no message, no ping)
	// before the agent pings it to check the link; zero: 60 s.
	Quiet time.Duration
	// TokenPoll: while waiting after an authentication failure, the device
	// token is read again this often; zero: 5 s.
	TokenPoll time.Duration
	// StaleWarning: after a reconnect, a warning still on screen is taken
	// down unless the coordinator confirms it within this time (it sends
	// warn again right after session_open while the user is warned); zero:
	// 3 s.
	StaleWarning time.Duration
}

// AuthBackoff is how long a device the coordinator refused waits before it
// tries again (unless its token changes): minutes, not seconds, so a revoked
// fleet does not hammer the coordinator.
func AuthBackoff() sensors.Backoff {
	return sensors.Backoff{Initial: time.Minute, Max: 30 * time.Minute, Factor: 2, Jitter: 0.2}
}

func (a *Agent) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *Agent) defaults() {
	if a.Log == nil {
		a.Log = slog.New(slog.DiscardHandler)
	}
	if a.Rules == (Rules{}) {
		a.Rules = DefaultRules()
	}
	if zeroBackoff(a.Backoff) {
		a.Backoff = sensors.DefaultBackoff()
	}
	if zeroBackoff(a.AuthBackoff) {
		a.AuthBackoff = AuthBackoff()
	}
	if zeroBackoff(a.RefusedBackoff) {
		a.RefusedBackoff = sensors.Backoff{Initial: 30 * time.Second, Max: 5 * time.Minute, Factor: 2, Jitter: 0.2}
	}
	if a.PolicyWait <= 0 {
		a.PolicyWait = 5 * time.Second
	}
	if a.Quiet <= 0 {
		a.Quiet = time.Minute
	}
	if a.TokenPoll <= 0 {
		a.TokenPoll = 5 * time.Second
	}
	if a.StaleWarning <= 0 {
		a.StaleWarning = 3 * time.Second
	}
}

func zeroBackoff(b sensors.Backoff) bool { return b.Initial == 0 && b.Max == 0 && b.Factor == 0 }

// Validate says what is missing.
func (a *Agent) Validate() error {
	switch {
	case a.Endpoint.Base == nil:
		return errors.New("agent: no coordinator endpoint")
	case a.Token == nil:
		return errors.New("agent: no device token source")
	case a.Sampler == nil || a.Warn == nil:
		return errors.New("agent: Sampler and Warn are required")
	}
	if err := a.Hello.Validate(); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	if err := (protocol.SessionOpen{Session: a.Session, OSUser: a.OSUser}).Validate(); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	return nil
}

// Run senses, reports and shows warnings until ctx ends; it returns nil
// then, or an error if the agent is misconfigured. Connection failures are
// retried forever.
func (a *Agent) Run(ctx context.Context) error {
	if err := a.Validate(); err != nil {
		return err
	}
	a.defaults()
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	wg.Go(func() { _ = a.Sampler.Run(ctx) })
	wg.Go(func() { _ = a.Warn.Run(ctx) })

	bo, authBo := a.Backoff, a.AuthBackoff
	for {
		res := a.connect(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var ae *AuthError
		if errors.As(res.err, &ae) {
			wait := authBo.Next()
			a.Log.Error("the coordinator refused this device; waiting before trying again (a new device token, e.g. from `vigil-agent enroll`, retries at once)",
				"err", res.err, "retry_in", wait.Round(time.Second))
			a.waitForToken(ctx, wait, res.token)
			continue
		}
		authBo.Reset()
		if res.worked {
			bo.Reset()
		}
		wait := bo.Next()
		a.Log.Warn("not connected to the coordinator; retrying", "err", res.err, "retry_in", wait.Round(time.Millisecond))
		if !Sleep(ctx, wait) {
			return nil
		}
	}
}

// waitForToken waits d, or less if the device token changes from failed.
func (a *Agent) waitForToken(ctx context.Context, d time.Duration, failed string) {
	end := a.now().Add(d)
	for {
		left := end.Sub(a.now())
		if left <= 0 || !Sleep(ctx, min(left, a.TokenPoll)) {
			return
		}
		if tok, err := a.Token(); err == nil && tok != failed {
			a.Log.Info("the device token changed; connecting again")
			return
		}
	}
}

// Sleep waits d or until ctx ends; it reports whether d passed.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// AuthError is the coordinator refusing the device or the protocol
// version: retrying soon cannot help.
type AuthError struct {
	Code    int    // close code 4001, 4003 or 4004, or the HTTP status 401 or 403
	Message string // the coordinator's explanation
}

func (e *AuthError) Error() string {
	what := "refused"
	switch e.Code {
	case protocol.CloseUnauthorized, 401:
		what = "does not know this device's token (re-enroll with --enroll-token)"
	case protocol.CloseDeviceRevoked:
		what = "has revoked this device"
	case 403:
		what = "does not let this device in (revoked, or awaiting an admin's approval)"
	case protocol.CloseUnsupportedVersion:
		what = "does not speak this agent's protocol version " + protocol.Subprotocol + " (upgrade the agent)"
	}
	if e.Message != "" {
		return fmt.Sprintf("the coordinator %s (%d: %s)", what, e.Code, e.Message)
	}
	return fmt.Sprintf("the coordinator %s (%d)", what, e.Code)
}
