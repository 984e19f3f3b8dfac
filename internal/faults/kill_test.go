package faults_test

import (
	"math/rand/v2"
	"syscall"
	"testing"
	"time"
)

// crontabEverySecond is the busy schedule most scenarios use: a job every
// second that works 200 ms and then makes a fenced write, and a slower one.
const crontabEverySecond = `# soloist: name=tick concurrency=forbid missed=all
* * * * * * * {ledger} -sleep 200ms -fence
# soloist: name=slow concurrency=forbid missed=once
*/3 * * * * * * {ledger} -sleep 1s
`

var everySecond = checkOptions{period: map[string]time.Duration{"tick": time.Second}}

// TestKillTheLeader kills the leading `soloist run` with SIGKILL again and
// again (5 times here, 50 in the long form) and restarts it. Every takeover
// must happen within the TTL after the last heartbeat plus 100 ms (a second
// in the short form), and nothing may overlap or run twice.
func TestKillTheLeader(t *testing.T) {
	t.Parallel()
	kills := 5
	if longForm() {
		kills = 50
	}
	const ttl = time.Second
	c := newCluster(t, clusterOptions{runners: 3, ttl: ttl, crontab: crontabEverySecond})
	leader, _ := c.waitHolder(nil, 20*time.Second)
	c.waitRuns(2, 20*time.Second)
	f := figures{}
	for range kills {
		c.signal(leader, syscall.SIGKILL)
		f.Faults++
		next, _ := c.waitHolder(leader, ttl+5*time.Second)
		c.restart(leader)
		time.Sleep(time.Duration(500+rand.IntN(1500)) * time.Millisecond)
		leader = next
	}
	c.stopAll()
	got := c.check(everySecond)
	got.Faults = f.Faults
	report(t, got)
	requireQuickTakeovers(t, c, got)
	if len(got.Expired) < kills {
		t.Errorf("%d kills but only %d takeovers after an expiry", kills, len(got.Expired))
	}
}
