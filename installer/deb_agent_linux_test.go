package installer

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-cc/vigil/internal/coordtest"
	"github.com/vigil-cc/vigil/internal/testrig"
)

const (
	agentConf     = "/etc/vigil/agent.conf"
	agentDefaults = "/etc/default/vigil-agent"
	agentInit     = "/etc/init.d/vigil-agent"
	agentUnit     = "/usr/lib/systemd/system/vigil-agent.service"
	agentBin      = "/usr/bin/vigil-agent"
	deviceFile    = "/var/lib/vigil/device.json"
)

func guardAgent(t *testing.T) {
	guardSystem(t, "vigil-agent", agentConf, agentDefaults, agentInit, "/var/lib/vigil", "/run/vigil")
	purgeOnCleanup(t, "vigil-agent")
}

// Installed without settings: the binary, the unit (systemd-analyze
// verify accepts it), the config 0600; no systemd here, and the script
// says so and what to run next. dpkg -r keeps the config; --purge leaves
// nothing of the package behind.
func TestDebAgentInstallRemovePurge(t *testing.T) {
	a := linuxPackages(t)
	guardAgent(t)
	before := snapshot(t)

	out := must(t, pkgEnv(), "dpkg", "-i", a.agentDeb)
	t.Logf("dpkg -i:\n%s", out)
	for _, want := range []string{
		"systemd is not running here", // the SysV fallback, said
		"installed, not configured",
		"VIGIL_ENROLL_TOKEN=<token> vigil-agent install --coordinator https://<coordinator>",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dpkg -i output lacks %q", want)
		}
	}
	if st := dpkgStatus("vigil-agent"); st != "ii 1.0.0-1" {
		t.Errorf("dpkg status %q, want ii 1.0.0-1", st)
	}
	wantFile(t, agentBin, 0o755)
	wantFile(t, agentUnit, 0o644)
	wantFile(t, agentConf, 0o600)
	if fi, err := os.Stat(agentConf); err == nil && fi.Sys().(*syscall.Stat_t).Uid != 0 {
		t.Errorf("%s is not root's", agentConf)
	}
	if _, err := exec.LookPath("systemd-analyze"); err == nil {
		out, err := runOut(pkgEnv(), "systemd-analyze", "verify", "--man=no", agentUnit)
		if err != nil || strings.Contains(out, "vigil-agent.service") {
			t.Errorf("systemd-analyze verify %s: %v\n%s", agentUnit, err, out)
		}
	} else {
		t.Log("no systemd-analyze here: the unit is not verified")
	}
	if out, err := agentStatus(); err == nil || out != "not installed" {
		t.Errorf("vigil-agent status without settings: %v %q, want not installed", err, out)
	}

	must(t, pkgEnv(), "dpkg", "-r", "vigil-agent")
	if st := dpkgStatus("vigil-agent"); st != "rc 1.0.0-1" {
		t.Errorf("after dpkg -r: status %q, want rc (config files kept)", st)
	}
	wantGone(t, agentBin, agentUnit)
	wantFile(t, agentConf, 0o600)

	must(t, pkgEnv(), "dpkg", "--purge", "vigil-agent")
	wantGone(t, agentConf, "/etc/vigil")
	sameFiles(t, before, snapshot(t))
}

// With the coordinator's URL and an enrollment token in
// /etc/default/vigil-agent, installing enrolls against a real coordinator
// on loopback and starts the service (SysV here): status running, the
// device listed and seen by the API. An upgrade keeps the config and the
// device token and restarts the service once; remove stops and
// unregisters it and keeps the token; purge leaves nothing behind.
func TestDebAgentEnrollsUpgradesPurges(t *testing.T) {
	a := linuxPackages(t)
	testrig.Require(t, "service")
	guardAgent(t)
	before := snapshot(t)

	const admin = "vgl_api_installer-test-admin-token-32"
	co := coordtest.Start(t, coordtest.Config(t.TempDir(), admin), nil)
	base := "http://" + co.Addr
	code, body := coordtest.Call(t, base, admin, "POST", "/api/v1/enrollment-tokens", map[string]any{"max_uses": 1, "auto_approve": true})
	var enr struct{ Token string }
	if code != http.StatusCreated && code != http.StatusOK || json.Unmarshal(body, &enr) != nil || enr.Token == "" {
		t.Fatalf("making an enrollment token: %d %s", code, body)
	}
	defaults := fmt.Sprintf("# written by TestDebAgentEnrollsUpgradesPurges\nVIGIL_COORDINATOR=%s\nVIGIL_ENROLL_TOKEN=%s\n", base, enr.Token)
	if err := os.WriteFile(agentDefaults, []byte(defaults), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(agentDefaults) })

	out := must(t, pkgEnv(), "dpkg", "-i", a.agentDeb)
	t.Logf("dpkg -i:\n%s", out)
	if !strings.Contains(out, "enrolled with "+base) {
		t.Errorf("dpkg -i output does not say it enrolled with %s", base)
	}
	wantFile(t, agentConf, 0o600)
	wantFile(t, deviceFile, 0o600)
	wantFile(t, agentInit, 0o755) // the SysV registration
	conf, _ := os.ReadFile(agentConf)
	if !strings.Contains(string(conf), fmt.Sprintf("coordinator = %q", base)) || !strings.Contains(string(conf), "enroll-token = ") {
		t.Errorf("%s does not hold the settings:\n%s", agentConf, conf)
	}
	testrig.Eventually(t, 20*time.Second, func() (bool, string) {
		out, err := agentStatus()
		return err == nil && out == "running", fmt.Sprintf("vigil-agent status: %q %v", out, err)
	})
	var dev struct {
		ID string `json:"device_id"`
	}
	if b, err := os.ReadFile(deviceFile); err != nil || json.Unmarshal(b, &dev) != nil || dev.ID == "" {
		t.Fatalf("%s: %v %s", deviceFile, err, b)
	}
	// Listed, and seen: the service connected with the device token.
	testrig.Eventually(t, 30*time.Second, func() (bool, string) {
		_, body := coordtest.Call(t, base, admin, "GET", "/api/v1/devices", nil)
		var devs []struct {
			ID, Host, OS, Status string
			LastSeenAt           string `json:"last_seen_at"`
		}
		_ = json.Unmarshal(body, &devs)
		for _, d := range devs {
			if d.ID == dev.ID && d.OS == "linux" && d.Status == "approved" && d.LastSeenAt != "" {
				return true, ""
			}
		}
		return false, fmt.Sprintf("device %s not listed as seen: %s", dev.ID, body)
	})
	token, _ := os.ReadFile(deviceFile)
	pid := servicePID(t)

	// Upgrade: the same config and device token, one restart.
	out = must(t, pkgEnv(), "dpkg", "-i", a.agentDebNext)
	t.Logf("dpkg -i (upgrade):\n%s", out)
	if n := strings.Count(out, "restarting the service on the new version"); n != 1 {
		t.Errorf("the upgrade restarted the service %d times, want once", n)
	}
	if st := dpkgStatus("vigil-agent"); st != "ii 1.0.1-1" {
		t.Errorf("after the upgrade: dpkg status %q", st)
	}
	if c, _ := os.ReadFile(agentConf); string(c) != string(conf) {
		t.Errorf("the upgrade changed %s:\n%s", agentConf, c)
	}
	if tk, _ := os.ReadFile(deviceFile); string(tk) != string(token) {
		t.Errorf("the upgrade changed the device token")
	}
	testrig.Eventually(t, 20*time.Second, func() (bool, string) {
		out, err := agentStatus()
		return err == nil && out == "running", fmt.Sprintf("vigil-agent status after the upgrade: %q %v", out, err)
	})
	if p := servicePID(t); p == pid {
		t.Errorf("the service's process group %d was not restarted", pid)
	}
	pid = servicePID(t)

	// Remove: stopped and unregistered; config and device token kept.
	out = must(t, pkgEnv(), "dpkg", "-r", "vigil-agent")
	t.Logf("dpkg -r:\n%s", out)
	wantGone(t, agentBin, agentInit, "/var/run/vigil-agent.pid", "/run/vigil/agent.sock")
	if syscall.Kill(-pid, 0) == nil {
		t.Errorf("the service's process group %d still runs after dpkg -r", pid)
	}
	wantFile(t, agentConf, 0o600)
	wantFile(t, deviceFile, 0o600)

	// Purge: nothing left.
	must(t, pkgEnv(), "dpkg", "--purge", "vigil-agent")
	os.Remove(agentDefaults) // the admin's file, not the package's
	wantGone(t, deviceFile, "/var/lib/vigil", agentConf)
	sameFiles(t, before, snapshot(t))
}

// servicePID is the SysV service's respawn loop (its process group).
func servicePID(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/var/run/vigil-agent.pid")
	if err != nil {
		t.Fatalf("the service's pid file: %v", err)
	}
	var pid int
	if _, err := fmt.Sscan(string(b), &pid); err != nil || pid <= 1 {
		t.Fatalf("the service's pid file holds %q", b)
	}
	return pid
}
