package bench

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/soloist-dev/soloist/internal/dbtest"
)

// The balanced comparison is only fair if each alternative's SQL works as a
// job scheduler: every statement runs on the server, jobs fire again and
// again, no fire runs twice, and when a node stops without a word the
// others go on with its jobs (Quartz after recovering the node, which its
// scheduler-state row going shows; db-scheduler by polling).
func TestAlternativesDistributeJobs(t *testing.T) {
	for _, kind := range []string{"quartz", "dbscheduler"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			d := dbtest.NewEmptyDatabase(t)
			const jobs, nodes = 10, 3
			if err := distributorSetup(ctx, kind, d.DB, jobs, time.Now().Truncate(time.Second).Add(time.Second)); err != nil {
				t.Fatal(err)
			}
			type run struct {
				node int
				at   time.Time
			}
			var mu sync.Mutex
			runs := map[string][]run{} // by job@fire
			var errs []error
			var wg sync.WaitGroup
			stops := make([]context.CancelFunc, nodes)
			for i := range nodes {
				db := d.Open(t, func(c *mysql.Config) { c.ClientFoundRows = true })
				n, err := newDistributor(kind, db, fmt.Sprintf("node-%d", i), 1500*time.Millisecond, func(err error) {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				})
				if err != nil {
					t.Fatal(err)
				}
				if q, ok := n.(*quartzNode); ok {
					q.idleWait = 2 * time.Second // not 30 s: a node that found nothing to acquire sleeps that long
				}
				nctx, stop := context.WithCancel(ctx)
				stops[i] = stop
				wg.Go(func() {
					err := n.run(nctx, func(job string, fire time.Time) {
						mu.Lock()
						k := fmt.Sprintf("%s@%d", job, fire.Unix())
						runs[k] = append(runs[k], run{node: i, at: time.Now()})
						mu.Unlock()
					})
					if err != nil {
						mu.Lock()
						errs = append(errs, err)
						mu.Unlock()
					}
				})
			}
			t.Cleanup(func() {
				for _, stop := range stops {
					stop()
				}
				wg.Wait()
			})
			// ranSince counts the jobs that started a fire on a node other
			// than not after t.
			ranSince := func(t0 time.Time, not int) int {
				mu.Lock()
				defer mu.Unlock()
				seen := map[string]bool{}
				for k, rs := range runs {
					for _, r := range rs {
						if r.at.After(t0) && r.node != not {
							seen[k[:len(jobName(0))]] = true
						}
					}
				}
				return len(seen)
			}
			dbtest.WaitFor(t, time.Minute, "every job to run", func() bool { return ranSince(time.Time{}, -1) == jobs })
			again := time.Now()
			dbtest.WaitFor(t, time.Minute, "every job to run again", func() bool { return ranSince(again, -1) == jobs })

			// Node 0 stops as a crash would: it releases nothing.
			stops[0]()
			stopped := time.Now()
			if kind == "quartz" {
				dbtest.WaitFor(t, time.Minute, "another node to recover node-0", func() bool {
					var n int
					err := d.DB.QueryRow("SELECT COUNT(*) FROM QRTZ_SCHEDULER_STATE WHERE INSTANCE_NAME = 'node-0'").Scan(&n)
					return err == nil && n == 0
				})
			}
			dbtest.WaitFor(t, time.Minute, "every job to run on the other nodes", func() bool { return ranSince(stopped, 0) == jobs })
			for _, stop := range stops {
				stop()
			}
			wg.Wait()

			mu.Lock()
			defer mu.Unlock()
			for _, err := range errs {
				t.Errorf("%s: %v", kind, err)
			}
			for k, rs := range runs {
				if len(rs) > 1 {
					t.Errorf("%s: fire %s ran %d times: %v", kind, k, len(rs), rs)
				}
			}
			after := 0
			for _, rs := range runs {
				if rs[0].at.After(stopped) {
					after++
				}
			}
			if after < jobs {
				t.Errorf("%s: %d fires ran after node-0 stopped, want at least %d", kind, after, jobs)
			}
		})
	}
}

// The balanced section replaces its own part of docs/benchmarks.md and
// nothing else.
func TestSpliceSectionKeepsTheOtherSections(t *testing.T) {
	const head = "# Benchmarks\n\nintro\n\n## 6. Other\n\nsix\n\n"
	const tail = "## Reproduce\n\nmake bench\n"
	for _, tc := range []struct{ name, in, want string }{
		{"InsertsBeforeReproduce", head + tail, head + "## 7. Balanced mode: new\n\n" + tail},
		{"ReplacesTheOldSection", head + "## 7. Balanced mode: old\n\nold figures\n\n" + tail, head + "## 7. Balanced mode: new\n\n" + tail},
		{"ReplacesTheLastSection", head + "## 7. Balanced mode: old\n\nold\n", head + "## 7. Balanced mode: new\n\n"},
		{"AppendsWithoutReproduce", head, head + "## 7. Balanced mode: new\n\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := spliceSection(tc.in, balancedHeading, "## 7. Balanced mode: new\n\n"); got != tc.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

// A system that did not run its fires cannot pass the target on the
// lateness of the few it ran, nor set the bar for Soloist.
func TestBalancedVerdictsCountOnlyFiresThatRan(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	row := func(kind string, ran int, p99 time.Duration, stmts, cpu float64) *BalancedResult {
		return &BalancedResult{Kind: kind, Runners: 10, Jobs: 100, Window: 30 * time.Second, Expected: 3000, Ran: ran,
			Lateness: Latency{P99: p99}, PerSecond: stmts, ServerCPU: cpu}
	}
	for _, tc := range []struct {
		name string
		rows []*BalancedResult
		want string
	}{
		{"SoloistRanNothing", []*BalancedResult{row("quartz", 3000, ms(300), 1000, 0.2), row("soloist", 0, 0, 8, 1.2)},
			"10 runners, 100 jobs: target **missed**: Soloist ran 0 of the 3000 fires due in the window."},
		{"TheBetterAlternativeSetsTheBar", []*BalancedResult{row("quartz", 3000, ms(300), 1000, 0.2), row("dbscheduler", 3000, ms(400), 300, 0.1),
			row("soloist", 3000, ms(200), 200, 0.15)},
			"10 runners, 100 jobs: lateness p99 200.0 ms against Quartz cluster's 300.0 ms: met; statements 200/s against db-scheduler's 300/s: met; server CPU 0.15 cores against db-scheduler's 0.10 cores: **missed**."},
		{"AnAlternativeThatFellBehindIsNoBar", []*BalancedResult{row("quartz", 100, ms(50), 100, 0.1), row("dbscheduler", 3000, ms(400), 300, 0.1),
			row("soloist", 3000, ms(200), 200, 0.05)},
			"10 runners, 100 jobs: lateness p99 200.0 ms against db-scheduler's 400.0 ms: met; statements 200/s against db-scheduler's 300/s: met; server CPU 0.05 cores against db-scheduler's 0.10 cores: met."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := (&Report{Balanced: tc.rows}).balancedVerdicts()
			if len(got) != 1 || got[0] != tc.want {
				t.Errorf("verdicts = %q, want [%q]", got, tc.want)
			}
		})
	}
}
