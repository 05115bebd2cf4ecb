// Package coordinator wires the vigil-coordinator together: store, engine
// core, agent hub, policy and HTTP API, by hand.
package coordinator

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/vigil-cc/vigil/coordinator/admin"
	"github.com/vigil-cc/vigil/coordinator/api"
	"github.com/vigil-cc/vigil/coordinator/clientip"
	"github.com/vigil-cc/vigil/coordinator/controller"
	"github.com/vigil-cc/vigil/coordinator/core"
	"github.com/vigil-cc/vigil/coordinator/engine"
	"github.com/vigil-cc/vigil/coordinator/hub"
	"github.com/vigil-cc/vigil/coordinator/metrics"
	"github.com/vigil-cc/vigil/coordinator/policy"
	"github.com/vigil-cc/vigil/coordinator/ratelimit"
	"github.com/vigil-cc/vigil/coordinator/secret"
	"github.com/vigil-cc/vigil/coordinator/setting"
	"github.com/vigil-cc/vigil/coordinator/store"
	"github.com/vigil-cc/vigil/coordinator/web"
)

// Config is the coordinator's configuration (flags and VIGIL_* variables).
type Config struct {
	Listen  string // host:port
	DataDir string // the SQLite database and first-start credentials
	// DatabaseURL (postgres://…) puts the store on PostgreSQL, which
	// several replicas can share; empty: a SQLite file in DataDir.
	DatabaseURL string
	// AdvertiseURL is where agents reach this replica (wss://a.example:8443),
	// named to them by a standby when this one leads; empty: ws:// or
	// wss:// and Listen.
	AdvertiseURL    string
	AdminToken      string        // optional: an admin API token to accept
	TLSCert, TLSKey string        // both or neither
	Heartbeat       time.Duration // asked of agents
	Grace           time.Duration // a sensor silent this long is lost
	RequireApproval bool          // new devices wait for an admin, whatever their token says
	// TrustedProxies: reverse proxies (addresses and CIDR prefixes, comma-
	// separated) whose X-Forwarded-For names the client for rate limits.
	TrustedProxies string
	// MaxSessionsPerConnection bounds the desktop sessions one agent
	// connection reports (a terminal server's; 0: hub.DefaultMaxSessions).
	MaxSessionsPerConnection int
	Now                      func() time.Time
	Log                      *slog.Logger

	// The controller (docs/integration.md): "builtin" (default) or "webhook",
	// which POSTs events to WebhookURL signed with WebhookSecret (and
	// WebhookSecretNext too during a rotation).
	Controller                       string
	WebhookURL                       string
	WebhookSecret, WebhookSecretNext string
}

// FirstEnrollmentTTL is how long the enrollment token made at first start
// lasts; its devices wait pending.
const FirstEnrollmentTTL = 24 * time.Hour

// MinAdminTokenLen is the shortest admin token the coordinator accepts
// from its configuration: a guessable one would open everything.
const MinAdminTokenLen = 32

// Validate says what to fix in c. Its errors are *setting.Error, naming
// the settings by their Config fields.
func (c *Config) Validate() error {
	switch {
	case c.Listen == "":
		return setting.Errorf("{Listen} must be host:port, e.g. 127.0.0.1:8080")
	case c.DataDir == "":
		return setting.Errorf("{DataDir} must name a directory for the database")
	case c.DatabaseURL != "" && !store.IsPostgresURL(c.DatabaseURL):
		return setting.Errorf("{DatabaseURL} must be a PostgreSQL URL, postgres://user:password@host:5432/vigil (empty: a SQLite file in the data directory)")
	case (c.TLSCert == "") != (c.TLSKey == ""):
		return setting.Errorf("{TLSCert} and {TLSKey} go together: give both or neither")
	case c.Heartbeat < 5*time.Second || c.Heartbeat > 300*time.Second:
		return setting.Errorf("{Heartbeat} must be from 5s to 300s, got %v", c.Heartbeat)
	case c.Grace <= c.Heartbeat:
		return setting.Errorf("{Grace} (%v) must be longer than {Heartbeat} (%v)", c.Grace, c.Heartbeat)
	case c.AdminToken != "" && len(c.AdminToken) < MinAdminTokenLen:
		return setting.Errorf("{AdminToken} must be at least %d characters (it is %d): make one with e.g. `openssl rand -hex 24`", MinAdminTokenLen, len(c.AdminToken))
	case c.MaxSessionsPerConnection < 0 || c.MaxSessionsPerConnection > hub.MaxMaxSessions:
		return setting.Errorf("{MaxSessionsPerConnection} must be from 1 to %d (0: %d), got %d", hub.MaxMaxSessions, hub.DefaultMaxSessions, c.MaxSessionsPerConnection)
	}
	if _, err := clientip.ParseTrusted(c.TrustedProxies); err != nil {
		return setting.Errorf("{TrustedProxies} must be addresses and CIDR prefixes separated by commas: %v", err)
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return setting.Errorf("{Listen} must be host:port, e.g. 127.0.0.1:8080: %v", err)
	}
	return c.validateController()
}

// Server is a running coordinator's parts.
type Server struct {
	cfg     Config
	Store   *store.Store
	Core    *core.Core
	Hub     *hub.Hub
	Policy  *policy.Policy
	Metrics *metrics.Metrics
	mux     *http.ServeMux

	// Controller is the built-in router or the webhook controller.
	Controller controller.Controller
	// Web serves the pages: admin, dashboard, audit, the Agent Desk.
	Web *web.Web
	// Downtime is what Open (or, for a replica, its last takeover)
	// restored the clocks across: from the last instant the previous run
	// (leader) was known alive to the restore. The engine counted nothing
	// in it.
	Downtime Downtime

	rep *replica // on PostgreSQL: this replica's part in the election
}

// Downtime is an interval the clocks did not count.
type Downtime struct{ From, To time.Time }

// Open prepares a coordinator: opens the store, restores every clock and
// makes sure an admin can get in.
func Open(ctx context.Context, cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the data directory: %w", err)
	}
	st, err := OpenStore(ctx, cfg.DatabaseURL, cfg.DataDir)
	if err != nil {
		return nil, err
	}
	s, err := open(ctx, cfg, st)
	if err != nil {
		st.Close()
		return nil, err
	}
	return s, nil
}

// OpenStore opens the PostgreSQL database at databaseURL, or without one
// the SQLite file vigil.db in dataDir.
func OpenStore(ctx context.Context, databaseURL, dataDir string) (*store.Store, error) {
	if databaseURL != "" {
		return store.OpenPostgres(ctx, databaseURL)
	}
	return store.Open(ctx, filepath.Join(dataDir, "vigil.db"))
}

func open(ctx context.Context, cfg Config, st *store.Store) (*Server, error) {
	settings, err := st.Settings(ctx)
	if err != nil {
		return nil, err
	}
	eng := engine.New(policy.EngineSettings(settings), cfg.Grace)
	rec := &recorder{st: st}
	c := core.New(eng, rec, cfg.Now, cfg.Log)
	pol := policy.New(st, c, settings, cfg.Heartbeat)
	trusted, _ := clientip.ParseTrusted(cfg.TrustedProxies) // Validate checked it
	clients := clientip.Resolver{Trusted: trusted}
	authFailures := ratelimit.NewKeyed(api.DefaultAuthFailureLimit, 0)
	h := hub.New(hub.Config{MaxSessions: cfg.MaxSessionsPerConnection, Clients: clients, AuthFailures: authFailures},
		c, directory{st: st, now: cfg.Now}, pol.Wire, cfg.Log)
	ctl, m, err := openController(ctx, cfg, st, c, metrics.Sources{ConnectedAgents: h.Connected, UserStates: userStates(c)})
	if err != nil {
		return nil, err
	}
	rec.ctl = ctl // before Restore: decisions it fires need their events
	c.OnDecisions(h.Decisions)
	pol.OnChange(h.PushPolicy)
	c.OnDecisions(m.Decisions)
	c.OnDecisions(ctl.Decisions)

	if err := bootstrap(ctx, cfg, st); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, Store: st, Core: c, Hub: h, Policy: pol, Metrics: m, Controller: ctl}
	if st.PostgreSQL() {
		// A replica: it leads, restoring the clocks, only if the lease is
		// free; otherwise it starts as a standby (Serve keeps trying).
		s.rep = newReplica(s, cfg.advertised())
		h.SetLeadership(s.rep.state)
		rec.lease, rec.fenced = s.rep.current, s.rep.lostLease
		if _, err := s.rep.tryLead(ctx); err != nil {
			return nil, fmt.Errorf("taking part in the leader election: %w", err)
		}
	} else {
		down, err := restoreClocks(ctx, cfg, st, c, eng)
		if err != nil {
			return nil, err
		}
		s.Downtime = down
	}
	mux := http.NewServeMux()
	adm := &admin.Admin{Store: st, Core: c, Hub: h}
	a := &api.API{Admin: adm, Store: st, Core: c, Hub: h, Policy: pol, Log: cfg.Log, RequireApproval: cfg.RequireApproval,
		Clients: clients, AuthFailures: authFailures, Desk: deskOf(ctl), Webhook: webhookOf(ctl)}
	a.Register(mux)
	w, err := web.New(web.Config{Store: st, Core: c, Hub: h, Policy: pol, Admin: adm, Desk: deskOf(ctl), Log: cfg.Log, Secure: cfg.TLSCert != "", Clients: clients})
	if err != nil {
		return nil, err
	}
	c.OnDecisions(w.Decisions)
	pol.OnChange(w.PolicyChanged)
	w.Register(mux)
	mux.Handle("GET /agent/v1/ws", h)
	mux.Handle("GET /metrics", m.Handler())
	mux.HandleFunc("GET /readyz", s.readyz)
	s.Web, s.mux = w, mux
	return s, nil
}

// restoreClocks loads every user's clock from the store into eng, a new
// engine the core then runs, as a starting process does: the time since the
// last alive mark is not counted (DESIGN §1, "Restart"). A replica taking
// over goes through it too, so a takeover is a restart.
func restoreClocks(ctx context.Context, cfg Config, st *store.Store, c *core.Core, eng *engine.Engine) (Downtime, error) {
	snaps, err := st.Snapshots(ctx)
	if err != nil {
		return Downtime{}, err
	}
	alive, err := st.AliveUntil(ctx)
	if err != nil {
		return Downtime{}, err
	}
	var restoredAt time.Time
	c.Restart(eng, func(e *engine.Engine, now time.Time) []engine.Decision {
		restoredAt = now
		return e.Restore(now, alive, snaps)
	})
	cfg.Log.Info("restored clocks", "users", len(snaps), "alive_until", alive, "restored_at", restoredAt)
	return Downtime{From: alive, To: restoredAt}, nil
}

// advertised is the URL agents are told to reach this replica at.
func (c *Config) advertised() string {
	if c.AdvertiseURL != "" {
		return c.AdvertiseURL
	}
	if c.TLSCert != "" {
		return "wss://" + c.Listen
	}
	return "ws://" + c.Listen
}

// userStates counts users by state, for the metrics.
func userStates(c *core.Core) func() map[string]int {
	return func() map[string]int {
		counts := map[string]int{}
		c.View(func(e *engine.Engine) { e.States(func(s engine.State) { counts[s.Status.String()]++ }) })
		return counts
	}
}

// Close closes an opened coordinator that is not serving: it releases the
// leader's lease if it holds one (so another replica, or the next start,
// takes over at once), closes the hub and the store.
func (s *Server) Close() error {
	if s.rep != nil {
		if l, leads := s.rep.current(); leads {
			s.rep.set(false, store.Lease{}, "")
			if err := s.Store.ReleaseLease(context.Background(), l); err != nil {
				s.cfg.Log.Warn("releasing the leader's lease", "err", err)
			}
		}
	}
	s.Hub.Close()
	return s.Store.Close()
}

// Handler serves the API and the agents' endpoint (on a standby replica,
// without the paths that need the engine).
func (s *Server) Handler() http.Handler {
	if s.rep != nil {
		return s.gate(s.mux)
	}
	return s.mux
}

// Run serves until ctx ends, then stops the agents, persists every clock and
// closes the store.
func (s *Server) Run(ctx context.Context) error {
	defer s.Store.Close()
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", s.cfg.Listen, err)
	}
	return s.Serve(ctx, ln)
}

// Serve is Run on a listener the caller opened.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(s.cfg.Log.Handler(), slog.LevelWarn)}
	coreCtx, stopCore := context.WithCancel(context.WithoutCancel(ctx))
	coreDone := make(chan error, 1)
	ctlCtx, stopCtl := context.WithCancel(context.WithoutCancel(ctx))
	ctlDone := make(chan error, 1)
	if s.rep != nil {
		// The replica runs the core and the controller while it leads,
		// and releases the lease after the last save.
		go func() { coreDone <- s.rep.run(coreCtx) }()
		ctlDone <- nil
	} else {
		go func() { coreDone <- s.Core.Run(coreCtx) }()
		go func() { ctlDone <- s.Controller.Run(ctlCtx) }()
	}

	served := make(chan error, 1)
	go func() {
		if s.cfg.TLSCert != "" {
			srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
			served <- srv.ServeTLS(ln, s.cfg.TLSCert, s.cfg.TLSKey)
		} else {
			served <- srv.Serve(ln)
		}
	}()
	s.cfg.Log.Info("coordinator listening", "addr", ln.Addr().String(), "tls", s.cfg.TLSCert != "")

	var err error
	select {
	case <-ctx.Done():
	case err = <-served:
		err = fmt.Errorf("serving HTTP: %w", err)
	}
	stopping := time.Now()
	s.Hub.Close()
	s.Web.Close() // ends the pages' event streams, which Shutdown would wait for
	agents := time.Since(stopping)
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdown)
	requests := time.Since(stopping)
	stopCtl()
	if cerr := <-ctlDone; cerr != nil && err == nil {
		err = cerr
	}
	stopCore()
	if cerr := <-coreDone; cerr != nil && err == nil {
		err = cerr
	}
	s.cfg.Log.Info("coordinator stopped", "agents_and_streams_closed_after", agents,
		"requests_done_after", requests, "clocks_saved_after", time.Since(stopping))
	return err
}

func createToken(ctx context.Context, st *store.Store, t store.APIToken) error {
	return st.Tx(ctx, func(tx *store.Tx) error {
		if err := tx.CreateAPIToken(ctx, t); err != nil {
			return err
		}
		_, err := tx.Audit(ctx, system(t.CreatedAt, "token.created", map[string]string{"name": t.Name, "role": string(t.Role)}))
		return err
	})
}

// bootstrap makes sure an admin can get in: the configured admin token is
// accepted, and on first start (no admin token at all) one is made, with a
// first enrollment token, and written 0600 to the data directory. Without
// an admin account for the web pages, one is made too (bootstrapAccount).
func bootstrap(ctx context.Context, cfg Config, st *store.Store) error {
	if err := bootstrapAccount(ctx, cfg, st); err != nil {
		return err
	}
	now := cfg.Now()
	if cfg.AdminToken != "" {
		hash := secret.Hash(cfg.AdminToken)
		_, err := st.APITokenByHash(ctx, hash)
		switch {
		case errors.Is(err, store.ErrAPITokenRevoked):
			return setting.Errorf("the configured {AdminToken} was revoked through the API: configure a new one")
		case errors.Is(err, store.ErrNotFound):
			// Named by its hash, so a replaced token never collides with the
			// one it replaces (revoke that one through the API).
			name := fmt.Sprintf("admin (configured %x)", hash[:4])
			t := store.APIToken{ID: store.NewID(), Name: name, Role: store.RoleAdmin, Hash: hash, CreatedAt: now}
			if err := createToken(ctx, st, t); err != nil {
				return fmt.Errorf("storing the configured admin token: %w", err)
			}
		case err != nil:
			return err
		}
		return nil
	}
	tokens, err := st.APITokens(ctx)
	if err != nil {
		return err
	}
	for _, t := range tokens {
		if t.Role == store.RoleAdmin && t.RevokedAt.IsZero() {
			return nil
		}
	}
	admin, hash := secret.New(secret.PrefixAPI)
	t := store.APIToken{ID: store.NewID(), Name: "admin", Role: store.RoleAdmin, Hash: hash, CreatedAt: now}
	if err := createToken(ctx, st, t); err != nil {
		return fmt.Errorf("creating the first admin token: %w", err)
	}
	enroll, ehash := secret.New(secret.PrefixEnrollment)
	// Short-lived, and its devices wait for an admin's approval: whoever
	// reads the file must not be able to speak for every user.
	e := store.Enrollment{ID: store.NewID(), Hash: ehash, Note: "first enrollment token", CreatedBy: "system",
		CreatedAt: now, ExpiresAt: now.Add(FirstEnrollmentTTL), MaxUses: 1000}
	err = st.Tx(ctx, func(tx *store.Tx) error {
		if err := tx.CreateEnrollment(ctx, e); err != nil {
			return err
		}
		_, err := tx.Audit(ctx, system(now, "enrollment.created", map[string]string{"id": e.ID}))
		return err
	})
	if err != nil {
		return fmt.Errorf("creating the first enrollment token: %w", err)
	}
	for name, v := range map[string]string{"admin.token": admin, "enrollment.token": enroll} {
		path := filepath.Join(cfg.DataDir, name)
		if err := os.WriteFile(path, []byte(v+"\n"), 0o600); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
	}
	cfg.Log.Info("first start: made an admin token and an enrollment token",
		"admin_token_file", filepath.Join(cfg.DataDir, "admin.token"),
		"enrollment_token_file", filepath.Join(cfg.DataDir, "enrollment.token"))
	return nil
}
