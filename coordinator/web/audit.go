package web

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-cc/vigil/coordinator/store"
)

// auditView is the audit page.
type auditView struct {
	User, Kind, Since, Until string // the filter as typed
	Error                    string
	Entries                  []auditRow
	Older                    string // the next page's URL, if there may be one
	CSV                      string // this filter as CSV
	Kinds                    []kindOption
}

type kindOption struct{ Value, Label string }

// auditRow is one entry, with what a person needs to read it.
type auditRow struct {
	store.AuditEntry
	Label   string
	Summary string
	// For a logout: the signals that led to it and where each of the
	// user's conversations went.
	Timeline []signalRow
	Reroutes []reroute
}

type signalRow struct {
	At     time.Time
	Signal string
}

// reroute is where a logged-out user's conversation went.
type reroute struct {
	At           time.Time
	Conversation string
	Channel      string
	To           string // "" while queued
	Queued       bool
}

// kindLabels name the audit's kinds for people; the filter offers them.
var kindLabels = []kindOption{
	{"user.logged_out", "Logged out for inactivity"},
	{"user.warned", "Warned"},
	{"user.warning_withdrawn", "Warning withdrawn (dismissed, paused, …)"},
	{"sensor.lost", "Sensor lost"},
	{"sensor.desk_moved", "Agent Desk moved to another workstation"},
	{"sensor.claim_refused", "Sensor refused (user bound elsewhere; before several sessions per user)"},
	{"desk.login", "Agent Desk login"},
	{"desk.logout", "Agent Desk logout"},
	{"settings.changed", "Settings changed"},
	{"device.enrolled", "Device enrolled"},
	{"device.approved", "Device approved"},
	{"device.revoked", "Device revoked"},
	{"enrollment.created", "Enrollment token created"},
	{"enrollment.revoked", "Enrollment token revoked"},
	{"mapping.set", "Mapping set"},
	{"mapping.deleted", "Mapping deleted"},
	{"account.created", "Account created"},
	{"token.created", "API token created"},
	{"token.revoked", "API token revoked"},
	{"conversation.created", "Conversation created"},
	{"conversation.assigned", "Conversation assigned"},
	{"conversation.accepted", "Conversation accepted"},
	{"conversation.ended", "Conversation ended"},
	{"conversation.rerouted", "Conversation rerouted"},
}

func kindLabel(kind string) string {
	for _, k := range kindLabels {
		if k.Value == kind {
			return k.Label
		}
	}
	return kind
}

// Time fields take RFC 3339 or what a datetime-local input sends, read as UTC.
var timeLayouts = []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02"}

func parseTime(v, name string) (time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, nil
	}
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, v); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%s must be a UTC time like 2026-11-26T09:00", name)
}

// auditPageSize is the entries per page; CSV export takes up to
// maxCSVRows.
const (
	auditPageSize = 100
	maxCSVRows    = 100000
)

func (w *Web) auditPage(rw http.ResponseWriter, r *http.Request, s *session) {
	q := r.URL.Query()
	v := auditView{User: strings.TrimSpace(q.Get("user")), Kind: q.Get("kind"), Since: q.Get("since"), Until: q.Get("until"), Kinds: kindLabels}
	f := store.AuditFilter{User: strings.ToLower(v.User), Kind: v.Kind, Limit: auditPageSize}
	var err error
	if f.Since, err = parseTime(v.Since, "From"); err == nil {
		f.Until, err = parseTime(v.Until, "To")
	}
	if err == nil && q.Get("before") != "" {
		if f.BeforeID, err = strconv.ParseInt(q.Get("before"), 10, 64); err != nil {
			err = fmt.Errorf("before must be an audit entry id")
		}
	}
	if err != nil {
		v.Error = err.Error() + "."
		w.render(rw, r, http.StatusBadRequest, "audit", page{Title: "Audit log", Nav: "audit", Session: s, Data: v})
		return
	}
	if q.Get("format") == "csv" {
		w.auditCSV(rw, r, f)
		return
	}
	entries, err := w.cfg.Store.AuditEntries(r.Context(), f)
	if err != nil {
		w.internal(rw, r, err)
		return
	}
	rows, err := w.auditRows(r.Context(), entries)
	if err != nil {
		w.internal(rw, r, err)
		return
	}
	v.Entries = rows
	keep := url.Values{}
	for _, k := range []string{"user", "kind", "since", "until"} {
		if x := q.Get(k); x != "" {
			keep.Set(k, x)
		}
	}
	if len(entries) == auditPageSize {
		older := url.Values{}
		for k, x := range keep {
			older[k] = x
		}
		older.Set("before", strconv.FormatInt(entries[len(entries)-1].ID, 10))
		v.Older = "/admin/audit?" + older.Encode()
	}
	keep.Set("format", "csv")
	v.CSV = "/admin/audit?" + keep.Encode()
	w.render(rw, r, http.StatusOK, "audit", page{Title: "Audit log", Nav: "audit", Session: s, Data: v})
}

// auditRows adds labels, summaries and, for each logout, its timeline and
// where its conversations went: the built-in controller's
// conversation.rerouted entries (and conversation.assigned for those that
// waited in the queue), joined by the logout's audit id they carry, or by
// user and time for entries without one.
func (w *Web) auditRows(ctx context.Context, entries []store.AuditEntry) ([]auditRow, error) {
	rows := make([]auditRow, 0, len(entries))
	var first, last time.Time
	for _, e := range entries {
		row := auditRow{AuditEntry: e, Label: kindLabel(e.Kind), Summary: summary(e)}
		if e.Kind == "user.logged_out" {
			row.Timeline = timelineOf(e.Detail)
			if first.IsZero() || e.At.Before(first) {
				first = e.At
			}
			if e.At.After(last) {
				last = e.At
			}
		}
		rows = append(rows, row)
	}
	if first.IsZero() {
		return rows, nil
	}
	routes, err := w.reroutes(ctx, first, last.Add(rerouteWindow))
	if err != nil {
		return nil, err
	}
	for i := range rows {
		if rows[i].Kind == "user.logged_out" {
			rows[i].Reroutes = routesOf(rows[i].AuditEntry, routes)
		}
	}
	return rows, nil
}

// rerouteWindow is how long after a logout a reroute without the logout's
// id is still taken to follow from it.
const rerouteWindow = 10 * time.Minute

type routeEntry struct {
	store.AuditEntry
	d struct {
		Conversation  string `json:"conversation"`
		Channel       string `json:"channel"`
		To            string `json:"to"`
		From          string `json:"from"`
		Queued        bool   `json:"queued"`
		Reason        string `json:"reason"`
		LogoutAuditID int64  `json:"logout_audit_id"`
		ReroutedFrom  string `json:"rerouted_from"`
	}
}

func (w *Web) reroutes(ctx context.Context, since, until time.Time) ([]routeEntry, error) {
	var out []routeEntry
	for _, kind := range []string{"conversation.rerouted", "conversation.assigned"} {
		es, err := w.cfg.Store.AuditEntries(ctx, store.AuditFilter{Kind: kind, Since: since, Until: until, Limit: store.MaxAuditLimit})
		if err != nil {
			return nil, err
		}
		for _, e := range es {
			re := routeEntry{AuditEntry: e}
			if json.Unmarshal(e.Detail, &re.d) == nil {
				out = append(out, re)
			}
		}
	}
	return out, nil
}

// routesOf picks the reroutes that followed logout, oldest first; a
// conversation first queued and later assigned shows where it ended up.
func routesOf(logout store.AuditEntry, routes []routeEntry) []reroute {
	byConv := map[string]*reroute{}
	var order []string
	// Entries come newest first per kind; walk them oldest first.
	for i := len(routes) - 1; i >= 0; i-- {
		re := routes[i]
		ours := re.d.LogoutAuditID == logout.ID ||
			(re.d.LogoutAuditID == 0 && re.Kind == "conversation.rerouted" && re.User == logout.User &&
				!re.At.Before(logout.At) && re.At.Before(logout.At.Add(rerouteWindow)) && re.d.Reason == "logout")
		if !ours {
			continue
		}
		rt, seen := byConv[re.d.Conversation]
		if !seen {
			if re.Kind != "conversation.rerouted" {
				continue
			}
			rt = &reroute{Conversation: re.d.Conversation, Channel: re.d.Channel}
			byConv[re.d.Conversation] = rt
			order = append(order, re.d.Conversation)
		}
		if rt.At.IsZero() || re.At.After(rt.At) {
			rt.At, rt.To, rt.Queued = re.At, re.d.To, re.d.Queued && re.d.To == ""
		}
	}
	out := make([]reroute, 0, len(order))
	for _, id := range order {
		out = append(out, *byConv[id])
	}
	return out
}

func timelineOf(detail json.RawMessage) []signalRow {
	var d struct {
		Timeline []struct {
			At     time.Time `json:"at"`
			Signal string    `json:"signal"`
		} `json:"timeline"`
	}
	if json.Unmarshal(detail, &d) != nil {
		return nil
	}
	out := make([]signalRow, 0, len(d.Timeline))
	for _, s := range d.Timeline {
		out = append(out, signalRow{At: s.At, Signal: signalLabel(s.Signal)})
	}
	return out
}

var signalLabels = map[string]string{
	"desk_login": "logged in to the Agent Desk", "desk_logout": "left the Agent Desk", "input": "keyboard or mouse input",
	"voice_on": "speech started", "voice_off": "speech ended", "minimized": "Agent Desk minimized",
	"restored": "Agent Desk restored", "left_front": "Agent Desk not in front", "in_front": "Agent Desk in front",
	"locked": "screen locked", "unlocked": "screen unlocked", "call_started": "call started", "call_ended": "call ended",
	"page_hidden": "page hidden", "page_visible": "page visible", "sensor_live": "sensor connected",
	"sensor_lost": "sensor lost", "warned": "warning shown", "withdrawn": "warning withdrawn",
	"enabled": "timeout enabled", "disabled": "timeout disabled", "timeout_changed": "timeout changed",
	"logged_out": "logged out",
}

func signalLabel(s string) string {
	if l, ok := signalLabels[s]; ok {
		return l
	}
	return s
}

// summary is a one-line reading of an entry's detail.
func summary(e store.AuditEntry) string {
	var d map[string]any
	if len(e.Detail) == 0 || json.Unmarshal(e.Detail, &d) != nil {
		return string(e.Detail)
	}
	str := func(k string) string { s, _ := d[k].(string); return s }
	switch e.Kind {
	case "user.warned":
		if t, err := time.Parse(time.RFC3339Nano, str("deadline")); err == nil {
			return "logout due at " + t.UTC().Format("15:04:05.000Z")
		}
	case "user.warning_withdrawn":
		return "reason: " + str("reason")
	case "user.logged_out":
		return "reason: " + str("reason")
	case "settings.changed":
		return settingsSummary(e.Detail)
	case "device.approved", "device.revoked":
		return "device " + str("device")
	case "device.enrolled":
		return fmt.Sprintf("host %s (%s), %s", str("host"), str("os"), str("status"))
	case "mapping.set":
		return fmt.Sprintf("OS user %s → %s", str("os_user"), e.User)
	case "mapping.deleted":
		return "OS user " + str("os_user")
	case "account.created":
		return fmt.Sprintf("%s (%s)", str("account"), str("role"))
	case "conversation.rerouted":
		to := str("to")
		if to == "" {
			to = "the queue"
		}
		return fmt.Sprintf("%s %s → %s", str("channel"), str("conversation"), to)
	case "conversation.created", "conversation.assigned":
		to := str("to")
		if to == "" {
			to = "the queue"
		}
		out := fmt.Sprintf("%s %s → %s", str("channel"), str("conversation"), to)
		if from := str("rerouted_from"); from != "" {
			out += " (rerouted from " + from + ")"
		}
		return out
	case "conversation.accepted", "conversation.ended":
		return fmt.Sprintf("%s %s", str("channel"), str("conversation"))
	case "user.capacity_set":
		return fmt.Sprintf("capacity %v (was %v)", d["capacity"], d["was"])
	}
	b, _ := json.Marshal(d)
	return string(b)
}

func settingsSummary(detail json.RawMessage) string {
	type doc struct {
		T *struct {
			Enabled bool `json:"enabled"`
			Seconds int  `json:"seconds"`
		} `json:"inactivity_timeout"`
		A *struct {
			Pattern string `json:"title_pattern"`
		} `json:"agent_desk"`
	}
	var d struct{ Old, New doc }
	if json.Unmarshal(detail, &d) != nil || d.Old.T == nil || d.New.T == nil {
		return string(detail)
	}
	onOff := map[bool]string{true: "on", false: "off"}
	var parts []string
	if d.Old.T.Enabled != d.New.T.Enabled {
		parts = append(parts, fmt.Sprintf("Inactivity Timeout %s → %s", onOff[d.Old.T.Enabled], onOff[d.New.T.Enabled]))
	}
	if d.Old.T.Seconds != d.New.T.Seconds {
		parts = append(parts, fmt.Sprintf("timeout %d s → %d s", d.Old.T.Seconds, d.New.T.Seconds))
	}
	if d.Old.A != nil && d.New.A != nil && d.Old.A.Pattern != d.New.A.Pattern {
		parts = append(parts, fmt.Sprintf("title pattern %q → %q", d.Old.A.Pattern, d.New.A.Pattern))
	}
	return strings.Join(parts, "; ")
}

// auditCSV writes the entries f selects (newest first, up to maxCSVRows) as
// a CSV attachment. A logout's row lists where its conversations went.
// Cells a spreadsheet would run as a formula are prefixed with a quote.
func (w *Web) auditCSV(rw http.ResponseWriter, r *http.Request, f store.AuditFilter) {
	f.Limit = store.MaxAuditLimit
	var all []store.AuditEntry
	for len(all) < maxCSVRows {
		page, err := w.cfg.Store.AuditEntries(r.Context(), f)
		if err != nil {
			w.internal(rw, r, err)
			return
		}
		all = append(all, page...)
		if len(page) < f.Limit {
			break
		}
		f.BeforeID = page[len(page)-1].ID
	}
	rows, err := w.auditRows(r.Context(), all)
	if err != nil {
		w.internal(rw, r, err)
		return
	}
	name := "vigil-audit-" + w.cfg.Core.Now().UTC().Format("20060102T150405Z") + ".csv"
	rw.Header().Set("Content-Type", "text/csv; charset=utf-8")
	rw.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	cw := csv.NewWriter(rw)
	_ = cw.Write([]string{"id", "at", "actor", "kind", "user", "summary", "conversations", "detail"})
	for _, e := range rows {
		var convs []string
		for _, rt := range e.Reroutes {
			to := rt.To
			if to == "" {
				to = "queue"
			}
			convs = append(convs, fmt.Sprintf("%s %s -> %s", rt.Channel, rt.Conversation, to))
		}
		_ = cw.Write([]string{strconv.FormatInt(e.ID, 10), e.At.UTC().Format(time.RFC3339Nano), cell(e.Actor), e.Kind,
			cell(e.User), cell(e.Summary), cell(strings.Join(convs, "; ")), cell(string(e.Detail))})
	}
	cw.Flush()
}

// cell defuses a value a spreadsheet would take for a formula.
func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
