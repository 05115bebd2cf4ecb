// Package web serves the coordinator's pages (docs/web.md): sign-in for
// named accounts, Admin > Agent Desk Settings, people and devices, the live
// dashboard, the audit log, and the reference Agent Desk at /desk/.
//
// Pages are rendered on the server from templates embedded in the binary,
// with a little vanilla JavaScript (no build step) for the live parts,
// which arrive over Server-Sent Events. Every change goes through the same
// code as the JSON API (coordinator/admin, policy.Update),
// so the store, the engine and the agents stay in step and the audit names
// the account.
package web

import (
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/vigil-cc/vigil/coordinator/admin"
	"github.com/vigil-cc/vigil/coordinator/clientip"
	"github.com/vigil-cc/vigil/coordinator/controller/builtin"
	"github.com/vigil-cc/vigil/coordinator/core"
	"github.com/vigil-cc/vigil/coordinator/engine"
	"github.com/vigil-cc/vigil/coordinator/fault"
	"github.com/vigil-cc/vigil/coordinator/hub"
	"github.com/vigil-cc/vigil/coordinator/policy"
	"github.com/vigil-cc/vigil/coordinator/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Config is what the pages need of the coordinator.
type Config struct {
	Store  *store.Store
	Core   *core.Core
	Hub    *hub.Hub
	Policy *policy.Policy
	// Admin makes the changes the pages share with the JSON API (mappings,
	// devices, enrollment tokens, desk login and logout).
	Admin *admin.Admin
	// Desk is the built-in controller; nil when a platform routes
	// conversations (the webhook controller): the desk then shows none.
	Desk *builtin.Controller
	Log  *slog.Logger
	// Secure: the coordinator serves TLS, so cookies are Secure.
	Secure bool
	// SessionTTL is how long a sign-in lasts (default 12 h: a shift).
	SessionTTL time.Duration
	// Login rate limits, per account and per client IP (defaults when zero).
	AccountLimit, IPLimit Limit
	// LimitKeys bounds each limit's buckets (default 10,000; only idle
	// ones are ever dropped).
	LimitKeys int
	// Clients finds a request's client address (trusted reverse proxies).
	Clients clientip.Resolver
	// Refresh is how often the dashboard re-reads inactivity, sensor hosts
	// and conversations, which change without an engine decision (default 2 s).
	Refresh time.Duration
	// DeskPoll is how often a desk re-reads its conversations (default 1 s);
	// see desk.go.
	DeskPoll time.Duration
}

// Web serves the pages.
type Web struct {
	cfg     Config
	pages   map[string]*template.Template
	events  *broker
	limits  *loginLimits
	started time.Time
}

// New parses the templates; register w.Decisions with the core and
// w.PolicyChanged with the policy, then call Register.
func New(cfg Config) (*Web, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	if cfg.Refresh <= 0 {
		cfg.Refresh = 2 * time.Second
	}
	if cfg.DeskPoll <= 0 {
		cfg.DeskPoll = time.Second
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	return &Web{cfg: cfg, pages: pages, events: newBroker(subscriberQueue),
		limits: newLoginLimits(cfg.AccountLimit, cfg.IPLimit, cfg.LimitKeys), started: cfg.Core.Now()}, nil
}

// Decisions is a core.Handler: it hands the engine's decisions to the open
// dashboards and desks without blocking (see broker).
func (w *Web) Decisions(ds []engine.Decision) { w.events.decisions(ds) }

// PolicyChanged tells the open desks the policy in force changed.
func (w *Web) PolicyChanged() {
	s := w.cfg.Policy.Settings()
	w.events.publish(event{kind: evPolicy, policy: s})
}

// Close ends every event stream (the coordinator is stopping), so the HTTP
// server's shutdown does not wait for them.
func (w *Web) Close() { w.events.close() }

// Register adds the pages' routes to mux.
func (w *Web) Register(mux *http.ServeMux) {
	admin := []store.Role{store.RoleAdmin}
	staff := []store.Role{store.RoleAdmin, store.RoleSupervisor}

	w.handle(mux, "GET /{$}", http.RedirectHandler("/admin/", http.StatusSeeOther))
	w.handle(mux, "GET /login", http.HandlerFunc(w.loginPage))
	w.handle(mux, "POST /login", http.HandlerFunc(w.login))
	w.handle(mux, "POST /logout", http.HandlerFunc(w.logout))
	w.handle(mux, "GET /admin/{$}", http.RedirectHandler("/admin/dashboard", http.StatusSeeOther))
	// The admin pages by who may use them: staff read, admins change.
	w.staffRoutes(mux, staff, map[string]sessionHandler{
		"GET /admin/dashboard":         w.dashboardPage,
		"GET /admin/dashboard/events":  w.dashboardEvents,
		"GET /admin/settings":          w.settingsPage,
		"GET /admin/people":            w.peoplePage,
		"GET /admin/audit":             w.auditPage,
		"GET /admin/account":           w.accountPage,
		"POST /admin/account/password": w.changePassword,
	})
	w.staffRoutes(mux, admin, map[string]sessionHandler{
		"POST /admin/settings":                                w.saveSettings,
		"POST /admin/people/mappings":                         w.addMapping,
		"POST /admin/people/mappings/delete":                  w.deleteMapping,
		"POST /admin/people/devices/{id}/approve":             w.approveDevice,
		"POST /admin/people/devices/{id}/revoke":              w.revokeDevice,
		"POST /admin/people/enrollments":                      w.createEnrollment,
		"POST /admin/people/enrollments/{id}/revoke":          w.revokeEnrollment,
		"POST /admin/people/enrollments/{id}/approve-devices": w.enrollmentDevices(store.DeviceApproved, "token-approved"),
		"POST /admin/people/enrollments/{id}/revoke-devices":  w.enrollmentDevices(store.DeviceRevoked, "token-devices-revoked"),
		"POST /admin/people/accounts":                         w.createAccount,
		"POST /admin/people/accounts/{name}/disable":          w.setAccountDisabled(true),
		"POST /admin/people/accounts/{name}/enable":           w.setAccountDisabled(false),
		"POST /admin/people/accounts/{name}/password":         w.resetPassword,
	})
	w.handle(mux, "GET /desk/{$}", http.HandlerFunc(w.deskPage))
	w.handle(mux, "POST /desk/login", http.HandlerFunc(w.deskLogin))
	w.handle(mux, "POST /desk/logout", w.agent(w.deskLogout))
	w.handle(mux, "GET /desk/password", w.agent(w.deskAccountPage))
	w.handle(mux, "POST /desk/password", w.agent(w.deskChangePassword))
	w.handle(mux, "GET /desk/events", w.agent(w.deskEvents))
	w.handle(mux, "POST /desk/report", w.agent(w.deskReport))
	w.handle(mux, "POST /desk/conversations/{id}/{action}", w.agent(w.deskConversation))
	static, _ := fs.Sub(staticFS, "static")
	w.handle(mux, "GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
}

// staffRoutes registers admin pages for roles.
func (w *Web) staffRoutes(mux *http.ServeMux, roles []store.Role, routes map[string]sessionHandler) {
	for pattern, h := range routes {
		w.handle(mux, pattern, w.staff(roles, h))
	}
}

// contentPolicy allows only the coordinator's own scripts, styles and
// connections; inline script is refused, so a slip in escaping cannot run.
const contentPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"

// handle registers h behind the headers every page gets and Go's
// cross-origin protection (state-changing requests a browser marks as
// cross-site are refused before any handler runs; the CSRF token is the
// second line).
func (w *Web) handle(mux *http.ServeMux, pattern string, h http.Handler) {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.fail(rw, r, http.StatusForbidden, "This request came from another site and was refused.")
	}))
	h = cop.Handler(h)
	mux.Handle(pattern, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		hd := rw.Header()
		hd.Set("Content-Security-Policy", contentPolicy)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("X-Frame-Options", "DENY")
		if !strings.HasPrefix(r.URL.Path, "/static/") {
			hd.Set("Cache-Control", "no-store")
		}
		h.ServeHTTP(rw, r)
	}))
}

// maxForm bounds every form body.
const maxForm = 64 << 10

// parseForm reads a POSTed form within maxForm.
func parseForm(rw http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(rw, r.Body, maxForm)
	return r.ParseForm()
}

// page is what every template gets.
type page struct {
	Title   string
	Nav     string // the current section, for aria-current
	Session *session
	CSRF    string
	Data    any
}

// render writes template name with status.
func (w *Web) render(rw http.ResponseWriter, r *http.Request, status int, name string, p page) {
	t, ok := w.pages[name]
	if !ok {
		panic("web: no page " + name)
	}
	if p.Session != nil && p.CSRF == "" {
		p.CSRF = p.Session.csrf
	}
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, "layout", p); err != nil {
		w.cfg.Log.Error("rendering a page", "page", name, "err", err)
		http.Error(rw, "internal error; see the coordinator's log", http.StatusInternalServerError)
		return
	}
	rw.Header().Set("Content-Type", "text/html; charset=utf-8")
	rw.WriteHeader(status)
	_, _ = rw.Write([]byte(b.String()))
}

// fail answers with a short error page.
func (w *Web) fail(rw http.ResponseWriter, r *http.Request, status int, msg string) {
	w.render(rw, r, status, "error", page{Title: http.StatusText(status), Data: msg})
}

// internal answers 500 and logs err.
func (w *Web) internal(rw http.ResponseWriter, r *http.Request, err error) {
	w.cfg.Log.Error("web request failed", "path", r.URL.Path, "err", err)
	w.fail(rw, r, http.StatusInternalServerError, "Something went wrong on the coordinator; its log says what.")
}

// userMessage is err's text if a person can act on it (invalid input or a
// conflict, see coordinator/fault), and "" otherwise.
func userMessage(err error) string {
	if errors.Is(err, fault.ErrInvalid) || errors.Is(err, fault.ErrConflict) {
		return err.Error()
	}
	if errors.Is(err, store.ErrNotFound) {
		return "It no longer exists; reload the page."
	}
	return ""
}

var funcs = template.FuncMap{
	"utc": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"iso": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339Nano)
	},
	"ms": func(t time.Time) int64 {
		if t.IsZero() {
			return 0
		}
		return t.UnixMilli()
	},
	"seconds": func(d time.Duration) string { return fmt.Sprintf("%d s", int(d/time.Second)) },
	// clock is HH:MM:SS UTC; the page's script shows it in local time.
	"clock": func(ms int64) string { return time.UnixMilli(ms).UTC().Format("15:04:05") + " UTC" },
}

// parsePages parses each page with the layout.
func parsePages() (map[string]*template.Template, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.New(base).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("web: parsing %s: %w", n, err)
		}
		pages[base] = t
	}
	return pages, nil
}
