package offload

import (
	"runtime"
	"sync"
	"testing"
)

// deep grows the stack of whatever goroutine runs it.
func deep(n int) int {
	var pad [1024]byte
	pad[n%1024] = byte(n)
	if n == 0 {
		return int(pad[0])
	}
	return deep(n-1) + int(pad[n%1024])
}

func TestDoRunsOnAWorkerAndWaits(t *testing.T) {
	p := New(2)
	defer p.Close()
	var ran sync.WaitGroup
	for range 10 {
		ran.Add(1)
		go func() {
			defer ran.Done()
			got := 0
			p.Do(func() { got = deep(64) })
			if got == 0 && deep(0) != 0 {
				t.Error("Do returned before fn ran")
			}
		}()
	}
	ran.Wait()
}

func TestDoAfterCloseRunsInline(t *testing.T) {
	p := New(1)
	p.Close()
	ran := false
	p.Do(func() { ran = true })
	if !ran {
		t.Fatal("fn did not run after Close")
	}
}

// The point of the package: a caller that offloads deep work keeps a small
// stack. Measured as the stack in use across many idle goroutines.
func TestCallersKeepSmallStacks(t *testing.T) {
	const n = 200
	measure := func(work func()) uint64 {
		release := make(chan struct{})
		var started sync.WaitGroup
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for range n {
			started.Add(1)
			go func() {
				work()
				started.Done()
				<-release
			}()
		}
		started.Wait()
		runtime.ReadMemStats(&after)
		close(release)
		return (after.StackInuse - before.StackInuse) / n
	}
	p := New(2)
	defer p.Close()
	inline := measure(func() { deep(64) })
	offloaded := measure(func() { p.Do(func() { deep(64) }) })
	if offloaded*4 > inline {
		t.Errorf("stack per goroutine: %d B offloaded vs %d B inline; want offloading to keep it far smaller", offloaded, inline)
	}
}
