package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/vigil-cc/vigil/internal/coordtest"
)

// The device command lists pending devices with their host and token, and
// approves one, or all of a token's, through a real coordinator's API.
func TestDeviceCommand(t *testing.T) {
	const admin = "vgl_api_device-cli-test-admin-token-32"
	srv := coordtest.Start(t, coordtest.Config(t.TempDir(), admin), nil)
	base := "http://" + srv.Addr
	var e struct{ ID, Token string }
	code, raw := coordtest.Call(t, base, admin, "POST", "/api/v1/enrollment-tokens", map[string]any{"max_uses": 3})
	if code != http.StatusCreated || json.Unmarshal(raw, &e) != nil {
		t.Fatalf("%d %s", code, raw)
	}
	var ids []string
	for _, host := range []string{"ws-a", "ws-b", "ws-c"} {
		var d struct {
			DeviceID string `json:"device_id"`
		}
		code, raw := coordtest.Call(t, base, "", "POST", "/api/v1/enroll", map[string]any{"enrollment_token": e.Token, "host": host, "os": "linux"})
		if code != http.StatusCreated || json.Unmarshal(raw, &d) != nil {
			t.Fatalf("%d %s", code, raw)
		}
		ids = append(ids, d.DeviceID)
	}
	t.Setenv("VIGIL_TOKEN", admin)
	run := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		if err := runDevice(append(args, "--url", base), &out); err != nil {
			t.Fatalf("device %v: %v", args, err)
		}
		return out.String()
	}
	// Flags go before the arguments for the flag package; ID last.
	list := run("list", "--pending")
	if strings.Count(list, "pending") != 3 || !strings.Contains(list, "ws-b") || !strings.Contains(list, e.ID) {
		t.Fatalf("pending list:\n%s", list)
	}
	var out bytes.Buffer
	if err := runDevice([]string{"revoke", "--url", base, ids[0]}, &out); err != nil || !strings.Contains(out.String(), "revoked device "+ids[0]) {
		t.Fatalf("revoke one: %v %q", err, out.String())
	}
	if got := run("approve", "--enrollment", e.ID); !strings.Contains(got, "approved 2 device(s)") {
		t.Fatalf("approve the token's: %q", got)
	}
	if list := run("list", "--pending"); strings.Contains(list, "ws-") {
		t.Errorf("still pending:\n%s", list)
	}
	if err := runDevice([]string{"approve", "--url", base, "nope"}, &out); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("approving an unknown device: %v", err)
	}
}
