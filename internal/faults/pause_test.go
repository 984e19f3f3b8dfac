package faults_test

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/soloist-dev/soloist/internal/dbtest"
)

// TestPauseTheLeader stops the leading runner with SIGSTOP for longer than
// the TTL while its job is in flight, then continues it. The job is a
// separate process, so it goes on while its runner is frozen: this is what
// an unfenced command can still do, and the test shows it. Its fenced write,
// made after another runner took over, must be refused; its unfenced write
// goes through. On waking, the paused runner must start nothing more under
// its old token. (Once here, 5 times in the long form.)
func TestPauseTheLeader(t *testing.T) {
	t.Parallel()
	testPause(t, false)
}

// testPause is the SIGSTOP scenario; in balanced mode the runner frozen is
// the one that owns the job.
func testPause(t *testing.T, balance bool) {
	rounds := 1
	if longForm() {
		rounds = 5
	}
	const ttl = time.Second
	// Every two seconds a job that works 2.5 s: the fire after a takeover
	// comes while the frozen runner's job is still working.
	c := newCluster(t, clusterOptions{runners: 3, ttl: ttl, balance: balance, crontab: `# soloist: name=tick concurrency=forbid missed=once
*/2 * * * * * * {ledger} -sleep 2500ms -fence -unfenced
`})
	var inFlight []*execution // the paused runners' jobs, excused from the overlap check
	var wakes []struct {
		r     *proc
		token uint64
		at    time.Time
	}
	c.settle(20 * time.Second)
	f := figures{}
	for range rounds {
		// Wait until the leader has a job in flight, then freeze the runner.
		leader, token, job := c.waitRunning("tick", 20*time.Second)
		c.signal(leader, syscall.SIGSTOP)
		f.Faults++
		inFlight = append(inFlight, job)
		c.waitOwner("tick", leader, ttl+5*time.Second)
		time.Sleep(2 * ttl) // the frozen runner's job finishes meanwhile
		c.signal(leader, syscall.SIGCONT)
		wakes = append(wakes, struct {
			r     *proc
			token uint64
			at    time.Time
		}{leader, token, time.Now()})
		dbtest.WaitFor(t, 10*time.Second, "the frozen runner to log that it stepped down", func() bool {
			return strings.Contains(leader.run.Output(), "trust window passed")
		})
		time.Sleep(2 * time.Second)
	}
	c.stopAll()

	got := c.check(checkOptions{period: map[string]time.Duration{"tick": 2 * time.Second}, mayOverlap: func(a, b *execution) bool {
		for _, j := range inFlight {
			if a.runID == j.runID || b.runID == j.runID {
				return true
			}
		}
		return false
	}})
	got.Faults = f.Faults
	execs := c.executions()
	for i, j := range inFlight {
		e := execs[j.runID]
		switch {
		case e.fence == nil || e.fence.OK:
			t.Errorf("the frozen runner's job %s made a fenced write after the takeover", e)
		case !strings.Contains(e.fence.Err, "lease lost"):
			t.Errorf("the frozen runner's fenced write failed with %q, want lease lost", e.fence.Err)
		case e.unfenced == nil || !e.unfenced.OK:
			t.Errorf("the frozen runner's unfenced write did not go through: %+v", e.unfenced)
		default:
			t.Logf("shown: %s, frozen with its runner, wrote unfenced after the takeover; its fenced write was refused: %s", e, e.fence.Err)
		}
		// On waking, nothing new under the old token.
		w := wakes[i]
		for _, x := range execs {
			if x.owner == w.r.owner && x.token == w.token && x.runID != j.runID && x.startWall.After(w.at) {
				t.Errorf("the paused runner started %s under its old token after waking", x)
			}
		}
	}
	if got.Excused == 0 {
		t.Error("the frozen runner's job did not overlap the new leader's: the scenario did not show what it means to")
	}
	report(t, got)
	requireQuickTakeovers(t, c, got)
}
