package uplink

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/vigil-cc/vigil/internal/backoff"
	"github.com/vigil-cc/vigil/protocol"
)

type testEndpoint struct{ url, query string }

func (e testEndpoint) WebSocketURL() string {
	return "ws" + strings.TrimPrefix(e.url, "http") + "/agent/v1/ws" + e.query
}
func (e testEndpoint) HTTPClient() *http.Client { return &http.Client{} }
func (e testEndpoint) String() string           { return e.url }

// A refused token waits (an hour here) until the token changes; the
// coordinator's explanation travels in the AuthError. A close code of the
// coordinator's maps to the error the next Read returns.
func TestLinkRefusalAndCloseCodes(t *testing.T) {
	var token atomic.Value
	token.Store("old")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer new" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"unknown device token"}`))
			return
		}
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{protocol.Subprotocol}})
		if err != nil {
			return
		}
		b, _ := protocol.Encode(protocol.ErrorMessage{Code: protocol.CloseDeviceRevoked, Message: "device revoked by admin"})
		_ = ws.Write(r.Context(), websocket.MessageText, b)
		_ = ws.Close(protocol.CloseDeviceRevoked, "revoked")
	}))
	defer srv.Close()

	errs := make(chan error, 4)
	l := &Link{
		Endpoint:    testEndpoint{url: srv.URL},
		Token:       func() (string, error) { return token.Load().(string), nil },
		Backoff:     backoff.Backoff{Initial: time.Hour, Max: time.Hour},
		AuthBackoff: backoff.Backoff{Initial: time.Hour, Max: time.Hour},
		TokenPoll:   10 * time.Millisecond,
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- l.Run(ctx, func(ctx context.Context, c *Conn) error {
			for {
				if _, _, err := c.Read(ctx); err != nil {
					errs <- err
					return err
				}
			}
		})
	}()
	time.Sleep(100 * time.Millisecond)
	select {
	case err := <-errs:
		t.Fatalf("served a refused connection: %v", err)
	default:
	}
	token.Store("new") // re-enrolled: connect at once
	select {
	case err := <-errs:
		var ae *AuthError
		if !errors.As(err, &ae) || ae.Code != protocol.CloseDeviceRevoked || !strings.Contains(err.Error(), "device revoked by admin") {
			t.Errorf("read error %v, want an AuthError 4003 with the coordinator's message", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no connection after the token changed")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run returned %v", err)
	}
}

func TestAuthErrorText(t *testing.T) {
	for _, tc := range []struct {
		e    AuthError
		want string
	}{
		{AuthError{Code: 401, Message: "unknown device token"}, "does not know this device's token (re-enroll with --enroll-token) (401: unknown device token)"},
		{AuthError{Code: 403}, "does not let this device in (revoked, or awaiting an admin's approval) (403)"},
		{AuthError{Code: protocol.CloseDeviceRevoked}, "has revoked this device (4003)"},
		{AuthError{Code: protocol.CloseUnsupportedVersion}, "does not speak this agent's protocol version " + protocol.Subprotocol},
	} {
		if got := tc.e.Error(); !strings.Contains(got, tc.want) {
			t.Errorf("%+v: %q, want it to contain %q", tc.e, got, tc.want)
		}
	}
}

// A coordinator that goes silent and does not answer the ping is dropped;
// one that answers is kept.
func TestLinkWatchdog(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{protocol.Subprotocol}})
		if err != nil {
			return
		}
		defer ws.CloseNow()
		if r.URL.Query().Get("answer") != "" {
			ws.CloseRead(r.Context()) // reads, so pings get their pongs
		}
		<-r.Context().Done() // silent
	}))
	defer srv.Close()
	for _, tc := range []struct {
		name    string
		query   string
		dropped bool
	}{
		{"silent", "", true},
		{"answers pings", "?answer=1", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := &Link{
				Endpoint: testEndpoint{url: srv.URL, query: tc.query},
				Token:    func() (string, error) { return "", nil },
				Backoff:  backoff.Backoff{Initial: time.Hour, Max: time.Hour},
				Quiet:    100 * time.Millisecond,
				PongWait: 200 * time.Millisecond,
			}
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
			defer cancel()
			ended := make(chan error, 1)
			go func() {
				_ = l.Run(ctx, func(ctx context.Context, c *Conn) error {
					_, _, err := c.Read(ctx)
					ended <- err
					return err
				})
			}()
			select {
			case err := <-ended:
				if !tc.dropped {
					t.Errorf("a coordinator answering pings was dropped: %v", err)
				} else if !strings.Contains(err.Error(), "stopped answering") {
					t.Errorf("dropped with %v, want it to say the coordinator stopped answering", err)
				}
			case <-time.After(time.Second):
				if tc.dropped {
					t.Error("a silent coordinator was not dropped within 1 s")
				}
			}
		})
	}
}

// A pending device (403 "device is pending") is retried on the normal
// backoff, not the refusal's: it connects soon after an admin approves it.
func TestLinkPendingRetriesSoon(t *testing.T) {
	var approved, attempts atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		attempts.Add(1)
		if approved.Load() == 0 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`{"error":"` + protocol.DevicePending + `"}`))
			return
		}
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{protocol.Subprotocol}})
		if err != nil {
			return
		}
		defer ws.CloseNow()
		_, _, _ = ws.Read(r.Context())
	}))
	defer srv.Close()
	served := make(chan struct{}, 1)
	l := &Link{
		Endpoint:    testEndpoint{url: srv.URL},
		Token:       func() (string, error) { return "tok", nil },
		Backoff:     backoff.Backoff{Initial: 10 * time.Millisecond, Max: 20 * time.Millisecond, Factor: 1.6},
		AuthBackoff: backoff.Backoff{Initial: time.Hour, Max: time.Hour},
		TokenPoll:   5 * time.Millisecond,
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- l.Run(ctx, func(ctx context.Context, c *Conn) error {
			served <- struct{}{}
			<-ctx.Done()
			return ctx.Err()
		})
	}()
	deadline := time.Now().Add(5 * time.Second)
	for attempts.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond) // polling the server's count
	}
	if n := attempts.Load(); n < 3 {
		t.Fatalf("%d attempts while pending, want retries on the normal backoff", n)
	}
	approved.Store(1)
	select {
	case <-served:
	case <-time.After(5 * time.Second):
		t.Fatal("no connection after the approval")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run returned %v", err)
	}
}
