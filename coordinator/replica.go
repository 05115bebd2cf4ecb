package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/vigil-cc/vigil/coordinator/engine"
	"github.com/vigil-cc/vigil/coordinator/policy"
	"github.com/vigil-cc/vigil/coordinator/store"
)

// Replicas (docs/deploy.md, "Replicas"): coordinators on one PostgreSQL
// database hold the leader's lease in turns. The leader runs the engine,
// the controller and every decision, each decision's transaction fenced by
// the lease's epoch; a standby serves the admin pages and the API, refuses
// agents with CloseNotLeader naming the leader, and takes the lease when it
// lapses. A takeover is a restart in place: a fresh engine, the clocks
// restored from the database exactly as a starting process restores them
// (restoreClocks), so every timing rule of a restart holds across it.

// Lease timing. A killed leader's lease lapses at most leaseTTL after its
// last renewal, and a standby looks every leasePoll: a takeover within
// leaseTTL + leasePoll (+ the restore). A leader that cannot renew for
// leaseTTL − leaseRenew steps down on its own, before the lease can lapse.
const (
	leaseTTL   = 8 * time.Second
	leaseRenew = 2 * time.Second
	leasePoll  = time.Second
	// settingsPoll: how soon the leader applies settings another replica
	// saved.
	settingsPoll = time.Second
)

// replica is this coordinator's part in the election.
type replica struct {
	s    *Server
	id   string // this run's holder id
	addr string // advertised to agents as the leader's URL

	mu sync.Mutex
	// leads: it serves as the leader (agents, /readyz, the engine's
	// paths); holds: it holds lease and may record decisions. A takeover
	// holds before it leads: the clocks are restored first, with no agent
	// or request reaching the engine meanwhile.
	leads, holds bool
	lease        store.Lease // held while holds
	leader       string      // the leader's URL as last seen ("" unknown)

	fenced chan struct{} // the recorder found the lease taken over
}

func newReplica(s *Server, addr string) *replica {
	return &replica{s: s, id: store.NewID(), addr: addr, fenced: make(chan struct{}, 1)}
}

// state is whether this replica leads and, if not, the leader's URL.
func (r *replica) state() (bool, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.leads, r.leader
}

// current is the lease to fence decisions with; ok false on a standby.
func (r *replica) current() (store.Lease, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lease, r.holds
}

// lostLease is the recorder's word that a decision was fenced.
func (r *replica) lostLease() {
	select {
	case r.fenced <- struct{}{}:
	default:
	}
}

func (r *replica) set(leads bool, l store.Lease, leader string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.leads, r.holds, r.lease, r.leader = leads, leads, l, leader
}

// restoring holds l without leading yet: the takeover's restore may record
// its decisions, while agents and requests are still turned away (naming
// no leader, so they come back after their backoff).
func (r *replica) restoring(l store.Lease) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.leads, r.holds, r.lease, r.leader = false, true, l, ""
}

// tryLead takes the lease if it is free, and then the engine.
func (r *replica) tryLead(ctx context.Context) (bool, error) {
	actx, cancel := context.WithTimeout(ctx, leaseTTL)
	l, ok, err := r.s.Store.AcquireLease(actx, r.id, r.addr, leaseTTL)
	cancel()
	if err != nil {
		return false, err
	}
	if !ok {
		leader := ""
		if l.Live {
			leader = l.Address
		}
		r.set(false, store.Lease{}, leader)
		return false, nil
	}
	if err := r.takeOver(ctx, l); err != nil {
		r.stepDown(ctx)
		return false, err
	}
	return true, nil
}

// takeOver starts leading with lease l: settings and clocks as a starting
// process loads them, then the takeover in the audit.
func (r *replica) takeOver(ctx context.Context, l store.Lease) error {
	s := r.s
	prev, err := s.Store.AuditEntries(ctx, store.AuditFilter{Kind: "coordinator.leader", Limit: 1})
	if err != nil {
		return err
	}
	settings, err := s.Store.Settings(ctx)
	if err != nil {
		return err
	}
	s.Core.Reset(engine.New(policy.EngineSettings(settings), s.cfg.Grace))
	s.Policy.Adopt(settings)
	// Agents are let in only once the clocks are restored: a reading
	// applied before would be lost, and one applied to the engine before
	// its restore would count the outage as time the leader ran, deciding
	// every warning and logout due in the gap at once, before any agent
	// could report what its user did meanwhile.
	r.restoring(l)
	down, err := restoreClocks(ctx, s.cfg, s.Store, s.Core, engine.New(policy.EngineSettings(settings), s.cfg.Grace))
	if err != nil {
		return err
	}
	s.Downtime = down
	if rc, ok := s.Controller.(interface{ Reload(context.Context) error }); ok {
		// The built-in desk's conversations as the old leader left them.
		if err := rc.Reload(ctx); err != nil {
			return err
		}
	}
	detail := map[string]any{"epoch": l.Epoch, "holder": l.Holder, "address": l.Address,
		"clocks_stopped_from": down.From, "clocks_restored_at": down.To}
	if len(prev) > 0 {
		var p map[string]any
		if json.Unmarshal(prev[0].Detail, &p) == nil {
			detail["previous_address"], detail["previous_epoch"] = p["address"], p["epoch"]
		}
	}
	err = s.Store.FencedTx(ctx, l, func(tx *store.Tx) error {
		_, err := tx.Audit(ctx, system(down.To, "coordinator.leader", detail))
		return err
	})
	if err != nil {
		return fmt.Errorf("recording the takeover: %w", err)
	}
	r.set(true, l, r.addr)
	s.cfg.Log.Info("leading", "epoch", l.Epoch, "address", r.addr, "clocks_stopped_from", down.From)
	return nil
}

// stepDown leaves the engine empty and the agents to the leader.
func (r *replica) stepDown(ctx context.Context) {
	leader := ""
	if l, err := r.s.Store.Leader(ctx); err == nil && l.Live && l.Holder != r.id {
		leader = l.Address
	}
	r.set(false, store.Lease{}, leader)
	r.s.Hub.StepDown(leader)
	r.s.Core.Reset(engine.New(policy.EngineSettings(r.s.Policy.Settings()), r.s.cfg.Grace))
	r.s.cfg.Log.Warn("stepped down: another replica leads or may lead", "leader", leader)
}

// run takes part in the election until ctx ends: it leads while it holds
// the lease, and otherwise waits for the lease to lapse.
func (r *replica) run(ctx context.Context) error {
	var lastErr string
	for {
		if leads, _ := r.state(); leads {
			err := r.hold(ctx)
			if ctx.Err() != nil {
				return err
			}
			// It lost the lease: let the other replicas take it first
			// rather than snatch it back, which would make the leadership
			// flap between replicas that see the database unevenly.
			r.watch(ctx, leaseTTL)
			continue
		}
		ok, err := r.tryLead(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil && err.Error() != lastErr {
			r.s.cfg.Log.Error("taking part in the leader election", "err", err)
		}
		if err != nil {
			lastErr = err.Error()
		} else {
			lastErr = ""
		}
		if ok {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(leasePoll):
		}
	}
}

// watch follows who leads for d without competing.
func (r *replica) watch(ctx context.Context, d time.Duration) {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		select {
		case <-ctx.Done():
			return
		case <-time.After(leasePoll):
		}
		if l, err := r.s.Store.Leader(ctx); err == nil {
			leader := ""
			if l.Live && l.Holder != r.id {
				leader = l.Address
			}
			r.set(false, store.Lease{}, leader)
		}
	}
}

// hold runs the engine and the controller while the lease is renewed.
// When ctx ends it stops them, saves every clock and releases the lease
// (a standby takes over at once); when the lease is lost it steps down.
func (r *replica) hold(ctx context.Context) error {
	s := r.s
	lctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	coreDone, ctlDone := make(chan error, 1), make(chan error, 1)
	go func() { coreDone <- s.Core.Run(lctx) }()
	go func() { ctlDone <- s.Controller.Run(lctx) }()
	finish := func() error {
		stop()
		err := <-ctlDone
		return errors.Join(err, <-coreDone)
	}

	renew := time.NewTicker(leaseRenew)
	defer renew.Stop()
	settings := time.NewTicker(settingsPoll)
	defer settings.Stop()
	renewed := time.Now() // the lease was taken or renewed no earlier
	for {
		select {
		case <-ctx.Done():
			err := finish()
			l, _ := r.current()
			rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if rerr := s.Store.ReleaseLease(rctx, l); rerr != nil {
				s.cfg.Log.Warn("releasing the leader's lease", "err", rerr)
			}
			r.set(false, store.Lease{}, "")
			return err
		case <-r.fenced:
			s.cfg.Log.Warn("a decision was fenced: another replica took over")
		case <-settings.C:
			if cur, err := s.Store.Settings(ctx); err == nil {
				s.Policy.Adopt(cur)
			} else {
				s.cfg.Log.Warn("reading the settings", "err", err)
			}
			continue
		case <-renew.C:
			start := time.Now()
			l, _ := r.current()
			rctx, cancel := context.WithTimeout(ctx, leaseTTL/2)
			nl, err := s.Store.RenewLease(rctx, l, leaseTTL)
			cancel()
			if err == nil {
				renewed = start
				r.set(true, nl, r.addr)
				continue
			}
			if !errors.Is(err, store.ErrFenced) {
				if time.Since(renewed) < leaseTTL-leaseRenew {
					s.cfg.Log.Warn("renewing the leader's lease; trying again", "err", err)
					continue
				}
				s.cfg.Log.Error("could not renew the leader's lease before it may lapse", "err", err)
			}
		}
		// Lost: stop acting at once, then leave.
		r.set(false, store.Lease{}, "")
		if err := finish(); err != nil {
			s.cfg.Log.Info("the engine stopped after the lease was lost", "err", err)
		}
		r.stepDown(ctx)
		return nil
	}
}

// readyz answers 200 on the leader (or a coordinator alone on SQLite) and
// 503 on a standby, for load balancers.
func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	leads, leader := true, ""
	if s.rep != nil {
		leads, leader = s.rep.state()
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if leads {
		w.WriteHeader(http.StatusOK)
		_ = json.NewEncoder(w).Encode(map[string]string{"status": "leader"})
		return
	}
	w.WriteHeader(http.StatusServiceUnavailable)
	_ = json.NewEncoder(w).Encode(map[string]string{"status": "standby", "leader": leader})
}

// leaderOnly are the paths that need the engine or the built-in desk's
// live state: a standby answers them 503, naming the leader. Everything
// else (settings, people, devices, tokens, audit) works on every replica.
var leaderOnly = []string{"/api/v1/users", "/api/v1/desk/", "/api/v1/conversations", "/api/v1/agents",
	"/desk/", "/admin/dashboard"}

// gate refuses leaderOnly paths on a standby.
func (s *Server) gate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if leads, leader := s.rep.state(); !leads {
			for _, p := range leaderOnly {
				if strings.HasPrefix(r.URL.Path, p) {
					msg := "this coordinator is a standby replica; the leader is " + leader
					if leader == "" {
						msg = "this coordinator is a standby replica and no replica leads right now; try again shortly"
					}
					w.Header().Set("Retry-After", "1")
					if strings.HasPrefix(p, "/api/") {
						w.Header().Set("Content-Type", "application/json")
						w.WriteHeader(http.StatusServiceUnavailable)
						_ = json.NewEncoder(w).Encode(map[string]string{"error": msg, "leader": leader})
					} else {
						http.Error(w, msg, http.StatusServiceUnavailable)
					}
					return
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}
