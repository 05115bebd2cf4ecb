package uplink

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/vigil-cc/vigil/internal/backoff"
	"github.com/vigil-cc/vigil/protocol"
)

type testReplicas []Endpoint

func (r testReplicas) WebSocketURL() string     { return r[0].WebSocketURL() }
func (r testReplicas) HTTPClient() *http.Client { return r[0].HTTPClient() }
func (r testReplicas) String() string           { return "replicas" }
func (r testReplicas) Replicas() []Endpoint     { return r }

// With several replicas the link follows a standby's close (4005) to the
// leader it names, skipping a replica that is down, and after the leader
// goes away it tries the others in turn.
func TestLinkMovesToTheLeader(t *testing.T) {
	var mu sync.Mutex
	var visits []string
	visit := func(name string) {
		mu.Lock()
		visits = append(visits, name)
		mu.Unlock()
	}
	leaderURL := make(chan string, 1)
	standby := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		visit("standby")
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{protocol.Subprotocol}})
		if err != nil {
			return
		}
		u := <-leaderURL
		leaderURL <- u
		reason := protocol.NotLeaderReason("ws" + strings.TrimPrefix(u, "http"))
		b, _ := protocol.Encode(protocol.ErrorMessage{Code: protocol.CloseNotLeader, Message: reason})
		_ = ws.Write(r.Context(), websocket.MessageText, b)
		_ = ws.Close(protocol.CloseNotLeader, reason)
	}))
	defer standby.Close()
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close() // refuses connections
	leader := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		visit("leader")
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{protocol.Subprotocol}})
		if err != nil {
			return
		}
		_ = ws.Close(websocket.StatusGoingAway, "coordinator stopping")
	}))
	leaderURL <- leader.URL
	defer leader.Close()

	eps := testReplicas{testEndpoint{url: standby.URL}, testEndpoint{url: down.URL}, testEndpoint{url: leader.URL}}
	l := &Link{
		Endpoint: eps,
		Token:    func() (string, error) { return "tok", nil },
		Backoff:  backoff.Backoff{Initial: 5 * time.Millisecond, Max: 5 * time.Millisecond},
	}
	served := make(chan string, 16)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- l.Run(ctx, func(ctx context.Context, c *Conn) error {
			served <- c.ep.String()
			for {
				if _, _, err := c.Read(ctx); err != nil {
					return err
				}
			}
		})
	}()
	// standby → (named leader) leader → (gone away) standby → leader …
	want := []string{standby.URL, leader.URL, standby.URL, leader.URL}
	for i, w := range want {
		select {
		case got := <-served:
			if got != w {
				t.Fatalf("connection %d to %s, want %s", i+1, got, w)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("connection %d: none within 10 s", i+1)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if visits[0] != "standby" || visits[1] != "leader" {
		t.Fatalf("visits %v: the standby's close must lead straight to the leader, past the replica that is down", visits)
	}
}

func TestLeaderIn(t *testing.T) {
	for reason, want := range map[string]string{
		protocol.NotLeaderReason("wss://b.example:8443"): "wss://b.example:8443",
		protocol.NotLeaderReason(""):                     "",
	} {
		if got := leaderIn(reason); got != want {
			t.Errorf("leaderIn(%q) = %q, want %q", reason, got, want)
		}
	}
	eps := []Endpoint{testEndpoint{url: "https://a.example"}, testEndpoint{url: "https://b.example:443"}}
	if i := nextReplica(eps, 0, "wss://b.example"); i != 1 {
		t.Errorf("nextReplica to wss://b.example = %d, want 1 (default port)", i)
	}
	if i := nextReplica(eps, 1, "wss://elsewhere:9"); i != 0 {
		t.Errorf("nextReplica to an unknown leader = %d, want the next one, 0", i)
	}
}
