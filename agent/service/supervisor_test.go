package service

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vigil-cc/vigil/internal/backoff"
	"github.com/vigil-cc/vigil/internal/testrig"
	"github.com/vigil-cc/vigil/platform/sessions"
)

type fakeProc struct {
	pid  int
	done chan struct{}
	once sync.Once
}

func (p *fakeProc) Wait() error { <-p.done; return errors.New("exited") }
func (p *fakeProc) Stop()       { p.once.Do(func() { close(p.done) }) }
func (p *fakeProc) Pid() int    { return p.pid }

// The supervisor starts a helper per session, restarts one that dies and
// stops one whose session ended.
func TestSupervisor(t *testing.T) {
	var mu sync.Mutex
	live := []sessions.Session{{ID: "x11-1001-0", UID: 1001}, {ID: "x11-1002-1", UID: 1002}}
	procs := map[string][]*fakeProc{}
	pid := 100
	s := &Supervisor{
		Find: func() ([]sessions.Session, error) {
			mu.Lock()
			defer mu.Unlock()
			return append([]sessions.Session(nil), live...), nil
		},
		Start: func(sess sessions.Session) (Process, error) {
			mu.Lock()
			defer mu.Unlock()
			pid++
			p := &fakeProc{pid: pid, done: make(chan struct{})}
			procs[sess.ID] = append(procs[sess.ID], p)
			return p, nil
		},
		Poll:    10 * time.Millisecond,
		Backoff: backoff.Backoff{Initial: 20 * time.Millisecond, Max: 100 * time.Millisecond, Factor: 1.6},
	}
	count := func(id string) (started, running int) {
		mu.Lock()
		defer mu.Unlock()
		for _, p := range procs[id] {
			select {
			case <-p.done:
			default:
				running++
			}
		}
		return len(procs[id]), running
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		_ = s.Run(ctx)
		close(done)
	}()
	testrig.Eventually(t, 5*time.Second, func() (bool, string) {
		a, ar := count("x11-1001-0")
		b, br := count("x11-1002-1")
		return a == 1 && ar == 1 && b == 1 && br == 1, "a helper per session"
	})
	mu.Lock()
	procs["x11-1001-0"][0].Stop() // it died
	mu.Unlock()
	testrig.Eventually(t, 5*time.Second, func() (bool, string) {
		a, ar := count("x11-1001-0")
		return a == 2 && ar == 1, "the dead helper restarted"
	})
	mu.Lock()
	live = live[:1] // the second session ended
	mu.Unlock()
	testrig.Eventually(t, 5*time.Second, func() (bool, string) {
		_, br := count("x11-1002-1")
		return br == 0, "the ended session's helper stopped"
	})
	cancel()
	<-done
	if _, ar := count("x11-1001-0"); ar != 0 {
		t.Errorf("a helper still runs after the supervisor stopped")
	}
}

// A session-change kick makes the supervisor start a new session's helper
// at once: the fake clock shows no time passed, while the poll is an hour.
func TestSupervisorKick(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		live := []sessions.Session{{ID: "wts-1", WTSID: 1}}
		var started []string
		changed := make(chan struct{}, 1)
		s := &Supervisor{
			Find: func() ([]sessions.Session, error) {
				mu.Lock()
				defer mu.Unlock()
				return append([]sessions.Session(nil), live...), nil
			},
			Start: func(sess sessions.Session) (Process, error) {
				mu.Lock()
				defer mu.Unlock()
				started = append(started, sess.ID)
				return &fakeProc{pid: len(started), done: make(chan struct{})}, nil
			},
			Poll:    time.Hour,
			Changed: changed,
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() {
			_ = s.Run(ctx)
			close(done)
		}()
		begin := time.Now()
		synctest.Wait()
		mu.Lock()
		live = append(live, sessions.Session{ID: "wts-2", WTSID: 2}) // a user logged on
		mu.Unlock()
		changed <- struct{}{}
		synctest.Wait()
		mu.Lock()
		got := slices.Clone(started)
		mu.Unlock()
		if want := []string{"wts-1", "wts-2"}; !slices.Equal(got, want) {
			t.Errorf("helpers started %v, want %v", got, want)
		}
		if d := time.Since(begin); d != 0 {
			t.Errorf("the new session's helper waited %v, want no wait for the poll", d)
		}
		cancel()
		<-done
	})
}
