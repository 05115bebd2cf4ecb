package service

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/vigil-cc/vigil/internal/backoff"
	"github.com/vigil-cc/vigil/platform/sessions"
)

// Process is a running helper.
type Process interface {
	// Wait returns when the helper has exited.
	Wait() error
	// Stop asks the helper to stop (SIGTERM) and kills it after a grace
	// period; it returns when it has exited.
	Stop()
	Pid() int
}

// Supervisor runs one helper per interactive session: it starts one for
// each new session, restarts one that dies (with backoff), and stops it
// when its session ends.
type Supervisor struct {
	// Find lists the interactive sessions (sessions.Find).
	Find func() ([]sessions.Session, error)
	// Start starts the helper for a session as the session's user.
	Start func(sessions.Session) (Process, error)
	Log   *slog.Logger
	// Poll is how often sessions are looked for; zero: 2 s.
	Poll time.Duration
	// Changed, when it delivers, makes the supervisor look for sessions at
	// once (Windows: the service's session-change notifications), so a
	// new session's helper need not wait for the poll, which stays as a
	// safety net. Senders should not block: a buffer of one coalesces a
	// burst of changes into one look. Nil: the poll only.
	Changed <-chan struct{}
	// Backoff before restarting a helper that died; zero: backoff.Default
	// (1 s, ×1.6, ±20 %, at most 30 s); reset once a helper stayed up
	// StableAfter (zero: 30 s).
	Backoff     backoff.Backoff
	StableAfter time.Duration
	// Now is the clock; nil: time.Now.
	Now func() time.Time
}

// Run supervises until ctx ends, then stops every helper.
func (s *Supervisor) Run(ctx context.Context) error {
	if s.Log == nil {
		s.Log = slog.New(slog.DiscardHandler)
	}
	if s.Poll <= 0 {
		s.Poll = 2 * time.Second
	}
	if s.Backoff.IsZero() {
		s.Backoff = backoff.Default()
	}
	if s.StableAfter <= 0 {
		s.StableAfter = 30 * time.Second
	}
	var wg sync.WaitGroup
	running := map[string]context.CancelFunc{}
	defer func() {
		for _, stop := range running {
			stop()
		}
		wg.Wait()
	}()
	t := time.NewTicker(s.Poll)
	defer t.Stop()
	for {
		found, err := s.Find()
		if err != nil {
			s.Log.Warn("finding the desktop sessions failed", "err", err)
		} else {
			live := map[string]bool{}
			for _, sess := range found {
				live[sess.ID] = true
				if running[sess.ID] != nil {
					continue
				}
				hctx, stop := context.WithCancel(ctx)
				running[sess.ID] = stop
				s.Log.Info("desktop session found; starting its helper", "session", sess.ID, "user", sess.User)
				wg.Go(func() { s.keep(hctx, sess) })
			}
			for id, stop := range running {
				if !live[id] {
					s.Log.Info("desktop session ended; stopping its helper", "session", id)
					stop()
					delete(running, id)
				}
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-s.Changed:
		}
	}
}

// keep runs sess's helper until ctx ends, restarting it when it dies.
func (s *Supervisor) keep(ctx context.Context, sess sessions.Session) {
	bo := s.Backoff
	bo.StableAfter, bo.Now = s.StableAfter, s.Now
	for ctx.Err() == nil {
		bo.Begin()
		p, err := s.Start(sess)
		if err != nil {
			s.Log.Error("starting the helper failed", "session", sess.ID, "user", sess.User, "err", err)
		} else {
			s.Log.Info("helper started", "session", sess.ID, "user", sess.User, "pid", p.Pid())
			exited := make(chan error, 1)
			go func() { exited <- p.Wait() }()
			select {
			case <-ctx.Done():
				p.Stop()
				<-exited
				s.Log.Info("helper stopped", "session", sess.ID, "pid", p.Pid())
				return
			case err := <-exited:
				s.Log.Warn("helper exited; restarting it", "session", sess.ID, "pid", p.Pid(), "err", err)
			}
		}
		if !bo.Wait(ctx) {
			return
		}
	}
}
