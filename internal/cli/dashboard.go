package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/soloist-dev/soloist/internal/web"
)

func dashboardCommand(ctx context.Context, env *IO, args []string) error {
	fs := newFlags("dashboard", "", `Serve a read-only web dashboard of a Soloist database: every group with its
holder, IP, token and heartbeat age; a timeline of who led when and which
runs ran where; every job with its last and next fire, last outcome and
paused state; and the fires missed or abandoned in the last 24 hours. The
page refreshes itself. /api/status serves the same data as JSON, /healthz
and /readyz answer probes (ready: the database answered within the refresh
interval). It needs EXECUTE on the report procedures only, shows no DSN or
password, and changes nothing: steer the runners with release, pause,
resume and allow. Nothing is loaded from the internet.`)
	dsn := fs.dsnFlag()
	addr := fs.String("http", "127.0.0.1:8080", "the address to serve on, host:port (:8080 for every interface)")
	group := fs.String("group", "", "only this group")
	allowHosts := fs.allowHostsFlag()
	refresh := fs.Duration("refresh", web.DefaultRefresh, "how often the page refreshes itself, 500ms to 1m")
	logOpts := fs.logFlags()
	if err := fs.parse(args, env); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments %q", fs.Args())
	}
	if *refresh < 500*time.Millisecond || *refresh > time.Minute {
		return usagef("--refresh %v: want 500ms to 1m", *refresh)
	}
	log, err := logOpts.logger(env.Stderr)
	if err != nil {
		return err
	}
	db, cfg, err := openDB(ctx, *dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	d, err := web.New(db, web.WithGroup(*group), web.WithRefresh(*refresh), web.WithVersion(BuildVersion()), web.WithLogger(log))
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := d.Ready(ctx); err != nil { // a missing schema or grant, said now rather than in the page
		return err
	}
	srv, err := web.Start(*addr, web.AllowHosts(web.Routes{Dashboard: d, Ready: d.Ready}.Handler(), *allowHosts), log)
	if err != nil {
		return fmt.Errorf("--http %s: %w", *addr, err)
	}
	log.Info("soloist dashboard", "version", BuildVersion(), "addr", srv.Addr(), "dsn", redactConfig(cfg),
		"group", *group, "refresh", *refresh)
	<-ctx.Done()
	log.Info("stopping the dashboard")
	srv.Stop()
	return nil
}
