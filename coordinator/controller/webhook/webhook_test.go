package webhook_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-cc/vigil/internal/storetest"

	"github.com/vigil-cc/vigil/coordinator/controller/webhook"
	"github.com/vigil-cc/vigil/coordinator/controller/webhook/verify"
	"github.com/vigil-cc/vigil/coordinator/engine"
	"github.com/vigil-cc/vigil/coordinator/store"
)

const (
	secret     = "current-secret-0123456789"
	nextSecret = "next-secret-abcdefghijklmnop"
)

var t0 = time.Date(2026, 3, 2, 9, 30, 0, 250e6, time.UTC)

func TestEvents(t *testing.T) {
	warn := engine.Decision{Kind: engine.DecisionWarn, User: "jane", At: t0, Deadline: t0.Add(60 * time.Second)}
	withdraw := engine.Decision{Kind: engine.DecisionWithdraw, User: "jane", At: t0, Reason: engine.WithdrawDismissed}
	logout := engine.Decision{Kind: engine.DecisionLogout, User: "jane", At: t0}
	for _, tc := range []struct {
		d    engine.Decision
		want string
	}{
		{warn, `{"type":"user.warned","occurred_at":"2026-03-02T09:30:00.25Z","user":"jane","data":{"deadline":"2026-03-02T09:31:00.25Z"}}`},
		{withdraw, `{"type":"user.warning_withdrawn","occurred_at":"2026-03-02T09:30:00.25Z","user":"jane","data":{"reason":"dismissed"}}`},
		{logout, `{"type":"user.logged_out","occurred_at":"2026-03-02T09:30:00.25Z","user":"jane","data":{"reason":"inactivity","reroute":{"user":"jane","conversations":"all_active"}}}`},
	} {
		evs, err := webhook.Events(tc.d)
		if err != nil || len(evs) != 1 {
			t.Fatalf("%s: %v %v", tc.d.Kind, evs, err)
		}
		e := evs[0]
		var body map[string]any
		if err := json.Unmarshal(e.Payload, &body); err != nil {
			t.Fatal(err)
		}
		if body["id"] != e.Key || !strings.HasPrefix(e.Key, "evt_") || len(e.Key) != 36 {
			t.Errorf("%s: key %q, body id %v", tc.d.Kind, e.Key, body["id"])
		}
		delete(body, "id")
		got, _ := json.Marshal(body)
		var want map[string]any
		_ = json.Unmarshal([]byte(tc.want), &want)
		wantJSON, _ := json.Marshal(want)
		if string(got) != string(wantJSON) || e.Kind != body["type"] || !e.CreatedAt.Equal(t0) {
			t.Errorf("%s:\n got %s\nwant %s", tc.d.Kind, got, wantJSON)
		}
		// The same decision gives the same key.
		again, _ := webhook.Events(tc.d)
		if again[0].Key != e.Key || string(again[0].Payload) != string(e.Payload) {
			t.Errorf("%s: not deterministic", tc.d.Kind)
		}
	}
	// Different decisions differ.
	keys := map[string]bool{}
	for _, d := range []engine.Decision{warn, withdraw, logout,
		{Kind: engine.DecisionWarn, User: "jane", At: t0, Deadline: t0.Add(61 * time.Second)},
		{Kind: engine.DecisionWarn, User: "joan", At: t0, Deadline: t0.Add(60 * time.Second)},
		{Kind: engine.DecisionLogout, User: "jane", At: t0.Add(time.Millisecond)},
		{Kind: engine.DecisionWithdraw, User: "jane", At: t0, Reason: engine.WithdrawPaused},
	} {
		keys[webhook.EventID(d)] = true
	}
	if len(keys) != 7 {
		t.Errorf("%d distinct keys for 7 decisions", len(keys))
	}
	for _, k := range []engine.DecisionKind{engine.DecisionSensorLost, engine.DecisionChanged} {
		if evs, err := webhook.Events(engine.Decision{Kind: k, User: "jane", At: t0}); len(evs) != 0 || err != nil {
			t.Errorf("%s gave events %v %v", k, evs, err)
		}
	}
}

// The delivery defaults: 1 s, ×1.6, ±20 %, 2 min (the rule itself is
// tested in internal/backoff).
func TestBackoff(t *testing.T) {
	d := webhook.Backoff{}.Fill(webhook.DefaultBackoff)
	if got := d.Delay(2, 0.5); got != 1600*time.Millisecond {
		t.Errorf("default second delay %v", got)
	}
	if got := d.Delay(100, 0.5); got != 2*time.Minute {
		t.Errorf("default cap %v", got)
	}
	if got := d.Delay(1, 0); got != 800*time.Millisecond {
		t.Errorf("default jitter: low first delay %v", got)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg  webhook.Config
		want string
	}{
		{webhook.Config{Secrets: []string{secret}}, "URL is required"},
		{webhook.Config{URL: "ftp://x", Secrets: []string{secret}}, "absolute http(s) URL"},
		{webhook.Config{URL: "/relative", Secrets: []string{secret}}, "absolute http(s) URL"},
		{webhook.Config{URL: "http://platform.example.com/hook", Secrets: []string{secret}}, "must use https"},
		{webhook.Config{URL: "https://platform.example.com/hook"}, "Secret is required"},
		{webhook.Config{URL: "https://platform.example.com/hook", Secrets: []string{"short"}}, "at least 16"},
		{webhook.Config{URL: "https://platform.example.com/hook", Secrets: []string{secret, "short"}}, "SecretNext must be at least 16"},
		{webhook.Config{URL: "https://platform.example.com/hook", Secrets: []string{secret, secret}}, "must differ"},
		{webhook.Config{URL: "https://platform.example.com/hook", Secrets: []string{secret, nextSecret}}, ""},
		{webhook.Config{URL: "http://127.0.0.1:9000/hook", Secrets: []string{secret}}, ""},
		{webhook.Config{URL: "http://[::1]:9000/hook", Secrets: []string{secret}}, ""},
		{webhook.Config{URL: "http://localhost/hook", Secrets: []string{secret}}, ""},
	} {
		err := tc.cfg.Validate()
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

func openStore(t *testing.T) *store.Store {
	t.Helper()
	return storetest.Open(t, t.TempDir())
}

// receiver is a real HTTP receiver on loopback that verifies every request
// with package verify and counts the events it handled, by id.
type receiver struct {
	srv      *httptest.Server
	v        *verify.Verifier
	mu       sync.Mutex
	handled  map[string]int
	events   []verify.Event
	requests atomic.Int64
	rejected atomic.Int64 // failed verification
	// fail decides whether to fail request n (from 1) before handling it.
	fail func(n int64) bool
}

func newReceiver(t *testing.T, secrets ...string) *receiver {
	return newReceiverWrapped(t, nil, secrets...)
}

// newReceiverWrapped puts wrap, if given, in front of the receiver.
func newReceiverWrapped(t *testing.T, wrap func(http.Handler) http.Handler, secrets ...string) *receiver {
	rc := &receiver{handled: map[string]int{}, fail: func(int64) bool { return false }}
	rc.v = &verify.Verifier{Secrets: secrets, Keys: &verify.MemoryKeys{}}
	h := rc.v.Handler(func(ev verify.Event) error {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		rc.handled[ev.ID]++
		rc.events = append(rc.events, ev)
		return nil
	})
	var front http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := rc.requests.Add(1)
		if rc.fail(n) {
			http.Error(w, "receiver down for maintenance", http.StatusServiceUnavailable)
			return
		}
		rw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(rw, r)
		if rw.status == http.StatusUnauthorized || rw.status == http.StatusBadRequest {
			rc.rejected.Add(1)
		}
	})
	if wrap != nil {
		front = wrap(front)
	}
	rc.srv = httptest.NewServer(front)
	t.Cleanup(rc.srv.Close)
	return rc
}

// handledCount is how many distinct events were handled.
func (rc *receiver) handledCount() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.handled)
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(s int) { w.status = s; w.ResponseWriter.WriteHeader(s) }

func enqueue(t *testing.T, st *store.Store, d engine.Decision) store.OutboxEvent {
	t.Helper()
	evs, err := webhook.Events(d)
	if err != nil {
		t.Fatal(err)
	}
	id, err := st.Enqueue(context.Background(), evs[0])
	if err != nil {
		t.Fatal(err)
	}
	e, _ := st.OutboxEvent(context.Background(), id)
	return e
}

func runDeliverer(t *testing.T, d *webhook.Deliverer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
}

func waitBacklog(t *testing.T, st *store.Store, want int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		n, err := st.OutboxBacklog(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("backlog %d after %v, want %d", n, within, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestReceiverFailingTwiceGetsTheEventOnce(t *testing.T) {
	st := openStore(t)
	rc := newReceiver(t, secret)
	rc.fail = func(n int64) bool { return n <= 2 }
	d, err := webhook.NewDeliverer(st, webhook.Config{URL: rc.srv.URL, Secrets: []string{secret},
		Backoff: webhook.Backoff{Initial: 20 * time.Millisecond, Max: 100 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	e := enqueue(t, st, engine.Decision{Kind: engine.DecisionLogout, User: "jane", At: t0})
	runDeliverer(t, d)
	d.Notify()
	waitBacklog(t, st, 0, 5*time.Second)

	got, _ := st.OutboxEvent(context.Background(), e.ID)
	if got.Attempts != 3 || got.DeliveredAt.IsZero() || got.LastError != "" {
		t.Errorf("outbox row after delivery: %+v, want 3 attempts, delivered", got)
	}
	if n := rc.requests.Load(); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.handled) != 1 || rc.handled[e.Key] != 1 || rc.rejected.Load() != 0 {
		t.Fatalf("handled %v (rejected %d), want %s once", rc.handled, rc.rejected.Load(), e.Key)
	}
	ev := rc.events[0]
	if ev.Type != webhook.EventLoggedOut || ev.User != "jane" || !ev.OccurredAt.Equal(t0) ||
		!strings.Contains(string(ev.Data), `"reroute":{"user":"jane","conversations":"all_active"}`) {
		t.Errorf("event %+v %s", ev, ev.Data)
	}
	b, err := d.Backlog(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if b.Backlog != 0 || b.Delivered != 1 || b.Failed != 2 || !strings.Contains(b.LastError, "HTTP 503") || b.LastDeliveredAt.IsZero() {
		t.Errorf("backlog %+v", b)
	}
}

// A response lost after the receiver handled the event: the retry carries
// the same key and the receiver does not handle it again.
func TestLostAnswerIsDeduplicatedByKey(t *testing.T) {
	st := openStore(t)
	var once sync.Once
	rc := newReceiverWrapped(t, func(inner http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			lost := false
			once.Do(func() { lost = true })
			if lost {
				inner.ServeHTTP(&discardWriter{}, r) // handled, but the answer never gets out:
				panic(http.ErrAbortHandler)          // the connection drops
			}
			inner.ServeHTTP(w, r)
		})
	}, secret)
	d, err := webhook.NewDeliverer(st, webhook.Config{URL: rc.srv.URL, Secrets: []string{secret},
		Backoff: webhook.Backoff{Initial: 10 * time.Millisecond, Max: 50 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	e := enqueue(t, st, engine.Decision{Kind: engine.DecisionWarn, User: "jane", At: t0, Deadline: t0.Add(time.Minute)})
	runDeliverer(t, d)
	waitBacklog(t, st, 0, 5*time.Second)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.handled[e.Key] != 1 {
		t.Errorf("handled %v, want once", rc.handled)
	}
}

type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header {
	if w.h == nil {
		w.h = http.Header{}
	}
	return w.h
}
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(int)             {}

func TestRotationSignsWithBothSecrets(t *testing.T) {
	st := openStore(t)
	var sigs []string
	var mu sync.Mutex
	record := func(inner http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			sigs = append(sigs, r.Header.Get(webhook.SignatureHeader))
			mu.Unlock()
			inner.ServeHTTP(w, r)
		})
	}
	old := newReceiverWrapped(t, record, secret)       // a receiver not yet moved to the new secret
	moved := newReceiverWrapped(t, record, nextSecret) // one already moved
	for _, rc := range []*receiver{old, moved} {
		d, err := webhook.NewDeliverer(st, webhook.Config{URL: rc.srv.URL, Secrets: []string{secret, nextSecret}})
		if err != nil {
			t.Fatal(err)
		}
		enqueue(t, st, engine.Decision{Kind: engine.DecisionLogout, User: "u-" + rc.srv.URL, At: t0})
		if _, err := d.DeliverDue(context.Background()); err != nil {
			t.Fatal(err)
		}
		if rc.handledCount() != 1 || rc.rejected.Load() != 0 {
			t.Errorf("receiver with one of the secrets: handled %d, rejected %d", rc.handledCount(), rc.rejected.Load())
		}
	}
	for _, s := range sigs {
		if strings.Count(s, ",v1=") != 2 || !strings.HasPrefix(s, "t=") {
			t.Errorf("signature during a rotation: %q, want t= and two v1=", s)
		}
	}
	// A receiver with neither secret refuses, and the event stays queued.
	stranger := newReceiver(t, "some-other-secret-entirely")
	d, _ := webhook.NewDeliverer(st, webhook.Config{URL: stranger.srv.URL, Secrets: []string{secret}})
	enqueue(t, st, engine.Decision{Kind: engine.DecisionLogout, User: "x", At: t0})
	if _, err := d.DeliverDue(context.Background()); err != nil {
		t.Fatal(err)
	}
	if stranger.rejected.Load() != 1 || stranger.handledCount() != 0 {
		t.Errorf("wrong secret: rejected %d handled %d", stranger.rejected.Load(), stranger.handledCount())
	}
	if n, _ := st.OutboxBacklog(context.Background()); n != 1 {
		t.Errorf("backlog %d after a refused delivery, want 1", n)
	}
}

func TestShutdownLeavesTheEventDue(t *testing.T) {
	st := openStore(t)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	d, _ := webhook.NewDeliverer(st, webhook.Config{URL: srv.URL, Secrets: []string{secret}})
	e := enqueue(t, st, engine.Decision{Kind: engine.DecisionLogout, User: "jane", At: t0})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	time.Sleep(200 * time.Millisecond) // the request is in flight
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	got, _ := st.OutboxEvent(context.Background(), e.ID)
	if got.Attempts != 0 || !got.DeliveredAt.IsZero() {
		t.Errorf("after a shutdown mid-request: %+v, want untouched", got)
	}
}
