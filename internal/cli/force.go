package cli

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// forceRelease ends group's lease now (release --force) and says whether
// its holder looked dead.
func forceRelease(ctx context.Context, env *IO, dsn, group string) error {
	var released bool
	var holder sql.NullString
	var token, age, ttl, interval sql.NullInt64
	if err := adminCall(ctx, env, dsn, "CALL force_release(?)", []any{group},
		&released, &holder, &token, &age, &ttl, &interval); err != nil {
		return err
	}
	if !released {
		fmt.Fprintf(env.Stdout, "group %q has no holder: nothing to release\n", group)
		return nil
	}
	fmt.Fprintf(env.Stdout, "ended the lease of %s (token %d) on group %q: the next runner to try takes it with a new token; "+
		"the old holder's fenced writes fail and its next heartbeat is refused\n", holder.String, token.Int64, group)
	fmt.Fprintln(env.Stdout, holderLooks(age, ttl, interval))
	return nil
}

// holderLooks judges from its heartbeats whether a holder was dead when its
// lease was ended. A live holder renews once per interval; one that missed
// two renewals in a row, or let its lease expire, looks dead.
func holderLooks(age, ttl, interval sql.NullInt64) string {
	d := func(v sql.NullInt64) time.Duration { return time.Duration(v.Int64) * time.Millisecond }
	every := d(ttl) / 3 // the longest interval a runner may use
	if interval.Valid && interval.Int64 > 0 {
		every = d(interval)
	}
	switch {
	case age.Int64 >= ttl.Int64:
		return fmt.Sprintf("its last heartbeat was %v ago and its lease (TTL %v) had expired: it looks dead", d(age), d(ttl))
	case d(age) > 2*every:
		return fmt.Sprintf("its last heartbeat was %v ago, more than twice its interval (%v): it looks dead or paused; "+
			"if it runs again it steps down at its next heartbeat", d(age), every)
	default:
		return fmt.Sprintf("warning: its last heartbeat was %v ago (interval %v): it looks alive, and jobs it is running may "+
			"overlap the next holder's until it steps down; without --force, release waits for it", d(age), every)
	}
}

func repairCommand(ctx context.Context, env *IO, args []string) error {
	fs := newFlags("repair", "", `Mend a job's schedule state: when a fire was claimed far in the future (a
rogue or broken runner, or an older version's bug), no runner fires the job
again until that time. repair deletes the job's history rows more than a
minute ahead of the database clock and moves its last fire back to the latest
fire recorded before. A sound job is left alone. The holder reads the
schedule when its term starts: release the group to start a new term.`)
	dsn := fs.dsnFlag()
	group := fs.String("group", "default", "the group")
	job := fs.String("job", "", "the job's name, as soloist status shows it (required)")
	if err := fs.parse(args, env); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments %q", fs.Args())
	}
	if *job == "" {
		return usagef("missing --job: the job to repair")
	}
	var known, repaired bool
	var last, now sql.NullInt64
	var removed int64
	if err := adminCall(ctx, env, *dsn, "CALL repair_job(?, ?)", []any{*group, *job}, &known, &repaired, &last, &now, &removed); err != nil {
		return err
	}
	msTime := func(v sql.NullInt64) string {
		if !v.Valid {
			return "none"
		}
		return time.UnixMilli(v.Int64).UTC().Format(time.DateTime)
	}
	switch {
	case !known:
		return fmt.Errorf("group %q has no job %q: check the name with soloist status", *group, *job)
	case !repaired:
		fmt.Fprintf(env.Stdout, "job %q of group %q: its last fire (%s) is sound; nothing to repair\n", *job, *group, msTime(last))
	default:
		fmt.Fprintf(env.Stdout, "job %q of group %q: last fire moved back from %s to %s; %s deleted. "+
			"Run soloist release --group %s so that the holder reads it at a new term.\n",
			*job, *group, msTime(last), msTime(now), plural(removed, "future history row"), *group)
	}
	return nil
}
