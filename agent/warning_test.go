package agent

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vigil-cc/vigil/internal/testrig"
)

// fakeNotifier records what was shown, stamped with the (bubble's) clock.
type fakeNotifier struct {
	mu     sync.Mutex
	start  time.Time
	events []string
	nextID uint32
	open   map[uint32]string
	err    error
}

func newFakeNotifier() *fakeNotifier {
	return &fakeNotifier{start: time.Now(), open: map[uint32]string{}}
}

func (f *fakeNotifier) Notify(_ context.Context, replaces uint32, summary, body string, urgent bool) (uint32, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return 0, f.err
	}
	id := replaces
	if id == 0 || f.open[id] == "" {
		f.nextID++
		id = f.nextID
	}
	f.open[id] = body
	f.events = append(f.events, fmt.Sprintf("%v notify #%d(replaces %d, urgent=%v) %s: %s", time.Since(f.start), id, replaces, urgent, summary, body))
	return id, nil
}

func (f *fakeNotifier) CloseNotification(_ context.Context, id uint32) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	delete(f.open, id)
	f.events = append(f.events, fmt.Sprintf("%v close #%d", time.Since(f.start), id))
	return nil
}

func (f *fakeNotifier) take() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	e := f.events
	f.events = nil
	return e
}

func (f *fakeNotifier) onScreen() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.open)
}

func wantEvents(t *testing.T, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("shown:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func TestCountdownBody(t *testing.T) {
	for n, want := range map[int]string{
		60: "You will be logged out in 60 seconds due to inactivity",
		1:  "You will be logged out in 1 second due to inactivity",
		0:  "You will be logged out in 0 seconds due to inactivity",
	} {
		if got := CountdownBody(n); got != want {
			t.Errorf("CountdownBody(%d) = %q, want %q", n, got, want)
		}
	}
	for left, want := range map[time.Duration]int{
		6 * time.Second: 6, 5001 * time.Millisecond: 6, 5 * time.Second: 5, time.Millisecond: 1, 0: 0, -time.Second: 0,
	} {
		if got := secondsLeft(left); got != want {
			t.Errorf("secondsLeft(%v) = %d, want %d", left, got, want)
		}
	}
}

// The countdown is updated in place once a second, when its number
// changes, and turns into the logout notice.
func TestWarningsCountdownThenLogout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newFakeNotifier()
		w := &Warnings{Notifier: n}
		stop := runWarnings(t, w)

		// A 6 s deadline received 200 ms past a second boundary.
		time.Sleep(200 * time.Millisecond)
		w.Show(time.Now().Add(6 * time.Second))
		time.Sleep(6*time.Second + 100*time.Millisecond)
		w.LoggedOut()
		synctest.Wait()
		wantEvents(t, n.take(),
			"200ms notify #1(replaces 0, urgent=true) Agent Desk: You will be logged out in 6 seconds due to inactivity",
			"1.2s notify #1(replaces 1, urgent=true) Agent Desk: You will be logged out in 5 seconds due to inactivity",
			"2.2s notify #1(replaces 1, urgent=true) Agent Desk: You will be logged out in 4 seconds due to inactivity",
			"3.2s notify #1(replaces 1, urgent=true) Agent Desk: You will be logged out in 3 seconds due to inactivity",
			"4.2s notify #1(replaces 1, urgent=true) Agent Desk: You will be logged out in 2 seconds due to inactivity",
			"5.2s notify #1(replaces 1, urgent=true) Agent Desk: You will be logged out in 1 second due to inactivity",
			"6.2s notify #1(replaces 1, urgent=true) Agent Desk: You will be logged out in 0 seconds due to inactivity",
			"6.3s notify #1(replaces 1, urgent=false) Agent Desk: You were logged out of the Agent Desk due to inactivity",
		)
		if w.Showing() {
			t.Error("Showing after the logout")
		}
		// The notice expires by itself: stopping closes nothing more.
		stop()
		wantEvents(t, n.take())
	})
}

// Withdrawn: the notification is closed. A new deadline moves the
// countdown; a deadline that passes with no word takes it down later.
func TestWarningsWithdrawMoveAndLinger(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newFakeNotifier()
		w := &Warnings{Notifier: n, Linger: 2 * time.Second}
		defer runWarnings(t, w)()

		w.Show(time.Now().Add(10 * time.Second))
		time.Sleep(1500 * time.Millisecond)
		w.Withdraw()
		synctest.Wait()
		wantEvents(t, n.take(),
			"0s notify #1(replaces 0, urgent=true) Agent Desk: You will be logged out in 10 seconds due to inactivity",
			"1s notify #1(replaces 1, urgent=true) Agent Desk: You will be logged out in 9 seconds due to inactivity",
			"1.5s close #1",
		)
		time.Sleep(5 * time.Second)
		wantEvents(t, n.take()) // nothing while withdrawn

		// A warning, then the deadline moves 30 s out (settings change).
		w.Show(time.Now().Add(3 * time.Second))
		synctest.Wait()
		w.Show(time.Now().Add(30 * time.Second))
		synctest.Wait()
		wantEvents(t, n.take(),
			"6.5s notify #2(replaces 0, urgent=true) Agent Desk: You will be logged out in 3 seconds due to inactivity",
			"6.5s notify #2(replaces 2, urgent=true) Agent Desk: You will be logged out in 30 seconds due to inactivity",
		)
		// No logout or withdrawal arrives: closed Linger after the deadline.
		time.Sleep(30*time.Second + 2*time.Second + time.Millisecond)
		synctest.Wait()
		got := n.take()
		if len(got) != 31 || got[29] != "36.5s notify #2(replaces 2, urgent=true) Agent Desk: You will be logged out in 0 seconds due to inactivity" ||
			got[30] != "38.5s close #2" {
			t.Errorf("countdown to 0 then close:\n  %s", strings.Join(got, "\n  "))
		}
		if n.onScreen() != 0 || w.Showing() {
			t.Errorf("on screen %d, Showing %v", n.onScreen(), w.Showing())
		}
	})
}

// Stopping while a warning shows closes it; without a notification
// service the warning is only logged, and the agent carries on.
func TestWarningsStopAndNoService(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newFakeNotifier()
		w := &Warnings{Notifier: n}
		stop := runWarnings(t, w)
		w.Show(time.Now().Add(5 * time.Second))
		synctest.Wait()
		stop()
		if got := n.take(); len(got) != 2 || !strings.HasSuffix(got[1], "close #1") {
			t.Errorf("stopping with a warning on screen: %q", got)
		}

		var shown []string
		broken := newFakeNotifier()
		broken.err = errors.New("no desktop notification service")
		var logged testrig.Buffer
		w = &Warnings{Notifier: broken, Log: newTextLog(&logged), OnShow: func(b string) { shown = append(shown, b) }}
		defer runWarnings(t, w)()
		w.Show(time.Now().Add(2 * time.Second))
		time.Sleep(3 * time.Second)
		w.LoggedOut()
		synctest.Wait()
		if len(shown) != 4 || shown[3] != LoggedOutBody {
			t.Errorf("shown %q", shown)
		}
		log := logged.String()
		if strings.Count(log, "cannot show the warning on screen") != 1 || !strings.Contains(log, "inactivity warning") ||
			!strings.Contains(log, "logged out of the Agent Desk") {
			t.Errorf("log:\n%s", log)
		}
	})
}

// runWarnings runs w until stop, which returns once Run has.
func runWarnings(t *testing.T, w *Warnings) (stop func()) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { _ = w.Run(ctx); close(done) }()
	return func() { cancel(); <-done }
}
