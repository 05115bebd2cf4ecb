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

type testEndpoint struct{ url string }

func (e testEndpoint) WebSocketURL() string {
	return "ws" + strings.TrimPrefix(e.url, "http") + "/agent/v1/ws"
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
		Endpoint:    testEndpoint{srv.URL},
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
