package sensors

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/vigil-cc/vigil/internal/backoff"
)

// FrameSource is an open microphone delivering 16 kHz mono audio.
type FrameSource interface {
	// ReadFrame fills frame (FrameSamples long) with the next 20 ms of
	// samples in [-1, 1]. It blocks until they are there or ctx ends. An
	// error other than ctx's means the device is gone: the source is dead.
	ReadFrame(ctx context.Context, frame []float32) error
	// Close releases the device.
	Close() error
}

// Batcher is a FrameSource that can hold quiet audio back while the
// detector rests and hand it over in batches, so that a quiet microphone
// wakes the agent a few times a second instead of for every chunk
// (docs/performance.md). Mic drives it.
type Batcher interface {
	// Rest says whether the detector is at rest and, if so, from which
	// level (dBFS) a frame could start voice (VAD.Rest): the source hands
	// such a frame over at once and may hold quieter ones back, until
	// Flush or for a bounded time. Not at rest, it holds nothing back.
	Rest(atRest bool, wakeDBFS float64)
	// Flush hands over what is held back now, without blocking; it may be
	// called from any goroutine.
	Flush()
}

// OpenMic opens a microphone: the default input device when device is
// empty, else the first input device whose name contains device. It also
// returns the opened device's name. platform/audio provides one.
type OpenMic func(device string) (src FrameSource, name string, err error)

// levelFrames: the reported level is the RMS over 100 ms.
const levelFrames = 5

// MicState is what the microphone component publishes.
type MicState struct {
	Available bool    // a device is open and delivering audio
	Voice     bool    // voice activity (VAD) right now
	DBFS      float64 // RMS of the latest 100 ms, SilenceDBFS when unavailable
	Device    string  // the open device's name, "" when unavailable
}

// Mic keeps a microphone open and runs the voice activity detector on it.
// When the device cannot be opened, fails or stops delivering audio, the
// state says unavailable and Run retries with Backoff; it never gives up
// and never panics on device errors. Audio samples stay inside Run: only
// the state (booleans and a level) comes out.
type Mic struct {
	Open    OpenMic         // required
	Device  string          // name substring; "" for the default device
	VAD     VADConfig       // zero: DefaultVADConfig
	Backoff backoff.Backoff // zero: backoff.Default
	// OnChange, if set, is called on Run's goroutine after Available or
	// Voice changed, with the new state. It must not block for long: audio
	// keeps arriving.
	OnChange func(MicState)

	mu      sync.Mutex
	state   MicState
	peak    float64 // loudest 100 ms since the last TakePeak
	err     error   // why the device is unavailable
	batcher Batcher // the open source, if it batches
}

// Flush has the microphone process the audio its source holds back (see
// Batcher). The agent's sampler calls it on every poll, so that a quiet
// microphone is read in the same wake-up as the desktop.
func (m *Mic) Flush() {
	m.mu.Lock()
	b := m.batcher
	m.mu.Unlock()
	if b != nil {
		b.Flush()
	}
}

// State returns the latest state.
func (m *Mic) State() MicState {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.state
	if !s.Available {
		s.DBFS = SilenceDBFS
	}
	return s
}

// Err says why the microphone is unavailable (nil while it is available or
// before the first attempt).
func (m *Mic) Err() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.err
}

// TakePeak returns the loudest 100 ms level since the previous call (or
// since Run started) and starts a new measurement.
func (m *Mic) TakePeak() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.peak
	m.peak = SilenceDBFS
	return p
}

// Run keeps the microphone open until ctx ends, then returns ctx's error.
func (m *Mic) Run(ctx context.Context) error {
	if m.Open == nil {
		return errors.New("sensors.Mic: Open is nil")
	}
	m.mu.Lock()
	m.peak = SilenceDBFS
	m.mu.Unlock()
	cfg := m.VAD
	if cfg == (VADConfig{}) {
		cfg = DefaultVADConfig()
	}
	bo := m.Backoff
	if bo.IsZero() {
		bo = backoff.Default()
	}
	for {
		delivered, err := m.session(ctx, cfg)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		m.mu.Lock()
		m.err = err
		m.mu.Unlock()
		if delivered {
			bo.Reset()
		}
		if !bo.Wait(ctx) {
			return ctx.Err()
		}
	}
}

// session opens the device once and runs the detector until the device
// fails or ctx ends. It reports whether any audio arrived.
func (m *Mic) session(ctx context.Context, cfg VADConfig) (delivered bool, err error) {
	src, name, err := m.Open(m.Device)
	if err != nil {
		return false, err
	}
	defer func() {
		if cerr := src.Close(); cerr != nil && err == nil && ctx.Err() == nil {
			err = cerr
		}
		m.update(func(s *MicState) { *s = MicState{DBFS: SilenceDBFS} })
	}()
	vad, level := NewVAD(cfg), NewLevel(levelFrames)
	b, _ := src.(Batcher)
	if b != nil {
		m.mu.Lock()
		m.batcher = b
		m.mu.Unlock()
		defer func() {
			m.mu.Lock()
			m.batcher = nil
			m.mu.Unlock()
		}()
	}
	frame := make([]float32, FrameSamples)
	for {
		if b != nil {
			b.Rest(vad.Rest())
		}
		if err := src.ReadFrame(ctx, frame); err != nil {
			if ctx.Err() != nil {
				return delivered, ctx.Err()
			}
			return delivered, fmt.Errorf("reading microphone %q: %w", name, err)
		}
		delivered = true
		voice := vad.Process(frame).Voice
		levelDone := level.Add(frame)
		m.update(func(s *MicState) {
			s.Available, s.Voice, s.Device = true, voice, name
			s.DBFS = level.Latest() // SilenceDBFS until the first 100 ms are in
			if levelDone {
				m.peak = max(m.peak, s.DBFS)
			}
		})
		clear(frame) // no sample outlives its frame
	}
}

// update changes the state under the lock and calls OnChange (outside it)
// if Available or Voice changed.
func (m *Mic) update(f func(*MicState)) {
	m.mu.Lock()
	old := m.state
	f(&m.state)
	now := m.state
	if now.Available {
		m.err = nil
	}
	m.mu.Unlock()
	if m.OnChange != nil && (old.Available != now.Available || old.Voice != now.Voice) {
		m.OnChange(now)
	}
}

// ListenResult is the outcome of Listen.
type ListenResult struct {
	Available bool    // the device opened and delivered audio
	Voice     bool    // voice was detected at some point
	PeakDBFS  float64 // loudest 100 ms RMS heard (SilenceDBFS if none)
	Device    string  // the opened device's name
	Frames    int     // 20 ms frames heard
	Err       error   // why it is unavailable
}

// Listen opens the microphone once and runs the detector over d of audio
// (counted in frames, so a slow device is not cut short; but it gives up
// after d + stall of wall time). d of 0 only checks that the device
// delivers one frame.
func Listen(ctx context.Context, open OpenMic, device string, d time.Duration, cfg VADConfig) ListenResult {
	res := ListenResult{PeakDBFS: SilenceDBFS}
	src, name, err := open(device)
	if err != nil {
		res.Err = err
		return res
	}
	defer src.Close()
	res.Device = name
	const stall = 2 * time.Second
	ctx, cancel := context.WithTimeout(ctx, d+stall)
	defer cancel()
	if cfg == (VADConfig{}) {
		cfg = DefaultVADConfig()
	}
	vad, level := NewVAD(cfg), NewLevel(levelFrames)
	frame := make([]float32, FrameSamples)
	want := max(int(d/FrameDuration), 1)
	for res.Frames < want {
		if err := src.ReadFrame(ctx, frame); err != nil {
			res.Err = fmt.Errorf("reading microphone %q: %w", name, err)
			break
		}
		res.Frames++
		res.Voice = vad.Process(frame).Voice || res.Voice
		level.Add(frame)
		clear(frame)
	}
	res.Available = res.Err == nil && res.Frames > 0
	res.PeakDBFS = level.Peak()
	if res.Frames > 0 && res.Frames < levelFrames && res.PeakDBFS == SilenceDBFS {
		// Shorter than one 100 ms window: report what was heard.
		res.PeakDBFS = level.Partial()
	}
	return res
}
