package faults_test

import (
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/soloist-dev/soloist/internal/dbtest"
	"github.com/soloist-dev/soloist/internal/ledger"
)

// crontabSixJobs is issue 15's crontab: six jobs every second, each working
// 200 ms and then making a fenced write with SOLOIST_LEASE and SOLOIST_TOKEN.
var crontabSixJobs = func() string {
	var b strings.Builder
	for i := 1; i <= 6; i++ {
		fmt.Fprintf(&b, "# soloist: name=job%d missed=all\n@every 1s {ledger} -sleep 200ms -fence\n", i)
	}
	return b.String()
}()

var sixJobs = checkOptions{period: map[string]time.Duration{
	"job1": time.Second, "job2": time.Second, "job3": time.Second,
	"job4": time.Second, "job5": time.Second, "job6": time.Second,
}}

// TestBalancedKillAndRestart is issue 15's "Done when": three `soloist run
// --balance` on one crontab of six @every 1s jobs settle at two jobs each,
// as the job leases in the database show. One runner is killed with
// SIGKILL: the other two take its jobs (three each), and each of its jobs
// runs again, started by another runner. The killed runner is restarted and
// the balance returns to two each. Through all of it the checker finds no
// fire run twice, no overlap of a job's runs, no stale fenced write
// committed, and each job lease's tokens only grow. (One kill here, 5 in
// the long form.)
//
// Jobs that moved but needn't have (more than the dead runner's after the
// kill, more than two after the restart) are logged with their terms, not
// failed: runners that see the group a moment apart may disagree, and a
// job its assigned runner does not take within two intervals is taken by
// whoever sees it free, so on a loaded machine an extra move can happen.
//
// How long after the kill each job fired again, and how long the balance
// took to return after the restart, are measurements, logged as
// refire_after_kill and rebalanced_after_restart and quoted in
// docs/reliability.md; the test waits for them up to TTL + 15 s and 30 s,
// bounds that only a takeover or a rebalance that never comes misses.
func TestBalancedKillAndRestart(t *testing.T) {
	t.Parallel()
	kills := 1
	if longForm() {
		kills = 5
	}
	const ttl = 2 * time.Second
	c := newCluster(t, clusterOptions{runners: 3, ttl: ttl, balance: true, crontab: crontabSixJobs})
	shares := c.waitShares(c.runners, 6, 30*time.Second)
	t.Logf("settled: %v", shares)
	// member_report, which `soloist status` shows, says the same.
	if got := c.memberJobs(); len(got) != 3 || got["127.0.0.1/faults-0"] != 2 || got["127.0.0.1/faults-1"] != 2 || got["127.0.0.1/faults-2"] != 2 {
		t.Errorf("member_report: jobs owned by the live runners %v, want 2 each", got)
	}
	c.waitRuns(12, 20*time.Second)
	f := figures{}
	var refire, refireAll, rebalance []time.Duration
	var extraMoves []int
	for k := range kills {
		victim := c.runners[k%len(c.runners)]
		jobs := shares[victim]
		killed := ledger.Now()
		c.signal(victim, syscall.SIGKILL)
		f.Faults++

		// Each job runs again after the kill; the victim's, started by
		// another runner.
		first := map[string]*execution{}
		dbtest.WaitFor(t, ttl+15*time.Second, fmt.Sprintf("all six jobs to run again after %s was killed", victim), func() bool {
			for _, e := range c.executions() {
				if e.start > killed && e.owner != victim.owner && (first[e.job] == nil || e.start < first[e.job].start) {
					first[e.job] = e
				}
			}
			return len(first) == 6
		})
		worst, worstAll := time.Duration(0), time.Duration(0)
		for job, e := range first {
			d := time.Duration(e.start - killed)
			worstAll = max(worstAll, d)
			if slices.Contains(jobs, job) {
				worst = max(worst, d)
				t.Logf("kill %d: %s's job %s ran again %v after the kill: %s", k, victim, job, d.Round(time.Millisecond), e)
			}
		}
		refire, refireAll = append(refire, worst), append(refireAll, worstAll)
		survivors := slices.DeleteFunc(slices.Clone(c.runners), func(r *proc) bool { return r == victim })
		after := c.waitShares(survivors, 6, ttl+15*time.Second)
		t.Logf("kill %d: two runners share the jobs: %v", k, after)
		// Only the dead runner's jobs had to move.
		movedKill := moves(shares, after) - len(shares[victim])
		extraMoves = append(extraMoves, movedKill)
		if movedKill > 0 {
			c.logMoves(fmt.Sprintf("kill %d: %d jobs of the survivors moved too", k, movedKill), shares, after)
		}

		restarted := time.Now()
		c.restart(victim)
		shares = c.waitShares(c.runners, 6, 30*time.Second)
		rebalance = append(rebalance, time.Since(restarted))
		t.Logf("kill %d: %v after the restart: %v", k, time.Since(restarted).Round(time.Millisecond), shares)
		// Two jobs had to move to the restarted runner, one from each of
		// the others.
		movedJoin := moves(after, shares) - 2
		extraMoves = append(extraMoves, movedJoin)
		if movedJoin > 0 {
			c.logMoves(fmt.Sprintf("kill %d: %d jobs more than the 2 needed moved when %s rejoined", k, movedJoin, victim), after, shares)
		}
		// Each job runs under its owner after the rebalance.
		settled := ledger.Now()
		dbtest.WaitFor(t, 20*time.Second, "every job to run under its owner after the rebalance", func() bool {
			ran := map[string]bool{}
			for _, e := range c.executions() {
				if e.start > settled && slices.Contains(shares[c.runner(e.owner)], e.job) {
					ran[e.job] = true
				}
			}
			return len(ran) == 6
		})
	}
	c.stopAll()
	got := c.check(sixJobs)
	got.Faults = f.Faults
	report(t, got)
	requireQuickTakeovers(t, c, got)
	t.Logf("FIGURES %s/Timing: kills=%d ttl=%v refire_after_kill(killed runner's jobs)=%s refire_after_kill(all six)=%s rebalanced_after_restart=%s needless_moves=%v",
		t.Name(), kills, ttl, stats(refire), stats(refireAll), stats(rebalance), extraMoves)
	if len(got.Expired) < 2*kills {
		t.Errorf("%d kills of a runner owning 2 jobs but only %d takeovers after an expiry", kills, len(got.Expired))
	}
}

// TestBalancedPause is TestPauseTheLeader in balanced mode: the runner that
// owns the job is frozen past the TTL with the job in flight; another
// runner takes the job's lease, the frozen job's fenced write is refused.
func TestBalancedPause(t *testing.T) {
	t.Parallel()
	testPause(t, true)
}

// TestBalancedPartition is TestPartitionTheLeader in balanced mode, the
// three partitions one after the other on one cluster: each time, the
// runner that owns the long job is cut off and must stop it before the
// job's lease can expire.
func TestBalancedPartition(t *testing.T) {
	t.Parallel()
	testPartition(t, true, partitions)
}

// TestBalancedDatabaseRestart is TestRestartTheDatabase in balanced mode,
// one restart here (5 in the long form).
func TestBalancedDatabaseRestart(t *testing.T) {
	t.Parallel()
	testRestartTheDatabase(t, true, 1)
}

// moves counts the jobs whose owner differs between two shares.
func moves(before, after map[*proc][]string) int {
	n := 0
	for r, jobs := range after {
		for _, job := range jobs {
			if !slices.Contains(before[r], job) {
				n++
			}
		}
	}
	return n
}

// logMoves logs the terms of the jobs that changed owner between two
// shares, with the gap between each term's end and the next's start.
func (c *cluster) logMoves(what string, before, after map[*proc][]string) {
	c.t.Helper()
	c.t.Logf("%s: %v, then %v", what, before, after)
	for r, jobs := range after {
		for _, job := range jobs {
			if slices.Contains(before[r], job) {
				continue
			}
			rows, err := c.db.Query(`SELECT token, CONVERT(holder USING utf8mb4), acquired_at, ended_at, COALESCE(end_reason, '')
				FROM lease_terms WHERE name = ? ORDER BY token DESC LIMIT 3`, c.lease(job))
			if err != nil {
				c.t.Fatal(err)
			}
			for rows.Next() {
				var token uint64
				var holder, reason string
				var acquired time.Time
				var ended sql.NullTime
				if err := rows.Scan(&token, &holder, &acquired, &ended, &reason); err != nil {
					c.t.Fatal(err)
				}
				c.t.Logf("  %s token %d: %s from %s to %s (%s)", job, token, holder,
					acquired.Format("15:04:05.000"), ended.Time.Format("15:04:05.000"), reason)
			}
			rows.Close()
		}
	}
}

// TestBalancedJobRunsAgainAfterASlowRenewal slows one runner's link to the
// database (450 ms each way) for a few seconds: its renewals reach the
// database, which extends its job leases, but the answers come back after
// its trust window (TTL 1 s less the 200 ms safety margin) has passed, so
// the runner ends its jobs' terms. Once the link is healed, every job must
// run again within a few TTLs, by that runner or another.
//
// A job whose term ended on the runner's own deadline while the database
// still counts the runner as its live holder is renewed by the runner's
// next balance_renew (which renews every job lease the runner holds); if
// the runner neither runs nor releases it, nobody ever runs it again.
func TestBalancedJobRunsAgainAfterASlowRenewal(t *testing.T) {
	t.Parallel()
	const ttl = time.Second
	c := newCluster(t, clusterOptions{runners: 2, ttl: ttl, balance: true, crontab: `# soloist: name=a missed=once
* * * * * * * {ledger} -sleep 100ms -fence
# soloist: name=b missed=once
* * * * * * * {ledger} -sleep 100ms -fence
`})
	shares := c.waitShares(c.runners, 2, 20*time.Second)
	slow := c.runners[0]
	job := shares[slow][0]
	c.waitRuns(4, 20*time.Second)
	if err := slow.proxy.Latency(450, 0); err != nil {
		t.Fatal(err)
	}
	dbtest.WaitFor(t, 10*time.Second, "the slowed runner to end its job's term", func() bool {
		return strings.Contains(slow.run.Output(), "trust window passed")
	})
	time.Sleep(2 * ttl)
	slow.proxy.Heal()
	healed := ledger.Now()
	t.Logf("healed %s's link; %s is held by %v", slow, job, func() string { r, tok := c.owner(job); return fmt.Sprintf("%v (token %d)", r, tok) }())

	ran := func() bool {
		for _, e := range c.executions() {
			if e.job == job && e.start > healed {
				return true
			}
		}
		return false
	}
	deadline := time.Now().Add(10 * ttl)
	for !ran() && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if !ran() {
		r, tok := c.owner(job)
		t.Errorf("job %s did not run in the %v after the link was healed; its lease is held live by %v (token %d), which does not run it", job, 10*ttl, r, tok)
	}
	c.stopAll()
	report(t, c.check(checkOptions{}))
}

// memberJobs is member_report's jobs_owned of each live runner of the group.
func (c *cluster) memberJobs() map[string]int {
	c.t.Helper()
	rows, err := c.db.Query("CALL member_report(?)", c.group)
	if err != nil {
		c.t.Fatal(err)
	}
	defer rows.Close()
	jobs := map[string]int{}
	for rows.Next() {
		var group, owner string
		var joined, renewed, expires time.Time
		var live bool
		var owned, weight int
		if err := rows.Scan(&group, &owner, &joined, &renewed, &expires, &live, &owned, &weight); err != nil {
			c.t.Fatal(err)
		}
		if live {
			jobs[owner] = owned
		}
	}
	if err := rows.Err(); err != nil {
		c.t.Fatal(err)
	}
	return jobs
}
