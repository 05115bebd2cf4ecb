package loadgen

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Gen is one run of simulated agents.
type Gen struct {
	cfg Config
	hc  *clients

	base        string // the coordinator the API calls go to
	enrollToken string
	integration string // the platform's API token

	agents []*agent

	sent, received atomic.Int64
	end            atomic.Int64  // unix ns the run ends; 0 until the window starts
	timeoutS       atomic.Int64  // T of the last policy an agent got
	start          atomic.Int64  // unix ns the window started; 0 until then
	windowStarted  chan struct{} // closed when it starts

	emu  sync.Mutex
	errs []string
	nerr int

	conv *platform
}

// New checks cfg and makes a run of its agents; nothing is contacted yet.
func New(cfg Config) (*Gen, error) {
	cfg.defaults()
	cfg.URLs = append([]string(nil), cfg.URLs...)
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("load generator: %w", err)
	}
	g := &Gen{cfg: cfg, hc: newClients(cfg.Sources), windowStarted: make(chan struct{})}
	for n := cfg.First; n < cfg.First+cfg.Agents; n++ {
		g.agents = append(g.agents, newAgent(g, n))
	}
	return g, nil
}

// Run runs cfg's agents and reports on them (see Gen.Run).
func Run(ctx context.Context, cfg Config) (Report, error) {
	g, err := New(cfg)
	if err != nil {
		return Report{}, err
	}
	return g.Run(ctx)
}

// Agents is every agent's counters now; safe while Run runs.
func (g *Gen) Agents() []AgentState {
	out := make([]AgentState, len(g.agents))
	for i, a := range g.agents {
		out[i] = a.state()
	}
	return out
}

// Run prepares the coordinator (settings, tokens, accounts), connects
// every agent, runs the mix for cfg.Duration once all are connected, then
// disconnects them and reports. It returns an error only when the run
// could not start; what went wrong with single agents is in the report
// (Errors, and each agent's LastError). When ctx ends early the agents
// stop and Run reports what it saw.
func (g *Gen) Run(ctx context.Context) (Report, error) {
	defer g.hc.close()
	began := time.Now()
	if err := g.prepare(ctx); err != nil {
		return Report{}, err
	}
	prepared := time.Since(began)
	actx, stop := context.WithCancel(ctx)
	defer stop()
	started := time.Now()
	var wg, first sync.WaitGroup
	sem := make(chan struct{}, g.cfg.Dialers)
	for _, a := range g.agents {
		wg.Add(1)
		first.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			a.run(actx, func() { <-sem; first.Done() })
		}()
	}
	first.Wait()
	connecting := time.Since(started)
	g.cfg.Log.Info("agents connected", "agents", len(g.agents), "took", connecting.Round(time.Millisecond))
	if g.cfg.Hold != nil && ctx.Err() == nil {
		if err := g.cfg.Hold(); err != nil {
			stop()
			wg.Wait()
			return Report{}, fmt.Errorf("load generator: waiting to start: %w", err)
		}
	}

	w := window{start: time.Now(), sent: g.sent.Load(), received: g.received.Load()}
	g.end.Store(w.start.Add(g.cfg.Duration).UnixNano())
	g.start.Store(w.start.UnixNano())
	close(g.windowStarted)
	w.connected = g.connected()
	if pid := g.cfg.CoordinatorPID; pid != 0 {
		w.procStart, _ = ReadProc(pid)
	}
	w.selfStart, _ = ReadProc(os.Getpid())
	g.conv = newPlatform(g)
	pctx, pstop := context.WithCancel(actx)
	pdone := make(chan struct{})
	go func() { g.conv.run(pctx); close(pdone) }()

	select {
	case <-ctx.Done():
	case <-time.After(g.cfg.Duration):
	}
	w.end = time.Now()
	w.sentEnd, w.receivedEnd = g.sent.Load(), g.received.Load()
	w.connectedEnd = g.connected()
	if pid := g.cfg.CoordinatorPID; pid != 0 {
		w.procEnd, _ = ReadProc(pid)
	}
	w.selfEnd, _ = ReadProc(os.Getpid())
	pstop()
	<-pdone
	if g.cfg.LiveHeap {
		// With every agent still connected.
		var err error
		if w.heap, err = LiveHeap(context.Background(), g.hc.def, g.base, g.cfg.AdminToken); err != nil {
			g.noteErr(err)
		}
	}
	if g.cfg.AtEnd != nil && ctx.Err() == nil {
		if err := g.cfg.AtEnd(); err != nil {
			g.noteErr(fmt.Errorf("at the end of the window: %w", err))
		}
	}
	stop()
	wg.Wait()

	rep := g.report(w)
	rep.Preparing, rep.Connecting = prepared, connecting
	if g.cfg.LiveHeap {
		rep.coordinator().Heap = w.heap
	}
	// Conversations given to idle agents should have been rerouted when
	// those were logged out.
	rep.ConversationsToIdle, rep.Rerouted = g.conv.tally(context.Background(), w.end, time.Duration(g.timeoutS.Load())*time.Second)
	rep.Errors, rep.ErrorCount = g.errList()
	return rep, nil
}

// findBase picks the first coordinator that answers for the API calls.
func (g *Gen) findBase(ctx context.Context) error {
	if g.base != "" {
		return nil
	}
	var lastErr error
	for _, u := range g.cfg.URLs {
		if lastErr = call(ctx, g.hc.def, u, "", "GET", "/healthz", nil, nil); lastErr == nil {
			g.base = u
			return nil
		}
	}
	return fmt.Errorf("load generator: no coordinator answers: %w", lastErr)
}

// SetTimeout puts the configured Timeout (T, enabled) in the coordinator's
// settings; Run does it too. A change re-plans every clock and sends the
// policy to every connected agent, so a run split over processes sets it
// once, before they start, and leaves Timeout zero in each.
func (g *Gen) SetTimeout(ctx context.Context) error {
	if err := g.findBase(ctx); err != nil {
		return err
	}
	t := g.cfg.Timeout
	if t == 0 {
		return nil
	}
	body := map[string]any{"inactivity_timeout": map[string]any{"enabled": true, "seconds": int(t / time.Second)}}
	if err := call(ctx, g.hc.def, g.base, g.cfg.AdminToken, "PUT", "/api/v1/settings", body, nil); err != nil {
		return fmt.Errorf("load generator: setting the timeout: %w", err)
	}
	return nil
}

// prepare finds a coordinator that answers, sets T, and makes the tokens
// and accounts the agents use.
func (g *Gen) prepare(ctx context.Context) error {
	if err := g.SetTimeout(ctx); err != nil {
		return err
	}
	admin := g.cfg.AdminToken
	var tok struct{ Token string }
	name := fmt.Sprintf("loadgen-%d-%s", g.cfg.First, randomHex(4))
	if err := call(ctx, g.hc.def, g.base, admin, "POST", "/api/v1/tokens", map[string]string{"name": name, "role": "integration"}, &tok); err != nil {
		return fmt.Errorf("load generator: making the platform's integration token: %w", err)
	}
	g.integration = tok.Token
	if err := call(ctx, g.hc.def, g.base, admin, "POST", "/api/v1/enrollment-tokens",
		map[string]any{"note": name, "max_uses": g.cfg.Agents, "expires_in_s": 86400, "auto_approve": true}, &tok); err != nil {
		return fmt.Errorf("load generator: making the enrollment token: %w", err)
	}
	g.enrollToken = tok.Token
	for _, a := range g.agents {
		if !a.web {
			continue
		}
		err := call(ctx, g.hc.def, g.base, admin, "POST", "/api/v1/accounts",
			map[string]string{"name": a.user, "role": "agent", "password": a.password()}, nil)
		if se, ok := err.(*StatusError); ok && se.Status == http.StatusConflict {
			err = nil // made by an earlier run, with the same password
		}
		if err != nil {
			return fmt.Errorf("load generator: making %s's account: %w", a.user, err)
		}
	}
	return nil
}

func (g *Gen) connected() int {
	n := 0
	for _, a := range g.agents {
		a.mu.Lock()
		if a.st.URL != "" {
			n++
		}
		a.mu.Unlock()
	}
	return n
}

// walkSpread is how far into the window the idle agents walk away, each
// at its own instant: the decisions then fall in the steady state, spread
// out rather than all at once.
func (g *Gen) walkSpread() time.Duration {
	if g.cfg.WalkSpread > 0 {
		return g.cfg.WalkSpread
	}
	return min(time.Duration(g.timeoutS.Load())*time.Second, g.cfg.Duration/4)
}

// cycleFits reports whether an idle cycle of timeout t started now ends
// (with a second to spare) before the run does.
func (g *Gen) cycleFits(now time.Time, t time.Duration) bool {
	end := g.end.Load()
	return end == 0 || now.Add(t+time.Second).UnixNano() < end
}

// noteErr keeps the first errors for the report and counts the rest.
func (g *Gen) noteErr(err error) {
	g.emu.Lock()
	defer g.emu.Unlock()
	g.nerr++
	if len(g.errs) < 20 {
		g.errs = append(g.errs, err.Error())
		g.cfg.Log.Warn("load generator", "err", err) // the first few only: a failing coordinator would flood the log
	}
}

func (g *Gen) errList() ([]string, int) {
	g.emu.Lock()
	defer g.emu.Unlock()
	return append([]string(nil), g.errs...), g.nerr
}

// wsURL is the agents' endpoint of the coordinator at base.
func wsURL(base string) string {
	switch {
	case strings.HasPrefix(base, "https://"):
		return "wss://" + strings.TrimPrefix(base, "https://") + "/agent/v1/ws"
	default:
		return "ws://" + strings.TrimPrefix(base, "http://") + "/agent/v1/ws"
	}
}

// defaultNext is where an agent goes after a connection ends, as the real
// agent decides (agent/uplink): after a standby's close (code 4005) the URL
// from urls its reason names (the leader, as http(s):// or ws(s)://);
// after any other end — a dead or refusing coordinator, a dropped
// connection — or a 4005 naming no other URL of urls, the one after
// current, so an agent never keeps retrying a URL that stopped answering.
func defaultNext(urls []string, current string, code int, reason string) string {
	if code == closeNotLeader {
		for _, u := range urls {
			if u != current && names(reason, hostOf(u)) {
				return u
			}
		}
	}
	for i, u := range urls {
		if u == current {
			return urls[(i+1)%len(urls)]
		}
	}
	return urls[0]
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// names reports whether text has a URL whose host and port are host
// (a port 8081 is not 808).
func names(text, host string) bool {
	for text != "" {
		i := strings.Index(text, "://"+host)
		if i < 0 {
			return false
		}
		text = text[i+3+len(host):]
		if text == "" || !strings.ContainsRune("0123456789.-abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", rune(text[0])) {
			return true
		}
	}
	return false
}
