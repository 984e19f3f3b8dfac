package cli

import (
	"context"
	"fmt"
	"path"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/soloist-dev/soloist"
)

func migrateCommand(ctx context.Context, env *IO, args []string) error {
	fs := newFlags("migrate", "up|up-to V|down|down-to V|redo|reset|status|version", `Install, upgrade or roll back Soloist's schema with the goose migrations built
into this binary (the same files as sql/, which the stock goose CLI applies too).
The verbs are goose's:

  up          apply every pending migration (or up to --to)
  up-to V     apply the pending migrations up to version V
  down        roll back the newest migration (or down to --to)
  down-to V   roll back every migration newer than version V
  redo        roll back the newest migration and apply it again
  reset       roll back every migration: this drops Soloist's schema
  status      list the migrations and when each was applied
  version     print the database's schema version

Without --dsn or SOLOIST_DSN, the DSN is read from GOOSE_DBSTRING, as goose
does. The user needs DDL privileges (CREATE, ALTER, DROP, CREATE ROUTINE,
ALTER ROUTINE, CREATE VIEW, INDEX, and SELECT/INSERT/UPDATE/DELETE on the
tables goose_db_version and goose_lock, the migration lock that up and down
take); runners need only EXECUTE. See docs/dba.md.`)
	dsn := fs.dsnFlag()
	to := fs.Int64("to", -1, "with up or down: the version to stop at")
	if err := fs.parse(args, env); err != nil {
		return err
	}
	action, err := migrateAction(fs.Args(), to)
	if err != nil {
		return err
	}
	if *dsn == "" {
		if d := env.Getenv("GOOSE_DRIVER"); d != "" && d != "mysql" {
			return usagef("GOOSE_DRIVER=%q: Soloist's migrations are for mysql", d)
		}
		*dsn = env.Getenv("GOOSE_DBSTRING")
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
		case action == "reset":
			results, err = p.DownTo(ctx, 0)
		case action == "down" && *to == -1, action == "redo":
			var r *goose.MigrationResult
			if r, err = p.Down(ctx); r != nil {
				results = append(results, r)
			}
			if err == nil && action == "redo" {
				if r, err = p.UpByOne(ctx); r != nil {
					results = append(results, r)
				}
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

// migrateAction reads the verb and its version. up-to V and down-to V are
// goose's spelling of up and down with --to V.
func migrateAction(args []string, to *int64) (string, error) {
	if len(args) == 0 {
		return "", usagef("want one of up, up-to V, down, down-to V, redo, reset, status, version")
	}
	action, rest := args[0], args[1:]
	switch action {
	case "up-to", "down-to":
		if len(rest) != 1 {
			return "", usagef("%s wants one version, such as %s 12", action, action)
		}
		if *to != -1 {
			return "", usagef("%s and --to both give a version: give one", action)
		}
		v, err := strconv.ParseInt(rest[0], 10, 64)
		if err != nil || v < 0 {
			return "", usagef("%s %q: a version is a whole number, such as 12", action, rest[0])
		}
		*to = v
		return strings.TrimSuffix(action, "-to"), nil
	case "up", "down", "redo", "reset", "status", "version":
		if len(rest) > 0 {
			return "", usagef("unexpected arguments after %s: %q", action, rest)
		}
	default:
		return "", usagef("unknown migrate action %q: want up, up-to V, down, down-to V, redo, reset, status or version", action)
	}
	if *to != -1 && action != "up" && action != "down" {
		return "", usagef("--to goes with up or down")
	}
	return action, nil
}
