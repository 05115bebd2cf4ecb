//go:build linux

package e2e

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-cc/vigil/internal/e2etest"
	"github.com/vigil-cc/vigil/internal/testrig"
)

var startedLine = regexp.MustCompile(`^vigil-run: started (\S+) \(pid (\d+), process group (\d+)\)`)

// The README's run command on a machine with no display: scripts/run.sh
// (what `make run` calls) with DISPLAY unset, its state in a temporary
// directory and a port of the test's choosing. It is ready within four
// minutes (it builds the binaries first), and within a minute after that
// (T = 30 s) the API shows the demo agent warned, then logged out with their
// conversations rerouted; after SIGINT (Ctrl-C) nothing it started still
// runs and its port is closed.
func TestRunScriptWithoutDisplay(t *testing.T) {
	scenario(t)
	testrig.Require(t, "Xvfb", "openbox", "xdotool", "xprop", "chromium", "pulseaudio", "pactl", "curl", "jq")
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	runDir := t.TempDir()
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)

	cmd := exec.Command(filepath.Join(root, "scripts", "run.sh"))
	cmd.Dir = root
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case k == "DISPLAY", k == "WAYLAND_DISPLAY", k == "XAUTHORITY", k == "PULSE_SERVER", k == "PULSE_RUNTIME_PATH",
			k == "DBUS_SESSION_BUS_ADDRESS", strings.HasPrefix(k, "VIGIL_"):
			continue
		}
		env = append(env, kv)
	}
	cmd.Env = append(env, "VIGIL_RUN_DIR="+runDir, "VIGIL_RUN_PORT="+strconv.Itoa(port),
		"VIGIL_RUN_TIMEOUT=30", "VIGIL_RUN_SKIP_DEPS=1")
	// Its own process group, as a terminal's foreground job would be:
	// Ctrl-C is SIGINT to that group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	out := &testrig.Buffer{}
	groups := map[string]int{}
	var groupsMu sync.Mutex
	ready := make(chan struct{})
	exited := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	go func() {
		sc := bufio.NewScanner(stdout)
		once := false
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(out, line)
			if m := startedLine.FindStringSubmatch(line); m != nil {
				pg, _ := strconv.Atoi(m[3])
				groupsMu.Lock()
				groups[m[1]] = pg
				groupsMu.Unlock()
			}
			if line == "vigil-run: ready" && !once {
				once = true
				close(ready)
			}
		}
		exited <- cmd.Wait()
	}()
	interrupted := false
	t.Cleanup(func() {
		if !interrupted {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
			select {
			case <-exited:
			case <-time.After(20 * time.Second):
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			}
		}
		if t.Failed() {
			t.Logf("run.sh output:\n%s", out.String())
			for _, name := range []string{"coordinator", "agent", "chromium"} {
				b, _ := os.ReadFile(filepath.Join(runDir, "logs", name+".log"))
				t.Logf("%s.log (tail):\n%s", name, e2etest.Tail(string(b), 15))
			}
		}
	})

	select {
	case <-ready:
		t.Logf("ready %.1fs after the start", time.Since(started).Seconds())
	case err := <-exited:
		t.Fatalf("run.sh exited before it was ready: %v", err)
	case <-time.After(4 * time.Minute):
		t.Fatal("run.sh not ready within 4 minutes")
	}
	readyAt := time.Now()
	// What a newcomer sees after the sign-in: the Agent Desk, and no
	// browser bubble or infobar over it (look at the picture).
	shot := filepath.Join(root, "artifacts", "run-script-desk.png")
	if err := os.MkdirAll(filepath.Dir(shot), 0o755); err != nil {
		t.Fatal(err)
	}
	display, err := os.ReadFile(filepath.Join(runDir, "xvfb.display"))
	if err != nil {
		t.Fatalf("the virtual display's number: %v", err)
	}
	if err := testrig.Screenshot(":"+strings.TrimSpace(string(display)), shot); err != nil {
		t.Errorf("screenshot: %v", err)
	} else {
		t.Logf("screenshot: %s", shot)
	}
	groupsMu.Lock()
	want := []string{"xvfb", "openbox", "pulseaudio", "coordinator", "chromium", "agent"}
	for _, name := range want {
		if groups[name] == 0 {
			t.Errorf("run.sh did not report starting %s", name)
		}
	}
	groupsMu.Unlock()
	for _, f := range []string{"data/admin.token", "data/admin.password"} {
		if _, err := os.Stat(filepath.Join(runDir, f)); err != nil {
			t.Errorf("the admin credentials: %v", err)
		}
	}
	for _, s := range []string{base + "/admin/dashboard", base + "/desk/", base + "/api/v1/", "admin.token", "admin.password"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("run.sh does not print %s", s)
		}
	}

	tok, err := os.ReadFile(filepath.Join(runDir, "data", "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(tok))
	auditOf := func() []e2etest.AuditEntry {
		req, _ := http.NewRequest("GET", base+"/api/v1/audit?limit=1000&user=demo", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil
		}
		defer resp.Body.Close()
		var es []e2etest.AuditEntry
		_ = json.NewDecoder(resp.Body).Decode(&es)
		return es
	}
	var warned, out_, rerouted bool
	testrig.Eventually(t, time.Minute, func() (bool, string) {
		for _, e := range auditOf() {
			switch e.Kind {
			case "user.warned":
				warned = true
			case "user.logged_out":
				out_ = warned
			case "conversation.rerouted":
				rerouted = out_
			}
		}
		return warned && out_ && rerouted, fmt.Sprintf("demo warned %v, then logged out %v, with a reroute %v", warned, out_, rerouted)
	})
	t.Logf("demo warned, logged out and rerouted %.1fs after ready", time.Since(readyAt).Seconds())

	// Ctrl-C.
	interrupted = true
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		t.Logf("run.sh exited after SIGINT: %v", err)
	case <-time.After(20 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		t.Fatal("run.sh did not exit within 20 s of SIGINT")
	}
	for name, pg := range groups {
		if err := syscall.Kill(-pg, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("%s's process group %d is still there after SIGINT (%v)", name, pg, err)
			_ = syscall.Kill(-pg, syscall.SIGKILL)
		}
	}
	if conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second); err == nil {
		conn.Close()
		t.Errorf("port %d still open after SIGINT", port)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
