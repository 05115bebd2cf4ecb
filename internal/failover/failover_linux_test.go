package failover

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vigil-cc/vigil/internal/loadgen"
	"github.com/vigil-cc/vigil/internal/pgtest"
	"github.com/vigil-cc/vigil/protocol"
)

const admin = "vgl_api_failover-test-admin-token-of-32"

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// replica is a vigil-coordinator process on the shared database.
type replica struct {
	t      *testing.T
	name   string
	addr   string // 127.0.0.1:port, fixed across restarts
	cmd    *exec.Cmd
	exited chan struct{}
	log    *os.File
}

func buildCoordinator(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "vigil-coordinator")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/vigil-cc/vigil/cmd/vigil-coordinator")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the coordinator: %v\n%s", err, out)
	}
	return bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// start runs the replica's process (again).
func (r *replica) start(bin, db string) {
	r.t.Helper()
	dir := filepath.Join(r.t.TempDir(), r.name)
	cmd := exec.Command(bin, "--listen", r.addr, "--data-dir", dir, "--admin-token", admin, "--log-level", "info")
	cmd.Env = append(os.Environ(), "VIGIL_DATABASE_URL="+db)
	logf, err := os.OpenFile(filepath.Join(r.t.TempDir(), r.name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		r.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	r.cmd, r.log, r.exited = cmd, logf, make(chan struct{})
	go func(exited chan struct{}) { _ = cmd.Wait(); close(exited) }(r.exited)
	r.t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGCONT)
		_ = cmd.Process.Kill()
		<-r.exited
		logf.Close()
	})
}

func (r *replica) url() string { return "http://" + r.addr }

// ready is the replica's /readyz status (0: no answer).
func (r *replica) ready() int {
	c := http.Client{Timeout: 500 * time.Millisecond}
	resp, err := c.Get(r.url() + "/readyz")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// waitReady polls /readyz every 50 ms until it answers code; when it did.
func (r *replica) waitReady(code int, within time.Duration) time.Time {
	r.t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if r.ready() == code {
			return time.Now()
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.t.Fatalf("%s: /readyz not %d within %v (log: %s)", r.name, code, within, tail(r.log.Name()))
	return time.Time{}
}

func (r *replica) signal(s syscall.Signal) {
	r.t.Helper()
	if err := r.cmd.Process.Signal(s); err != nil {
		r.t.Fatalf("%s: %v: %v", r.name, s, err)
	}
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(len(lines)-15, 0):], "\n")
}

// grep is path's lines that contain any of words.
func grep(path string, words ...string) []string {
	b, _ := os.ReadFile(path)
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		for _, w := range words {
			if strings.Contains(l, w) {
				out = append(out, l)
				break
			}
		}
	}
	return out
}

// allOn waits until every agent is connected to url; when they were.
func allOn(t *testing.T, g *loadgen.Gen, url string, within time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		on := 0
		states := g.Agents()
		for _, s := range states {
			if s.URL == url {
				on++
			}
		}
		if on == len(states) {
			return time.Now()
		}
		if time.Now().After(deadline) {
			sample, _ := json.Marshal(states[:3])
			t.Fatalf("%d of %d agents connected to %s after %v; e.g. %s", on, len(states), url, within, sample)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// nextURL moves an agent as the real one does (agent/uplink): after a
// standby's close (4005) to the replica whose address it names, after any
// other end to the next replica.
func nextURL(urls []string) func(current string, code int, reason string) string {
	return func(current string, code int, reason string) string {
		if code == protocol.CloseNotLeader {
			for _, u := range urls {
				if strings.Contains(reason, "://"+strings.TrimPrefix(u, "http://")) {
					return u
				}
			}
		}
		for i, u := range urls {
			if u == current {
				return urls[(i+1)%len(urls)]
			}
		}
		return urls[0]
	}
}

type auditRow struct {
	id     int64
	at     time.Time
	kind   string
	user   string
	detail map[string]any
}

func audit(t *testing.T, db string) []auditRow {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	rows, err := c.Query(ctx, "SELECT id, at, kind, user_name, COALESCE(detail, '{}') FROM audit ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []auditRow
	for rows.Next() {
		var r auditRow
		var ms int64
		var detail string
		if err := rows.Scan(&r.id, &ms, &r.kind, &r.user, &detail); err != nil {
			t.Fatal(err)
		}
		r.at = time.UnixMilli(ms)
		_ = json.Unmarshal([]byte(detail), &r.detail)
		out = append(out, r)
	}
	return out
}

func epochOf(r auditRow) int64 {
	e, _ := r.detail["epoch"].(float64)
	return int64(e)
}

// grace is the coordinators' heartbeat grace (their default): after a
// takeover no warning or logout is decided for a user until their agent
// reported again or this long has passed.
const grace = 45 * time.Second

// gap is an outage: the leader killed or paused at from, the standby
// leading at led.
type gap struct{ from, led time.Time }

// The acceptance: two replicas on one PostgreSQL, 1,000 agents. SIGKILL of
// the leader: the standby leads within 15 s and every agent is connected
// to it within 60 s. SIGSTOP of the new leader past its lease, the first
// (restarted) taking over, then SIGCONT: the paused one records no decision
// and steps down. Nobody is warned or logged out early or falsely; the
// decisions due in the gaps come after the takeovers; each is recorded once.
func TestFailover(t *testing.T) {
	if !pgtest.Selected() {
		t.Skip("replicas need PostgreSQL (VIGIL_TEST_STORE=postgres)")
	}
	agents := 1000
	if n, err := strconv.Atoi(os.Getenv("VIGIL_FAILOVER_AGENTS")); err == nil && n > 0 {
		agents = n // a smaller run while working on it
	}
	const timeout = 30 * time.Second
	db := pgtest.Database(t)
	bin := buildCoordinator(t)
	a := &replica{t: t, name: "a", addr: freeAddr(t)}
	b := &replica{t: t, name: "b", addr: freeAddr(t)}
	a.start(bin, db)
	a.waitReady(http.StatusOK, 20*time.Second)
	b.start(bin, db)
	b.waitReady(http.StatusServiceUnavailable, 20*time.Second)

	runs := 1
	if n, err := strconv.Atoi(os.Getenv("VIGIL_FAILOVER_RUNS")); err == nil && n > 1 {
		runs = n
	}
	held := make(chan struct{})
	g, err := loadgen.New(loadgen.Config{
		URLs:                   []string{a.url(), b.url()},
		AdminToken:             admin,
		Agents:                 agents,
		Timeout:                timeout,
		IdleShare:              0.1,
		WalkSpread:             20 * time.Second,
		ConversationsPerMinute: -1,
		Sources:                loadgen.Loopbacks(2),
		Duration:               time.Duration(90+50*runs) * time.Second,
		Hold:                   func() error { close(held); return nil },
		NextURL:                nextURL([]string{a.url(), b.url()}),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	var rep loadgen.Report
	var runErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		rep, runErr = g.Run(ctx)
	}()
	select {
	case <-held:
	case <-time.After(5 * time.Minute):
		t.Fatal("the agents did not connect within 5 minutes")
	}
	window := time.Now()
	t.Logf("%d agents connected to a", agents)

	// SIGKILL of the leader, 30 s into the window: the walk-aways of its
	// first 10 s have their warnings or logouts due in the gap. (With
	// VIGIL_FAILOVER_RUNS, the leader is killed again each 50 s and the
	// dead replica restarted as the standby.)
	leader, standby := a, b
	var took, reached []time.Duration
	var gaps []gap // each outage: from the kill or pause to the lead
	for run := 0; run < runs; run++ {
		time.Sleep(time.Until(window.Add(30*time.Second + time.Duration(run)*50*time.Second)))
		killed := time.Now()
		leader.signal(syscall.SIGKILL)
		<-leader.exited
		led := standby.waitReady(http.StatusOK, 20*time.Second)
		defer func(r *replica) {
			if t.Failed() {
				t.Logf("%s's log:\n%s", r.name, tail(r.log.Name()))
			}
		}(standby)
		all := allOn(t, g, standby.url(), 60*time.Second)
		took, reached = append(took, led.Sub(killed)), append(reached, all.Sub(killed))
		gaps = append(gaps, gap{killed, led})
		t.Logf("failover %d: %s leads %.1f s after the SIGKILL; every agent on it after %.1f s",
			run+1, standby.name, led.Sub(killed).Seconds(), all.Sub(killed).Seconds())
		if d := led.Sub(killed); d > 15*time.Second {
			t.Errorf("the standby led %.1f s after the SIGKILL, want ≤ 15 s", d.Seconds())
		}
		leader.start(bin, db)
		leader.waitReady(http.StatusServiceUnavailable, 20*time.Second)
		leader, standby = standby, leader
	}
	if runs > 1 {
		sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
		sort.Slice(reached, func(i, j int) bool { return reached[i] < reached[j] })
		t.Logf("failover over %d runs: standby leads median %.1f s worst %.1f s; all agents on it median %.1f s worst %.1f s",
			runs, took[runs/2].Seconds(), took[runs-1].Seconds(), reached[runs/2].Seconds(), reached[runs-1].Seconds())
	}

	// SIGSTOP of the leader until its lease lapses and the standby leads,
	// then SIGCONT: it must record nothing more and step down.
	stopped := time.Now()
	leader.signal(syscall.SIGSTOP)
	led := standby.waitReady(http.StatusOK, 30*time.Second)
	gaps = append(gaps, gap{stopped, led})
	t.Logf("%s paused: %s leads after %.1f s", leader.name, standby.name, led.Sub(stopped).Seconds())
	time.Sleep(2 * time.Second) // the new leader records decisions meanwhile
	resumed := time.Now()
	leader.signal(syscall.SIGCONT)
	stepped := leader.waitReady(http.StatusServiceUnavailable, 15*time.Second)
	t.Logf("%s resumed: stepped down after %.1f s", leader.name, stepped.Sub(resumed).Seconds())
	all := allOn(t, g, standby.url(), 60*time.Second)
	t.Logf("every agent on %s %.1f s after the resume", standby.name, all.Sub(resumed).Seconds())

	wg.Wait()
	if runErr != nil {
		t.Fatal(runErr)
	}
	if testing.Verbose() {
		rep.Print(t.Output())
	}
	t.Logf("decisions: warn p50 %v p99 %v max %v; logout p50 %v p99 %v max %v; late %d early %d missed %d; errors %d",
		rep.Warn.P50, rep.Warn.P99, rep.Warn.Max, rep.Logout.P50, rep.Logout.P99, rep.Logout.Max, rep.Late, rep.Early, rep.Missed, rep.ErrorCount)
	if rep.Early > 0 || rep.ActiveWarned > 0 || rep.ActiveLoggedOut > 0 {
		t.Errorf("early decisions %d, active agents warned %d, logged out %d: want none", rep.Early, rep.ActiveWarned, rep.ActiveLoggedOut)
	}
	if rep.Missed > 0 {
		// Every decision reaches the agent: one bound when it is made gets
		// it then; one reconnecting later gets the warning still showing,
		// or the logout made meanwhile (hub, on binding the session).
		t.Errorf("%d idle cycles' warning or logout did not reach the simulated agent", rep.Missed)
	}
	for _, r := range []*replica{a, b} {
		for _, line := range grep(r.log.Name(), "restored clocks", "\"leading\"", "stepped down", "logged out while no agent", "told a reconnecting") {
			t.Logf("%s: %s", r.name, line)
		}
	}
	gapped, shown := 0, 0
	rel := func(x time.Time) string {
		if x.IsZero() {
			return "never"
		}
		return fmt.Sprintf("%+.1fs", x.Sub(window).Seconds())
	}
	t.Logf("(times from the window's start: kill +30 s, pause %s, resume %s)", rel(stopped), rel(resumed))
	for _, s := range rep.States {
		for _, c := range s.Cycles {
			if (c.Warned.IsZero() || c.LoggedOut.IsZero()) && c.LogoutDue.Before(window.Add(rep.Window-2*time.Second)) && shown < 5 {
				shown++
				t.Logf("%s: input %s, warning due %s came %s, logout due %s came %s; last connect %s; %d connections, %d warnings, %d logouts",
					s.User, rel(c.Input), rel(c.WarnDue), rel(c.Warned), rel(c.LogoutDue), rel(c.LoggedOut), rel(s.LastConnect), s.Connects, s.Warnings, s.Logouts)
				for _, e := range s.Ends {
					t.Logf("  connection to %s ended %s (served %v): %d %s", e.URL, rel(e.At), e.Served, e.Code, e.Err)
				}
			}
			if !c.WarnDue.Before(window.Add(30*time.Second)) && c.WarnDue.Before(window.Add(45*time.Second)) && !c.Warned.IsZero() {
				gapped++
			}
		}
	}
	t.Logf("%d warnings were due in the first failover's gap and came after it", gapped)

	// Fencing and exactly once, from the audit; every logout due before
	// the end, in a gap or not, recorded.
	rows := audit(t, db)

	// Each warning and logout due in an outage is recorded by the new
	// leader within the takeover: once the user's agent has reported again
	// (it may have had input meanwhile), at the latest when the heartbeat
	// grace since the lead has passed (the restart rule).
	inGap := 0
	for _, s := range rep.States {
		for _, c := range s.Cycles {
			for _, d := range []struct {
				due  time.Time
				kind string
			}{{c.WarnDue, "user.warned"}, {c.LogoutDue, "user.logged_out"}} {
				for _, g := range gaps {
					if d.due.Before(g.from) || !d.due.Before(g.led) {
						continue
					}
					inGap++
					by := g.led.Add(grace + time.Second)
					found := false
					for _, r := range rows {
						if r.user == s.User && r.kind == d.kind && !r.at.Before(d.due.Add(-time.Second)) && !r.at.After(by) {
							found = true
							break
						}
					}
					if !found {
						t.Errorf("%s: %s due %s, in the outage %s–%s, not recorded by %s", s.User, d.kind, rel(d.due), rel(g.from), rel(g.led), rel(by))
					}
				}
			}
		}
	}
	t.Logf("%d warnings and logouts were due in the outages, each recorded within the takeover", inGap)
	outs := map[string]int{}
	for _, r := range rows {
		if r.kind == "user.logged_out" {
			outs[r.user]++
		}
	}
	for _, s := range rep.States {
		due := 0
		for _, c := range s.Cycles {
			// Each outage (a gap, then at most the heartbeat grace of the
			// restart hold) postpones a decision: count those due well
			// before the end.
			if c.LogoutDue.Before(window.Add(rep.Window - 75*time.Second)) {
				due++
			}
		}
		if outs[s.User] < due {
			t.Errorf("%s: %d logouts recorded, %d due before the end", s.User, outs[s.User], due)
		}
	}
	dumped := 0
	for _, s := range rep.States {
		for _, c := range s.Cycles {
			if (c.Warned.IsZero() || c.LoggedOut.IsZero()) && c.LogoutDue.Before(window.Add(rep.Window-2*time.Second)) && dumped < 5 {
				dumped++
				for _, r := range rows {
					if r.user == s.User {
						t.Logf("  audit %s: %s %s %v", s.User, rel(r.at), r.kind, r.detail)
					}
				}
				break
			}
		}
	}
	var pausedEpoch int64
	leaders := map[int64]string{}
	for _, r := range rows {
		if r.kind == "coordinator.leader" {
			leaders[epochOf(r)], _ = r.detail["address"].(string)
		}
	}
	for e, addr := range leaders {
		if addr == "ws://"+leader.addr && e > pausedEpoch {
			pausedEpoch = e
		}
	}
	if len(leaders) != runs+2 || pausedEpoch == 0 {
		t.Fatalf("takeovers audited: %v; want %d (the paused leader's epoch among them)", leaders, runs+2)
	}
	lastOut := map[string]time.Time{}
	warned := map[string]bool{}
	for _, r := range rows {
		switch r.kind {
		case "user.warned", "user.logged_out", "user.warning_withdrawn", "sensor.lost":
		default:
			continue
		}
		e := epochOf(r)
		if e == 0 {
			t.Errorf("decision %d (%s of %s) names no leader epoch", r.id, r.kind, r.user)
		}
		if e == pausedEpoch && !r.at.Before(resumed) {
			t.Errorf("the paused leader (epoch %d) recorded %s of %s at %v, after its SIGCONT", e, r.kind, r.user, r.at)
		}
		switch r.kind {
		case "user.logged_out":
			if prev, ok := lastOut[r.user]; ok && r.at.Sub(prev) < timeout {
				t.Errorf("%s logged out twice within T: %v and %v", r.user, prev, r.at)
			}
			lastOut[r.user] = r.at
		case "user.warned":
			key := fmt.Sprint(r.user, e, r.detail["deadline"])
			if warned[key] {
				t.Errorf("%s's warning (deadline %v) recorded twice by epoch %d", r.user, r.detail["deadline"], e)
			}
			warned[key] = true
		}
	}
}
