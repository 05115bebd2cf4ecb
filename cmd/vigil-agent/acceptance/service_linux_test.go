//go:build linux

package acceptance

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/vigil-cc/vigil/internal/e2etest"
	"github.com/vigil-cc/vigil/internal/testrig"
	"github.com/vigil-cc/vigil/protocol"
)

// The system service's real paths on this machine (SysV init: no systemd).
const (
	svcInit   = "/etc/init.d/vigil-agent"
	svcConf   = "/etc/vigil/agent.conf"
	svcSocket = "/run/vigil/agent.sock"
	svcPid    = "/var/run/vigil-agent.pid"
	svcErrLog = "/var/log/vigil-agent.err"
	svcState  = "/var/lib/vigil"
)

// forgeEnv makes the test binary a forging helper: run as user A, it
// connects to the service's socket and claims to be the user named here.
const forgeEnv = "VIGIL_TEST_FORGE_USER"

func init() {
	if claimed := os.Getenv(forgeEnv); claimed != "" {
		os.Exit(forge(os.Getenv("VIGIL_TEST_FORGE_SOCKET"), claimed))
	}
}

// forge says hello and session_open{os_user: claimed} over the socket and
// prints what comes back until the service closes the connection.
func forge(socket, claimed string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", socket)
	}}}
	ws, _, err := websocket.Dial(ctx, "ws://vigil-agent.local/agent/v1/ws", &websocket.DialOptions{HTTPClient: client, Subprotocols: []string{protocol.Subprotocol}})
	if err != nil {
		fmt.Println("dial:", err)
		return 1
	}
	defer ws.CloseNow()
	for _, m := range []protocol.Message{
		protocol.Hello{AgentVersion: "forger", OS: protocol.OSLinux, Host: "forger"},
		protocol.SessionOpen{Session: "forged", OSUser: claimed},
		protocol.Reading{Session: "forged", IdleMS: 1},
	} {
		b, _ := protocol.Encode(m)
		if err := ws.Write(ctx, websocket.MessageText, b); err != nil {
			fmt.Println("write:", err)
			break
		}
	}
	for {
		_, data, err := ws.Read(ctx)
		if err != nil {
			fmt.Println("closed:", int(websocket.CloseStatus(err)))
			return 0
		}
		fmt.Println("got:", string(data))
	}
}

// requireRoot fails under CI=true (or VIGIL_REQUIRE_RIG=1) and skips
// otherwise when the test cannot do what it must as root.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if testrig.Strict() {
		t.Fatal("installing the system service needs root; CI=true or VIGIL_REQUIRE_RIG=1 forbids skipping")
	}
	t.Skip("installing the system service needs root; skipping")
}

// testUser is a local user the test creates and removes.
type testUser struct {
	name     string
	uid, gid uint32
}

func addUser(t *testing.T) testUser {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := "vgl" + hex.EncodeToString(b)
	if out, err := exec.Command("useradd", "-m", "-s", "/bin/sh", name).CombinedOutput(); err != nil {
		t.Fatalf("useradd %s: %v\n%s", name, err, out)
	}
	t.Cleanup(func() {
		killUser(uid(name))
		if out, err := exec.Command("userdel", "-r", "-f", name).CombinedOutput(); err != nil {
			t.Errorf("userdel %s: %v\n%s", name, err, out)
		}
	})
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	return testUser{name: name, uid: uint32(uid), gid: uint32(gid)}
}

func uid(name string) uint32 {
	u, err := user.Lookup(name)
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseUint(u.Uid, 10, 32)
	return uint32(n)
}

// killUser kills the processes of a user the test created (by pid), so
// userdel can remove it.
func killUser(uid uint32) {
	if uid < 1000 {
		return
	}
	for range 10 {
		pids := procsOfUID(uid)
		if len(pids) == 0 {
			return
		}
		for _, p := range pids {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func procsOfUID(uid uint32) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		var st syscall.Stat_t
		if syscall.Stat(filepath.Join("/proc", e.Name()), &st) == nil && st.Uid == uid {
			out = append(out, pid)
		}
	}
	return out
}

// runAs starts name args as u with env; cleanup kills it.
func runAs(t *testing.T, u testUser, env []string, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = env
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: u.uid, Gid: u.gid}, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd
}

// helpers maps uid → pids of `<bin> session` processes.
func helpers(bin string) map[uint32][]int { return procsOf(bin, "session") }

// procsOf maps uid → pids of `<bin> <command>` processes.
func procsOf(bin, command string) map[uint32][]int {
	out := map[uint32][]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		if len(args) < 2 || args[0] != bin || args[1] != command {
			continue
		}
		status, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if err != nil {
			continue
		}
		for line := range strings.SplitSeq(string(status), "\n") {
			if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
				f := strings.Fields(rest)
				if uid, err := strconv.ParseUint(f[0], 10, 32); err == nil && len(f) >= 2 && f[1] == f[0] {
					out[uint32(uid)] = append(out[uint32(uid)], pid)
				}
			}
		}
	}
	return out
}

// backupFile moves path aside for the test and puts it back afterwards.
func backupFile(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Lstat(path); err != nil {
		return
	}
	bak := path + ".vigil-test-backup"
	if err := os.Rename(path, bak); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = os.RemoveAll(path)
		_ = os.Rename(bak, path)
	})
}

// The real system service: install, start, status, one helper per desktop
// session as its user, a killed helper restarted, both users' readings on
// one connection to a real coordinator, a forging helper refused and
// logged, stop, uninstall leaving only the config file.
func TestServiceInstallSupervisesSessions(t *testing.T) {
	requireRoot(t)
	testrig.Require(t, "Xvfb", "openbox", "xdotool")
	for _, bin := range []string{"service", "useradd", "userdel"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s missing: %v", bin, err)
		}
	}
	// The package tests in installer/ install the same service.
	testrig.SystemLock(t, "system-service")
	if _, err := os.Stat(svcInit); err == nil {
		t.Fatalf("%s exists: a vigil-agent service is installed on this machine; not touching it", svcInit)
	}
	t0 := time.Now()

	// The binary where the helpers' users can run it.
	binDir, err := os.MkdirTemp("", "vigil-agent-service-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(binDir) })
	if err := os.Chmod(binDir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(binDir, "vigil-agent")
	copyFile(t, agentBinary(t, raceBuild), bin, 0o755)
	forger := filepath.Join(binDir, "forger")
	self, _ := os.Executable()
	copyFile(t, self, forger, 0o755)

	co := startCoordinator(t)
	token := co.EnrollmentToken(5)
	a, b := addUser(t), addUser(t)
	co.DeskLogin(a.name)
	co.DeskLogin(b.name)

	backupFile(t, svcConf)
	backupFile(t, svcState)
	t.Cleanup(func() { _ = os.Remove(svcConf); _ = os.Remove(filepath.Dir(svcConf)); _ = os.RemoveAll(svcState) })

	run := func(args ...string) (string, error) {
		cmd := exec.Command(bin, args...)
		cmd.Env = e2etest.AgentEnv()
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	// Registered before install: runs after everything registered later
	// (LIFO) except the users' removal and the coordinator's stop.
	t.Cleanup(func() {
		if _, err := os.Stat(svcInit); err == nil {
			if t.Failed() {
				if b, err := os.ReadFile(svcErrLog); err == nil {
					t.Logf("service log:\n%s", b)
				}
			}
			if out, err := run("uninstall"); err != nil {
				t.Errorf("uninstall in cleanup: %v\n%s", err, out)
			}
		}
	})

	if out, err := run("install", "--coordinator", "ws://"+co.Addr, "--enroll-token", token, "--mic=false"); err != nil {
		t.Fatalf("install: %v\n%s", err, out)
	}
	if fi, err := os.Stat(svcConf); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("config %s: %v %v", svcConf, fi, err)
	}
	if _, err := os.Stat(svcInit); err != nil {
		t.Fatalf("install wrote no init script: %v", err)
	}
	if out, err := run("start"); err != nil {
		t.Fatalf("start: %v\n%s", err, out)
	}
	testrig.Eventually(t, 10*time.Second, func() (bool, string) {
		out, err := run("status")
		return err == nil && strings.HasPrefix(out, "running\n"), "status: " + out
	})
	t.Logf("installed and running after %v", time.Since(t0).Round(time.Millisecond))

	// Two desktop sessions: an Xvfb each, and a long-running process of
	// each user on it, as a login session would have.
	xa, xb := testrig.Display(t), testrig.Display(t)
	runAs(t, a, []string{"DISPLAY=" + xa.Name, "HOME=/"}, "sleep", "600")
	runAs(t, b, []string{"DISPLAY=" + xb.Name, "HOME=/"}, "sleep", "600")

	// One helper per session, as its user.
	testrig.Eventually(t, 15*time.Second, func() (bool, string) {
		h := helpers(bin)
		return len(h[a.uid]) == 1 && len(h[b.uid]) == 1, fmt.Sprintf("helpers by uid: %v", h)
	})
	// Both users' readings reach the coordinator on the device's one
	// connection, stamped with the right OS users.
	var device string
	testrig.Eventually(t, 20*time.Second, func() (bool, string) {
		ua, ub := co.User(a.name), co.User(b.name)
		ss := co.Hub.Sessions()
		byUser := map[string]string{}
		devs := map[string]bool{}
		for _, s := range ss {
			byUser[s.DeskUser] = s.OSUser
			devs[s.DeviceID] = true
			device = s.DeviceID
		}
		ok := ua.Sensor.Status == "live" && ub.Sensor.Status == "live" && ua.Sensor.Host != "" && ua.Sensor.Host == ub.Sensor.Host &&
			byUser[a.name] == a.name && byUser[b.name] == b.name && len(devs) == 1
		return ok, fmt.Sprintf("users %+v %+v, sessions %+v", ua, ub, ss)
	})
	t.Logf("both sessions live on device %s after %v", device, time.Since(t0).Round(time.Millisecond))
	if fi, err := os.Stat(filepath.Join(svcState, "device.json")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the service's device token: %v %v (want mode 0600)", fi, err)
	}

	// A killed helper is back within 5 s.
	old := helpers(bin)[a.uid][0]
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	testrig.Eventually(t, 5*time.Second, func() (bool, string) {
		h := helpers(bin)[a.uid]
		return len(h) == 1 && h[0] != old, fmt.Sprintf("helpers of %s: %v (killed %d)", a.name, h, old)
	})
	t.Logf("killed helper restarted after %v", time.Since(killed).Round(time.Millisecond))
	testrig.Eventually(t, 10*time.Second, func() (bool, string) {
		u := co.User(a.name)
		return u.Sensor.Status == "live", fmt.Sprintf("%+v", u)
	})

	// The service killed: the init script's respawn loop starts it again,
	// with new helpers, and both users are back.
	svcPids := procsOf(bin, "service")[0]
	if len(svcPids) != 1 {
		t.Fatalf("service processes: %v", svcPids)
	}
	if err := syscall.Kill(svcPids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed = time.Now()
	testrig.Eventually(t, 15*time.Second, func() (bool, string) {
		p, h := procsOf(bin, "service")[0], helpers(bin)
		return len(p) == 1 && p[0] != svcPids[0] && len(h[a.uid]) == 1 && len(h[b.uid]) == 1,
			fmt.Sprintf("service %v (killed %d), helpers %v", p, svcPids[0], h)
	})
	testrig.Eventually(t, 15*time.Second, func() (bool, string) {
		ua, ub := co.User(a.name), co.User(b.name)
		return ua.Sensor.Status == "live" && ub.Sensor.Status == "live" && len(co.Hub.Sessions()) == 2, fmt.Sprintf("%+v %+v", ua, ub)
	})
	t.Logf("killed service respawned with both sessions live after %v", time.Since(killed).Round(time.Millisecond))

	// User A claiming to be user B is refused, and the refusal logged.
	cmd := exec.Command(forger)
	cmd.Env = []string{forgeEnv + "=" + b.name, "VIGIL_TEST_FORGE_SOCKET=" + svcSocket}
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: a.uid, Gid: a.gid}}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), `"type":"session_refused"`) || !strings.Contains(string(out), "closed: 1008") {
		t.Errorf("forging helper: %v\n%s", err, out)
	}
	testrig.Eventually(t, 5*time.Second, func() (bool, string) {
		log, _ := os.ReadFile(svcErrLog)
		for line := range strings.SplitSeq(string(log), "\n") {
			if strings.Contains(line, "refused a helper claiming another user") &&
				strings.Contains(line, fmt.Sprintf("peer_uid=%d", a.uid)) && strings.Contains(line, "claimed_user="+b.name) {
				return true, ""
			}
		}
		return false, "no refusal in " + svcErrLog
	})
	for _, s := range co.Hub.Sessions() {
		if s.DeskUser == b.name && s.OSUser != b.name {
			t.Errorf("a forged session reached the coordinator: %+v", s)
		}
	}

	// Restart: running again, with its helpers.
	if out, err := run("restart"); err != nil {
		t.Fatalf("restart: %v\n%s", err, out)
	}
	testrig.Eventually(t, 15*time.Second, func() (bool, string) {
		out, err := run("status")
		h := helpers(bin)
		return err == nil && strings.HasPrefix(out, "running\n") && len(h[a.uid]) == 1 && len(h[b.uid]) == 1,
			fmt.Sprintf("status %q, helpers %v", out, h)
	})

	// Stop, uninstall: nothing left but the config file.
	if out, err := run("stop"); err != nil {
		t.Fatalf("stop: %v\n%s", err, out)
	}
	if out, err := run("status"); err == nil || !strings.HasPrefix(out, "stopped\n") {
		t.Errorf("status after stop: %v %q", err, out)
	}
	if h := helpers(bin); len(h) != 0 {
		log, _ := os.ReadFile(svcErrLog)
		t.Errorf("helpers left after stop: %v\n%s", h, log)
	}
	if out, err := run("uninstall"); err != nil {
		t.Fatalf("uninstall: %v\n%s", err, out)
	}
	var left []string
	for _, p := range []string{svcInit, svcSocket, svcPid, filepath.Join(svcState, "device.json")} {
		if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
			left = append(left, p)
		}
	}
	for _, g := range []string{"/etc/rc?.d/*vigil-agent*", "/var/log/vigil-agent*", "/var/log/vigil/*"} {
		m, _ := filepath.Glob(g)
		left = append(left, m...)
	}
	if len(left) > 0 {
		t.Errorf("left behind after uninstall: %v", left)
	}
	if _, err := os.Stat(svcConf); err != nil {
		t.Errorf("the config file should stay: %v", err)
	}
	t.Logf("service test took %v", time.Since(t0).Round(time.Millisecond))
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}
