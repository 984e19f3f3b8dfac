// Package metrics exposes what runners do as Prometheus metrics, fed from
// runner.Hooks, and judges from the same hooks whether a runner's lease loop
// is alive and hears from its database (the /healthz and /readyz probes).
//
// Every metric is named soloist_* and carries the runner's group as the
// label group; docs/observability.md lists them. Nothing here touches the
// global default registry: each process (or test) brings its own.
package metrics

import (
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Step-down reasons, the values of soloist_step_downs_total's reason label.
const (
	ReasonTrustWindow = "trust_window" // no renewal succeeded within TTL - safety margin
	ReasonRefused     = "refused"      // the database refused the lease (a heartbeat or a claim): revoked or taken over
	ReasonReleased    = "released"     // the runner gave the lease up: shutdown
)

// Heartbeat failure kinds, the values of soloist_heartbeat_failures_total's
// reason label.
const (
	FailureError   = "error"   // the call failed (network, database)
	FailureRefused = "refused" // the database answered that the lease is not this runner's
)

var (
	// latencyBuckets cover a lease call, from a local round trip to a
	// follower's wait on the server (up to one interval: 3.3s by default).
	latencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
	// runBuckets cover a job, from a no-op to a nightly batch.
	runBuckets = []float64{.01, .1, .5, 1, 5, 15, 60, 300, 900, 1800, 3600, 3 * 3600, 12 * 3600}
)

// NewRegistry returns the registry of one `soloist run` process: the Go
// runtime and process collectors, and soloist_build_info{version} (always
// 1). Register a [Metrics] on it for the runners.
func NewRegistry(version string) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "soloist_build_info",
		Help: "Always 1; the labels say which build of Soloist runs.",
	}, []string{"version", "goversion"})
	build.WithLabelValues(version, runtime.Version()).Set(1)
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		build,
	)
	return reg
}

// Handler serves the registry's metrics in the Prometheus exposition
// format. A collector that fails leaves its metrics out; the rest are served.
func Handler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		Registry:      reg, // promhttp_metric_handler_errors_total
		ErrorHandling: promhttp.ContinueOnError,
	})
}

// Metrics are the soloist_* collectors, registered once on a registry. Any
// number of runners (one per group) feed them through [Metrics.Runner].
type Metrics struct {
	leader         *prometheus.GaugeVec
	leaderChanges  *prometheus.CounterVec
	acquire        *prometheus.HistogramVec
	acquireErrors  *prometheus.CounterVec
	heartbeat      *prometheus.HistogramVec
	heartbeatFails *prometheus.CounterVec
	stepDowns      *prometheus.CounterVec
	runs           *prometheus.CounterVec
	runDuration    *prometheus.HistogramVec
	missed         *prometheus.CounterVec
	abandoned      *prometheus.CounterVec
	ages           *ageCollector
	// Balanced mode.
	members      *prometheus.GaugeVec
	jobsOwned    *prometheus.GaugeVec
	jobOwned     *prometheus.GaugeVec
	jobTerms     *prometheus.CounterVec
	jobStepDowns *prometheus.CounterVec
	unownable    *prometheus.GaugeVec
	jobUnownable *prometheus.GaugeVec

	mu      sync.Mutex
	runners map[string]*Runner
}

// New registers the soloist_* collectors on reg.
func New(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		leader: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "soloist_leader",
			Help: "1 while this runner holds its group's lease, else 0.",
		}, []string{"group"}),
		leaderChanges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "soloist_leader_changes_total",
			Help: "Terms this runner won; summed over a group's runners, the group's leader changes.",
		}, []string{"group"}),
		acquire: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "soloist_acquire_duration_seconds",
			Help:    "Duration of lease attempts (await_lease), including a follower's wait on the server of up to one interval.",
			Buckets: latencyBuckets,
		}, []string{"group"}),
		acquireErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "soloist_acquire_errors_total",
			Help: "Lease attempts that failed with an error (the database could not be asked).",
		}, []string{"group"}),
		heartbeat: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "soloist_heartbeat_duration_seconds",
			Help:    "Duration of the holder's lease renewals (heartbeat calls), successful or not.",
			Buckets: latencyBuckets,
		}, []string{"group"}),
		heartbeatFails: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "soloist_heartbeat_failures_total",
			Help: "Heartbeats that did not renew the lease, by reason: error (the call failed) or refused (the lease is not ours).",
		}, []string{"group", "reason"}),
		stepDowns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "soloist_step_downs_total",
			Help: "Terms of this runner that ended, by reason: trust_window (no renewal in time), refused (revoked or taken over) or released (shutdown).",
		}, []string{"group", "reason"}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "soloist_runs_total",
			Help: "Runs this runner finished, by job and outcome (succeeded, failed, timed_out, lost, cancelled).",
		}, []string{"group", "job", "outcome"}),
		runDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "soloist_run_duration_seconds",
			Help:    "Duration of the runs this runner finished, whatever their outcome.",
			Buckets: runBuckets,
		}, []string{"group", "job"}),
		missed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "soloist_fires_missed_total",
			Help: "Fires this runner recorded as missed, per its job's missed-fire policy.",
		}, []string{"group", "job"}),
		abandoned: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "soloist_runs_abandoned_total",
			Help: "Runs of an earlier holder that this runner found unfinished when it took over, and marked abandoned.",
		}, []string{"group"}),
		members: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "soloist_group_members",
			Help: "Balanced mode: the live runners of the group, this one included, at this runner's last renewal.",
		}, []string{"group"}),
		jobsOwned: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "soloist_jobs_owned",
			Help: "Balanced mode: the jobs whose own lease this runner holds, at its last renewal.",
		}, []string{"group"}),
		jobOwned: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "soloist_job_owned",
			Help: "Balanced mode: 1 while this runner owns the job (holds its own lease), 0 once it stopped; absent for a job it never owned.",
		}, []string{"group", "job"}),
		jobTerms: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "soloist_job_owner_changes_total",
			Help: "Balanced mode: terms of the job's own lease this runner began; summed over the group's runners, the job's moves.",
		}, []string{"group", "job"}),
		jobStepDowns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "soloist_job_step_downs_total",
			Help: "Balanced mode: terms of the job's own lease of this runner that ended, by reason: trust_window, refused or released (handed over or shutdown).",
		}, []string{"group", "job", "reason"}),
		unownable: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "soloist_jobs_unownable",
			Help: "Balanced mode: jobs of the group that no live runner may own (their hosts name none), so nobody runs them, at this runner's last renewal.",
		}, []string{"group"}),
		jobUnownable: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "soloist_job_unownable",
			Help: "Balanced mode: 1 while no live runner of the group may own the job (its hosts name none), else 0; absent for a job that never was.",
		}, []string{"group", "job"}),
		runners: map[string]*Runner{},
	}
	m.ages = &ageCollector{m: m, desc: prometheus.NewDesc("soloist_last_heartbeat_age_seconds",
		"Seconds since the database last answered this runner's lease loop: its last renewal while it leads, its last poll while it follows.",
		[]string{"group"}, nil)}
	for _, c := range []prometheus.Collector{
		m.leader, m.leaderChanges, m.acquire, m.acquireErrors, m.heartbeat, m.heartbeatFails,
		m.stepDowns, m.runs, m.runDuration, m.missed, m.abandoned, m.ages,
		m.members, m.jobsOwned, m.jobOwned, m.jobTerms, m.jobStepDowns, m.unownable, m.jobUnownable,
	} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Runner returns the metrics of group's runner, creating them on first use;
// every call with the same group returns the same Runner. Its series start
// at zero, so that a rate or an alert sees them before the first event.
func (m *Metrics) Runner(group string) *Runner {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r, ok := m.runners[group]; ok {
		return r
	}
	r := &Runner{m: m, group: group, created: time.Now()}
	m.leader.WithLabelValues(group).Set(0)
	m.leaderChanges.WithLabelValues(group)
	m.acquire.WithLabelValues(group)
	m.acquireErrors.WithLabelValues(group)
	m.heartbeat.WithLabelValues(group)
	m.abandoned.WithLabelValues(group)
	for _, reason := range []string{ReasonTrustWindow, ReasonRefused, ReasonReleased} {
		m.stepDowns.WithLabelValues(group, reason)
	}
	for _, reason := range []string{FailureError, FailureRefused} {
		m.heartbeatFails.WithLabelValues(group, reason)
	}
	m.runners[group] = r
	return r
}

// ageCollector reports soloist_last_heartbeat_age_seconds of every runner,
// computed when scraped.
type ageCollector struct {
	m    *Metrics
	desc *prometheus.Desc
}

func (c *ageCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *ageCollector) Collect(ch chan<- prometheus.Metric) {
	c.m.mu.Lock()
	runners := make([]*Runner, 0, len(c.m.runners))
	for _, r := range c.m.runners {
		runners = append(runners, r)
	}
	c.m.mu.Unlock()
	now := time.Now()
	for _, r := range runners {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, r.contactAge(now).Seconds(), r.group)
	}
}
