//go:build linux

package testrig

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-cc/vigil/platform/x11"
)

func TestDisplayRunsWindowManagerAndXdotool(t *testing.T) {
	t.Parallel()
	x := Display(t)
	if !regexp.MustCompile(`^:\d+$`).MatchString(x.Name) {
		t.Fatalf("display name %q, want :N", x.Name)
	}
	if got := x.Env(); len(got) != 1 || got[0] != "DISPLAY="+x.Name {
		t.Fatalf("Env() = %q", got)
	}
	x.MustXdotool(t, "mousemove", "--sync", "12", "34")
	if got := x.MustXdotool(t, "getmouselocation", "--shell"); !strings.Contains(got, "X=12\nY=34") {
		t.Fatalf("getmouselocation = %q, want X=12 Y=34", got)
	}
	if _, err := x.Xdotool("no-such-command"); err == nil {
		t.Fatal("Xdotool with a bad command returned no error")
	}
}

// Two displays started at the same time get different numbers, and input on
// one leaves the other's idle clock alone.
func TestParallelDisplaysAreIsolated(t *testing.T) {
	t.Parallel()
	Require(t, "Xvfb", "openbox", "xdotool")
	xs := startTwo(t, func() (*X, error) { return startDisplay(t) })
	a, b := xs[0], xs[1]
	if a.Name == b.Name {
		t.Fatalf("both displays are %s", a.Name)
	}

	idle := func(c *x11.Conn) uint32 {
		t.Helper()
		ms, err := c.IdleMs()
		if err != nil {
			t.Fatal(err)
		}
		return ms
	}
	var conns [2]*x11.Conn
	for i, x := range xs {
		c, err := x11.Connect(x.Name)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		conns[i] = c
	}
	Eventually(t, 5*time.Second, func() (bool, string) {
		ia, ib := idle(conns[0]), idle(conns[1])
		return ia >= 300 && ib >= 300, fmt.Sprintf("idle %d ms and %d ms, want both >= 300", ia, ib)
	})

	bBefore := idle(conns[1])
	a.MustXdotool(t, "mousemove", "--sync", "100", "100")
	if ia := idle(conns[0]); ia >= 200 {
		t.Fatalf("idle of %s after its own input = %d ms, want < 200", a.Name, ia)
	}
	if ib := idle(conns[1]); ib < bBefore {
		t.Fatalf("idle of %s dropped from %d to %d ms after input on %s", b.Name, bBefore, ib, a.Name)
	}
}

func TestPulseToneReachesMonitor(t *testing.T) {
	t.Parallel()
	Require(t, "sox", "parec")
	pa := Pulse(t)
	dir := t.TempDir()

	tone := Tone(t, "1")

	// Record the default source (the sink's monitor) as raw s16le mono.
	recPath := filepath.Join(dir, "rec.raw")
	rec, err := os.Create(recPath)
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Close()
	parec := exec.Command("parec", "--format=s16le", "--rate=16000", "--channels=1", "--latency-msec=20")
	parec.Env = append(os.Environ(), pa.Env()...)
	parec.Stdout = rec
	parecLog := filepath.Join(dir, "parec.log")
	parecErr, err := os.Create(parecLog)
	if err != nil {
		t.Fatal(err)
	}
	defer parecErr.Close()
	parec.Stderr = parecErr // a file, not a buffer: it is read while parec runs
	if err := parec.Start(); err != nil {
		t.Fatalf("starting parec: %v", err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			_ = parec.Process.Signal(syscall.SIGINT)
			_ = parec.Wait()
		}
	}
	t.Cleanup(stop) // runs before the daemon stops

	const bytesPerSec = 16000 * 2
	recorded := func(sec float64) func() (bool, string) {
		return func() (bool, string) {
			fi, err := os.Stat(recPath)
			if err != nil {
				return false, err.Error()
			}
			return fi.Size() >= int64(sec*bytesPerSec), fmt.Sprintf("%d bytes recorded, want %.1f s; %s", fi.Size(), sec, tail(parecLog))
		}
	}
	// Pre-roll before playing: the null sink's monitor must give silence, in
	// real time (not after the sink's 2 s render-ahead, see startPulse).
	Eventually(t, 1500*time.Millisecond, recorded(0.2))
	played := pa.PlayAsync(t, tone)
	Eventually(t, 10*time.Second, recorded(1.5))
	if err := <-played; err != nil {
		t.Fatal(err)
	}
	stop()

	pre := soxStat(t, recPath, "trim", "0", "0.1")
	if pre["Maximum amplitude"] != 0 {
		t.Errorf("pre-roll not silent: %v", pre)
	}
	all := soxStat(t, recPath)
	t.Logf("recording: %v", all)
	// A 1 kHz sine at vol 0.1 has peak 0.1 and RMS 0.0707; the recording also
	// holds silence around it, which lowers the RMS.
	if rms := all["RMS     amplitude"]; rms < 0.02 || rms > 0.08 {
		t.Errorf("RMS amplitude %.4f, want 0.02..0.08 (%v)", rms, all)
	}
	if peak := all["Maximum amplitude"]; peak < 0.08 || peak > 0.12 {
		t.Errorf("maximum amplitude %.4f, want 0.08..0.12 (%v)", peak, all)
	}
	// sox derives this from RMS delta / RMS, so surrounding silence does not
	// skew it.
	if f := all["Rough   frequency"]; f < 900 || f > 1100 {
		t.Errorf("rough frequency %.0f Hz, want about 1000 (%v)", f, all)
	}
}

// The ALSA "pulse" device (what PortAudio opens) reaches the rig's daemon
// through Env alone, even with a foreign HOME (no cookie).
func TestALSAPulsePluginRecordsFromDaemon(t *testing.T) {
	t.Parallel()
	Require(t, "sox", "arecord")
	pa := Pulse(t)
	dir := t.TempDir()
	tone := Tone(t, "1.5")
	played := pa.PlayAsync(t, tone)

	recPath := filepath.Join(dir, "rec.raw")
	arecord := exec.Command("arecord", "-q", "-D", "pulse", "-t", "raw", "-f", "S16_LE", "-r", "16000", "-c", "1", "-d", "1", recPath)
	arecord.Env = append(os.Environ(), pa.Env()...)
	arecord.Env = append(arecord.Env, "HOME="+dir)
	if out, err := arecord.CombinedOutput(); err != nil {
		t.Fatalf("arecord -D pulse (needs libasound2-plugins): %v: %s", err, out)
	}
	if err := <-played; err != nil {
		t.Fatal(err)
	}
	st := soxStat(t, recPath)
	if rms, peak := st["RMS     amplitude"], st["Maximum amplitude"]; rms < 0.03 || peak < 0.08 || peak > 0.12 {
		t.Errorf("recording through ALSA pulse: RMS %.4f (want >= 0.03), peak %.4f (want 0.08..0.12)", rms, peak)
	}
}

// soxStat runs `sox stat` on a raw s16le 16 kHz mono file, with optional
// effects before stat, and returns its numeric fields.
func soxStat(t *testing.T, raw string, effects ...string) map[string]float64 {
	t.Helper()
	args := append([]string{"-t", "raw", "-r", "16000", "-e", "signed", "-b", "16", "-c", "1", raw, "-n"}, effects...)
	out, err := exec.Command("sox", append(args, "stat")...).CombinedOutput()
	if err != nil {
		t.Fatalf("sox stat: %v: %s", err, out)
	}
	stats := map[string]float64{}
	for _, line := range strings.Split(string(out), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
			stats[strings.TrimSpace(k)] = f
		}
	}
	return stats
}

func TestParallelPulseDaemonsAreSeparate(t *testing.T) {
	t.Parallel()
	Require(t, "pulseaudio", "pactl", "paplay")
	ps := startTwo(t, func() (*PulseAudio, error) { return startPulse(t, true) })
	if ps[0].Socket == ps[1].Socket {
		t.Fatalf("both daemons use %s", ps[0].Socket)
	}
	for _, p := range ps {
		info, err := p.Pactl("info")
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"Server String: unix:" + p.Socket, "Default Sink: " + PulseSink, "Default Source: " + PulseSource} {
			if !strings.Contains(info, want) {
				t.Errorf("pactl info lacks %q:\n%s", want, info)
			}
		}
	}
}

func TestChromiumWindowOnDisplay(t *testing.T) {
	t.Parallel()
	x := Display(t)
	b := Chromium(t, x, "data:text/html,<title>Agent Desk</title><p>desk</p>")
	if !strings.HasPrefix(b.DevToolsURL, "ws://127.0.0.1:") {
		t.Errorf("DevToolsURL = %q", b.DevToolsURL)
	}
	Eventually(t, 15*time.Second, func() (bool, string) {
		name, err := x.Xdotool("getactivewindow", "getwindowname")
		if err != nil {
			return false, err.Error()
		}
		return name == "Agent Desk - Chromium", fmt.Sprintf("active window name %q", name)
	})
	if id := x.MustXdotool(t, "getactivewindow"); id != b.Window {
		t.Errorf("active window %s, Browser.Window %s", id, b.Window)
	}
}

// fakeTB records Skip and Fatal instead of ending the goroutine.
type fakeTB struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (f *fakeTB) Helper()                   {}
func (f *fakeTB) Skip(args ...any)          { f.skipped, f.msg = true, fmt.Sprint(args...) }
func (f *fakeTB) Fatalf(s string, a ...any) { f.failed, f.msg = true, fmt.Sprintf(s, a...) }

func TestRequireFailsInCIAndSkipsOtherwise(t *testing.T) {
	for _, tc := range []struct {
		ci, require string
		fail, skip  bool
	}{
		{ci: "", require: "", skip: true},
		{ci: "false", require: "0", skip: true},
		{ci: "true", require: "", fail: true},
		{ci: "", require: "1", fail: true},
	} {
		t.Run("CI="+tc.ci+",VIGIL_REQUIRE_RIG="+tc.require, func(t *testing.T) {
			t.Setenv("CI", tc.ci)
			t.Setenv("VIGIL_REQUIRE_RIG", tc.require)
			f := &fakeTB{TB: t}
			Require(f, "sh", "Xvfb-not-installed-here")
			if f.failed != tc.fail || f.skipped != tc.skip {
				t.Fatalf("failed=%v skipped=%v, want %v %v (%s)", f.failed, f.skipped, tc.fail, tc.skip, f.msg)
			}
			if !strings.Contains(f.msg, "Xvfb-not-installed-here") || strings.Contains(f.msg, "sh (") {
				t.Errorf("message should name only the missing binary: %s", f.msg)
			}
			f = &fakeTB{TB: t}
			Require(f, "sh")
			if f.failed || f.skipped {
				t.Errorf("present binary: failed=%v skipped=%v", f.failed, f.skipped)
			}
		})
	}
}

func TestEventually(t *testing.T) {
	t.Parallel()
	n := 0
	Eventually(t, time.Second, func() (bool, string) { n++; return n == 3, "" })
	if n != 3 {
		t.Fatalf("cond called %d times, want 3", n)
	}
	f := &fakeTB{TB: t}
	Eventually(f, 50*time.Millisecond, func() (bool, string) { return false, "still waiting" })
	if !f.failed || !strings.Contains(f.msg, "still waiting") {
		t.Fatalf("failed=%v msg=%q", f.failed, f.msg)
	}
}

// startTwo calls start twice at the same time, failing t if either fails.
func startTwo[T any](t *testing.T, start func() (T, error)) [2]T {
	t.Helper()
	var vs [2]T
	var errs [2]error
	var wg sync.WaitGroup
	for i := range vs {
		wg.Go(func() { vs[i], errs[i] = start() })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return vs
}
