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

// fakeHost is the machine a supervisor sees: its live sessions and the
// helpers started in them.
type fakeHost struct {
	mu    sync.Mutex
	live  []sessions.Session
	procs map[string][]*fakeProc // by session id, in start order
	pid   int
}

func newFakeHost(live ...sessions.Session) *fakeHost {
	return &fakeHost{live: live, procs: map[string][]*fakeProc{}, pid: 100}
}

func (h *fakeHost) find() ([]sessions.Session, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.live), nil
}

func (h *fakeHost) start(sess sessions.Session) (Process, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.pid++
	p := &fakeProc{pid: h.pid, done: make(chan struct{})}
	h.procs[sess.ID] = append(h.procs[sess.ID], p)
	return p, nil
}

// setLive replaces the live sessions (a logon, a logoff).
func (h *fakeHost) setLive(live ...sessions.Session) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.live = live
}

// count says how many helpers were started for a session and how many run.
func (h *fakeHost) count(id string) (started, running int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, p := range h.procs[id] {
		select {
		case <-p.done:
		default:
			running++
		}
	}
	return len(h.procs[id]), running
}

func (p *fakeProc) Wait() error { <-p.done; return errors.New("exited") }
func (p *fakeProc) Stop()       { p.once.Do(func() { close(p.done) }) }
func (p *fakeProc) Pid() int    { return p.pid }

// The supervisor starts a helper per session, restarts one that dies and
// stops one whose session ended.
func TestSupervisor(t *testing.T) {
	first, second := sessions.Session{ID: "x11-1001-0", UID: 1001}, sessions.Session{ID: "x11-1002-1", UID: 1002}
	h := newFakeHost(first, second)
	s := &Supervisor{
		Find:    h.find,
		Start:   h.start,
		Poll:    10 * time.Millisecond,
		Backoff: backoff.Backoff{Initial: 20 * time.Millisecond, Max: 100 * time.Millisecond, Factor: 1.6},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		_ = s.Run(ctx)
		close(done)
	}()
	testrig.Eventually(t, 5*time.Second, func() (bool, string) {
		a, ar := h.count("x11-1001-0")
		b, br := h.count("x11-1002-1")
		return a == 1 && ar == 1 && b == 1 && br == 1, "a helper per session"
	})
	h.mu.Lock()
	h.procs["x11-1001-0"][0].Stop() // it died
	h.mu.Unlock()
	testrig.Eventually(t, 5*time.Second, func() (bool, string) {
		a, ar := h.count("x11-1001-0")
		return a == 2 && ar == 1, "the dead helper restarted"
	})
	h.setLive(first) // the second session ended
	testrig.Eventually(t, 5*time.Second, func() (bool, string) {
		_, br := h.count("x11-1002-1")
		return br == 0, "the ended session's helper stopped"
	})
	cancel()
	<-done
	if _, ar := h.count("x11-1001-0"); ar != 0 {
		t.Errorf("a helper still runs after the supervisor stopped")
	}
}

// A session-change kick makes the supervisor start a new session's helper
// at once: the fake clock shows no time passed, while the poll is an hour.
func TestSupervisorKick(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		one := sessions.Session{ID: "wts-1", WTSID: 1}
		h := newFakeHost(one)
		changed := make(chan struct{}, 1)
		s := &Supervisor{Find: h.find, Start: h.start, Poll: time.Hour, Changed: changed}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() {
			_ = s.Run(ctx)
			close(done)
		}()
		begin := time.Now()
		synctest.Wait()
		h.setLive(one, sessions.Session{ID: "wts-2", WTSID: 2}) // a user logged on
		changed <- struct{}{}
		synctest.Wait()
		for _, id := range []string{"wts-1", "wts-2"} {
			if started, running := h.count(id); started != 1 || running != 1 {
				t.Errorf("session %s: %d helpers started, %d running; want one", id, started, running)
			}
		}
		if d := time.Since(begin); d != 0 {
			t.Errorf("the new session's helper waited %v, want no wait for the poll", d)
		}
		cancel()
		<-done
	})
}
