package coordinator_test

import (
	"bufio"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-cc/vigil/coordinator/controller/webhook/verify"
	"github.com/vigil-cc/vigil/internal/testrig"
)

// buildCoordinator builds cmd/vigil-coordinator into a temporary directory.
func buildCoordinator(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build the coordinator with")
	}
	bin := filepath.Join(t.TempDir(), "vigil-coordinator")
	cmd := exec.Command(goBin, "build", "-o", bin, "github.com/vigil-cc/vigil/cmd/vigil-coordinator")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the coordinator: %v\n%s", err, out)
	}
	return bin
}

// process is a vigil-coordinator running as a real process.
type process struct {
	cmd    *exec.Cmd
	addr   string
	exited chan struct{}
}

var listeningRE = regexp.MustCompile(`msg="coordinator listening" addr=(\S+)`)

// startProcess starts bin with env and waits until it listens.
func startProcess(t *testing.T, bin string, env []string) *process {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, exited: make(chan struct{})}
	addr := make(chan string, 1)
	go func() {
		// Read to the end before Wait, which closes the pipe.
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if testing.Verbose() {
				t.Log(sc.Text())
			}
			if m := listeningRE.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		_ = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.exited
	})
	select {
	case p.addr = <-addr:
	case <-p.exited:
		t.Fatal("the coordinator exited at start")
	case <-time.After(30 * time.Second):
		t.Fatal("the coordinator did not listen within 30 s")
	}
	return p
}

func (p *process) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.exited
}

// TestWebhookDeliveredAfterSIGKILL runs the coordinator as a real process
// with the webhook controller. The engine warns and logs out jane while the
// platform's receiver hangs; the coordinator is killed with SIGKILL before
// anything is delivered, restarted on the same data directory, and then
// delivers both events, each handled once.
func TestWebhookDeliveredAfterSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the coordinator and waits 30 s for a logout")
	}
	t.Parallel()
	bin := buildCoordinator(t)

	const secret = "kill-test-secret-0123456789"
	var mu sync.Mutex
	handled := map[string][]verify.Event{}
	v := &verify.Verifier{Secrets: []string{secret}, Keys: &verify.MemoryKeys{}}
	inner := v.Handler(func(ev verify.Event) error {
		mu.Lock()
		defer mu.Unlock()
		handled[ev.ID] = append(handled[ev.ID], ev)
		return nil
	})
	hang := make(chan struct{}) // closed: the receiver works again
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		default:
			select {
			case <-hang:
			case <-r.Context().Done(): // the sender died
				return
			}
		}
		inner.ServeHTTP(w, r)
	}))
	defer srv.Close()

	dir := t.TempDir()
	env := []string{
		"VIGIL_LISTEN=127.0.0.1:0", "VIGIL_DATA_DIR=" + dir, "VIGIL_ADMIN_TOKEN=" + adminToken,
		"VIGIL_CONTROLLER=webhook", "VIGIL_WEBHOOK_URL=" + srv.URL, "VIGIL_WEBHOOK_SECRET=" + secret,
	}
	p := startProcess(t, bin, env)
	s := &testServer{t: t, addr: p.addr}
	s.setTimeout(30)
	s.mustCall("POST", "/api/v1/desk/login", map[string]string{"user": "jane"})
	testrig.Eventually(t, 40*time.Second, func() (bool, string) { return len(s.audit("user=jane&kind=user.logged_out")) == 1, "jane's logout" })
	out := s.mustCall("GET", "/api/v1/outbox", nil)
	if out["controller"] != "webhook" || out["backlog"] != float64(2) {
		t.Fatalf("outbox before the kill: %v, want 2 events pending", out)
	}
	p.kill(t)
	mu.Lock()
	if len(handled) != 0 {
		t.Fatalf("delivered before the kill: %v", handled)
	}
	mu.Unlock()

	close(hang)
	p = startProcess(t, bin, env)
	s = &testServer{t: t, addr: p.addr}
	testrig.Eventually(t, 15*time.Second, func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return len(handled) == 2, "both events after the restart"
	})
	testrig.Eventually(t, 5*time.Second, func() (bool, string) {
		return s.mustCall("GET", "/api/v1/outbox", nil)["backlog"] == float64(0), "an empty backlog"
	})

	mu.Lock()
	defer mu.Unlock()
	types := map[string]bool{}
	for id, evs := range handled {
		if len(evs) != 1 || evs[0].User != "jane" || evs[0].ID != id {
			t.Errorf("event %s handled as %+v", id, evs)
		}
		types[evs[0].Type] = true
	}
	if !types["user.warned"] || !types["user.logged_out"] {
		t.Errorf("handled %v, want user.warned and user.logged_out", types)
	}
	// Stop the restarted coordinator cleanly.
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		t.Error("the coordinator did not stop on SIGTERM")
	}
	if st := p.cmd.ProcessState; st == nil || !st.Success() {
		t.Errorf("the coordinator stopped with %v, want exit status 0", st)
	}
}
