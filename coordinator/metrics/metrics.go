// Package metrics exposes the coordinator's Prometheus metrics: connected
// agents, users by state, decisions, the outbox backlog, and how late timed
// decisions fire.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vigil-cc/vigil/coordinator/engine"
)

// Sources are read at every scrape.
type Sources struct {
	ConnectedAgents func() int
	// UserStates counts users by engine status name.
	UserStates    func() map[string]int
	OutboxBacklog func() (int, error) // webhook events waiting; nil: not exported
}

// Metrics is the coordinator's registry.
type Metrics struct {
	reg       *prometheus.Registry
	now       func() time.Time
	decisions *prometheus.CounterVec
	lateness  prometheus.Histogram
	Reroutes  prometheus.Counter
}

// New registers every metric; now is the coordinator's clock.
func New(src Sources, now func() time.Time) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		reg: reg,
		now: now,
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_decisions_total",
			Help: "Engine decisions by kind: warn, withdraw, logout, sensor_lost.",
		}, []string{"kind"}),
		lateness: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "vigil_decision_latency_seconds",
			Help:    "How long after its ideal instant a warning or logout was dispatched.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
		Reroutes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_reroutes_total",
			Help: "Conversations rerouted away from a logged-out user.",
		}),
	}
	for _, k := range []engine.DecisionKind{engine.DecisionWarn, engine.DecisionWithdraw, engine.DecisionLogout, engine.DecisionSensorLost} {
		m.decisions.WithLabelValues(k.String()) // start at 0
	}
	reg.MustRegister(m.decisions, m.lateness, m.Reroutes,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "vigil_connected_agents",
			Help: "Agent connections (devices) open now.",
		}, func() float64 { return float64(src.ConnectedAgents()) }),
		&usersCollector{states: src.UserStates},
	)
	if src.OutboxBacklog != nil {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "vigil_outbox_backlog",
			Help: "Webhook events waiting for delivery.",
		}, func() float64 {
			n, err := src.OutboxBacklog()
			if err != nil {
				return -1
			}
			return float64(n)
		}))
	}
	return m
}

// Decisions counts decisions; a core.Handler.
func (m *Metrics) Decisions(ds []engine.Decision) {
	for _, d := range ds {
		if d.Kind == engine.DecisionChanged {
			continue
		}
		m.decisions.WithLabelValues(d.Kind.String()).Inc()
		if d.Kind == engine.DecisionWarn || d.Kind == engine.DecisionLogout {
			m.lateness.Observe(max(m.now().Sub(d.At), 0).Seconds())
		}
	}
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// usersCollector reports users by state at scrape time.
type usersCollector struct{ states func() map[string]int }

var usersDesc = prometheus.NewDesc("vigil_users", "Users by state (offline, active, warned, paused, disabled, logged_out).", []string{"state"}, nil)

func (c *usersCollector) Describe(ch chan<- *prometheus.Desc) { ch <- usersDesc }

func (c *usersCollector) Collect(ch chan<- prometheus.Metric) {
	counts := c.states()
	for s := engine.StatusOffline; s <= engine.StatusLoggedOut; s++ {
		ch <- prometheus.MustNewConstMetric(usersDesc, prometheus.GaugeValue, float64(counts[s.String()]), s.String())
	}
}
