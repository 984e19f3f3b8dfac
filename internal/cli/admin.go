package cli

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"strings"

	"github.com/soloist-dev/soloist"
	"github.com/soloist-dev/soloist/internal/admin"
)

// adminCall opens the database and makes one admin call on it.
func adminCall(ctx context.Context, env *IO, dsn string, call func(context.Context, *sql.DB) error) error {
	db, _, err := openDB(ctx, dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	return notMigrated(call(ctx, db))
}

func releaseCommand(ctx context.Context, env *IO, args []string) error {
	fs := newFlags("release", "", `Force the holder of a group's lease to step down. Its next heartbeat is
refused, so within one interval it stops starting jobs, lets running ones
finish or cancels them, and hands the lease over. Until then nobody else can
take it, so no job overlaps. To keep a host from leading again, use disallow.
With --force the lease ends at once: for a holder that is dead or hung, which
would otherwise block the group until its lease expires.`)
	dsn := fs.dsnFlag()
	group := fs.String("group", "default", "the group")
	force := fs.Bool("force", false, "end the lease now, without waiting for the holder: for a holder that is dead, hung or rogue (its running jobs may overlap the next holder's)")
	if err := fs.parse(args, env); err != nil {
		return err
	}
	if _, _, err := (target{group: *group}).existing(ctx, *dsn, false); err != nil {
		return err
	}
	if *force {
		return forceRelease(ctx, env, *dsn, *group)
	}
	var r admin.Revocation
	if err := adminCall(ctx, env, *dsn, func(ctx context.Context, db *sql.DB) (err error) {
		r, err = admin.Revoke(ctx, db, *group)
		return err
	}); err != nil {
		return err
	}
	if !r.Revoked {
		fmt.Fprintf(env.Stdout, "group %q has no live lease to release\n", *group)
		return nil
	}
	fmt.Fprintf(env.Stdout, "revoked the lease of %s (token %d) on group %q: it steps down at its next heartbeat\n",
		r.Holder, r.Token, *group)
	return nil
}

func pauseCommand(ctx context.Context, env *IO, args []string) error {
	return pauseOrResume(ctx, env, args, true)
}

func resumeCommand(ctx context.Context, env *IO, args []string) error {
	return pauseOrResume(ctx, env, args, false)
}

func pauseOrResume(ctx context.Context, env *IO, args []string, pause bool) error {
	name, about, call := "resume", `Let a paused job fire again, from its next fire after now. Fires that passed
while it was paused are not caught up.`, admin.Resume
	if pause {
		name, about, call = "pause", `Stop every runner of the group from firing a job, until resume. A run in
progress goes on. The pause is kept in the database, so it holds across
restarts and leader changes. The job must be one a runner of the group has
registered (soloist status lists them).`, admin.Pause
	}
	fs := newFlags(name, "", about)
	dsn := fs.dsnFlag()
	group := fs.String("group", "default", "the group")
	job := fs.String("job", "", "the job's name, as soloist status shows it (required)")
	if err := fs.parse(args, env); err != nil {
		return err
	}
	if *job == "" {
		return usagef("missing --job: the job to %s", name)
	}
	if _, _, err := (target{group: *group, job: *job}).existing(ctx, *dsn, false); err != nil {
		return err
	}
	var change admin.JobChange
	if err := adminCall(ctx, env, *dsn, func(ctx context.Context, db *sql.DB) (err error) {
		change, err = call(ctx, db, *group, *job)
		return err
	}); err != nil {
		return err
	}
	if !change.Known {
		return fmt.Errorf("group %q has no job %q: check the name with soloist status", *group, *job)
	}
	fmt.Fprintf(env.Stdout, "job %q of group %q: %sd\n", *job, *group, name)
	return nil
}

func allowCommand(ctx context.Context, env *IO, args []string) error {
	fs := newFlags("allow", "", `Add a host to a group's allow-list. Once the list has a host, only runners
it names can take the lease: by IP (an owner starts with its host's IP) or by
the leading '/'-separated fields of an owner. A listed standby still takes
over when the preferred host dies. An empty list lets everyone compete. The
current holder keeps its lease until the next takeover. allow warns when no
runner the group has seen in 24 hours matches the list; a runner the list
keeps off logs so once each time it finds the lease free and may not take it.`)
	dsn := fs.dsnFlag()
	group := fs.String("group", "default", "the group")
	host := fs.String("host", "", "an IP, or the leading fields of an owner (required)")
	if err := fs.parse(args, env); err != nil {
		return err
	}
	if *host == "" {
		return usagef("missing --host: the IP or owner prefix to allow")
	}
	g, seen, err := (target{group: *group}).existing(ctx, *dsn, false)
	if err != nil {
		return err
	}
	var hosts int64
	if err := adminCall(ctx, env, *dsn, func(ctx context.Context, db *sql.DB) (err error) {
		hosts, err = admin.Allow(ctx, db, *group, *host)
		return err
	}); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "group %q: %s allowed; the allow-list has %s\n", *group, strings.TrimRight(*host, "/"), plural(hosts, "host"))
	warnUnmatchedAllowList(env, g.Name, seen, append(g.AllowedHosts, *host))
	return nil
}

func disallowCommand(ctx context.Context, env *IO, args []string) error {
	fs := newFlags("disallow", "", `Remove a host from a group's allow-list. If the holder is no longer allowed
it is made to step down, as by release. When the list becomes empty,
everyone may compete again.`)
	dsn := fs.dsnFlag()
	group := fs.String("group", "default", "the group")
	host := fs.String("host", "", "the IP or owner prefix to remove (required)")
	if err := fs.parse(args, env); err != nil {
		return err
	}
	if *host == "" {
		return usagef("missing --host: the IP or owner prefix to remove")
	}
	if _, _, err := (target{group: *group, host: *host}).existing(ctx, *dsn, true); err != nil {
		return err
	}
	var hosts int64
	var revoked bool
	if err := adminCall(ctx, env, *dsn, func(ctx context.Context, db *sql.DB) (err error) {
		hosts, revoked, err = admin.Disallow(ctx, db, *group, *host)
		return err
	}); err != nil {
		return err
	}
	switch {
	case hosts == 0:
		fmt.Fprintf(env.Stdout, "group %q: %s removed; the allow-list is empty: every runner may lead\n", *group, *host)
	default:
		fmt.Fprintf(env.Stdout, "group %q: %s removed; the allow-list has %s\n", *group, *host, plural(hosts, "host"))
	}
	if revoked {
		fmt.Fprintln(env.Stdout, "the holder is no longer allowed: it steps down at its next heartbeat")
	}
	return nil
}

func forgetCommand(ctx context.Context, env *IO, args []string) error {
	fs := newFlags("forget", "", `Remove a group, or one job of it, that no runner uses any more, so that
status and the dashboard stop listing it. Its run history stays: a job's
until the group's holder prunes it; a whole group's until a runner leads the
group again (only a holder prunes), or a DBA deletes it.

With --job, the job goes, with its pause. It is refused while the job has a
run in progress. A runner that still has the job in its crontab brings it
back at its next fire: remove it from the crontab first.

Without --job, the whole group goes: its jobs and its allow-list. It is
refused while the group's lease is live: stop the group's runners first, or
end a dead holder's lease with release --force. The group's fencing tokens
are kept: a runner that starts on it again takes the lease with a greater
token than any before, and the group is listed again.`)
	dsn := fs.dsnFlag()
	group := fs.String("group", "", "the group (required: forgetting cannot be undone)")
	job := fs.String("job", "", "forget only this job of the group")
	if err := fs.parse(args, env); err != nil {
		return err
	}
	if *group == "" {
		return usagef("missing --group: the group to forget, or whose --job to forget")
	}
	if _, _, err := (target{group: *group, job: *job}).existing(ctx, *dsn, false); err != nil {
		return err
	}
	what := fmt.Sprintf("group %q", *group)
	if *job != "" {
		what = fmt.Sprintf("job %q of group %q", *job, *group)
	}
	var jobGone bool
	var g admin.GroupForgotten
	if err := adminCall(ctx, env, *dsn, func(ctx context.Context, db *sql.DB) (err error) {
		if *job != "" {
			jobGone, err = admin.ForgetJob(ctx, db, *group, *job)
			return err
		}
		g, err = admin.ForgetGroup(ctx, db, *group)
		return err
	}); err != nil {
		return refusal(what, err)
	}
	if (*job != "" && !jobGone) || (*job == "" && !g.Forgotten) {
		return fmt.Errorf("%s does not exist: check the name with soloist status", what)
	}
	if *job == "" {
		what += fmt.Sprintf(" (%s, %s on its allow-list)", plural(g.Jobs, "job"), plural(g.Hosts, "host"))
	}
	if *job != "" {
		fmt.Fprintf(env.Stdout, "forgot %s; its runs stay in soloist runs until the group's holder prunes them\n", what)
		return nil
	}
	fmt.Fprintf(env.Stdout, "forgot %s; its runs stay in soloist runs: only a holder of the group prunes them\n", what)
	return nil
}

func grantsCommand(_ context.Context, env *IO, args []string) error {
	fs := newFlags("grants", "", `Print the GRANT statements for a database user of one role:

  runner    EXECUTE on the procedures a runner calls, and on the report
            procedures so that soloist status works with its credentials
  operator  EXECUTE on the report and admin procedures (status, runs,
            release, repair, pause, resume, allow, disallow, forget)
  migrator  the DDL privileges soloist migrate and goose need

Nothing is executed: review the statements and run them as an admin.`)
	role := fs.String("role", "runner", "runner, operator or migrator")
	user := fs.String("user", "", "the account, quoted as in SQL, e.g. \"'soloist_runner'@'%'\" (required)")
	database := fs.String("database", "soloist", "the schema that holds Soloist's procedures")
	if err := fs.parse(args, env); err != nil {
		return err
	}
	if *user == "" {
		return usagef("missing --user, e.g. --user \"'soloist_runner'@'%%'\"")
	}
	stmts, err := Grants(*role, *user, *database)
	if err != nil {
		return err
	}
	for _, s := range stmts {
		fmt.Fprintln(env.Stdout, s+";")
	}
	return nil
}

// Grants are the statements that give user what role needs on database.
func Grants(role, user, database string) ([]string, error) {
	if role != "runner" && role != "operator" && role != "migrator" {
		return nil, usagef("--role %q: want runner, operator or migrator", role)
	}
	if err := checkAccount(user); err != nil {
		return nil, err
	}
	if strings.ContainsAny(database, "`;") {
		return nil, usagef("--database %q: not a plain schema name", database)
	}
	db := "`" + database + "`"
	var procs []string
	switch role {
	case "runner":
		procs = append(append(procs, soloist.RunnerProcedures()...), soloist.ReportProcedures()...)
	case "operator":
		procs = append(append(procs, soloist.ReportProcedures()...), soloist.AdminProcedures()...)
	case "migrator":
		return []string{
			"GRANT CREATE, ALTER, DROP, INDEX, CREATE VIEW, SHOW VIEW, CREATE ROUTINE, ALTER ROUTINE, EXECUTE, " +
				"SELECT, INSERT, UPDATE, DELETE, REFERENCES ON " + db + ".* TO " + user,
		}, nil
	default:
		return nil, usagef("--role %q: want runner, operator or migrator", role)
	}
	stmts := make([]string, 0, len(procs))
	seen := map[string]bool{}
	for _, p := range procs {
		if !seen[p] {
			seen[p] = true
			stmts = append(stmts, "GRANT EXECUTE ON PROCEDURE "+db+"."+p+" TO "+user)
		}
	}
	return stmts, nil
}

// account is a MySQL account name as GRANT takes it, quoted: 'user'@'host'.
// Neither part may hold a quote, a backslash or a control character, so the
// name cannot end the statement or start another.
var account = regexp.MustCompile(`^'[^'\\\x00-\x1f\x7f]{1,80}'@'[^'\\\x00-\x1f\x7f]{1,255}'$`)

// checkAccount refuses anything but a quoted 'user'@'host' account name.
func checkAccount(user string) error {
	if !account.MatchString(user) {
		return usagef("--user %q: want an account quoted as in SQL, 'user'@'host', such as 'soloist_runner'@'%%', "+
			"with no quote, backslash or control character inside", user)
	}
	return nil
}

// warnUnmatchedAllowList warns when no runner the group has seen is on list:
// once the current holder lets go, nobody may lead until a listed runner
// starts.
func warnUnmatchedAllowList(env *IO, group string, seen, list []string) {
	for _, owner := range seen {
		for _, h := range list {
			if HostMatches(h, owner) {
				return
			}
		}
	}
	if len(seen) == 0 {
		fmt.Fprintf(env.Stderr, "warning: group %q has seen no runner yet; only runners on the allow-list (%s) may lead it\n", group, strings.Join(list, ", "))
		return
	}
	fmt.Fprintf(env.Stderr, "warning: no runner group %q has seen in 24 hours matches the allow-list (%s); seen (holders and job runners): %s. After the next release nobody leads until a listed runner starts\n",
		group, strings.Join(list, ", "), strings.Join(seen, ", "))
}
