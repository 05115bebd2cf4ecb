package agent

import (
	"context"
	"log/slog"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigil-cc/vigil/internal/backoff"
	"github.com/vigil-cc/vigil/platform/desktop"
	"github.com/vigil-cc/vigil/sensors"
)

// Sample is an observation with the title pattern generation it was taken
// with (see Sampler.SetPattern), and what only the local diagnostics show.
type Sample struct {
	Observation
	Gen uint64

	// LOCAL ONLY (vigil-agent doctor): never sent to the coordinator.
	ForegroundPID int
	MicDBFS       float64 // SilenceDBFS without a microphone
	MicDevice     string
	// Err says why the desktop cannot be read; such samples are published
	// only with ReportFailures, and their desktop fields are zero.
	Err error
}

// Sampler reads the session's sensors: the desktop (idle time, Agent Desk
// window, screen lock) every Interval and whenever the microphone's voice
// or availability changes. It publishes only the latest sample: each one is
// complete, so a consumer that skips some loses nothing.
//
// Window titles are matched against the pattern here and go no further.
type Sampler struct {
	// OpenDesktop connects to the desktop session (desktop.Open).
	// Required.
	OpenDesktop func() (desktop.Desktop, error)
	// Mic, if set, is run by Run; its OnChange is taken over. Nil: no
	// microphone (mic_available false).
	Mic *sensors.Mic
	// Interval between desktop polls; zero: 250 ms.
	Interval time.Duration
	// Backoff for reopening the desktop; zero: backoff.Default.
	Backoff backoff.Backoff
	// Now is the clock; nil: time.Now.
	Now func() time.Time
	Log *slog.Logger
	// ReportFailures: while the desktop cannot be read, publish samples
	// with Err set (vigil-agent doctor --watch). Otherwise nothing is
	// published then.
	ReportFailures bool

	init    sync.Once
	pattern atomic.Pointer[genPattern]
	kick    chan struct{}
	out     chan Sample
}

type genPattern struct {
	re  *regexp.Regexp
	gen uint64
}

func (s *Sampler) setup() {
	s.init.Do(func() {
		s.kick = make(chan struct{}, 1)
		s.out = make(chan Sample, 1)
		if s.pattern.Load() == nil {
			s.pattern.Store(&genPattern{re: regexp.MustCompile(sensors.DefaultAgentDeskPattern), gen: 1})
		}
	})
}

// Samples delivers the latest sample.
func (s *Sampler) Samples() <-chan Sample {
	s.setup()
	return s.out
}

// SetPattern makes re the Agent Desk title pattern, asks for a sample at
// once and returns the new generation: samples with a lower Gen were taken
// with an older pattern. A pattern equal to the current one keeps its
// generation.
func (s *Sampler) SetPattern(re *regexp.Regexp) uint64 {
	s.setup()
	for {
		old := s.pattern.Load()
		if old.re.String() == re.String() {
			return old.gen
		}
		if s.pattern.CompareAndSwap(old, &genPattern{re: re, gen: old.gen + 1}) {
			s.Kick()
			return old.gen + 1
		}
	}
}

// Gen is the current pattern's generation.
func (s *Sampler) Gen() uint64 {
	s.setup()
	return s.pattern.Load().gen
}

// Kick asks for a sample now.
func (s *Sampler) Kick() {
	s.setup()
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

func (s *Sampler) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Run samples until ctx ends. A desktop that cannot be opened or read is
// retried with backoff, and meanwhile nothing is published: the
// coordinator then sees the sensor as silent, never as idle-free.
func (s *Sampler) Run(ctx context.Context) error {
	s.setup()
	log := s.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var wg sync.WaitGroup
	defer wg.Wait() // the microphone is closed before Run returns
	if s.Mic != nil {
		s.Mic.OnChange = func(sensors.MicState) { s.Kick() }
		wg.Go(func() { _ = s.Mic.Run(ctx) })
	}
	interval := s.Interval
	if interval <= 0 {
		interval = 250 * time.Millisecond
	}
	bo := s.Backoff
	if bo.IsZero() {
		bo = backoff.Default()
	}
	var (
		d        desktop.Desktop
		failing  bool  // the last attempt failed (logged once per outage)
		lastErr  error // why
		nextOpen time.Time
	)
	defer func() {
		if d != nil {
			d.Close()
		}
	}()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		if d == nil && !s.now().Before(nextOpen) {
			var err error
			if d, err = s.OpenDesktop(); err != nil {
				d = nil
				lastErr = err
				nextOpen = s.now().Add(bo.Next())
				if !failing {
					log.Warn("cannot open the desktop session; retrying", "err", err)
					failing = true
				}
			}
		}
		if d != nil {
			smp, err := s.sample(d)
			if err != nil {
				log.Warn("cannot read the desktop session; reconnecting", "err", err)
				d.Close()
				d = nil
				failing, lastErr = true, err
				nextOpen = s.now().Add(bo.Next())
			} else {
				if failing {
					log.Info("desktop session readable again")
					failing = false
				}
				bo.Reset()
				s.publish(smp)
			}
		}
		if d == nil && s.ReportFailures && lastErr != nil {
			smp := Sample{Gen: s.pattern.Load().gen, Err: lastErr}
			s.micState(&smp)
			s.publish(smp)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-s.kick:
		}
	}
}

// sample reads the desktop (sensors.ReadDesktop, the idle time stamped
// right after it was read) and the microphone state.
func (s *Sampler) sample(d desktop.Desktop) (Sample, error) {
	p := s.pattern.Load()
	smp := Sample{Gen: p.gen}
	r, err := sensors.ReadDesktop(d, p.re, s.now)
	if err != nil {
		return smp, err
	}
	smp.At, smp.Idle = r.At, time.Duration(r.IdleMs)*time.Millisecond
	smp.Foreground, smp.Minimized, smp.Locked = r.AgentDeskForeground, r.AgentDeskMinimized, r.ScreenLocked
	smp.ForegroundPID = r.ForegroundPID
	s.micState(&smp)
	return smp, nil
}

// micState fills in the microphone's state.
func (s *Sampler) micState(smp *Sample) {
	smp.MicDBFS = sensors.SilenceDBFS
	if s.Mic == nil {
		return
	}
	s.Mic.Flush() // a quiet microphone is read in this wake-up, not its own
	m := s.Mic.State()
	smp.MicAvailable, smp.Voice, smp.MicDBFS, smp.MicDevice = m.Available, m.Voice, m.DBFS, m.Device
}

// publish replaces any unconsumed sample with smp.
func (s *Sampler) publish(smp Sample) {
	for {
		select {
		case s.out <- smp:
			return
		default:
		}
		select {
		case <-s.out:
		default:
		}
	}
}
