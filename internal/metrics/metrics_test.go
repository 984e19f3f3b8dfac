package metrics_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/soloist-dev/soloist/internal/dbtest"
	"github.com/soloist-dev/soloist/internal/dbtest/netfault"
	"github.com/soloist-dev/soloist/internal/metrics"
	"github.com/soloist-dev/soloist/runner"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

const ttl = time.Second

var (
	tick  = runner.Job{Name: "tick", Schedule: "@every 1s", Run: func(context.Context, runner.Fire) error { return nil }}
	flaky = runner.Job{Name: "flaky", Schedule: "@every 1s", Run: func(context.Context, runner.Fire) error { return errors.New("boom") }}
)

// process is one runner with what a `soloist run --http` process has: its
// own registry, served over HTTP.
type process struct {
	reg    *prometheus.Registry
	m      *metrics.Runner
	r      *runner.Runner
	url    string
	cancel context.CancelFunc
	done   chan error
}

// startProcess runs a runner of group g on db until stop or the test's end.
func startProcess(t *testing.T, db *sql.DB, owner string, jobs ...runner.Job) *process {
	t.Helper()
	return startWith(t, db, owner, []runner.Option{runner.WithTTL(ttl)}, jobs...)
}

// startWith is startProcess with the runner's options.
func startWith(t *testing.T, db *sql.DB, owner string, opts []runner.Option, jobs ...runner.Job) *process {
	t.Helper()
	reg := metrics.NewRegistry("v0.0.0-test")
	all, err := metrics.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	p := &process{reg: reg, m: all.Runner("g"), done: make(chan error, 1)}
	p.r, err = runner.New(db, "g", append([]runner.Option{runner.WithOwner(owner), runner.WithHooks(p.m.Hooks()),
		runner.WithGracePeriod(2 * time.Second), runner.WithLogger(slog.New(slog.DiscardHandler))}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.r.Add(jobs...); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(metrics.Handler(reg))
	p.url = srv.URL
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go func() { p.done <- p.r.Run(ctx) }()
	t.Cleanup(func() {
		p.stop(t)
		srv.Close()
	})
	return p
}

// stop stops the runner gracefully and waits for Run. It may be called twice.
func (p *process) stop(t *testing.T) {
	t.Helper()
	p.cancel()
	if err, ok := <-p.done; ok {
		close(p.done)
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	}
}

func (p *process) leading() bool { _, ok := p.r.Leading(); return ok }

// value is one series of the registry, 0 when it does not exist; for a
// histogram, its count.
func (p *process) value(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	fams, err := p.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	return find(fams, name, labels...)
}

func find(fams []*dto.MetricFamily, name string, labels ...string) float64 {
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue metrics
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return 0
}

// scrape GETs /metrics as Prometheus does and parses the text format.
func (p *process) scrape(t *testing.T) []*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(p.url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	byName, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("the scrape is not the Prometheus text format: %v", err)
	}
	fams := make([]*dto.MetricFamily, 0, len(byName))
	for _, f := range byName {
		fams = append(fams, f)
	}
	return fams
}

func TestMetricsFollowForcedLeaderChanges(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDatabase(t)
	a := startProcess(t, d.DB, "10.0.0.1/a", tick, flaky)
	dbtest.WaitFor(t, 10*time.Second, "a to lead", a.leading)
	b := startProcess(t, d.DB, "10.0.0.2/b", tick, flaky)
	dbtest.WaitFor(t, 10*time.Second, "a to run both jobs", func() bool {
		return a.value(t, "soloist_runs_total", "job", "tick", "outcome", "succeeded") >= 1 &&
			a.value(t, "soloist_runs_total", "job", "flaky", "outcome", "failed") >= 1
	})
	if b.value(t, "soloist_leader") != 0 || b.value(t, "soloist_runs_total") != 0 {
		t.Fatal("the follower reports leading or runs")
	}

	// An operator revokes a's lease: its heartbeat is refused, b takes over.
	if _, err := d.DB.Exec("CALL revoke_lease('g')"); err != nil {
		t.Fatal(err)
	}
	dbtest.WaitFor(t, 10*time.Second, "b to lead", b.leading)
	dbtest.WaitFor(t, 10*time.Second, "a's step-down to be counted", func() bool {
		return a.value(t, "soloist_step_downs_total", "reason", "refused") == 1
	})
	if got := a.value(t, "soloist_heartbeat_failures_total", "reason", "refused"); got != 1 {
		t.Errorf("a counted %v refused heartbeats, want 1", got)
	}

	// b stops gracefully: it releases, and a leads again.
	b.stop(t)
	dbtest.WaitFor(t, 10*time.Second, "a to lead again", a.leading)

	for _, tc := range []struct {
		p    *process
		want string
	}{
		{a, `
# HELP soloist_leader 1 while this runner holds its group's lease, else 0.
# TYPE soloist_leader gauge
soloist_leader{group="g"} 1
# HELP soloist_leader_changes_total Terms this runner won; summed over a group's runners, the group's leader changes.
# TYPE soloist_leader_changes_total counter
soloist_leader_changes_total{group="g"} 2
# HELP soloist_step_downs_total Terms of this runner that ended, by reason: trust_window (no renewal in time), refused (revoked or taken over) or released (shutdown).
# TYPE soloist_step_downs_total counter
soloist_step_downs_total{group="g",reason="refused"} 1
soloist_step_downs_total{group="g",reason="released"} 0
soloist_step_downs_total{group="g",reason="trust_window"} 0
`},
		{b, `
# HELP soloist_leader 1 while this runner holds its group's lease, else 0.
# TYPE soloist_leader gauge
soloist_leader{group="g"} 0
# HELP soloist_leader_changes_total Terms this runner won; summed over a group's runners, the group's leader changes.
# TYPE soloist_leader_changes_total counter
soloist_leader_changes_total{group="g"} 1
# HELP soloist_step_downs_total Terms of this runner that ended, by reason: trust_window (no renewal in time), refused (revoked or taken over) or released (shutdown).
# TYPE soloist_step_downs_total counter
soloist_step_downs_total{group="g",reason="refused"} 0
soloist_step_downs_total{group="g",reason="released"} 1
soloist_step_downs_total{group="g",reason="trust_window"} 0
`},
	} {
		if err := testutil.GatherAndCompare(tc.p.reg, strings.NewReader(tc.want),
			"soloist_leader", "soloist_leader_changes_total", "soloist_step_downs_total"); err != nil {
			t.Errorf("%s: %v", tc.p.r.Owner(), err)
		}
	}

	// What Prometheus scrapes from a: every family, parseable, with the
	// runs it did and the calls it made.
	fams := a.scrape(t)
	for _, name := range []string{
		"soloist_build_info", "soloist_acquire_duration_seconds", "soloist_heartbeat_duration_seconds",
		"soloist_heartbeat_failures_total", "soloist_acquire_errors_total", "soloist_runs_total",
		"soloist_run_duration_seconds", "soloist_fires_missed_total", "soloist_runs_abandoned_total",
		"soloist_last_heartbeat_age_seconds", "go_goroutines", "process_cpu_seconds_total",
	} {
		found := false
		for _, f := range fams {
			found = found || f.GetName() == name
		}
		if !found && name != "soloist_fires_missed_total" { // no fire missed here: no series yet
			t.Errorf("the scrape has no %s", name)
		}
	}
	if find(fams, "soloist_build_info", "version", "v0.0.0-test") != 1 {
		t.Error("soloist_build_info{version=\"v0.0.0-test\"} is not 1")
	}
	// a won the lease twice, and renewed it in between.
	if find(fams, "soloist_acquire_duration_seconds") < 2 || find(fams, "soloist_heartbeat_duration_seconds") < 1 {
		t.Errorf("the latency histograms saw %v lease attempts and %v heartbeats",
			find(fams, "soloist_acquire_duration_seconds"), find(fams, "soloist_heartbeat_duration_seconds"))
	}
	failed := find(fams, "soloist_runs_total", "job", "flaky", "outcome", "failed")
	if failed < 1 || find(fams, "soloist_run_duration_seconds", "job", "flaky") < failed {
		t.Errorf("flaky: %v failed runs, %v durations observed", failed, find(fams, "soloist_run_duration_seconds", "job", "flaky"))
	}
	if age := find(fams, "soloist_last_heartbeat_age_seconds", "group", "g"); age < 0 || age > ttl.Seconds() {
		t.Errorf("a leads and renews, yet its last heartbeat is %vs old, past the TTL", age)
	}
}

func TestTrustWindowStepDownAndReadiness(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDatabase(t)
	proxy, err := netfault.New("a", d.Config.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	viaProxy := d.Open(t, func(c *mysql.Config) { c.Addr = proxy.Addr; c.Timeout = 300 * time.Millisecond })
	a := startProcess(t, viaProxy, "10.0.0.1/a", tick)
	dbtest.WaitFor(t, 10*time.Second, "a to lead", a.leading)
	startProcess(t, d.DB, "10.0.0.2/b", tick)
	dbtest.WaitFor(t, 5*time.Second, "a to renew", func() bool { return a.value(t, "soloist_heartbeat_duration_seconds") > 0 })
	dbtest.WaitFor(t, 5*time.Second, "a, leading and renewing, to be ready", func() bool { return a.m.Ready(ttl) == nil })

	// a is cut from the database: its trust window passes, it steps down,
	// and it stops being ready, but its loop goes on and it stays alive.
	if err := proxy.Blackhole(); err != nil {
		t.Fatal(err)
	}
	dbtest.WaitFor(t, 10*time.Second, "a to step down at the end of its trust window", func() bool {
		return a.value(t, "soloist_step_downs_total", "reason", "trust_window") == 1
	})
	if a.value(t, "soloist_leader") != 0 || a.value(t, "soloist_heartbeat_failures_total", "reason", "error") < 1 {
		t.Error("after a trust-window step-down: still leading, or no failed heartbeat counted")
	}
	dbtest.WaitFor(t, 10*time.Second, "a to be not ready", func() bool { return a.m.Ready(ttl) != nil })
	if age := a.value(t, "soloist_last_heartbeat_age_seconds"); age <= ttl.Seconds() {
		t.Errorf("a is not ready, yet its last heartbeat is only %vs old", age)
	}
	// The connections are reset rather than silent now: a's lease attempts
	// fail at once, and are counted.
	proxy.Heal()
	if err := proxy.Reset(); err != nil {
		t.Fatal(err)
	}
	dbtest.WaitFor(t, 10*time.Second, "a's failed lease attempts to be counted", func() bool {
		return a.value(t, "soloist_acquire_errors_total") >= 1
	})
	if err := a.m.Alive(time.Minute); err != nil {
		t.Errorf("a's loop fails every call but runs, yet it is not alive: %v", err)
	}
	if err := a.m.Alive(0); err == nil || !strings.Contains(err.Error(), "reported nothing for") {
		t.Errorf("Alive with no slack: %v, want the loop's silence named", err)
	}

	proxy.Heal()
	dbtest.WaitFor(t, 15*time.Second, "a to be ready again", func() bool { return a.m.Ready(ttl) == nil })
}

func TestMissedAndAbandonedFiresAreCounted(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDatabase(t)
	// A crashed holder left a run unreported, and tick's fires piled up.
	if _, err := d.DB.Exec(`INSERT INTO runs (lease_name, job, fire_time, owner, token, outcome, started_at)
		VALUES ('g', 'old', UTC_TIMESTAMP() - INTERVAL 1 HOUR, '10.0.0.9/crashed', 0, 'running', UTC_TIMESTAMP() - INTERVAL 1 HOUR)`); err != nil {
		t.Fatal(err)
	}
	if _, err := d.DB.Exec("INSERT INTO jobs (lease_name, name, last_fire) VALUES ('g', 'tick', UTC_TIMESTAMP() - INTERVAL 8 SECOND)"); err != nil {
		t.Fatal(err)
	}
	a := startProcess(t, d.DB, "10.0.0.1/a", tick)
	dbtest.WaitFor(t, 10*time.Second, "the piled-up fires to be handled", func() bool {
		return a.value(t, "soloist_runs_total", "job", "tick", "outcome", "succeeded") >= 2
	})
	a.stop(t)
	if got := a.value(t, "soloist_runs_abandoned_total", "group", "g"); got != 1 {
		t.Errorf("soloist_runs_abandoned_total = %v, want 1", got)
	}
	var missed int
	if err := d.DB.QueryRow("SELECT COUNT(*) FROM runs WHERE job = 'tick' AND outcome = 'missed'").Scan(&missed); err != nil {
		t.Fatal(err)
	}
	if got := a.value(t, "soloist_fires_missed_total", "job", "tick"); missed < 6 || got != float64(missed) {
		t.Errorf("soloist_fires_missed_total = %v; the runs table has %d missed fires", got, missed)
	}
}

func TestStepDownReasons(t *testing.T) {
	for _, tc := range []struct {
		cause error
		want  string
	}{
		{runner.ErrTrustWindowPassed, metrics.ReasonTrustWindow},
		{fmt.Errorf("term: %w", runner.ErrTrustWindowPassed), metrics.ReasonTrustWindow},
		{runner.ErrLeaseNotRenewed, metrics.ReasonRefused},
		{runner.ErrSteppedDown, metrics.ReasonReleased},
		{nil, metrics.ReasonReleased},
	} {
		if got := metrics.StepDownReason(tc.cause); got != tc.want {
			t.Errorf("StepDownReason(%v) = %q, want %q", tc.cause, got, tc.want)
		}
	}
}

func TestOneRegistryHoldsManyGroups(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	if m.Runner("a") != m.Runner("a") {
		t.Fatal("Runner returns a new Runner for a group it has")
	}
	m.Runner("a").Hooks().StartedLeading(1)
	m.Runner("b").Hooks().RunFinished("j", "failed", time.Second)
	if _, err := metrics.New(reg); err == nil {
		t.Fatal("a second New on one registry did not fail")
	}
	want := `
# HELP soloist_leader 1 while this runner holds its group's lease, else 0.
# TYPE soloist_leader gauge
soloist_leader{group="a"} 1
soloist_leader{group="b"} 0
# HELP soloist_runs_total Runs this runner finished, by job and outcome (succeeded, failed, timed_out, lost, cancelled).
# TYPE soloist_runs_total counter
soloist_runs_total{group="b",job="j",outcome="failed"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "soloist_leader", "soloist_runs_total"); err != nil {
		t.Fatal(err)
	}
	if n, err := testutil.GatherAndCount(reg, "soloist_last_heartbeat_age_seconds"); err != nil || n != 2 {
		t.Fatalf("%d heartbeat ages (%v), want one per group", n, err)
	}
	if err := m.Runner("a").Ready(time.Hour); err == nil {
		t.Fatal("a runner whose database never answered is ready")
	}
	if err := m.Runner("a").Alive(0); err != nil {
		t.Fatalf("a runner whose loop has not started is not alive: %v", err)
	}
}

func TestBalancedRunnersExportWhatTheyOwn(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDatabase(t)
	noop := func(context.Context, runner.Fire) error { return nil }
	var jobs []runner.Job
	for _, name := range []string{"a", "b", "c", "d"} {
		jobs = append(jobs, runner.Job{Name: name, Schedule: "@every 1s", Run: noop})
	}
	jobs = append(jobs, runner.Job{Name: "pinned", Schedule: "@every 1s", Hosts: []string{"10.0.0.9"}, Run: noop})
	opts := []runner.Option{runner.WithBalance(), runner.WithTTL(3 * time.Second), runner.WithInterval(500 * time.Millisecond)}
	p0 := startWith(t, d.DB, "127.0.0.1/r0", opts, jobs...)
	p1 := startWith(t, d.DB, "127.0.0.1/r1", opts, jobs...)
	ps := []*process{p0, p1}

	dbtest.WaitFor(t, 30*time.Second, "two members owning two jobs each", func() bool {
		for _, p := range ps {
			if p.value(t, "soloist_group_members", "group", "g") != 2 || p.value(t, "soloist_jobs_owned", "group", "g") != 2 {
				return false
			}
		}
		return true
	})
	for i, p := range ps {
		fams := p.scrape(t)
		if n := find(fams, "soloist_jobs_unownable", "group", "g"); n != 1 {
			t.Errorf("runner %d: soloist_jobs_unownable %v, want 1 (pinned)", i, n)
		}
		if n := find(fams, "soloist_job_unownable", "group", "g", "job", "pinned"); n != 1 {
			t.Errorf("runner %d: soloist_job_unownable{job=pinned} %v, want 1", i, n)
		}
		if n := find(fams, "soloist_leader", "group", "g"); n != 0 {
			t.Errorf("runner %d: soloist_leader %v in balanced mode", i, n)
		}
	}
	// The gauges of the two runners agree with each other: each job is
	// owned by exactly one. (A job moves between renewals, so read both at
	// a moment the counts say is settled.)
	owned := map[string]string{}
	for i, p := range ps {
		for _, j := range []string{"a", "b", "c", "d"} {
			if p.value(t, "soloist_job_owned", "group", "g", "job", j) == 1 {
				if o, dup := owned[j]; dup {
					t.Errorf("job %s owned by runners %s and %d", j, o, i)
				}
				owned[j] = fmt.Sprint(i)
				if p.value(t, "soloist_job_owner_changes_total", "group", "g", "job", j) < 1 {
					t.Errorf("runner %d owns %s without a term begun", i, j)
				}
			}
		}
	}
	if len(owned) != 4 {
		t.Fatalf("owned jobs %v, want a to d", owned)
	}

	// r1 stops: its jobs move to r0, which counts their terms; r1 counts
	// them released.
	var moved []string
	for j, o := range owned {
		if o == "1" {
			moved = append(moved, j)
		}
	}
	p1.stop(t)
	dbtest.WaitFor(t, 30*time.Second, "r0 to own every job alone", func() bool {
		return p0.value(t, "soloist_group_members", "group", "g") == 1 && p0.value(t, "soloist_jobs_owned", "group", "g") == 4
	})
	for _, j := range moved {
		if n := p1.value(t, "soloist_job_owned", "group", "g", "job", j); n != 0 {
			t.Errorf("stopped r1: soloist_job_owned{job=%s} %v, want 0", j, n)
		}
		// Every end counts once, under one reason. (A graceful stop is
		// mostly "released"; the runner may report it as "refused" when its
		// renewal reads the lease between the release and the term's end.)
		var ends float64
		for _, reason := range []string{metrics.ReasonReleased, metrics.ReasonRefused, metrics.ReasonTrustWindow} {
			ends += p1.value(t, "soloist_job_step_downs_total", "group", "g", "job", j, "reason", reason)
		}
		if began := p1.value(t, "soloist_job_owner_changes_total", "group", "g", "job", j); ends != began || ends < 1 {
			t.Errorf("stopped r1: job %s: %v terms begun, %v ended; want as many, at least 1", j, began, ends)
		}
		if n := p0.value(t, "soloist_job_owned", "group", "g", "job", j); n != 1 {
			t.Errorf("r0: soloist_job_owned{job=%s} %v after r1 stopped, want 1", j, n)
		}
		if n := p0.value(t, "soloist_job_owner_changes_total", "group", "g", "job", j); n < 1 {
			t.Errorf("r0: soloist_job_owner_changes_total{job=%s} %v, want the move counted", j, n)
		}
	}
}
