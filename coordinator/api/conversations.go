package api

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-cc/vigil/coordinator/admin"
	"github.com/vigil-cc/vigil/coordinator/controller/builtin"
	"github.com/vigil-cc/vigil/coordinator/store"
	"github.com/vigil-cc/vigil/internal/username"
)

// registerControllers adds the controllers' routes: the built-in
// controller's conversations and capacities, and the webhook outbox.
func (a *API) registerControllers(mux *http.ServeMux) {
	a.route(mux, "POST /api/v1/conversations", platform, a.desk(a.createConversation))
	a.route(mux, "GET /api/v1/conversations", anyRole, a.desk(a.listConversations))
	a.route(mux, "GET /api/v1/conversations/{id}", anyRole, a.desk(a.getConversation))
	a.route(mux, "POST /api/v1/conversations/{id}/accept", platform, a.desk(a.acceptConversation))
	a.route(mux, "POST /api/v1/conversations/{id}/end", platform, a.desk(a.endConversation))
	a.route(mux, "GET /api/v1/agents", anyRole, a.desk(a.listAgents))
	a.route(mux, "GET /api/v1/users/{user}/capacity", anyRole, a.desk(a.getCapacity))
	a.route(mux, "PUT /api/v1/users/{user}/capacity", platform, a.desk(a.putCapacity))
	a.route(mux, "GET /api/v1/outbox", admins, a.getOutbox)
}

// desk refuses the built-in controller's routes when the webhook
// controller is in use: conversations then live on the platform.
func (a *API) desk(h handler) handler {
	return func(r *http.Request, who actor) (any, error) {
		if a.Desk == nil {
			return nil, errorf(http.StatusConflict, "conversations are routed by the contact-center platform here "+
				"(--controller webhook); the built-in controller's endpoints are off")
		}
		return h(r, who)
	}
}

// Conversation is one conversation of the built-in controller.
type Conversation struct {
	ID           string `json:"id"`
	Seq          int64  `json:"seq"`
	Channel      string `json:"channel"`
	Customer     string `json:"customer"`
	State        string `json:"state"`
	User         string `json:"user,omitempty"`
	CreatedAt    string `json:"created_at"`
	AssignedAt   string `json:"assigned_at,omitempty"`
	AcceptedAt   string `json:"accepted_at,omitempty"`
	EndedAt      string `json:"ended_at,omitempty"`
	ReroutedFrom string `json:"rerouted_from,omitempty"`
	Reroutes     int    `json:"reroutes,omitempty"`
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func conversationOf(c store.Conversation) Conversation {
	return Conversation{
		ID: c.ID, Seq: c.Seq, Channel: c.Channel, Customer: c.Customer, State: string(c.State), User: c.User,
		CreatedAt: rfc3339(c.CreatedAt), AssignedAt: rfc3339(c.AssignedAt), AcceptedAt: rfc3339(c.AcceptedAt),
		EndedAt: rfc3339(c.EndedAt), ReroutedFrom: c.ReroutedFrom, Reroutes: c.Reroutes,
	}
}

func (a *API) createConversation(r *http.Request, who actor) (any, error) {
	var b struct {
		Channel  string `json:"channel"`
		Customer string `json:"customer"`
	}
	if err := decodeStrict(r, &b); err != nil {
		return nil, err
	}
	c, err := a.Desk.Create(r.Context(), b.Channel, b.Customer, who.name)
	if err != nil {
		return nil, err
	}
	return created{conversationOf(c)}, nil
}

func (a *API) listConversations(r *http.Request, _ actor) (any, error) {
	q := r.URL.Query()
	f := store.ConversationFilter{User: username.Fold(q.Get("user"))}
	switch s := q.Get("state"); s {
	case "":
	case "open":
		f.OpenOnly = true
	default:
		if f.State = store.ConversationState(s); !f.State.Valid() {
			return nil, errorf(http.StatusBadRequest, "state must be queued, assigned, active, ended or open")
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return nil, errorf(http.StatusBadRequest, "limit must be a whole number from 1 to 1000")
		}
		f.Limit = n
	}
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return nil, errorf(http.StatusBadRequest, "after must be a conversation's seq")
		}
		f.AfterSeq = n
	}
	cs, err := a.Store.Conversations(r.Context(), f)
	return views(cs, err, conversationOf)
}

func (a *API) getConversation(r *http.Request, _ actor) (any, error) {
	c, err := a.Store.Conversation(r.Context(), r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	return conversationOf(c), nil
}

func (a *API) acceptConversation(r *http.Request, who actor) (any, error) {
	c, err := a.Desk.Accept(r.Context(), r.PathValue("id"), who.name)
	if err != nil {
		return nil, err
	}
	return conversationOf(c), nil
}

func (a *API) endConversation(r *http.Request, who actor) (any, error) {
	c, err := a.Desk.End(r.Context(), r.PathValue("id"), who.name)
	if err != nil {
		return nil, err
	}
	return conversationOf(c), nil
}

// Agent is a user as the built-in router sees them.
type Agent struct {
	User      string `json:"user"`
	State     string `json:"state"`     // the engine's: offline, active, warned, paused, disabled, logged_out
	Available bool   `json:"available"` // may be given conversations: logged in, neither warned nor logged out
	Capacity  int    `json:"capacity"`
	Load      int    `json:"load"` // open conversations assigned or active
	LastEnded string `json:"last_conversation_ended_at,omitempty"`
}

func agentOf(g builtin.Agent) Agent {
	return Agent{User: g.User, State: g.Status.String(), Available: g.Available, Capacity: g.Capacity, Load: g.Load, LastEnded: rfc3339(g.LastEnded)}
}

func (a *API) listAgents(r *http.Request, _ actor) (any, error) {
	return views(a.Desk.Agents(), nil, agentOf)
}

func (a *API) getCapacity(r *http.Request, _ actor) (any, error) {
	name := username.Fold(r.PathValue("user"))
	if err := admin.CheckName("user", name); err != nil {
		return nil, err
	}
	return agentOf(a.Desk.Agent(name)), nil
}

func (a *API) putCapacity(r *http.Request, who actor) (any, error) {
	name := username.Fold(r.PathValue("user"))
	if err := admin.CheckName("user", name); err != nil {
		return nil, err
	}
	var b struct {
		Capacity json.RawMessage `json:"capacity"`
	}
	if err := decodeStrict(r, &b); err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b.Capacity)))
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "capacity must be a whole number from 0 to %d", builtin.MaxCapacity)
	}
	g, err := a.Desk.SetCapacity(r.Context(), name, n, who.name)
	if err != nil {
		return nil, err
	}
	return agentOf(g), nil
}

// Outbox is the webhook outbox's state.
type Outbox struct {
	Controller      string `json:"controller"` // builtin or webhook
	Backlog         int    `json:"backlog"`    // undelivered events
	Failing         int    `json:"failing"`    // undelivered events that failed at least once
	OldestPending   string `json:"oldest_pending_at,omitempty"`
	NextAttempt     string `json:"next_attempt_at,omitempty"`
	MostAttempts    int    `json:"most_attempts,omitempty"`
	LastError       string `json:"last_error,omitempty"`
	LastErrorAt     string `json:"last_error_at,omitempty"`
	LastDeliveredAt string `json:"last_delivered_at,omitempty"`
	Delivered       uint64 `json:"delivered_since_start"`
	FailedAttempts  uint64 `json:"failed_attempts_since_start"`
}

func (a *API) getOutbox(r *http.Request, _ actor) (any, error) {
	if a.Webhook == nil {
		st, err := a.Store.OutboxStatus(r.Context())
		if err != nil {
			return nil, err
		}
		return Outbox{Controller: "builtin", Backlog: st.Backlog, Failing: st.Failing, OldestPending: rfc3339(st.OldestPending),
			NextAttempt: rfc3339(st.NextAttempt), MostAttempts: st.MostAttempts, LastError: st.LastError}, nil
	}
	b, err := a.Webhook.Backlog(r.Context())
	if err != nil {
		return nil, err
	}
	last := b.LastError
	if last == "" {
		last = b.OutboxStatus.LastError
	}
	return Outbox{Controller: "webhook", Backlog: b.Backlog, Failing: b.Failing, OldestPending: rfc3339(b.OldestPending),
		NextAttempt: rfc3339(b.NextAttempt), MostAttempts: b.MostAttempts, LastError: last, LastErrorAt: rfc3339(b.LastErrorAt),
		LastDeliveredAt: rfc3339(b.LastDeliveredAt), Delivered: b.Delivered, FailedAttempts: b.Failed}, nil
}
