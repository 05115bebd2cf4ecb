package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/vigil-cc/vigil/agent"
	"github.com/vigil-cc/vigil/platform/desktop"
	"github.com/vigil-cc/vigil/platform/notify"
	"github.com/vigil-cc/vigil/protocol"
	"github.com/vigil-cc/vigil/sensors"
)

// linkConfig is what the session and enroll commands need to reach the
// coordinator and keep the enrollment.
type linkConfig struct {
	coordinator   string
	enrollToken   string
	stateDir      string
	caFile        string
	allowInsecure bool
	config        string

	endpoint agent.Endpoint
}

func (c *linkConfig) flags(fs flagSet) {
	fs.StringVar(&c.coordinator, "coordinator", "", "the coordinator's `URL`, e.g. https://vigil.example.com (wss:// works too;\nplain http:// or ws:// only to this machine unless --allow-insecure)")
	fs.StringVar(&c.enrollToken, "enroll-token", "", "an enrollment `token` from the admin: enroll this workstation if it is not enrolled yet")
	fs.StringVar(&c.stateDir, "state-dir", "", "`directory` keeping the device token (default $XDG_STATE_HOME/vigil or ~/.local/state/vigil)")
	fs.StringVar(&c.caFile, "ca-file", "", "PEM `file` of the CA certificates to trust for the coordinator, instead of the system's")
	fs.BoolVar(&c.allowInsecure, "allow-insecure", false, "allow plain http:// or ws:// to a coordinator on another machine (the device token travels in clear)")
	fs.StringVar(&c.config, "config", "", "`file` of key = value lines setting these flags (below the environment and the command line)")
}

// check validates and resolves the link settings.
func (c *linkConfig) check(lookup func(string) (string, bool)) error {
	ep, err := agent.ParseEndpoint(c.coordinator, c.allowInsecure, c.caFile)
	if err != nil {
		if c.coordinator == "" {
			err = errors.New("--coordinator is required (the coordinator's URL, e.g. https://vigil.example.com)")
		}
		return usageError{err}
	}
	c.endpoint = ep
	if c.stateDir == "" {
		if c.stateDir, err = agent.DefaultStateDir(lookup); err != nil {
			return usageError{err}
		}
	}
	return nil
}

// flagSet is the part of *flag.FlagSet the config helpers use.
type flagSet interface {
	StringVar(p *string, name, value, usage string)
	BoolVar(p *bool, name string, value bool, usage string)
}

// sessionConfig is the session command's command line.
type sessionConfig struct {
	linkConfig
	sessionID string
	display   string
	mic       bool
	micDevice string
	notify    bool
	poll      time.Duration
	logLevel  string
	level     slog.Level
}

func parseSessionFlags(args []string, lookup func(string) (string, bool)) (sessionConfig, error) {
	fs := newFlagSet("session", "--coordinator URL [--enroll-token TOKEN] [flags]")
	var cfg sessionConfig
	cfg.linkConfig.flags(fs)
	fs.StringVar(&cfg.sessionID, "session-id", "", "the desktop session's `id` (default xdg:$XDG_SESSION_ID, else display:N from the display, else wts-N on Windows)")
	fs.StringVar(&cfg.display, "display", "", "X `display` to read, e.g. :0 (empty: $DISPLAY)")
	fs.BoolVar(&cfg.mic, "mic", true, "listen for voice on the microphone (false: mic_available=false)")
	fs.StringVar(&cfg.micDevice, "mic-device", "", "microphone: first input device whose `name` contains this (case-insensitive); empty: the default device")
	fs.BoolVar(&cfg.notify, "notify", true, "show the warning on screen: a desktop notification, on Windows a small window of its own (false: only log it)")
	fs.DurationVar(&cfg.poll, "poll-interval", 250*time.Millisecond, "how often to read the input idle time and the windows (10ms to 250ms)")
	fs.StringVar(&cfg.logLevel, "log-level", "info", "`level` of the log on stderr: debug, info, warn or error (debug lists every message sent)")
	if err := parseFlags(fs, args, lookup); err != nil {
		return cfg, err
	}
	if cfg.poll < 10*time.Millisecond || cfg.poll > 250*time.Millisecond {
		return cfg, usageError{fmt.Errorf("--poll-interval must be from 10ms to 250ms (at least 4 polls a second), got %v", cfg.poll)}
	}
	if err := cfg.level.UnmarshalText([]byte(cfg.logLevel)); err != nil {
		return cfg, usageError{fmt.Errorf("--log-level must be debug, info, warn or error, got %q", cfg.logLevel)}
	}
	if err := cfg.check(lookup); err != nil {
		return cfg, err
	}
	if cfg.sessionID == "" {
		id, err := agent.SessionID(lookup, cfg.display)
		if err != nil {
			return cfg, usageError{err}
		}
		cfg.sessionID = id
	} else if err := (protocol.Heartbeat{Session: cfg.sessionID}).Validate(); err != nil {
		return cfg, usageError{fmt.Errorf("--session-id: must be 1 to 64 characters of letters, digits, '.', '_', ':' and '-'")}
	}
	return cfg, nil
}

func runSession(args []string) error {
	cfg, err := parseSessionFlags(args, os.LookupEnv)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.level}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if _, set := os.LookupEnv("GOMAXPROCS"); !set {
		// A sensor wakes a few times a second for microseconds of work; with
		// one P the scheduler does not wake a second thread to look for
		// work each time (docs/performance.md, "Agent footprint").
		runtime.GOMAXPROCS(1)
	}

	host, osName, err := agent.Machine()
	if err != nil {
		return err
	}
	osUser, err := agent.OSUser()
	if err != nil {
		return err
	}
	// Under the system service (--coordinator unix:///run/vigil/agent.sock)
	// the service holds the device token: nothing to enroll or send.
	local := cfg.endpoint.Local()
	if !local {
		if _, err := ensureEnrolled(ctx, log, cfg.linkConfig, host, osName, false); err != nil {
			return err
		}
	}

	display := cfg.display
	var mic *sensors.Mic
	if cfg.mic {
		mic = &sensors.Mic{Open: openMic, Device: cfg.micDevice}
	}
	var notifier agent.Notifier
	if cfg.notify {
		nc := &notify.Client{AppName: "Vigil"}
		defer nc.Close()
		notifier = nc
	}
	stateDir := cfg.stateDir
	a := &agent.Agent{
		Endpoint: cfg.endpoint,
		Token: func() (string, error) {
			if local {
				return "", nil
			}
			d, err := agent.LoadDevice(stateDir)
			return d.Token, err
		},
		Hello:   protocol.Hello{AgentVersion: agent.Version, OS: osName, Host: host},
		Session: cfg.sessionID,
		OSUser:  osUser,
		Sampler: &agent.Sampler{
			OpenDesktop: func() (desktop.Desktop, error) { return desktop.Open(display) },
			Mic:         mic,
			Interval:    cfg.poll,
			Log:         log,
		},
		Warn: &agent.Warnings{Notifier: notifier, Log: log},
		Log:  log,
	}
	log.Info("vigil-agent session starting", "version", agent.Version, "coordinator", cfg.endpoint.String(),
		"session", cfg.sessionID, "os_user", osUser, "host", host, "mic", cfg.mic, "state_dir", stateDir)
	err = a.Run(ctx)
	log.Info("vigil-agent session stopped")
	return err
}

// ensureEnrolled returns the stored enrollment, enrolling first when there
// is none (or force is set) and an enrollment token was given.
func ensureEnrolled(ctx context.Context, log *slog.Logger, cfg linkConfig, host, osName string, force bool) (agent.Device, error) {
	d, err := agent.LoadDevice(cfg.stateDir)
	switch {
	case err == nil && !force && d.Coordinator == cfg.endpoint.String():
		return d, nil
	case err == nil && !force && cfg.enrollToken == "":
		return d, fmt.Errorf("the device token in %s was issued by %s, not %s: enroll with this coordinator (--enroll-token) or point --coordinator at that one",
			cfg.stateDir, d.Coordinator, cfg.endpoint)
	case err != nil && !errors.Is(err, agent.ErrNotEnrolled):
		return d, err
	case cfg.enrollToken == "":
		return d, fmt.Errorf("%w (no %s in %s): give --enroll-token with a token from your Vigil admin",
			agent.ErrNotEnrolled, agent.DeviceFile, cfg.stateDir)
	}
	d, err = agent.Enroll(ctx, cfg.endpoint, cfg.enrollToken, host, osName, time.Now())
	if err != nil {
		return d, err
	}
	if err := agent.SaveDevice(cfg.stateDir, d); err != nil {
		return d, err
	}
	log.Info("enrolled with the coordinator", "device_id", d.ID, "status", d.Status, "state_dir", cfg.stateDir)
	if d.Status != "" && d.Status != "approved" {
		log.Warn("this device waits for an admin's approval; the agent keeps trying to connect", "status", d.Status)
	}
	return d, nil
}

func runEnroll(args []string) error {
	fs := newFlagSet("enroll", "--coordinator URL --enroll-token TOKEN [flags]")
	var cfg linkConfig
	cfg.flags(fs)
	force := fs.Bool("force", false, "enroll again even if this workstation is enrolled with this coordinator")
	if err := parseFlags(fs, args, os.LookupEnv); err != nil {
		return err
	}
	if err := cfg.check(os.LookupEnv); err != nil {
		return err
	}
	if cfg.enrollToken == "" {
		return usageError{errors.New("--enroll-token is required (an enrollment token from your Vigil admin)")}
	}
	host, osName, err := agent.Machine()
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if d, err := agent.LoadDevice(cfg.stateDir); err == nil && !*force && d.Coordinator == cfg.endpoint.String() {
		fmt.Printf("already enrolled with %s as device %s (%s); --force enrolls again\n", d.Coordinator, d.ID, cfg.stateDir)
		return nil
	}
	d, err := ensureEnrolled(context.Background(), log, cfg, host, osName, true)
	if err != nil {
		return err
	}
	status := d.Status
	if status == "" {
		status = "enrolled"
	}
	fmt.Printf("enrolled with %s as device %s (%s); the device token is in %s\n", d.Coordinator, d.ID, strings.ToLower(status), cfg.stateDir)
	return nil
}
