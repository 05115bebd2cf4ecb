package agent

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Notifier shows desktop notifications. platform/notify implements it over
// D-Bus (org.freedesktop.Notifications).
type Notifier interface {
	// Notify shows a notification, replacing the one with id replaces in
	// place (0: a new one), and returns its id. An urgent notification
	// stays until it is closed.
	Notify(ctx context.Context, replaces uint32, summary, body string, urgent bool) (uint32, error)
	// CloseNotification removes a notification.
	CloseNotification(ctx context.Context, id uint32) error
}

// Texts of the notifications.
const (
	NoteSummary = "Agent Desk"
	// LoggedOutBody is the notice after the coordinator logged the user out.
	LoggedOutBody = "You were logged out of the Agent Desk due to inactivity"
)

// CountdownBody is the warning's text with n seconds left.
func CountdownBody(n int) string {
	unit := "seconds"
	if n == 1 {
		unit = "second"
	}
	return fmt.Sprintf("You will be logged out in %d %s due to inactivity", n, unit)
}

// secondsLeft is the countdown's number: whole seconds left, rounded up.
func secondsLeft(left time.Duration) int {
	if left <= 0 {
		return 0
	}
	return int((left + time.Second - 1) / time.Second)
}

// Warnings shows the inactivity warning on screen: a notification counting
// down to the deadline, updated in place when the number of seconds
// changes (about once a second), closed when the warning is withdrawn, and
// a notice after a logout. Without a notification service it logs and
// carries on.
//
// Its methods only record what should show and never block; Run does the
// showing.
type Warnings struct {
	Notifier Notifier // nil: log only
	Log      *slog.Logger
	Now      func() time.Time // nil: time.Now
	// Linger: a countdown that reached zero without a logout or withdrawal
	// (e.g. the coordinator is unreachable) is closed this long after its
	// deadline. Zero: 10 s.
	Linger time.Duration
	// OnShow, if set, is called after each notification shown (tests).
	OnShow func(body string)

	mu   sync.Mutex
	want display
	wake chan struct{}
	once sync.Once
}

type displayKind uint8

const (
	showNothing displayKind = iota
	showCountdown
	showLoggedOut
)

type display struct {
	kind     displayKind
	deadline time.Time // showCountdown: local clock
	seq      uint64    // bumped on every request
}

func (w *Warnings) setup() {
	w.once.Do(func() { w.wake = make(chan struct{}, 1) })
}

func (w *Warnings) now() time.Time {
	if w.Now != nil {
		return w.Now()
	}
	return time.Now()
}

func (w *Warnings) set(kind displayKind, deadline time.Time) {
	w.setup()
	w.mu.Lock()
	w.want = display{kind: kind, deadline: deadline, seq: w.want.seq + 1}
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Show counts down to deadline (on the local clock). A later Show moves
// the deadline.
func (w *Warnings) Show(deadline time.Time) { w.set(showCountdown, deadline) }

// Withdraw removes the warning.
func (w *Warnings) Withdraw() { w.set(showNothing, time.Time{}) }

// LoggedOut replaces the warning with the logout notice.
func (w *Warnings) LoggedOut() { w.set(showLoggedOut, time.Time{}) }

// Showing reports whether a countdown is wanted on screen.
func (w *Warnings) Showing() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.want.kind == showCountdown
}

// Run shows what is asked until ctx ends, then closes the warning.
func (w *Warnings) Run(ctx context.Context) error {
	w.setup()
	log := w.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	linger := w.Linger
	if linger <= 0 {
		linger = 10 * time.Second
	}
	var (
		id       uint32 // the notification on screen, 0 if none
		shownN   = -1   // the number it shows
		doneSeq  uint64 // the request fully handled (logout notices, withdrawals)
		failed   bool   // the notifier failed during this warning (logged once)
		timer    = time.NewTimer(time.Hour)
		deadline time.Time
	)
	defer timer.Stop()
	call := func(what string, f func(ctx context.Context) error) {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
		defer cancel()
		if err := f(cctx); err != nil && !failed {
			failed = true
			log.Warn("cannot show the warning on screen; it is only logged", "what", what, "err", err)
		}
	}
	closeNote := func() {
		if id != 0 && w.Notifier != nil {
			old := id
			call("close", func(c context.Context) error { return w.Notifier.CloseNotification(c, old) })
		}
		id, shownN = 0, -1
	}
	notify := func(body string, urgent bool) {
		if w.Notifier != nil {
			call("notify", func(c context.Context) error {
				n, err := w.Notifier.Notify(c, id, NoteSummary, body, urgent)
				if err == nil {
					id = n
				}
				return err
			})
		}
		if w.OnShow != nil {
			w.OnShow(body)
		}
	}
	defer closeNote()

	for {
		w.mu.Lock()
		want := w.want
		w.mu.Unlock()
		next := time.Hour
		switch want.kind {
		case showCountdown:
			now := w.now()
			if want.seq != doneSeq {
				if shownN < 0 {
					failed = false
					log.Info("inactivity warning", "logout_in", want.deadline.Sub(now).Round(time.Millisecond))
				} else if !want.deadline.Equal(deadline) {
					log.Info("inactivity warning moved", "logout_in", want.deadline.Sub(now).Round(time.Millisecond))
				}
				doneSeq, deadline = want.seq, want.deadline
			}
			left := want.deadline.Sub(now)
			if left <= -linger {
				// Nobody said how it ended: take the countdown down.
				closeNote()
				w.mu.Lock()
				if w.want.seq == want.seq {
					w.want.kind = showNothing
				}
				w.mu.Unlock()
				continue
			}
			n := secondsLeft(left)
			if n != shownN {
				notify(CountdownBody(n), true)
				shownN = n
			}
			// Wake when the number changes: at deadline − (n−1) s.
			if n > 0 {
				next = left - time.Duration(n-1)*time.Second
			} else {
				next = left + linger
			}
		case showNothing:
			if want.seq != doneSeq {
				doneSeq = want.seq
				if id != 0 || shownN >= 0 {
					log.Info("inactivity warning withdrawn")
				}
				closeNote()
			}
		case showLoggedOut:
			if want.seq != doneSeq {
				doneSeq = want.seq
				log.Warn("logged out of the Agent Desk due to inactivity")
				// The countdown turns into the notice in place.
				notify(LoggedOutBody, false)
				id, shownN = 0, -1 // the notice expires by itself
			}
		}
		timer.Reset(max(next, time.Millisecond))
		select {
		case <-ctx.Done():
			return nil
		case <-w.wake:
		case <-timer.C:
		}
	}
}
