package agent

import (
	"context"
	"fmt"
	"regexp"
	"time"

	"github.com/vigil-cc/vigil/agent/uplink"
	"github.com/vigil-cc/vigil/internal/backoff"
	"github.com/vigil-cc/vigil/protocol"
)

// serve runs the session on one connection to the coordinator until the
// connection ends or ctx does.
func (a *Agent) serve(ctx context.Context, up *uplink.Conn) error {
	c := &conn{a: a, up: up, rules: a.Rules, refusedBo: a.RefusedBackoff}
	return c.run(ctx)
}

// phase of the session on a connection.
type phase uint8

const (
	phaseHello   phase = iota // hello sent, waiting for the policy
	phaseOpening              // session_open goes out with the next sample
	phaseOpen                 // open: readings and heartbeats
	phaseRefused              // refused: silent until reopened
)

// inbound is one message from the coordinator, stamped on arrival.
type inbound struct {
	msg protocol.Message
	at  time.Time
	err error
}

// conn is one connection's session state. Only run's goroutine touches
// it.
type conn struct {
	a  *Agent
	up *uplink.Conn

	gotPolicy bool
	rules     Rules
	phase     phase
	minGen    uint64 // samples with an older title pattern are ignored
	sent      Sent
	warning   bool
	refusedBo backoff.Backoff
}

func (c *conn) run(ctx context.Context) error {
	a := c.a
	// The reader's context outlives ctx: cancelling a read closes the
	// connection at once, and on shutdown we close it properly first.
	rctx, rcancel := context.WithCancel(context.WithoutCancel(ctx))
	defer rcancel()
	in := make(chan inbound, 16)
	go c.read(rctx, in)

	if err := c.send(ctx, a.Hello); err != nil {
		return err
	}
	policyWait := time.NewTimer(a.PolicyWait)
	defer policyWait.Stop()
	reopen := time.NewTimer(time.Hour)
	reopen.Stop()
	defer reopen.Stop()
	stale := time.NewTimer(time.Hour)
	stale.Stop()
	defer stale.Stop()
	if a.Warn.Showing() {
		// A warning from before the reconnect: it stands if confirmed.
		c.warning = true
	}

	for {
		select {
		case <-ctx.Done():
			c.shutdown()
			return nil

		case m := <-in:
			if m.err != nil {
				return m.err
			}
			if err := c.handle(ctx, m, reopen, stale); err != nil {
				return err
			}

		case <-policyWait.C:
			if c.phase == phaseHello {
				a.Log.Warn("no policy from the coordinator yet; opening the session with the title pattern in force")
				c.opening()
			}

		case smp := <-a.Sampler.Samples():
			if err := c.sample(ctx, smp, stale); err != nil {
				return err
			}

		case <-reopen.C:
			if c.phase == phaseRefused {
				a.Log.Info("opening the refused session again", "session", a.Session)
				if err := c.send(ctx, protocol.SessionClose{Session: a.Session}); err != nil {
					return err
				}
				c.opening()
			}

		case <-stale.C:
			if c.warning {
				a.Log.Info("the coordinator did not confirm the warning after reconnecting; taking it down")
				c.warning = false
				a.Warn.Withdraw()
			}
		}
	}
}

// read delivers the coordinator's messages until the connection fails.
func (c *conn) read(ctx context.Context, in chan<- inbound) {
	for {
		m, at, err := c.up.Read(ctx)
		select {
		case in <- inbound{msg: m, at: at, err: err}:
		case <-ctx.Done():
			return
		}
		if err != nil {
			return
		}
	}
}

// handle acts on one message from the coordinator.
func (c *conn) handle(ctx context.Context, m inbound, reopen, stale *time.Timer) error {
	a := c.a
	switch msg := m.msg.(type) {
	case protocol.Policy:
		re, err := regexp.Compile(msg.TitlePattern) // protocol.Decode checked it compiles
		if err != nil {
			return fmt.Errorf("policy: %w", err)
		}
		c.rules.Heartbeat = time.Duration(msg.HeartbeatS) * time.Second
		gen := a.Sampler.SetPattern(re)
		c.minGen = max(c.minGen, gen)
		if !c.gotPolicy {
			a.Log.Info("policy received", "enabled", msg.Enabled, "timeout_s", msg.TimeoutS, "warn_at_s", msg.WarnAtS,
				"heartbeat_s", msg.HeartbeatS, "clock_offset", time.UnixMilli(msg.ServerTimeMS).Sub(m.at).Round(time.Millisecond))
		} else {
			a.Log.Info("policy changed", "enabled", msg.Enabled, "timeout_s", msg.TimeoutS, "heartbeat_s", msg.HeartbeatS)
		}
		c.gotPolicy = true
		if c.phase == phaseHello {
			c.opening()
		}
	case protocol.Warn:
		if msg.Session != a.Session || c.phase != phaseOpen {
			return nil
		}
		// Skew-free: the time left as the coordinator counts it, from
		// receipt, on the local monotonic clock.
		deadline := m.at.Add(time.Duration(msg.DeadlineMS-msg.ServerTimeMS) * time.Millisecond)
		c.warning = true
		stale.Stop()
		a.Warn.Show(deadline)
	case protocol.Withdraw:
		if msg.Session != a.Session {
			return nil
		}
		a.Log.Debug("warning withdrawn", "reason", msg.Reason)
		c.warning = false
		a.Warn.Withdraw()
	case protocol.LoggedOut:
		if msg.Session != a.Session {
			return nil
		}
		c.warning = false
		a.Warn.LoggedOut()
	case protocol.SessionRefused:
		if msg.Session != a.Session || c.phase != phaseOpen {
			return nil
		}
		wait := c.refusedBo.Next()
		why := "it is not this user's"
		if msg.Reason == protocol.RefusedTooManySessions {
			why = "too many sessions are open for this user on this host, or on this device"
		}
		a.Log.Error("the coordinator or the agent service refused this session: "+why+"; not reporting it",
			"session", a.Session, "os_user", a.OSUser, "reason", msg.Reason, "retry_in", wait.Round(time.Second))
		c.phase = phaseRefused
		if c.warning {
			c.warning = false
			a.Warn.Withdraw()
		}
		reopen.Reset(wait)
	}
	return nil
}

// opening moves to phaseOpening: the next sample with the current title
// pattern opens the session.
func (c *conn) opening() {
	c.phase = phaseOpening
	c.minGen = max(c.minGen, c.a.Sampler.Gen())
	c.a.Sampler.Kick()
}

// sample acts on a new sample: opens the session, or decides what to send.
func (c *conn) sample(ctx context.Context, smp Sample, stale *time.Timer) error {
	a := c.a
	if smp.Gen < c.minGen || smp.Err != nil {
		return nil
	}
	switch c.phase {
	case phaseOpening:
		if err := c.send(ctx, protocol.SessionOpen{Session: a.Session, OSUser: a.OSUser}); err != nil {
			return err
		}
		a.Log.Info("session opened", "session", a.Session, "os_user", a.OSUser)
		c.phase, c.sent = phaseOpen, Sent{}
		if c.warning {
			stale.Reset(a.StaleWarning)
		}
	case phaseOpen:
	default:
		return nil
	}
	switch Decide(c.sent, smp.Observation, c.warning, c.rules) {
	case SendReading:
		// The idle time as of now: the coordinator takes the input time as
		// arrival − idle_ms, so a sample's age must not count as input.
		now := a.now()
		o := smp.Observation
		o.Idle += max(now.Sub(o.At), 0)
		o.At = now
		if err := c.send(ctx, o.Reading(a.Session)); err != nil {
			return err
		}
		c.sent = Sent{Reading: o, Last: now}
	case SendHeartbeat:
		if err := c.send(ctx, protocol.Heartbeat{Session: a.Session}); err != nil {
			return err
		}
		c.sent.Last = a.now()
	}
	return nil
}

// send writes one message.
func (c *conn) send(ctx context.Context, m protocol.Message) error { return c.up.Send(ctx, m) }

// shutdown closes the session and the connection properly (the agent is
// stopping).
func (c *conn) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if c.phase == phaseOpen || c.phase == phaseRefused {
		_ = c.up.Send(ctx, protocol.SessionClose{Session: c.a.Session})
	}
	_ = c.up.Close("agent stopping")
}
