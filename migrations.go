// Package soloist holds the database schema of Soloist: the goose migrations
// in sql/ that install the lease tables and the stored procedures whose
// canonical source is procedures/.
//
// A DBA applies them with the stock goose CLI
//
//	goose -dir sql mysql "$DSN" up
//
// or with `soloist migrate up`; Go code calls [Migrate]. The runner itself
// needs only EXECUTE on the procedures (see docs/dba.md), and does not link
// goose: the schema version it needs lives in a small internal package that
// [SchemaVersion] re-exports.
//
// # Guarantees
//
// Each migration makes one change and has a Down that restores exactly what
// was there before it. A released procedure keeps its name, parameters and
// result columns. [Migrate] holds the migration lock ([WithMigrationLock]),
// so that concurrent migrators take turns, on one server or across a Galera
// cluster, and it never migrates without the lock. The procedure lists are
// functions that return a new slice each time, so no caller can change what
// another sees.
//
// What it does not do: create the database (schema) itself, or grant
// privileges; `soloist grants` prints the statements for a DBA to run.
package soloist

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/soloist-dev/soloist/internal/dberr"
	"github.com/soloist-dev/soloist/internal/schema"
)

// SchemaVersion is the schema version this build needs: the version of the
// newest migration in sql/. A runner refuses to start on an older schema.
const SchemaVersion = schema.Version

// RunnerProcedures returns the procedures a runner calls. Its database user
// needs EXECUTE on these and nothing else: they run as SQL SECURITY DEFINER,
// and the procedures they call in turn need no grant of the caller.
// assert_lease is for jobs that fence their own writes. Each call returns a
// new slice, so a caller cannot change what another one sees.
func RunnerProcedures() []string {
	return []string{
		"schema_version", "database_time",
		"await_lease", "heartbeat", "release_lease", "assert_lease",
		"begin_term", "sync_job", "claim_fire", "finish_run", "prune_runs",
		"join_group", "balance_renew", "acquire_job", "leave_group", "declare_jobs",
	}
}

// ReportProcedures returns the read-only procedures behind `soloist status`,
// `soloist runs` and the dashboard. Granting them to the runner's user lets
// operators read the state with the runner's credentials.
func ReportProcedures() []string {
	return []string{"lease_report", "job_report", "run_report", "term_report", "member_report", "database_time"}
}

// AdminProcedures returns what operators call to steer the runners: force a
// holder off or end its lease at once, mend a job's schedule, pause and
// resume jobs, edit allow-lists, and forget stale jobs and groups.
func AdminProcedures() []string {
	return []string{"revoke_lease", "force_release", "repair_job", "pause_job", "resume_job", "allow_host", "disallow_host",
		"forget_job", "forget_group"}
}

//go:embed sql/*.sql
var embedded embed.FS

// Migrations returns the goose migrations of sql/ as a file system, for
// [goose.NewProvider] or any other tool that reads goose files.
func Migrations() fs.FS {
	sub, err := fs.Sub(embedded, "sql")
	if err != nil {
		panic(err) // the embedded directory always exists
	}
	return sub
}

// NewMigrator returns a goose provider over the embedded migrations, for
// status, up, down and version. It never touches goose's package globals.
func NewMigrator(db *sql.DB, opts ...goose.ProviderOption) (*goose.Provider, error) {
	return goose.NewProvider(goose.DialectMySQL, db, Migrations(), opts...)
}

// Migrate applies every pending migration to the database db is connected
// to, holding the migration lock (see [WithMigrationLock]), so that
// concurrent callers (several servers migrating at boot) take turns. It is
// the one way to apply the schema from Go.
func Migrate(ctx context.Context, db *sql.DB) error {
	p, err := NewMigrator(db)
	if err != nil {
		return err
	}
	return WithMigrationLock(ctx, db, func() error {
		_, err := p.Up(ctx)
		return err
	})
}

// The migration lock: goose's table lock, a row of the table goose_lock in
// the schema being migrated.
const (
	// MigrationLockTable is the table that holds the migration lock. The
	// migrating user creates it on first use.
	MigrationLockTable = lock.DefaultLockTableName
	// MigrationLockWait is how long [WithMigrationLock] waits for another
	// migrator to finish before it gives up.
	MigrationLockWait = 2 * time.Minute
	// MigrationLockLease is how long the lock outlives a migrator that
	// died without releasing it. A live migrator renews it every 5s.
	MigrationLockLease = 30 * time.Second
)

// WithMigrationLock runs fn while holding the migration lock, so that two
// processes never migrate one schema at the same time. The lock is goose's
// table lock: a row of goose_lock, taken and renewed with ordinary writes
// against the database clock. Being a row of an InnoDB table, it replicates,
// so it excludes migrators on every node of a Galera cluster, not just on
// one server as GET_LOCK would.
//
// When the lock cannot be taken within MigrationLockWait (another migrator
// holds it), or at all (the user may not create or write goose_lock), fn
// does not run and the error says why: nothing runs unguarded. A migrator
// that dies holding the lock blocks others for at most MigrationLockLease.
//
// What it does not guarantee: goose renews the lock in the background and
// only logs a renewal that fails, so a migrator cut off from the database
// for longer than the lease could overlap the next one. Fn is not told;
// keep what it does short.
func WithMigrationLock(ctx context.Context, db *sql.DB, fn func() error) error {
	return withTableLock(ctx, db, MigrationLockWait, fn)
}

// withTableLock is WithMigrationLock with the wait as a parameter, for tests.
func withTableLock(ctx context.Context, db *sql.DB, wait time.Duration, fn func() error) error {
	const every = 2 * time.Second
	l, err := lock.NewMySQLTableLocker(
		lock.WithTableLeaseDuration(MigrationLockLease),
		lock.WithTableHeartbeatInterval(5*time.Second),
		lock.WithTableLockTimeout(every, uint64(max(wait/every, 1))),
		lock.WithTableUnlockTimeout(time.Second, 10),
		// A held lock is worth waiting for; a missing privilege is not.
		lock.WithTableRetryPolicy(func(err error) bool {
			k := dberr.Classify(err)
			return k != dberr.NoPrivilege && k != dberr.LoginDenied && k != dberr.UnknownDatabase
		}),
	)
	if err != nil {
		return fmt.Errorf("migrate: migration lock: %w", err)
	}
	if err := l.Lock(ctx, db); err != nil {
		return fmt.Errorf("migrate: nothing was migrated: could not take the migration lock (a row of table %s) within %v: %w; "+
			"if another migrator is running, try again when it is done (the lock of one that died expires after %v); "+
			"otherwise check that this user may create and write %s (soloist grants --role migrator)",
			MigrationLockTable, wait, err, MigrationLockLease, MigrationLockTable)
	}
	// Unlock even when ctx is cancelled; goose tries for about 10s.
	defer l.Unlock(context.WithoutCancel(ctx), db) //nolint:errcheck // the lease expires on its own
	return fn()
}
