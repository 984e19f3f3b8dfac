package soloist_test

import (
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/soloist-dev/soloist/internal/dbtest"
	"github.com/soloist-dev/soloist/internal/store"
)

// A procedure call with valid arguments, to spoil one at a time.
type procCall struct {
	name   string
	params []string // parameter names, in order
	args   []any    // valid arguments
}

// hostileKinds say which hostile values a parameter must refuse.
var (
	nameParams = map[string]bool{"p_lock": true, "p_group": true, "p_owner": true, "p_job": true, "p_host": true, "p_schedule": true}
	// Parameters that may be NULL: filters of the reports, optional values.
	nullable = map[string]map[string]bool{
		"claim_fire":    {"p_next_ms": true, "p_message": true},
		"finish_run":    {"p_message": true, "p_output": true},
		"run_report":    {"p_lock": true, "p_job": true, "p_problems": true},
		"member_report": {"p_lock": true},
	}
	millisParams = map[string]bool{"p_ttl_ms": true, "p_wait_ms": true, "p_keep_ms": true, "p_fire_ms": true, "p_limit": true}
)

func hostileCalls() []procCall {
	const lock, owner = "hostile", "10.0.0.1/h"
	return []procCall{
		{"try_acquire", []string{"p_lock", "p_owner", "p_ttl_ms"}, []any{lock, owner, 1000}},
		{"await_lease", []string{"p_lock", "p_owner", "p_ttl_ms", "p_wait_ms"}, []any{lock, owner, 1000, 0}},
		{"heartbeat", []string{"p_lock", "p_owner", "p_token", "p_ttl_ms"}, []any{lock, owner, 1, 1000}},
		{"release_lease", []string{"p_lock", "p_owner", "p_token"}, []any{lock, owner, 1}},
		{"assert_lease", []string{"p_lock", "p_token"}, []any{lock, 1}},
		{"begin_term", []string{"p_lock", "p_owner", "p_token"}, []any{lock, owner, 1}},
		{"sync_job", []string{"p_lock", "p_owner", "p_token", "p_job", "p_schedule"}, []any{lock, owner, 1, "j", "@hourly"}},
		{"claim_fire", []string{"p_lock", "p_owner", "p_token", "p_job", "p_fire_ms", "p_next_ms", "p_outcome", "p_message"},
			[]any{lock, owner, 1, "j", 1000, nil, "running", nil}},
		{"finish_run", []string{"p_run_id", "p_owner", "p_outcome", "p_message", "p_output"}, []any{1, owner, "succeeded", nil, nil}},
		{"prune_runs", []string{"p_lock", "p_owner", "p_token", "p_keep_ms"}, []any{lock, owner, 1, 3600000}},
		{"revoke_lease", []string{"p_lock"}, []any{lock}},
		{"force_release", []string{"p_lock"}, []any{lock}},
		{"repair_job", []string{"p_lock", "p_job"}, []any{lock, "j"}},
		{"pause_job", []string{"p_lock", "p_job"}, []any{lock, "j"}},
		{"resume_job", []string{"p_lock", "p_job"}, []any{lock, "j"}},
		{"allow_host", []string{"p_lock", "p_host"}, []any{lock, "10.0.0.1"}},
		{"disallow_host", []string{"p_lock", "p_host"}, []any{lock, "10.0.0.1"}},
		{"forget_job", []string{"p_lock", "p_job"}, []any{lock, "j"}},
		{"forget_group", []string{"p_lock"}, []any{lock}},
		{"run_report", []string{"p_lock", "p_job", "p_problems", "p_limit"}, []any{lock, "j", false, 10}},
		{"join_group", []string{"p_group", "p_owner", "p_mode", "p_ttl_ms"}, []any{"spread", owner, "balanced", 1000}},
		{"balance_renew", []string{"p_group", "p_owner", "p_ttl_ms"}, []any{"spread", owner, 1000}},
		{"acquire_job", []string{"p_group", "p_owner", "p_job", "p_ttl_ms"}, []any{"spread", owner, "j", 1000}},
		{"leave_group", []string{"p_group", "p_owner"}, []any{"spread", owner}},
		{"declare_jobs", []string{"p_group", "p_owner", "p_jobs"}, []any{"spread", owner, `[{"name":"j","weight":1}]`}},
		{"member_report", []string{"p_lock"}, []any{"spread"}},
	}
}

// spoil is the hostile values a parameter must refuse, with a name for each.
func spoil(proc, param string) map[string]any {
	v := map[string]any{}
	if !nullable[proc][param] {
		v["NULL"] = nil
	}
	switch {
	case nameParams[param]:
		v["empty"] = ""
		v["NUL byte"] = "a\x00b"
		v["10 KB"] = strings.Repeat("x", 10240)
		v["newline"] = "a\nb"
		v["invalid UTF-8"] = "a\xffb"
	case millisParams[param]:
		v["negative"] = -1
		v["huge"] = int64(math.MaxInt64)
	case param == "p_outcome":
		v["unknown outcome"] = "exploded"
	case param == "p_mode":
		v["unknown mode"] = "both"
	case param == "p_jobs":
		v["not JSON"] = "j1, j2"
		v["not an array"] = `{"name":"j"}`
		v["a nameless entry"] = `[{"weight":1}]`
		v["a name with a newline"] = `[{"name":"a\nb","weight":1}]`
		v["weight 0"] = `[{"name":"j","weight":0}]`
		v["weight 1001"] = `[{"name":"j","weight":1001}]`
	}
	return v
}

func call(db *sql.DB, c procCall, args []any) error {
	q := "CALL " + c.name + "(" + strings.TrimSuffix(strings.Repeat("?, ", len(args)), ", ") + ")"
	rows, err := db.Query(q, args...)
	if err != nil {
		return err
	}
	return store.CloseRows(rows)
}

// tableSnapshot is every row of every table of the schema, as text.
func tableSnapshot(t testing.TB, db *sql.DB) string {
	t.Helper()
	var b strings.Builder
	for _, table := range []string{"leases", "lease_fences", "lease_terms", "lease_hosts", "jobs", "runs", "lease_members"} {
		rows, err := db.Query("SELECT * FROM " + table)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		vals := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "%s %q\n", table, vals)
		}
		rows.Close()
	}
	return b.String()
}

// TestEveryProcedureRefusesHostileArguments calls every procedure that takes
// arguments with one argument spoiled at a time: NULL, empty, a NUL byte, a
// newline, invalid UTF-8, 10 KB, a negative or huge number, an unknown
// outcome. Each must fail with SQLSTATE 45000 and a message that names the
// argument, and change nothing, on a schema with some state in it.
func TestEveryProcedureRefusesHostileArguments(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDatabase(t)
	db := d.DB
	// Some state to keep intact: a lease, a job, a run, an allow-list.
	for _, q := range []string{
		"CALL try_acquire('hostile', '10.0.0.1/h', 60000)",
		"CALL sync_job('hostile', '10.0.0.1/h', 1, 'j', '@hourly')",
		"CALL claim_fire('hostile', '10.0.0.1/h', 1, 'j', 1000, NULL, 'running', NULL)",
		"CALL allow_host('other', '10.0.0.9')",
		"CALL join_group('spread', '10.0.0.1/h', 'balanced', 60000)",
		"CALL acquire_job('spread', '10.0.0.1/h', 'j', 60000)",
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	before := tableSnapshot(t, db)
	tried := 0
	for _, c := range hostileCalls() {
		for i, param := range c.params {
			for what, bad := range spoil(c.name, param) {
				args := append([]any(nil), c.args...)
				args[i] = bad
				err := call(db, c, args)
				tried++
				var me *mysql.MySQLError
				if !errors.As(err, &me) || string(me.SQLState[:]) != "45000" || !strings.Contains(me.Message, param) {
					t.Errorf("%s with %s %s: %v; want SQLSTATE 45000 naming %s", c.name, param, what, err, param)
				}
			}
		}
	}
	if after := tableSnapshot(t, db); after != before {
		t.Fatalf("hostile calls changed the tables:\n%s\nwant:\n%s", after, before)
	}
	t.Logf("%d hostile calls refused, nothing changed", tried)
}

// TestQuotesAndInjectionsAreJustData sends names full of SQL through every
// procedure that stores a name: they must be stored and read back verbatim.
func TestQuotesAndInjectionsAreJustData(t *testing.T) {
	t.Parallel()
	db := dbtest.NewDatabase(t).DB
	nasty := []string{`'; DROP TABLE leases; --`, `" OR 1=1 --`, `\'\\`, "🦀 «job» ünïcode", `%_`, "`backtick`"}
	for i, s := range nasty {
		owner := fmt.Sprintf("10.0.0.%d/%s", i, s)
		for _, q := range []struct {
			sql  string
			args []any
		}{
			{"CALL try_acquire(?, ?, 60000)", []any{s, owner}},
			{"CALL sync_job(?, ?, 1, ?, '@hourly')", []any{s, owner, s}},
			{"CALL pause_job(?, ?)", []any{s, s}},
			{"CALL allow_host(?, ?)", []any{s, s}},
		} {
			if _, err := db.Exec(q.sql, q.args...); err != nil {
				t.Fatalf("%s with %q: %v", q.sql, s, err)
			}
		}
		var holder, job, host string
		if err := db.QueryRow("SELECT holder FROM lease_status WHERE name = ?", s).Scan(&holder); err != nil || holder != owner {
			t.Fatalf("lock %q: holder %q (%v), want %q", s, holder, err, owner)
		}
		if err := db.QueryRow("SELECT name FROM jobs WHERE lease_name = ?", s).Scan(&job); err != nil || job != s {
			t.Fatalf("job %q read back as %q (%v)", s, job, err)
		}
		if err := db.QueryRow("SELECT host FROM lease_hosts WHERE lease_name = ?", s).Scan(&host); err != nil || host != s {
			t.Fatalf("host %q read back as %q (%v)", s, host, err)
		}
	}
	var tables int
	if err := db.QueryRow("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()").Scan(&tables); err != nil || tables < 7 {
		t.Fatalf("tables left: %d (%v)", tables, err)
	}
}
