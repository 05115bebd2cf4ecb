package web

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/vigil-cc/vigil/coordinator/engine"
	"github.com/vigil-cc/vigil/coordinator/store"
)

// userRow is one user on the dashboard, as the page and its events carry
// it. Times are unix milliseconds on the coordinator's clock; the page
// counts down from DeadlineMS using its offset to the server's NowMS, so a
// throttled tab shows the right time whenever it draws.
type userRow struct {
	User         string   `json:"user"`
	Status       string   `json:"status"`
	Reasons      []string `json:"reasons,omitempty"`
	InactivityMS int64    `json:"inactivity_ms"`
	DeadlineMS   int64    `json:"deadline_ms,omitempty"`
	Sensor       string   `json:"sensor"`
	LastSeenMS   int64    `json:"last_seen_ms,omitempty"`
	Locked       bool     `json:"locked,omitempty"`
	Host         string   `json:"host,omitempty"` // the desk session's workstation
	Sessions     int      `json:"sessions"`       // live desktop sessions on every workstation
	// Conversations is absent in a single user's update (the page keeps
	// what it had) and present, maybe empty, in a snapshot.
	Conversations *[]convSummary `json:"conversations,omitempty"`
}

// convSummary is an open conversation on the dashboard.
type convSummary struct {
	Channel string `json:"channel"`
	State   string `json:"state"`
}

// dashboard is the dashboard's snapshot.
type dashboard struct {
	NowMS int64     `json:"now_ms"`
	Users []userRow `json:"users"`
	// Conversations: the built-in controller is in use, so conversations
	// are known.
	Conversations bool `json:"conversations"`
}

// userUpdate is one user's change.
type userUpdate struct {
	NowMS  int64   `json:"now_ms"`
	AsOfMS int64   `json:"as_of_ms"` // the instant User's inactivity was taken at
	User   userRow `json:"user"`
}

// rowOf is st as the dashboard shows it; host is a connected session's, for
// a user with no desk session yet.
func rowOf(st engine.State, host string) userRow {
	if st.DeskHost != "" {
		host = st.DeskHost
	}
	r := userRow{User: st.User, Status: st.Status.String(), Reasons: st.Reasons.Strings(),
		InactivityMS: st.Inactivity.Milliseconds(), Sensor: st.Sensor.String(), Locked: st.Locked, Host: host, Sessions: st.Sessions}
	if st.Status == engine.StatusWarned {
		r.DeadlineMS = st.Deadline.UnixMilli()
	}
	if !st.LastSeen.IsZero() {
		r.LastSeenMS = st.LastSeen.UnixMilli()
	}
	return r
}

// live brings the engine to now and returns the states of user (every
// user when user is "") as of now. With subscribe it also subscribes to
// what happens next, atomically with the snapshot (see broker).
func (w *Web) live(user string, subscribe bool) (time.Time, map[string]engine.State, *subscriber) {
	var at time.Time
	states := map[string]engine.State{}
	var sub *subscriber
	w.cfg.Core.Do("", func(e *engine.Engine, now time.Time) []engine.Decision {
		ds := e.Advance(now)
		at = now
		if user == "" {
			e.States(func(s engine.State) { states[s.User] = s })
		} else if s, ok := e.State(user); ok {
			states[user] = s
		}
		if subscribe {
			sub = w.events.subscribe(user)
		}
		return ds
	})
	return at, states, sub
}

// hosts maps each user to the host of the sensor speaking for them.
func (w *Web) hosts() map[string]string {
	out := map[string]string{}
	for _, s := range w.cfg.Hub.Sessions() {
		out[s.DeskUser] = s.Host
	}
	return out
}

// openConversations maps each user to their open conversations, if the
// built-in controller is in use.
func (w *Web) openConversations(ctx context.Context) (map[string][]convSummary, error) {
	out := map[string][]convSummary{}
	if w.cfg.Desk == nil {
		return out, nil
	}
	cs, err := w.cfg.Store.Conversations(ctx, store.ConversationFilter{OpenOnly: true, Limit: -1})
	if err != nil {
		return nil, err
	}
	for _, c := range cs {
		if c.User != "" {
			out[c.User] = append(out[c.User], convSummary{Channel: c.Channel, State: string(c.State)})
		}
	}
	return out, nil
}

// snapshot is the dashboard as of now, and a subscription if asked.
func (w *Web) snapshot(ctx context.Context, subscribe bool) (dashboard, *subscriber, error) {
	known, err := w.cfg.Store.DeskUsers(ctx)
	if err != nil {
		return dashboard{}, nil, err
	}
	convs, err := w.openConversations(ctx)
	if err != nil {
		return dashboard{}, nil, err
	}
	hosts := w.hosts()
	now, states, sub := w.live("", subscribe)
	for _, k := range known {
		if _, ok := states[k.Name]; !ok {
			states[k.Name] = engine.State{User: k.Name}
		}
	}
	d := dashboard{NowMS: now.UnixMilli(), Users: make([]userRow, 0, len(states)), Conversations: w.cfg.Desk != nil}
	for _, st := range states {
		r := rowOf(st, hosts[st.User])
		c := convs[st.User]
		if c == nil {
			c = []convSummary{}
		}
		r.Conversations = &c
		d.Users = append(d.Users, r)
	}
	slices.SortFunc(d.Users, func(a, b userRow) int { return strings.Compare(a.User, b.User) })
	return d, sub, nil
}

func (w *Web) dashboardPage(rw http.ResponseWriter, r *http.Request, s *session) {
	d, _, err := w.snapshot(r.Context(), false)
	if err != nil {
		w.internal(rw, r, err)
		return
	}
	w.render(rw, r, http.StatusOK, "dashboard", page{Title: "Dashboard", Nav: "dashboard", Session: s, Data: d})
}

// dashboardEvents streams the dashboard: a snapshot, then each user's
// change as the engine decides it, and a fresh snapshot every Refresh for
// what changes without a decision (counted inactivity after input, sensor
// hosts, conversations).
func (w *Web) dashboardEvents(rw http.ResponseWriter, r *http.Request, s *session) {
	d, sub, err := w.snapshot(r.Context(), true)
	if err != nil {
		w.internal(rw, r, err)
		return
	}
	if sub == nil {
		http.Error(rw, "the coordinator is stopping", http.StatusServiceUnavailable)
		return
	}
	defer w.events.unsubscribe(sub)
	out := startSSE(rw)
	if out.send("snapshot", d) != nil {
		return
	}
	pump(r.Context(), out, sub, w.cfg.Refresh,
		func(ev event) (bool, error) { return false, w.sendUserEvent(out, ev) },
		func() error {
			if !w.signedIn(r.Context(), s) {
				return errSignedOut
			}
			d, _, err := w.snapshot(r.Context(), false)
			if err != nil {
				return err
			}
			return out.send("snapshot", d)
		})
}

// errSignedOut ends an event stream whose session ended (signed out,
// account disabled, password changed).
var errSignedOut = errors.New("the session ended")

// pump feeds an event stream until the client goes, the subscription ends
// or a send fails: onEvent for each event (stop ends the stream), onTick
// every tick, and a ping to keep proxies from closing an idle stream.
func pump(ctx context.Context, out *sse, sub *subscriber, tick time.Duration,
	onEvent func(event) (stop bool, err error), onTick func() error) {
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	ping := time.NewTicker(pingEvery)
	defer ping.Stop()
	for {
		var err error
		stop := false
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-sub.ch:
			if !ok {
				return // dropped or stopping: the page reconnects
			}
			stop, err = onEvent(ev)
		case <-ticker.C:
			err = onTick()
		case <-ping.C:
			err = out.ping()
		}
		if stop || err != nil {
			return
		}
	}
}

// sendUserEvent sends what a decision changed about one user: their state
// as of now (a warning's deadline moves without a change of status).
func (w *Web) sendUserEvent(out *sse, ev event) error {
	switch ev.kind {
	case evState, evWarn, evWithdraw, evLogout:
	default:
		return nil
	}
	st, asOf := ev.state, ev.at
	if ev.kind != evState {
		var states map[string]engine.State
		var ok bool
		asOf, states, _ = w.live(ev.user, false)
		if st, ok = states[ev.user]; !ok {
			return nil
		}
	}
	return out.send("user", userUpdate{NowMS: w.cfg.Core.Now().UnixMilli(), AsOfMS: asOf.UnixMilli(), User: rowOf(st, w.hosts()[ev.user])})
}
