package faults_test

import (
	"context"
	"testing"
	"time"

	"github.com/soloist-dev/soloist/internal/dbserver"
)

// TestRestartTheDatabase stops the database server (SIGTERM) during a busy
// schedule, keeps it down for 4 seconds and starts it again on the same data
// directory, twice (5 times in the long form). The runners must reconnect on
// their own, no fire may run twice, and the fires of the outage must follow
// each job's missed-fire policy: all of them run (missed=all), only the
// latest (missed=once), none that are more than a second late (missed=skip).
func TestRestartTheDatabase(t *testing.T) {
	t.Parallel()
	testRestartTheDatabase(t, false, 2)
}

// testRestartTheDatabase is the restart scenario with restarts restarts in
// the short form (5 in the long form).
func testRestartTheDatabase(t *testing.T, balance bool, restarts int) {
	if longForm() {
		restarts = 5
	}
	const ttl = time.Second
	c := newCluster(t, clusterOptions{runners: 3, ttl: ttl, balance: balance, server: &dbserver.Options{}, crontab: `# soloist: name=all missed=all
* * * * * * * {ledger} -sleep 100ms -fence
# soloist: name=once missed=once
* * * * * * * {ledger} -sleep 100ms
# soloist: name=skip missed=skip
* * * * * * * {ledger} -sleep 100ms
`})
	c.waitOwner("all", nil, 20*time.Second)
	c.settle(20 * time.Second)
	c.waitRuns(6, 20*time.Second)
	type outage struct{ from, to time.Time }
	var outages []outage
	f := figures{}
	for range restarts {
		from := time.Now()
		if err := c.server.Stop(); err != nil {
			t.Fatal(err)
		}
		f.Faults++
		time.Sleep(4 * time.Second)
		if err := c.server.Boot(context.Background()); err != nil {
			t.Fatal(err)
		}
		outages = append(outages, outage{from, time.Now()})
		c.waitOwner("all", nil, 20*time.Second)
		time.Sleep(4 * time.Second)
	}
	c.stopAll()
	got := c.check(checkOptions{period: map[string]time.Duration{"all": time.Second, "once": time.Second, "skip": time.Second}})
	got.Faults = f.Faults

	// The fires whose time fell in an outage, by job and outcome.
	counts := map[string]map[string]int{}
	rows, err := c.db.Query("SELECT job, fire_time, outcome FROM runs WHERE lease_name = ?", c.group)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var job, outcome string
		var fire time.Time
		if err := rows.Scan(&job, &fire, &outcome); err != nil {
			t.Fatal(err)
		}
		for _, o := range outages {
			if fire.After(o.from.Add(time.Second)) && fire.Before(o.to.Add(-time.Second)) {
				if counts[job] == nil {
					counts[job] = map[string]int{}
				}
				counts[job][outcome]++
			}
		}
	}
	rows.Close()
	t.Logf("fires during the outages, by job and outcome: %v", counts)
	if counts["all"]["missed"] > 0 || counts["all"]["succeeded"] == 0 {
		t.Errorf("missed=all: %v; every fire of the outage should have run late", counts["all"])
	}
	if counts["once"]["succeeded"] > restarts || counts["once"]["missed"] == 0 {
		t.Errorf("missed=once: %v; at most the latest fire of each outage should run", counts["once"])
	}
	if counts["skip"]["succeeded"] > 0 || counts["skip"]["missed"] == 0 {
		t.Errorf("missed=skip: %v; fires more than a second late should be missed", counts["skip"])
	}
	report(t, got)
}
