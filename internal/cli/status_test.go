package cli_test

import (
	"database/sql"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/soloist-dev/soloist/internal/dbtest"
	"github.com/soloist-dev/soloist/internal/report"
	"github.com/soloist-dev/soloist/internal/store"
)

// callProc runs a procedure and discards its rows.
func callProc(t testing.TB, db *sql.DB, query string, args ...any) {
	t.Helper()
	rows, err := db.Query(query, args...)
	if err == nil {
		err = store.CloseRows(rows)
	}
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// balancedGroup makes group "bal" a group in balanced mode with two live
// runners: a owns heavy (weight 3), b owns nothing, pinned may run only on
// 10.0.0.9, which no runner is on, and idle is free.
func balancedGroup(t testing.TB, db *sql.DB) {
	t.Helper()
	callProc(t, db, "CALL join_group('bal', '10.0.0.1/a', 'balanced', 60000)")
	callProc(t, db, "CALL join_group('bal', '10.0.0.2/b', 'balanced', 60000)")
	callProc(t, db, "CALL declare_jobs('bal', '10.0.0.1/a', ?)", `[
		{"name": "heavy", "schedule": "@every 1m", "weight": 3, "hosts": ""},
		{"name": "pinned", "schedule": "@every 1m", "weight": 1, "hosts": "10.0.0.9"},
		{"name": "idle", "schedule": "@every 1m", "weight": 1, "hosts": ""}]`)
	callProc(t, db, "CALL acquire_job('bal', '10.0.0.1/a', 'heavy', 60000)")
}

func TestStatusShowsWhoOwnsEachJobOfABalancedGroup(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDatabase(t)
	balancedGroup(t, d.DB)
	env := []string{"SOLOIST_DSN=" + d.DSN()}

	r := soloistCmd(t, env, "status")
	if r.code != 0 {
		t.Fatalf("status: exit %d\n%s", r.code, r.stderr)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^bal +balanced, 2 live runners +- `),
		regexp.MustCompile(`(?m)^GROUP +RUNNER +LIVE +JOINED \(UTC\) +RENEWED \(UTC\) +JOBS OWNED +WEIGHT OWNED$`),
		regexp.MustCompile(`(?m)^bal +10\.0\.0\.1/a +yes +\S+ \S+ +\S+ \S+ +1 +3$`),
		regexp.MustCompile(`(?m)^bal +10\.0\.0\.2/b +yes +\S+ \S+ +\S+ \S+ +0 +0$`),
		regexp.MustCompile(`(?m)^bal +heavy +@every 1m +10\.0\.0\.1/a #1 `),
		regexp.MustCompile(`(?m)^bal +idle +@every 1m +none yet `),
		regexp.MustCompile(`(?m)^bal +pinned +@every 1m +no live runner may own it \(hosts=10\.0\.0\.9\) `),
		regexp.MustCompile(`(?m)^JOBS NO LIVE RUNNER MAY OWN: nothing runs them until a runner on one of their hosts joins\nGROUP +JOB +HOSTS\nbal +pinned +10\.0\.0\.9\n$`),
	} {
		if !want.MatchString(r.stdout) {
			t.Errorf("status lacks %v:\n%s", want, r.stdout)
		}
	}

	js := soloistCmd(t, env, "status", "--json", "--group", "bal")
	var st report.Status
	if err := json.Unmarshal([]byte(js.stdout), &st); err != nil || js.code != 0 {
		t.Fatalf("status --json: exit %d, %v\n%s%s", js.code, err, js.stdout, js.stderr)
	}
	for _, field := range []string{`"mode": "balanced"`, `"members": [`, `"jobs_owned": 1`, `"weight_owned": 3`,
		`"owner": "10.0.0.1/a"`, `"owner_token": 1`, `"unownable": true`} {
		if !strings.Contains(js.stdout, field) {
			t.Errorf("status --json lacks %s", field)
		}
	}
	if len(st.Groups) != 1 || len(st.Groups[0].Members) != 2 || st.Groups[0].Status != "balanced" {
		t.Errorf("status --json: %+v", st.Groups)
	}
}
