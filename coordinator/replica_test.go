package coordinator_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/jackc/pgx/v5"

	"github.com/vigil-cc/vigil/internal/coordtest"
	"github.com/vigil-cc/vigil/internal/pgtest"
	"github.com/vigil-cc/vigil/internal/testrig"
	"github.com/vigil-cc/vigil/protocol"
)

// startReplica serves a coordinator on the PostgreSQL database db.
func startReplica(t *testing.T, db string) *testServer {
	t.Helper()
	dir := t.TempDir()
	cfg := coordtest.Config(dir, adminToken)
	cfg.DatabaseURL = db
	srv := coordtest.Start(t, cfg, nil)
	return &testServer{t: t, dir: dir, addr: srv.Addr, srv: srv}
}

// ready is /readyz's status and the leader it names.
func (s *testServer) ready() (int, string) {
	s.t.Helper()
	code, obj, _ := s.call("GET", "/readyz", "", nil)
	leader, _ := obj["leader"].(string)
	return code, leader
}

func (s *testServer) waitReady(code int, within time.Duration) {
	s.t.Helper()
	testrig.Eventually(s.t, within, func() (bool, string) {
		c, leader := s.ready()
		return c == code, fmt.Sprintf("/readyz %d (leader %q), want %d", c, leader, code)
	})
}

func replicasOnly(t *testing.T) string {
	t.Helper()
	if !pgtest.Selected() {
		t.Skip("replicas need PostgreSQL (VIGIL_TEST_STORE=postgres)")
	}
	return pgtest.Database(t)
}

// Two replicas: one leads, the other refuses agents and the engine's paths
// naming it, yet saves settings, which the leader applies within a second;
// when the leader stops, the standby takes over with the clocks, audited.
func TestReplicasLeadInTurn(t *testing.T) {
	t.Parallel()
	db := replicasOnly(t)
	a := startReplica(t, db)
	a.waitReady(http.StatusOK, 5*time.Second)
	b := startReplica(t, db)
	if code, leader := b.ready(); code != http.StatusServiceUnavailable || leader != "ws://"+a.addr {
		t.Fatalf("standby /readyz: %d leader %q, want 503 naming ws://%s", code, leader, a.addr)
	}
	if code, _, _ := a.call("GET", "/healthz", "", nil); code != http.StatusOK {
		t.Fatalf("leader /healthz %d", code)
	}
	if code, _, _ := b.call("GET", "/healthz", "", nil); code != http.StatusOK {
		t.Fatalf("standby /healthz %d: liveness does not depend on leading", code)
	}

	a.setTimeout(60)
	a.mustCall("POST", "/api/v1/desk/login", map[string]string{"user": "jane"})
	tok := a.enrollDevice("ws-1")
	ag := mustDial(t, a, tok)
	ag.open("1", "jane", 0)
	testrig.Eventually(t, 5*time.Second, func() (bool, string) {
		_, u, _ := a.call("GET", "/api/v1/users/jane", adminToken, nil)
		return sensorStatus(u) == "live", fmt.Sprintf("jane on the leader: %v", u)
	})

	// The standby refuses the agent, naming the leader.
	sb := mustDial(t, b, tok)
	em, _ := sb.next(protocol.TypeError, 5*time.Second)
	if e := em.(protocol.ErrorMessage); e.Code != protocol.CloseNotLeader || !strings.Contains(e.Message, "ws://"+a.addr) {
		t.Fatalf("standby's error %+v, want %d naming ws://%s", e, protocol.CloseNotLeader, a.addr)
	}
	if c := sb.closeStatus(5 * time.Second); c != protocol.CloseNotLeader {
		t.Fatalf("standby closed with %d", c)
	}
	code, obj, _ := b.call("GET", "/api/v1/users", adminToken, nil)
	if code != http.StatusServiceUnavailable || obj["leader"] != "ws://"+a.addr {
		t.Fatalf("standby GET /api/v1/users: %d %v", code, obj)
	}

	// Settings saved through the standby reach the leader's engine and
	// agents within a second (polled).
	saved := time.Now()
	b.setTimeout(90)
	p, _ := ag.next(protocol.TypePolicy, 5*time.Second)
	if p.(protocol.Policy).TimeoutS != 90 {
		t.Fatalf("policy pushed %+v, want 90 s", p)
	}
	if d := time.Since(saved); d > 2500*time.Millisecond {
		t.Errorf("the leader applied the standby's settings after %v, want within ~1 s", d)
	}

	// The leader stops; the standby leads, with jane's clock.
	a.shutdown()
	if c := ag.closeStatus(5 * time.Second); c != websocket.StatusGoingAway {
		t.Errorf("the stopping leader closed its agent with %d", c)
	}
	b.waitReady(http.StatusOK, 5*time.Second)
	_, u, _ := b.call("GET", "/api/v1/users/jane", adminToken, nil)
	if u["state"] != "active" {
		t.Fatalf("jane on the new leader: %v", u)
	}
	entries := b.audit("kind=coordinator.leader")
	if len(entries) != 2 {
		t.Fatalf("%d coordinator.leader entries, want 2: %v", len(entries), entries)
	}
	d := entries[0]["detail"].(map[string]any) // newest first
	if d["epoch"] != float64(2) || d["address"] != "ws://"+b.addr || d["previous_address"] != "ws://"+a.addr {
		t.Fatalf("takeover audited as %v", d)
	}
}

// A leader whose lease another replica took (it was paused or cut off)
// records no decision, steps down, and sends its agents to the new leader,
// which warns on time: each decision is recorded once.
func TestFencedLeaderStepsDown(t *testing.T) {
	t.Parallel()
	db := replicasOnly(t)
	a := startReplica(t, db)
	a.waitReady(http.StatusOK, 5*time.Second)
	b := startReplica(t, db)
	a.setTimeout(30)
	a.mustCall("POST", "/api/v1/desk/login", map[string]string{"user": "jane"})
	tok := a.enrollDevice("ws-1")
	ag := mustDial(t, a, tok)
	start := ag.open("1", "jane", 0)
	testrig.Eventually(t, 5*time.Second, func() (bool, string) {
		_, u, _ := a.call("GET", "/api/v1/users/jane", adminToken, nil)
		return sensorStatus(u) == "live", fmt.Sprintf("jane on the leader: %v", u)
	})

	// As if a had been paused past its lease: the lease lapses under it.
	ctx := context.Background()
	c, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	// (once jane's clock is saved, as it is every second)
	testrig.Eventually(t, 5*time.Second, func() (bool, string) {
		var n int
		err := c.QueryRow(ctx, `SELECT COUNT(*) FROM engine_snapshots WHERE user_name = 'jane' AND data LIKE '%"sensor":"live"%'`).Scan(&n)
		return err == nil && n == 1, fmt.Sprintf("jane's saved clocks: %d (%v)", n, err)
	})
	if _, err := c.Exec(ctx, "UPDATE leader_lease SET expires_at = 0"); err != nil {
		t.Fatal(err)
	}
	b.waitReady(http.StatusOK, 5*time.Second)
	a.waitReady(http.StatusServiceUnavailable, 5*time.Second)
	testrig.Eventually(t, 5*time.Second, func() (bool, string) {
		_, leader := a.ready()
		return leader == "ws://"+b.addr, fmt.Sprintf("the old leader names %q as leader, want ws://%s", leader, b.addr)
	})
	if code := ag.closeStatus(5 * time.Second); code != protocol.CloseNotLeader {
		t.Fatalf("the old leader closed its agent with %d, want %d", code, protocol.CloseNotLeader)
	}
	var n int
	if err := c.QueryRow(ctx, "SELECT COUNT(*) FROM audit WHERE kind = 'coordinator.leader'").Scan(&n); err != nil || n != 2 {
		t.Fatalf("%d takeovers audited (%v), want 2", n, err)
	}

	// The agent moves; the new leader warns at 24 s and logs out at 30 s
	// of jane's clock, the takeover's gap not counted (a restart).
	ag2 := mustDial(t, b, tok)
	ag2.open("1", "jane", time.Since(start))
	w, _ := ag2.next(protocol.TypeWarn, 40*time.Second)
	if dl := time.UnixMilli(w.(protocol.Warn).DeadlineMS); dl.Before(start.Add(30 * time.Second)) {
		t.Errorf("warning's deadline %v before the 30 s of jane's clock", dl.Sub(start))
	}
	ag2.next(protocol.TypeLoggedOut, 20*time.Second)
	for kind, want := range map[string]int{"user.warned": 1, "user.logged_out": 1} {
		if err := c.QueryRow(ctx, "SELECT COUNT(*) FROM audit WHERE kind = $1", kind).Scan(&n); err != nil || n != want {
			t.Errorf("%d %s entries (%v), want %d", n, kind, err, want)
		}
	}
}

func sensorStatus(u map[string]any) any {
	s, _ := u["sensor"].(map[string]any)
	return s["status"]
}
