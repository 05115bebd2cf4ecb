package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	svcmgr "github.com/kardianos/service"

	"github.com/vigil-cc/vigil/agent"
	"github.com/vigil-cc/vigil/agent/service"
	"github.com/vigil-cc/vigil/internal/backoff"
	"github.com/vigil-cc/vigil/protocol"
)

// The system service: `vigil-agent install` registers it with the OS's
// service manager (kardianos/service: systemd, SysV init, launchd, the
// Windows SCM), which runs `vigil-agent service --config <dir>/agent.conf`.
// The service enrolls on first start, supervises one `vigil-agent session`
// helper per desktop session and relays their sessions over its one
// connection to the coordinator (package agent/service). It logs to stderr,
// which the init script appends to /var/log/vigil-agent.err (systemd: the
// journal).

const serviceName = "vigil-agent"

// serviceConfig is the service command's settings (the install command
// writes them to the config file).
type serviceConfig struct {
	linkConfig
	socket   string
	mic      bool
	logLevel string
	level    slog.Level
}

func (c *serviceConfig) flags(fs flagSet) {
	c.linkConfig.flags(fs)
	fs.StringVar(&c.socket, "socket", defaultSocket, "the local `socket` the helpers report to")
	fs.BoolVar(&c.mic, "mic", true, "helpers listen for voice on the microphone")
	fs.StringVar(&c.logLevel, "log-level", "info", "`level` of the log: debug, info, warn or error")
}

func (c *serviceConfig) check(lookup func(string) (string, bool)) error {
	if c.stateDir == "" {
		c.stateDir = serviceStateDir
	}
	if err := c.level.UnmarshalText([]byte(c.logLevel)); err != nil {
		return usageError{fmt.Errorf("--log-level must be debug, info, warn or error, got %q", c.logLevel)}
	}
	return c.linkConfig.check(lookup)
}

// newService is the kardianos service running `vigil-agent service
// --config confPath`, restarted on failure where the manager can.
func newService(confPath string, prg svcmgr.Interface) (svcmgr.Service, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	opts := svcmgr.KeyValue{
		"Restart":                "always", // systemd
		"RestartSec":             "5",
		"OnFailure":              "restart", // Windows recovery actions
		"OnFailureDelayDuration": "5s",
		"OnFailureResetPeriod":   60,
		"KeepAlive":              true, // launchd
		"RunAtLoad":              true,
	}
	platformOptions(opts)
	return svcmgr.New(prg, &svcmgr.Config{
		Name:        serviceName,
		DisplayName: "Vigil agent",
		Description: "Vigil workstation agent: reports desktop inactivity to the Vigil coordinator",
		Executable:  exe,
		Arguments:   []string{"service", "--config", confPath},
		Option:      opts,
	})
}

// ---- install, uninstall, start, stop, restart, status ----

func configDirFlag(fs flagSet, dir *string) {
	fs.StringVar(dir, "config-dir", defaultConfigDir, "`directory` of the service's agent.conf")
}

func runInstall(args []string) error {
	fs := newFlagSet("install", "--coordinator URL --enroll-token TOKEN [flags]")
	var cfg serviceConfig
	var dir string
	cfg.flags(fs)
	configDirFlag(fs, &dir)
	keep := fs.Bool("keep-config", false, "keep an existing config file as it is (the MSI runs install on every upgrade, with or without new settings)")
	if err := parseFlags(fs, args, os.LookupEnv); err != nil {
		return err
	}
	path := filepath.Join(dir, "agent.conf")
	_, statErr := os.Stat(path)
	keepConfig := *keep && statErr == nil
	if !keepConfig {
		if err := cfg.check(os.LookupEnv); err != nil {
			return err
		}
		if cfg.enrollToken == "" {
			if _, err := agent.LoadDevice(cfg.stateDir); err != nil {
				return usageError{errors.New("--enroll-token is required (an enrollment token from your Vigil admin)")}
			}
		}
		if err := writeServiceConfig(path, cfg); err != nil {
			return err
		}
	}
	s, err := newService(path, nil)
	if err != nil {
		return err
	}
	// A package (.deb/.rpm systemd unit, MSI) may have registered the
	// service already: install then enables that registration instead of
	// writing a second one, so `vigil-agent install` is the one way to
	// configure the agent with or without a package.
	adopted, err := adoptRegistration(s)
	if err != nil {
		return fmt.Errorf("enabling the service: %w", err)
	}
	if adopted {
		fmt.Printf("configured the %s service registered on this machine (config %s); start it with `vigil-agent start`\n", serviceName, path)
		return nil
	}
	if err := s.Install(); err != nil {
		return fmt.Errorf("installing the service: %w", err)
	}
	fmt.Printf("installed the %s service (config %s); start it with `vigil-agent start`\n", serviceName, path)
	return nil
}

// writeServiceConfig writes the service's settings, readable by root only.
func writeServiceConfig(path string, cfg serviceConfig) error {
	var b strings.Builder
	b.WriteString("# vigil-agent service settings (written by `vigil-agent install`)\n")
	kv := func(k, v string) { fmt.Fprintf(&b, "%s = %s\n", k, strconv.Quote(v)) }
	kv("coordinator", cfg.coordinator)
	if cfg.enrollToken != "" {
		kv("enroll-token", cfg.enrollToken)
	}
	kv("state-dir", cfg.stateDir)
	if cfg.caFile != "" {
		kv("ca-file", cfg.caFile)
	}
	kv("allow-insecure", strconv.FormatBool(cfg.allowInsecure))
	kv("socket", cfg.socket)
	kv("mic", strconv.FormatBool(cfg.mic))
	kv("log-level", cfg.logLevel)
	// Windows: the directory gets its ACL before the token is written.
	if err := service.SecureDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("securing the config directory: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("creating the config directory: %w", err)
	}
	tmp := path + ".tmp"
	f, err := service.CreatePrivate(tmp)
	if err != nil {
		return fmt.Errorf("writing the config: %w", err)
	}
	_, err = f.WriteString(b.String())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing the config: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing the config: %w", err)
	}
	return service.SecureFile(path)
}

// control runs one service manager action (start, stop, restart, status,
// uninstall).
func control(name string, args []string, act func(svcmgr.Service, string) error) error {
	return controlFlags(name, args, nil, act)
}

// controlFlags is control with extra flags for the command.
func controlFlags(name string, args []string, extra func(*flag.FlagSet), act func(svcmgr.Service, string) error) error {
	fs := newFlagSet(name, "[flags]")
	var dir string
	configDirFlag(fs, &dir)
	if extra != nil {
		extra(fs)
	}
	if err := parseFlags(fs, args, os.LookupEnv); err != nil {
		return err
	}
	path := filepath.Join(dir, "agent.conf")
	s, err := newService(path, nil)
	if err != nil {
		return err
	}
	return act(s, path)
}

func runStart(args []string) error {
	return control("start", args, func(s svcmgr.Service, _ string) error { return s.Start() })
}

func runStop(args []string) error {
	return control("stop", args, func(s svcmgr.Service, _ string) error { return s.Stop() })
}

func runRestart(args []string) error {
	return control("restart", args, func(s svcmgr.Service, _ string) error { return s.Restart() })
}

func runStatus(args []string) error {
	return control("status", args, func(s svcmgr.Service, _ string) error {
		st, err := s.Status()
		switch {
		case errors.Is(err, svcmgr.ErrNotInstalled):
			fmt.Println("not installed")
			return errors.New("the service is not installed")
		case err != nil && st == svcmgr.StatusUnknown && initScript != "":
			// SysV's status exits 1 when stopped.
			if _, ierr := os.Stat(initScript); ierr == nil {
				fmt.Println("stopped")
				return errors.New("the service is stopped")
			}
			fmt.Println("not installed")
			return errors.New("the service is not installed")
		case err != nil:
			return err
		case st == svcmgr.StatusRunning:
			fmt.Println("running")
			return nil
		case st == svcmgr.StatusStopped:
			fmt.Println("stopped")
			return errors.New("the service is stopped")
		}
		fmt.Println("unknown")
		return errors.New("the service's status is unknown")
	})
}

func runUninstall(args []string) error {
	var keepState bool
	extra := func(fs *flag.FlagSet) {
		fs.BoolVar(&keepState, "keep-state", false, "keep the device token (a package's remove does; its purge deletes it)")
	}
	return controlFlags("uninstall", args, extra, func(s svcmgr.Service, path string) error {
		if st, _ := s.Status(); st == svcmgr.StatusRunning {
			if err := s.Stop(); err != nil {
				return fmt.Errorf("stopping the service: %w", err)
			}
		}
		released, err := releaseRegistration()
		if !released && err == nil {
			err = s.Uninstall()
		}
		if cerr := cleanupService(path, keepState); cerr != nil && err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("uninstalling the service: %w", err)
		}
		fmt.Printf("uninstalled the %s service; its settings stay in %s\n", serviceName, path)
		return nil
	})
}

// ---- the service itself ----

type program struct {
	run    func(ctx context.Context) error
	cancel context.CancelFunc
	done   chan error
}

func (p *program) Start(svcmgr.Service) error {
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel, p.done = cancel, make(chan error, 1)
	go func() {
		err := p.run(ctx)
		p.done <- err
		if err != nil && ctx.Err() == nil {
			// A failure: exit non-zero so the service manager restarts us.
			fmt.Fprintf(os.Stderr, "vigil-agent service: %v\n", err)
			os.Exit(1)
		}
	}()
	return nil
}

func (p *program) Stop(svcmgr.Service) error {
	p.cancel()
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
	}
	return nil
}

func runService(args []string) error {
	fs := newFlagSet("service", "[--config FILE] [flags]")
	var cfg serviceConfig
	cfg.flags(fs)
	if err := parseFlags(fs, args, os.LookupEnv); err != nil {
		return err
	}
	if err := cfg.check(os.LookupEnv); err != nil {
		return err
	}
	// Before the first log line: the log lives in the same directory.
	if err := secureServiceFiles(cfg); err != nil {
		reportFatal(err)
		return err
	}
	log := slog.New(slog.NewTextHandler(serviceLog(), &slog.HandlerOptions{Level: cfg.level}))
	// Session changes the Windows SCM reports reach the supervisor here.
	changed := make(chan struct{}, 1)
	prg := &program{run: func(ctx context.Context) error { return serve(ctx, log, cfg, changed) }}
	if ok, err := runSCM(prg, changed, log); ok {
		return err
	}
	s, err := newService(cfg.config, prg)
	if err != nil {
		return err
	}
	return s.Run()
}

// secureServiceFiles gives the service's directories (the config's, with
// the logs; the state; the socket's) and its secrets (config, device
// token) their ACL, refusing ones another user owns (service.SecureDir;
// Windows only, elsewhere file modes do it).
func secureServiceFiles(cfg serviceConfig) error {
	seen := map[string]bool{}
	for _, dir := range []string{defaultConfigDir, filepath.Dir(cfg.config), cfg.stateDir, filepath.Dir(cfg.socket)} {
		if dir == "." || seen[dir] {
			continue
		}
		seen[dir] = true
		if err := service.SecureDir(dir); err != nil {
			return fmt.Errorf("securing the service's directories: %w", err)
		}
	}
	for _, f := range []string{cfg.config, filepath.Join(cfg.stateDir, agent.DeviceFile)} {
		if f == "" {
			continue
		}
		if err := service.SecureFile(f); err != nil {
			return fmt.Errorf("securing the service's files: %w", err)
		}
	}
	return nil
}

// serve enrolls if needed, then runs the relay and the supervisor, which
// looks for sessions at once when changed delivers.
func serve(ctx context.Context, log *slog.Logger, cfg serviceConfig, changed <-chan struct{}) error {
	host, osName, err := agent.Machine()
	if err != nil {
		return err
	}
	log.Info("vigil-agent service starting", "version", agent.Version, "coordinator", cfg.endpoint.String(),
		"host", host, "state_dir", cfg.stateDir, "socket", cfg.socket)
	bo := backoff.Default()
	for {
		_, err := ensureEnrolled(ctx, log, cfg.linkConfig, host, osName, false)
		if err == nil {
			break
		}
		if errors.Is(err, agent.ErrNotEnrolled) {
			return err
		}
		wait := bo.Next()
		log.Warn("enrolling failed; retrying", "err", err, "retry_in", wait.Round(time.Millisecond))
		if !backoff.Sleep(ctx, wait) {
			return nil
		}
	}
	stateDir := cfg.stateDir
	if err := service.SecureFile(filepath.Join(stateDir, agent.DeviceFile)); err != nil {
		return fmt.Errorf("securing the device token: %w", err)
	}
	relay := &service.Relay{
		Endpoint: cfg.endpoint,
		Token: func() (string, error) {
			d, err := agent.LoadDevice(stateDir)
			return d.Token, err
		},
		Hello:  protocol.Hello{AgentVersion: agent.Version, OS: osName, Host: host},
		Log:    log,
		PeerOf: service.PeerCred,
	}
	ln, err := service.ListenLocal(cfg.socket)
	if err != nil {
		return err
	}
	defer os.Remove(cfg.socket)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	wg.Go(func() { errs <- relay.ServeLocal(ctx, ln) })
	wg.Go(func() { errs <- relay.Run(ctx) })
	wg.Go(func() { errs <- supervise(ctx, log, cfg, changed) })
	var first error
	select {
	case <-ctx.Done():
	case first = <-errs:
	}
	cancel()
	wg.Wait()
	log.Info("vigil-agent service stopped")
	return first
}
