package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/vigil-cc/vigil/coordinator/account"
	"github.com/vigil-cc/vigil/coordinator/ratelimit"
	"github.com/vigil-cc/vigil/coordinator/store"
	"github.com/vigil-cc/vigil/internal/username"
)

// Cookies. The admin pages and the Agent Desk have separate sessions, so an
// agent's desk and a supervisor's dashboard can share a browser.
const (
	adminCookie = "vigil_session" // Path=/
	deskCookie  = "vigil_desk"    // Path=/desk/
	// loginCookie carries the token the sign-in forms echo back before
	// there is a session (double submit), so nobody can sign a browser in
	// to their own account behind its user's back.
	loginCookie = "vigil_login"
)

// session is a signed-in browser.
type session struct {
	idHash  []byte
	account store.Account
	csrf    string
	created time.Time
}

// actor names the session's account in the audit.
func (s *session) actor() string { return "account:" + s.account.Name }

// Name and Role are the account's, for the templates.
func (s *session) Name() string { return s.account.Name }
func (s *session) Role() string { return string(s.account.Role) }

// randomToken is 256 random bits, URL-safe.
func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand, Go ≥ 1.24)
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashID(id string) []byte {
	h := sha256.Sum256([]byte(id))
	return h[:]
}

// secure reports whether cookies for r must be Secure.
func (w *Web) secure(r *http.Request) bool { return w.cfg.Secure || r.TLS != nil }

func (w *Web) setCookie(rw http.ResponseWriter, r *http.Request, name, value, path string, maxAge int) {
	http.SetCookie(rw, &http.Cookie{Name: name, Value: value, Path: path, MaxAge: maxAge,
		HttpOnly: true, Secure: w.secure(r), SameSite: http.SameSiteLaxMode})
}

// sessionFrom returns the live session in cookie name, or nil.
func (w *Web) sessionFrom(r *http.Request, name string) (*session, error) {
	c, err := r.Cookie(name)
	if err != nil || c.Value == "" {
		return nil, nil
	}
	h := hashID(c.Value)
	ws, acct, err := w.cfg.Store.WebSession(r.Context(), h, w.cfg.Core.Now())
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &session{idHash: h, account: acct, csrf: ws.CSRF, created: ws.CreatedAt}, nil
}

// startSession signs acct in: a new session (never one a visitor brought
// along) in cookie name.
func (w *Web) startSession(rw http.ResponseWriter, r *http.Request, acct store.Account, name, path string) error {
	id := randomToken()
	now := w.cfg.Core.Now()
	if _, err := w.cfg.Store.PruneWebSessions(r.Context(), now); err != nil {
		w.cfg.Log.Warn("pruning expired web sessions", "err", err)
	}
	ws := store.WebSession{IDHash: hashID(id), Account: acct.Name, CSRF: randomToken(), CreatedAt: now, ExpiresAt: now.Add(w.cfg.SessionTTL)}
	if err := w.cfg.Store.CreateWebSession(r.Context(), ws); err != nil {
		return err
	}
	w.setCookie(rw, r, name, id, path, int(w.cfg.SessionTTL/time.Second))
	w.setCookie(rw, r, loginCookie, "", "/", -1)
	return nil
}

// endSession signs s out and clears cookie name.
func (w *Web) endSession(rw http.ResponseWriter, r *http.Request, s *session, name, path string) {
	if s != nil {
		if err := w.cfg.Store.DeleteWebSession(context.WithoutCancel(r.Context()), s.idHash); err != nil && !errors.Is(err, store.ErrNotFound) {
			w.cfg.Log.Warn("ending a web session", "err", err)
		}
	}
	w.setCookie(rw, r, name, "", path, -1)
}

// csrfOK reports whether r carries want as its CSRF token: the form's csrf
// field, or the X-CSRF-Token header (the desk's fetches).
func csrfOK(r *http.Request, want string) bool {
	got := r.Header.Get("X-CSRF-Token")
	if got == "" {
		got = r.PostFormValue("csrf")
	}
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

const csrfRefused = "This form is out of date or did not come from this site (its security token is missing or wrong). Reload the page and try again."

// sessionAndForm reads the session in cookie (nil if none) and, for a
// POST, the form. If either fails it has answered (500, or badForm) and
// returns false.
func (w *Web) sessionAndForm(rw http.ResponseWriter, r *http.Request, cookie string, badForm func()) (*session, bool) {
	s, err := w.sessionFrom(r, cookie)
	if err != nil {
		w.internal(rw, r, err)
		return nil, false
	}
	if r.Method == http.MethodPost {
		if err := parseForm(rw, r); err != nil {
			badForm()
			return nil, false
		}
	}
	return s, true
}

// sessionHandler serves a page or endpoint to a signed-in session.
type sessionHandler = func(http.ResponseWriter, *http.Request, *session)

// staff wraps an admin page: it needs a session of one of roles; a POST
// also needs the session's CSRF token. Without a session a GET goes to the
// sign-in page and a POST is refused.
func (w *Web) staff(roles []store.Role, h sessionHandler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		s, ok := w.sessionAndForm(rw, r, adminCookie, func() {
			w.fail(rw, r, http.StatusBadRequest, "The form could not be read.")
		})
		if !ok {
			return
		}
		if r.Method == http.MethodPost {
			if s == nil {
				w.fail(rw, r, http.StatusForbidden, "Sign in first: your session has ended.")
				return
			}
			if !csrfOK(r, s.csrf) {
				w.fail(rw, r, http.StatusForbidden, csrfRefused)
				return
			}
		}
		if s == nil {
			if strings.HasSuffix(r.URL.Path, "/events") {
				http.Error(rw, "sign in first", http.StatusUnauthorized)
				return
			}
			http.Redirect(rw, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		for _, role := range roles {
			if s.account.Role == role {
				h(rw, r, s)
				return
			}
		}
		msg := "Only admins may change this; your account (" + string(s.account.Role) + ") may look, not change."
		if s.account.Role == store.RoleAgent {
			msg = "Agent accounts use the Agent Desk at /desk/, not the admin pages."
		}
		w.fail(rw, r, http.StatusForbidden, msg)
	})
}

// loginForm is the sign-in page's data.
type loginForm struct {
	Name, Next, Error, Notice string
	Action                    string
}

// loginToken returns the pre-session CSRF token, setting its cookie if the
// browser has none.
func (w *Web) loginToken(rw http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(loginCookie); err == nil && len(c.Value) >= 32 {
		return c.Value
	}
	t := randomToken()
	w.setCookie(rw, r, loginCookie, t, "/", 3600)
	return t
}

func (w *Web) loginPage(rw http.ResponseWriter, r *http.Request) {
	f := loginForm{Next: localNext(r.URL.Query().Get("next")), Action: "/login"}
	if r.URL.Query().Get("bye") != "" {
		f.Notice = "You are signed out."
	}
	w.render(rw, r, http.StatusOK, "login", page{Title: "Sign in", CSRF: w.loginToken(rw, r), Data: f})
}

// localNext keeps only a path on this site under /admin/, so the sign-in
// page cannot be made to send anyone elsewhere.
func localNext(next string) string {
	if strings.HasPrefix(next, "/admin/") && !strings.HasPrefix(next, "//") && !strings.ContainsAny(next, "\\\r\n") {
		return next
	}
	return "/admin/dashboard"
}

// checkLogin runs the checks both sign-in forms share: the pre-session
// token, the rate limits and the password. It returns the account, or the
// status and message to show.
func (w *Web) checkLogin(rw http.ResponseWriter, r *http.Request) (store.Account, int, string) {
	if err := parseForm(rw, r); err != nil {
		return store.Account{}, http.StatusBadRequest, "The form could not be read."
	}
	c, err := r.Cookie(loginCookie)
	if err != nil || !csrfOK(r, c.Value) {
		return store.Account{}, http.StatusForbidden, csrfRefused
	}
	name := username.Fold(r.PostFormValue("name"))
	now := w.cfg.Core.Now()
	if wait := w.limits.check(now, w.clientIP(r), name); wait > 0 {
		return store.Account{}, http.StatusTooManyRequests,
			fmt.Sprintf("Too many attempts, try again in %d s.", int(math.Ceil(wait.Seconds())))
	}
	var acct *store.Account
	if a, err := w.cfg.Store.Account(r.Context(), name); err == nil {
		acct = &a
	} else if !errors.Is(err, store.ErrNotFound) {
		w.cfg.Log.Error("looking up an account", "err", err)
		return store.Account{}, http.StatusInternalServerError, "Something went wrong on the coordinator; its log says what."
	}
	if !account.Verify(acct, r.PostFormValue("password")) {
		w.limits.failed(now, name)
		w.cfg.Log.Warn("failed sign-in", "name", name, "ip", w.clientIP(r))
		return store.Account{}, http.StatusUnauthorized, "Wrong name or password."
	}
	return *acct, 0, ""
}

func (w *Web) login(rw http.ResponseWriter, r *http.Request) {
	acct, status, msg := w.checkLogin(rw, r)
	f := loginForm{Name: r.PostFormValue("name"), Next: localNext(r.PostFormValue("next")), Action: "/login"}
	if status == 0 && acct.Role == store.RoleAgent {
		status, msg = http.StatusForbidden, "Agent accounts sign in at the Agent Desk (/desk/)."
	}
	if status != 0 {
		f.Error = msg
		w.render(rw, r, status, "login", page{Title: "Sign in", CSRF: w.loginToken(rw, r), Data: f})
		return
	}
	if err := w.startSession(rw, r, acct, adminCookie, "/"); err != nil {
		w.internal(rw, r, err)
		return
	}
	w.cfg.Log.Info("signed in", "account", acct.Name, "role", acct.Role, "ip", w.clientIP(r))
	http.Redirect(rw, r, f.Next, http.StatusSeeOther)
}

func (w *Web) logout(rw http.ResponseWriter, r *http.Request) {
	if err := parseForm(rw, r); err != nil {
		w.fail(rw, r, http.StatusBadRequest, "The form could not be read.")
		return
	}
	s, err := w.sessionFrom(r, adminCookie)
	if err != nil {
		w.internal(rw, r, err)
		return
	}
	if s != nil && !csrfOK(r, s.csrf) {
		w.fail(rw, r, http.StatusForbidden, csrfRefused)
		return
	}
	w.endSession(rw, r, s, adminCookie, "/")
	http.Redirect(rw, r, "/login?bye=1", http.StatusSeeOther)
}

// clientIP is the key the client's sign-in attempts count under: its
// address (an IPv6 client by its /64), or behind a trusted reverse proxy the
// address the proxy saw (Config.Clients, docs/deploy.md).
func (w *Web) clientIP(r *http.Request) string { return w.cfg.Clients.Key(r) }

// Limit is a token bucket: Burst attempts at once, then one per Every.
type Limit = ratelimit.Limit

// Default sign-in limits: an account takes 5 wrong passwords, then one
// more every 30 s; a client address takes 20 attempts, then one every 6 s.
var (
	DefaultAccountLimit = Limit{Every: 30 * time.Second, Burst: 5}
	DefaultIPLimit      = Limit{Every: 6 * time.Second, Burst: 20}
)

// loginLimits rate-limits sign-in. Every attempt from an address counts
// against it; only wrong passwords count against an account, so a guesser
// cannot lock its owner out for long by guessing, yet cannot guess faster
// than the account's limit from many addresses. Both are bounded (see
// ratelimit.Keyed: only idle buckets are ever dropped).
type loginLimits struct {
	mu       sync.Mutex
	ip, acct *ratelimit.Keyed
}

func newLoginLimits(acct, ip Limit, maxKeys int) *loginLimits {
	if !acct.Valid() {
		acct = DefaultAccountLimit
	}
	if !ip.Valid() {
		ip = DefaultIPLimit
	}
	return &loginLimits{ip: ratelimit.NewKeyed(ip, maxKeys), acct: ratelimit.NewKeyed(acct, maxKeys)}
}

// check takes an attempt from ip for name, or says how long to wait.
func (l *loginLimits) check(now time.Time, ip, name string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	wait := l.acct.Wait(now, name)
	r := l.ip.Get(now, ip).ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		wait = max(wait, d)
	} else if wait > 0 {
		r.CancelAt(now)
	}
	return wait
}

// failed counts a wrong password against name.
func (l *loginLimits) failed(now time.Time, name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.acct.Allow(now, name)
}

// accountForm is the account pages' data.
type accountForm struct {
	Name, Role, Error string
	Saved             bool
}

// passwordPage is where a signed-in person changes their own password: the
// admin pages' or the Agent Desk's (its own cookie and template).
type passwordPage struct {
	template, cookie, cookiePath, done string
	nav                                string
}

var (
	adminPasswordPage = passwordPage{template: "account", cookie: adminCookie, cookiePath: "/", done: "/admin/account?done=1", nav: "account"}
	deskPasswordPage  = passwordPage{template: "desk_account", cookie: deskCookie, cookiePath: "/desk/", done: "/desk/password?done=1"}
)

func (w *Web) accountPage(rw http.ResponseWriter, r *http.Request, s *session) {
	w.showPasswordPage(rw, r, s, adminPasswordPage)
}

func (w *Web) deskAccountPage(rw http.ResponseWriter, r *http.Request, s *session) {
	w.showPasswordPage(rw, r, s, deskPasswordPage)
}

func (w *Web) showPasswordPage(rw http.ResponseWriter, r *http.Request, s *session, pp passwordPage) {
	f := accountForm{Name: s.account.Name, Role: string(s.account.Role), Saved: r.URL.Query().Get("done") != ""}
	w.render(rw, r, http.StatusOK, pp.template, page{Title: "Your account", Nav: pp.nav, Session: s, Data: f})
}

func (w *Web) changePassword(rw http.ResponseWriter, r *http.Request, s *session) {
	w.changePasswordOn(rw, r, s, adminPasswordPage)
}

func (w *Web) deskChangePassword(rw http.ResponseWriter, r *http.Request, s *session) {
	w.changePasswordOn(rw, r, s, deskPasswordPage)
}

// changePasswordOn changes the signed-in account's own password, given the
// current one (rate-limited like a sign-in). Its other sessions end; this
// one is replaced by a new session.
func (w *Web) changePasswordOn(rw http.ResponseWriter, r *http.Request, s *session, pp passwordPage) {
	f := accountForm{Name: s.account.Name, Role: string(s.account.Role)}
	refuse := func(status int, msg string) {
		f.Error = msg
		w.render(rw, r, status, pp.template, page{Title: "Your account", Nav: pp.nav, Session: s, Data: f})
	}
	now := w.cfg.Core.Now()
	if wait := w.limits.check(now, w.clientIP(r), s.account.Name); wait > 0 {
		refuse(http.StatusTooManyRequests, fmt.Sprintf("Too many attempts, try again in %d s.", int(math.Ceil(wait.Seconds()))))
		return
	}
	if !account.Verify(&s.account, r.PostFormValue("current")) {
		w.limits.failed(now, s.account.Name)
		refuse(http.StatusUnauthorized, "Your current password is not right.")
		return
	}
	pw := r.PostFormValue("password")
	if pw != r.PostFormValue("repeat") {
		refuse(http.StatusBadRequest, "The new password and its repetition differ.")
		return
	}
	err := account.SetPassword(r.Context(), w.cfg.Store, now, s.actor(), s.account.Name, pw, nil)
	if errors.Is(err, account.ErrInvalid) {
		refuse(http.StatusBadRequest, strings.TrimPrefix(err.Error(), account.ErrInvalid.Error()+": "))
		return
	}
	if err != nil {
		w.internal(rw, r, err)
		return
	}
	// Every session ended, this one too (its id may have been seen by
	// whoever made the change necessary): a fresh one for this browser.
	if err := w.startSession(rw, r, s.account, pp.cookie, pp.cookiePath); err != nil {
		w.internal(rw, r, err)
		return
	}
	http.Redirect(rw, r, pp.done, http.StatusSeeOther)
}

// signedIn reports whether s still holds (not signed out, its account
// neither disabled nor given a new password elsewhere): the pages' event
// streams check it on every refresh, so they end with the session.
func (w *Web) signedIn(ctx context.Context, s *session) bool {
	_, _, err := w.cfg.Store.WebSession(ctx, s.idHash, w.cfg.Core.Now())
	return err == nil
}
