package engine

import (
	"fmt"
	"runtime"
	"testing"
	"time"
)

// populate logs n users in, each with a live sensor in front on a
// workstation of its own (its session key and host strings are its own, as
// the hub's are).
func populate(n int) (*Engine, []string, []Source) {
	e := New(Settings{Enabled: true, Timeout: 300 * time.Second}, 0)
	names := make([]string, n)
	srcs := make([]Source, n)
	for i := range names {
		names[i] = fmt.Sprintf("agent%06d", i)
		srcs[i] = Source{Key: fmt.Sprintf("%032x/%d", i, 1), Host: fmt.Sprintf("ws-%06d", i)}
		e.Reading(base, names[i], srcs[i], Reading{Foreground: true, MicAvailable: true})
		e.DeskLogin(base, names[i])
	}
	return e, names, srcs
}

// BenchmarkEvents measures the engine's throughput on the mix a coordinator
// sees: readings with input (most of the traffic while people work), window
// changes, heartbeats and call changes, spread over every user, with the
// clock moving so that each user is heard from every 10 s, as a busy floor is.
func BenchmarkEvents(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("users=%d", n), func(b *testing.B) {
			e, names, srcs := populate(n)
			now, step := base, 10*time.Second/time.Duration(n)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				now = now.Add(step)
				name, src := names[i%n], srcs[i%n]
				switch (i + i/n) % 8 { // each user sees every kind in turn
				case 0, 1, 2, 3:
					e.Reading(now, name, src, Reading{Idle: time.Duration(i%3) * time.Second, Foreground: true, MicAvailable: true})
				case 4:
					e.Reading(now, name, src, Reading{Idle: 5 * time.Second, Minimized: true, MicAvailable: true})
				case 5:
					e.Heartbeat(now, name, src)
				case 6:
					e.Call(now, name, true)
				case 7:
					e.Call(now, name, false)
				}
				i++
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkMemoryPerUser measures the heap one tracked user costs.
func BenchmarkMemoryPerUser(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("users=%d", n), func(b *testing.B) {
			var perUser float64
			for b.Loop() {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				e, _, _ := populate(n)
				runtime.GC()
				runtime.ReadMemStats(&after)
				perUser = float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
				runtime.KeepAlive(e)
			}
			b.ReportMetric(perUser, "bytes/user")
		})
	}
}
