// Package api is the coordinator's HTTP API (docs/api.md): settings, live
// users, identity mappings, devices and enrollment, the audit log, and the
// endpoints a contact-center platform calls (desk login/logout, call state).
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/vigil-cc/vigil/coordinator/admin"
	"github.com/vigil-cc/vigil/coordinator/clientip"
	"github.com/vigil-cc/vigil/coordinator/controller/builtin"
	"github.com/vigil-cc/vigil/coordinator/controller/webhook"
	"github.com/vigil-cc/vigil/coordinator/core"
	"github.com/vigil-cc/vigil/coordinator/fault"
	"github.com/vigil-cc/vigil/coordinator/hub"
	"github.com/vigil-cc/vigil/coordinator/policy"
	"github.com/vigil-cc/vigil/coordinator/ratelimit"
	"github.com/vigil-cc/vigil/coordinator/secret"
	"github.com/vigil-cc/vigil/coordinator/store"
)

// maxBody bounds every request body.
const maxBody = 64 << 10

// API serves /api/v1.
type API struct {
	// Admin makes the changes the API shares with the web pages.
	Admin  *admin.Admin
	Store  *store.Store
	Core   *core.Core
	Hub    *hub.Hub
	Policy *policy.Policy
	Log    *slog.Logger
	// RequireApproval: newly enrolled devices wait for an admin, whatever
	// their enrollment token says.
	RequireApproval bool
	// Clients finds a request's client; AuthFailures counts its failed
	// token checks (nil: a private one with DefaultAuthFailureLimit).
	Clients      clientip.Resolver
	AuthFailures *ratelimit.Keyed
	// Desk is the built-in controller (nil when the webhook one is in use);
	// Webhook delivers the outbox (nil with the built-in controller).
	Desk    *builtin.Controller
	Webhook *webhook.Deliverer

	initOnce sync.Once
}

// Error is an error with the HTTP status it maps to; handlers return it and
// one place writes it.
type Error struct {
	Status     int
	Msg        string
	RetryAfter time.Duration // sent as Retry-After when set
}

func (e *Error) Error() string { return e.Msg }

func errorf(status int, format string, args ...any) error {
	return &Error{Status: status, Msg: fmt.Sprintf(format, args...)}
}

// handler is an API handler: it returns the value to send as JSON, or an error.
type handler func(r *http.Request, actor actor) (any, error)

// actor is who makes a request.
type actor struct {
	role store.Role
	name string // for the audit: "admin:<token name>"
}

// Who may call a route.
var (
	admins   = []store.Role{store.RoleAdmin}
	staff    = []store.Role{store.RoleAdmin, store.RoleSupervisor}
	platform = []store.Role{store.RoleAdmin, store.RoleIntegration}
	anyRole  = []store.Role{store.RoleAdmin, store.RoleSupervisor, store.RoleIntegration}
)

// Register adds every route to mux. Everything under /api/v1/ answers
// JSON, even a path or a method it has no route for (see routerErrors).
func (a *API) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	a.registerDebug(mux)
	v1 := http.NewServeMux()
	mux.Handle("/api/v1/", routerErrors(v1))
	a.route(v1, "GET /api/v1/settings", staff, a.getSettings)
	a.route(v1, "PUT /api/v1/settings", admins, a.putSettings)
	a.route(v1, "GET /api/v1/users", staff, a.listUsers)
	a.route(v1, "GET /api/v1/users/{user}", staff, a.getUser)
	a.route(v1, "PUT /api/v1/users/{user}/call", platform, a.putCall)
	a.route(v1, "POST /api/v1/desk/login", platform, a.deskLogin)
	a.route(v1, "POST /api/v1/desk/logout", platform, a.deskLogout)
	a.route(v1, "GET /api/v1/mappings", staff, a.listMappings)
	a.route(v1, "PUT /api/v1/mappings/{os_user}", admins, a.putMapping)
	a.route(v1, "DELETE /api/v1/mappings/{os_user}", admins, a.deleteMapping)
	a.route(v1, "GET /api/v1/unmapped", staff, a.listUnmapped)
	a.route(v1, "GET /api/v1/devices", staff, a.listDevices)
	a.route(v1, "POST /api/v1/devices/{id}/approve", admins, a.approveDevice)
	a.route(v1, "POST /api/v1/devices/{id}/revoke", admins, a.revokeDevice)
	a.route(v1, "GET /api/v1/enrollment-tokens", admins, a.listEnrollments)
	a.route(v1, "POST /api/v1/enrollment-tokens", admins, a.createEnrollment)
	a.route(v1, "DELETE /api/v1/enrollment-tokens/{id}", admins, a.revokeEnrollment)
	a.route(v1, "POST /api/v1/enrollment-tokens/{id}/approve-devices", admins, a.setEnrollmentDevices(store.DeviceApproved))
	a.route(v1, "POST /api/v1/enrollment-tokens/{id}/revoke-devices", admins, a.setEnrollmentDevices(store.DeviceRevoked))
	a.route(v1, "GET /api/v1/tokens", admins, a.listTokens)
	a.route(v1, "POST /api/v1/tokens", admins, a.createToken)
	a.route(v1, "DELETE /api/v1/tokens/{id}", admins, a.revokeToken)
	a.route(v1, "GET /api/v1/audit", staff, a.listAudit)
	a.registerControllers(v1)
	a.registerAccounts(v1)
	// The enrollment token in the body is the credential here.
	v1.HandleFunc("POST /api/v1/enroll", func(w http.ResponseWriter, r *http.Request) {
		a.serve(w, r, actor{}, a.enroll)
	})
}

// routerErrors serves v1, answering what it has no route for in the API's
// JSON instead of the router's plain text: an unknown path 404, a known
// path with another method 405 with an Allow header.
func routerErrors(v1 *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := v1.Handler(r); pattern != "" {
			v1.ServeHTTP(w, r)
			return
		}
		// The router's own answer, kept for its status and Allow header.
		var router statusRecorder
		v1.ServeHTTP(&router, r)
		switch router.status {
		case http.StatusNotFound:
			writeJSON(w, http.StatusNotFound, map[string]string{"error": fmt.Sprintf("no such endpoint: %s %s (see docs/api.md)", r.Method, r.URL.Path)})
		case http.StatusMethodNotAllowed:
			allow := router.Header().Get("Allow")
			w.Header().Set("Allow", allow)
			writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": fmt.Sprintf("%s %s is not allowed; allowed: %s", r.Method, r.URL.Path, allow)})
		default: // not seen: the router answers nothing else without a route
			maps.Copy(w.Header(), router.Header())
			w.WriteHeader(router.status)
		}
	})
}

// statusRecorder keeps the status and headers written to it, not the body.
type statusRecorder struct {
	header http.Header
	status int
}

func (s *statusRecorder) Header() http.Header {
	if s.header == nil {
		s.header = http.Header{}
	}
	return s.header
}

func (s *statusRecorder) WriteHeader(status int) {
	if s.status == 0 {
		s.status = status
	}
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	s.WriteHeader(http.StatusOK)
	return len(b), nil
}

// route wraps h with bearer-token authentication and a role check.
func (a *API) route(mux *http.ServeMux, pattern string, roles []store.Role, h handler) {
	mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		who, err := a.authenticate(r, roles)
		if err != nil {
			a.writeError(w, err)
			return
		}
		a.serve(w, r, who, h)
	})
}

func (a *API) serve(w http.ResponseWriter, r *http.Request, who actor, h handler) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	v, err := h(r, who)
	if err != nil {
		a.writeError(w, err)
		return
	}
	status := http.StatusOK
	if v == nil {
		status, v = http.StatusOK, map[string]bool{"ok": true}
	}
	if c, ok := v.(created); ok {
		status, v = http.StatusCreated, c.v
	}
	writeJSON(w, status, v)
}

// created marks a value answered with 201.
type created struct{ v any }

// DefaultAuthFailureLimit bounds failed token checks per client address
// (an IPv6 client by its /64): 10 at once, then one every 6 s. A client
// over it is answered 429 before its token is looked at, so guessing tokens
// goes no faster than that from one address.
var DefaultAuthFailureLimit = ratelimit.Limit{Every: 6 * time.Second, Burst: 10}

// authFailures is the limiter of failed token checks.
func (a *API) authFailures() *ratelimit.Keyed {
	a.initOnce.Do(func() {
		if a.AuthFailures == nil {
			a.AuthFailures = ratelimit.NewKeyed(DefaultAuthFailureLimit, 0)
		}
	})
	return a.AuthFailures
}

// checkFailures refuses a client that failed too many token checks of late.
func (a *API) checkFailures(r *http.Request) error {
	if wait := a.authFailures().Wait(a.Core.Now(), a.Clients.Key(r)); wait > 0 {
		return &Error{Status: http.StatusTooManyRequests, RetryAfter: wait,
			Msg: fmt.Sprintf("too many failed authentications from your address: try again in %.0f s", math.Ceil(wait.Seconds()))}
	}
	return nil
}

// failed counts a failed token check against r's client.
func (a *API) failed(r *http.Request) {
	key := a.Clients.Key(r)
	a.authFailures().Allow(a.Core.Now(), key)
	a.Log.Warn("failed API authentication", "client", key, "path", r.URL.Path)
}

func (a *API) authenticate(r *http.Request, roles []store.Role) (actor, error) {
	token, ok := secret.Bearer(r)
	if !ok {
		return actor{}, errorf(http.StatusUnauthorized, "missing bearer token: send Authorization: Bearer <token>")
	}
	if err := a.checkFailures(r); err != nil {
		return actor{}, err
	}
	t, err := a.Store.APITokenByHash(r.Context(), secret.Hash(token))
	if errors.Is(err, store.ErrNotFound) {
		a.failed(r)
		return actor{}, errorf(http.StatusUnauthorized, "invalid or revoked token")
	}
	if err != nil {
		return actor{}, fmt.Errorf("looking up a token: %w", err)
	}
	for _, role := range roles {
		if t.Role == role {
			return actor{role: t.Role, name: string(t.Role) + ":" + t.Name}, nil
		}
	}
	return actor{}, errorf(http.StatusForbidden, "the %s role may not %s %s", t.Role, r.Method, r.URL.Path)
}

// writeError is the one place errors become HTTP statuses.
func (a *API) writeError(w http.ResponseWriter, err error) {
	var ae *Error
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &ae):
		if ae.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(ae.RetryAfter.Seconds()))))
		}
		writeJSON(w, ae.Status, map[string]string{"error": ae.Msg})
	case errors.As(err, &tooBig):
		writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": fmt.Sprintf("request body over %d bytes", tooBig.Limit)})
	case errors.Is(err, fault.ErrInvalid):
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
	case errors.Is(err, fault.ErrConflict):
		writeJSON(w, http.StatusConflict, map[string]string{"error": err.Error()})
	case errors.Is(err, store.ErrNotFound):
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "not found"})
	case errors.Is(err, context.Canceled):
		// The client went away; nobody to answer.
	default:
		a.Log.Error("API request failed", "err", err)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal error; see the coordinator's log"})
	}
}

// views answers a list: each of items as view shows it, or err.
func views[T, V any](items []T, err error, view func(T) V) ([]V, error) {
	if err != nil {
		return nil, err
	}
	out := make([]V, 0, len(items))
	for _, x := range items {
		out = append(out, view(x))
	}
	return out, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// decodeStrict reads one JSON object into v, refusing unknown fields and
// trailing data.
func decodeStrict(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return err
		}
		return errorf(http.StatusBadRequest, "invalid JSON body: %v", err)
	}
	if dec.More() {
		return errorf(http.StatusBadRequest, "invalid JSON body: data after the object")
	}
	return nil
}
