package cli

import (
	"context"
	"fmt"
	"path"
	"text/tabwriter"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/soloist-dev/soloist"
)

func migrateCommand(ctx context.Context, env *IO, args []string) error {
	fs := newFlags("migrate", "up|down|status|version", `Install, upgrade or roll back Soloist's schema with the goose migrations built
into this binary (the same files as sql/, which the stock goose CLI applies too).

  up       apply every pending migration (or up to --to)
  down     roll back the newest migration (or down to --to)
  status   list the migrations and when each was applied
  version  print the database's schema version

The user needs DDL privileges (CREATE, ALTER, DROP, CREATE ROUTINE, ALTER
ROUTINE, CREATE VIEW, INDEX, and SELECT/INSERT/UPDATE/DELETE on the tables
goose_db_version and goose_lock, the migration lock that up and down take);
runners need only EXECUTE. See docs/dba.md.`)
	dsn := fs.dsnFlag()
	to := fs.Int64("to", -1, "with up or down: the version to stop at")
	if err := fs.parse(args, env); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("want one of up, down, status, version; got %q", fs.Args())
	}
	action := fs.Arg(0)
	switch action {
	case "up", "down", "status", "version":
	default:
		return usagef("unknown migrate action %q: want up, down, status or version", action)
	}
	if *to != -1 && action != "up" && action != "down" {
		return usagef("--to goes with up or down")
	}
	db, cfg, err := openDB(ctx, *dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	p, err := soloist.NewMigrator(db)
	if err != nil {
		return err
	}
	where := redactConfig(cfg)

	switch action {
	case "version":
		v, err := p.GetDBVersion(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintln(env.Stdout, v)
		return nil
	case "status":
		return migrateStatus(ctx, env, p, where)
	}

	var results []*goose.MigrationResult
	err = soloist.WithMigrationLock(ctx, db, func() error {
		var err error
		switch {
		case action == "up" && *to == -1:
			results, err = p.Up(ctx)
		case action == "up":
			results, err = p.UpTo(ctx, *to)
		case *to == -1:
			var r *goose.MigrationResult
			if r, err = p.Down(ctx); r != nil {
				results = append(results, r)
			}
		default:
			results, err = p.DownTo(ctx, *to)
		}
		return err
	})
	for _, r := range results {
		fmt.Fprintln(env.Stdout, r)
	}
	if err != nil {
		return fmt.Errorf("migrate %s on %s: %w", action, where, err)
	}
	v, verr := p.GetDBVersion(ctx)
	if verr != nil {
		return verr
	}
	if len(results) == 0 {
		fmt.Fprintf(env.Stdout, "%s is at version %d: nothing to do\n", where, v)
	} else {
		fmt.Fprintf(env.Stdout, "%s is at version %d (this build needs %d)\n", where, v, soloist.SchemaVersion)
	}
	return nil
}

func migrateStatus(ctx context.Context, env *IO, p *goose.Provider, where string) error {
	statuses, err := p.Status(ctx)
	if err != nil {
		return err
	}
	v, err := p.GetDBVersion(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MIGRATION\tSTATE\tAPPLIED AT (UTC)")
	pending := 0
	for _, s := range statuses {
		at := ""
		if s.State == goose.StateApplied {
			at = s.AppliedAt.UTC().Format(time.DateTime)
		} else {
			pending++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", path.Base(s.Source.Path), s.State, at)
	}
	tw.Flush()
	fmt.Fprintf(env.Stdout, "%s is at version %d; this build needs %d; %d pending\n", where, v, soloist.SchemaVersion, pending)
	return nil
}
