package report_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/soloist-dev/soloist/internal/dbtest"
	"github.com/soloist-dev/soloist/internal/report"
	"github.com/soloist-dev/soloist/internal/store"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// call runs a procedure and discards its rows.
func call(t *testing.T, db *sql.DB, query string, args ...any) {
	t.Helper()
	rows, err := db.Query(query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	if err := store.CloseRows(rows); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

func TestTermsBegunSinceATime(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDatabase(t)
	ctx := context.Background()
	call(t, d.DB, "CALL try_acquire('app', '10.0.0.1/a', 60000)")
	call(t, d.DB, "CALL release_lease('app', '10.0.0.1/a', 1)")
	between, err := report.Now(ctx, d.DB)
	if err != nil {
		t.Fatal(err)
	}
	call(t, d.DB, "CALL try_acquire('app', '10.0.0.2/b', 60000)")
	call(t, d.DB, "CALL try_acquire('other', '10.0.0.3/c', 60000)")

	all, err := report.Terms(ctx, d.DB, "", time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 || all[0].Group != "app" || all[1].Group != "app" || all[2].Group != "other" {
		t.Fatalf("every term: %+v; want app's two, then other's", all)
	}
	first, second := all[0], all[1]
	if first.Token != 1 || first.Holder != "10.0.0.1/a" || first.EndedAt == nil || first.EndReason == nil || *first.EndReason != "released" {
		t.Errorf("app's first term: %+v; want token 1 of a, released", first)
	}
	if second.Token != 2 || second.Holder != "10.0.0.2/b" || second.EndedAt != nil || second.EndReason != nil {
		t.Errorf("app's second term: %+v; want token 2 of b, lasting", second)
	}
	if first.AcquiredAt.After(between) || second.AcquiredAt.Before(between) {
		t.Errorf("terms acquired at %v and %v, read the clock at %v in between", first.AcquiredAt, second.AcquiredAt, between)
	}

	since, err := report.Terms(ctx, d.DB, "app", between)
	if err != nil {
		t.Fatal(err)
	}
	if len(since) != 1 || since[0].Token != 2 {
		t.Fatalf("app's terms since %v: %+v; want only the second", between, since)
	}
}

func TestTermReportRefusesABadTime(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDatabase(t)
	for _, since := range []any{nil, -1} {
		_, err := d.DB.Query("CALL term_report(NULL, ?)", since)
		var me *mysql.MySQLError
		if !errors.As(err, &me) || string(me.SQLState[:]) != "45000" || !strings.Contains(me.Message, "p_since_ms must not be NULL or negative") {
			t.Errorf("term_report(NULL, %v): %v; want SQLSTATE 45000 naming p_since_ms", since, err)
		}
	}
}

func TestReadStatus(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDatabase(t)
	ctx := context.Background()
	call(t, d.DB, "CALL try_acquire('app', '10.0.0.1/a', 60000)")
	for _, q := range []string{
		// A job of app, a job paused ahead of time in a group nobody leads.
		"INSERT INTO jobs (lease_name, name, schedule) VALUES ('app', 'tick', '@every 1m')",
		"INSERT INTO jobs (lease_name, name, schedule, paused_at) VALUES ('later', 'nightly', '0 2 * * *', UTC_TIMESTAMP())",
		// A missed fire an hour ago and one two days ago.
		"INSERT INTO runs (lease_name, job, fire_time, owner, token, outcome, message) VALUES ('app', 'tick', UTC_TIMESTAMP() - INTERVAL 1 HOUR, '10.0.0.1/a', 1, 'missed', 'policy once')",
		"INSERT INTO runs (lease_name, job, fire_time, owner, token, outcome, message) VALUES ('app', 'tick', UTC_TIMESTAMP() - INTERVAL 2 DAY, '10.0.0.1/a', 1, 'missed', 'policy once')",
	} {
		if _, err := d.DB.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	st, now, err := report.ReadStatus(ctx, d.DB, "")
	if err != nil {
		t.Fatal(err)
	}
	if time.Since(now).Abs() > time.Minute {
		t.Errorf("the database clock read %v", now)
	}
	if len(st.Groups) != 2 {
		t.Fatalf("groups %+v; want app and later", st.Groups)
	}
	app, later := st.Groups[0], st.Groups[1]
	if app.Name != "app" || app.Status != "held" || *app.Holder != "10.0.0.1/a" || len(app.Jobs) != 1 || app.Jobs[0].NextFire == nil {
		t.Errorf("app: %+v", app)
	}
	if later.Name != "later" || later.Status != "free" || len(later.Jobs) != 1 || !later.Jobs[0].Paused {
		t.Errorf("later: %+v", later)
	}
	if len(st.Problems) != 1 || st.Problems[0].Outcome != "missed" {
		t.Errorf("problems %+v; want the missed fire of the last 24 hours only", st.Problems)
	}

	only, _, err := report.ReadStatus(ctx, d.DB, "later")
	if err != nil {
		t.Fatal(err)
	}
	if len(only.Groups) != 1 || only.Groups[0].Name != "later" || len(only.Problems) != 0 {
		t.Errorf("status of later only: %+v", only)
	}
}

func TestExplainSaysWhatToDo(t *testing.T) {
	t.Parallel()
	d := dbtest.NewEmptyDatabase(t)
	_, _, err := report.ReadStatus(context.Background(), d.DB, "")
	if err := report.Explain(err); err == nil || !strings.Contains(err.Error(), "run `soloist migrate up`") {
		t.Fatalf("status of a database without the schema: %v", err)
	}
	plain := errors.New("boom")
	if report.Explain(plain) != plain {
		t.Fatal("Explain changed an error it has no advice for")
	}
}

func TestReadStatusOfABalancedGroup(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDatabase(t)
	ctx := context.Background()
	call(t, d.DB, "CALL try_acquire('app', '10.0.0.1/a', 60000)") // a group in leader mode beside it
	call(t, d.DB, "CALL join_group('bal', '10.0.0.1/a', 'balanced', 60000)")
	call(t, d.DB, "CALL join_group('bal', '10.0.0.2/b', 'balanced', 60000)")
	call(t, d.DB, "CALL join_group('bal', '10.0.0.3/c', 'balanced', 1)") // dead at once
	call(t, d.DB, "CALL declare_jobs('bal', '10.0.0.1/a', ?)", `[
		{"name": "heavy", "schedule": "@every 1m", "weight": 3, "hosts": ""},
		{"name": "on-b", "schedule": "@every 1m", "weight": 1, "hosts": "10.0.0.2"},
		{"name": "on-c", "schedule": "@every 1m", "weight": 1, "hosts": "10.0.0.3,10.0.0.4/d"},
		{"name": "idle", "schedule": "@every 1m", "weight": 1, "hosts": ""}]`)
	call(t, d.DB, "CALL acquire_job('bal', '10.0.0.1/a', 'heavy', 60000)")
	call(t, d.DB, "CALL acquire_job('bal', '10.0.0.2/b', 'on-b', 60000)")

	var st *report.Status
	dbtest.WaitFor(t, 10*time.Second, "c's membership to expire", func() bool {
		var err error
		if st, _, err = report.ReadStatus(ctx, d.DB, ""); err != nil {
			t.Fatal(err)
		}
		return len(st.Groups) == 2 && len(st.Groups[1].Members) == 3 && !st.Groups[1].Members[2].Live
	})
	app, bal := st.Groups[0], st.Groups[1]
	if app.Name != "app" || app.Mode != report.ModeLeader || app.Status != "held" || len(app.Members) != 0 {
		t.Errorf("app: mode %q, status %q, members %+v; want a held leader lease without members", app.Mode, app.Status, app.Members)
	}
	if bal.Name != "bal" || bal.Mode != report.ModeBalanced || bal.Status != report.ModeBalanced {
		t.Fatalf("bal: mode %q, status %q; want balanced", bal.Mode, bal.Status)
	}
	a, b := bal.Members[0], bal.Members[1]
	if a.Owner != "10.0.0.1/a" || !a.Live || a.JobsOwned != 1 || a.WeightOwned != 3 {
		t.Errorf("member a: %+v; want live, owning heavy (weight 3)", a)
	}
	if b.Owner != "10.0.0.2/b" || !b.Live || b.JobsOwned != 1 || b.WeightOwned != 1 {
		t.Errorf("member b: %+v; want live, owning on-b", b)
	}
	jobs := map[string]report.Job{}
	for _, j := range bal.Jobs {
		jobs[j.Name] = j
	}
	if j := jobs["heavy"]; j.Owner == nil || *j.Owner != "10.0.0.1/a" || j.OwnerTok == nil || *j.OwnerTok != 1 || j.Weight != 3 || j.Unownable {
		t.Errorf("heavy: %+v; want a's with token 1, weight 3", j)
	}
	if j := jobs["idle"]; j.Owner != nil || j.Unownable {
		t.Errorf("idle: %+v; want free and ownable: it names no hosts", j)
	}
	if j := jobs["on-b"]; j.Unownable || len(j.Hosts) != 1 || j.Hosts[0] != "10.0.0.2" {
		t.Errorf("on-b: %+v; want ownable by b", j)
	}
	if j := jobs["on-c"]; !j.Unownable || len(j.Hosts) != 2 {
		t.Errorf("on-c: %+v; want unownable: its only runner c is dead", j)
	}

	// When every runner has left, the group stays balanced, with nobody to
	// own anything: it is not a free leader lease.
	for _, o := range []string{"10.0.0.1/a", "10.0.0.2/b"} {
		call(t, d.DB, "CALL leave_group('bal', ?)", o)
	}
	left, _, err := report.ReadStatus(ctx, d.DB, "bal")
	if err != nil {
		t.Fatal(err)
	}
	if g := left.Groups[0]; len(left.Groups) != 1 || g.Mode != report.ModeBalanced || len(g.Members) != 1 || g.Members[0].Live {
		t.Errorf("bal after a and b left: %+v; want balanced with only dead c", left.Groups)
	}
}
