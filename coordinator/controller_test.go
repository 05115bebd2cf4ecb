package coordinator_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-cc/vigil/internal/coordtest"
	"github.com/vigil-cc/vigil/internal/testrig"
)

// conversations lists conversations as the API shows them.
func (s *testServer) conversations(token, query string) []map[string]any {
	s.t.Helper()
	code, obj, list := s.call("GET", "/api/v1/conversations?"+query, token, nil)
	if code != http.StatusOK {
		s.t.Fatalf("listing conversations: %d %v", code, obj)
	}
	var out []map[string]any
	for _, c := range list {
		out = append(out, c.(map[string]any))
	}
	return out
}

// held maps each user to the ids of the conversations they hold; "" is
// the queue.
func (s *testServer) held(token string) map[string][]string {
	out := map[string][]string{}
	for _, c := range s.conversations(token, "state=open") {
		u, _ := c["user"].(string)
		out[u] = append(out[u], c["id"].(string))
	}
	return out
}

func (s *testServer) tokenFor(role string) string {
	s.t.Helper()
	return s.mustCall("POST", "/api/v1/tokens", map[string]string{"name": role + "-" + fmt.Sprint(time.Now().UnixNano()), "role": role})["token"].(string)
}

// TestBuiltinControllerEndToEnd runs the built-in controller in a real
// coordinator: the engine logs alice out for inactivity (T = 30 s) and her
// conversations are rerouted to the least-loaded available user; the warned
// carol gets none until she is back; bob's accepted voice conversation
// pauses his clock until it ends; capacity holds throughout.
func TestBuiltinControllerEndToEnd(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir())
	s.setTimeout(30)
	integ := s.tokenFor("integration")
	sup := s.tokenFor("supervisor")
	post := func(path string, body any) map[string]any {
		t.Helper()
		code, obj, _ := s.call("POST", path, integ, body)
		if code/100 != 2 {
			t.Fatalf("POST %s: %d %v", path, code, obj)
		}
		return obj
	}

	start := time.Now()
	post("/api/v1/desk/login", map[string]string{"user": "alice"})
	post("/api/v1/desk/login", map[string]string{"user": "bob"})
	time.Sleep(time.Until(start.Add(4 * time.Second)))
	post("/api/v1/desk/login", map[string]string{"user": "carol"}) // warned at 28 s, logged out at 34 s

	// Five conversations: ties go by name, so alice, bob, carol, alice, bob.
	var ids []string
	for _, ch := range []string{"chat", "voice", "chat", "chat", "chat"} {
		c := post("/api/v1/conversations", map[string]string{"channel": ch, "customer": "cust-" + fmt.Sprint(len(ids)+1)})
		if c["state"] != "assigned" {
			t.Fatalf("new conversation: %v", c)
		}
		ids = append(ids, c["id"].(string))
	}
	want := map[string][]string{"alice": {ids[0], ids[3]}, "bob": {ids[1], ids[4]}, "carol": {ids[2]}}
	if got := s.held(sup); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after routing: %v, want %v", got, want)
	}

	// bob accepts his voice conversation: on a call, his clock pauses.
	post("/api/v1/conversations/"+ids[1]+"/accept", nil)
	code, u, _ := s.call("GET", "/api/v1/users/bob", sup, nil)
	if code != http.StatusOK || u["state"] != "paused" || fmt.Sprint(u["paused"]) != "[on_call]" {
		t.Fatalf("bob on a voice call: %d %v, want paused on_call", code, u)
	}

	// alice is logged out at 30 s by the engine. carol is warned then: #1
	// goes to bob (load 2 < 3), #4 finds nobody and queues.
	testrig.Eventually(t, 40*time.Second, func() (bool, string) {
		return len(s.audit("kind=conversation.rerouted")) == 2, "alice's conversations to be rerouted"
	})
	if _, u, _ := s.call("GET", "/api/v1/users/carol", sup, nil); u["state"] != "warned" {
		t.Fatalf("carol at alice's logout: %v, want warned", u["state"])
	}
	want = map[string][]string{"": {ids[3]}, "bob": {ids[0], ids[1], ids[4]}, "carol": {ids[2]}}
	if got := s.held(sup); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after alice's logout: %v, want %v", got, want)
	}
	// carol comes back: the warning is withdrawn and the queue served.
	post("/api/v1/desk/login", map[string]string{"user": "carol"})
	want = map[string][]string{"bob": {ids[0], ids[1], ids[4]}, "carol": {ids[2], ids[3]}}
	testrig.Eventually(t, 5*time.Second, func() (bool, string) {
		return fmt.Sprint(s.held(sup)) == fmt.Sprint(want), "the queue to be served to carol"
	})

	// The audit joins alice's logout to where each conversation went.
	logout := s.audit("user=alice&kind=user.logged_out")
	if len(logout) != 1 {
		t.Fatalf("alice's logouts: %v", logout)
	}
	logoutID := logout[0]["id"].(float64)
	rerouted := s.audit("user=alice&kind=conversation.rerouted")
	slices.Reverse(rerouted)
	assigned := s.audit("kind=conversation.assigned")
	if len(rerouted) != 2 || len(assigned) != 1 {
		t.Fatalf("reroutes %v, assignments %v", rerouted, assigned)
	}
	for i, w := range []struct{ id, to string }{{ids[0], "bob"}, {ids[3], ""}} {
		d := rerouted[i]["detail"].(map[string]any)
		if d["conversation"] != w.id || d["from"] != "alice" || d["to"] != w.to || d["logout_audit_id"] != logoutID {
			t.Errorf("reroute %d: %v, want %s alice → %q joined to logout %v", i, d, w.id, w.to, logoutID)
		}
	}
	if d := assigned[0]["detail"].(map[string]any); d["conversation"] != ids[3] || d["to"] != "carol" ||
		d["rerouted_from"] != "alice" || d["logout_audit_id"] != logoutID {
		t.Errorf("assignment from the queue: %v", d)
	}

	// Capacity held: nobody over 3.
	_, _, agents := s.call("GET", "/api/v1/agents", sup, nil)
	for _, a := range agents {
		a := a.(map[string]any)
		if a["load"].(float64) > a["capacity"].(float64) {
			t.Errorf("over capacity: %v", a)
		}
	}

	// bob's call ends: his clock counts again.
	post("/api/v1/conversations/"+ids[1]+"/end", nil)
	_, u, _ = s.call("GET", "/api/v1/users/bob", sup, nil)
	if u["state"] != "active" {
		t.Fatalf("bob after the call: %v, want active", u)
	}
	before := u["inactivity_ms"].(float64)
	time.Sleep(300 * time.Millisecond)
	// The state is as of the engine's last event; a no-op event brings it to now.
	s.call("PUT", "/api/v1/users/bob/call", integ, `{"active":false}`)
	if _, u, _ = s.call("GET", "/api/v1/users/bob", sup, nil); u["inactivity_ms"].(float64) < before+250 {
		t.Errorf("bob's clock after the call: %v → %v ms, want counting", before, u["inactivity_ms"])
	}
}

func TestConversationsAPI(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir())
	integ := s.tokenFor("integration")
	sup := s.tokenFor("supervisor")
	s.mustCall("POST", "/api/v1/desk/login", map[string]string{"user": "Jane"})

	// A voice conversation accepted pauses jane's clock; ending resumes it.
	code, c, _ := s.call("POST", "/api/v1/conversations", integ, map[string]string{"channel": "voice", "customer": "+15550100"})
	if code != http.StatusCreated || c["user"] != "jane" || c["state"] != "assigned" {
		t.Fatalf("create: %d %v", code, c)
	}
	id := c["id"].(string)
	if code, c, _ = s.call("POST", "/api/v1/conversations/"+id+"/accept", integ, nil); code != http.StatusOK || c["state"] != "active" {
		t.Fatalf("accept: %d %v", code, c)
	}
	_, u, _ := s.call("GET", "/api/v1/users/jane", sup, nil)
	if u["state"] != "paused" || fmt.Sprint(u["paused"]) != "[on_call]" {
		t.Fatalf("jane on a call: %v", u)
	}
	frozen := u["inactivity_ms"]
	time.Sleep(200 * time.Millisecond)
	s.call("PUT", "/api/v1/users/jane/call", integ, `{"active":true}`) // a no-op event: the state comes to now
	if _, u, _ = s.call("GET", "/api/v1/users/jane", sup, nil); u["inactivity_ms"] != frozen {
		t.Errorf("clock moved on a call: %v → %v", frozen, u["inactivity_ms"])
	}
	if code, c, _ = s.call("POST", "/api/v1/conversations/"+id+"/end", integ, nil); code != http.StatusOK || c["state"] != "ended" || c["ended_at"] == nil {
		t.Fatalf("end: %d %v", code, c)
	}
	time.Sleep(200 * time.Millisecond)
	s.call("PUT", "/api/v1/users/jane/call", integ, `{"active":false}`)
	if _, u, _ = s.call("GET", "/api/v1/users/jane", sup, nil); u["state"] != "active" || u["inactivity_ms"].(float64) < frozen.(float64)+150 {
		t.Errorf("after the call: %v, want active and counting from %v ms", u, frozen)
	}

	// Capacity: 0 takes nothing; the conversation queues; 1 serves it.
	if code, g, _ := s.call("PUT", "/api/v1/users/JANE/capacity", integ, `{"capacity":0}`); code != http.StatusOK || g["capacity"] != float64(0) {
		t.Fatalf("capacity 0: %d %v", code, g)
	}
	_, c, _ = s.call("POST", "/api/v1/conversations", integ, map[string]string{"channel": "chat", "customer": "c2"})
	if c["state"] != "queued" {
		t.Fatalf("with no room: %v", c)
	}
	s.call("PUT", "/api/v1/users/jane/capacity", integ, `{"capacity":1}`)
	if got := s.conversations(sup, "user=jane&state=assigned"); len(got) != 1 || got[0]["id"] != c["id"] {
		t.Errorf("after capacity 1: %v", got)
	}
	if _, g, _ := s.call("GET", "/api/v1/users/jane/capacity", sup, nil); g["load"] != float64(1) || g["available"] != true {
		t.Errorf("jane's capacity: %v", g)
	}

	for _, tc := range []struct {
		method, path, token, body string
		want                      int
		msg                       string
	}{
		{"POST", "/api/v1/conversations", integ, `{"channel":"fax","customer":"x"}`, 400, "chat, voice or video"},
		{"POST", "/api/v1/conversations", integ, `{"channel":"chat"}`, 400, "customer"},
		{"POST", "/api/v1/conversations", integ, `{"channel":"chat","customer":"x","extra":1}`, 400, "unknown field"},
		{"POST", "/api/v1/conversations", sup, `{"channel":"chat","customer":"x"}`, 403, "supervisor"},
		{"POST", "/api/v1/conversations/nope/accept", integ, ``, 404, "not found"},
		{"POST", "/api/v1/conversations/" + id + "/accept", integ, ``, 409, "ended"},
		{"PUT", "/api/v1/users/jane/capacity", integ, `{"capacity":2.5}`, 400, "whole number"},
		{"PUT", "/api/v1/users/jane/capacity", integ, `{"capacity":101}`, 400, "from 0 to 100"},
		{"PUT", "/api/v1/users/jane/capacity", integ, `{"capacity":"3"}`, 400, "whole number"},
		{"PUT", "/api/v1/users/jane/capacity", sup, `{"capacity":3}`, 403, "supervisor"},
		{"GET", "/api/v1/conversations?state=lost", sup, ``, 400, "state must be"},
		{"GET", "/api/v1/outbox", sup, ``, 403, "supervisor"},
	} {
		code, obj, _ := s.call(tc.method, tc.path, tc.token, tc.body)
		if msg, _ := obj["error"].(string); code != tc.want || !strings.Contains(msg, tc.msg) {
			t.Errorf("%s %s %s: %d %q, want %d naming %q", tc.method, tc.path, tc.body, code, msg, tc.want, tc.msg)
		}
	}
	out := s.mustCall("GET", "/api/v1/outbox", nil)
	if out["controller"] != "builtin" || out["backlog"] != float64(0) {
		t.Errorf("outbox with the built-in controller: %v", out)
	}
	raw, _ := json.Marshal(s.audit("kind=conversation.created"))
	if strings.Contains(string(raw), "+15550100") {
		t.Errorf("the audit names the customer: %s", raw)
	}
}

func TestWebhookModeTurnsConversationsOff(t *testing.T) {
	t.Parallel()
	cfg := coordtest.Config(t.TempDir(), adminToken)
	cfg.Controller, cfg.WebhookURL, cfg.WebhookSecret = "webhook", "http://127.0.0.1:9/hook", "sixteen-chars-at-least"
	srv := coordtest.Start(t, cfg, nil)
	s := &testServer{t: t, addr: srv.Addr}
	code, obj, _ := s.call("POST", "/api/v1/conversations", adminToken, `{"channel":"chat","customer":"x"}`)
	if code != http.StatusConflict || !strings.Contains(fmt.Sprint(obj["error"]), "--controller webhook") {
		t.Errorf("creating a conversation in webhook mode: %d %v", code, obj)
	}
	if out := s.mustCall("GET", "/api/v1/outbox", nil); out["controller"] != "webhook" {
		t.Errorf("outbox: %v", out)
	}
}
