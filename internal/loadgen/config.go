// Package loadgen simulates a contact center's workstations against a real
// coordinator: N agents, each an enrolled device speaking the real vigil.v1
// protocol over its own WebSocket for an Agent Desk user logged in through
// the API (or the reference desk's sign-in form), with a realistic mix of
// behaviour. It measures what the issue asks of the coordinator: how late
// warnings and logouts reach the workstation, the coordinator's CPU, memory
// and the messages per second (docs/performance.md).
//
// Run drives one process's share of the agents; the loadgen command forks
// several processes of itself (one process may hold at most as many
// connections as its open-file limit) and merges their reports with Merge.
// Tests use New, Gen.Run and Gen.Agents to check each agent's counters
// while and after it runs.
package loadgen

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"
)

// Config is one run. Zero values take the defaults named on each field.
type Config struct {
	// URLs are the coordinators' base URLs (http://127.0.0.1:8080); the
	// agents start on the first and, when a connection drops, move to the
	// one NextURL names. The API calls go to the first that answers.
	URLs []string
	// AdminToken is an admin API token: it makes the enrollment token, the
	// integration token, the agent accounts and (if Timeout is set) the
	// settings, and reads the coordinator's live heap.
	AdminToken string

	// Agents is how many agents this process simulates, numbered from
	// First; the user of agent i is Prefix + i in five digits ("lg00042").
	Agents int
	First  int
	Prefix string // default "lg"

	// Timeout, if set, is put in the coordinator's settings (T, enabled)
	// before the agents start. The agents always time their expectations
	// from the policy the coordinator sends them.
	Timeout time.Duration

	// The mix. IdleShare of the agents (default 0.1) work like the others
	// until, each at its own instant within WalkSpread of the window's
	// start (default T, at most a quarter of the window), they walk away:
	// one last input, then nothing but heartbeats. They are warned at 0.8·T and logged out
	// at T, then log in to the Agent Desk again after Relogin and go idle
	// again, as long as a whole cycle fits in the run. WindowShare of the
	// others (default 0.2) also move the Agent Desk to the background (or
	// minimize it) for a few seconds now and then. Every agent that is not
	// idle reports input every InputEvery, ±50 % (default 4 s).
	IdleShare   float64
	WalkSpread  time.Duration
	WindowShare float64
	InputEvery  time.Duration
	Relogin     time.Duration // default 2 s

	// DeskWeb of the agents (default 0) sign in through the reference
	// Agent Desk's sign-in form with an account made for them through the
	// API (bcrypt: each costs the coordinator tens of ms), and after their
	// logout check that /desk/ shows the logged-out screen. The others are
	// logged in by the platform's API call (POST /api/v1/desk/login).
	DeskWeb int

	// ConversationsPerMinute the platform hands to the built-in controller
	// (default Agents/10; negative: none): chats and voice calls, routed
	// to the least-loaded available agent. Voice calls given to a
	// non-idle agent are accepted a few seconds later (a call, which
	// pauses that user's clock) and ended after a while; conversations
	// given to an idle agent wait and are rerouted when it is logged out.
	ConversationsPerMinute int

	// Sources are loopback addresses the agents' connections come from
	// (127.0.0.2, …), spread round-robin; none: the system picks.
	Sources []string
	// Dialers is how many agents connect at once (default 32).
	Dialers int

	// Duration is the measured window, which starts once every agent is
	// connected (and Hold has returned); the run ends after it.
	Duration time.Duration
	// Hold, if set, is called once every agent is connected; the window
	// starts when it returns (the loadgen command waits there for its
	// parent, so that every process measures the same window).
	Hold func() error
	// AtEnd, if set, is called when the window ends, before the agents
	// disconnect (the loadgen command's parent reads the coordinator's
	// memory there, with every agent still connected).
	AtEnd func() error

	// NextURL picks where an agent whose connection ended goes next, from
	// the URL it was on, the close code and reason, and the text of the
	// coordinator's error message, if it sent one. Nil (or ""): after a
	// standby's close (4005), the other URL of URLs its reason or message
	// names (the leader); after anything else, the next one in URLs.
	NextURL func(current string, code int, reason string) string

	// CoordinatorPID, if set, is a local coordinator process whose CPU and
	// resident memory are read from /proc over the window.
	CoordinatorPID int
	// LiveHeap also reads the coordinator's heap and stacks in use after a
	// collection (through its admin-only profiler and /metrics) at the end.
	LiveHeap bool

	// Late is how late a decision may arrive and still count as on time in
	// Report.Late (default 250 ms, the design's timing accuracy).
	Late time.Duration

	Log *slog.Logger // default: discard
}

func (c *Config) defaults() {
	if c.Prefix == "" {
		c.Prefix = "lg"
	}
	if c.IdleShare == 0 {
		c.IdleShare = 0.1
	}
	if c.WindowShare == 0 {
		c.WindowShare = 0.2
	}
	if c.InputEvery <= 0 {
		c.InputEvery = 4 * time.Second
	}
	if c.Relogin <= 0 {
		c.Relogin = 2 * time.Second
	}
	if c.ConversationsPerMinute == 0 {
		c.ConversationsPerMinute = max(c.Agents/10, 1)
	}
	if c.Dialers <= 0 {
		c.Dialers = 32
	}
	if c.Late <= 0 {
		c.Late = 250 * time.Millisecond
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
}

func (c *Config) validate() error {
	var errs []error
	if len(c.URLs) == 0 {
		errs = append(errs, errors.New("no coordinator URL"))
	}
	for i, u := range c.URLs {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			errs = append(errs, fmt.Errorf("coordinator URL %q: want http://HOST:PORT or https://HOST:PORT", u))
			continue
		}
		c.URLs[i] = strings.TrimRight(u, "/")
	}
	if c.AdminToken == "" {
		errs = append(errs, errors.New("an admin API token is needed to enroll the devices and log the users in"))
	}
	if c.Agents < 1 || c.First < 0 || c.First+c.Agents > 99999 {
		errs = append(errs, fmt.Errorf("agents %d..%d: want 1 or more agents numbered within 0..99998", c.First, c.First+c.Agents-1))
	}
	if c.IdleShare < 0 || c.IdleShare > 1 || c.WindowShare < 0 || c.WindowShare > 1 {
		errs = append(errs, fmt.Errorf("idle share %g, window share %g: want each in 0..1", c.IdleShare, c.WindowShare))
	}
	if c.DeskWeb < 0 || c.DeskWeb > c.Agents {
		errs = append(errs, fmt.Errorf("desk web sign-ins %d: want 0..%d (the agents)", c.DeskWeb, c.Agents))
	}
	if c.Timeout != 0 && (c.Timeout < 30*time.Second || c.Timeout > time.Hour || c.Timeout%time.Second != 0) {
		errs = append(errs, fmt.Errorf("timeout %s: want whole seconds from 30 s to 3600 s", c.Timeout))
	}
	for _, s := range c.Sources {
		if ip := net.ParseIP(s); ip == nil || !ip.IsLoopback() {
			errs = append(errs, fmt.Errorf("source address %q: want a loopback address (127.0.0.x)", s))
		}
	}
	if c.Duration <= 0 {
		errs = append(errs, errors.New("duration: want a measured window longer than 0"))
	}
	return errors.Join(errs...)
}

// Loopbacks returns n loopback source addresses, 127.0.0.2 onwards.
func Loopbacks(n int) []string {
	out := make([]string, 0, n)
	for i := range n {
		out = append(out, fmt.Sprintf("127.0.%d.%d", (i+2)/254, (i+2)%254))
	}
	return out
}

// Role is what an agent does.
type Role string

const (
	RoleActive Role = "active" // reports input every few seconds
	RoleWindow Role = "window" // active, and moves the Agent Desk away now and then
	RoleIdle   Role = "idle"   // goes idle: warned, logged out, logs in again
)

// roleOf spreads the roles over the agents' numbers, the same in every
// process, so a test knows each agent's role from its number.
func roleOf(i int, idle, window float64) Role {
	// Multiplying by a number prime to 1000 scatters neighbours.
	switch r := float64((i*617)%1000) / 1000; {
	case r < idle:
		return RoleIdle
	case r < idle+window*(1-idle):
		return RoleWindow
	default:
		return RoleActive
	}
}
