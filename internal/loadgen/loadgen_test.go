package loadgen_test

import (
	"context"
	"testing"
	"time"

	"github.com/vigil-cc/vigil/internal/coordtest"
	"github.com/vigil-cc/vigil/internal/loadgen"
)

// TestAgainstCoordinator runs 200 simulated agents against a real
// coordinator (T = 30 s, the minimum): every idle agent is warned at 0.8·T
// and logged out at T after its last input, each within 250 ms and never
// early; no other agent is warned; the conversations given to idle agents
// are rerouted; the desk's page shows the logout to those who signed in
// through it.
func TestAgainstCoordinator(t *testing.T) {
	const admin = "vgl_api_loadgen_test"
	srv := coordtest.Start(t, coordtest.Config(t.TempDir(), admin), nil)
	g, err := loadgen.New(loadgen.Config{
		URLs:       []string{"http://" + srv.Addr},
		AdminToken: admin,
		Agents:     200,
		Timeout:    30 * time.Second,
		IdleShare:  0.25,
		DeskWeb:    6,
		// Conversations every 0.2 s, so that idle agents get some.
		ConversationsPerMinute: 300,
		Sources:                loadgen.Loopbacks(4),
		// One idle cycle: the window starts once all are connected, and
		// every idle agent's last input was before that.
		Duration: 32 * time.Second,
		LiveHeap: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := g.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if testing.Verbose() {
		rep.Print(t.Output())
	}
	if rep.ErrorCount > 0 {
		t.Errorf("%d errors, the first: %q", rep.ErrorCount, rep.Errors)
	}
	if rep.Connected != 200 || rep.ConnectedEnd != 200 {
		t.Errorf("connected: %d at the start of the window, %d at its end; want 200", rep.Connected, rep.ConnectedEnd)
	}
	idle := 0
	for _, s := range rep.States {
		if s.Connects != 1 {
			t.Errorf("%s connected %d times, want once", s.User, s.Connects)
		}
		if s.Role != loadgen.RoleIdle {
			if s.Warnings+s.Logouts > 0 {
				t.Errorf("%s (%s, last input %s) got %d warnings and %d logouts; it was never idle",
					s.User, s.Role, s.LastInput.Format(time.StampMilli), s.Warnings, s.Logouts)
			}
			continue
		}
		idle++
		if len(s.Cycles) != 1 || s.Warnings != 1 || s.Logouts != 1 {
			t.Errorf("%s: %d cycles, %d warnings, %d logouts; want one of each", s.User, len(s.Cycles), s.Warnings, s.Logouts)
			continue
		}
		c := s.Cycles[0]
		for _, d := range []struct {
			what    string
			due, at time.Time
		}{{"warning", c.WarnDue, c.Warned}, {"logout", c.LogoutDue, c.LoggedOut}} {
			if late := d.at.Sub(d.due); late < -2*time.Millisecond || late > 250*time.Millisecond {
				t.Errorf("%s: %s arrived %s after it was due (input at %s); want 0..250 ms",
					s.User, d.what, late, c.Input.Format(time.StampMilli))
			}
		}
		if s.DeskWeb && s.DeskShowedLogout != 1 {
			t.Errorf("%s signed in through the desk, and /desk/ did not show the logout", s.User)
		}
	}
	if idle != rep.Roles[loadgen.RoleIdle] || idle < 40 {
		t.Errorf("%d idle agents (roles %v); want about a quarter of 200", idle, rep.Roles)
	}
	if rep.ConversationsToIdle == 0 || rep.Rerouted != rep.ConversationsToIdle {
		t.Errorf("conversations given to idle agents: %d, rerouted: %d; want all of some rerouted", rep.ConversationsToIdle, rep.Rerouted)
	}
	if rep.All.N != 2*idle || rep.MessagesPerSecond <= 0 {
		t.Errorf("%d latencies for %d idle agents, %.0f messages/s", rep.All.N, idle, rep.MessagesPerSecond)
	}
	if rep.Coordinator == nil || rep.Coordinator.Heap.Alloc <= 0 {
		t.Errorf("no live heap read from the coordinator: %+v", rep.Coordinator)
	}
}
