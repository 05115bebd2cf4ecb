//go:build linux

package acceptance

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-cc/vigil/internal/e2etest"
	"github.com/vigil-cc/vigil/internal/testrig"
)

// `vigil-agent enroll` against a real coordinator: enrolls once, keeps the
// device token private, reports the coordinator's refusal, and `session`
// reuses the token; plain ws:// to another machine is refused.
func TestEnrollCommand(t *testing.T) {
	t.Parallel()
	bin := agentBinary(t, raceBuild)
	co := startCoordinator(t)
	state := filepath.Join(t.TempDir(), "state")
	env := e2etest.AgentEnv()
	run := func(args ...string) (string, int) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), code
	}
	url := "ws://" + co.Addr

	out, code := run("enroll", "--coordinator", url, "--enroll-token", "vgl_enr_bogus", "--state-dir", state)
	if code != 1 || !strings.Contains(out, "unknown enrollment token") {
		t.Errorf("a bad token: exit %d\n%s", code, out)
	}
	token := co.EnrollmentToken(5)
	out, code = run("enroll", "--coordinator", url, "--enroll-token", token, "--state-dir", state)
	if code != 0 || !strings.Contains(out, "enrolled with http://"+co.Addr) {
		t.Fatalf("enroll: exit %d\n%s", code, out)
	}
	path := filepath.Join(state, "device.json")
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s: %v %v, want mode 0600", path, fi.Mode(), err)
	}
	var dev struct {
		DeviceToken string `json:"device_token"`
	}
	raw, _ := os.ReadFile(path)
	if json.Unmarshal(raw, &dev) != nil || !strings.HasPrefix(dev.DeviceToken, "vgl_") {
		t.Errorf("device.json: %s", raw)
	}
	out, code = run("enroll", "--coordinator", url, "--enroll-token", token, "--state-dir", state)
	if code != 0 || !strings.Contains(out, "already enrolled") {
		t.Errorf("enrolling twice: exit %d\n%s", code, out)
	}
	out, code = run("enroll", "--coordinator", "ws://192.0.2.1:8080", "--enroll-token", token, "--state-dir", state)
	if code != 2 || !strings.Contains(out, "refusing plain ws://") {
		t.Errorf("plain ws:// to another machine: exit %d\n%s", code, out)
	}

	// The session reuses the token: no enrollment token needed.
	a := startAgent(t, bin, e2etest.AgentEnv([]string{"DISPLAY=:nonexistent"}), "session", "--coordinator", url,
		"--state-dir", state, "--mic=false", "--session-id", "s1")
	testrig.Eventually(t, 10*time.Second, func() (bool, string) {
		return co.Hub.Connected() == 1 && strings.Contains(a.Out.String(), "connected to the coordinator"), a.Out.String()
	})
	// Without a display no session is opened, and the agent says why.
	testrig.Eventually(t, 5*time.Second, func() (bool, string) {
		return strings.Contains(a.Out.String(), "cannot open the desktop session"), a.Out.String()
	})
	if strings.Contains(a.Out.String(), "session opened") {
		t.Errorf("a session was opened without a desktop:\n%s", a.Out.String())
	}
}
