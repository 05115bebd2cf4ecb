package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vigil-cc/vigil/platform/desktop"
	"github.com/vigil-cc/vigil/sensors"
)

const canary = "CANARY-7f3a"

func env(kv ...string) func(string) (string, bool) {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestParseDoctorFlags(t *testing.T) {
	cfg, err := parseDoctorFlags(nil, env())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.json || cfg.watch || !cfg.mic || !cfg.desktop || cfg.listen != time.Second || cfg.pattern.String() != "^Agent Desk" || cfg.interval != 200*time.Millisecond {
		t.Errorf("defaults: %+v", cfg)
	}

	// The environment mirrors every flag; the command line wins.
	cfg, err = parseDoctorFlags([]string{"--listen-ms", "250"}, env(
		"VIGIL_JSON", "true", "VIGIL_AGENT_DESK_TITLE", "(?i)^desk", "VIGIL_LISTEN_MS", "5000",
		"VIGIL_MIC_DEVICE", "USB", "VIGIL_MIC", "false", "VIGIL_DISPLAY", ":7", "VIGIL_WATCH_INTERVAL", "1s"))
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.json || cfg.pattern.String() != "(?i)^desk" || cfg.listen != 250*time.Millisecond || cfg.micDevice != "USB" ||
		cfg.mic || cfg.display != ":7" || cfg.interval != time.Second {
		t.Errorf("env + flags: %+v", cfg)
	}

	for _, tc := range []struct {
		args []string
		env  []string
		want string
	}{
		{args: []string{"--agent-desk-title", "(unclosed"}, want: "agent desk title pattern"},
		{args: []string{"--listen-ms", "-1"}, want: "--listen-ms"},
		{args: []string{"--watch-interval", "1ms"}, want: "--watch-interval"},
		{args: []string{"--bogus"}, want: "bogus"},
		{args: []string{"extra"}, want: "unexpected arguments"},
		{env: []string{"VIGIL_LISTEN_MS", "soon"}, want: "$VIGIL_LISTEN_MS"},
	} {
		_, err := parseDoctorFlags(tc.args, env(tc.env...))
		var ue usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("args %q env %q: error %v, want a usage error mentioning %q", tc.args, tc.env, err, tc.want)
		}
	}
}

func TestDispatch(t *testing.T) {
	var stderr bytes.Buffer
	if code := dispatch([]string{"frobnicate"}, &stderr); code != 2 || !strings.Contains(stderr.String(), `unknown command "frobnicate"`) {
		t.Errorf("unknown command: %d %q", code, stderr.String())
	}
	stderr.Reset()
	if code := dispatch(nil, &stderr); code != 2 || !strings.Contains(stderr.String(), "doctor") {
		t.Errorf("no command: %d %q", code, stderr.String())
	}
	stderr.Reset()
	if code := dispatch([]string{"doctor", "--listen-ms", "x"}, &stderr); code != 2 {
		t.Errorf("bad flag: exit %d (%s)", code, stderr.String())
	}
	if code := dispatch([]string{"help"}, io.Discard); code != 0 {
		t.Errorf("help: exit %d", code)
	}
}

// fakeDesktop is a scripted desktop. Its windows carry the canary.
type fakeDesktop struct {
	mu     sync.Mutex
	idle   time.Duration
	wl     sensors.WindowList
	locked bool
	err    error
	closed int
}

func (f *fakeDesktop) Idle() (time.Duration, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.idle, f.err
}
func (f *fakeDesktop) Windows() (sensors.WindowList, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.wl, nil
}
func (f *fakeDesktop) ScreenLocked() (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.locked, nil
}
func (f *fakeDesktop) Close() { f.mu.Lock(); f.closed++; f.mu.Unlock() }

func (f *fakeDesktop) set(fn func(f *fakeDesktop)) { f.mu.Lock(); fn(f); f.mu.Unlock() }

func deskWindows(hidden bool) sensors.WindowList {
	w := sensors.Window{ID: 1, Title: "Agent Desk " + canary + " - Chromium", PID: 4242, Hidden: hidden}
	wl := sensors.WindowList{Windows: []sensors.Window{w, {ID: 2, Title: "Mail " + canary, PID: 7}}}
	if !hidden {
		wl.Foreground = &wl.Windows[0]
	}
	return wl
}

// toneMic opens a fake microphone playing frames, then silence forever.
type toneMic struct{ frames [][]float32 }

func (m *toneMic) ReadFrame(ctx context.Context, frame []float32) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(sensors.FrameDuration):
	}
	if len(m.frames) > 0 {
		copy(frame, m.frames[0])
		m.frames = m.frames[1:]
	} else {
		clear(frame)
	}
	return nil
}
func (m *toneMic) Close() error { return nil }

func tone(frames int, amp float32) [][]float32 {
	out := make([][]float32, frames)
	for i := range out {
		out[i] = make([]float32, sensors.FrameSamples)
		for j := range out[i] {
			if j%2 == 0 {
				out[i][j] = amp
			} else {
				out[i][j] = -amp
			}
		}
	}
	return out
}

func fixedNow() time.Time { return time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC) }

func TestDoctorOneShotWithFakes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		desk := &fakeDesktop{idle: 1234 * time.Millisecond, wl: deskWindows(false)}
		var out bytes.Buffer
		d := doctor{
			openDesktop: func(string) (desktop.Desktop, error) { return desk, nil },
			openMic: func(dev string) (sensors.FrameSource, string, error) {
				// 100 ms quiet, then 400 ms of a -20 dBFS square wave.
				return &toneMic{frames: append(tone(5, 0.001), tone(20, 0.1)...)}, "fake " + dev, nil
			},
			stdout: &out,
			now:    fixedNow,
		}
		cfg, err := parseDoctorFlags([]string{"--json", "--listen-ms", "600", "--mic-device", "USB"}, env())
		if err != nil {
			t.Fatal(err)
		}
		if err := d.run(t.Context(), cfg); err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		if err := json.Unmarshal(out.Bytes(), &got); err != nil {
			t.Fatalf("%v: %s", err, out.String())
		}
		want := map[string]any{
			"time": "2026-11-26T12:00:00Z", "idle_ms": 1234.0, "agent_desk_foreground": true, "agent_desk_minimized": false,
			"foreground_pid": 4242.0, "screen_locked": false, "mic_available": true, "mic_dbfs": -20.0, "voice": true,
			"mic_device": "fake USB",
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("JSON\n got %v\nwant %v", got, want)
		}
		if strings.Contains(out.String(), canary) {
			t.Errorf("output leaks a window title: %s", out.String())
		}
		if desk.closed != 1 {
			t.Errorf("desktop closed %d times", desk.closed)
		}

		// Human-readable: same facts, still no title.
		out.Reset()
		desk.set(func(f *fakeDesktop) { f.wl = deskWindows(true) })
		cfg.json = false
		if err := d.run(t.Context(), cfg); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"idle", "1234 ms", "agent desk minimized", "yes", "fake USB", "-20.0 dBFS"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("table lacks %q:\n%s", want, out.String())
			}
		}
		if strings.Contains(out.String(), canary) {
			t.Errorf("table leaks a window title:\n%s", out.String())
		}
	})
}

func TestDoctorOneShotErrors(t *testing.T) {
	var out bytes.Buffer
	d := doctor{
		openDesktop: func(string) (desktop.Desktop, error) {
			return nil, errors.New("connecting to X display \":9\": no such display")
		},
		openMic: func(string) (sensors.FrameSource, string, error) {
			return nil, "", errors.New("no input device matching \"USB\"")
		},
		stdout: &out,
		now:    fixedNow,
	}
	cfg, _ := parseDoctorFlags([]string{"--json"}, env())
	if err := d.run(t.Context(), cfg); !errors.Is(err, errDesktop) {
		t.Fatalf("run: %v, want errDesktop", err)
	}
	var got doctorOutput
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.MicAvailable || got.MicDBFS != sensors.SilenceDBFS || got.Errors["mic"] == "" || got.Errors["desktop"] == "" {
		t.Errorf("%+v", got)
	}

	// Without the desktop, a missing mic is data, not a failure.
	out.Reset()
	cfg.desktop = false
	if err := d.run(t.Context(), cfg); err != nil {
		t.Fatalf("mic only: %v", err)
	}
}

func TestChanged(t *testing.T) {
	base := doctorOutput{IdleMs: 1000, ForegroundPID: 5, MicDBFS: -60}
	for _, tc := range []struct {
		name string
		mod  func(o *doctorOutput)
		want bool
	}{
		{"idle grew", func(o *doctorOutput) { o.IdleMs = 1200 }, false},
		{"level moved", func(o *doctorOutput) { o.MicDBFS = -20 }, false},
		{"time moved", func(o *doctorOutput) { o.Time = "later" }, false},
		{"idle dropped (input)", func(o *doctorOutput) { o.IdleMs = 10 }, true},
		{"foreground", func(o *doctorOutput) { o.AgentDeskForeground = true }, true},
		{"minimized", func(o *doctorOutput) { o.AgentDeskMinimized = true }, true},
		{"pid", func(o *doctorOutput) { o.ForegroundPID = 6 }, true},
		{"locked", func(o *doctorOutput) { o.ScreenLocked = true }, true},
		{"mic", func(o *doctorOutput) { o.MicAvailable = true }, true},
		{"voice", func(o *doctorOutput) { o.Voice = true }, true},
		{"device", func(o *doctorOutput) { o.MicDevice = "x" }, true},
		{"error", func(o *doctorOutput) { o.Errors = map[string]string{"mic": "gone"} }, true},
	} {
		o := base
		tc.mod(&o)
		if got := changed(base, o); got != tc.want {
			t.Errorf("%s: changed = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestDoctorWatchWithFakes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		desk := &fakeDesktop{idle: time.Second, wl: deskWindows(false)}
		var mu sync.Mutex
		var out bytes.Buffer
		w := writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return out.Write(p) })
		opens := 0
		d := doctor{
			openDesktop: func(string) (desktop.Desktop, error) {
				opens++
				if opens == 2 {
					return nil, errors.New("display gone")
				}
				return desk, nil
			},
			openMic: func(string) (sensors.FrameSource, string, error) {
				return &toneMic{frames: append(tone(53, 0), tone(30, 0.1)...)}, "fake", nil
			},
			stdout: w,
			now:    time.Now,
		}
		cfg, _ := parseDoctorFlags([]string{"--json", "--watch"}, env())
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- d.run(ctx, cfg) }()

		step := func(dur time.Duration, f func(*fakeDesktop)) {
			if f != nil {
				desk.set(f)
			}
			time.Sleep(dur)
			synctest.Wait()
		}
		// Changes land between the 200 ms polls (and the mic's frames).
		step(550*time.Millisecond, nil)
		step(500*time.Millisecond, func(f *fakeDesktop) { f.idle = 2 * time.Second }) // grows: no line
		step(500*time.Millisecond, func(f *fakeDesktop) { f.idle = 20 * time.Millisecond })
		step(500*time.Millisecond, func(f *fakeDesktop) { f.wl = deskWindows(true) })
		step(time.Second, func(f *fakeDesktop) { f.err = errors.New("X connection broken") })
		step(3*time.Second, func(f *fakeDesktop) { f.err = nil })
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}

		mu.Lock()
		defer mu.Unlock()
		if strings.Contains(out.String(), canary) {
			t.Fatalf("watch output leaks a title:\n%s", out.String())
		}
		var got []string
		for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			var o doctorOutput
			if err := json.Unmarshal([]byte(line), &o); err != nil {
				t.Fatalf("%v: %q", err, line)
			}
			got = append(got, fmt.Sprintf("idle=%d fg=%v min=%v mic=%v voice=%v errs=%d", o.IdleMs, o.AgentDeskForeground, o.AgentDeskMinimized, o.MicAvailable, o.Voice, len(o.Errors)))
		}
		want := []string{
			"idle=1000 fg=true min=false mic=false voice=false errs=0", // first reading, before the mic's first frame
			"idle=1000 fg=true min=false mic=true voice=false errs=0",  // first frame at 20 ms
			"idle=20 fg=true min=false mic=true voice=false errs=0",    // input at 1.05 s, polled at 1.2 s
			"idle=20 fg=true min=false mic=true voice=true errs=0",     // 1.06 s silence + 200 ms tone
			"idle=20 fg=false min=true mic=true voice=true errs=0",     // minimized at 1.55 s, polled at 1.6 s
			"idle=20 fg=false min=true mic=true voice=false errs=0",    // tone ended at 1.66 s + 300 ms hangover
			"idle=0 fg=false min=false mic=true voice=false errs=1",    // broken at 2.05 s, polled at 2.2 s
			"idle=0 fg=false min=false mic=true voice=false errs=1",    // reconnecting ~1 s later fails: another error
			"idle=20 fg=false min=true mic=true voice=false errs=0",    // reconnected ~1.6 s after that
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("watch lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
