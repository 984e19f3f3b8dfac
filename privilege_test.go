package soloist_test

import (
	"database/sql"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/soloist-dev/soloist"
	"github.com/soloist-dev/soloist/internal/dbtest"
)

// runnerUser is a user with EXECUTE on the runner's procedures and nothing
// else, as docs/dba.md grants it.
func runnerUser(t *testing.T, d *dbtest.Database) *sql.DB {
	t.Helper()
	var grants []string
	for _, p := range append(append([]string{}, soloist.RunnerProcedures()...), soloist.ReportProcedures()...) {
		grants = append(grants, "GRANT EXECUTE ON PROCEDURE {db}."+p)
	}
	cfg := d.NewUser(t, grants...)
	return d.Open(t, func(c *mysql.Config) { *c = *cfg })
}

// TestTheRunnersUserCannotTouchTheTables checks that the EXECUTE-only user
// of docs/dba.md can neither read nor change any table or view directly, nor
// call the admin procedures.
func TestTheRunnersUserCannotTouchTheTables(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDatabase(t)
	db := runnerUser(t, d)
	var version int64
	var schema string
	if err := db.QueryRow("CALL schema_version()").Scan(&version, &schema); err != nil || version != soloist.SchemaVersion {
		t.Fatalf("the runner's user cannot call schema_version: %v", err)
	}
	for table, column := range map[string]string{
		"leases": "name", "lease_fences": "name", "lease_terms": "name", "lease_hosts": "host",
		"jobs": "name", "runs": "id", "lease_status": "name", "goose_db_version": "id",
	} {
		for _, q := range []string{
			"SELECT * FROM " + table,
			"UPDATE " + table + " SET " + column + " = " + column,
			"DELETE FROM " + table,
		} {
			var me *mysql.MySQLError
			if _, err := db.Exec(q); !errors.As(err, &me) || me.Number != 1142 {
				t.Errorf("%s: %v; want access denied (1142)", q, err)
			}
		}
	}
	// Each admin procedure with valid arguments, so that only the missing
	// privilege can refuse the call.
	valid := map[string][]any{}
	for _, c := range hostileCalls() {
		valid[c.name] = c.args
	}
	for _, p := range soloist.AdminProcedures() {
		args, ok := valid[p]
		if !ok {
			t.Errorf("admin procedure %s has no valid call in hostileCalls", p)
			continue
		}
		var me *mysql.MySQLError
		call := "CALL " + p + "(?" + strings.Repeat(", ?", len(args)-1) + ")"
		if _, err := db.Exec(call, args...); !errors.As(err, &me) || me.Number != 1370 {
			t.Errorf("%s: %v; want no EXECUTE (1370)", call, err)
		}
	}
}

// TestAnotherRunnerCannotRenewOrReleaseALeaseItDoesNotHold lets a second
// runner's user, with its own owner, send every token it could guess to every
// procedure that acts for a holder. None may renew, release, claim, prune or
// report for a lease it does not hold, and nothing may change.
func TestAnotherRunnerCannotRenewOrReleaseALeaseItDoesNotHold(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDatabase(t)
	holder, other := runnerUser(t, d), runnerUser(t, d)
	const lock, owner, intruder = "victim", "10.0.0.1/holder", "10.0.0.2/intruder"
	var token uint64
	var acquired bool
	var h sql.NullString
	var exp int64
	if err := holder.QueryRow("CALL await_lease(?, ?, 600000, 0)", lock, owner).Scan(&acquired, &token, &h, &exp); err != nil || !acquired {
		t.Fatalf("await_lease: %v %v", acquired, err)
	}
	if _, err := holder.Exec("CALL sync_job(?, ?, ?, 'j', '@hourly')", lock, owner, token); err != nil {
		t.Fatal(err)
	}
	var claimed bool
	var runID int64
	var reason string
	var now int64
	if err := holder.QueryRow("CALL claim_fire(?, ?, ?, 'j', 1000, NULL, 'running', NULL)", lock, owner, token).Scan(&claimed, &runID, &reason, &now); err != nil || !claimed {
		t.Fatalf("claim_fire: %v %s %v", claimed, reason, err)
	}
	before := tableSnapshot(t, d.DB)

	guesses := []uint64{0, 1, token - 1, token, token + 1, token + 1000, math.MaxInt64, math.MaxUint64}
	attempts := 0
	for _, tok := range guesses {
		attempts += 7
		var renewed bool
		var left int64
		if err := other.QueryRow("CALL heartbeat(?, ?, ?, 600000)", lock, intruder, tok).Scan(&renewed, &left); err != nil || renewed {
			t.Errorf("heartbeat with token %d: renewed=%v err=%v", tok, renewed, err)
		}
		var released bool
		if err := other.QueryRow("CALL release_lease(?, ?, ?)", lock, intruder, tok).Scan(&released); err != nil || released {
			t.Errorf("release_lease with token %d: released=%v err=%v", tok, released, err)
		}
		var c bool
		var id sql.NullInt64
		var r string
		if err := other.QueryRow("CALL claim_fire(?, ?, ?, 'j', 2000, NULL, 'running', NULL)", lock, intruder, tok).Scan(&c, &id, &r, &now); err != nil || c || r != "lease_lost" {
			t.Errorf("claim_fire with token %d: claimed=%v reason=%q err=%v", tok, c, r, err)
		}
		for _, q := range []string{"CALL begin_term(?, ?, ?)", "CALL prune_runs(?, ?, ?, 60000)", "CALL sync_job(?, ?, ?, 'j', '* * * * *')"} {
			args := []any{lock, intruder, tok}
			var me *mysql.MySQLError
			if _, err := other.Exec(q, args...); !errors.As(err, &me) || string(me.SQLState[:]) != "45000" {
				t.Errorf("%s with token %d: %v; want 45000 lease lost", q, tok, err)
			}
		}
		var recorded bool
		if err := other.QueryRow("CALL finish_run(?, ?, 'failed', 'forged', NULL)", runID, intruder).Scan(&recorded); err != nil || recorded {
			t.Errorf("finish_run of the holder's run: recorded=%v err=%v", recorded, err)
		}
	}
	if after := tableSnapshot(t, d.DB); after != before {
		t.Fatalf("another runner's calls changed the tables:\n%s\nwant:\n%s", after, before)
	}
	t.Logf("%d calls with %d guessed tokens refused, nothing changed", attempts, len(guesses))
}
