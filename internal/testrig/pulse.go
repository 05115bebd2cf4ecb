//go:build linux

package testrig

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Sink and source names of every Pulse daemon.
const (
	PulseSink   = "agent_sink"
	PulseSource = "agent_sink.monitor"

	pacerSink = "rig_pacer"
)

// PulseAudio is a private PulseAudio daemon whose default sink is a 16 kHz
// mono null sink and whose default source is that sink's monitor: what is
// played into the sink is what a recorder ("the microphone") hears, paced in
// real time. A second null sink, rig_pacer, exists only to keep that pace.
type PulseAudio struct {
	Socket string // the native protocol socket
	LogDir string // pulseaudio.log

	env []string
}

// Pulse starts a PulseAudio daemon with its own runtime and home
// directories, and waits until it answers. Cleanup stops it.
func Pulse(t testing.TB) *PulseAudio { return pulse(t, true) }

// PulseUnpaced is Pulse without rig_pacer, for measuring what a recorder
// costs: the pacer's loopback records the source every 20 ms, and PulseAudio
// then wakes every recorder of it that often, as a real microphone with no
// other low-latency recorder would not. Played sound may start up to 2 s
// late, so timing tests use Pulse.
func PulseUnpaced(t testing.TB) *PulseAudio { return pulse(t, false) }

func pulse(t testing.TB, paced bool) *PulseAudio {
	t.Helper()
	Require(t, "pulseaudio", "pactl", "paplay")
	p, err := startPulse(t, paced)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return p
}

// startPulse is Pulse without failing t, so it may run on any goroutine.
func startPulse(t testing.TB, paced bool) (*PulseAudio, error) {
	logDir := t.TempDir()
	// The socket lives in a short directory of its own: unix socket paths are
	// limited to 107 bytes and t.TempDir() grows with the test's name.
	dir, err := os.MkdirTemp("", "vigil-pa-")
	if err != nil {
		return nil, fmt.Errorf("creating PulseAudio runtime directory: %w", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	xdg, home := filepath.Join(dir, "xdg"), filepath.Join(dir, "home")
	for _, d := range []string{xdg, home} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return nil, fmt.Errorf("creating PulseAudio directory: %w", err)
		}
	}
	p := &PulseAudio{Socket: filepath.Join(xdg, "pulse", "native"), LogDir: logDir}
	if len(p.Socket) > 107 {
		return nil, fmt.Errorf("PulseAudio socket path %s is longer than a unix socket allows; use a shorter TMPDIR", p.Socket)
	}
	p.env = []string{
		"XDG_RUNTIME_DIR=" + xdg,
		"PULSE_RUNTIME_PATH=" + filepath.Join(xdg, "pulse"),
		"HOME=" + home,
		"PULSE_SERVER=unix:" + p.Socket,
	}
	logPath := filepath.Join(logDir, "pulseaudio.log")

	// As root pulseaudio only warns ("not intended to be run as root");
	// --system stays off so it uses our directories. No realtime or high
	// priority: both go through rtkit/D-Bus, which is absent here.
	// auth-anonymous lets clients in with any HOME (no cookie); the socket's
	// 0700 directory is the access control.
	args := []string{"-n",
		"--daemonize=no", "--exit-idle-time=-1", "--disallow-exit", "--use-pid-file=no",
		"--system=false", "--realtime=false", "--high-priority=false",
		"--log-target=stderr",
		"-L", "module-native-protocol-unix socket=" + p.Socket + " auth-anonymous=1",
		"-L", "module-null-sink sink_name=" + PulseSink + " rate=16000 channels=1",
	}
	if paced {
		// A null sink with no latency-constrained client renders 2 s blocks
		// ahead of time, so a recorder that connects later gets nothing for
		// up to 2 s. This low-latency loopback from the monitor into a second
		// null sink keeps agent_sink rendering in small real-time blocks.
		args = append(args,
			"-L", "module-null-sink sink_name="+pacerSink+" rate=16000 channels=1",
			"-L", "module-loopback source="+PulseSource+" sink="+pacerSink+" latency_msec=20 source_dont_move=true sink_dont_move=true")
	}
	cmd := exec.Command("pulseaudio", args...)
	cmd.Env = append(os.Environ(), p.env...)
	if _, err := launch(t, "pulseaudio", cmd, logPath, func() (bool, string) {
		if _, err := p.Pactl("info"); err != nil {
			return false, err.Error()
		}
		return true, ""
	}); err != nil {
		return nil, fmt.Errorf("%w\n%s", err, tail(logPath))
	}
	// Suspending and resuming drops the 2 s the sinks rendered ahead before
	// the loopback connected.
	setup := [][]string{
		{"set-default-sink", PulseSink}, {"set-default-source", PulseSource},
		{"suspend-sink", PulseSink, "1"}, {"suspend-sink", PulseSink, "0"},
	}
	if paced {
		setup = append(setup, []string{"suspend-sink", pacerSink, "1"}, []string{"suspend-sink", pacerSink, "0"})
	}
	for _, args := range setup {
		if _, err := p.Pactl(args...); err != nil {
			return nil, fmt.Errorf("%w\n%s", err, tail(logPath))
		}
	}
	return p, nil
}

// Env returns the variables that point a child process (pactl, paplay, or
// PortAudio through ALSA's pulse plugin) at exactly this daemon, to append to
// os.Environ().
func (p *PulseAudio) Env() []string {
	return append([]string(nil), p.env...)
}

// Pactl runs pactl against this daemon and returns its trimmed output.
func (p *PulseAudio) Pactl(args ...string) (string, error) {
	return run(p.env, "pactl", args...)
}

// Play plays a WAV file into the sink and returns once it has been played.
func (p *PulseAudio) Play(t testing.TB, wavPath string) {
	t.Helper()
	if err := <-p.PlayAsync(t, wavPath); err != nil {
		t.Fatalf("%v", err)
	}
}

// PlayAsync starts playing a WAV file into the sink and returns a channel
// that receives the result once it has been played. If the test ends first,
// cleanup stops the player.
func (p *PulseAudio) PlayAsync(t testing.TB, wavPath string) <-chan error {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), "paplay.log")
	cmd := exec.Command("paplay", "--device="+PulseSink, wavPath)
	cmd.Env = append(os.Environ(), p.env...)
	pl, err := startProc("paplay", cmd, logPath)
	if err != nil {
		t.Fatalf("%v", err)
	}
	// Runs before the daemon's stop (LIFO); a no-op if already finished.
	stopOnCleanup(t, pl, time.Second)
	res := make(chan error, 1)
	go func() {
		<-pl.done
		if pl.err != nil {
			res <- fmt.Errorf("playing %s: %w\n%s", wavPath, pl.err, tail(logPath))
			return
		}
		res <- nil
	}()
	return res
}

// Tone writes a 1 kHz sine at volume 0.1 (-23 dBFS RMS), 16 kHz mono
// s16, lasting seconds, and returns its path.
func Tone(t testing.TB, seconds string) string {
	t.Helper()
	Require(t, "sox")
	tone := filepath.Join(t.TempDir(), "tone.wav")
	if out, err := exec.Command("sox", "-n", "-r", "16000", "-c", "1", "-b", "16", tone,
		"synth", seconds, "sine", "1000", "vol", "0.1").CombinedOutput(); err != nil {
		t.Fatalf("generating a tone: %v: %s", err, out)
	}
	return tone
}
