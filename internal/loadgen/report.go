package loadgen

import (
	"fmt"
	"io"
	"slices"
	"time"
)

// Report is what a run saw. Latencies are from the instant a decision was
// due — an idle agent's last reported input plus 0.8·T for the warning, T
// for the logout, T and 0.8·T from the policy the coordinator sent — to
// its arrival at the simulated agent.
type Report struct {
	Agents int          `json:"agents"`
	Roles  map[Role]int `json:"roles"`
	// Connected is how many agents were connected when the window started
	// and when it ended.
	Connected    int `json:"connected"`
	ConnectedEnd int `json:"connected_end"`
	// Preparing is how long the tokens and accounts took, Connecting how
	// long every agent took to enroll, log in and connect.
	Preparing  time.Duration `json:"preparing"`
	Connecting time.Duration `json:"connecting"`
	// Window is the measured window; Sent and Received count the agents'
	// WebSocket messages in it, MessagesPerSecond both together.
	Window time.Duration `json:"window"`
	// GeneratorCPUPercent is the load generator's own CPU over the window
	// (all its processes), in % of one core: it shares the machine.
	GeneratorCPUPercent float64 `json:"generator_cpu_percent"`
	Sent                int64   `json:"sent"`
	Received            int64   `json:"received"`
	MessagesPerSecond   float64 `json:"messages_per_second"`

	// Warn and Logout are the idle agents' decisions over the whole run
	// (connecting included); All is both together.
	Warn   Latency `json:"warn"`
	Logout Latency `json:"logout"`
	All    Latency `json:"all"`
	// Late counts decisions more than Config.Late after their instant,
	// Early those before it, Missed the idle cycles whose warning or
	// logout was due more than 2 s before the end and never came.
	Late   int `json:"late"`
	Early  int `json:"early"`
	Missed int `json:"missed"`
	// ActiveWarned and ActiveLoggedOut count warnings and logouts in the
	// window of agents that were never idle: each one is a false decision.
	// The Connecting ones came before the window, while agents were still
	// connecting: a user logged in whose sensor was not yet reporting (an
	// overloaded coordinator can take longer than 0.8·T between the two).
	ActiveWarned              int `json:"active_warned"`
	ActiveLoggedOut           int `json:"active_logged_out"`
	ActiveWarnedConnecting    int `json:"active_warned_connecting,omitempty"`
	ActiveLoggedOutConnecting int `json:"active_logged_out_connecting,omitempty"`
	// Reconnects counts connections after each agent's first.
	Reconnects int `json:"reconnects"`
	// ConversationsToIdle went to idle agents early enough for their logout
	// to come within the run; Rerouted of those were rerouted.
	ConversationsToIdle int `json:"conversations_to_idle"`
	Rerouted            int `json:"rerouted"`
	// DeskWeb agents signed in through the desk's form; DeskLogouts of
	// their logouts were followed by /desk/ showing the logged-out screen,
	// out of DeskWebLogouts.
	DeskWeb          int `json:"desk_web"`
	DeskWebLogouts   int `json:"desk_web_logouts"`
	DeskShowedLogout int `json:"desk_showed_logout"`

	// Coordinator is the coordinator's process over the window (with
	// Config.CoordinatorPID or Config.LiveHeap).
	Coordinator *CoordinatorStats `json:"coordinator,omitempty"`

	Errors     []string `json:"errors,omitempty"` // the first few
	ErrorCount int      `json:"error_count"`

	// States are every agent's counters at the end.
	States []AgentState `json:"states,omitempty"`
}

// Latency is a distribution of decision latencies.
type Latency struct {
	N       int             `json:"n"`
	P50     time.Duration   `json:"p50"`
	P99     time.Duration   `json:"p99"`
	Max     time.Duration   `json:"max"`
	Samples []time.Duration `json:"samples,omitempty"`
}

func latency(samples []time.Duration) Latency {
	if len(samples) == 0 {
		return Latency{}
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	q := func(p float64) time.Duration { return s[min(int(p*float64(len(s))), len(s)-1)] }
	return Latency{N: len(s), P50: q(0.50), P99: q(0.99), Max: s[len(s)-1], Samples: s}
}

// CoordinatorStats is the coordinator's process over the window.
type CoordinatorStats struct {
	PID int `json:"pid,omitempty"`
	// CPUPercent is user + system time over the window, in % of one core.
	CPUPercent float64 `json:"cpu_percent"`
	// RSS is the resident set at the end of the window.
	RSS int64 `json:"rss"`
	// Heap is the live heap after a collection at the end (zero if not
	// read).
	Heap Heap `json:"heap"`
	// Dispatch is its own measure of how late it dispatched decisions,
	// over its whole life (the loadgen command reads it).
	Dispatch *Dispatch `json:"dispatch,omitempty"`
}

// window is the measured window's readings.
type window struct {
	start, end                           time.Time
	sent, received, sentEnd, receivedEnd int64
	connected, connectedEnd              int
	procStart, procEnd                   Proc
	selfStart, selfEnd                   Proc
	heap                                 Heap
}

func (r *Report) coordinator() *CoordinatorStats {
	if r.Coordinator == nil {
		r.Coordinator = &CoordinatorStats{}
	}
	return r.Coordinator
}

// report sums up the agents' counters.
func (g *Gen) report(w window) Report {
	r := Report{Agents: len(g.agents), Roles: map[Role]int{}, Connected: w.connected, ConnectedEnd: w.connectedEnd,
		Window: w.end.Sub(w.start), Sent: w.sentEnd - w.sent, Received: w.receivedEnd - w.received}
	if s := r.Window.Seconds(); s > 0 {
		r.MessagesPerSecond = float64(r.Sent+r.Received) / s
	}
	if w.selfEnd.Ticks > 0 {
		r.GeneratorCPUPercent = CPUPercent(w.selfStart, w.selfEnd)
	}
	var warn, logout []time.Duration
	for _, a := range g.agents {
		s := a.state()
		r.States = append(r.States, s)
		r.Roles[s.Role]++
		r.Reconnects += max(s.Connects-1, 0)
		if s.DeskWeb {
			r.DeskWeb++
			r.DeskWebLogouts += s.Logouts
			r.DeskShowedLogout += s.DeskShowedLogout
		}
		if s.Role != RoleIdle {
			r.ActiveWarned += s.Warnings - s.WarnedConnecting
			r.ActiveLoggedOut += s.Logouts - s.LoggedOutConnecting
			r.ActiveWarnedConnecting += s.WarnedConnecting
			r.ActiveLoggedOutConnecting += s.LoggedOutConnecting
			continue
		}
		for _, c := range s.Cycles {
			for _, d := range []struct {
				due, at time.Time
				into    *[]time.Duration
			}{{c.WarnDue, c.Warned, &warn}, {c.LogoutDue, c.LoggedOut, &logout}} {
				if d.at.IsZero() {
					if d.due.Add(2 * time.Second).Before(w.end) {
						r.Missed++
					}
					continue
				}
				l := d.at.Sub(d.due)
				*d.into = append(*d.into, l)
				switch {
				case l < -2*time.Millisecond: // the coordinator's clock has ms resolution
					r.Early++
				case l > g.cfg.Late:
					r.Late++
				}
			}
		}
	}
	r.Warn, r.Logout, r.All = latency(warn), latency(logout), latency(append(warn, logout...))
	if pid := g.cfg.CoordinatorPID; pid != 0 && w.procEnd.Ticks > 0 {
		c := r.coordinator()
		c.PID = pid
		c.CPUPercent = CPUPercent(w.procStart, w.procEnd)
		c.RSS = w.procEnd.RSS
	}
	return r
}

// Merge adds up the reports of the processes of one run: counts are
// summed, latencies recomputed from every sample, the window is the
// longest and the rates are summed.
func Merge(rs ...Report) Report {
	var m Report
	m.Roles = map[Role]int{}
	var warn, logout []time.Duration
	for _, r := range rs {
		m.Agents += r.Agents
		for k, v := range r.Roles {
			m.Roles[k] += v
		}
		m.Connected += r.Connected
		m.ConnectedEnd += r.ConnectedEnd
		m.Window = max(m.Window, r.Window)
		m.Preparing = max(m.Preparing, r.Preparing)
		m.Connecting = max(m.Connecting, r.Connecting)
		m.Sent += r.Sent
		m.Received += r.Received
		m.MessagesPerSecond += r.MessagesPerSecond
		m.GeneratorCPUPercent += r.GeneratorCPUPercent
		warn = append(warn, r.Warn.Samples...)
		logout = append(logout, r.Logout.Samples...)
		m.Late += r.Late
		m.Early += r.Early
		m.Missed += r.Missed
		m.ActiveWarned += r.ActiveWarned
		m.ActiveLoggedOut += r.ActiveLoggedOut
		m.ActiveWarnedConnecting += r.ActiveWarnedConnecting
		m.ActiveLoggedOutConnecting += r.ActiveLoggedOutConnecting
		m.Reconnects += r.Reconnects
		m.ConversationsToIdle += r.ConversationsToIdle
		m.Rerouted += r.Rerouted
		m.DeskWeb += r.DeskWeb
		m.DeskWebLogouts += r.DeskWebLogouts
		m.DeskShowedLogout += r.DeskShowedLogout
		if r.Coordinator != nil && m.Coordinator == nil {
			c := *r.Coordinator
			m.Coordinator = &c
		}
		for _, e := range r.Errors {
			if len(m.Errors) < 20 {
				m.Errors = append(m.Errors, e)
			}
		}
		m.ErrorCount += r.ErrorCount
		m.States = append(m.States, r.States...)
	}
	m.Warn, m.Logout, m.All = latency(warn), latency(logout), latency(append(warn, logout...))
	return m
}

// Print writes the report for a person.
func (r Report) Print(w io.Writer) {
	fmt.Fprintf(w, "agents %d (active %d, window %d, idle %d, desk sign-in %d); connected %d at the start of the window, %d at its end; reconnects %d\n",
		r.Agents, r.Roles[RoleActive], r.Roles[RoleWindow], r.Roles[RoleIdle], r.DeskWeb, r.Connected, r.ConnectedEnd, r.Reconnects)
	fmt.Fprintf(w, "preparing %s, enrolling, logging in and connecting %s\n", r.Preparing.Round(time.Millisecond), r.Connecting.Round(time.Millisecond))
	fmt.Fprintf(w, "window %s: %d messages sent, %d received: %.0f messages/s; the load generator used %.0f %% of one core\n",
		r.Window.Round(time.Millisecond), r.Sent, r.Received, r.MessagesPerSecond, r.GeneratorCPUPercent)
	for _, l := range []struct {
		name string
		l    Latency
	}{{"warning", r.Warn}, {"logout", r.Logout}, {"both", r.All}} {
		fmt.Fprintf(w, "decision latency, %-7s n=%-6d p50 %8s  p99 %8s  max %8s\n", l.name, l.l.N, ms(l.l.P50), ms(l.l.P99), ms(l.l.Max))
	}
	fmt.Fprintf(w, "late %d, early %d, missed %d; active agents warned %d, logged out %d in the window (%d, %d while connecting)\n",
		r.Late, r.Early, r.Missed, r.ActiveWarned, r.ActiveLoggedOut, r.ActiveWarnedConnecting, r.ActiveLoggedOutConnecting)
	fmt.Fprintf(w, "conversations given to idle agents %d, rerouted %d; desk logouts %d, shown on /desk/ %d\n",
		r.ConversationsToIdle, r.Rerouted, r.DeskWebLogouts, r.DeskShowedLogout)
	if c := r.Coordinator; c != nil {
		fmt.Fprintf(w, "coordinator: CPU %.1f %% of one core, RSS %.1f MB", c.CPUPercent, float64(c.RSS)/1e6)
		if c.Heap.Alloc > 0 {
			fmt.Fprintf(w, ", live heap %.1f MB + stacks %.1f MB (after GC)", float64(c.Heap.Alloc)/1e6, float64(c.Heap.Stacks)/1e6)
		}
		fmt.Fprintln(w)
		if d := c.Dispatch; d != nil && d.N > 0 {
			fmt.Fprintf(w, "coordinator's own dispatch lateness (vigil_decision_latency_seconds, n=%d): p50 ≤ %s, p99 ≤ %s (bucket bounds; 0 = past 2.5 s)\n",
				d.N, ms(d.P50), ms(d.P99))
		}
	}
	if r.ErrorCount > 0 {
		fmt.Fprintf(w, "%d errors; the first:\n", r.ErrorCount)
		for _, e := range r.Errors {
			fmt.Fprintln(w, "  ", e)
		}
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/1e6) }
