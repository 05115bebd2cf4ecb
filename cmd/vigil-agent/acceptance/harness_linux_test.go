//go:build linux

package acceptance

import (
	"net/url"
	"testing"
	"time"

	"github.com/vigil-cc/vigil/internal/e2etest"
)

// ---- the agent binary ----

var builder = &e2etest.Builder{Prefix: "vigil-agent-acceptance-"}

// agentBinary builds ./cmd/vigil-agent once per test binary (with -race
// when race is set) and returns its path.
func agentBinary(t testing.TB, race bool) string {
	t.Helper()
	return builder.Binary(t, race)
}

func TestMain(m *testing.M) {
	// The scenarios spend 30-60 s each mostly waiting for real time to pass
	// (the coordinator's T is 30 s): they run all at once.
	e2etest.Main(m, builder, &timings, "Agent ↔ coordinator timing (ideal and observed, seconds after t0):", " s")
}

// startCoordinator runs a coordinator with its data in a temporary
// directory on a free port (heartbeat 20 s, grace 45 s, as in production).
func startCoordinator(t testing.TB) *e2etest.Coord {
	t.Helper()
	return e2etest.StartCoord(t, t.TempDir(), nil)
}

// startAgent runs `vigil-agent args...`; cleanup stops it with SIGTERM and
// expects a clean exit.
func startAgent(t testing.TB, bin string, env []string, args ...string) *e2etest.Agent {
	t.Helper()
	return e2etest.RunAgent(t, bin, env, true, args...)
}

// ---- the rig: display, microphone, bus, Agent Desk, coordinator, agent ----

// deskPage is the Agent Desk page, titled title.
func deskPage(title string) string {
	return "data:text/html," + url.PathEscape("<title>"+title+"</title><p>Agent Desk</p>")
}

type rigOptions struct {
	title   string              // the Agent Desk page title; default "Agent Desk"
	timeout int                 // T; default 30
	via     func(string) string // maps the coordinator's address to the one the agent dials (a proxy)
	race    *bool               // build the agent with -race; default: as the tests
	args    []string            // more vigil-agent session flags
	unpaced bool                // testrig.PulseUnpaced: for measuring, not for timing
}

// newRig starts a rig whose Agent Desk is a page titled o.title, with the
// OS user signed in to it, and an agent expected to exit cleanly.
func newRig(t testing.TB, o rigOptions) *e2etest.Rig {
	t.Helper()
	if o.title == "" {
		o.title = "Agent Desk"
	}
	race := raceBuild
	if o.race != nil {
		race = *o.race
	}
	return e2etest.NewRig(t, e2etest.RigOptions{
		Bin: agentBinary(t, race), Timeout: o.timeout,
		Page: func(*e2etest.Coord) string { return deskPage(o.title) },
		Via:  o.via, Args: o.args, Unpaced: o.unpaced, Clean: true,
	})
}

// startTiming marks a test that takes 30-60 s of real time (e2etest.Long),
// starts its rig (default options) and makes the first input, the
// scenario's t0.
func startTiming(t *testing.T) (*e2etest.Rig, time.Time) {
	t.Helper()
	e2etest.Long(t, nil)
	r := newRig(t, rigOptions{})
	return r, r.Input("mouse")
}

// ---- timing records ----

var timings e2etest.Timings

// record notes an observed instant against the ideal one (see
// e2etest.Timings.Record).
func record(t *testing.T, scenario, event string, t0, want, got time.Time, tol time.Duration) {
	t.Helper()
	timings.Record(t, scenario, event, t0, want, got, tol)
}
