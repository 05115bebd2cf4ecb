//go:build linux

package e2e

// One user on several workstations (DESIGN §1, Identity), and a
// coordinator restart with input during the outage (§1, Restart): issue
// #15's end-to-end acceptance. Each workstation is a seat of the rig: its
// own Xvfb display, PulseAudio, session bus and real vigil-agent, which
// runs in a UTS namespace of its own so that it reports its own host name
// (hostA, hostB). Every agent runs as this OS user, mapped to ann.

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-cc/vigil/internal/e2etest"
	"github.com/vigil-cc/vigil/internal/testrig"
)

// The two workstations' host names.
const (
	hostA = "ws-desk-a"
	hostB = "ws-desk-b"
)

// (a) ann's desktop session is also open on B, where another application
// is in front and the Agent Desk never shows. B's agent is accepted (no
// refusal), but B never showed the Agent Desk, so it can neither pause the
// clock nor take the desk: when the agent at the Agent Desk (A) is killed
// with SIGKILL at I = 5 s, the clock counts on: warning at 24 s, logout at
// 30 s, and B's workstation shows the warning.
func TestDeskAgentKilledOtherSession(t *testing.T) {
	scenario(t)
	r := newRigWith(t, e2etest.RigOptions{Timeout: 30, Host: hostA})
	waitUser(t, r, "the desk on A, one live session", func(u e2etest.User) bool { return u.DeskHost == hostA && u.LiveSessions == 1 })

	b := r.AddSeat(e2etest.SeatOptions{Host: hostB})
	other := b.X.XMessage(t, "Other application")
	b.X.Activate(t, other)
	r.Input("mouse") // a slow start of B (a loaded machine) is no inactivity
	r.StartAgent(b)
	waitUser(t, r, "B's session live beside A's, the desk still on A", func(u e2etest.User) bool {
		return u.LiveSessions == 2 && u.DeskHost == hostA && u.State == "active"
	})

	t0 := r.Input("mouse")
	e2etest.SleepUntil(t0.Add(5 * time.Second))
	killed := e2etest.Midst(func() {
		if err := r.Agent.Cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-r.Agent.Exited
	})
	t.Logf("A's agent killed %.3fs after t0", killed.Sub(t0).Seconds())

	warned := r.WaitAudit("user.warned", 0, 30*time.Second)
	record(t, "warning (24 s)", t0, t0.Add(24*time.Second), warned.At, tolerance)
	// The warning goes to every live session of the user: B's is the one
	// left.
	testrig.Eventually(t, 3*time.Second, func() (bool, string) {
		for _, c := range b.Notes.Calls() {
			if c.Method == "Notify" && !c.At.Before(warned.At.Add(-tolerance)) {
				return true, ""
			}
		}
		return false, fmt.Sprintf("B shows no warning; its notification calls: %+v", b.Notes.Calls())
	})
	out := r.WaitAudit("user.logged_out", warned.ID, 10*time.Second)
	record(t, "logout (30 s)", t0, t0.Add(30*time.Second), out.At, tolerance)
	for _, m := range deskMoves(t, r.Co) {
		if m.ToHost == hostB {
			t.Errorf("the desk moved to B, which never showed the Agent Desk: %+v", m)
		}
	}
	noRefusal(t, r.Co, r.Seat, b)
}

// (b) Hot-desking: ann moves from A, whose Agent Desk stays idle in front,
// to B, signs in to the Agent Desk there and works at B for 90 s, input
// every 5 s: never warned; the desk session moves to B and the audit says
// so with both hosts. For the first 45 s the input is the mouse beside B's
// browser window, which only B's agent sees (the page gets no event, so
// its own input reports cannot be what keeps ann in); then keys typed into
// B's Agent Desk.
func TestDeskHotDeskMovesToB(t *testing.T) {
	scenario(t)
	r := newRigWith(t, e2etest.RigOptions{Timeout: 30, Host: hostA})
	waitUser(t, r, "the desk on A", func(u e2etest.User) bool { return u.DeskHost == hostA && u.LiveSessions == 1 })

	b := r.AddSeat(e2etest.SeatOptions{Host: hostB, Page: r.Co.Base + "/desk/"})
	bDesk := openDesk(t, b)
	r.Input("mouse") // ann's last input at A
	r.StartAgent(b)
	waitUser(t, r, "B's session live beside A's", func(u e2etest.User) bool { return u.LiveSessions == 2 })
	bDesk.typeSignIn(r.Co, agentName, agentPassword)
	b.X.MustXdotool(t, "mousemove", "--sync", "1200", "780") // beside the window

	h0 := b.Input("mouse")
	mark := r.LastID()
	t.Logf("hot-desking from entry %d; A idle for %v", mark, r.Idle().Round(time.Millisecond))
	for i := 1; i <= 18; i++ {
		e2etest.SleepUntil(h0.Add(time.Duration(i) * 5 * time.Second))
		kind := "mouse"
		if i > 9 {
			kind = "key"
		}
		b.Input(kind)
		if r.NoneOf(mark, "user.warned", "user.logged_out"); t.Failed() {
			t.Fatalf("warned while working at B (input %d, %s, %.1fs after the start)", i, kind, time.Since(h0).Seconds())
		}
	}
	if idle := r.Idle(); idle < 90*time.Second {
		t.Errorf("A's display had input %v ago: A's Agent Desk was not idle throughout", idle)
	}
	r.NoneOf(mark, "user.warned", "user.logged_out")

	var moved *deskMove
	for _, m := range deskMoves(t, r.Co) {
		if m.FromHost == hostA && m.ToHost == hostB {
			moved = &m
			break
		}
	}
	if moved == nil {
		t.Errorf("no sensor.desk_moved from %s to %s: %s", hostA, hostB, e2etest.Kinds(auditKind(t, r.Co, "sensor.desk_moved")))
	} else {
		t.Logf("desk moved A → B %.3fs after the hot-desking started: %s", moved.At.Sub(h0).Seconds(), moved.raw)
	}
	if u := r.Co.User(agentName); u.DeskHost != hostB || u.LiveSessions != 2 || u.State != "active" {
		t.Errorf("after 90 s at B ann is %+v, want active, the desk on %s, 2 live sessions", u, hostB)
	}
	noRefusal(t, r.Co, r.Seat, b)
}

// (d) The coordinator is killed with SIGKILL at I = 20 s (T = 30), ann
// types during the outage, and the coordinator is back 3 s after the kill.
// The agent is held off (a proxy refusing it) until 6 s after the restart,
// so that the clock restored at about 20 s would reach the warning before
// the sensor reports again: no warning or logout comes before that report,
// and the input during the outage counts at the restart, so the warning
// comes 24 s after the coordinator came back, the logout 30 s after.
func TestRestartOutageInputCounts(t *testing.T) {
	scenario(t)
	proxy := e2etest.StartRecorder(t)
	r := newRigWith(t, e2etest.RigOptions{Timeout: 30, CoordBin: builder.Coordinator(t), Via: proxy.Via})

	t0 := r.Input("mouse")
	e2etest.SleepUntil(t0.Add(20 * time.Second))
	mark := r.LastID()
	proxy.RefuseUntil(t0.Add(time.Hour)) // until the restart says when
	killed := e2etest.Midst(r.Co.Kill)
	e2etest.SleepUntil(killed.Add(1500 * time.Millisecond))
	typed := r.Input("key")
	e2etest.SleepUntil(killed.Add(3 * time.Second))
	r.Co = r.Co.Restart()
	back := r.Co.Proc.Restored
	proxy.RefuseUntil(back.Add(6 * time.Second))
	p := r.Co.Proc
	if back.Before(p.Started.Add(-time.Millisecond)) || back.After(p.Listening) {
		t.Fatalf("the restore (%v) is not within the start (%v – %v)", back, p.Started, p.Listening)
	}
	t.Logf("killed at I = %.3fs; typed %.3fs after the kill; restored %.3fs after the kill (listening %.3fs after)",
		killed.Sub(t0).Seconds(), typed.Sub(killed).Seconds(), back.Sub(killed).Seconds(), p.Listening.Sub(back).Seconds())

	// The sensor's first report after the restart: the agent's first
	// reading sent on its second connection.
	var reported time.Time
	testrig.Eventually(t, 30*time.Second, func() (bool, string) {
		reported = firstReadingAfterReconnect(r.Agent.Out.String())
		return !reported.IsZero(), "the agent has not reported since the restart"
	})
	t.Logf("the sensor reported again %.3fs after the restore", reported.Sub(back).Seconds())
	if reported.Before(back.Add(5 * time.Second)) {
		t.Fatalf("the sensor reported again %v after the restore: the proxy was to hold it off 6 s", reported.Sub(back))
	}

	warned := r.WaitAudit("user.warned", mark, 30*time.Second)
	if warned.At.Before(reported) {
		t.Errorf("warned at %v, before the sensor reported again (%v)", warned.At, reported)
	}
	record(t, "warning (restart + 24 s)", t0, back.Add(24*time.Second), warned.At, tolerance)
	out := r.WaitAudit("user.logged_out", warned.ID, 10*time.Second)
	record(t, "logout (restart + 30 s)", t0, back.Add(30*time.Second), out.At, tolerance)
	for _, e := range r.Audit() {
		if e.ID > mark && e.ID < warned.ID && (e.Kind == "user.warned" || e.Kind == "user.logged_out") {
			t.Errorf("%s before the expected warning: %s", e.Kind, e2etest.Kinds(r.Audit()))
		}
	}
}

// ---- helpers ----

// waitUser waits until ann, as the API shows her, is what ok says.
func waitUser(t *testing.T, r *rig, what string, ok func(u e2etest.User) bool) {
	t.Helper()
	testrig.Eventually(t, 20*time.Second, func() (bool, string) {
		u := r.Co.User(agentName)
		return ok(u), fmt.Sprintf("want %s; ann is %+v", what, u)
	})
}

// deskMove is a sensor.desk_moved audit entry.
type deskMove struct {
	At          time.Time
	FromHost    string `json:"from_host"`
	ToHost      string `json:"to_host"`
	FromSession string `json:"from_session"`
	ToSession   string `json:"to_session"`
	raw         string
}

// deskMoves lists the changes of desk session, oldest first.
func deskMoves(t *testing.T, co *e2etest.Coord) []deskMove {
	t.Helper()
	var ms []deskMove
	for _, e := range auditKind(t, co, "sensor.desk_moved") {
		m := deskMove{raw: string(e.Detail)}
		if err := json.Unmarshal(e.Detail, &m); err != nil {
			t.Errorf("sensor.desk_moved %d: %v: %s", e.ID, err, e.Detail)
		}
		m.At = e.At
		ms = append(ms, m)
	}
	return ms
}

// noRefusal checks that the coordinator refused no desktop session: no
// sensor.claim_refused in the audit, and no agent told session_refused.
func noRefusal(t *testing.T, co *e2etest.Coord, seats ...*e2etest.Seat) {
	t.Helper()
	if es := auditKind(t, co, "sensor.claim_refused"); len(es) > 0 {
		t.Errorf("sessions refused: %s", e2etest.Kinds(es))
	}
	for _, s := range seats {
		if out := s.Agent.Out.String(); strings.Contains(out, "refused this session") || strings.Contains(out, "session_refused") {
			t.Errorf("the agent on %s was refused its session:\n%s", s.Host, e2etest.Tail(out, 30))
		}
	}
}

var (
	connectedLine = regexp.MustCompile(`(?m)^time=(\S+) level=INFO msg="connected to the coordinator"`)
	readingLine   = regexp.MustCompile(`(?m)^time=(\S+) level=DEBUG msg=sent msg="\{\\"type\\":\\"reading\\"`)
)

// firstReadingAfterReconnect is when the agent (its log) sent its first
// reading on its second connection; zero if it has not.
func firstReadingAfterReconnect(log string) time.Time {
	conns := connectedLine.FindAllStringSubmatchIndex(log, 2)
	if len(conns) < 2 {
		return time.Time{}
	}
	m := readingLine.FindStringSubmatch(log[conns[1][1]:])
	if m == nil {
		return time.Time{}
	}
	at, err := time.Parse(time.RFC3339Nano, m[1])
	if err != nil {
		return time.Time{}
	}
	return at
}
