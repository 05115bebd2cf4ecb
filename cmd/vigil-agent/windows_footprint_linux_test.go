//go:build linux

package main

import (
	"bytes"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil-cc/vigil/internal/e2etest"
	"github.com/vigil-cc/vigil/internal/testrig"
)

// BenchmarkWineAgentFootprint is BenchmarkAgentFootprint
// (cmd/vigil-agent/acceptance) for the Windows agent under Wine:
// vigil-agent.exe session over an idle minute, the microphone on (MME
// through Wine's PulseAudio driver to an unpaced, silent PulseAudio) and
// notepad in front as the Agent Desk. The Windows process is a Linux
// process here (Wine's preloader running the .exe), so its CPU (utime +
// stime, % of one core) and working set (VmRSS, peak VmHWM) come from
// /proc like the Linux agent's; what it sends is counted at a recording
// proxy. The prefix's wineserver and Wine's own services (explorer,
// services, winedevice, ...) are reported apart: Wine's cost, which
// Windows does not have. A figure to compare, not a target. Only with
// -bench:
//
//	go test -run '^$' -bench WineAgentFootprint -benchtime 1x ./cmd/vigil-agent
//
// VIGIL_FOOTPRINT_SECONDS shortens the window for a quick look.
func BenchmarkWineAgentFootprint(b *testing.B) {
	window := e2etest.FootprintWindow(b)
	p := e2etest.StartRecorder(b)
	// T = 3600 s: no warning during the minute. Unpaced, as on Linux: no
	// real microphone wakes the capture every 20 ms.
	s := startWine(b, wineOptions{timeout: 3600, via: p.Via, pulse: testrig.PulseUnpaced(b)})
	time.Sleep(5 * time.Second) // settle: the first reading, the microphone open

	procs := wineProcesses(b, s.wine.Dir)
	agent, server := -1, -1
	var services []int
	for _, pid := range slices.Sorted(maps.Keys(procs)) {
		switch name := procs[pid]; {
		case name == "vigil-agent.exe":
			agent = pid
		case strings.HasPrefix(name, "wineserver"): // wineserver64 on Debian
			server = pid
		case name == "notepad.exe": // the Agent Desk
		default:
			services = append(services, pid)
		}
	}
	if agent < 0 || server < 0 {
		b.Fatalf("no vigil-agent.exe or wineserver among the prefix's processes %v", procs)
	}
	f := e2etest.MeasureFootprint(b, window, append([]int{agent, server}, services...)...)
	f.Report(b, 0, p.AgentUpstream(f.Start, f.End))

	b.ReportMetric(f.CPU(1), "wineserver-cpu%")
	b.ReportMetric(float64(f.RSS[1])/1024, "wineserver-rss-MB")
	var cpu float64
	var rss int64
	var names []string
	for i := 2; i < len(f.Ticks); i++ {
		cpu += f.CPU(i)
		rss += f.RSS[i]
		names = append(names, procs[services[i-2]])
	}
	b.ReportMetric(cpu, "services-cpu%")
	b.ReportMetric(float64(rss)/1024, "services-rss-MB")
	b.Logf("Wine's own: wineserver CPU %.3f%%, RSS %.1f MB; %d services (%s) CPU %.3f%%, RSS %.1f MB together",
		f.CPU(1), float64(f.RSS[1])/1024, len(names), strings.Join(names, ", "), cpu, float64(rss)/1024)
}

// wineProcesses lists the processes running in the Wine prefix dir (their
// environment names it), each by its program: the .exe a Wine process
// runs (Wine sets the process's name to it), or the first argument's base
// name (wineserver, a shell running /usr/bin/wine).
func wineProcesses(tb testing.TB, dir string) map[int]string {
	tb.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		tb.Fatal(err)
	}
	want := []byte("WINEPREFIX=" + dir)
	procs := map[int]string{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil || !slices.ContainsFunc(bytes.Split(env, []byte{0}), func(v []byte) bool { return bytes.Equal(v, want) }) {
			continue
		}
		comm, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		name := strings.TrimSpace(string(comm))
		if !strings.HasSuffix(strings.ToLower(name), ".exe") {
			cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
			arg0, _, _ := bytes.Cut(cmdline, []byte{0})
			if a := string(arg0); a != "" {
				name = a[strings.LastIndexAny(a, `/\`)+1:]
			}
		}
		procs[pid] = strings.ToLower(name)
	}
	return procs
}
