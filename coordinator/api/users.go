package api

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/vigil-cc/vigil/coordinator/admin"
	"github.com/vigil-cc/vigil/coordinator/engine"
	"github.com/vigil-cc/vigil/coordinator/hub"
	"github.com/vigil-cc/vigil/coordinator/store"
	"github.com/vigil-cc/vigil/internal/username"
)

// User is one Agent Desk user's live state.
type User struct {
	User         string   `json:"user"`
	State        string   `json:"state"`
	Paused       []string `json:"paused,omitempty"`
	InactivityMS int64    `json:"inactivity_ms"`
	Deadline     string   `json:"deadline,omitempty"` // RFC 3339, while warned
	Sensor       Sensor   `json:"sensor"`
	// DeskHost is the workstation of the desk session, the one whose Agent
	// Desk was most recently in front; LiveSessions counts the user's live
	// desktop sessions on every workstation.
	DeskHost     string `json:"desk_host,omitempty"`
	LiveSessions int    `json:"live_sessions"`
}

// Sensor is the workstation sensor speaking for a user: the desk session's.
type Sensor struct {
	Status   string `json:"status"` // none, live, stale
	Host     string `json:"host,omitempty"`
	OSUser   string `json:"os_user,omitempty"`
	DeviceID string `json:"device_id,omitempty"`
	LastSeen string `json:"last_seen,omitempty"`
	Locked   bool   `json:"screen_locked"`
	Mic      bool   `json:"mic_available"`
}

func (a *API) users(r *http.Request) ([]User, error) {
	known, err := a.Store.DeskUsers(r.Context())
	if err != nil {
		return nil, err
	}
	states := map[string]engine.State{}
	// Advance first, so counted inactivity is as of now, not the last event.
	a.Core.Do("", func(e *engine.Engine, now time.Time) []engine.Decision { return e.Advance(now) })
	a.Core.View(func(e *engine.Engine) { e.States(func(s engine.State) { states[s.User] = s }) })
	// The session shown is the desk session's (by host), else any.
	sessions := map[string]hub.SessionInfo{}
	for _, s := range a.Hub.Sessions() {
		if cur, ok := sessions[s.DeskUser]; !ok || cur.Host != states[s.DeskUser].DeskHost {
			sessions[s.DeskUser] = s
		}
	}
	var out []User
	for _, k := range known {
		st, ok := states[k.Name]
		if !ok {
			st = engine.State{User: k.Name}
		}
		out = append(out, userOf(st, sessions[k.Name]))
	}
	slices.SortFunc(out, func(a, b User) int { return strings.Compare(a.User, b.User) })
	return out, nil
}

func userOf(st engine.State, s hub.SessionInfo) User {
	u := User{
		User:         st.User,
		State:        st.Status.String(),
		Paused:       st.Reasons.Strings(),
		InactivityMS: st.Inactivity.Milliseconds(),
		Sensor:       Sensor{Status: st.Sensor.String(), Host: s.Host, OSUser: s.OSUser, DeviceID: s.DeviceID, Locked: st.Locked, Mic: st.MicAvailable},
		DeskHost:     st.DeskHost,
		LiveSessions: st.Sessions,
	}
	if st.Status == engine.StatusWarned {
		u.Deadline = st.Deadline.UTC().Format(time.RFC3339Nano)
	}
	if !st.LastSeen.IsZero() {
		u.Sensor.LastSeen = st.LastSeen.UTC().Format(time.RFC3339Nano)
	}
	return u
}

func (a *API) listUsers(r *http.Request, _ actor) (any, error) { return a.users(r) }

func (a *API) getUser(r *http.Request, _ actor) (any, error) {
	users, err := a.users(r)
	if err != nil {
		return nil, err
	}
	name := username.Fold(r.PathValue("user"))
	for _, u := range users {
		if u.User == name {
			return u, nil
		}
	}
	return nil, errorf(http.StatusNotFound, "no Agent Desk user %q", name)
}

type userBody struct {
	User string `json:"user"`
}

func (a *API) readUser(r *http.Request) (string, error) {
	var b userBody
	if err := decodeStrict(r, &b); err != nil {
		return "", err
	}
	name := username.Fold(b.User)
	return name, admin.CheckName("user", name)
}

func (a *API) deskLogin(r *http.Request, who actor) (any, error) {
	name, err := a.readUser(r)
	if err != nil {
		return nil, err
	}
	return nil, a.Admin.DeskLogin(r.Context(), who.name, name)
}

func (a *API) deskLogout(r *http.Request, who actor) (any, error) {
	name, err := a.readUser(r)
	if err != nil {
		return nil, err
	}
	return nil, a.Admin.DeskLogout(r.Context(), who.name, name)
}

func (a *API) putCall(r *http.Request, who actor) (any, error) {
	var b struct {
		Active *bool `json:"active"`
	}
	if err := decodeStrict(r, &b); err != nil {
		return nil, err
	}
	if b.Active == nil {
		return nil, errorf(http.StatusBadRequest, "active must be true or false")
	}
	name, active := username.Fold(r.PathValue("user")), *b.Active
	if err := admin.CheckName("user", name); err != nil {
		return nil, err
	}
	a.Core.Do(name, func(e *engine.Engine, now time.Time) []engine.Decision { return e.Call(now, name, active) })
	return nil, nil
}

func (a *API) listMappings(r *http.Request, _ actor) (any, error) {
	ms, err := a.Store.Mappings(r.Context())
	return views(ms, err, func(m store.Mapping) map[string]string {
		return map[string]string{"os_user": m.OSUser, "desk_user": m.DeskUser}
	})
}

func (a *API) putMapping(r *http.Request, who actor) (any, error) {
	var b struct {
		DeskUser string `json:"desk_user"`
	}
	if err := decodeStrict(r, &b); err != nil {
		return nil, err
	}
	m, err := a.Admin.SetMapping(r.Context(), who.name, r.PathValue("os_user"), b.DeskUser)
	if err != nil {
		return nil, err
	}
	return map[string]string{"os_user": m.OSUser, "desk_user": m.DeskUser}, nil
}

func (a *API) deleteMapping(r *http.Request, who actor) (any, error) {
	return nil, a.Admin.DeleteMapping(r.Context(), who.name, r.PathValue("os_user"))
}

func (a *API) listUnmapped(r *http.Request, _ actor) (any, error) {
	us, err := a.Store.Unmapped(r.Context())
	return views(us, err, func(u store.UnmappedUser) map[string]any {
		return map[string]any{"os_user": u.OSUser, "host": u.Host, "device_id": u.DeviceID, "first_seen_at": u.FirstSeenAt, "last_seen_at": u.LastSeenAt}
	})
}

// mustJSON marshals values built here (maps of plain values), which cannot fail.
func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
