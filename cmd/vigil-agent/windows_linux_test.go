//go:build linux

package main

// The Windows agent (bin/windows-amd64/vigil-agent.exe, `make windows`)
// for real under Wine: its desktop sensors against Wine's notepad and a
// native X window on a private display, its microphone (MME through Wine's
// PulseAudio driver) against a private PulseAudio's null sink.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-cc/vigil/internal/testrig"
)

var (
	winBuildOnce sync.Once
	winExe       string
	winBuildErr  error
)

// windowsAgent builds the Windows agent once per test binary, the way
// `make windows` does (scripts/build-windows.sh, which also builds the
// mingw PortAudio into ~/.cache/vigil the first time and checks that the
// .exe imports system DLLs only).
func windowsAgent(t testing.TB) string {
	t.Helper()
	testrig.Require(t, "wine", "wineserver", "x86_64-w64-mingw32-gcc", "cmake")
	winBuildOnce.Do(func() {
		root, err := filepath.Abs("../..")
		if err != nil {
			winBuildErr = err
			return
		}
		out := filepath.Join(root, "bin", "windows-amd64", "vigil-agent.exe")
		cmd := exec.Command(filepath.Join(root, "scripts", "build-windows.sh"), out)
		cmd.Dir = root
		if b, err := cmd.CombinedOutput(); err != nil {
			winBuildErr = fmt.Errorf("building the Windows agent (scripts/build-windows.sh): %v\n%s", err, b)
			return
		}
		winExe = out
	})
	if winBuildErr != nil {
		t.Fatal(winBuildErr)
	}
	return winExe
}

// wineDoctorJSON runs `vigil-agent.exe doctor --json args...` under Wine.
func wineDoctorJSON(t *testing.T, w *testrig.WinePrefix, args ...string) doctorOutput {
	t.Helper()
	cmd := w.Command(windowsAgent(t), append([]string{"doctor", "--json"}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.Output()
	var o doctorOutput
	if jerr := json.Unmarshal(out, &o); jerr != nil {
		t.Fatalf("doctor --json %q under Wine: %v / %v\nstdout: %s\nstderr: %s", args, err, jerr, out, stderr.String())
	}
	return o
}

// startWineWatch runs `vigil-agent.exe doctor --watch --json args...`
// under Wine and collects its lines like startWatch. Wine's process does
// not get a console interrupt from a signal, so it is killed at cleanup.
func startWineWatch(t *testing.T, wp *testrig.WinePrefix, args ...string) *watcher {
	t.Helper()
	w := watch(t, wp.Command(windowsAgent(t), append([]string{"doctor", "--watch", "--json"}, args...)...))
	t.Cleanup(func() {
		_ = w.cmd.Process.Kill()
		<-w.exited
	})
	return w
}

// searchWindow waits for a window whose name matches re and returns its id.
func searchWindow(t testing.TB, x *testrig.X, args ...string) string {
	t.Helper()
	var id string
	testrig.Eventually(t, 30*time.Second, func() (bool, string) {
		out, err := x.Xdotool(append([]string{"search", "--onlyvisible"}, args...)...)
		id, _, _ = strings.Cut(out, "\n")
		return err == nil && id != "", fmt.Sprintf("xdotool search %q: %q %v", args, out, err)
	})
	return id
}

// Under Wine: notepad (the Agent Desk, pattern "Notepad") in front, behind
// a native X window, minimized and back; idle time growing and dropping on
// input into the Wine window; no title in the output.
func TestWineDoctorDesktop(t *testing.T) {
	t.Parallel()
	testrig.Require(t, "xterm")
	windowsAgent(t)
	x := testrig.Display(t)
	w := testrig.Wine(t, x)
	w.Start(t, "notepad")
	pad := searchWindow(t, x, "--name", "Notepad")
	x.Activate(t, pad)
	desk := []string{"--agent-desk-title", "Notepad", "--mic=false"}

	start := time.Now()
	o := wineDoctorJSON(t, w, desk...)
	t.Logf("one-shot under Wine took %v: %+v", time.Since(start).Round(time.Millisecond), o)
	if !o.AgentDeskForeground || o.AgentDeskMinimized || o.ScreenLocked || o.ForegroundPID == 0 || len(o.Errors) > 0 {
		t.Errorf("notepad in front: %+v", o)
	}

	watch := startWineWatch(t, w, append(desk, "--watch-interval", "100ms")...)
	watch.waitFor(0, 30*time.Second, "notepad in front", func(o doctorOutput) bool {
		return o.AgentDeskForeground && !o.AgentDeskMinimized
	})

	// A native X window in front: Wine's foreground is the desktop window.
	// openbox focuses the xterm as it maps it, so the mark comes first.
	from := watch.mark()
	term := exec.Command("xterm", "-title", "native window")
	term.Env = append(os.Environ(), x.Env()...)
	term.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := term.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = term.Process.Kill(); _ = term.Wait() })
	xt := searchWindow(t, x, "--name", "^native window$")
	x.Activate(t, xt)
	watch.waitFor(from, 20*time.Second, "notepad not in front behind xterm", func(o doctorOutput) bool {
		return !o.AgentDeskForeground && !o.AgentDeskMinimized
	})
	if o := wineDoctorJSON(t, w, desk...); o.AgentDeskForeground || o.AgentDeskMinimized {
		t.Errorf("one-shot with xterm in front: %+v", o)
	}

	from = watch.mark()
	x.Activate(t, pad)
	watch.waitFor(from, 20*time.Second, "notepad in front again", func(o doctorOutput) bool {
		return o.AgentDeskForeground && !o.AgentDeskMinimized
	})

	from = watch.mark()
	x.MustXdotool(t, "windowminimize", "--sync", pad)
	watch.waitFor(from, 20*time.Second, "notepad minimized", func(o doctorOutput) bool {
		return o.AgentDeskMinimized && !o.AgentDeskForeground
	})
	if o := wineDoctorJSON(t, w, desk...); !o.AgentDeskMinimized || o.AgentDeskForeground {
		t.Errorf("one-shot with notepad minimized: %+v", o)
	}
	from = watch.mark()
	x.Activate(t, pad)
	watch.waitFor(from, 20*time.Second, "notepad restored", func(o doctorOutput) bool {
		return o.AgentDeskForeground && !o.AgentDeskMinimized
	})

	// Idle grows while nobody types (watch lines come on changes only, so
	// one-shots measure the growth) ...
	var first int64
	testrig.Eventually(t, 10*time.Second, func() (bool, string) {
		first = wineDoctorJSON(t, w, desk...).IdleMs
		return first >= 1000, fmt.Sprintf("idle %d ms, want >= 1000", first)
	})
	testrig.Eventually(t, 10*time.Second, func() (bool, string) {
		n := wineDoctorJSON(t, w, desk...).IdleMs
		return n >= first+500, fmt.Sprintf("idle %d ms, want it to grow past %d", n, first+500)
	})
	// ... and drops on input into the Wine window (Wine sees only input
	// delivered to its own windows).
	for _, input := range [][]string{{"mousemove", "--window", pad, "40", "60"}, {"key", "shift"}} {
		from := watch.mark()
		at := time.Now()
		x.MustXdotool(t, input...)
		l, _ := watch.waitFor(from, 5*time.Second, "idle below 500 ms after "+input[0],
			func(o doctorOutput) bool { return o.IdleMs < 500 })
		t.Logf("after xdotool %s: idle_ms=%d, line %v after the input", input[0], l.out.IdleMs, l.at.Sub(at).Round(time.Millisecond))
		testrig.Eventually(t, 10*time.Second, func() (bool, string) {
			l, _ := watch.last()
			n := wineDoctorJSON(t, w, desk...).IdleMs
			return n >= 1000 && l.out.IdleMs < 500, fmt.Sprintf("idle %d ms", n)
		})
	}

	// Privacy: the title is Wine's window's, and nowhere in the output.
	if name, err := x.Xdotool("getwindowname", pad); err != nil || !strings.Contains(name, "Notepad") {
		t.Fatalf("notepad's title is %q (%v): the privacy check would prove nothing", name, err)
	}
	if out := watch.output(); strings.Contains(out, "Notepad") || strings.Contains(out, "Untitled") {
		t.Errorf("doctor output contains the window title:\n%s", out)
	}
}

// Under Wine: the microphone (MME's default input, Wine's PulseAudio
// driver, the rig's null sink) reads a 440 Hz tone at vol 0.1 as -23 dBFS,
// and speech as voice.
func TestWineDoctorMic(t *testing.T) {
	t.Parallel()
	testrig.Require(t, "sox")
	windowsAgent(t)
	x := testrig.Display(t)
	p := testrig.Pulse(t)
	w := testrig.Wine(t, x, p.Env())
	// A running Wine program keeps the prefix's wineserver and services up:
	// otherwise each one-shot .exe waits seconds for Wine to start them.
	w.Start(t, "notepad")
	searchWindow(t, x, "--name", "Notepad")
	tone := filepath.Join(t.TempDir(), "tone.wav")
	sh(t, "sox", "-n", "-r", "16000", "-c", "1", "-b", "16", tone, "synth", "8", "sine", "440", "vol", "0.1")

	mic := []string{"--desktop=false"}
	start := time.Now()
	if o := wineDoctorJSON(t, w, append(mic, "--listen-ms", "300")...); !o.MicAvailable || o.Voice || o.MicDBFS > -100 {
		t.Errorf("silent microphone: %+v", o)
	}
	t.Logf("silent one-shot (300 ms listening) took %v", time.Since(start).Round(time.Millisecond))

	played := p.PlayAsync(t, tone)
	start = time.Now()
	o := wineDoctorJSON(t, w, append(mic, "--listen-ms", "1500")...)
	t.Logf("tone: %+v (one-shot took %v)", o, time.Since(start).Round(time.Millisecond))
	if !o.MicAvailable || o.MicDBFS < -24 || o.MicDBFS > -22 {
		t.Errorf("440 Hz at vol 0.1: mic_available %v, mic_dbfs %.1f, want -23 ± 1 (%+v)", o.MicAvailable, o.MicDBFS, o)
	}
	if err := <-played; err != nil {
		t.Fatal(err)
	}

	// Speech: voice on while it plays, off within about a second after.
	wav, dur := speechFixture(t, t.TempDir())
	watch := startWineWatch(t, w, mic...)
	watch.waitFor(0, 30*time.Second, "the microphone available", func(o doctorOutput) bool { return o.MicAvailable })
	_, final, _, end := watch.speech(p, wav, dur, 5*time.Second)
	if offDelay := final.at.Sub(end); offDelay > 1500*time.Millisecond {
		t.Errorf("voice off %v after speech ended, want about 1 s", offDelay)
	}
}
