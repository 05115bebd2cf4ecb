package agent

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/vigil-cc/vigil/protocol"
)

func base64Lines(b []byte) string {
	s := base64.StdEncoding.EncodeToString(b)
	var out strings.Builder
	for len(s) > 64 {
		out.WriteString(s[:64] + "\n")
		s = s[64:]
	}
	out.WriteString(s + "\n")
	return out.String()
}

func TestSessionID(t *testing.T) {
	for _, tc := range []struct {
		env     []string
		display string
		want    string
	}{
		{env: []string{"XDG_SESSION_ID", "c2", "DISPLAY", ":0"}, want: "xdg:c2"},
		{env: []string{"DISPLAY", ":3"}, want: "display:3"},
		{env: []string{"DISPLAY", ":0.0"}, want: "display:0.0"},
		{env: []string{"DISPLAY", "localhost:10.0"}, want: "display:localhost:10.0"},
		{env: []string{"DISPLAY", ":1"}, display: ":7", want: "display:7"},
		{env: []string{"XDG_SESSION_ID", "a b/c"}, want: "xdg:a_b_c"},
		{env: []string{"XDG_SESSION_ID", strings.Repeat("9", 80)}, want: "xdg:" + strings.Repeat("9", 60)},
	} {
		m := map[string]string{}
		for i := 0; i < len(tc.env); i += 2 {
			m[tc.env[i]] = tc.env[i+1]
		}
		got, err := SessionID(func(k string) (string, bool) { v, ok := m[k]; return v, ok }, tc.display)
		if err != nil || got != tc.want {
			t.Errorf("env %q display %q: %q %v, want %q", tc.env, tc.display, got, err, tc.want)
		}
		if err := (protocol.Heartbeat{Session: got}).Validate(); err != nil {
			t.Errorf("%q is not a valid session id: %v", got, err)
		}
	}
	none := func(string) (string, bool) { return "", false }
	noOwn := func() (string, error) { return "", errors.New("no session of its own") }
	if _, err := sessionID(none, "", noOwn); err == nil {
		t.Error("no session id without XDG_SESSION_ID or DISPLAY, want an error")
	}
	// Windows: neither variable, the process's own WTS session.
	if got, err := sessionID(none, "", func() (string, error) { return "wts-3", nil }); err != nil || got != "wts-3" {
		t.Errorf("own session: %q %v, want wts-3", got, err)
	}
	if got, _ := sessionID(func(k string) (string, bool) { return "5", k == "XDG_SESSION_ID" }, "", func() (string, error) { return "wts-3", nil }); got != "xdg:5" {
		t.Errorf("XDG_SESSION_ID and an own session: %q, want the variable's", got)
	}
}

func TestHostNameAndOS(t *testing.T) {
	h, osName, err := Machine()
	if err != nil {
		t.Fatal(err)
	}
	if err := (protocol.Hello{AgentVersion: Version, OS: osName, Host: h}).Validate(); err != nil {
		t.Errorf("hello from this machine: %v", err)
	}
	if got := sanitize("ws 42.corp/x", protocol.MaxHostLen, '-', func(c byte) bool { return isAlnum(c) || c == '.' }); got != "ws-42.corp-x" {
		t.Errorf("sanitize = %q", got)
	}
}
