package runner_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/soloist-dev/soloist/internal/dbtest"
	"github.com/soloist-dev/soloist/internal/dbtest/netfault"
	"github.com/soloist-dev/soloist/runner"
)

// longForm reports whether the long forms of the fault tests should run
// (make faults sets SOLOIST_LONG=1).
func longForm() bool { return os.Getenv("SOLOIST_LONG") != "" }

// ledger records every execution of a job in this process, on the local
// monotonic clock that all runners of the process share.
type ledger struct {
	mu   sync.Mutex
	base time.Time
	rows []execution
}

type execution struct {
	fire       time.Time
	owner      string
	token      uint64
	start, end time.Duration
}

func (l *ledger) job(d time.Duration) func(context.Context, runner.Fire) error {
	return func(ctx context.Context, f runner.Fire) error {
		start := time.Since(l.base)
		select {
		case <-time.After(d):
		case <-ctx.Done():
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		l.rows = append(l.rows, execution{f.Time, f.Owner, f.Token, start, time.Since(l.base)})
		return nil
	}
}

// TestEachFireRunsExactlyOnceAcrossLeaderChanges runs an every-second job on
// three runners while forcing a leader change every 2.5 seconds, in turn by
// a graceful restart, by partitioning the leader from the database, and by an
// operator revoking its lease. Every fire must run exactly once, runs must
// never overlap, tokens never go backwards, and a lease that expired must be
// taken over within TTL + 100 ms. 15 seconds here; a minute with
// SOLOIST_LONG=1 (make faults).
func TestEachFireRunsExactlyOnceAcrossLeaderChanges(t *testing.T) {
	t.Parallel()
	duration := 15 * time.Second
	if longForm() {
		duration = time.Minute
	}
	const ttl = time.Second
	d := dbtest.NewDatabase(t)
	led := &ledger{base: time.Now()}
	job := runner.Job{Name: "tick", Schedule: "@every 1s", Missed: runner.MissedRunAll, Run: led.job(50 * time.Millisecond)}

	type member struct {
		owner string
		proxy *netfault.Proxy
		db    *sql.DB
		r     *started
	}
	members := make([]*member, 3)
	start := func(m *member) {
		m.r = startRunner(t, m.db, "g", []runner.Job{job},
			runner.WithTTL(ttl), runner.WithOwner(m.owner), runner.WithGracePeriod(2*time.Second))
	}
	for i := range members {
		p, err := netfault.New(fmt.Sprint("runner", i), d.Config.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		m := &member{owner: fmt.Sprintf("10.0.0.%d/runner-%d", i+1, i), proxy: p}
		m.db = d.Open(t, func(c *mysql.Config) { c.Addr = p.Addr; c.Timeout = 300 * time.Millisecond })
		start(m)
		members[i] = m
	}
	leader := func() *member {
		for _, m := range members {
			if _, ok := m.r.Leading(); ok {
				return m
			}
		}
		return nil
	}

	forced := map[string]int{}
	deadline := time.Now().Add(duration)
	for i := 0; time.Now().Before(deadline); i++ {
		time.Sleep(2500 * time.Millisecond)
		l := leader()
		if l == nil {
			continue
		}
		switch i % 3 {
		case 0:
			forced["graceful restart"]++
			l.r.stop(t)
			start(l)
		case 1:
			forced["partition"]++
			if err := l.proxy.Blackhole(); err != nil {
				t.Fatal(err)
			}
			dbtest.WaitFor(t, 10*time.Second, "another runner to take over", func() bool {
				n := leader()
				return n != nil && n != l
			})
			l.proxy.Heal()
		case 2:
			forced["revoke"]++
			if _, err := d.DB.Exec("UPDATE leases SET revoked_at = UTC_TIMESTAMP(6) WHERE name = 'g'"); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, m := range members {
		m.r.stop(t)
	}

	// The history: every fire from the first to the last, once, in order.
	rs := runs(t, d.DB, "g")
	if len(rs) < int(duration/time.Second)-3 {
		t.Fatalf("only %d fires recorded in %v", len(rs), duration)
	}
	outcomes := map[string]int{}
	for i, r := range rs {
		if i > 0 && !r.Fire.Equal(rs[i-1].Fire.Add(time.Second)) {
			t.Fatalf("fire after %s is %s: a fire is missing or recorded twice", rs[i-1].Fire, r.Fire)
		}
		if i > 0 && r.Token < rs[i-1].Token {
			t.Fatalf("fire %s ran under token %d, after token %d", r.Fire, r.Token, rs[i-1].Token)
		}
		outcomes[r.Outcome]++
	}
	// A partition can cut off a holder after the database committed its
	// claim of a fire and before the answer arrived: the holder never runs
	// it, and the next holder records it abandoned. At most one per forced
	// partition; every other fire ran and reported success.
	if outcomes["succeeded"]+outcomes["abandoned"] != len(rs) || outcomes["abandoned"] > forced["partition"] {
		t.Errorf("outcomes %v after %d partitions: every fire should have run and reported success, but for at most one abandoned claim per partition",
			outcomes, forced["partition"])
	}

	// The ledger: each recorded fire executed exactly once, never two at once.
	sort.Slice(led.rows, func(i, j int) bool { return led.rows[i].start < led.rows[j].start })
	perFire := map[time.Time]int{}
	for i, e := range led.rows {
		perFire[e.fire]++
		if i > 0 && e.start < led.rows[i-1].end {
			t.Errorf("fire %s (%s) started while fire %s (%s) still ran", e.fire, e.owner, led.rows[i-1].fire, led.rows[i-1].owner)
		}
	}
	for _, r := range rs {
		if n := perFire[r.Fire]; n != 1 && !(r.Outcome == "abandoned" && n == 0) {
			t.Errorf("fire %s (%s) executed %d times", r.Fire, r.Outcome, n)
		}
	}

	// Takeovers: from the database's record of the terms.
	terms, gaps := takeovers(t, d.DB, "g")
	var worst time.Duration
	for _, g := range gaps["expired"] {
		worst = max(worst, g)
	}
	t.Logf("%v: %d fires, forced %v, %d terms; takeover after expiry: %s; after release: %s",
		duration, len(rs), forced, terms, summary(gaps["expired"]), summary(gaps["released"]))
	if longForm() && worst > 100*time.Millisecond {
		t.Errorf("a lease that expired was taken over %v after its expiry; the target is 100 ms", worst)
	}
}

// takeovers measures, from lease_terms, how long after each term ended the
// next began, by how the term ended.
func takeovers(t testing.TB, db *sql.DB, group string) (terms int, gaps map[string][]time.Duration) {
	t.Helper()
	rows, err := db.Query(`SELECT a.end_reason, TIMESTAMPDIFF(MICROSECOND, a.ended_at, b.acquired_at)
		FROM lease_terms a JOIN lease_terms b ON b.name = a.name AND b.token = a.token + 1
		WHERE a.name = ? ORDER BY a.token`, group)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	gaps = map[string][]time.Duration{}
	for rows.Next() {
		var reason string
		var us int64
		if err := rows.Scan(&reason, &us); err != nil {
			t.Fatal(err)
		}
		gaps[reason] = append(gaps[reason], time.Duration(us)*time.Microsecond)
		terms++
	}
	return terms + 1, gaps
}

func summary(ds []time.Duration) string {
	if len(ds) == 0 {
		return "none"
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return fmt.Sprintf("n=%d median %v max %v", len(s), s[len(s)/2].Round(time.Millisecond), s[len(s)-1].Round(time.Millisecond))
}
