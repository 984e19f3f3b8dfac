package runner_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/soloist-dev/soloist"
	"github.com/soloist-dev/soloist/internal/dbtest"
	"github.com/soloist-dev/soloist/internal/dbtest/netfault"
	"github.com/soloist-dev/soloist/runner"
)

func noop(context.Context, runner.Fire) error { return nil }

func TestNewRejectsImpossibleSettings(t *testing.T) {
	db, err := sql.Open("mysql", "u@tcp(127.0.0.1:1)/x") // never connected
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, tc := range []struct {
		name  string
		group string
		opts  []runner.Option
		want  string
	}{
		{"IntervalTooLongForTTL", "g", []runner.Option{runner.WithTTL(3 * time.Second), runner.WithInterval(2 * time.Second)}, "TTL must be at least 3 intervals"},
		{"MarginTooLong", "g", []runner.Option{runner.WithTTL(3 * time.Second), runner.WithSafetyMargin(2 * time.Second)}, "at most a third of the TTL"},
		{"TTLTooShort", "g", []runner.Option{runner.WithTTL(time.Millisecond)}, "between 30ms and 24h"},
		{"TTLTooLong", "g", []runner.Option{runner.WithTTL(25 * time.Hour)}, "between 30ms and 24h"},
		{"EmptyGroup", "", nil, "group must not be empty"},
		{"GroupWithNewline", "a\nb", nil, "control characters"},
		{"OwnerTooLong", "g", []runner.Option{runner.WithOwner(strings.Repeat("o", 256))}, "owner must be at most 255"},
		{"NilLogger", "g", []runner.Option{runner.WithLogger(nil)}, "logger must not be nil"},
		{"ShortRetention", "g", []runner.Option{runner.WithRetention(time.Second)}, "at least a minute"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runner.New(db, tc.group, tc.opts...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestAddRejectsBadJobs(t *testing.T) {
	db, err := sql.Open("mysql", "u@tcp(127.0.0.1:1)/x")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	r, err := runner.New(db, "g")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Add(runner.Job{Name: "a", Schedule: "@hourly", Run: noop}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		job  runner.Job
		want string
	}{
		{"Duplicate", runner.Job{Name: "a", Schedule: "@daily", Run: noop}, "already added"},
		{"NoRun", runner.Job{Name: "b", Schedule: "@daily"}, "Run is nil"},
		{"BadSchedule", runner.Job{Name: "b", Schedule: "61 * * * *", Run: noop}, `schedule "61 * * * *"`},
		{"Reboot", runner.Job{Name: "b", Schedule: "@reboot", Run: noop}, "@reboot is not supported"},
		{"EveryTooShort", runner.Job{Name: "b", Schedule: "@every 100ms", Run: noop}, "at least 1s"},
		{"UnknownZone", runner.Job{Name: "b", Schedule: "CRON_TZ=Mars/Olympus 0 * * * *", Run: noop}, "Mars/Olympus"},
		{"ZoneWithoutSchedule", runner.Job{Name: "b", Schedule: "TZ=UTC", Run: noop}, "missing field"},
		{"EmptyName", runner.Job{Schedule: "@daily", Run: noop}, "job name must not be empty"},
		{"NeverFires", runner.Job{Name: "b", Schedule: "0 0 30 2 *", Run: noop}, "never fires"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := r.Add(tc.job); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Add: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestScheduleForms(t *testing.T) {
	base := time.Date(2026, 3, 7, 10, 17, 42, 500_000_000, time.UTC) // a Saturday
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		schedule string
		loc      *time.Location
		from     time.Time
		want     string
	}{
		{"*/5 * * * *", nil, base, "2026-03-07T10:20:00Z"},
		{"*/10 * * * * * *", nil, base, "2026-03-07T10:17:50Z"}, // seconds and a year, as in supercronic
		{"*/10 * * * * *", nil, base, "2026-03-07T10:20:00Z"},   // a trailing year, as in supercronic
		{"0 0 1 1 * 2030", nil, base, "2030-01-01T00:00:00Z"},
		{"0 0 L * *", nil, base, "2026-03-31T00:00:00Z"},
		{"0 0 15W * *", nil, base, "2026-03-16T00:00:00Z"}, // the 15th is a Sunday
		{"0 0 ? * 5#2", nil, base, "2026-03-13T00:00:00Z"},
		{"@midnight", nil, base, "2026-03-08T00:00:00Z"},
		{"0 9 * * 1-5", nil, base, "2026-03-09T09:00:00Z"},
		{"0 0 1 * 6", nil, base, "2026-03-14T00:00:00Z"}, // day of month OR day of week, as in Vixie cron
		{"@hourly", nil, base, "2026-03-07T11:00:00Z"},
		{"@daily", nil, base, "2026-03-08T00:00:00Z"},
		{"@weekly", nil, base, "2026-03-08T00:00:00Z"},
		{"@monthly", nil, base, "2026-04-01T00:00:00Z"},
		{"@yearly", nil, base, "2027-01-01T00:00:00Z"},
		{"@every 30s", nil, base, "2026-03-07T10:18:12Z"},
		{"@every 1h30m", nil, base, "2026-03-07T11:47:42Z"},
		{"0 9 * * *", berlin, base, "2026-03-08T08:00:00Z"},
		{"CRON_TZ=Asia/Tokyo 0 9 * * *", nil, base, "2026-03-08T00:00:00Z"},
		{"TZ=America/New_York 0 9 * * *", nil, base, "2026-03-07T14:00:00Z"},
		// 02:30 does not exist in Berlin on 2026-03-29; the fire moves to the next hour.
		{"30 2 * * *", berlin, time.Date(2026, 3, 28, 12, 0, 0, 0, time.UTC), "2026-03-29T01:30:00Z"},
	} {
		t.Run(tc.schedule, func(t *testing.T) {
			next, err := runner.ParseSchedule(tc.schedule, tc.loc)
			if err != nil {
				t.Fatal(err)
			}
			if got := next(tc.from).Format(time.RFC3339); got != tc.want {
				t.Fatalf("next after %s: %s, want %s", tc.from.Format(time.RFC3339), got, tc.want)
			}
		})
	}
}

func TestRunRefusesAMissingOrOldSchema(t *testing.T) {
	t.Parallel()
	t.Run("NotMigrated", func(t *testing.T) {
		d := dbtest.NewEmptyDatabase(t)
		r, err := runner.New(d.DB, "g", runner.WithLogger(testLogger(t)))
		if err != nil {
			t.Fatal(err)
		}
		err = r.Run(context.Background())
		if !errors.Is(err, runner.ErrSchemaVersion) || !strings.Contains(err.Error(), "run `soloist migrate up`") {
			t.Fatalf("Run: %v, want ErrSchemaVersion saying to run soloist migrate up", err)
		}
	})
	t.Run("OlderVersion", func(t *testing.T) {
		d := dbtest.NewEmptyDatabase(t)
		p, err := soloist.NewMigrator(d.DB)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.UpTo(context.Background(), 16); err != nil {
			t.Fatal(err)
		}
		r, err := runner.New(d.DB, "g", runner.WithLogger(testLogger(t)))
		if err != nil {
			t.Fatal(err)
		}
		err = r.Run(context.Background())
		want := fmt.Sprintf("at schema version 16, this build needs %d: run `soloist migrate up`", soloist.SchemaVersion)
		if !errors.Is(err, runner.ErrSchemaVersion) || !strings.Contains(err.Error(), want) {
			t.Fatalf("Run: %v, want %q", err, want)
		}
	})
}

// termGap returns, from lease_terms, when token ended and how long after
// that token+1 began (database time).
func termGap(t testing.TB, db *sql.DB, group string, token uint64) (reason string, gap time.Duration) {
	t.Helper()
	var ended, next time.Time
	err := db.QueryRow(`SELECT a.end_reason, a.ended_at, b.acquired_at FROM lease_terms a JOIN lease_terms b
		ON b.name = a.name AND b.token = a.token + 1 WHERE a.name = ? AND a.token = ?`, group, token).Scan(&reason, &ended, &next)
	if err != nil {
		t.Fatalf("terms %d and %d: %v", token, token+1, err)
	}
	return reason, next.Sub(ended)
}

func TestTakesOverFromAHolderThatStopsRenewing(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDatabase(t)
	// A holder that never renews, as a crashed process leaves its lease.
	rows, err := d.DB.Query("CALL try_acquire('g', '10.0.0.99/crashed/1-0000', 1000)")
	if err != nil {
		t.Fatal(err)
	}
	rows.Close()

	s := startRunner(t, d.DB, "g", nil, runner.WithTTL(time.Second))
	if tok := s.waitLead(t, 5*time.Second); tok != 2 {
		t.Fatalf("took over with token %d, want 2", tok)
	}
	reason, gap := termGap(t, d.DB, "g", 1)
	if reason != "expired" || gap < 0 || gap > time.Second {
		t.Fatalf("term 1 ended %s, term 2 began %v after it; want expired, and soon after the expiry", reason, gap)
	}
	t.Logf("took over %v after the lease expired (database time)", gap)
}

func TestGracefulStopFinishesRunsAndHandsTheLeaseOver(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDatabase(t)
	var c counter
	inRun := make(chan struct{}, 100)
	job := runner.Job{Name: "slow", Schedule: "@every 1s", Run: func(ctx context.Context, f runner.Fire) error {
		c.enter()
		defer c.leave()
		inRun <- struct{}{}
		select {
		case <-time.After(400 * time.Millisecond):
			return nil
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}}
	opts := []runner.Option{runner.WithTTL(3 * time.Second), runner.WithGracePeriod(5 * time.Second)}
	a := startRunner(t, d.DB, "g", []runner.Job{job}, opts...)
	tokA := a.waitLead(t, 5*time.Second)
	b := startRunner(t, d.DB, "g", []runner.Job{job}, opts...)

	<-inRun // stop a while it runs a job
	a.stop(t)
	tokB := b.waitLead(t, 5*time.Second)
	if tokB != tokA+1 {
		t.Fatalf("b leads with token %d, want %d", tokB, tokA+1)
	}
	reason, gap := termGap(t, d.DB, "g", tokA)
	if reason != "released" || gap > 3*time.Second {
		t.Fatalf("a's term ended %s and b's began %v later; want released, and before a's lease could have expired", reason, gap)
	}
	t.Logf("handover took %v (database time)", gap)
	dbtest.WaitFor(t, 5*time.Second, "b to run the job", func() bool {
		for _, r := range runs(t, d.DB, "g") {
			if r.Token == tokB && r.Outcome == "succeeded" {
				return true
			}
		}
		return false
	})
	for _, r := range runs(t, d.DB, "g") {
		if r.Token == tokA && r.Outcome != "succeeded" {
			t.Errorf("a's run of %s ended %s (%s); a graceful stop lets it finish", r.Fire, r.Outcome, r.Message)
		}
	}
}

func TestStepsDownInsideItsTrustWindowWhenTheDatabaseIsUnreachable(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDatabase(t)
	proxy, err := netfault.New("a", d.Config.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	viaProxy := d.Open(t, func(c *mysql.Config) { c.Addr = proxy.Addr; c.Timeout = 300 * time.Millisecond })

	// Long enough that a loaded machine does not end a's term before the
	// fault does.
	const ttl = 3 * time.Second
	var lastRenewSent atomic.Int64 // unix nanos of the send of the last successful renewal
	type cancelled struct {
		at    time.Time
		cause error
		fire  runner.Fire
	}
	stopped := make(chan cancelled, 10)
	running := make(chan runner.Fire, 10)
	job := runner.Job{Name: "long", Schedule: "@every 1s", Run: func(ctx context.Context, f runner.Fire) error {
		running <- f
		<-ctx.Done()
		stopped <- cancelled{time.Now(), context.Cause(ctx), f}
		return ctx.Err()
	}}
	hooks := runner.Hooks{Heartbeat: func(took time.Duration, renewed bool, err error) {
		if renewed {
			lastRenewSent.Store(time.Now().Add(-took).UnixNano())
		}
	}}
	a := startHooked(t, viaProxy, "g", []runner.Job{job}, hooks, runner.WithTTL(ttl), runner.WithOwner("10.0.0.1/a"))
	a.waitLead(t, 5*time.Second)
	b := startRunner(t, d.DB, "g", []runner.Job{job}, runner.WithTTL(ttl), runner.WithOwner("10.0.0.2/b"))
	// A claimed run is not yet a running one: wait until a's job runs (on a
	// loaded machine a's term can end between the two, and then its job
	// never starts).
	select {
	case f := <-running:
		if f.Owner != "10.0.0.1/a" {
			t.Fatalf("the first run is %s's, want a's", f.Owner)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a's job did not start within 10s")
	}
	dbtest.WaitFor(t, 5*time.Second, "a to renew", func() bool { return lastRenewSent.Load() != 0 })

	if err := proxy.Blackhole(); err != nil {
		t.Fatal(err)
	}
	var got cancelled
	select {
	case got = <-stopped:
	case <-time.After(30 * time.Second):
		t.Fatal("a's running job was not cancelled within 30s of losing the database")
	}
	if got.fire.Owner != "10.0.0.1/a" {
		t.Fatalf("the first job cancelled is %s's, want a's", got.fire.Owner)
	}
	deadline := time.Unix(0, lastRenewSent.Load()).Add(ttl)
	if !runner.LeaseLost(got.cause) {
		t.Fatalf("a's job was cancelled with %v, want a lost lease", got.cause)
	}
	if !got.at.Before(deadline) {
		t.Fatalf("a stopped its job %v after its lease could expire", got.at.Sub(deadline))
	}
	t.Logf("a cancelled its job %v before its lease could expire", deadline.Sub(got.at).Round(time.Millisecond))

	tokB := b.waitLead(t, 5*time.Second)
	if reason, gap := termGap(t, d.DB, "g", tokB-1); reason != "expired" || gap < 0 {
		t.Fatalf("b took over %v after a's lease ended (%s)", gap, reason)
	}
	proxy.Heal()
	// a reports what happened to its run once the database is back; b had
	// marked it abandoned meanwhile.
	dbtest.WaitFor(t, 15*time.Second, "a's run to be recorded as lost", func() bool {
		for _, r := range runs(t, d.DB, "g") {
			if r.Token == got.fire.Token && r.Fire.Equal(got.fire.Time) {
				return r.Outcome == "lost"
			}
		}
		return false
	})
	// b goes on running the job; nothing ran twice.
	dbtest.WaitFor(t, 5*time.Second, "b to run the job", func() bool {
		for _, r := range runs(t, d.DB, "g") {
			if r.Token == tokB {
				return true
			}
		}
		return false
	})
	checkEachFireOnce(t, runs(t, d.DB, "g"))
}

// checkEachFireOnce fails if a fire of a job appears twice.
func checkEachFireOnce(t testing.TB, rs []run) {
	t.Helper()
	seen := map[string]bool{}
	for _, r := range rs {
		k := r.Job + "@" + r.Fire.Format(time.RFC3339Nano)
		if seen[k] {
			t.Fatalf("fire %s recorded twice", k)
		}
		seen[k] = true
	}
}

// pileUp registers a job as if its last fire was ago, so that the first
// holder finds the fires since piled up.
func pileUp(t testing.TB, db *sql.DB, group, job string, ago time.Duration) time.Time {
	t.Helper()
	var last time.Time
	err := db.QueryRow("SELECT UTC_TIMESTAMP() - INTERVAL ? SECOND", int(ago.Seconds())).Scan(&last)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("INSERT INTO jobs (lease_name, name, last_fire) VALUES (?, ?, ?)", group, job, last); err != nil {
		t.Fatal(err)
	}
	return last
}

func TestMissedFirePolicies(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		missed runner.Missed
		check  func(t *testing.T, backlog, ran []run)
	}{
		{runner.MissedRunOnce, func(t *testing.T, backlog, ran []run) {
			// The latest fire piled up when the runner caught up runs. That
			// is the backlog's last, unless the runner caught up only after
			// a later fire came due too (a slow start): then that later
			// fire ran (checked above) and the whole backlog is missed.
			if len(ran) > 1 || len(ran) == 1 && ran[0].Fire != backlog[len(backlog)-1].Fire {
				t.Fatalf("ran %d of %d piled-up fires, want only the latest", len(ran), len(backlog))
			}
		}},
		{runner.MissedSkip, func(t *testing.T, backlog, ran []run) {
			for _, r := range ran {
				if r.Started.Time.Sub(r.Fire) > time.Second {
					t.Fatalf("ran fire %s %v late; skip starts fires at most 1s late", r.Fire, r.Started.Time.Sub(r.Fire))
				}
			}
			if len(ran) > 1 {
				t.Fatalf("ran %d piled-up fires, want at most the one due within the last second", len(ran))
			}
		}},
		{runner.MissedRunAll, func(t *testing.T, backlog, ran []run) {
			if len(ran) != len(backlog) {
				t.Fatalf("ran %d of %d piled-up fires, want all", len(ran), len(backlog))
			}
		}},
	} {
		t.Run(tc.missed.String(), func(t *testing.T) {
			t.Parallel()
			d := dbtest.NewDatabase(t)
			last := pileUp(t, d.DB, "g", "tick", 8*time.Second)
			var started time.Time
			if err := d.DB.QueryRow("SELECT UTC_TIMESTAMP(6)").Scan(&started); err != nil {
				t.Fatal(err)
			}
			job := runner.Job{Name: "tick", Schedule: "@every 1s", Missed: tc.missed, Run: noop}
			s := startRunner(t, d.DB, "g", []runner.Job{job}, runner.WithTTL(time.Second))
			s.waitLead(t, 5*time.Second)
			dbtest.WaitFor(t, 10*time.Second, "fires after the backlog", func() bool {
				rs := runs(t, d.DB, "g")
				return len(rs) > 0 && rs[len(rs)-1].Fire.After(started.Add(time.Second))
			})
			s.stop(t)

			rs := runs(t, d.DB, "g")
			checkEachFireOnce(t, rs)
			// The pile is what was due when the holder started its first
			// run: on a loaded machine that is later than the runner's start.
			pile := started
			for _, r := range rs {
				if r.Started.Valid && (pile.Equal(started) || r.Started.Time.Before(pile)) {
					pile = r.Started.Time
				}
			}
			var backlog, ran []run
			for i, r := range rs {
				want := last.Add(time.Duration(i+1) * time.Second)
				if !r.Fire.Equal(want) {
					t.Fatalf("fire %d is %s, want %s: every fire recorded once, in order", i, r.Fire, want)
				}
				if r.Fire.After(pile) {
					if r.Outcome != "succeeded" {
						t.Fatalf("fire %s after the backlog ended %s (%s)", r.Fire, r.Outcome, r.Message)
					}
					continue
				}
				backlog = append(backlog, r)
				switch r.Outcome {
				case "succeeded":
					ran = append(ran, r)
				case "missed":
					if !strings.Contains(r.Message, "policy "+tc.missed.String()) {
						t.Fatalf("missed fire %s says %q", r.Fire, r.Message)
					}
				default:
					t.Fatalf("fire %s ended %s", r.Fire, r.Outcome)
				}
			}
			if len(backlog) < 7 {
				t.Fatalf("only %d piled-up fires", len(backlog))
			}
			tc.check(t, backlog, ran)
		})
	}
}

// A job's first fire that comes due while no runner leads is owed like any
// other: the next leader catches it up by the job's missed-fire policy, and
// the history records it.
func TestAFirstFireDueWhileNobodyLedIsCaughtUp(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDatabase(t)
	job := runner.Job{Name: "first", Schedule: "@every 4s", Run: noop} // missed: run once
	a := startRunner(t, d.DB, "g", []runner.Job{job}, runner.WithTTL(time.Second))
	a.waitLead(t, 5*time.Second)
	var registered time.Time
	dbtest.WaitFor(t, 5*time.Second, "the job's registration", func() bool {
		err := d.DB.QueryRow("SELECT synced_at FROM jobs WHERE lease_name = 'g' AND name = 'first' AND synced_at IS NOT NULL").Scan(&registered)
		return err == nil
	})
	a.stop(t) // graceful: nobody leads from here on
	if rs := runs(t, d.DB, "g"); len(rs) != 0 {
		t.Fatalf("the first runner handled %d fires before it stopped; the test needs none", len(rs))
	}
	time.Sleep(5 * time.Second) // the first fire, registered + 4s, comes due

	var takeover time.Time
	if err := d.DB.QueryRow("SELECT UTC_TIMESTAMP(6)").Scan(&takeover); err != nil {
		t.Fatal(err)
	}
	b := startRunner(t, d.DB, "g", []runner.Job{job}, runner.WithTTL(time.Second))
	b.waitLead(t, 5*time.Second)
	dbtest.WaitFor(t, 5*time.Second, "the owed first fire", func() bool { return len(runs(t, d.DB, "g")) > 0 })
	b.stop(t)

	r := runs(t, d.DB, "g")[0]
	if !r.Fire.After(registered) || !r.Fire.Before(takeover) {
		t.Fatalf("first fire recorded is %s; want the one due between the registration %s and the takeover %s",
			r.Fire, registered, takeover)
	}
	if r.Outcome != "succeeded" || r.Owner != b.Owner() {
		t.Fatalf("the owed fire %s ended %s on %s; want succeeded on the new leader %s", r.Fire, r.Outcome, r.Owner, b.Owner())
	}
}

func TestConcurrencyPolicies(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		policy runner.Concurrency
		check  func(t *testing.T, most int, rs []run)
	}{
		{runner.ConcurrencyForbid, func(t *testing.T, most int, rs []run) {
			if most != 1 {
				t.Fatalf("%d runs at once; forbid allows one", most)
			}
		}},
		{runner.ConcurrencyAllow, func(t *testing.T, most int, rs []run) {
			if most < 2 {
				t.Fatalf("at most %d run at once; allow should have overlapped 1.5 s runs fired every second", most)
			}
		}},
		{runner.ConcurrencyReplace, func(t *testing.T, most int, rs []run) {
			replaced := 0
			for _, r := range rs {
				if r.Outcome == "cancelled" && strings.Contains(r.Message, runner.ErrReplaced.Error()) {
					replaced++
				}
			}
			if replaced == 0 {
				t.Fatal("no run was replaced")
			}
		}},
	} {
		t.Run(tc.policy.String(), func(t *testing.T) {
			t.Parallel()
			d := dbtest.NewDatabase(t)
			var c counter
			job := runner.Job{Name: "slow", Schedule: "@every 1s", Concurrency: tc.policy,
				Run: func(ctx context.Context, f runner.Fire) error {
					c.enter()
					defer c.leave()
					select {
					case <-time.After(1500 * time.Millisecond):
						return nil
					case <-ctx.Done():
						return context.Cause(ctx)
					}
				}}
			s := startRunner(t, d.DB, "g", []runner.Job{job}, runner.WithTTL(time.Second))
			s.waitLead(t, 5*time.Second)
			dbtest.WaitFor(t, 15*time.Second, "four runs", func() bool { n, _ := c.get(); return n >= 4 })
			s.stop(t)
			rs := runs(t, d.DB, "g")
			checkEachFireOnce(t, rs)
			_, most := c.get()
			tc.check(t, most, rs)
		})
	}
}

func TestTimeoutCancelsTheRun(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDatabase(t)
	causes := make(chan error, 10)
	job := runner.Job{Name: "stuck", Schedule: "@every 1s", Timeout: 200 * time.Millisecond,
		Run: func(ctx context.Context, f runner.Fire) error {
			<-ctx.Done()
			causes <- context.Cause(ctx)
			return ctx.Err()
		}}
	s := startRunner(t, d.DB, "g", []runner.Job{job}, runner.WithTTL(time.Second))
	if cause := <-causes; !errors.Is(cause, runner.ErrTimedOut) {
		t.Fatalf("cause %v, want ErrTimedOut", cause)
	}
	dbtest.WaitFor(t, 5*time.Second, "the run recorded as timed out", func() bool {
		rs := runs(t, d.DB, "g")
		return len(rs) > 0 && rs[0].Outcome == "timed_out"
	})
	s.stop(t)
}

func TestPausedJobsDoNotFire(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDatabase(t)
	if _, err := d.DB.Exec("INSERT INTO jobs (lease_name, name, paused_at) VALUES ('g', 'paused', UTC_TIMESTAMP(6))"); err != nil {
		t.Fatal(err)
	}
	var paused, active atomic.Int32
	jobs := []runner.Job{
		{Name: "paused", Schedule: "@every 1s", Run: func(context.Context, runner.Fire) error { paused.Add(1); return nil }},
		{Name: "active", Schedule: "@every 1s", Run: func(context.Context, runner.Fire) error { active.Add(1); return nil }},
	}
	s := startRunner(t, d.DB, "g", jobs, runner.WithTTL(time.Second))
	dbtest.WaitFor(t, 10*time.Second, "three runs of the active job", func() bool { return active.Load() >= 3 })
	if n := paused.Load(); n != 0 {
		t.Fatalf("the paused job ran %d times", n)
	}
	if _, err := d.DB.Exec("UPDATE jobs SET paused_at = NULL WHERE name = 'paused'"); err != nil {
		t.Fatal(err)
	}
	dbtest.WaitFor(t, 5*time.Second, "the resumed job to run", func() bool { return paused.Load() > 0 })
	s.stop(t)
	// Resuming does not catch up the fires that passed while paused.
	if n := paused.Load(); n > 3 {
		t.Fatalf("the resumed job ran %d times at once", n)
	}
}

func TestJobsCanBeReplacedWhileRunning(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDatabase(t)
	var first, second atomic.Int32
	s := startRunner(t, d.DB, "g", []runner.Job{{Name: "first", Schedule: "@every 1s",
		Run: func(context.Context, runner.Fire) error { first.Add(1); return nil }}}, runner.WithTTL(time.Second))
	dbtest.WaitFor(t, 5*time.Second, "the first job to run", func() bool { return first.Load() > 0 })
	if err := s.SetJobs(runner.Job{Name: "second", Schedule: "@every 1s",
		Run: func(context.Context, runner.Fire) error { second.Add(1); return nil }}); err != nil {
		t.Fatal(err)
	}
	dbtest.WaitFor(t, 5*time.Second, "the second job to run", func() bool { return second.Load() > 0 })
	before := first.Load()
	time.Sleep(1500 * time.Millisecond)
	if first.Load() > before+1 {
		t.Fatal("the removed job kept running")
	}
	s.stop(t)
}

func TestARunnerWithTheSameOwnerCannotBothLead(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDatabase(t)
	// Two default owners in one process differ, so they compete.
	a := startRunner(t, d.DB, "g", nil, runner.WithTTL(time.Second))
	b := startRunner(t, d.DB, "g", nil, runner.WithTTL(time.Second))
	if a.Owner() == b.Owner() {
		t.Fatalf("two runners share the owner %q", a.Owner())
	}
	select {
	case <-a.leads:
	case <-b.leads:
	case <-time.After(5 * time.Second):
		t.Fatal("neither runner leads")
	}
	for range 50 {
		_, aLeads := a.Leading()
		_, bLeads := b.Leading()
		if aLeads && bLeads {
			t.Fatal("both runners lead")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// grantRunner creates a user with EXECUTE on the runner's procedures only.
func grantRunner(t testing.TB, d *dbtest.Database) *mysql.Config {
	t.Helper()
	var grants []string
	for _, p := range soloist.RunnerProcedures() {
		grants = append(grants, "GRANT EXECUTE ON PROCEDURE {db}."+p)
	}
	return d.NewUser(t, grants...)
}

func TestRunsWithNothingButExecuteOnTheProcedures(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDatabase(t)
	cfg := grantRunner(t, d)
	db := d.Open(t, func(c *mysql.Config) { *c = *cfg })

	var ran atomic.Int32
	job := runner.Job{Name: "j", Schedule: "@every 1s", Run: func(ctx context.Context, f runner.Fire) error {
		ran.Add(1)
		return nil
	}}
	s := startRunner(t, db, "g", []runner.Job{job}, runner.WithTTL(time.Second))
	s.waitLead(t, 5*time.Second)
	dbtest.WaitFor(t, 5*time.Second, "two runs", func() bool { return ran.Load() >= 2 })
	s.stop(t)
	if rs := runs(t, d.DB, "g"); len(rs) < 2 || rs[0].Outcome != "succeeded" {
		t.Fatalf("runs: %+v", rs)
	}
	for _, q := range []string{
		"SELECT * FROM leases",
		"UPDATE leases SET token = token + 1",
		"INSERT INTO runs (lease_name, job, fire_time, owner, token, outcome) VALUES ('g', 'j', NOW(), 'x', 1, 'succeeded')",
		"DELETE FROM runs",
		"CALL try_acquire('g', 'x', 1000)",
	} {
		var me *mysql.MySQLError
		if _, err := db.Exec(q); !errors.As(err, &me) || (me.Number != 1142 && me.Number != 1370) {
			t.Errorf("%s: %v, want access denied (1142 or 1370) for the runner's user", q, err)
		}
	}
}

func TestCloseFreesTheRunnerOnlyAfterRun(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDatabase(t)
	ran := make(chan struct{}, 10)
	job := runner.Job{Name: "j", Schedule: "@every 1s", Run: func(context.Context, runner.Fire) error {
		ran <- struct{}{}
		return nil
	}}
	s := startRunner(t, d.DB, "g", []runner.Job{job})
	<-ran // it has prepared its statements and recorded a claim
	if err := s.Close(); err == nil || !strings.Contains(err.Error(), "while Run is running") {
		t.Fatalf("Close during Run: %v, want an error saying Run is running", err)
	}
	s.stop(t)
	if err := s.Close(); err != nil {
		t.Fatalf("Close after Run: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := s.Run(context.Background()); !errors.Is(err, runner.ErrClosed) {
		t.Fatalf("Run after Close: %v, want ErrClosed", err)
	}
}
