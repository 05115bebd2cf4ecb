package sensors

import (
	"math"
	"time"
)

// Audio format of the microphone path: 16 kHz mono, 20 ms frames.
const (
	SampleRate    = 16000
	FrameSamples  = SampleRate / 50 // 320 samples = 20 ms
	FrameDuration = 20 * time.Millisecond
	// SilenceDBFS is the level reported for digital silence (and anything
	// quieter), instead of -Inf.
	SilenceDBFS = -120.0
)

// VADConfig are the voice activity detector's parameters, in 20 ms frames.
type VADConfig struct {
	// MarginDB: a frame counts as speech when its RMS is at least this far
	// above the noise floor ...
	MarginDB float64
	// ... and at least MinDBFS (so a near-silent room never "speaks").
	MinDBFS float64
	// OnsetFrames speech frames turn voice on (a click, one or two loud
	// frames, never does).
	OnsetFrames int
	// OnsetGapFrames: during onset, up to this many quiet frames in a row
	// pause the count instead of resetting it (the dip between two
	// syllables).
	OnsetGapFrames int
	// HangoverFrames quiet frames in a row turn voice off again.
	HangoverFrames int
	// FloorFrames: the noise floor is the minimum frame level over this many
	// frames, the current one included: it follows a quieter room at once
	// and a steadily louder one (a hum, a fan) after this long.
	FloorFrames int
}

// DefaultVADConfig is the product's detector (docs/agent-sensors.md):
// 12 dB above the floor and above -50 dBFS, 200 ms onset tolerating 40 ms
// dips, 300 ms hangover, a 1 s minimum-tracking floor.
func DefaultVADConfig() VADConfig {
	return VADConfig{
		MarginDB:       12,
		MinDBFS:        -50,
		OnsetFrames:    10, // 200 ms
		OnsetGapFrames: 2,  // 40 ms
		HangoverFrames: 15, // 300 ms
		FloorFrames:    50, // 1 s
	}
}

// VAD is a frame-by-frame voice activity detector on 20 ms frames of
// 16 kHz mono audio. It is pure and deterministic: the same frames give the
// same decisions. It is not safe for concurrent use.
type VAD struct {
	cfg    VADConfig
	levels []float64 // ring of the last FloorFrames frame levels
	next   int       // ring write position
	filled int       // how many ring entries are valid
	voice  bool
	run    int // onset: speech frames counted so far
	gap    int // onset: quiet frames in a row since the last speech frame
	quiet  int // voice on: quiet frames in a row (hangover)
}

// VADFrame is the detector's view of one frame.
type VADFrame struct {
	DBFS   float64 // the frame's RMS level
	Floor  float64 // the noise floor after this frame
	Speech bool    // the frame is above the floor by the margin and above MinDBFS
	Voice  bool    // voice activity after this frame
}

// NewVAD returns a detector with cfg; zero or negative frame counts are
// raised to 1.
func NewVAD(cfg VADConfig) *VAD {
	for _, n := range []*int{&cfg.OnsetFrames, &cfg.HangoverFrames, &cfg.FloorFrames} {
		if *n < 1 {
			*n = 1
		}
	}
	if cfg.OnsetGapFrames < 0 {
		cfg.OnsetGapFrames = 0
	}
	return &VAD{cfg: cfg, levels: make([]float64, cfg.FloorFrames)}
}

// Voice reports the current voice activity.
func (v *VAD) Voice() bool { return v.voice }

// RestSlackDB lowers Rest's wake level, for a noise floor that falls
// between two batches.
const RestSlackDB = 6

// Rest reports whether the detector is at rest — no voice, no onset being
// counted — and the level from which a frame could start an onset now:
// the margin above the current floor, at least MinDBFS, less RestSlackDB.
// While it rests, nothing quieter can change its decision promptly, so a
// source may batch such frames (see Batcher).
func (v *VAD) Rest() (atRest bool, wakeDBFS float64) {
	floor := SilenceDBFS
	if v.filled > 0 {
		floor = v.levels[0]
		for _, l := range v.levels[1:v.filled] {
			floor = min(floor, l)
		}
	}
	return !v.voice && v.run == 0, max(floor+v.cfg.MarginDB, v.cfg.MinDBFS) - RestSlackDB
}

// Process feeds one frame of samples in [-1, 1] (FrameSamples of them; the
// timing parameters assume 20 ms frames).
func (v *VAD) Process(frame []float32) VADFrame {
	return v.Step(FrameDBFS(frame))
}

// Step feeds one frame's level in dBFS.
func (v *VAD) Step(dbfs float64) VADFrame {
	if math.IsNaN(dbfs) || dbfs < SilenceDBFS {
		dbfs = SilenceDBFS
	}
	v.levels[v.next] = dbfs
	v.next = (v.next + 1) % len(v.levels)
	if v.filled < len(v.levels) {
		v.filled++
	}
	floor := dbfs
	for _, l := range v.levels[:v.filled] {
		floor = min(floor, l)
	}
	speech := dbfs >= floor+v.cfg.MarginDB && dbfs >= v.cfg.MinDBFS

	switch {
	case !v.voice && speech:
		v.run++
		v.gap = 0
		if v.run >= v.cfg.OnsetFrames {
			v.voice, v.quiet = true, 0
		}
	case !v.voice && v.run > 0:
		v.gap++
		if v.gap > v.cfg.OnsetGapFrames {
			v.run, v.gap = 0, 0
		}
	case v.voice && speech:
		v.quiet = 0
	case v.voice:
		v.quiet++
		if v.quiet >= v.cfg.HangoverFrames {
			v.voice, v.run, v.gap = false, 0, 0
		}
	}
	return VADFrame{DBFS: dbfs, Floor: floor, Speech: speech, Voice: v.voice}
}

// FrameDBFS is the RMS level of samples in [-1, 1] in dBFS (a full-scale
// sine reads -3.01), SilenceDBFS for silence or an empty frame.
func FrameDBFS(samples []float32) float64 {
	if len(samples) == 0 {
		return SilenceDBFS
	}
	var sum float64
	for _, s := range samples {
		sum += float64(s) * float64(s)
	}
	return PowerDBFS(sum / float64(len(samples)))
}

// PowerDBFS converts a mean square (power) to dBFS, floored at SilenceDBFS.
func PowerDBFS(meanSquare float64) float64 {
	db := 10 * math.Log10(meanSquare)
	if math.IsNaN(db) || db < SilenceDBFS {
		return SilenceDBFS
	}
	return db
}

// Level tracks the RMS over a window of frames (e.g. 5 frames = 100 ms):
// the latest window's level and the loudest one since the last reset. The
// windows are consecutive, not sliding.
type Level struct {
	frames int     // frames per window
	n      int     // frames in the current window
	sum    float64 // sum of mean squares in the current window
	latest float64
	peak   float64
}

// NewLevel measures windows of the given number of frames.
func NewLevel(frames int) *Level {
	return &Level{frames: max(frames, 1), latest: SilenceDBFS, peak: SilenceDBFS}
}

// Add adds one frame; it reports whether a window completed.
func (l *Level) Add(frame []float32) bool {
	var ms float64
	for _, s := range frame {
		ms += float64(s) * float64(s)
	}
	if len(frame) > 0 {
		ms /= float64(len(frame))
	}
	l.sum += ms
	l.n++
	if l.n < l.frames {
		return false
	}
	l.latest = PowerDBFS(l.sum / float64(l.n))
	l.peak = max(l.peak, l.latest)
	l.n, l.sum = 0, 0
	return true
}

// Latest is the last complete window's level (SilenceDBFS before any).
func (l *Level) Latest() float64 { return l.latest }

// Peak is the loudest complete window since the last ResetPeak.
func (l *Level) Peak() float64 { return l.peak }

// Partial is the level of the frames added since the last complete window
// (SilenceDBFS if none).
func (l *Level) Partial() float64 {
	if l.n == 0 {
		return SilenceDBFS
	}
	return PowerDBFS(l.sum / float64(l.n))
}

// ResetPeak forgets the peak.
func (l *Level) ResetPeak() { l.peak = SilenceDBFS }
