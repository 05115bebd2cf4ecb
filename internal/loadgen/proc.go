package loadgen

import (
	"bufio"
	"context"
	"fmt"
	"io"
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
