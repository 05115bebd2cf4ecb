package coordinator

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/vigil-cc/vigil/internal/storetest"

	"github.com/vigil-cc/vigil/coordinator/controller/webhook"
	"github.com/vigil-cc/vigil/coordinator/controller/webhook/verify"
	"github.com/vigil-cc/vigil/coordinator/core"
	"github.com/vigil-cc/vigil/coordinator/engine"
	"github.com/vigil-cc/vigil/coordinator/store"
	"github.com/vigil-cc/vigil/internal/testrig"
)

// flakyReceiver is a real HTTP receiver on loopback that fails 30 % of the
// requests: half of those before handling the event (503), half after
// handling it, dropping the connection so the answer is lost. It verifies
// every request and handles each idempotency key once.
type flakyReceiver struct {
	mu       sync.Mutex
	rnd      *rand.Rand
	handled  map[string]int // event id → times handled
	byType   map[string]int
	requests int
	failed   int
	rejected int
}

func (f *flakyReceiver) handler(secret string) http.Handler {
	v := &verify.Verifier{Secrets: []string{secret}, Keys: &verify.MemoryKeys{}}
	inner := v.Handler(func(ev verify.Event) error {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.handled[ev.ID]++
		f.byType[ev.Type]++
		return nil
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.requests++
		x := f.rnd.Float64()
		if x < 0.3 {
			f.failed++
		}
		f.mu.Unlock()
		switch {
		case x < 0.15:
			http.Error(w, "flaky", http.StatusServiceUnavailable)
		case x < 0.3:
			inner.ServeHTTP(&lostAnswer{header: http.Header{}}, r)
			panic(http.ErrAbortHandler)
		default:
			rw := &codeWriter{ResponseWriter: w}
			inner.ServeHTTP(rw, r)
			if rw.code == http.StatusUnauthorized || rw.code == http.StatusBadRequest {
				f.mu.Lock()
				f.rejected++
				f.mu.Unlock()
			}
		}
	})
}

type lostAnswer struct{ header http.Header }

func (w *lostAnswer) Header() http.Header         { return w.header }
func (w *lostAnswer) Write(b []byte) (int, error) { return len(b), nil }
func (w *lostAnswer) WriteHeader(int)             {}

type codeWriter struct {
	http.ResponseWriter
	code int
}

func (w *codeWriter) WriteHeader(c int) { w.code = c; w.ResponseWriter.WriteHeader(c) }

// TestNothingLostAcross1000Logouts drives the real engine, core and
// recorder (the decisions' path in the coordinator) with a fake clock: 1000
// users log in to the Agent Desk 30 ms apart and are each warned and logged
// out, 2000 events recorded in the transactions that audit them, while the
// webhook controller delivers to a receiver failing 30 % of the time. Every
// event arrives and is handled exactly once.
func TestNothingLostAcross1000Logouts(t *testing.T) {
	if testing.Short() {
		t.Skip("delivers 2000 webhooks")
	}
	t.Parallel()
	ctx := context.Background()
	st := storetest.Open(t, t.TempDir())

	const secret = "a-secret-for-1000-logouts"
	rc := &flakyReceiver{rnd: rand.New(rand.NewPCG(7, 30)), handled: map[string]int{}, byType: map[string]int{}}
	srv := httptest.NewServer(rc.handler(secret))
	defer srv.Close()

	ctl, err := webhook.New(st, webhook.Config{URL: srv.URL, Secrets: []string{secret}, Batch: 100,
		Backoff: webhook.Backoff{Initial: 5 * time.Millisecond, Max: 100 * time.Millisecond}, Poll: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	// The decisions are in the past of the deliverer's real clock, so they are due at once.
	t0 := time.Now().Add(-2 * time.Minute).Truncate(time.Second)
	now := t0
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	rec := &recorder{st: st, ctl: ctl}
	c := core.New(engine.New(engine.Settings{Enabled: true, Timeout: 30 * time.Second}, 0), rec, clock, slog.New(slog.DiscardHandler))
	c.OnDecisions(ctl.Decisions)
	defer func() {
		// The test drives the core by hand and never Runs it; Run with an
		// ended context is how a core stops: a last flush, and its store
		// worker goroutine ends (goleak checks it does).
		ended, cancel := context.WithCancel(ctx)
		cancel()
		if err := c.Run(ended); err != nil {
			t.Errorf("stopping the core: %v", err)
		}
	}()

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- ctl.Run(runCtx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	const users = 1000
	start := time.Now()
	step := func(d time.Duration) {
		mu.Lock()
		now = now.Add(d)
		mu.Unlock()
		c.Do("", func(e *engine.Engine, now time.Time) []engine.Decision { return e.Advance(now) })
	}
	for i := range users {
		u := "user" + strconv.Itoa(i)
		c.Do(u, func(e *engine.Engine, now time.Time) []engine.Decision { return e.DeskLogin(now, u) })
		step(30 * time.Millisecond)
	}
	for now.Sub(t0) < 31*time.Second+users*30*time.Millisecond {
		step(250 * time.Millisecond)
	}
	recorded := time.Since(start)

	testrig.Eventually(t, 45*time.Second, func() (bool, string) {
		n, err := st.OutboxBacklog(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n == 0, fmt.Sprintf("outbox backlog %d", n)
	})
	logouts, err := st.AuditEntries(ctx, store.AuditFilter{Kind: "user.logged_out", Limit: store.MaxAuditLimit})
	if err != nil {
		t.Fatal(err)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	t.Logf("recorded in %v, delivered in %v: %d requests, %d failed, %d distinct events",
		recorded, time.Since(start), rc.requests, rc.failed, len(rc.handled))
	if len(logouts) != users {
		t.Errorf("%d logouts audited, want %d", len(logouts), users)
	}
	if len(rc.handled) != 2*users || rc.byType[webhook.EventWarned] != users || rc.byType[webhook.EventLoggedOut] != users {
		t.Errorf("handled %d distinct events (%v), want %d warned and %d logged out", len(rc.handled), rc.byType, users, users)
	}
	for id, n := range rc.handled {
		if n != 1 {
			t.Errorf("event %s handled %d times", id, n)
		}
	}
	if rc.rejected != 0 || rc.failed < users/2 {
		t.Errorf("%d requests failed verification, %d failed on purpose", rc.rejected, rc.failed)
	}
}
