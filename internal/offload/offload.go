// Package offload runs calls on a few long-lived goroutines and waits for
// them. A goroutine keeps the stack its deepest call grew, and a store call
// (modernc's SQLite is transpiled C with large frames) grows it by tens of
// KB; running such calls here keeps the many per-connection goroutines that
// make them small (docs/performance.md).
package offload

import "sync"

// Pool is a fixed set of workers.
type Pool struct {
	n     int
	start sync.Once
	jobs  chan func()
	stop  chan struct{}
}

// New returns a pool of n workers. They start at the first Do, so a pool
// that is never used (a coordinator opened but never served) leaves no
// goroutine behind.
func New(n int) *Pool {
	return &Pool{n: n, jobs: make(chan func()), stop: make(chan struct{})}
}

func (p *Pool) work() {
	for {
		select {
		case job := <-p.jobs:
			job()
		case <-p.stop:
			return
		}
	}
}

// Do runs fn on a worker and returns when it is done; after Close it runs
// fn on the caller.
func (p *Pool) Do(fn func()) {
	p.start.Do(func() {
		for range p.n {
			go p.work()
		}
	})
	done := make(chan struct{})
	select {
	case p.jobs <- func() { defer close(done); fn() }:
		<-done
	case <-p.stop:
		fn()
	}
}

// Close stops the workers once they finish what they run.
func (p *Pool) Close() { close(p.stop) }
