// Command vigil-coordinator is Vigil's central server: one inactivity clock
// per Agent Desk user, the agents' WebSocket endpoint, the HTTP API.
//
// Every flag has a VIGIL_* environment variable; a flag given on the
// command line wins over the environment.
//
// `vigil-coordinator account add|passwd|disable|enable` manages web
// accounts instead of serving (see account.go and docs/web.md);
// `vigil-coordinator device list|approve|revoke` manages enrolled devices
// through the running coordinator's API (device.go, docs/deploy.md).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vigil-cc/vigil/coordinator"
	"github.com/vigil-cc/vigil/coordinator/setting"
	"github.com/vigil-cc/vigil/internal/fdlimit"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "vigil-coordinator:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) > 0 && args[0] == "account" {
		return runAccount(args[1:], os.Stdin, os.Stdout)
	}
	if len(args) > 0 && args[0] == "device" {
		return runDevice(args[1:], os.Stdout)
	}
	fs := flag.NewFlagSet("vigil-coordinator", flag.ContinueOnError)
	var cfg coordinator.Config
	var logLevel string
	fs.StringVar(&cfg.Listen, "listen", "127.0.0.1:8080", "address to serve on (VIGIL_LISTEN)")
	fs.StringVar(&cfg.DataDir, "data-dir", "vigil-data", "directory for the database and first-start tokens (VIGIL_DATA_DIR)")
	fs.StringVar(&cfg.DatabaseURL, "database-url", "", "a PostgreSQL database, postgres://user:password@host:5432/vigil, that several replicas can share (VIGIL_DATABASE_URL); empty: a SQLite file in the data directory")
	fs.StringVar(&cfg.AdvertiseURL, "advertise-url", "", "with --database-url: the URL agents reach this replica at, which standbys name to them while it leads, e.g. wss://vigil-a.example.com:8443 (VIGIL_ADVERTISE_URL); default ws:// or wss:// and --listen")
	fs.StringVar(&cfg.AdminToken, "admin-token", "", "an admin API token to accept, at least 32 characters (VIGIL_ADMIN_TOKEN); without one, the first start makes one")
	fs.StringVar(&cfg.TLSCert, "tls-cert", "", "TLS certificate file (VIGIL_TLS_CERT)")
	fs.StringVar(&cfg.TLSKey, "tls-key", "", "TLS key file (VIGIL_TLS_KEY)")
	fs.DurationVar(&cfg.Heartbeat, "heartbeat", 20*time.Second, "how often agents report when nothing changes (VIGIL_HEARTBEAT)")
	fs.DurationVar(&cfg.Grace, "grace", 45*time.Second, "a sensor silent this long is lost (VIGIL_GRACE)")
	fs.BoolVar(&cfg.RequireApproval, "require-approval", false, "new devices wait for an admin's approval (VIGIL_REQUIRE_APPROVAL)")
	fs.StringVar(&cfg.TrustedProxies, "trusted-proxies", "", "reverse proxies (addresses, CIDR prefixes; comma-separated) whose X-Forwarded-For names the client for rate limits (VIGIL_TRUSTED_PROXIES)")
	fs.IntVar(&cfg.MaxSessionsPerConnection, "max-sessions-per-connection", 0, "desktop sessions one agent connection may report, e.g. a terminal server's (VIGIL_MAX_SESSIONS_PER_CONNECTION; 0: 1000)")
	fs.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error (VIGIL_LOG_LEVEL)")
	fs.StringVar(&cfg.Controller, "controller", "builtin", "who reroutes a logged-out user's conversations: builtin (the built-in Agent Desk router) or webhook (a contact-center platform) (VIGIL_CONTROLLER)")
	fs.StringVar(&cfg.WebhookURL, "webhook-url", "", "with --controller webhook: where events are POSTed; https, or http to loopback (VIGIL_WEBHOOK_URL)")
	fs.StringVar(&cfg.WebhookSecret, "webhook-secret", "", "with --controller webhook: the secret signing every event, at least 16 characters; prefer the variable (VIGIL_WEBHOOK_SECRET)")
	fs.StringVar(&cfg.WebhookSecretNext, "webhook-secret-next", "", "during a secret rotation: a second secret; events carry a signature for each (VIGIL_WEBHOOK_SECRET_NEXT)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := fromEnv(fs); err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	cfg.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	raiseFileLimit(cfg.Log)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, err := coordinator.Open(ctx, cfg)
	if err != nil {
		return namingFlags(err)
	}
	return srv.Run(ctx)
}

// reservedFiles are the open files kept for other than agents: the
// listener, the database and its journal, API clients, the pages' streams.
const reservedFiles = 100

// raiseFileLimit raises the soft open-file limit to the hard one (each
// agent's connection is a file) and says how many agents that allows.
func raiseFileLimit(log *slog.Logger) {
	l, ok, err := fdlimit.Raise()
	if !ok {
		return // no such limit on this OS
	}
	agents := uint64(0)
	if l.Now > reservedFiles {
		agents = l.Now - reservedFiles
	}
	if err != nil {
		log.Warn("the open-file limit could not be raised; it caps the agents this coordinator holds",
			"err", err, "limit", l.Now, "agents_at_most", agents)
		return
	}
	log.Info("open-file limit: one file per connected agent", "limit", l.Now, "raised_from", l.Was, "agents_at_most", agents)
}

// flags names each coordinator.Config setting by its flag.
var flags = map[string]string{
	"Listen":                   "--listen",
	"DataDir":                  "--data-dir",
	"DatabaseURL":              "--database-url",
	"AdvertiseURL":             "--advertise-url",
	"AdminToken":               "--admin-token",
	"TLSCert":                  "--tls-cert",
	"TLSKey":                   "--tls-key",
	"Heartbeat":                "--heartbeat",
	"Grace":                    "--grace",
	"RequireApproval":          "--require-approval",
	"TrustedProxies":           "--trusted-proxies",
	"MaxSessionsPerConnection": "--max-sessions-per-connection",
	"Controller":               "--controller",
	"WebhookURL":               "--webhook-url",
	"WebhookSecret":            "--webhook-secret",
	"WebhookSecretNext":        "--webhook-secret-next",
}

// namingFlags rewords a configuration error (a *setting.Error, perhaps
// wrapped) so that it names the flags the user gave.
func namingFlags(err error) error {
	var se *setting.Error
	if !errors.As(err, &se) {
		return err
	}
	named := se.Named(func(s string) string {
		if f, ok := flags[s]; ok {
			return f
		}
		return s
	})
	return errors.New(strings.Replace(err.Error(), se.Error(), named, 1))
}

// fromEnv sets every flag not given on the command line from its VIGIL_*
// variable (--data-dir ← VIGIL_DATA_DIR).
func fromEnv(fs *flag.FlagSet) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		name := "VIGIL_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		v, ok := os.LookupEnv(name)
		if given[f.Name] || !ok {
			return
		}
		if err := f.Value.Set(v); err != nil {
			errs = append(errs, fmt.Errorf("%s=%s: %w", name, strconv.Quote(v), err))
		}
	})
	return errors.Join(errs...)
}
