// Package agent is the brain of `vigil-agent session`: it fuses the
// session's sensor readings into the protocol's state changes (Decide),
// runs the session over the link to the coordinator (hello, session_open,
// a fresh reading, then changes and heartbeats; the link itself, with its
// reconnecting, is agent/uplink), and shows the coordinator's warnings on
// screen (Warnings).
//
// Components have a Run(ctx) error method and stop when ctx ends. Decisions
// are made by pure functions or on an injected clock; the OS is reached
// through small interfaces (desktop.Desktop, Notifier) that tests replace.
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

	"github.com/vigil-cc/vigil/agent/uplink"
	"github.com/vigil-cc/vigil/internal/backoff"
	"github.com/vigil-cc/vigil/protocol"
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
	Backoff backoff.Backoff
	// AuthBackoff after the coordinator refused the device (401/403, close
	// 4001/4003) or the protocol version (4004); zero: 1 min, ×2, ±20 %,
	// at most 30 min. A new device token ends the wait early.
	AuthBackoff backoff.Backoff
	// RefusedBackoff before opening a refused session again; zero: 30 s,
	// ×2, ±20 %, at most 5 min.
	RefusedBackoff backoff.Backoff
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
	if a.RefusedBackoff.IsZero() {
		a.RefusedBackoff = backoff.Backoff{Initial: 30 * time.Second, Max: 5 * time.Minute, Factor: 2, Jitter: 0.2}
	}
	if a.PolicyWait <= 0 {
		a.PolicyWait = 5 * time.Second
	}
	if a.StaleWarning <= 0 {
		a.StaleWarning = 3 * time.Second
	}
}

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

	link := &uplink.Link{
		Endpoint:    a.Endpoint,
		Token:       a.Token,
		Log:         a.Log,
		Now:         a.Now,
		Backoff:     a.Backoff,
		AuthBackoff: a.AuthBackoff,
		TokenPoll:   a.TokenPoll,
		Quiet:       a.Quiet,
	}
	return link.Run(ctx, a.serve)
}
