package builtin

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/vigil-cc/vigil/coordinator/engine"
	"github.com/vigil-cc/vigil/coordinator/fault"
)

// Agent is a user as the router sees them.
type Agent struct {
	User      string
	Status    engine.Status
	Capacity  int
	Load      int
	Available bool      // logged in to the Agent Desk, neither warned nor logged out
	LastEnded time.Time // zero: never
}

// SetCapacity sets how many open conversations user takes at most; more
// room serves the queue, less takes nothing away.
func (c *Controller) SetCapacity(ctx context.Context, user string, n int, actor string) (Agent, error) {
	if n < 0 || n > MaxCapacity {
		return Agent{}, fault.Invalidf("capacity must be a whole number from 0 to %d, got %d", MaxCapacity, n)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	o := c.begin()
	o.actor = actor
	old := c.capacityOf(user)
	c.capacity[user] = n
	o.capacity[user] = n
	o.audit("user.capacity_set", user, map[string]any{"capacity": n, "was": old})
	if err := c.finish(ctx, o); err != nil {
		return Agent{}, err
	}
	return c.agent(user, o.status), nil
}

// Agents lists every user the engine knows or who has a capacity set or a
// conversation, by name.
func (c *Controller) Agents() []Agent {
	c.mu.Lock()
	defer c.mu.Unlock()
	o := c.begin()
	names := map[string]bool{}
	for u := range o.status {
		names[u] = true
	}
	for u := range c.capacity {
		names[u] = true
	}
	for _, cv := range c.convs {
		if cv.User != "" {
			names[cv.User] = true
		}
	}
	out := make([]Agent, 0, len(names))
	for u := range names {
		out = append(out, c.agent(u, o.status))
	}
	slices.SortFunc(out, func(a, b Agent) int { return strings.Compare(a.User, b.User) })
	return out
}

// Agent is one user as the router sees them.
func (c *Controller) Agent(user string) Agent {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.agent(user, c.begin().status)
}

func (c *Controller) agent(user string, status map[string]engine.Status) Agent {
	s, ok := status[user]
	if !ok {
		s = engine.StatusOffline
	}
	a := Agent{User: user, Status: s, Capacity: c.capacityOf(user), Available: available(s), LastEnded: c.lastEnded[user]}
	for _, cv := range c.convs {
		if held(cv) && cv.User == user {
			a.Load++
		}
	}
	return a
}
