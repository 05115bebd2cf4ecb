package service

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vigil-cc/vigil/internal/coordtest"
	"github.com/vigil-cc/vigil/internal/testrig"
	"github.com/vigil-cc/vigil/protocol"
)

// On a shared host (RDS, Citrix), one local user opening 20 helper
// connections with 4 sessions each, against the real service relaying to a
// real coordinator, cannot make another local user's sensor lost: the
// service refuses what is past its per-user limits, alone, and the one
// upstream connection is never closed and reopened in a loop (checked over
// 30 s, with a 6 s heartbeat grace).
func TestOneLocalUserCannotCutAnothersSensor(t *testing.T) {
	t.Parallel()
	const admin = "vgl_api_service-test-admin-token-32-chars"
	cfg := coordtest.Config(t.TempDir(), admin)
	cfg.Heartbeat, cfg.Grace = 5*time.Second, 6*time.Second
	coord := coordtest.Start(t, cfg, nil)
	base := "http://" + coord.Addr
	call := func(method, path string, body any) map[string]any {
		t.Helper()
		code, raw := coordtest.Call(t, base, admin, method, path, body)
		var out map[string]any
		_ = json.Unmarshal(raw, &out)
		if code/100 != 2 {
			t.Fatalf("%s %s: %d %s", method, path, code, raw)
		}
		return out
	}
	e := call("POST", "/api/v1/enrollment-tokens", map[string]any{"max_uses": 1, "auto_approve": true})
	dev := call("POST", "/api/v1/enroll", map[string]any{"enrollment_token": e["token"], "host": "rds-1", "os": "linux"})
	call("POST", "/api/v1/desk/login", map[string]string{"user": "bob"})

	sock, logBuf := startRelay(t, base, dev["device_token"].(string), "rds-1")

	bob := dialHelper(t, sock, "bob")
	bob.expect(`"type":"policy"`)
	bob.send(protocol.SessionOpen{Session: "x11:0", OSUser: "bob"})
	bob.send(protocol.Reading{Session: "x11:0", IdleMS: 0, AgentDeskForeground: true})
	sensor := func() string {
		code, raw := coordtest.Call(t, base, admin, "GET", "/api/v1/users/bob", nil)
		var u struct{ Sensor struct{ Status string } }
		if code != http.StatusOK || json.Unmarshal(raw, &u) != nil {
			return fmt.Sprintf("GET users/bob: %d %s", code, raw)
		}
		return u.Sensor.Status
	}
	testrig.Eventually(t, 5*time.Second, func() (bool, string) { return sensor() == "live", "bob's sensor: " + sensor() })

	// ann's flood of helpers and sessions.
	refusedConns, refusedSessions := 0, 0
	var anns []*helperConn
	for i := range 20 {
		h, err := tryDialHelper(t, sock, "ann")
		if err != nil {
			refusedConns++
			continue
		}
		anns = append(anns, h)
		for j := range 4 {
			h.send(protocol.SessionOpen{Session: fmt.Sprintf("s%d", j), OSUser: "ann"})
			h.send(protocol.Reading{Session: fmt.Sprintf("s%d", j), IdleMS: int64(i)})
		}
	}
	for _, h := range anns {
		for {
			select {
			case m := <-h.in:
				if strings.Contains(m, `"reason":"too_many_sessions"`) {
					refusedSessions++
				}
				continue
			case <-time.After(200 * time.Millisecond):
			}
			break
		}
	}
	if refusedConns != 20-MaxHelpersPerUser || refusedSessions != 4*MaxHelpersPerUser-MaxSessionsPerUser {
		t.Errorf("refused %d of ann's connections and %d of her sessions, want %d and %d",
			refusedConns, refusedSessions, 20-MaxHelpersPerUser, 4*MaxHelpersPerUser-MaxSessionsPerUser)
	}

	// bob keeps reporting as a real helper does; his sensor must stay live.
	end := time.Now().Add(30 * time.Second)
	nextBeat := time.Now()
	for time.Now().Before(end) {
		if time.Now().After(nextBeat) {
			bob.send(protocol.Heartbeat{Session: "x11:0"})
			nextBeat = time.Now().Add(2 * time.Second)
		}
		if st := sensor(); st != "live" {
			t.Fatalf("bob's sensor is %q with ann's flood on the same host", st)
		}
		time.Sleep(250 * time.Millisecond) // the polling pace, not a wait for an outcome
	}
	if n := strings.Count(logBuf.String(), "sessions reopened upstream"); n != 1 {
		t.Errorf("the service connected upstream %d times, want 1 (no reconnect loop)\n%s", n, logBuf.String())
	}
}
