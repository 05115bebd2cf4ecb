// Package offload runs calls on a few long-lived goroutines and waits for
// them. A goroutine keeps the stack its deepest call grew, and a store call
// (modernc's SQLite is transpiled C with large frames) grows it by tens of
// KB; running such calls here keeps the many per-connection goroutines that
// make them small (docs/performance.md).
package offload

// Pool is a fixed set of workers.
type Pool struct {
	jobs chan func()
	stop chan struct{}
}

// New starts n workers.
func New(n int) *Pool {
	p := &Pool{jobs: make(chan func()), stop: make(chan struct{})}
	for range n {
		go func() {
			for {
				select {
				case job := <-p.jobs:
					job()
				case <-p.stop:
					return
				}
			}
		}()
	}
	return p
}

// Do runs fn on a worker and returns when it is done; after Close it runs
// fn on the caller.
func (p *Pool) Do(fn func()) {
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
