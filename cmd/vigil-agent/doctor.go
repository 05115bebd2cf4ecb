package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"regexp"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/vigil-cc/vigil/agent"
	"github.com/vigil-cc/vigil/platform/audio"
	"github.com/vigil-cc/vigil/platform/desktop"
	"github.com/vigil-cc/vigil/sensors"
)

// doctorConfig is the doctor command's command line.
type doctorConfig struct {
	json        bool
	watch       bool
	pattern     *regexp.Regexp
	listen      time.Duration
	micDevice   string
	mic         bool
	desktop     bool
	display     string
	interval    time.Duration
	patternText string
}

// doctor holds the doctor's collaborators, so tests can swap the OS for
// fakes.
type doctor struct {
	openDesktop func(display string) (desktop.Desktop, error)
	openMic     sensors.OpenMic
	stdout      io.Writer
	now         func() time.Time
}

func runDoctor(args []string) error {
	cfg, err := parseDoctorFlags(args, os.LookupEnv)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	d := doctor{openDesktop: desktop.Open, openMic: openMic, stdout: os.Stdout, now: time.Now}
	return d.run(ctx, cfg)
}

func parseDoctorFlags(args []string, lookup func(string) (string, bool)) (doctorConfig, error) {
	fs := newFlagSet("doctor", "[--json] [--watch] [flags]")
	var cfg doctorConfig
	var listenMs int
	fs.BoolVar(&cfg.json, "json", false, "print JSON: one object, or with --watch one object per line")
	fs.BoolVar(&cfg.watch, "watch", false, "keep sensing and print a reading whenever a value changes (idle only when it drops,\ni.e. on input; mic_dbfs never triggers a line) until interrupted")
	fs.StringVar(&cfg.patternText, "agent-desk-title", sensors.DefaultAgentDeskPattern, "`regexp` (RE2) matched against the active tab's title to recognise the Agent Desk")
	fs.IntVar(&listenMs, "listen-ms", 1000, "one-shot: listen to the microphone this many `ms` before reading (0: only check it opens)")
	fs.StringVar(&cfg.micDevice, "mic-device", "", "microphone: first input device whose `name` contains this (case-insensitive); empty: the default device")
	fs.BoolVar(&cfg.mic, "mic", true, "read the microphone (false: mic_available=false)")
	fs.BoolVar(&cfg.desktop, "desktop", true, "read idle time, windows and screen lock (false: report zero values)")
	fs.StringVar(&cfg.display, "display", "", "X `display` to read, e.g. :0 (empty: $DISPLAY)")
	fs.DurationVar(&cfg.interval, "watch-interval", 200*time.Millisecond, "with --watch: how often to poll the desktop")
	if err := parseFlags(fs, args, lookup); err != nil {
		return cfg, err
	}
	if listenMs < 0 || listenMs > 600_000 {
		return cfg, usageError{fmt.Errorf("--listen-ms must be 0..600000, got %d", listenMs)}
	}
	cfg.listen = time.Duration(listenMs) * time.Millisecond
	if cfg.interval < 10*time.Millisecond {
		return cfg, usageError{fmt.Errorf("--watch-interval must be at least 10ms, got %v", cfg.interval)}
	}
	re, err := sensors.CompileAgentDeskPattern(cfg.patternText)
	if err != nil {
		return cfg, usageError{err}
	}
	cfg.pattern = re
	return cfg, nil
}

// openMic opens a microphone through PortAudio.
func openMic(device string) (sensors.FrameSource, string, error) {
	c, err := audio.Open(device)
	if err != nil {
		return nil, "", err
	}
	return c, c.Name(), nil
}

// doctorOutput is what doctor prints. It holds booleans, numbers and
// device names only: there is no field a window title could go into.
type doctorOutput struct {
	Time                string            `json:"time"`
	IdleMs              int64             `json:"idle_ms"`
	AgentDeskForeground bool              `json:"agent_desk_foreground"`
	AgentDeskMinimized  bool              `json:"agent_desk_minimized"`
	ForegroundPID       int               `json:"foreground_pid"`
	ScreenLocked        bool              `json:"screen_locked"`
	MicAvailable        bool              `json:"mic_available"`
	MicDBFS             float64           `json:"mic_dbfs"`
	Voice               bool              `json:"voice"`
	MicDevice           string            `json:"mic_device,omitempty"`
	Errors              map[string]string `json:"errors,omitempty"`
}

// errDesktop is returned (exit status 1) after printing when the desktop
// could not be read.
var errDesktop = errors.New("the desktop sensors could not be read (see errors.desktop)")

func (d doctor) run(ctx context.Context, cfg doctorConfig) error {
	if cfg.watch {
		return d.watch(ctx, cfg)
	}
	out := doctorOutput{MicDBFS: sensors.SilenceDBFS}
	if cfg.mic {
		// Listen first, then read the desktop: the reading describes the
		// end of the listening window.
		res := sensors.Listen(ctx, d.openMic, cfg.micDevice, cfg.listen, sensors.DefaultVADConfig())
		out.MicAvailable, out.Voice, out.MicDBFS, out.MicDevice = res.Available, res.Voice, res.PeakDBFS, res.Device
		if res.Err != nil {
			out.setError("mic", res.Err)
		}
	}
	if cfg.desktop {
		dt, err := d.openDesktop(cfg.display)
		if err == nil {
			var r sensors.Reading
			r, err = sensors.ReadDesktop(dt, cfg.pattern, d.now)
			dt.Close()
			out.setDesktop(r)
		}
		if err != nil {
			out.setError("desktop", err)
		}
	}
	out.Time = d.now().Format(time.RFC3339Nano)
	if err := d.print(cfg, out, true); err != nil {
		return err
	}
	if out.Errors["desktop"] != "" {
		return errDesktop
	}
	return nil
}

// watch runs the agent's own Sampler (the desktop every cfg.interval and
// on every microphone change, reopened with backoff when it fails) and
// prints a reading whenever something changed.
func (d doctor) watch(ctx context.Context, cfg doctorConfig) error {
	var mic *sensors.Mic
	if cfg.mic {
		mic = &sensors.Mic{Open: d.openMic, Device: cfg.micDevice}
	}
	open := func() (desktop.Desktop, error) { return d.openDesktop(cfg.display) }
	if !cfg.desktop {
		open = func() (desktop.Desktop, error) { return noDesktop{}, nil }
	}
	s := &agent.Sampler{OpenDesktop: open, Mic: mic, Interval: cfg.interval, Now: d.now, ReportFailures: true}
	s.SetPattern(cfg.pattern)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	defer func() {
		cancel()
		<-done // the devices are closed before we return
	}()
	go func() {
		defer close(done)
		_ = s.Run(ctx)
	}()
	var last *doctorOutput
	for {
		var smp agent.Sample
		select {
		case <-ctx.Done():
			return nil
		case smp = <-s.Samples():
		}
		out := sampleOutput(smp, cfg)
		if mic != nil && !out.MicAvailable {
			if err := mic.Err(); err != nil {
				out.setError("mic", err)
			}
		}
		if last == nil || changed(*last, out) {
			out.Time = d.now().Format(time.RFC3339Nano)
			if err := d.print(cfg, out, last == nil); err != nil {
				return err
			}
		}
		last = &out
	}
}

// sampleOutput is what doctor shows of a sample.
func sampleOutput(smp agent.Sample, cfg doctorConfig) doctorOutput {
	out := doctorOutput{MicDBFS: sensors.SilenceDBFS}
	if cfg.desktop {
		out.IdleMs = smp.Idle.Milliseconds()
		out.AgentDeskForeground, out.AgentDeskMinimized = smp.Foreground, smp.Minimized
		out.ForegroundPID, out.ScreenLocked = smp.ForegroundPID, smp.Locked
		if smp.Err != nil {
			out.setError("desktop", smp.Err)
		}
	}
	if cfg.mic {
		out.MicAvailable, out.Voice, out.MicDBFS, out.MicDevice = smp.MicAvailable, smp.Voice, smp.MicDBFS, smp.MicDevice
	}
	return out
}

// noDesktop stands in for the desktop under --desktop=false: zero values.
type noDesktop struct{}

func (noDesktop) Idle() (time.Duration, error)         { return 0, nil }
func (noDesktop) Windows() (sensors.WindowList, error) { return sensors.WindowList{}, nil }
func (noDesktop) ScreenLocked() (bool, error)          { return false, nil }
func (noDesktop) Close()                               {}

// changed reports whether a watch line is due: any boolean, the foreground
// pid, the mic device or the errors changed, or idle time dropped (input
// happened). Idle growing and the level moving are not changes.
func changed(a, b doctorOutput) bool {
	if b.IdleMs < a.IdleMs {
		return true
	}
	if a.AgentDeskForeground != b.AgentDeskForeground || a.AgentDeskMinimized != b.AgentDeskMinimized ||
		a.ForegroundPID != b.ForegroundPID || a.ScreenLocked != b.ScreenLocked ||
		a.MicAvailable != b.MicAvailable || a.Voice != b.Voice || a.MicDevice != b.MicDevice ||
		len(a.Errors) != len(b.Errors) {
		return true
	}
	for k, v := range a.Errors {
		if b.Errors[k] != v {
			return true
		}
	}
	return false
}

func (o *doctorOutput) setDesktop(r sensors.Reading) {
	o.IdleMs = r.IdleMs
	o.AgentDeskForeground = r.AgentDeskForeground
	o.AgentDeskMinimized = r.AgentDeskMinimized
	o.ForegroundPID = r.ForegroundPID
	o.ScreenLocked = r.ScreenLocked
}

func (o *doctorOutput) setError(sensor string, err error) {
	if o.Errors == nil {
		o.Errors = map[string]string{}
	}
	o.Errors[sensor] = err.Error()
}

func (d doctor) print(cfg doctorConfig, out doctorOutput, first bool) error {
	out.MicDBFS = math.Round(out.MicDBFS*10) / 10
	if cfg.json {
		// One Write per reading, so a reader of --watch gets whole lines.
		b, err := json.Marshal(out)
		if err != nil {
			return err
		}
		_, err = d.stdout.Write(append(b, '\n'))
		return err
	}
	if cfg.watch {
		return d.printLine(cfg, out, first)
	}
	return d.printTable(cfg, out)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func (d doctor) printTable(cfg doctorConfig, o doctorOutput) error {
	tw := tabwriter.NewWriter(d.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Vigil sensors at %s (window titles are never shown)\n", o.Time)
	if cfg.desktop {
		fmt.Fprintf(tw, "  idle\t%d ms\n", o.IdleMs)
		fmt.Fprintf(tw, "  agent desk in front\t%s\t(title pattern %s)\n", yesNo(o.AgentDeskForeground), cfg.pattern)
		fmt.Fprintf(tw, "  agent desk minimized\t%s\n", yesNo(o.AgentDeskMinimized))
		fmt.Fprintf(tw, "  foreground pid\t%d\n", o.ForegroundPID)
		fmt.Fprintf(tw, "  screen locked\t%s\n", yesNo(o.ScreenLocked))
	}
	if cfg.mic {
		dev := o.MicDevice
		if dev == "" {
			dev = "-"
		}
		fmt.Fprintf(tw, "  microphone available\t%s\t(device %s)\n", yesNo(o.MicAvailable), dev)
		fmt.Fprintf(tw, "  microphone level\t%.1f dBFS\t(loudest 100 ms in %d ms)\n", o.MicDBFS, cfg.listen.Milliseconds())
		fmt.Fprintf(tw, "  voice\t%s\n", yesNo(o.Voice))
	}
	for _, k := range []string{"desktop", "mic"} {
		if e := o.Errors[k]; e != "" {
			fmt.Fprintf(tw, "  %s error\t%s\n", k, e)
		}
	}
	return tw.Flush()
}

func (d doctor) printLine(cfg doctorConfig, o doctorOutput, first bool) error {
	if first {
		fmt.Fprintf(d.stdout, "watching (title pattern %s); one line per change, Ctrl-C to stop\n", cfg.pattern)
	}
	line := o.Time
	if cfg.desktop {
		line += fmt.Sprintf(" idle=%dms front=%s minimized=%s pid=%d locked=%s",
			o.IdleMs, yesNo(o.AgentDeskForeground), yesNo(o.AgentDeskMinimized), o.ForegroundPID, yesNo(o.ScreenLocked))
	}
	if cfg.mic {
		line += fmt.Sprintf(" mic=%s voice=%s level=%.1fdBFS", yesNo(o.MicAvailable), yesNo(o.Voice), o.MicDBFS)
	}
	for _, k := range []string{"desktop", "mic"} {
		if e := o.Errors[k]; e != "" {
			line += fmt.Sprintf(" %s-error=%q", k, e)
		}
	}
	_, err := fmt.Fprintln(d.stdout, line)
	return err
}
