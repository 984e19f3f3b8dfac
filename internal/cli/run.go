package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/soloist-dev/soloist/internal/crontab"
	"github.com/soloist-dev/soloist/runner"
)

// runOptions are soloist run's settings.
type runOptions struct {
	crontab   string
	group     string
	owner     string
	ttl       time.Duration
	interval  time.Duration
	margin    time.Duration
	grace     time.Duration
	killGrace time.Duration
	timeZone  string
	retention time.Duration
	check     bool
	format    string
	http      string
	// allowHosts are host names, besides IP addresses and localhost, that
	// the HTTP server answers to.
	allowHosts *[]string
	// keepBackground lets a command's background processes outlive its run.
	keepBackground bool
	// balance spreads the group's jobs across its runners (runner.WithBalance).
	balance bool
}

func runCommand(ctx context.Context, env *IO, args []string) error {
	fs := newFlags("run", "[crontab]", `Run the jobs of a crontab on whichever runner of the group holds the group's
lease. Start it on every server with the same crontab and group; each job then
runs on exactly one of them, and another takes over within the TTL when that
one dies. With --balance the group's jobs are spread across its live runners
instead, each job with a lease of its own (weight= and hosts= settings steer
them); every runner of a group must use the same mode. SIGHUP or SIGUSR2
reloads the crontab; SIGTERM or SIGINT stops gracefully (running commands get
--grace to finish, then the lease is handed over); a second SIGTERM or SIGINT
ends the process at once.`)
	dsn := fs.dsnFlag()
	o := runOptions{}
	fs.StringVar(&o.crontab, "crontab", "", "the crontab file, if not given as the argument")
	fs.StringVar(&o.group, "group", "default", "the group: runners with the same group share one set of jobs and, unless --balance, one lease")
	fs.StringVar(&o.owner, "owner", "", "this runner's identity in the lease table (default IP/host/pid-random)")
	fs.DurationVar(&o.ttl, "ttl", runner.DefaultTTL, "how long a lease lasts without a heartbeat; a dead holder is replaced within it")
	fs.DurationVar(&o.interval, "interval", 0, "how often to poll and renew (default TTL/3, at most TTL/3)")
	fs.DurationVar(&o.margin, "safety-margin", 0, "how long before the lease could expire the holder steps down (default TTL/5)")
	fs.DurationVar(&o.grace, "grace", runner.DefaultGracePeriod, "on stop, how long running commands get to finish")
	fs.DurationVar(&o.killGrace, "kill-grace", 10*time.Second, "between SIGTERM and SIGKILL for a command that must stop (capped at half the safety margin when the lease is lost)")
	fs.StringVar(&o.timeZone, "time-zone", "UTC", "time zone of schedules without CRON_TZ (the same on every server)")
	fs.DurationVar(&o.retention, "retention", runner.DefaultRetention, "how long the run history is kept (never less than the schema's min_retention_ms, 7 days unless the DBA changed it)")
	fs.BoolVar(&o.balance, "balance", false, "balanced mode: spread the group's jobs across its live runners, each job with its own lease (default off: one runner leads and runs every job); every runner of the group must agree")
	fs.BoolVar(&o.keepBackground, "keep-background", false, "let processes a command started in the background outlive its run (default off: they are ended when the command's shell exits)")
	fs.BoolVar(&o.check, "check", false, "only check the crontab and list its jobs; no database needed")
	fs.StringVar(&o.format, "format", "table", "with --check: table, or json for {\"jobs\":[...]} with each job's next 5 fires")
	fs.StringVar(&o.http, "http", "", "serve /metrics, /healthz, /readyz and the dashboard on this address, such as 127.0.0.1:9090 (default off)")
	o.allowHosts = fs.allowHostsFlag()
	logOpts := fs.logFlags()
	if err := fs.parse(args, env); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 1:
		return usagef("unexpected arguments %q: one crontab file, as an argument or with --crontab", fs.Args()[1:])
	case fs.NArg() == 1 && fs.Changed("crontab") && fs.Arg(0) != o.crontab:
		return usagef("two crontabs, %q and --crontab %q: give one", fs.Arg(0), o.crontab)
	case fs.NArg() == 1:
		o.crontab = fs.Arg(0)
	}
	if o.crontab == "" {
		return usagef("missing crontab: give the crontab file as an argument, with --crontab or SOLOIST_CRONTAB")
	}
	loc, err := time.LoadLocation(o.timeZone)
	if err != nil {
		return usagef("--time-zone %q: %v", o.timeZone, err)
	}
	if o.format != "table" && o.format != "json" || o.format == "json" && !o.check {
		return usagef("--format %q: want table or json, with --check", o.format)
	}
	ct, err := crontab.ParseFile(o.crontab, loc)
	if err != nil {
		if o.check && o.format == "json" {
			printRefusalJSON(env, err)
		}
		return fmt.Errorf("%w\nthe crontab is refused; fix the lines above", err)
	}
	if o.check {
		return printCheck(env, ct, o.format, o.balance, time.Now())
	}

	log, err := logOpts.logger(env.Stderr)
	if err != nil {
		return err
	}
	opts := []runner.Option{
		runner.WithTTL(o.ttl), runner.WithGracePeriod(o.grace), runner.WithRetention(o.retention),
		runner.WithLogger(log),
	}
	if o.interval != 0 {
		opts = append(opts, runner.WithInterval(o.interval))
	}
	if o.margin != 0 {
		opts = append(opts, runner.WithSafetyMargin(o.margin))
	}
	if o.owner != "" {
		opts = append(opts, runner.WithOwner(o.owner))
	}
	if o.balance {
		opts = append(opts, runner.WithBalance())
	}
	var obs *observer
	if o.http != "" {
		if obs, err = newObserver(o.group); err != nil {
			return err
		}
		opts = append(opts, runner.WithHooks(obs.hooks()))
	}
	db, cfg, err := lazyDB(*dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	r, err := runner.New(db, o.group, opts...) // checks the settings; does not connect
	if err != nil {
		return usagef("%v", err)
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The first signal starts a graceful stop; a second one, with the
	// default action restored, ends the process at once.
	go func() {
		<-ctx.Done()
		stop()
	}()
	if err := ping(ctx, db, cfg); err != nil {
		return err
	}
	if fs.dsnInArgs {
		log.Warn("--dsn on the command line shows the password to every local user in ps: use --dsn-file or SOLOIST_DSN_FILE")
	}
	exec := o.execOptions(log, env, r, cfg.Passwd)
	if err := r.SetJobs(ct.Jobs(exec)...); err != nil {
		return err
	}
	for _, w := range ct.Warnings {
		log.Warn(w)
	}
	log.Info("soloist run", "version", BuildVersion(), "group", o.group, "owner", r.Owner(),
		"crontab", o.crontab, "jobs", len(ct.Entries), "balance", o.balance, "dsn", redactConfig(cfg),
		"ttl", r.TTL(), "interval", r.Interval(), "safety_margin", r.SafetyMargin(),
		"grace", o.grace, "kill_grace", o.killGrace, "keep_background", o.keepBackground, "time_zone", loc.String(), "retention", o.retention)

	if obs != nil {
		srv, err := obs.serve(o.http, *o.allowHosts, db, r, o.grace, log)
		if err != nil {
			return err
		}
		defer srv.Stop() // after the runner: metrics and probes answer through a graceful stop
	}

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, reloadSignals...)
	defer signal.Stop(hup)
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	for {
		select {
		case err := <-done:
			if err != nil {
				return notMigrated(err)
			}
			return nil
		case <-hup:
			o.reload(log, r, loc, exec)
		}
	}
}

// execOptions say how the crontab's commands run under runner r. The
// database password is a secret no command may see (crontab.CommandEnv).
func (o runOptions) execOptions(log *slog.Logger, env *IO, r *runner.Runner, password string) crontab.ExecOptions {
	return crontab.ExecOptions{
		Logger: log, Env: env.Environ, Secrets: []string{password}, KillGrace: o.killGrace,
		LostGrace: r.SafetyMargin() / 2, KeepBackground: o.keepBackground,
	}
}

// reload reads the crontab again; a bad file keeps the old jobs.
func (o runOptions) reload(log *slog.Logger, r *runner.Runner, loc *time.Location, exec crontab.ExecOptions) {
	ct, err := crontab.ParseFile(o.crontab, loc)
	if err == nil {
		err = r.SetJobs(ct.Jobs(exec)...)
	}
	if err != nil {
		log.Error("crontab reload refused; the previous jobs go on", "crontab", o.crontab, "err", err)
		return
	}
	for _, w := range ct.Warnings {
		log.Warn(w)
	}
	log.Info("crontab reloaded", "crontab", o.crontab, "jobs", len(ct.Entries))
}
