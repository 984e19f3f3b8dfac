package soloist_test

// Replication, run for real: a MariaDB primary that writes its binary log in
// STATEMENT format, and one in ROW format, each with a replica applying it.
// The contract suite and three runners work against the primary; then the
// replica's tables must equal the primary's, and the primary's error log
// must name no statement as unsafe for its format.

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/soloist-dev/soloist"
	"github.com/soloist-dev/soloist/internal/dbserver"
	"github.com/soloist-dev/soloist/internal/dbtest"
	"github.com/soloist-dev/soloist/runner"
)

// envReplicaRun marks the child test process that runs the contract suite
// against a primary, so that it does not start replication tests of its own.
const envReplicaRun = "SOLOIST_TEST_REPLICATION_CHILD"

func TestReplicasOfEachBinlogFormatEqualThePrimary(t *testing.T) {
	if os.Getenv(envReplicaRun) != "" {
		return // this process is the contract suite run against a primary
	}
	for _, format := range []string{"STATEMENT", "ROW"} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			testReplication(t, format)
		})
	}
}

// startServer starts a throwaway server in a directory of its own, so that
// the test can read its error log, and stops it when the test ends.
func startServer(t *testing.T, args ...string) (*dbserver.Server, string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "soloist-repl-") // short: socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	srv, err := dbserver.Start(context.Background(), dbserver.Options{Dir: dir, Args: args})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	if !strings.Contains(srv.Version, "MariaDB") {
		t.Fatalf("the replication test drives MariaDB's CHANGE MASTER TO; the server is %s", srv.Version)
	}
	return srv, dir
}

func open(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func testReplication(t *testing.T, format string) {
	ctx := context.Background()
	primary, primaryDir := startServer(t, "--server-id=1", "--log-bin=binlog", "--binlog-format="+format)
	replica, _ := startServer(t, "--server-id=2")
	pdb, rdb := open(t, primary.DSN("")), open(t, replica.DSN(""))

	var logFile string
	var logPos int64
	if err := pdb.QueryRow("SHOW BINARY LOGS").Scan(&logFile, new(any)); err != nil {
		t.Fatal(err)
	}
	_, port, _ := strings.Cut(primary.Addr, ":")
	if _, err := rdb.Exec(fmt.Sprintf("CHANGE MASTER TO MASTER_HOST = '127.0.0.1', MASTER_PORT = %s, MASTER_USER = 'root', "+
		"MASTER_PASSWORD = '', MASTER_LOG_FILE = '%s', MASTER_LOG_POS = 4, MASTER_USE_GTID = no", port, logFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := rdb.Exec("START SLAVE"); err != nil {
		t.Fatal(err)
	}

	contractSuiteAgainst(t, primary.DSN(""))
	// The contract suite's overlap test adds a trigger of its own that fills
	// an AUTO_INCREMENT audit table: statement-based logging rightly calls
	// that unsafe. Soloist's schema has no trigger; every other unsafe
	// statement is a finding.
	for _, line := range unsafeStatements(t, primaryDir) {
		if !strings.Contains(line, "invokes a trigger or a stored function that inserts into an AUTO_INCREMENT column") {
			t.Errorf("the primary logged a statement of the contract suite as unsafe for %s format:\n%s", format, line)
		}
	}
	seen := len(unsafeStatements(t, primaryDir))

	// A database that stays: three runners lead in turn and run a job.
	if _, err := pdb.Exec("CREATE DATABASE soloist_repl CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"); err != nil {
		t.Fatal(err)
	}
	db := open(t, primary.DSN("soloist_repl"))
	if err := soloist.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	threeRunners(t, db)
	// A runner that stops closes its connections, but a CALL it sent may
	// still be running on the primary (the server notices a closed
	// connection only when it next writes to it). Wait until no session is
	// left in the database, so that what the primary logs and holds is final.
	db.Close()
	dbtest.WaitFor(t, 30*time.Second, "the runners' sessions to end on the primary", func() bool {
		var n int
		if err := pdb.QueryRow("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = 'soloist_repl'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 0
	})
	db = open(t, primary.DSN("soloist_repl"))

	// Wait until the replica has applied everything the primary logged.
	var pos sql.NullInt64
	if err := pdb.QueryRow("SHOW MASTER STATUS").Scan(&logFile, &logPos, new(any), new(any)); err != nil {
		t.Fatal(err)
	}
	if err := rdb.QueryRow("SELECT MASTER_POS_WAIT(?, ?, 60)", logFile, logPos).Scan(&pos); err != nil || !pos.Valid || pos.Int64 < 0 {
		t.Fatalf("the replica did not reach %s:%d (%v, %v): %s", logFile, logPos, pos, err, replicaError(t, rdb))
	}
	if e := replicaError(t, rdb); e != "" {
		t.Fatal(e)
	}

	for _, table := range []string{"leases", "lease_fences", "lease_terms", "lease_hosts", "jobs", "runs"} {
		want := tableRows(t, db, table)
		got := tableRows(t, open(t, replica.DSN("soloist_repl")), table)
		if table != "lease_hosts" && len(want) == 0 {
			t.Errorf("%s: the primary has no rows; the runners wrote nothing to compare", table)
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s on the replica (%s binary log) differs from the primary:\nreplica:\n%s\nprimary:\n%s",
				table, format, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		t.Logf("%s: %d rows, equal on the replica", table, len(want))
	}

	for _, line := range unsafeStatements(t, primaryDir)[seen:] {
		if why := harmlessUnsafe(line); why != "" {
			t.Logf("logged as unsafe, harmless: %s\n%s", why, line)
			continue
		}
		t.Errorf("the primary logged a statement of the runners as unsafe for %s format:\n%s", format, line)
	}
}

// contractSuiteAgainst runs every test of contract_test.go in a child
// process of this test binary, against the server dsn names.
func contractSuiteAgainst(t *testing.T, dsn string) {
	t.Helper()
	src, err := os.ReadFile("contract_test.go")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range regexp.MustCompile(`(?m)^func (Test\w+)\(t \*testing\.T\)`).FindAllStringSubmatch(string(src), -1) {
		names = append(names, m[1])
	}
	if len(names) < 5 {
		t.Fatalf("found only %v in contract_test.go", names)
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^("+strings.Join(names, "|")+")$", "-test.count=1", "-test.short", "-test.v")
	cmd.Env = append(os.Environ(), dbtest.EnvDSN+"="+dsn, envReplicaRun+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the contract suite failed against the primary: %v\n%s", err, out)
	}
	passed := len(regexp.MustCompile(`(?m)^--- PASS: Test`).FindAllIndex(out, -1))
	if passed != len(names) {
		t.Fatalf("the contract suite passed %d of %d tests against the primary:\n%s", passed, len(names), out)
	}
	t.Logf("contract suite against the primary: %d tests passed", passed)
}

// threeRunners runs three runners of one group with a job every second:
// the first leader runs the job twice and stops, another takes over and runs
// it once more.
func threeRunners(t *testing.T, db *sql.DB) {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	type event struct {
		runner int
		token  uint64
		lead   bool // else: a run finished
	}
	events := make(chan event, 100)
	cancels := make([]context.CancelFunc, 3)
	done := make(chan error, 3)
	for i := range 3 {
		hooks := runner.Hooks{
			StartedLeading: func(token uint64) { events <- event{runner: i, token: token, lead: true} },
			RunFinished:    func(string, runner.Outcome, time.Duration) { events <- event{runner: i} },
		}
		r, err := runner.New(db, "replicated", runner.WithOwner(fmt.Sprintf("127.0.0.1/runner-%d", i)),
			runner.WithTTL(600*time.Millisecond), runner.WithInterval(100*time.Millisecond),
			runner.WithHooks(hooks), runner.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
		if err != nil {
			t.Fatal(err)
		}
		err = r.Add(runner.Job{Name: "tick", Schedule: "@every 1s", Run: func(ctx context.Context, f runner.Fire) error {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			defer tx.Rollback()
			if err := f.AssertLease(ctx, tx); err != nil {
				return err
			}
			return tx.Commit()
		}})
		if err != nil {
			t.Fatal(err)
		}
		rctx, cancel := context.WithCancel(ctx)
		cancels[i] = cancel
		go func() { done <- r.Run(rctx) }()
	}
	leader, runs, takeovers := -1, 0, 0
	timeout := time.NewTimer(60 * time.Second)
	defer timeout.Stop()
	for takeovers < 1 || runs < 3 {
		select {
		case e := <-events:
			switch {
			case e.lead && leader >= 0:
				takeovers++
				leader = e.runner
			case e.lead:
				leader = e.runner
			case e.runner == leader:
				runs++
				if runs == 2 && takeovers == 0 {
					cancels[leader]() // step down: another runner takes over
				}
			}
		case <-timeout.C:
			t.Fatalf("after 60s: %d runs, %d takeovers", runs, takeovers)
		}
	}
	stop()
	for range 3 {
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Error(err)
		}
	}
	t.Logf("three runners: %d runs, %d takeovers", runs, takeovers)
}

// replicaError is the replica's last I/O or SQL error, or "".
func replicaError(t *testing.T, rdb *sql.DB) string {
	t.Helper()
	rows, err := rdb.Query("SHOW SLAVE STATUS")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	if !rows.Next() {
		return "no replication configured"
	}
	vals := scanRow(t, rows, len(cols))
	var msg []string
	for i, c := range cols {
		switch c {
		case "Slave_SQL_Running", "Slave_IO_Running":
			if vals[i].String != "Yes" {
				msg = append(msg, c+" = "+vals[i].String)
			}
		case "Last_SQL_Error", "Last_IO_Error":
			if vals[i].String != "" {
				msg = append(msg, c+": "+vals[i].String)
			}
		}
	}
	return strings.Join(msg, "; ")
}

// scanRow scans the current row's n columns as text.
func scanRow(t *testing.T, rows *sql.Rows, n int) []sql.NullString {
	t.Helper()
	vals := make([]sql.NullString, n)
	ptrs := make([]any, n)
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		t.Fatal(err)
	}
	return vals
}

// tableRows is every row of table, all columns as text, in primary-key order.
func tableRows(t *testing.T, db *sql.DB, table string) []string {
	t.Helper()
	var key string
	if err := db.QueryRow(`SELECT GROUP_CONCAT(COLUMN_NAME ORDER BY SEQ_IN_INDEX) FROM information_schema.STATISTICS
		WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND INDEX_NAME = 'PRIMARY'`, table).Scan(&key); err != nil {
		t.Fatal(err)
	}
	rows, err := db.Query("SELECT * FROM " + table + " ORDER BY " + key)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		var b strings.Builder
		for i, v := range scanRow(t, rows, len(cols)) {
			fmt.Fprintf(&b, "%s=%q ", cols[i], v.String)
		}
		out = append(out, b.String())
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// harmlessUnsafe says why a statement the server logged as unsafe for
// statement-based replication replays the same on a replica, or "" when
// nothing says so.
func harmlessUnsafe(line string) string {
	// The server calls every DELETE with a LIMIT unsafe. prune_runs orders
	// both of its DELETEs by a unique key ((fire_time, id) of runs, token of
	// lease_terms within the lock) before the LIMIT, so on a replica with the
	// same rows, which this test checks, they delete the same rows.
	if strings.Contains(line, "uses a LIMIT clause") && strings.Contains(line, "CALL prune_runs(") {
		return "prune_runs deletes ORDER BY a unique key before its LIMIT"
	}
	return ""
}

// unsafeStatements are the statements the server's error log names as unsafe
// for the binary log format.
func unsafeStatements(t *testing.T, dir string) []string {
	t.Helper()
	f, err := os.Open(dir + "/err.log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 1<<20), 1<<20)
	for s.Scan() {
		if strings.Contains(s.Text(), "Unsafe statement") || strings.Contains(s.Text(), "Suppressing warnings") {
			out = append(out, s.Text())
		}
	}
	return out
}
