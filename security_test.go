package soloist_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/soloist-dev/soloist"
	"github.com/soloist-dev/soloist/internal/dbtest"
)

// operatorUser is a user with the operator role's grants.
func operatorUser(t *testing.T, d *dbtest.Database) *sql.DB {
	t.Helper()
	var grants []string
	for _, p := range append(append([]string{}, soloist.ReportProcedures()...), soloist.AdminProcedures()...) {
		grants = append(grants, "GRANT EXECUTE ON PROCEDURE {db}."+p)
	}
	cfg := d.NewUser(t, grants...)
	return d.Open(t, func(c *mysql.Config) { *c = *cfg })
}

type claim struct {
	Claimed bool
	RunID   sql.NullInt64
	Reason  string
	NowMs   int64
}

func claimFire(t *testing.T, q querier, lock, owner string, token uint64, job string, fire time.Time, outcome string) (claim, error) {
	t.Helper()
	var c claim
	err := callRow(t, q, []string{"claimed", "run_id", "reason", "now_ms"}, []any{&c.Claimed, &c.RunID, &c.Reason, &c.NowMs},
		"CALL claim_fire(?, ?, ?, ?, ?, NULL, ?, NULL)", lock, owner, token, job, fire.UnixMilli(), outcome)
	return c, err
}

func lastFire(t *testing.T, db *sql.DB, lock, job string) time.Time {
	t.Helper()
	var last time.Time
	if err := db.QueryRow("SELECT last_fire FROM jobs WHERE lease_name = ? AND name = ?", lock, job).Scan(&last); err != nil {
		t.Fatal(err)
	}
	return last
}

func dbNow(t *testing.T, db *sql.DB) time.Time {
	t.Helper()
	var now time.Time
	if err := db.QueryRow("SELECT UTC_TIMESTAMP(6)").Scan(&now); err != nil {
		t.Fatal(err)
	}
	return now
}

// TestAFutureClaimIsRefused is the attack of a holder that claims a fire in
// the year 9999 to stop the job for good, and the repair of a schedule an
// older version let it move.
func TestAFutureClaimIsRefused(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDatabase(t)
	runner := runnerUser(t, d)
	const lock, owner = "future", "10.0.0.1/rogue"
	l := tryAcquire(t, d.DB, lock, owner, 60000)
	now := dbNow(t, d.DB)
	if c, err := claimFire(t, runner, lock, owner, l.Token, "j", now.Add(-time.Second), "missed"); err != nil || c.Reason != "recorded" {
		t.Fatalf("a past missed fire: %+v %v", c, err)
	}
	year9999 := time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)
	for _, outcome := range []string{"missed", "running"} {
		_, err := claimFire(t, runner, lock, owner, l.Token, "j", year9999, outcome)
		wantSignal(t, err, "p_fire_ms is more than a minute after the database clock")
		_, err = claimFire(t, runner, lock, owner, l.Token, "j", now.Add(2*time.Minute), outcome)
		wantSignal(t, err, "p_fire_ms is more than a minute after the database clock")
	}
	// Within the allowance a missed fire is still recorded, and last_fire
	// stays within a minute of the database clock.
	if c, err := claimFire(t, runner, lock, owner, l.Token, "j", now.Add(30*time.Second), "missed"); err != nil || c.Reason != "recorded" {
		t.Fatalf("a missed fire 30 s ahead: %+v %v", c, err)
	}
	if last := lastFire(t, d.DB, lock, "j"); last.After(dbNow(t, d.DB).Add(time.Minute)) {
		t.Fatalf("last_fire moved to %v", last)
	}

	// A schedule that an older version let move: the operator repairs it.
	if _, err := d.DB.Exec("INSERT INTO runs (lease_name, job, fire_time, owner, token, outcome, finished_at) VALUES (?, 'j', ?, ?, ?, 'missed', UTC_TIMESTAMP(6))",
		lock, year9999, owner, l.Token); err != nil {
		t.Fatal(err)
	}
	if _, err := d.DB.Exec("UPDATE jobs SET last_fire = ? WHERE lease_name = ? AND name = 'j'", year9999, lock); err != nil {
		t.Fatal(err)
	}
	op := operatorUser(t, d)
	var known, repaired bool
	var before, after sql.NullInt64
	var removed int64
	repair := func() {
		t.Helper()
		if err := callRow(t, op, []string{"known", "repaired", "last_fire_ms", "repaired_ms", "removed"},
			[]any{&known, &repaired, &before, &after, &removed}, "CALL repair_job(?, 'j')", lock); err != nil {
			t.Fatal(err)
		}
	}
	repair()
	if !known || !repaired || before.Int64 != year9999.UnixMilli() || removed != 1 || after.Int64 != now.Add(30*time.Second).UnixMilli() {
		t.Fatalf("repair_job: known %v repaired %v from %v to %v, removed %d", known, repaired, before, after, removed)
	}
	repair()
	if repaired || removed != 0 {
		t.Fatalf("a second repair_job changed a sound job: repaired %v removed %d", repaired, removed)
	}
	if _, err := runner.Exec("CALL repair_job(?, 'j')", lock); err == nil {
		t.Fatal("the runner's user may call repair_job")
	}
}

// TestAOneMinutePruneKeepsTheDBAsFloor is the attack of a holder that
// prunes with a retention of one minute to erase who led and what ran.
func TestAOneMinutePruneKeepsTheDBAsFloor(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDatabase(t)
	runner := runnerUser(t, d)
	const lock, owner = "prune", "10.0.0.1/rogue"
	l := tryAcquire(t, d.DB, lock, owner, 60000)
	for i, age := range []time.Duration{time.Hour, 2 * 24 * time.Hour, 8 * 24 * time.Hour} {
		if _, err := d.DB.Exec(`INSERT INTO runs (lease_name, job, fire_time, owner, token, outcome, started_at, finished_at)
			VALUES (?, 'j', UTC_TIMESTAMP(6) - INTERVAL ? SECOND, 'old', 1, 'succeeded', UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))`,
			lock, int64(age/time.Second)); err != nil {
			t.Fatal(err)
		}
		if _, err := d.DB.Exec(`INSERT INTO lease_terms (name, token, holder, acquired_at, ended_at, end_reason)
			VALUES (?, ?, 'old', UTC_TIMESTAMP(6) - INTERVAL ? SECOND, UTC_TIMESTAMP(6) - INTERVAL ? SECOND, 'released')`,
			lock, 1000+i, int64(age/time.Second)+1, int64(age/time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	prune := func() int64 {
		t.Helper()
		var deleted int64
		if err := callRow(t, runner, []string{"deleted"}, []any{&deleted}, "CALL prune_runs(?, ?, ?, 60000)", lock, owner, l.Token); err != nil {
			t.Fatal(err)
		}
		return deleted
	}
	// Only the rows older than 7 days go: one run and one term.
	if n := prune(); n != 2 {
		t.Fatalf("a one-minute prune deleted %d rows, want the 2 older than 7 days", n)
	}
	// Neither the runner nor an operator can lower the floor.
	for name, db := range map[string]*sql.DB{"runner": runner, "operator": operatorUser(t, d)} {
		if _, err := db.Exec("UPDATE soloist_settings SET value = 60000 WHERE name = 'min_retention_ms'"); err == nil {
			t.Errorf("the %s's user changed the retention floor", name)
		}
	}
	// The DBA (the migrator role) can: to one day, the 2-day-old rows go.
	if _, err := d.DB.Exec("UPDATE soloist_settings SET value = 86400000 WHERE name = 'min_retention_ms'"); err != nil {
		t.Fatal(err)
	}
	if n := prune(); n != 2 {
		t.Fatalf("after the DBA lowered the floor to a day, the prune deleted %d rows, want 2", n)
	}
	var left int
	if err := d.DB.QueryRow("SELECT COUNT(*) FROM runs WHERE lease_name = ?", lock).Scan(&left); err != nil || left != 1 {
		t.Fatalf("runs left: %d (%v), want the hour-old one", left, err)
	}
}

func TestRevokeLeaseCountsOnlyALiveLease(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDatabase(t)
	op := operatorUser(t, d)
	revoke := func(lock string) bool {
		t.Helper()
		var revoked bool
		var holder sql.NullString
		var token sql.NullInt64
		if err := callRow(t, op, []string{"revoked", "holder", "token"}, []any{&revoked, &holder, &token}, "CALL revoke_lease(?)", lock); err != nil {
			t.Fatal(err)
		}
		return revoked
	}
	l := tryAcquire(t, d.DB, "L", "10.0.0.1/a", 60000)
	if !revoke("L") {
		t.Fatal("revoking a live lease: revoked = 0")
	}
	if revoke("L") {
		t.Fatal("revoking it again: revoked = 1")
	}
	release(t, d.DB, "L", "10.0.0.1/a", l.Token)
	if revoke("L") {
		t.Fatal("revoking a released lease: revoked = 1")
	}
	if revoke("never-taken") {
		t.Fatal("revoking a lock nobody took: revoked = 1")
	}
}

// TestForceReleaseEndsTheLeaseNow: the next try_acquire by anyone succeeds
// with a new token, and the old holder's heartbeat and fenced writes fail.
func TestForceReleaseEndsTheLeaseNow(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDatabase(t)
	runner := runnerUser(t, d)
	op := operatorUser(t, d)
	const lock, a, b = "forced", "10.0.0.1/a", "10.0.0.2/b"
	la := tryAcquire(t, d.DB, lock, a, 3600000) // a day-long lease would block the group for a day
	if _, err := runner.Exec("CALL sync_job(?, ?, ?, 'j', '@hourly')", lock, a, la.Token); err != nil {
		t.Fatal(err)
	}
	if lb := tryAcquire(t, d.DB, lock, b, 3600000); lb.Acquired {
		t.Fatal("b took a live lease")
	}
	var released bool
	var holder sql.NullString
	var token, age, ttl, interval sql.NullInt64
	if err := callRow(t, op, []string{"released", "holder", "token", "heartbeat_age_ms", "ttl_ms", "interval_ms"},
		[]any{&released, &holder, &token, &age, &ttl, &interval}, "CALL force_release(?)", lock); err != nil {
		t.Fatal(err)
	}
	if !released || holder.String != a || uint64(token.Int64) != la.Token || ttl.Int64 != 3600000 || interval.Valid {
		t.Fatalf("force_release: released %v holder %v token %v ttl %v interval %v", released, holder, token, ttl, interval)
	}
	// The old holder's writes fail before anyone takes over...
	if renewed, _ := heartbeat(t, runner, lock, a, la.Token, 3600000); renewed {
		t.Fatal("the old holder renewed a forced-off lease")
	}
	wantSignal(t, assertLease(t, runner, lock, la.Token), "lease lost")
	if c, err := claimFire(t, runner, lock, a, la.Token, "j", dbNow(t, d.DB), "running"); err != nil || c.Reason != "lease_lost" {
		t.Fatalf("the old holder's claim: %+v %v", c, err)
	}
	_, err := runner.Exec("CALL sync_job(?, ?, ?, 'j', '@hourly')", lock, a, la.Token)
	wantSignal(t, err, "lease lost")
	// ...and after: b takes it at once with a new token.
	lb := tryAcquire(t, d.DB, lock, b, 3600000)
	if !lb.Acquired || lb.Token != la.Token+1 {
		t.Fatalf("b after the forced release: %+v", lb)
	}
	wantSignal(t, assertLease(t, runner, lock, la.Token), "superseded")
	if release(t, runner, lock, a, la.Token) {
		t.Fatal("the old holder released its successor's lease")
	}
	var reason string
	if err := d.DB.QueryRow("SELECT end_reason FROM lease_terms WHERE name = ? AND token = ?", lock, la.Token).Scan(&reason); err != nil || reason != "forced" {
		t.Fatalf("the old term ended as %q (%v), want forced", reason, err)
	}
	if _, err := runner.ExecContext(context.Background(), "CALL force_release(?)", lock); err == nil ||
		!strings.Contains(err.Error(), "command denied") {
		t.Fatalf("the runner's user called force_release: %v", err)
	}
}

// serverAccount is a runner's user that may also call try_acquire, as a
// server's own account would, and its name.
func serverAccount(t *testing.T, d *dbtest.Database) (*sql.DB, string) {
	t.Helper()
	grants := []string{"GRANT EXECUTE ON PROCEDURE {db}.try_acquire"}
	for _, p := range soloist.RunnerProcedures() {
		grants = append(grants, "GRANT EXECUTE ON PROCEDURE {db}."+p)
	}
	cfg := d.NewUser(t, grants...)
	return d.Open(t, func(c *mysql.Config) { *c = *cfg }), cfg.User
}

// TestOwnerBinding: with owner_binding on, one server's account cannot act
// in another server's name; off (the default), it can.
func TestOwnerBinding(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDatabase(t)
	web1, user1 := serverAccount(t, d)
	web2, _ := serverAccount(t, d)
	owner1 := user1 + "/10.0.0.1/a"

	// Off: web2 renews web1's lease with the token it reads in the reports.
	l := tryAcquire(t, web1, "off", owner1, 60000)
	if renewed, _ := heartbeat(t, web2, "off", owner1, l.Token, 60000); !renewed {
		t.Fatal("with owner_binding off, another account could not renew in the holder's name: the test shows nothing")
	}

	if _, err := d.DB.Exec("UPDATE soloist_settings SET value = 1 WHERE name = 'owner_binding'"); err != nil {
		t.Fatal(err)
	}
	const notBound = "owner not bound"
	_, err := tryAcquireErr(t, web1, "on", "10.0.0.1/a", 60000)
	wantSignal(t, err, notBound)
	_, err = tryAcquireErr(t, web1, "on", user1+"x/10.0.0.1/a", 60000) // a longer name that begins with it
	wantSignal(t, err, notBound)
	l = tryAcquire(t, web1, "on", owner1, 60000)
	if !l.Acquired {
		t.Fatalf("web1 could not take a lease as %s: %+v", owner1, l)
	}
	if renewed, _ := heartbeat(t, web1, "on", owner1, l.Token, 60000); !renewed {
		t.Fatal("web1 could not renew its own lease")
	}
	if exact := tryAcquire(t, web1, "exact", user1, 60000); !exact.Acquired {
		t.Fatal("the owner that is exactly the user's name was refused")
	}

	// web2 in web1's name: every call that acts for an owner fails.
	_, _, err = heartbeatErr(t, web2, "on", owner1, l.Token, 60000)
	wantSignal(t, err, notBound)
	_, err = releaseErr(t, web2, "on", owner1, l.Token)
	wantSignal(t, err, notBound)
	_, err = claimFire(t, web2, "on", owner1, l.Token, "j", dbNow(t, d.DB), "running")
	wantSignal(t, err, notBound)
	_, err = web2.Exec("CALL sync_job('on', ?, ?, 'j', '@hourly')", owner1, l.Token)
	wantSignal(t, err, notBound)
	_, err = web2.Exec("CALL prune_runs('on', ?, ?, 86400000)", owner1, l.Token)
	wantSignal(t, err, notBound)
	_, err = web2.Exec("CALL finish_run(1, ?, 'failed', NULL, NULL)", owner1)
	wantSignal(t, err, notBound)
	// web1's lease is untouched.
	if renewed, _ := heartbeat(t, web1, "on", owner1, l.Token, 60000); !renewed {
		t.Fatal("web2's calls changed web1's lease")
	}
}
