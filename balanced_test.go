package soloist_test

import (
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/soloist-dev/soloist/internal/dbtest"
)

// The procedures of balanced mode, called as a runner calls them.

func acquireJob(t testing.TB, q querier, group, owner, job string, ttlMs int64) (lease, error) {
	t.Helper()
	var l lease
	err := callRow(t, q, []string{"acquired", "token", "holder", "expires_in_ms"},
		[]any{&l.Acquired, &l.Token, &l.Holder, &l.ExpiresInMs}, "CALL acquire_job(?, ?, ?, ?)", group, owner, job, ttlMs)
	return l, err
}

func joinGroup(t testing.TB, db *sql.DB, group, owner, mode string) error {
	t.Helper()
	var members, now int64
	return callRow(t, db, []string{"members", "now_ms"}, []any{&members, &now}, "CALL join_group(?, ?, ?, 60000)", group, owner, mode)
}

// renewRow is a row of balance_renew's answer.
type renewRow struct {
	kind, name, holder string
	token              uint64
	expiresInMs        int64
}

func balanceRenew(t testing.TB, db *sql.DB, group, owner string, ttlMs int64) ([]renewRow, error) {
	t.Helper()
	rows, err := db.Query("CALL balance_renew(?, ?, ?)", group, owner, ttlMs)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []renewRow
	for rows.Next() {
		var r renewRow
		var holder sql.NullString
		if err := rows.Scan(&r.kind, &r.name, &holder, &r.token, &r.expiresInMs); err != nil {
			t.Fatal(err)
		}
		r.holder = holder.String
		out = append(out, r)
	}
	for rows.NextResultSet() {
	}
	return out, rows.Err()
}

func TestAJobsOwnLeaseFencesItsFires(t *testing.T) {
	t.Parallel()
	db := dbtest.NewDatabase(t).DB
	const a, b = "10.0.0.1/a", "10.0.0.2/b"
	if err := joinGroup(t, db, "g", a, "balanced"); err != nil {
		t.Fatal(err)
	}
	l, err := acquireJob(t, db, "g", a, "nightly", 60000)
	if err != nil || !l.Acquired || l.Token != 1 {
		t.Fatalf("first acquire_job: %+v, %v", l, err)
	}
	if l2, err := acquireJob(t, db, "g", b, "nightly", 60000); err != nil || l2.Acquired || l2.Holder.String != a {
		t.Fatalf("another runner's acquire_job of an owned job: %+v, %v", l2, err)
	}
	var groupName, job string
	if err := db.QueryRow("SELECT group_name, job FROM leases WHERE name = 'g/nightly'").Scan(&groupName, &job); err != nil || groupName != "g" || job != "nightly" {
		t.Fatalf("the job's lease row: group %q job %q (%v)", groupName, job, err)
	}

	// The fire is recorded under the group, fenced by the job's lease.
	fire := time.Now().Add(-time.Second).UnixMilli()
	var claimed bool
	var runID sql.NullInt64
	var reason string
	var now int64
	cols := []string{"claimed", "run_id", "reason", "now_ms"}
	if err := callRow(t, db, cols, []any{&claimed, &runID, &reason, &now},
		"CALL claim_fire('g/nightly', ?, 1, 'nightly', ?, NULL, 'running', NULL)", a, fire); err != nil || !claimed {
		t.Fatalf("claim under the job's lease: %v %s %v", claimed, reason, err)
	}
	var runGroup string
	if err := db.QueryRow("SELECT lease_name FROM runs WHERE id = ?", runID.Int64).Scan(&runGroup); err != nil || runGroup != "g" {
		t.Fatalf("the run is recorded under %q (%v), want the group g", runGroup, err)
	}
	err = callRow(t, db, cols, []any{&claimed, &runID, &reason, &now},
		"CALL claim_fire('g/nightly', ?, 1, 'other', ?, NULL, 'running', NULL)", a, fire)
	wantSignal(t, err, "p_job is not the job whose own lease p_lock is")
	var paused bool
	var last, registered sql.NullInt64
	err = callRow(t, db, []string{"paused", "last_fire_ms", "now_ms", "registered_ms"}, []any{&paused, &last, &now, &registered},
		"CALL sync_job('g/nightly', ?, 1, 'other', '@hourly')", a)
	wantSignal(t, err, "p_job is not the job whose own lease p_lock is")
	if err := assertLease(t, db, "g/nightly", 1); err != nil {
		t.Fatalf("assert_lease on the job's lease: %v", err)
	}

	// A takeover of the job's lease: the old token is refused, the new one
	// begins its term by marking the old owner's unfinished run abandoned,
	// and only that job's.
	if err := callRow(t, db, cols, []any{&claimed, &runID, &reason, &now},
		"CALL claim_fire('g/daily', ?, 1, 'daily', ?, NULL, 'running', NULL)", a, fire); err != nil || claimed || reason != "lease_lost" {
		t.Fatalf("a claim under a job lease nobody took: %v %s %v, want lease_lost", claimed, reason, err)
	}
	if _, err := acquireJob(t, db, "g", a, "daily", 60000); err != nil {
		t.Fatal(err)
	}
	if err := callRow(t, db, cols, []any{&claimed, &runID, &reason, &now},
		"CALL claim_fire('g/daily', ?, 1, 'daily', ?, NULL, 'running', NULL)", a, fire); err != nil || !claimed {
		t.Fatalf("claim of daily: %v %s %v", claimed, reason, err)
	}
	if _, err := db.Exec("UPDATE leases SET expires_at = UTC_TIMESTAMP(6) WHERE name = 'g/nightly'"); err != nil {
		t.Fatal(err)
	}
	l, err = acquireJob(t, db, "g", b, "nightly", 60000)
	if err != nil || !l.Acquired || l.Token != 2 {
		t.Fatalf("takeover of an expired job lease: %+v, %v", l, err)
	}
	wantSignal(t, assertLease(t, db, "g/nightly", 1), "lease lost")
	var abandoned int64
	if err := callRow(t, db, []string{"abandoned", "now_ms"}, []any{&abandoned, &now}, "CALL begin_term('g/nightly', ?, 2)", b); err != nil || abandoned != 1 {
		t.Fatalf("begin_term under the new token abandoned %d runs (%v), want nightly's one", abandoned, err)
	}
	var outcomes string
	if err := db.QueryRow("SELECT GROUP_CONCAT(CONCAT(job, '=', outcome) ORDER BY job) FROM runs").Scan(&outcomes); err != nil ||
		outcomes != "daily=running,nightly=abandoned" {
		t.Fatalf("runs after the takeover: %s (%v)", outcomes, err)
	}
}

func TestAGroupHasOneModeInTheDatabase(t *testing.T) {
	t.Parallel()
	db := dbtest.NewDatabase(t).DB
	const a, b = "10.0.0.1/a", "10.0.0.2/b"

	// Leader mode first: a balanced runner is refused, and cannot take a job.
	if got := tryAcquire(t, db, "led", a, 60000); !got.Acquired {
		t.Fatal("leader did not acquire")
	}
	wantSignal(t, joinGroup(t, db, "led", b, "balanced"), "group led runs in leader mode: "+a+" holds its lease")
	_, err := acquireJob(t, db, "led", b, "x", 60000)
	wantSignal(t, err, "group runs in leader mode now")
	_, err = balanceRenew(t, db, "led", b, 60000)
	wantSignal(t, err, "group runs in leader mode now")

	// Balanced mode: a leader-mode runner is refused, and no term is given
	// on the group's own lease while a member or a job lease is live.
	if err := joinGroup(t, db, "spread", a, "balanced"); err != nil {
		t.Fatal(err)
	}
	wantSignal(t, joinGroup(t, db, "spread", b, "leader"), "group spread runs in balanced mode: 1 live runner(s)")
	if got := tryAcquire(t, db, "spread", b, 60000); got.Acquired {
		t.Fatal("the group's own lease was given while a balanced runner is live")
	}
	if _, err := acquireJob(t, db, "spread", a, "x", 60000); err != nil {
		t.Fatal(err)
	}
	var left bool
	if err := callRow(t, db, []string{"left_group"}, []any{&left}, "CALL leave_group('spread', ?)", a); err != nil || !left {
		t.Fatalf("leave_group: %v %v", left, err)
	}
	if got := tryAcquire(t, db, "spread", b, 60000); got.Acquired {
		t.Fatal("the group's own lease was given while a job's lease is live")
	}

	// A lock name taken by a group cannot become a job's lease, and the
	// names must fit.
	if got := tryAcquire(t, db, "a/b", a, 60000); !got.Acquired {
		t.Fatal("group a/b not acquired")
	}
	if err := joinGroup(t, db, "a", b, "balanced"); err != nil {
		t.Fatal(err)
	}
	_, err = acquireJob(t, db, "a", b, "b", 60000)
	wantSignal(t, err, "the lock name group/job of this job is already another lock")
	_, err = acquireJob(t, db, "a", b, strings.Repeat("j", 190), 60000)
	wantSignal(t, err, "at most 190 characters")
	wantSignal(t, joinGroup(t, db, "spread/x", b, "balanced"), "is the name of a job's own lease in group spread")
}

func TestBalanceRenewRenewsOnlyTheCallersJobs(t *testing.T) {
	t.Parallel()
	db := dbtest.NewDatabase(t).DB
	const a, b = "10.0.0.1/a", "10.0.0.2/b"
	for _, m := range []string{a, b} {
		if err := joinGroup(t, db, "g", m, "balanced"); err != nil {
			t.Fatal(err)
		}
	}
	for _, j := range []struct{ owner, job string }{{a, "x"}, {a, "y"}, {b, "z"}} {
		if l, err := acquireJob(t, db, "g", j.owner, j.job, 2000); err != nil || !l.Acquired {
			t.Fatalf("acquire %s: %+v %v", j.job, l, err)
		}
	}
	rows, err := balanceRenew(t, db, "g", a, 600000)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]renewRow{}
	for _, r := range rows {
		got[r.kind+" "+r.name] = r
	}
	if len(rows) != 5 || got["member "+a].expiresInMs < 599000 || got["member "+b].expiresInMs > 60000 {
		t.Fatalf("answer: %+v", rows)
	}
	for _, j := range []string{"x", "y"} {
		if r := got["job "+j]; r.holder != a || r.token != 1 || r.expiresInMs < 599000 {
			t.Errorf("a's job %s after a's renewal: %+v", j, r)
		}
	}
	if r := got["job z"]; r.holder != b || r.expiresInMs > 2000 {
		t.Errorf("b's job z after a's renewal: %+v", r)
	}

	// A job lease an operator revoked is not renewed, and the answer shows
	// no holder, so that its owner steps down.
	if _, err := db.Exec("CALL revoke_lease('g/y')"); err != nil {
		t.Fatal(err)
	}
	rows, err = balanceRenew(t, db, "g", a, 900000)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.kind == "job" && r.name == "y" && (r.holder != "" || r.expiresInMs > 600000) {
			t.Errorf("a revoked job lease after its owner's renewal: %+v", r)
		}
		if r.kind == "job" && r.name == "x" && r.expiresInMs != 900000 {
			t.Errorf("a's job x after a's renewal for 900 s: %+v", r)
		}
	}

	// declare_jobs records weights and hosts; member_report counts each
	// runner's jobs.
	if _, err := db.Exec(`CALL declare_jobs('g', ?, '[{"name":"x","schedule":"@hourly","weight":3,"hosts":"10.0.0.1"},{"name":"y","weight":1,"hosts":""}]')`, a); err != nil {
		t.Fatal(err)
	}
	var weight int
	var hosts sql.NullString
	if err := db.QueryRow("SELECT weight, hosts FROM jobs WHERE lease_name = 'g' AND name = 'x'").Scan(&weight, &hosts); err != nil || weight != 3 || hosts.String != "10.0.0.1" {
		t.Fatalf("declared x: weight %d hosts %v (%v)", weight, hosts, err)
	}
	mr, err := db.Query("CALL member_report('g')")
	if err != nil {
		t.Fatal(err)
	}
	defer mr.Close()
	owned := map[string][2]int64{}
	for mr.Next() {
		var group, owner string
		var joined, renewed, expires time.Time
		var live bool
		var jobs, weights int64
		if err := mr.Scan(&group, &owner, &joined, &renewed, &expires, &live, &jobs, &weights); err != nil {
			t.Fatal(err)
		}
		owned[owner] = [2]int64{jobs, weights}
	}
	if owned[a] != [2]int64{2, 4} || owned[b] != [2]int64{1, 0} {
		t.Fatalf("member_report: %v", owned)
	}
}
