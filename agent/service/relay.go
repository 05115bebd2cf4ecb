// Package service is the agent's system service: it supervises one sensor
// helper (`vigil-agent session`) in each interactive desktop session
// (Supervisor), serves the helpers the coordinator's protocol on a local
// socket (local.go), and relays their sessions over the service's ONE
// connection to the coordinator (upstream.go, through agent/uplink), with
// its own session ids (sessions.go).
//
// Trust: the helpers hold no device token. The service knows each helper's
// OS user from the local socket's peer credentials (SO_PEERCRED on Linux),
// refuses a helper claiming another user, and stamps every session with its
// own session id and that user, never the helper's word.
package service

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/vigil-cc/vigil/agent"
	"github.com/vigil-cc/vigil/agent/uplink"
	"github.com/vigil-cc/vigil/internal/backoff"
	"github.com/vigil-cc/vigil/protocol"
)

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
	// at most 30 s, reset after a connection that worked (uplink.Link).
	Backoff backoff.Backoff
	// Now is the clock; nil: time.Now.
	Now func() time.Time

	mu      sync.Mutex // guards the fields below and orders upstream writes
	up      *uplink.Conn
	policy  *protocol.Policy
	ids     sessionIDs
	helpers map[*helper]struct{}
	// perUser counts each local user's helper connections from the moment
	// one is admitted (before its WebSocket is accepted) to its end, so
	// that connections racing each other cannot pass the limit together.
	perUser map[string]int
}

type helper struct {
	ws    *websocket.Conn
	peer  Peer
	local map[string]*session // by the helper's own session id
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
	if r.helpers == nil {
		r.helpers = map[*helper]struct{}{}
		r.perUser = map[string]int{}
	}
	if r.Log == nil {
		r.Log = slog.New(slog.DiscardHandler)
	}
}

// writeMsg writes one message to a helper.
func writeMsg(ctx context.Context, ws *websocket.Conn, m protocol.Message) error {
	b, err := protocol.Encode(m)
	if err != nil {
		return fmt.Errorf("encoding %s: %w", m.Type(), err)
	}
	wctx, cancel := context.WithTimeout(ctx, uplink.WriteTimeout)
	defer cancel()
	return ws.Write(wctx, websocket.MessageText, b)
}
