package sensors

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// seg is a stretch of synthetic audio, frames long.
type seg struct {
	kind   string // "silence", "sine", "noise", "click"
	frames int
	amp    float64 // peak (sine, click) or RMS-ish uniform noise amplitude
	hz     float64 // sine frequency
}

func silence(n int) seg               { return seg{kind: "silence", frames: n} }
func sine(n int, hz, amp float64) seg { return seg{kind: "sine", frames: n, hz: hz, amp: amp} }
func noise(n int, amp float64) seg    { return seg{kind: "noise", frames: n, amp: amp} }
func click(amp float64) seg           { return seg{kind: "click", frames: 1, amp: amp} }

// amplitude for a sine of the given RMS level.
func sineAmp(dbfs float64) float64 { return math.Sqrt2 * math.Pow(10, dbfs/20) }

// render turns segments into 20 ms frames. The sine's phase runs on across
// frames; the noise is seeded, so every run is the same.
func render(segs ...seg) [][]float32 {
	rng := rand.New(rand.NewPCG(1, 2))
	var out [][]float32
	t := 0
	for _, s := range segs {
		for range s.frames {
			f := make([]float32, FrameSamples)
			switch s.kind {
			case "sine":
				for i := range f {
					f[i] = float32(s.amp * math.Sin(2*math.Pi*s.hz*float64(t+i)/SampleRate))
				}
			case "noise":
				for i := range f {
					f[i] = float32(s.amp * (2*rng.Float64() - 1))
				}
			case "click":
				for i := range 16 { // 1 ms impulse
					f[i] = float32(s.amp)
				}
			}
			out = append(out, f)
			t += FrameSamples
		}
	}
	return out
}

// edges runs a fresh default VAD over frames and returns the frame indices
// at which voice turned on (+i) and off (-i) as strings, e.g. ["on@29",
// "off@74"].
func edges(frames [][]float32) []string {
	v := NewVAD(DefaultVADConfig())
	var out []string
	prev := false
	for i, f := range frames {
		r := v.Process(f)
		if r.Voice != prev {
			if r.Voice {
				out = append(out, fmt.Sprintf("on@%d", i))
			} else {
				out = append(out, fmt.Sprintf("off@%d", i))
			}
			prev = r.Voice
		}
	}
	return out
}

func TestVADEdges(t *testing.T) {
	loud := sineAmp(-23) // a 1 kHz tone at vol 0.1, as the rig's fixture
	for _, tc := range []struct {
		name string
		segs []seg
		want []string
	}{
		{"digital silence", []seg{silence(200)}, nil},
		// Speech-level tone after silence: on with the 10th loud frame (200 ms
		// of it), off with the 15th quiet frame after it (300 ms hangover).
		{"tone burst", []seg{silence(20), sine(40, 1000, loud), silence(40)}, []string{"on@29", "off@74"}},
		{"tone from the first frame", []seg{sine(5, 1000, loud), silence(5), sine(40, 1000, loud), silence(30)}, []string{"on@19", "off@64"}},
		{"exactly 200 ms is voice", []seg{silence(10), sine(10, 1000, loud), silence(30)}, []string{"on@19", "off@34"}},
		{"180 ms is not", []seg{silence(10), sine(9, 1000, loud), silence(30)}, nil},
		{"a click", []seg{silence(25), click(0.9), silence(25)}, nil},
		{"a double click", []seg{silence(25), click(0.9), click(0.9), silence(25)}, nil},
		{"clicks 60 ms apart", []seg{silence(25), click(0.9), silence(2), click(0.9), silence(2), click(0.9), silence(25)}, nil},
		// Onset tolerates a 40 ms dip (paused, not reset) ...
		{"syllables with a 40 ms dip", []seg{silence(10), sine(5, 300, loud), silence(2), sine(5, 300, loud), silence(30)}, []string{"on@21", "off@36"}},
		// ... but not 60 ms.
		{"two short bursts 60 ms apart", []seg{silence(10), sine(5, 300, loud), silence(3), sine(5, 300, loud), silence(30)}, nil},
		// Once on, dips shorter than the hangover keep it on.
		{"280 ms pause inside speech", []seg{silence(10), sine(20, 300, loud), silence(14), sine(20, 300, loud), silence(20)}, []string{"on@19", "off@78"}},
		{"300 ms pause ends it", []seg{silence(10), sine(20, 300, loud), silence(15), sine(20, 300, loud), silence(20)}, []string{"on@19", "off@44", "on@54", "off@79"}},
		// Speech-like: 160 ms syllables, 40 ms dips, over a quiet room.
		{"syllables over room noise", append(append([]seg{noise(30, 0.0005)},
			repeat(6, sine(8, 220, sineAmp(-20)), noise(2, 0.0005))...), noise(30, 0.0005)),
			[]string{"on@41", "off@102"}},
		// A steady hum is absorbed into the floor: from the start it never
		// counts; after silence it counts until the floor's 1 s window holds
		// only hum (hum frame 49), then the hangover ends it.
		{"hum from the start", []seg{sine(200, 100, sineAmp(-35))}, nil},
		{"hum after silence", []seg{silence(60), sine(200, 100, sineAmp(-35))}, []string{"on@69", "off@123"}},
		{"steady noise from the start", []seg{noise(200, 0.03)}, nil},
		{"steady noise after silence", []seg{silence(60), noise(200, 0.03)}, []string{"on@69", "off@123"}},
		// Speech over a hum that has been there for 2 s: the floor is the
		// hum, speech is 15 dB above it.
		{"speech over an old hum", []seg{sine(100, 100, sineAmp(-35)), sine(30, 100, sineAmp(-20)), sine(50, 100, sineAmp(-35))}, []string{"on@109", "off@144"}},
		// Above the floor but too quiet to be a voice at the desk.
		{"quiet tone under -50 dBFS", []seg{silence(20), sine(60, 1000, sineAmp(-55)), silence(20)}, nil},
		{"tone just above -50 dBFS", []seg{silence(20), sine(30, 1000, sineAmp(-49)), silence(20)}, []string{"on@29", "off@64"}},
	} {
		if got := edges(render(tc.segs...)); !slices.Equal(got, tc.want) {
			t.Errorf("%s: voice edges %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestVADRestWakeLevel checks what a batching source relies on: while the
// detector rests, a frame below Rest's wake level leaves it at rest, and it
// is not at rest while an onset is counted or voice is on.
func TestVADRestWakeLevel(t *testing.T) {
	loud := sineAmp(-23)
	for _, segs := range [][]seg{
		{silence(20), sine(40, 1000, loud), silence(40)},
		{silence(25), click(0.9), silence(25)},
		{silence(60), sine(200, 100, sineAmp(-35))},
		{noise(30, 0.0005), sine(8, 220, sineAmp(-20)), noise(2, 0.0005), sine(8, 220, sineAmp(-20)), noise(30, 0.0005)},
		{sine(100, 100, sineAmp(-35)), sine(30, 100, sineAmp(-20)), sine(50, 100, sineAmp(-35))},
		{silence(20), sine(30, 1000, sineAmp(-49)), silence(20)},
		{noise(60, 0.03), silence(5), sine(30, 1000, sineAmp(-45)), silence(20)},
	} {
		v := NewVAD(DefaultVADConfig())
		rests := 0
		for i, f := range render(segs...) {
			atRest, wake := v.Rest()
			r := v.Process(f)
			after, _ := v.Rest()
			if atRest {
				rests++
				if r.DBFS < wake && !after {
					t.Errorf("%v frame %d: %.1f dBFS, below the wake level %.1f, left rest", segs, i, r.DBFS, wake)
				}
			}
			if after && (r.Voice || r.Speech) {
				t.Errorf("%v frame %d: at rest with voice %v, speech %v", segs, i, r.Voice, r.Speech)
			}
		}
		if rests == 0 {
			t.Errorf("%v: never at rest", segs)
		}
	}
	if atRest, wake := NewVAD(DefaultVADConfig()).Rest(); !atRest || wake != DefaultVADConfig().MinDBFS-RestSlackDB {
		t.Errorf("a fresh detector: at rest %v, wake level %.1f; want true, %.1f", atRest, wake, DefaultVADConfig().MinDBFS-RestSlackDB)
	}
}

func repeat(n int, s ...seg) []seg {
	var out []seg
	for range n {
		out = append(out, s...)
	}
	return out
}

func TestFrameDBFS(t *testing.T) {
	for _, tc := range []struct {
		name  string
		frame []float32
		want  float64
	}{
		{"silence", render(silence(1))[0], SilenceDBFS},
		{"empty", nil, SilenceDBFS},
		{"1 kHz sine at 0.1", render(sine(1, 1000, 0.1))[0], -23.0103},
		{"full-scale sine", render(sine(1, 1000, 1))[0], -3.0103},
		{"full-scale square", slices.Repeat([]float32{1, -1}, FrameSamples/2), 0},
		{"below the floor", slices.Repeat([]float32{1e-7}, FrameSamples), SilenceDBFS},
	} {
		if got := FrameDBFS(tc.frame); math.Abs(got-tc.want) > 0.001 {
			t.Errorf("%s: %.4f dBFS, want %.4f", tc.name, got, tc.want)
		}
	}
}

func TestVADFloorFollowsQuieterRoomAtOnce(t *testing.T) {
	v := NewVAD(DefaultVADConfig())
	for range 100 {
		v.Step(-40)
	}
	if r := v.Step(-70); r.Floor != -70 {
		t.Fatalf("floor %.1f after a quieter frame, want -70", r.Floor)
	}
	// 49 more frames the old level is still in the window ...
	for range 49 {
		v.Step(-40)
	}
	if r := v.Step(-40); r.Floor != -40 {
		t.Fatalf("floor %.1f once the window holds only -40 frames, want -40", r.Floor)
	}
	if r := v.Step(math.Inf(-1)); r.DBFS != SilenceDBFS || r.Floor != SilenceDBFS {
		t.Fatalf("-Inf frame gave %+v", r)
	}
	if r := v.Step(math.NaN()); r.DBFS != SilenceDBFS {
		t.Fatalf("NaN frame gave %+v", r)
	}
}

func TestLevel(t *testing.T) {
	l := NewLevel(5)
	if l.Latest() != SilenceDBFS || l.Peak() != SilenceDBFS {
		t.Fatal("fresh level not silent")
	}
	frames := render(silence(5), sine(5, 1000, 0.1), sine(3, 1000, 0.01), silence(2))
	done := 0
	for _, f := range frames {
		if l.Add(f) {
			done++
		}
	}
	if done != 3 {
		t.Fatalf("%d windows completed, want 3", done)
	}
	// Last window: 3 frames at -43 dBFS and 2 silent: mean square 3/5 of it.
	if want := -43.0103 + 10*math.Log10(3.0/5); math.Abs(l.Latest()-want) > 0.001 {
		t.Errorf("latest %.3f, want %.3f", l.Latest(), want)
	}
	if math.Abs(l.Peak()-(-23.0103)) > 0.001 {
		t.Errorf("peak %.3f, want -23.01", l.Peak())
	}
	l.ResetPeak()
	if l.Peak() != SilenceDBFS {
		t.Error("peak not reset")
	}
}
