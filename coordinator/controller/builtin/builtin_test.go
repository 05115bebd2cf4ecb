package builtin_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vigil-cc/vigil/internal/storetest"

	"github.com/vigil-cc/vigil/coordinator/controller/builtin"
	"github.com/vigil-cc/vigil/coordinator/core"
	"github.com/vigil-cc/vigil/coordinator/engine"
	"github.com/vigil-cc/vigil/coordinator/store"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// auditRecorder stores the core's batches as the coordinator's recorder
// does: one audit entry per decision, snapshots, alive mark.
type auditRecorder struct{ st *store.Store }

func (r auditRecorder) Record(ctx context.Context, b core.Batch) error {
	return r.st.Tx(ctx, func(tx *store.Tx) error {
		for _, d := range b.Decisions {
			kind := map[engine.DecisionKind]string{engine.DecisionWarn: "user.warned", engine.DecisionWithdraw: "user.warning_withdrawn",
				engine.DecisionLogout: "user.logged_out", engine.DecisionSensorLost: "sensor.lost"}[d.Kind]
			if _, err := tx.Audit(ctx, store.AuditEntry{At: d.At, Actor: "system", Kind: kind, User: d.User}); err != nil {
				return err
			}
		}
		if err := tx.SaveSnapshots(ctx, b.Snapshots); err != nil {
			return err
		}
		return tx.SetAliveUntil(ctx, b.AliveUntil)
	})
}

// rig is a real store and a real core with a fake clock, and the built-in
// controller on them. Tests call Settle where Run would be woken.
type rig struct {
	t    *testing.T
	dir  string // the store's data directory
	st   *store.Store
	core *core.Core
	ctl  *builtin.Controller

	mu  sync.Mutex
	now time.Time
}

func newRig(t *testing.T, path string) *rig {
	t.Helper()
	if path == "" {
		path = t.TempDir()
	}
	r := &rig{t: t, dir: path, now: t0}
	r.open(nil)
	return r
}

func (r *rig) open(snaps []engine.Snapshot) {
	r.t.Helper()
	ctx := context.Background()
	st := storetest.Open(r.t, r.dir)
	var err error
	eng := engine.New(engine.Settings{Enabled: true, Timeout: 30 * time.Second}, 0)
	r.st = st
	r.core = core.New(eng, auditRecorder{st}, r.clock, slog.New(slog.DiscardHandler))
	if r.ctl, err = builtin.New(ctx, st, r.core, builtin.Config{}); err != nil {
		r.t.Fatal(err)
	}
	r.core.OnDecisions(r.ctl.Decisions)
	if snaps != nil {
		r.core.Do("", func(e *engine.Engine, now time.Time) []engine.Decision { return e.Restore(now, now, snaps) })
	}
}

// restart is a crash and a restart on the same file: the engine's state
// comes back from snapshots, the controller's from the store.
func (r *rig) restart() {
	r.t.Helper()
	var snaps []engine.Snapshot
	r.core.View(func(e *engine.Engine) { snaps = e.Snapshots() })
	r.st.Close()
	r.open(snaps)
}

func (r *rig) clock() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.now
}

// at moves the clock to t0+d, fires what fell due and settles.
func (r *rig) at(d time.Duration) {
	r.t.Helper()
	r.mu.Lock()
	r.now = t0.Add(d)
	r.mu.Unlock()
	r.core.Do("", func(e *engine.Engine, now time.Time) []engine.Decision { return e.Advance(now) })
	r.settle()
}

func (r *rig) settle() {
	r.t.Helper()
	if err := r.ctl.Settle(context.Background()); err != nil {
		r.t.Fatalf("Settle: %v", err)
	}
}

func (r *rig) login(users ...string) {
	r.t.Helper()
	for _, u := range users {
		r.core.Do(u, func(e *engine.Engine, now time.Time) []engine.Decision { return e.DeskLogin(now, u) })
	}
	r.settle()
}

func (r *rig) deskLogout(u string) {
	r.t.Helper()
	r.core.Do(u, func(e *engine.Engine, now time.Time) []engine.Decision { return e.DeskLogout(now, u) })
	r.settle()
}

func (r *rig) create(channel string) store.Conversation {
	r.t.Helper()
	c, err := r.ctl.Create(context.Background(), channel, "customer-"+channel, "integration:test")
	if err != nil {
		r.t.Fatalf("Create: %v", err)
	}
	return c
}

func (r *rig) status(u string) engine.State {
	var st engine.State
	r.core.View(func(e *engine.Engine) { st, _ = e.State(u) })
	return st
}

// holding maps each user to the seqs of the open conversations they hold;
// "" holds the queue.
func (r *rig) holding() map[string][]int64 {
	r.t.Helper()
	cs, err := r.st.Conversations(context.Background(), store.ConversationFilter{OpenOnly: true, Limit: -1})
	if err != nil {
		r.t.Fatal(err)
	}
	out := map[string][]int64{}
	for _, c := range cs {
		out[c.User] = append(out[c.User], c.Seq)
	}
	return out
}

func (r *rig) wantHolding(want map[string][]int64) {
	r.t.Helper()
	got := r.holding()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		r.t.Fatalf("conversations held: %v, want %v", got, want)
	}
}

type routed struct {
	Conversation  string `json:"conversation"`
	From          string `json:"from"`
	To            string `json:"to"`
	Queued        bool   `json:"queued"`
	Reason        string `json:"reason"`
	LogoutAuditID int64  `json:"logout_audit_id"`
	FromQueue     bool   `json:"from_queue"`
	ReroutedFrom  string `json:"rerouted_from"`
}

// audits returns the entries of kind, oldest first, with their details.
func (r *rig) audits(kind string) ([]store.AuditEntry, []routed) {
	r.t.Helper()
	es, err := r.st.AuditEntries(context.Background(), store.AuditFilter{Kind: kind, Limit: 1000})
	if err != nil {
		r.t.Fatal(err)
	}
	slices.Reverse(es)
	var ds []routed
	for _, e := range es {
		var d routed
		_ = json.Unmarshal(e.Detail, &d)
		ds = append(ds, d)
	}
	return es, ds
}

func (r *rig) seqOf(id string) int64 {
	r.t.Helper()
	c, err := r.st.Conversation(context.Background(), id)
	if err != nil {
		r.t.Fatal(err)
	}
	return c.Seq
}

func TestLogoutReroutesToTheLeastLoadedAvailableUser(t *testing.T) {
	r := newRig(t, "")
	r.login("alice", "bob", "carol")
	for range 5 {
		r.create("chat")
	}
	// All at 0: ties go to who never ended one, then by name.
	r.wantHolding(map[string][]int64{"alice": {1, 4}, "bob": {2, 5}, "carol": {3}})

	// bob ends #2 at 5 s, so of bob and carol (both at 1) carol, who never
	// ended one, gets #6.
	r.at(5 * time.Second)
	if _, err := r.ctl.End(context.Background(), r.holdingID(t, "bob", 2), "integration:test"); err != nil {
		t.Fatal(err)
	}
	r.at(6 * time.Second)
	r.create("chat")
	r.wantHolding(map[string][]int64{"alice": {1, 4}, "bob": {5}, "carol": {3, 6}})

	// bob and carol log in again at 20 s (their clocks restart); alice is
	// warned at 24 s and logged out at 30 s.
	r.at(20 * time.Second)
	r.login("bob", "carol")
	r.at(24 * time.Second)
	if s := r.status("alice").Status; s != engine.StatusWarned {
		t.Fatalf("alice at 24 s: %s, want warned", s)
	}
	r.at(30 * time.Second)
	if s := r.status("alice").Status; s != engine.StatusLoggedOut {
		t.Fatalf("alice at 30 s: %s, want logged_out", s)
	}
	// #1 to bob (1 < 2); then bob 2, carol 2: carol never ended one → #4.
	r.wantHolding(map[string][]int64{"bob": {1, 5}, "carol": {3, 4, 6}})

	logouts, _ := r.audits("user.logged_out")
	if len(logouts) != 1 || logouts[0].User != "alice" {
		t.Fatalf("logout audit: %+v", logouts)
	}
	entries, ds := r.audits("conversation.rerouted")
	if len(ds) != 2 {
		t.Fatalf("%d reroutes audited, want 2: %+v", len(ds), ds)
	}
	for i, want := range []struct {
		seq int64
		to  string
	}{{1, "bob"}, {4, "carol"}} {
		d := ds[i]
		if r.seqOf(d.Conversation) != want.seq || d.From != "alice" || d.To != want.to || d.Reason != "logout" ||
			d.LogoutAuditID != logouts[0].ID || entries[i].User != "alice" {
			t.Errorf("reroute %d: %+v (user %q), want #%d alice → %s joined to logout %d", i, d, entries[i].User, want.seq, want.to, logouts[0].ID)
		}
	}
}

func (r *rig) holdingID(t *testing.T, user string, seq int64) string {
	t.Helper()
	cs, err := r.st.Conversations(context.Background(), store.ConversationFilter{User: user, OpenOnly: true, Limit: -1})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if c.Seq == seq {
			return c.ID
		}
	}
	t.Fatalf("%s holds no #%d", user, seq)
	return ""
}

func TestNobodyAvailableQueuesInOrderUntilALogin(t *testing.T) {
	r := newRig(t, "")
	r.login("alice")
	for range 2 {
		r.create("chat")
	}
	r.create("voice")
	r.wantHolding(map[string][]int64{"alice": {1, 2, 3}})
	// alice is full: #4 and #5 queue.
	r.create("chat")
	r.create("video")
	r.wantHolding(map[string][]int64{"": {4, 5}, "alice": {1, 2, 3}})

	// alice is logged out at 30 s: her three join the queue, which is
	// served in arrival order; nobody is there.
	r.at(30 * time.Second)
	r.wantHolding(map[string][]int64{"": {1, 2, 3, 4, 5}})
	_, ds := r.audits("conversation.rerouted")
	if len(ds) != 3 {
		t.Fatalf("reroutes %+v", ds)
	}
	for _, d := range ds {
		if !d.Queued || d.To != "" || d.From != "alice" || d.LogoutAuditID == 0 {
			t.Errorf("reroute to the queue: %+v", d)
		}
	}

	// dan (capacity 2) logs in: #1 and #2. erin (default 3): #3, #4, #5.
	if _, err := r.ctl.SetCapacity(context.Background(), "dan", 2, "admin:test"); err != nil {
		t.Fatal(err)
	}
	r.at(31 * time.Second)
	r.login("dan")
	r.wantHolding(map[string][]int64{"": {3, 4, 5}, "dan": {1, 2}})
	r.login("erin")
	r.wantHolding(map[string][]int64{"dan": {1, 2}, "erin": {3, 4, 5}})

	entries, as := r.audits("conversation.assigned")
	if len(as) != 5 {
		t.Fatalf("%d assignments from the queue, want 5", len(as))
	}
	for i, a := range as {
		wantTo := map[bool]string{true: "dan", false: "erin"}[i < 2]
		if r.seqOf(a.Conversation) != int64(i+1) || a.To != wantTo || !a.FromQueue || entries[i].User != wantTo {
			t.Errorf("assignment %d: %+v, want #%d to %s", i, a, i+1, wantTo)
		}
		if i < 3 && (a.ReroutedFrom != "alice" || a.LogoutAuditID == 0) {
			t.Errorf("assignment %d of alice's conversation does not say where it came from: %+v", i, a)
		}
	}
}

func TestWarnedUserGetsNoneUntilTheWarningIsWithdrawn(t *testing.T) {
	r := newRig(t, "")
	r.login("bob")
	r.at(4 * time.Second)
	r.login("alice")
	r.at(24 * time.Second) // bob warned; alice at 20 s
	if s := r.status("bob").Status; s != engine.StatusWarned {
		t.Fatalf("bob: %s", s)
	}
	for range 4 {
		r.create("chat")
	}
	r.wantHolding(map[string][]int64{"": {4}, "alice": {1, 2, 3}})
	// bob dismisses the warning (a re-login here): the queue is served.
	r.at(25 * time.Second)
	r.login("bob")
	r.wantHolding(map[string][]int64{"alice": {1, 2, 3}, "bob": {4}})
	// A warned user keeps what they hold.
	r.at(28 * time.Second) // alice warned at 28 s
	if s := r.status("alice").Status; s != engine.StatusWarned {
		t.Fatalf("alice: %s", s)
	}
	r.wantHolding(map[string][]int64{"alice": {1, 2, 3}, "bob": {4}})
	// Leaving the Agent Desk gives them up, like a logout.
	r.deskLogout("alice")
	r.wantHolding(map[string][]int64{"": {3}, "bob": {1, 2, 4}})
	_, ds := r.audits("conversation.rerouted")
	if len(ds) != 3 || ds[0].Reason != "desk_logout" || ds[0].LogoutAuditID != 0 {
		t.Errorf("reroutes after a desk logout: %+v", ds)
	}
}

func TestVoiceAcceptedPausesTheClockUntilItEnds(t *testing.T) {
	r := newRig(t, "")
	r.login("alice")
	ctx := context.Background()
	chat := r.create("chat")
	voice := r.create("voice")
	if _, err := r.ctl.Accept(ctx, chat.ID, "integration:test"); err != nil {
		t.Fatal(err)
	}
	if st := r.status("alice"); st.Status != engine.StatusActive {
		t.Fatalf("after accepting a chat: %+v", st)
	}
	r.at(10 * time.Second)
	if _, err := r.ctl.Accept(ctx, voice.ID, "integration:test"); err != nil {
		t.Fatal(err)
	}
	st := r.status("alice")
	if st.Status != engine.StatusPaused || st.Reasons != engine.ReasonOnCall {
		t.Fatalf("on a voice call: %+v, want paused on_call", st)
	}
	// The call lasts past the warning point: no warning, the clock frozen.
	r.at(40 * time.Second)
	if st := r.status("alice"); st.Status != engine.StatusPaused || st.Inactivity != 10*time.Second {
		t.Fatalf("40 s, still on the call: %+v, want paused at 10 s", st)
	}
	if _, err := r.ctl.End(ctx, voice.ID, "integration:test"); err != nil {
		t.Fatal(err)
	}
	r.at(45 * time.Second)
	if st := r.status("alice"); st.Status != engine.StatusActive || st.Inactivity != 15*time.Second {
		t.Fatalf("5 s after the call: %+v, want active at 15 s", st)
	}
	// Ending again changes nothing; accepting an ended one is refused.
	if c, err := r.ctl.End(ctx, voice.ID, "integration:test"); err != nil || c.State != store.ConversationEnded {
		t.Errorf("ending twice: %+v %v", c, err)
	}
	if _, err := r.ctl.Accept(ctx, voice.ID, "integration:test"); !errors.Is(err, builtin.ErrConflict) {
		t.Errorf("accepting an ended conversation: %v", err)
	}
}

func TestQueuedConversationCannotBeAccepted(t *testing.T) {
	r := newRig(t, "")
	c := r.create("chat")
	if c.State != store.ConversationQueued {
		t.Fatalf("with nobody logged in: %+v", c)
	}
	if _, err := r.ctl.Accept(context.Background(), c.ID, "x"); !errors.Is(err, builtin.ErrConflict) {
		t.Errorf("accepting a queued conversation: %v, want ErrConflict", err)
	}
	if _, err := r.ctl.Create(context.Background(), "fax", "c", "x"); !errors.Is(err, builtin.ErrInvalid) {
		t.Errorf("channel fax: %v, want ErrInvalid", err)
	}
	if _, err := r.ctl.SetCapacity(context.Background(), "a", -1, "x"); !errors.Is(err, builtin.ErrInvalid) {
		t.Errorf("capacity -1: %v, want ErrInvalid", err)
	}
}

func TestRestartLosesNoConversation(t *testing.T) {
	r := newRig(t, "")
	r.login("alice")
	ctx := context.Background()
	if _, err := r.ctl.SetCapacity(ctx, "alice", 1, "admin:test"); err != nil {
		t.Fatal(err)
	}
	voice := r.create("voice")
	if _, err := r.ctl.Accept(ctx, voice.ID, "integration:test"); err != nil {
		t.Fatal(err)
	}
	r.create("chat")
	r.wantHolding(map[string][]int64{"": {2}, "alice": {1}})

	r.restart()
	r.settle()
	r.wantHolding(map[string][]int64{"": {2}, "alice": {1}})
	if g := r.ctl.Agent("alice"); g.Capacity != 1 || g.Load != 1 || !g.Available {
		t.Errorf("alice after restart: %+v", g)
	}
	if st := r.status("alice"); st.Reasons != engine.ReasonOnCall {
		t.Errorf("alice after restart: %+v, want still on the call", st)
	}
	// The call ends after the restart: the queue is served and the clock runs.
	if _, err := r.ctl.End(ctx, voice.ID, "integration:test"); err != nil {
		t.Fatal(err)
	}
	r.wantHolding(map[string][]int64{"alice": {2}})
	if st := r.status("alice"); st.Status != engine.StatusActive {
		t.Errorf("after the call: %+v", st)
	}
	if c := r.create("chat"); c.Seq != 3 {
		t.Errorf("seq after restart: %d, want 3", c.Seq)
	}
}

func TestCrashBetweenLogoutAndRerouteIsRepairedAtStart(t *testing.T) {
	r := newRig(t, "")
	r.login("alice", "bob")
	r.create("chat")
	r.create("chat")
	r.wantHolding(map[string][]int64{"alice": {1}, "bob": {2}})
	r.at(20 * time.Second)
	r.login("bob")
	// alice is logged out, but the controller never gets to act (no Settle).
	r.mu.Lock()
	r.now = t0.Add(30 * time.Second)
	r.mu.Unlock()
	r.core.Do("", func(e *engine.Engine, now time.Time) []engine.Decision { return e.Advance(now) })
	r.wantHolding(map[string][]int64{"alice": {1}, "bob": {2}})

	r.restart()
	r.settle() // what Run does first
	r.wantHolding(map[string][]int64{"bob": {1, 2}})
	logouts, _ := r.audits("user.logged_out")
	_, ds := r.audits("conversation.rerouted")
	if len(ds) != 1 || ds[0].LogoutAuditID != logouts[0].ID || ds[0].To != "bob" {
		t.Errorf("reroute after the restart: %+v", ds)
	}
}

func TestRunReroutesWhenTheEngineDecides(t *testing.T) {
	r := newRig(t, "")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.ctl.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	r.create("chat")
	r.core.Do("alice", func(e *engine.Engine, now time.Time) []engine.Decision { return e.DeskLogin(now, "alice") })
	waitHolding(t, r, map[string][]int64{"alice": {1}})
	r.core.Do("bob", func(e *engine.Engine, now time.Time) []engine.Decision { return e.DeskLogin(now, "bob") })
	r.mu.Lock()
	r.now = t0.Add(30 * time.Second)
	r.mu.Unlock()
	r.core.Do("bob", func(e *engine.Engine, now time.Time) []engine.Decision { return e.DeskLogin(now, "bob") })
	r.core.Do("", func(e *engine.Engine, now time.Time) []engine.Decision { return e.Advance(now) })
	waitHolding(t, r, map[string][]int64{"bob": {1}})
}

func waitHolding(t *testing.T, r *rig, want map[string][]int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for fmt.Sprint(r.holding()) != fmt.Sprint(want) {
		if time.Now().After(deadline) {
			t.Fatalf("conversations held: %v, want %v", r.holding(), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestCapacityIsNeverExceeded runs random operations and checks, after
// each, that nobody was given a conversation beyond their capacity, nobody
// unavailable holds a new one, and no conversation is lost.
func TestCapacityIsNeverExceeded(t *testing.T) {
	r := newRig(t, "")
	ctx := context.Background()
	rnd := rand.New(rand.NewPCG(1, 2))
	users := []string{"ann", "ben", "cy", "dee"}
	caps := map[string]int{}
	for _, u := range users {
		caps[u] = builtin.DefaultCapacity
	}
	created := 0
	clock := time.Duration(0)
	before := r.holding()
	for step := range 200 {
		clock += time.Duration(rnd.IntN(4000)) * time.Millisecond
		u := users[rnd.IntN(len(users))]
		switch op := rnd.IntN(10); {
		case op < 4:
			r.create([]string{"chat", "voice", "video"}[rnd.IntN(3)])
			created++
		case op < 6:
			if open := r.holding()[u]; len(open) > 0 {
				id := r.holdingID(t, u, open[rnd.IntN(len(open))])
				if rnd.IntN(2) == 0 {
					_, _ = r.ctl.Accept(ctx, id, "t")
				} else if _, err := r.ctl.End(ctx, id, "t"); err != nil {
					t.Fatal(err)
				}
			}
		case op < 8:
			r.login(u)
		case op < 9:
			n := rnd.IntN(4)
			if _, err := r.ctl.SetCapacity(ctx, u, n, "t"); err != nil {
				t.Fatal(err)
			}
			caps[u] = n
		default:
			r.deskLogout(u)
		}
		r.at(clock)
		after := r.holding()
		for _, v := range users {
			if len(after[v]) > len(before[v]) && len(after[v]) > caps[v] {
				t.Fatalf("step %d: %s holds %v, capacity %d", step, v, after[v], caps[v])
			}
			if s := r.status(v).Status; len(after[v]) > 0 && (s == engine.StatusLoggedOut || s == engine.StatusOffline) {
				t.Fatalf("step %d: %s is %s but holds %v", step, v, s, after[v])
			}
		}
		all, err := r.st.Conversations(ctx, store.ConversationFilter{Limit: -1})
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != created {
			t.Fatalf("step %d: %d conversations stored, %d created", step, len(all), created)
		}
		before = after
	}
}
