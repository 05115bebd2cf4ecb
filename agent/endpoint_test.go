package agent

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseEndpoint(t *testing.T) {
	for _, tc := range []struct {
		raw      string
		insecure bool
		ws, api  string
		err      string
	}{
		{raw: "https://vigil.example.com", ws: "wss://vigil.example.com/agent/v1/ws", api: "https://vigil.example.com/api/v1/enroll"},
		{raw: "wss://vigil.example.com:8443/", ws: "wss://vigil.example.com:8443/agent/v1/ws", api: "https://vigil.example.com:8443/api/v1/enroll"},
		{raw: "https://gw.example.com/vigil/", ws: "wss://gw.example.com/vigil/agent/v1/ws", api: "https://gw.example.com/vigil/api/v1/enroll"},
		{raw: "ws://127.0.0.1:8080", ws: "ws://127.0.0.1:8080/agent/v1/ws", api: "http://127.0.0.1:8080/api/v1/enroll"},
		{raw: "http://localhost:8080", ws: "ws://localhost:8080/agent/v1/ws", api: "http://localhost:8080/api/v1/enroll"},
		{raw: "http://[::1]:8080", ws: "ws://[::1]:8080/agent/v1/ws", api: "http://[::1]:8080/api/v1/enroll"},
		{raw: "ws://10.1.2.3:8080", err: "refusing plain ws:// to 10.1.2.3:8080"},
		{raw: "http://vigil.example.com", err: "refusing plain http://"},
		{raw: "http://127.0.0.1.example.com", err: "refusing plain http://"},
		{raw: "ws://10.1.2.3:8080", insecure: true, ws: "ws://10.1.2.3:8080/agent/v1/ws", api: "http://10.1.2.3:8080/api/v1/enroll"},
		{raw: "", err: "required"},
		{raw: "vigil.example.com", err: "scheme must be https://"},
		{raw: "ftp://vigil.example.com", err: "scheme must be https://"},
		{raw: "https://", err: "no host"},
		{raw: "https://u:p@vigil.example.com", err: "no user info"},
		{raw: "https://vigil.example.com/?x=1", err: "no user info, query"},
	} {
		e, err := ParseEndpoint(tc.raw, tc.insecure, "")
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want one containing %q", tc.raw, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.raw, err)
			continue
		}
		if got := e.WebSocketURL(); got != tc.ws {
			t.Errorf("%q: WebSocketURL %q, want %q", tc.raw, got, tc.ws)
		}
		if got := e.APIURL("/api/v1/enroll"); got != tc.api {
			t.Errorf("%q: APIURL %q, want %q", tc.raw, got, tc.api)
		}
		if (e.TLS != nil) != strings.HasPrefix(tc.api, "https") {
			t.Errorf("%q: TLS config %v", tc.raw, e.TLS)
		}
	}
}

// --ca-file: a coordinator with a certificate from that CA is trusted, the
// system roots are not used.
func TestEndpointCAFile(t *testing.T) {
	t.Parallel()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(map[string]string{"device_id": "d1", "device_token": "vgl_dev_x", "status": "approved"})
	}))
	defer srv.Close()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pemOf(srv.Certificate().Raw), 0o644); err != nil {
		t.Fatal(err)
	}
	// Without the CA file the test server's certificate is unknown.
	e, err := ParseEndpoint(srv.URL, false, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Enroll(context.Background(), e, "vgl_enr_x", "ws-1", "linux", time.Now()); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("enrolling without the CA: %v, want a certificate error", err)
	}
	e, err = ParseEndpoint(srv.URL, false, ca)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Enroll(context.Background(), e, "vgl_enr_x", "ws-1", "linux", time.Now())
	if err != nil || d.Token != "vgl_dev_x" || d.ID != "d1" || d.Coordinator != srv.URL {
		t.Errorf("enrolling with the CA: %+v %v", d, err)
	}
	if _, err := ParseEndpoint(srv.URL, false, filepath.Join(dir, "missing.pem")); err == nil {
		t.Error("a missing CA file is accepted")
	}
	if err := os.WriteFile(ca, []byte("not a certificate"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseEndpoint(srv.URL, false, ca); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("a CA file without certificates: %v", err)
	}
}

func pemOf(der []byte) []byte {
	var b strings.Builder
	b.WriteString("-----BEGIN CERTIFICATE-----\n")
	enc := base64Lines(der)
	b.WriteString(enc)
	b.WriteString("-----END CERTIFICATE-----\n")
	return []byte(b.String())
}

func TestParseEndpointUnix(t *testing.T) {
	e, err := ParseEndpoint("unix:///run/vigil/agent.sock", false, "")
	if err != nil {
		t.Fatal(err)
	}
	if !e.Local() || e.Socket != "/run/vigil/agent.sock" || e.String() != "unix:///run/vigil/agent.sock" ||
		e.WebSocketURL() != "ws://"+LocalHost+"/agent/v1/ws" || e.TLS != nil {
		t.Errorf("got %+v %s %s", e, e, e.WebSocketURL())
	}
	for _, bad := range []string{"unix://host/run/x.sock", "unix:relative.sock", "unix:///x.sock?a=b", "unix://"} {
		if _, err := ParseEndpoint(bad, false, ""); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
