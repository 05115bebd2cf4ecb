package loadgen

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Proc is a process's CPU time and resident set at one instant.
type Proc struct {
	At    time.Time
	Ticks int64 // user + system time, in clock ticks (100 a second)
	RSS   int64 // bytes
}

// ReadProc reads a local process's CPU time and resident set (Linux's
// /proc; an error elsewhere).
func ReadProc(pid int) (Proc, error) { return readProc(pid) }

// CPUPercent is the CPU used between two readings, in % of one core.
func CPUPercent(a, b Proc) float64 {
	wall := b.At.Sub(a.At).Seconds()
	if wall <= 0 {
		return 0
	}
	return float64(b.Ticks-a.Ticks) / 100 / wall * 100
}

// parseStat reads utime + stime from /proc/<pid>/stat's text. The command
// name (field 2) is in parentheses and may hold spaces, so fields are
// counted after its closing one.
func parseStat(s string) (int64, error) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("unexpected /proc stat %q", s)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("unexpected /proc stat %q", s)
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("unexpected /proc stat %q", s)
	}
	return u + st, nil
}

// parseRSS reads VmRSS from /proc/<pid>/status's text, in bytes.
func parseRSS(s string) (int64, error) {
	for line := range strings.SplitSeq(s, "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc status")
}

// Heap is a Go process's memory in use after a collection.
type Heap struct {
	Alloc  int64 `json:"alloc"`  // live heap objects (go_memstats_heap_alloc_bytes)
	Inuse  int64 `json:"inuse"`  // heap spans in use (go_memstats_heap_inuse_bytes)
	Stacks int64 `json:"stacks"` // goroutine stacks (go_memstats_stack_inuse_bytes)
}

// LiveHeap makes the coordinator at base collect garbage (through its
// admin-only profiler) and reads its heap and stacks from /metrics.
func LiveHeap(ctx context.Context, hc *http.Client, base, admin string) (Heap, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/debug/pprof/heap?gc=1", nil)
	if err != nil {
		return Heap{}, err
	}
	req.Header.Set("Authorization", "Bearer "+admin)
	resp, err := hc.Do(req)
	if err != nil {
		return Heap{}, fmt.Errorf("collecting the coordinator's garbage: %w", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Heap{}, fmt.Errorf("collecting the coordinator's garbage: HTTP %d", resp.StatusCode)
	}
	req, _ = http.NewRequestWithContext(ctx, "GET", base+"/metrics", nil)
	resp, err = hc.Do(req)
	if err != nil {
		return Heap{}, fmt.Errorf("reading the coordinator's metrics: %w", err)
	}
	defer resp.Body.Close()
	return parseMetrics(resp.Body)
}

func parseMetrics(r io.Reader) (Heap, error) {
	var h Heap
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			continue
		}
		v, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			continue
		}
		switch f[0] {
		case "go_memstats_heap_alloc_bytes":
			h.Alloc = int64(v)
		case "go_memstats_heap_inuse_bytes":
			h.Inuse = int64(v)
		case "go_memstats_stack_inuse_bytes":
			h.Stacks = int64(v)
		}
	}
	if err := sc.Err(); err != nil {
		return h, fmt.Errorf("reading the coordinator's metrics: %w", err)
	}
	if h.Alloc == 0 {
		return h, fmt.Errorf("reading the coordinator's metrics: no go_memstats_heap_alloc_bytes")
	}
	return h, nil
}

// Dispatch is the coordinator's own view of how late it dispatched its
// warnings and logouts (vigil_decision_latency_seconds: from the ideal
// instant by its clock and its estimate of the input, to the handlers),
// as the upper bounds of the histogram's buckets holding the quantiles.
type Dispatch struct {
	N   int64         `json:"n"`
	P50 time.Duration `json:"p50,omitempty"`
	P99 time.Duration `json:"p99,omitempty"`
	// Over is true where a quantile is past the largest bucket (2.5 s).
	Over bool `json:"over,omitempty"`
}

// DispatchLateness reads the coordinator's decision lateness histogram.
func DispatchLateness(ctx context.Context, hc *http.Client, base string) (Dispatch, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/metrics", nil)
	if err != nil {
		return Dispatch{}, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return Dispatch{}, fmt.Errorf("reading the coordinator's metrics: %w", err)
	}
	defer resp.Body.Close()
	return parseDispatch(resp.Body)
}

func parseDispatch(r io.Reader) (Dispatch, error) {
	type bucket struct {
		le float64
		n  int64
	}
	var bs []bucket
	var d Dispatch
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, `vigil_decision_latency_seconds_bucket{le="`); ok {
			le, n, ok := strings.Cut(rest, `"} `)
			if !ok {
				continue
			}
			v, err1 := strconv.ParseFloat(le, 64)
			c, err2 := strconv.ParseFloat(n, 64)
			if err1 == nil && err2 == nil {
				bs = append(bs, bucket{v, int64(c)})
			}
		} else if n, ok := strings.CutPrefix(line, "vigil_decision_latency_seconds_count "); ok {
			c, _ := strconv.ParseFloat(n, 64)
			d.N = int64(c)
		}
	}
	if err := sc.Err(); err != nil {
		return d, err
	}
	q := func(p float64) time.Duration {
		for _, b := range bs {
			if float64(b.n) >= p*float64(d.N) && !math.IsInf(b.le, 1) {
				return time.Duration(b.le * float64(time.Second))
			}
		}
		d.Over = true
		return 0
	}
	if d.N > 0 {
		d.P50, d.P99 = q(0.5), q(0.99)
	}
	return d, nil
}
