//go:build linux

package acceptance

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vigil-cc/vigil/internal/e2etest"
)

// BenchmarkAgentFootprint measures the real agent (a normal build, not
// -race) over an idle minute with the microphone on (the rig's PulseAudio,
// silent) and the Agent Desk in front: CPU as % of one core (utime + stime
// from /proc/<pid>/stat), resident memory (VmRSS, and the peak VmHWM), and
// what it sends, counted at a proxy: WebSocket payload bytes per idle
// minute (text messages; control frames — pongs to the coordinator's pings
// — separately) and bytes on the wire. It runs only with -bench:
//
//	go test -run '^$' -bench AgentFootprint -benchtime 1x ./cmd/vigil-agent/acceptance
//
// VIGIL_FOOTPRINT_SECONDS shortens the window for a quick look;
// VIGIL_FOOTPRINT_ARGS adds flags to the agent (e.g. --mic=false, to see
// what the microphone costs).
// Targets: CPU ≤ 0.5 %, RSS ≤ 30 MB, ≤ 300 B of payload per idle minute.
func BenchmarkAgentFootprint(b *testing.B) {
	window := e2etest.FootprintWindow(b)
	noRace := false
	p := e2etest.StartRecorder(b)
	// T = 3600 s: no warning during the minute.
	// Unpaced: the rig's own pacing recorder would wake the agent's capture
	// every 20 ms, which no real microphone does (docs/performance.md).
	r := newRig(b, rigOptions{timeout: 3600, via: p.Via, race: &noRace, unpaced: true, args: strings.Fields(os.Getenv("VIGIL_FOOTPRINT_ARGS"))})
	time.Sleep(5 * time.Second) // settle: the first reading, the microphone open

	f := e2etest.MeasureFootprint(b, window, r.Agent.Pid())
	f.Report(b, 0, p.AgentUpstream(f.Start, f.End))
}
