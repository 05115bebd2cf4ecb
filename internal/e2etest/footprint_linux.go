//go:build linux

package e2etest

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

// FootprintWindow is the window of the footprint benchmarks: 60 s, or
// VIGIL_FOOTPRINT_SECONDS (at least 5) for a quick look.
func FootprintWindow(tb testing.TB) time.Duration {
	tb.Helper()
	s := os.Getenv("VIGIL_FOOTPRINT_SECONDS")
	if s == "" {
		return 60 * time.Second
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 5 {
		tb.Fatalf("VIGIL_FOOTPRINT_SECONDS=%q: want a number of seconds, at least 5", s)
	}
	return time.Duration(n) * time.Second
}

// Footprint is what processes cost over a window, each from /proc.
type Footprint struct {
	Start, End time.Time
	Hz         int64   // USER_HZ
	Ticks      []int64 // utime + stime over the window, per process
	RSS, HWM   []int64 // VmRSS and VmHWM at the end, kB
	PeakRSS    []int64 // VmRSS sampled each second, the largest, kB
}

// MeasureFootprint watches pids for window, sampling VmRSS each second.
func MeasureFootprint(tb testing.TB, window time.Duration, pids ...int) Footprint {
	tb.Helper()
	f := Footprint{Hz: ClockTicks(), PeakRSS: make([]int64, len(pids))}
	for _, pid := range pids {
		f.Ticks = append(f.Ticks, -CPUTicks(tb, pid))
	}
	f.Start = time.Now()
	for time.Since(f.Start) < window {
		time.Sleep(time.Second)
		for i, pid := range pids {
			f.PeakRSS[i] = max(f.PeakRSS[i], ProcStatusKB(tb, pid, "VmRSS"))
		}
	}
	for i, pid := range pids {
		f.Ticks[i] += CPUTicks(tb, pid)
		f.RSS = append(f.RSS, ProcStatusKB(tb, pid, "VmRSS"))
		f.HWM = append(f.HWM, ProcStatusKB(tb, pid, "VmHWM"))
	}
	f.End = time.Now()
	return f
}

// Elapsed is the window's length.
func (f Footprint) Elapsed() time.Duration { return f.End.Sub(f.Start) }

// CPU is process i's CPU time as % of one core.
func (f Footprint) CPU(i int) float64 {
	return float64(f.Ticks[i]) / float64(f.Hz) / f.Elapsed().Seconds() * 100
}

// Report reports process i's footprint (the agent's) and what it sent
// upstream (u, over the same window) as the benchmark's metrics, and logs
// them.
func (f Footprint) Report(b *testing.B, i int, u Upstream) {
	b.Helper()
	perMin := func(n int) float64 { return float64(n) / f.Elapsed().Minutes() }
	mb := func(kb int64) float64 { return float64(kb) / 1024 }
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(f.CPU(i), "cpu%")
	b.ReportMetric(mb(f.RSS[i]), "rss-MB")
	b.ReportMetric(mb(f.HWM[i]), "peak-rss-MB")
	b.ReportMetric(perMin(u.Text), "payload-B/min")
	b.ReportMetric(perMin(u.Control), "control-B/min")
	b.ReportMetric(perMin(u.Wire), "wire-B/min")
	b.Logf("over %v idle: CPU %.3f%% of one core (%d ticks at %d Hz), RSS %.1f MB (sampled peak %.1f MB, VmHWM %.1f MB), "+
		"%d messages, %.0f B/min of text payload, %.0f B/min of control payload, %.0f B/min of WebSocket frames",
		f.Elapsed().Round(time.Millisecond), f.CPU(i), f.Ticks[i], f.Hz, mb(f.RSS[i]), mb(f.PeakRSS[i]), mb(f.HWM[i]),
		u.Messages, perMin(u.Text), perMin(u.Control), perMin(u.Wire))
}

// CPUTicks is the process's utime + stime, in clock ticks.
func CPUTicks(tb testing.TB, pid int) int64 {
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

// ClockTicks is USER_HZ.
func ClockTicks() int64 {
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

// ProcStatusKB reads a "Name: N kB" line of /proc/<pid>/status.
func ProcStatusKB(tb testing.TB, pid int, name string) int64 {
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
