// Package soloist holds the database schema of Soloist: the goose migrations
// in sql/ that install the lease tables and the stored procedures whose
// canonical source is procedures/.
//
// A DBA applies them with the stock goose CLI
//
//	goose -dir sql mysql "$DSN" up
//
// or with `soloist migrate up`; Go code calls [Migrate]. The runner itself
// needs only EXECUTE on the procedures (see docs/dba.md).
package soloist

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/pressly/goose/v3"
)

// SchemaVersion is the schema version this build needs: the version of the
// newest migration in sql/. A runner refuses to start on an older schema.
const SchemaVersion int64 = 31

// RunnerProcedures are the procedures a runner calls. Its database user
// needs EXECUTE on these and nothing else: they run as SQL SECURITY DEFINER,
// and the procedures they call in turn need no grant of the caller.
// assert_lease is for jobs that fence their own writes.
var RunnerProcedures = []string{
	"schema_version", "database_time",
	"await_lease", "heartbeat", "release_lease", "assert_lease",
	"begin_term", "sync_job", "claim_fire", "finish_run", "prune_runs",
}

// ReportProcedures are the read-only procedures behind `soloist status`,
// `soloist runs` and the dashboard. Granting them to the runner's user lets
// operators read the state with the runner's credentials.
var ReportProcedures = []string{"lease_report", "job_report", "run_report", "term_report", "database_time"}

// AdminProcedures are what operators call to steer the runners: force a
// holder off, pause and resume jobs, and edit allow-lists.
var AdminProcedures = []string{"revoke_lease", "pause_job", "resume_job", "allow_host", "disallow_host"}

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
// to. Concurrent callers (several servers migrating at boot) take turns.
// It is the one way to apply the schema from Go.
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

// WithMigrationLock runs fn while holding a named lock of the database
// (GET_LOCK) so that two processes never migrate one schema at the same time.
// Named locks belong to one server: on a Galera cluster they keep out only
// migrators on the same node, so migrate through one node. Where named locks
// fail altogether, fn runs without one.
func WithMigrationLock(ctx context.Context, db *sql.DB, fn func() error) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migrate: connect: %w", err)
	}
	defer conn.Close()
	const name = "CONCAT('soloist/migrate/', DATABASE())"
	var got sql.NullInt64
	err = conn.QueryRowContext(ctx, "SELECT GET_LOCK("+name+", ?)", int64((2*time.Minute)/time.Second)).Scan(&got)
	switch {
	case err != nil:
		// No named locks here: run unguarded rather than not at all.
	case !got.Valid || got.Int64 != 1:
		return errors.New("migrate: another process has been migrating this database for 2 minutes; try again when it is done")
	default:
		defer conn.ExecContext(context.WithoutCancel(ctx), "DO RELEASE_LOCK("+name+")") //nolint:errcheck // the lock also ends with the connection
	}
	return fn()
}
