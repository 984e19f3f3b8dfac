package faults_test

import (
	"strings"
	"testing"
	"time"

	"github.com/soloist-dev/soloist/internal/dbtest"
)

// TestPartitionTheLeader cuts the leading runner from the database through
// its proxy (toxiproxy, in process) in three ways: a black hole (data stops,
// connections stay open), resets (every connection is reset), and a slow
// link (1.5 s each way, longer than the trust window). The leader must stop
// its work inside its trust window, before its lease can expire; another
// runner takes over; healing the link causes no double run. (Each once here,
// 5 times in the long form.)
func TestPartitionTheLeader(t *testing.T) {
	t.Parallel()
	for _, fault := range partitions {
		t.Run(fault.name, func(t *testing.T) {
			t.Parallel()
			testPartition(t, false, []partition{fault})
		})
	}
}

// partition is a way to cut a runner from the database.
type partition struct {
	name   string
	inject func(c *cluster, r *proc) error
}

var partitions = []partition{
	{"Blackhole", func(c *cluster, r *proc) error { return r.proxy.Blackhole() }},
	{"Reset", func(c *cluster, r *proc) error { return r.proxy.Reset() }},
	{"SlowLink", func(c *cluster, r *proc) error { return r.proxy.Latency(1500, 0) }},
}

// testPartition runs the partition scenario with each of faults in turn
// on one cluster (each once, 5 times in the long form). The runner cut off
// is the one that holds the long job's lease: the group's in leader mode,
// the job's own in balanced mode.
func testPartition(t *testing.T, balance bool, faults []partition) {
	rounds := 1
	if longForm() {
		rounds = 5
	}
	const ttl = time.Second
	c := newCluster(t, clusterOptions{runners: 3, ttl: ttl, balance: balance, crontab: crontabEverySecond + `# soloist: name=long concurrency=forbid missed=once
*/4 * * * * * * {ledger} -sleep 3s
`})
	c.settle(20 * time.Second)
	f := figures{}
	for _, fault := range faults {
		for range rounds {
			leader, token, job := c.waitRunning("long", 20*time.Second)
			if err := fault.inject(c, leader); err != nil {
				t.Fatal(err)
			}
			f.Faults++
			c.waitOwner("long", leader, ttl+10*time.Second)
			dbtest.WaitFor(t, 10*time.Second, "the partitioned runner to step down", func() bool {
				return strings.Contains(leader.run.Output(), "trust window passed")
			})
			leader.proxy.Heal()

			// Its job was stopped before its lease could expire (the
			// ledger's wall clock and the database's are this machine's).
			var stopped *execution
			dbtest.WaitFor(t, 10*time.Second, "the partitioned runner's job to end", func() bool {
				stopped = c.executions()[job.runID]
				return stopped.end != 0
			})
			var expired time.Time
			if err := c.db.QueryRow("SELECT ended_at FROM lease_terms WHERE name = ? AND token = ?", c.lease("long"), token).Scan(&expired); err != nil {
				t.Fatal(err)
			}
			if !stopped.killed || !stopped.endWall.Before(expired) {
				t.Errorf("%s: the partitioned runner's job %s ended at %s (killed %v); its lease expired at %s",
					fault.name, stopped, stopped.endWall.Format(time.StampMicro), stopped.killed, expired.Format(time.StampMicro))
			} else {
				t.Logf("%s: the partitioned runner stopped its job %v before its lease expired", fault.name, expired.Sub(stopped.endWall).Round(time.Millisecond))
			}
			time.Sleep(3 * time.Second) // let the healed runner rejoin
		}
	}
	c.stopAll()
	got := c.check(everySecond)
	got.Faults = f.Faults
	report(t, got)
	requireQuickTakeovers(t, c, got)
}
