//go:build linux

package acceptance

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
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
	window := 60 * time.Second
	if s := os.Getenv("VIGIL_FOOTPRINT_SECONDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 5 {
			b.Fatalf("VIGIL_FOOTPRINT_SECONDS=%q: want a number of seconds, at least 5", s)
		}
		window = time.Duration(n) * time.Second
	}
	noRace := false
	p := startRecorder(b)
	// T = 3600 s: no warning during the minute.
	// Unpaced: the rig's own pacing recorder would wake the agent's capture
	// every 20 ms, which no real microphone does (docs/performance.md).
	r := newRig(b, rigOptions{timeout: 3600, via: p.via, race: &noRace, unpaced: true, args: strings.Fields(os.Getenv("VIGIL_FOOTPRINT_ARGS"))})
	pid := r.Agent.Pid()
	time.Sleep(5 * time.Second) // settle: the first reading, the microphone open

	tick := clockTicks(b)
	cpu0 := cpuTicks(b, pid)
	start := time.Now()
	var peakRSS int64
	for time.Since(start) < window {
		time.Sleep(time.Second)
		peakRSS = max(peakRSS, procStatusKB(b, pid, "VmRSS"))
	}
	elapsed := time.Since(start)
	cpu1 := cpuTicks(b, pid)
	rss, hwm := procStatusKB(b, pid, "VmRSS"), procStatusKB(b, pid, "VmHWM")
	end := time.Now()

	var text, control, wire, messages int
	for _, rec := range p.records() {
		up := rec.stream(true)
		head, off, ok := up.httpHead()
		if !ok || !strings.HasPrefix(head, "GET /agent/v1/ws ") {
			continue
		}
		frames, _ := up.frames(off)
		for _, f := range frames {
			if f.at.Before(start) || f.at.After(end) {
				continue
			}
			wire += f.size
			if f.op == 1 {
				text += len(f.payload)
				messages++
			} else {
				control += len(f.payload)
			}
		}
	}
	perMin := func(n int) float64 { return float64(n) / elapsed.Minutes() }
	cpuPct := float64(cpu1-cpu0) / float64(tick) / elapsed.Seconds() * 100
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(cpuPct, "cpu%")
	b.ReportMetric(float64(rss)/1024, "rss-MB")
	b.ReportMetric(float64(hwm)/1024, "peak-rss-MB")
	b.ReportMetric(perMin(text), "payload-B/min")
	b.ReportMetric(perMin(control), "control-B/min")
	b.ReportMetric(perMin(wire), "wire-B/min")
	b.Logf("over %v idle: CPU %.3f%% of one core (%d ticks at %d Hz), RSS %.1f MB (sampled peak %.1f MB, VmHWM %.1f MB), "+
		"%d messages, %.0f B/min of text payload, %.0f B/min of control payload, %.0f B/min of WebSocket frames",
		elapsed.Round(time.Millisecond), cpuPct, cpu1-cpu0, tick, float64(rss)/1024, float64(peakRSS)/1024, float64(hwm)/1024,
		messages, perMin(text), perMin(control), perMin(wire))
}

// cpuTicks is the process's utime + stime, in clock ticks.
func cpuTicks(tb testing.TB, pid int) int64 {
	tb.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		tb.Fatal(err)
	}
	// The fields after the parenthesised command: state is field 3; utime
	// and stime are fields 14 and 15.
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		tb.Fatalf("parsing /proc/%d/stat: %q", pid, s)
	}
	return utime + stime
}

// clockTicks is USER_HZ.
func clockTicks(tb testing.TB) int64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err != nil {
		return 100
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if err != nil || n <= 0 {
		return 100
	}
	return n
}

// procStatusKB reads a "Name: N kB" line of /proc/<pid>/status.
func procStatusKB(tb testing.TB, pid int, name string) int64 {
	tb.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err == nil {
				return n
			}
		}
	}
	tb.Fatalf("no %s in /proc/%d/status", name, pid)
	return 0
}
