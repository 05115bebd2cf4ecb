package loadgen

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vigil-cc/vigil/internal/backoff"
)

// platform is the contact-center platform's side: it hands conversations
// to the built-in controller through the API, and has its agents accept
// and end them, as the reference desk's buttons would.
type platform struct {
	g   *Gen
	rng *rand.Rand

	mu      sync.Mutex
	created int
	toIdle  []given // conversations given to an idle agent
	wg      sync.WaitGroup
}

func newPlatform(g *Gen) *platform {
	return &platform{g: g, rng: rand.New(rand.NewPCG(uint64(g.cfg.First), 0xc0417))}
}

type given struct {
	id string
	at time.Time
}

type conversation struct {
	ID    string `json:"id"`
	User  string `json:"user"`
	State string `json:"state"`
	// Reroutes counts the times it was rerouted.
	Reroutes int `json:"reroutes"`
}

// run creates conversations at the configured rate until ctx ends, then
// waits for the accepts and ends it scheduled.
func (p *platform) run(ctx context.Context) {
	defer p.wg.Wait()
	rate := p.g.cfg.ConversationsPerMinute
	if rate <= 0 {
		return
	}
	t := time.NewTicker(time.Minute / time.Duration(rate))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		p.one(ctx)
	}
}

func (p *platform) one(ctx context.Context) {
	p.mu.Lock()
	p.created++
	seq := p.created
	voice := p.rng.IntN(10) < 4
	accept := time.Duration(2000+p.rng.IntN(3000)) * time.Millisecond
	hold := time.Duration(5000+p.rng.IntN(15000)) * time.Millisecond
	p.mu.Unlock()
	channel := "chat"
	if voice {
		channel = "voice"
	}
	g := p.g
	var c conversation
	err := call(ctx, g.hc.def, g.base, g.integration, "POST", "/api/v1/conversations",
		map[string]string{"channel": channel, "customer": fmt.Sprintf("+1 555 %03d %04d", g.cfg.First%1000, seq%10000)}, &c)
	if err != nil {
		if ctx.Err() == nil {
			g.noteErr(fmt.Errorf("handing over a conversation: %w", err))
		}
		return
	}
	if c.State != "assigned" {
		return // queued: nobody available; the router serves it later
	}
	if g.roleOfUser(c.User) == RoleIdle {
		// Nobody accepts it: it waits, and is rerouted at the logout.
		p.mu.Lock()
		p.toIdle = append(p.toIdle, given{c.ID, time.Now()})
		p.mu.Unlock()
		return
	}
	// The agent accepts (a voice call pauses their clock) and ends it later.
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		if voice && backoff.Sleep(ctx, accept) {
			if err := call(ctx, g.hc.def, g.base, g.integration, "POST", "/api/v1/conversations/"+c.ID+"/accept", nil, nil); err != nil && ctx.Err() == nil {
				if se, ok := err.(*StatusError); !ok || se.Status != 409 { // 409: rerouted meanwhile
					g.noteErr(fmt.Errorf("accepting a conversation: %w", err))
				}
			}
		}
		backoff.Sleep(ctx, hold)
		// Ended even when the run is over, so no call outlives it.
		if err := call(context.Background(), g.hc.def, g.base, g.integration, "POST", "/api/v1/conversations/"+c.ID+"/end", nil, nil); err != nil {
			g.noteErr(fmt.Errorf("ending a conversation: %w", err))
		}
	}()
}

// tally reports how many conversations went to idle agents early enough
// for their logout (T after, a second to spare) to come within the run,
// and how many of those were rerouted.
func (p *platform) tally(ctx context.Context, end time.Time, t time.Duration) (toIdle, rerouted int) {
	p.mu.Lock()
	var ids []string
	for _, c := range p.toIdle {
		if c.at.Add(t + time.Second).Before(end) {
			ids = append(ids, c.id)
		}
	}
	p.mu.Unlock()
	for _, id := range ids {
		var c conversation
		if err := call(ctx, p.g.hc.def, p.g.base, p.g.integration, "GET", "/api/v1/conversations/"+id, nil, &c); err != nil {
			p.g.noteErr(fmt.Errorf("reading a conversation: %w", err))
			continue
		}
		if c.Reroutes > 0 {
			rerouted++
		}
	}
	return len(ids), rerouted
}

// roleOfUser is the role of a load generator's user, in any process of
// the run (roles follow the numbers); users of others are active.
func (g *Gen) roleOfUser(user string) Role {
	num, ok := strings.CutPrefix(user, g.cfg.Prefix)
	n, err := strconv.Atoi(num)
	if !ok || err != nil || len(num) != 5 {
		return RoleActive
	}
	return roleOf(n, g.cfg.IdleShare, g.cfg.WindowShare)
}
