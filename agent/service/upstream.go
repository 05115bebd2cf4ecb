package service

import (
	"context"
	"fmt"

	"github.com/vigil-cc/vigil/agent/uplink"
	"github.com/vigil-cc/vigil/protocol"
)

// The upstream side: the service's one connection to the coordinator
// (uplink.Link), carrying every helper's sessions under the service's ids.

// Run keeps the one connection to the coordinator until ctx ends,
// reconnecting with backoff; on every connection it says hello once and
// opens every live session again with its last reading.
func (r *Relay) Run(ctx context.Context) error {
	r.init()
	link := &uplink.Link{Endpoint: r.Endpoint, Token: r.Token, Log: r.Log, Now: r.Now, Backoff: r.Backoff}
	return link.Run(ctx, r.serve)
}

// serve relays on one connection until it ends.
func (r *Relay) serve(ctx context.Context, up *uplink.Conn) error {
	wctx := context.WithoutCancel(ctx)
	if err := up.Send(wctx, r.Hello); err != nil {
		return err
	}
	// Open every live session again, each with its last reading (its idle
	// time advanced to now), then go live.
	r.mu.Lock()
	var err error
	for _, s := range r.ids.byID {
		if err = up.Send(wctx, protocol.SessionOpen{Session: s.id, OSUser: s.user}); err != nil {
			break
		}
		if s.last != nil {
			rd := *s.last
			rd.IdleMS = min(rd.IdleMS+max(r.now().Sub(s.lastAt), 0).Milliseconds(), protocol.MaxIdleMS)
			if err = up.Send(wctx, rd); err != nil {
				break
			}
		}
	}
	if err == nil {
		r.up = up
	}
	n := len(r.ids.byID)
	r.mu.Unlock()
	if err != nil {
		return fmt.Errorf("opening the sessions again: %w", err)
	}
	r.Log.Info("sessions reopened upstream", "sessions", n)
	done := make(chan struct{})
	defer func() {
		close(done)
		r.mu.Lock()
		if r.up == up {
			r.up = nil
		}
		r.mu.Unlock()
	}()
	go func() {
		select {
		case <-done:
			return
		case <-ctx.Done():
		}
		r.mu.Lock()
		if r.up == up {
			// Stopping: close every session properly, then the connection.
			for _, s := range r.ids.byID {
				_ = up.Send(wctx, protocol.SessionClose{Session: s.id})
			}
			r.up = nil
		}
		r.mu.Unlock()
		_ = up.Close("agent service stopping")
	}()
	for {
		m, _, err := up.Read(wctx)
		if err != nil {
			return err
		}
		r.fromCoordinator(wctx, m)
	}
}

// upstream sends m to the coordinator if connected. r.mu is held. A failed
// write closes the connection, which the upstream loop then replaces.
func (r *Relay) upstream(ctx context.Context, m protocol.Message) {
	if r.up == nil {
		return
	}
	if err := r.up.Send(context.WithoutCancel(ctx), m); err != nil {
		r.Log.Warn("writing to the coordinator failed", "err", err)
		_ = r.up.CloseNow()
		r.up = nil
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
		to, m = r.ids.toHelper(&msg.Session).helper(), msg
	case protocol.Withdraw:
		to, m = r.ids.toHelper(&msg.Session).helper(), msg
	case protocol.LoggedOut:
		to, m = r.ids.toHelper(&msg.Session).helper(), msg
	case protocol.SessionRefused:
		if s := r.ids.toHelper(&msg.Session); s != nil {
			r.Log.Warn("the coordinator refused a session", "session", s.id, "os_user", s.user, "reason", msg.Reason)
			to = s.h
		}
		m = msg
	}
	r.mu.Unlock()
	if to != nil {
		_ = writeMsg(ctx, to.ws, m)
	}
}
