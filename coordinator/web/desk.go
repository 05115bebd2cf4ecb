package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-cc/vigil/coordinator/engine"
	"github.com/vigil-cc/vigil/coordinator/fault"
	"github.com/vigil-cc/vigil/coordinator/store"
)

// The reference Agent Desk (/desk/): agents sign in with their account,
// which logs them in to the Agent Desk (engine.DeskLogin; the built-in
// controller then takes them as available), see the policy in force and
// their conversations, and get the warning and the logged-out screen.
//
// The page reports to the coordinator (POST /desk/report, with the
// session's CSRF token in a header):
//   - keyboard and mouse input in the page, at most once a second, and at
//     once while the warning shows (engine.PageInput: counts as input
//     always, so it dismisses the warning);
//   - Page Visibility changes (engine.PageVisibility: pauses the clock only
//     while no sensor speaks for the user).
//
// It learns over one SSE stream (GET /desk/events): the warning and its
// deadline, its withdrawal, the logout, the policy, and its conversations.
//
// Conversations: the built-in controller has no change notification, so
// each open desk re-reads its user's open conversations every DeskPoll (an
// indexed query of a handful of rows) and sends them when they differ. A
// reroute therefore shows within DeskPoll; a hook in the controller would
// replace the poll without changing the page.

// deskConv is a conversation on the desk.
type deskConv struct {
	ID       string `json:"id"`
	Channel  string `json:"channel"`
	Customer string `json:"customer"`
	State    string `json:"state"` // assigned (waiting to be accepted) or active
}

// deskPolicy is the policy line's data.
type deskPolicy struct {
	Enabled  bool   `json:"enabled"`
	TimeoutS int    `json:"timeout_s"`
	Text     string `json:"text"`
}

func policyOf(s store.Settings) deskPolicy {
	return deskPolicy{Enabled: s.Enabled, TimeoutS: s.TimeoutSeconds, Text: policyText(s)}
}

// policyText states the policy in force to the agent.
func policyText(s store.Settings) string {
	if !s.Enabled {
		return "Automatic logout for inactivity is off."
	}
	t := s.TimeoutSeconds
	var after string
	switch {
	case t == 60:
		after = "1 minute"
	case t%60 == 0:
		after = fmt.Sprintf("%d minutes", t/60)
	default:
		after = fmt.Sprintf("%d seconds", t)
	}
	before := strconv.FormatFloat(float64(t)/5, 'f', -1, 64) // 0.2·T
	return fmt.Sprintf("You are logged out after %s without activity; a warning shows %s seconds before.", after, before)
}

// deskView is the desk page's data.
type deskView struct {
	User          string
	NowMS         int64
	Policy        deskPolicy
	Controller    bool // the built-in controller routes conversations
	Conversations []deskConv
}

// deskLoginView is the desk's sign-in page, and the logged-out screen.
type deskLoginView struct {
	loginForm
	LoggedOutAtMS int64
}

func (w *Web) deskConversations(ctx context.Context, user string) ([]deskConv, error) {
	out := []deskConv{}
	if w.cfg.Desk == nil {
		return out, nil
	}
	cs, err := w.cfg.Store.Conversations(ctx, store.ConversationFilter{User: user, OpenOnly: true, Limit: -1})
	if err != nil {
		return nil, err
	}
	for _, c := range cs {
		if c.State == store.ConversationAssigned || c.State == store.ConversationActive {
			out = append(out, deskConv{ID: c.ID, Channel: c.Channel, Customer: c.Customer, State: string(c.State)})
		}
	}
	return out, nil
}

// lastLogout is when user was last logged out for inactivity.
func (w *Web) lastLogout(ctx context.Context, user string) time.Time {
	es, err := w.cfg.Store.AuditEntries(ctx, store.AuditFilter{User: user, Kind: "user.logged_out", Limit: 1})
	if err != nil || len(es) == 0 {
		return time.Time{}
	}
	return es[0].At
}

func (w *Web) deskSignIn(rw http.ResponseWriter, r *http.Request, status int, v deskLoginView) {
	v.Action = "/desk/login"
	w.render(rw, r, status, "desk_login", page{Title: "Agent Desk — Sign in", CSRF: w.loginToken(rw, r), Data: v})
}

func (w *Web) deskPage(rw http.ResponseWriter, r *http.Request) {
	s, err := w.sessionFrom(r, deskCookie)
	if err != nil {
		w.internal(rw, r, err)
		return
	}
	if s == nil || s.account.Role != store.RoleAgent {
		var v deskLoginView
		if r.URL.Query().Get("bye") != "" {
			v.Notice = "You logged out of the Agent Desk."
		}
		w.deskSignIn(rw, r, http.StatusOK, v)
		return
	}
	user := s.account.Name
	_, states, _ := w.live(user, false)
	out := w.lastLogout(r.Context(), user)
	switch {
	case states[user].Status == engine.StatusLoggedOut || out.After(s.created):
		// The coordinator ended this desk session; say why, and offer to
		// sign in again.
		w.endSession(rw, r, s, deskCookie, "/desk/")
		v := deskLoginView{LoggedOutAtMS: out.UnixMilli()}
		v.Name = user
		w.deskSignIn(rw, r, http.StatusOK, v)
		return
	case states[user].Status == engine.StatusOffline:
		w.endSession(rw, r, s, deskCookie, "/desk/")
		v := deskLoginView{}
		v.Name, v.Notice = user, "Your Agent Desk session ended. Sign in again."
		w.deskSignIn(rw, r, http.StatusOK, v)
		return
	}
	convs, err := w.deskConversations(r.Context(), user)
	if err != nil {
		w.internal(rw, r, err)
		return
	}
	v := deskView{User: user, NowMS: w.cfg.Core.Now().UnixMilli(), Policy: policyOf(w.cfg.Policy.Settings()),
		Controller: w.cfg.Desk != nil, Conversations: convs}
	w.render(rw, r, http.StatusOK, "desk", page{Title: "Agent Desk", Session: s, Data: v})
}

// deskLogin signs an agent in: a desk session, and an Agent Desk login for
// the engine (and so for the built-in controller's routing).
func (w *Web) deskLogin(rw http.ResponseWriter, r *http.Request) {
	acct, status, msg := w.checkLogin(rw, r)
	if status == 0 && acct.Role != store.RoleAgent {
		status, msg = http.StatusForbidden, "Only agent accounts sign in to the Agent Desk; admins and supervisors use /admin/."
	}
	if status != 0 {
		var v deskLoginView
		v.Name, v.Error = r.PostFormValue("name"), msg
		w.deskSignIn(rw, r, status, v)
		return
	}
	if err := w.cfg.Admin.DeskLogin(r.Context(), "account:"+acct.Name, acct.Name); err != nil {
		w.internal(rw, r, err)
		return
	}
	if err := w.startSession(rw, r, acct, deskCookie, "/desk/"); err != nil {
		w.internal(rw, r, err)
		return
	}
	http.Redirect(rw, r, "/desk/", http.StatusSeeOther)
}

// agent wraps a desk endpoint: it needs an agent's desk session, and a
// POST its CSRF token (form field or X-CSRF-Token header).
func (w *Web) agent(h sessionHandler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		s, ok := w.sessionAndForm(rw, r, deskCookie, func() {
			http.Error(rw, "the form could not be read", http.StatusBadRequest)
		})
		if !ok {
			return
		}
		if s == nil || s.account.Role != store.RoleAgent {
			deskError(rw, r, http.StatusUnauthorized, "signed_out", "Your Agent Desk session has ended; sign in again.")
			return
		}
		if r.Method == http.MethodPost && !csrfOK(r, s.csrf) {
			deskError(rw, r, http.StatusForbidden, "csrf", csrfRefused)
			return
		}
		h(rw, r, s)
	})
}

// wantsJSON: the page's scripts ask for JSON; a plain form post (no
// script) gets a redirect back to the desk.
func wantsJSON(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "application/json")
}

func deskError(rw http.ResponseWriter, r *http.Request, status int, code, msg string) {
	if wantsJSON(r) || r.Header.Get("Accept") == "text/event-stream" {
		writeJSON(rw, status, map[string]string{"error": code, "message": msg})
		return
	}
	http.Error(rw, msg, status)
}

func writeJSON(rw http.ResponseWriter, status int, v any) {
	rw.Header().Set("Content-Type", "application/json")
	rw.WriteHeader(status)
	_ = json.NewEncoder(rw).Encode(v)
}

func (w *Web) deskLogout(rw http.ResponseWriter, r *http.Request, s *session) {
	if err := w.cfg.Admin.DeskLogout(r.Context(), s.actor(), s.account.Name); err != nil {
		w.internal(rw, r, err)
		return
	}
	w.endSession(rw, r, s, deskCookie, "/desk/")
	http.Redirect(rw, r, "/desk/?bye=1", http.StatusSeeOther)
}

// deskReport takes the page's reports: {"input": true} or {"visible": b}.
// They apply only while the agent is logged in to the Agent Desk.
func (w *Web) deskReport(rw http.ResponseWriter, r *http.Request, s *session) {
	var b struct {
		Input   bool  `json:"input"`
		Visible *bool `json:"visible"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(rw, r.Body, 1024))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil || b.Input == (b.Visible != nil) {
		writeJSON(rw, http.StatusBadRequest, map[string]string{"error": "bad_report", "message": `send {"input":true} or {"visible":true|false}`})
		return
	}
	user, in := s.account.Name, true
	w.cfg.Core.Do(user, func(e *engine.Engine, now time.Time) []engine.Decision {
		st, ok := e.State(user)
		if !ok || st.Status == engine.StatusOffline || st.Status == engine.StatusLoggedOut {
			in = false
			return nil
		}
		if b.Input {
			return e.PageInput(now, user)
		}
		return e.PageVisibility(now, user, *b.Visible)
	})
	if !in {
		writeJSON(rw, http.StatusConflict, map[string]string{"error": "logged_out", "message": "You are not logged in to the Agent Desk."})
		return
	}
	rw.WriteHeader(http.StatusNoContent)
}

// deskConversation accepts or ends one of the agent's conversations
// through the built-in controller.
func (w *Web) deskConversation(rw http.ResponseWriter, r *http.Request, s *session) {
	if w.cfg.Desk == nil {
		deskError(rw, r, http.StatusConflict, "no_controller", "Conversations are handled by your contact-center platform.")
		return
	}
	id, action := r.PathValue("id"), r.PathValue("action")
	c, err := w.cfg.Store.Conversation(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && c.User != s.account.Name) {
		deskError(rw, r, http.StatusNotFound, "not_found", "That conversation is not yours (any more).")
		return
	}
	if err != nil {
		w.internal(rw, r, err)
		return
	}
	switch action {
	case "accept":
		_, err = w.cfg.Desk.Accept(r.Context(), id, s.actor())
	case "end":
		_, err = w.cfg.Desk.End(r.Context(), id, s.actor())
	default:
		deskError(rw, r, http.StatusNotFound, "not_found", "Conversations can be accepted or ended.")
		return
	}
	switch {
	case errors.Is(err, fault.ErrConflict), errors.Is(err, fault.ErrInvalid):
		deskError(rw, r, http.StatusConflict, "conflict", err.Error())
		return
	case err != nil:
		w.internal(rw, r, err)
		return
	}
	if !wantsJSON(r) {
		http.Redirect(rw, r, "/desk/", http.StatusSeeOther)
		return
	}
	convs, err := w.deskConversations(r.Context(), s.account.Name)
	if err != nil {
		w.internal(rw, r, err)
		return
	}
	writeJSON(rw, http.StatusOK, map[string]any{"conversations": convs})
}

// deskHello is the first event of a desk's stream.
type deskHello struct {
	NowMS         int64      `json:"now_ms"`
	Status        string     `json:"status"`
	Reasons       []string   `json:"reasons,omitempty"`
	DeadlineMS    int64      `json:"deadline_ms,omitempty"`
	Policy        deskPolicy `json:"policy"`
	Conversations []deskConv `json:"conversations"`
}

// deskEvents streams the desk's events (see the top of this file).
func (w *Web) deskEvents(rw http.ResponseWriter, r *http.Request, s *session) {
	user := s.account.Name
	convs, err := w.deskConversations(r.Context(), user)
	if err != nil {
		w.internal(rw, r, err)
		return
	}
	now, states, sub := w.live(user, true)
	if sub == nil {
		http.Error(rw, "the coordinator is stopping", http.StatusServiceUnavailable)
		return
	}
	defer w.events.unsubscribe(sub)
	st := states[user]
	out := startSSE(rw)
	hello := deskHello{NowMS: now.UnixMilli(), Status: st.Status.String(), Reasons: st.Reasons.Strings(),
		Policy: policyOf(w.cfg.Policy.Settings()), Conversations: convs}
	if st.Status == engine.StatusWarned {
		hello.DeadlineMS = st.Deadline.UnixMilli()
	}
	if out.send("hello", hello) != nil {
		return
	}
	// A desk session whose Agent Desk login is over stays until the page is
	// reloaded, which says why and ends it (deskPage); meanwhile the engine
	// refuses its reports.
	lastOut := w.lastLogout(r.Context(), user)
	switch {
	case st.Status == engine.StatusLoggedOut || lastOut.After(s.created):
		_ = out.send("logged_out", map[string]int64{"at_ms": lastOut.UnixMilli(), "now_ms": now.UnixMilli()})
		return
	case st.Status == engine.StatusOffline:
		_ = out.send("ended", map[string]string{"reason": "desk_logout"})
		return
	}
	last, _ := json.Marshal(convs)
	pump(r.Context(), out, sub, w.cfg.DeskPoll, func(ev event) (bool, error) {
		nowMS := w.cfg.Core.Now().UnixMilli()
		switch {
		case ev.kind == evWarn:
			return false, out.send("warn", map[string]int64{"deadline_ms": ev.deadline.UnixMilli(), "now_ms": nowMS})
		case ev.kind == evWithdraw:
			return false, out.send("withdraw", map[string]any{"reason": ev.reason, "now_ms": nowMS})
		case ev.kind == evLogout, ev.kind == evState && ev.state.Status == engine.StatusLoggedOut:
			_ = out.send("logged_out", map[string]int64{"at_ms": ev.at.UnixMilli(), "now_ms": nowMS})
			return true, nil
		case ev.kind == evState && ev.state.Status == engine.StatusOffline:
			_ = out.send("ended", map[string]string{"reason": "desk_logout"})
			return true, nil
		case ev.kind == evState:
			return false, out.send("state", map[string]any{"status": ev.state.Status.String(), "reasons": ev.state.Reasons.Strings(), "now_ms": nowMS})
		case ev.kind == evPolicy:
			return false, out.send("policy", policyOf(ev.policy))
		}
		return false, nil
	}, func() error {
		if !w.signedIn(r.Context(), s) {
			return errSignedOut
		}
		convs, err := w.deskConversations(r.Context(), user)
		if err != nil {
			return err
		}
		if b, _ := json.Marshal(convs); string(b) != string(last) {
			last = b
			return out.send("conversations", convs)
		}
		return nil
	})
}
