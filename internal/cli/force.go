package cli

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/soloist-dev/soloist/internal/admin"
)

// forceRelease ends group's lease now (release --force) and says whether
// its holder looked dead.
func forceRelease(ctx context.Context, env *IO, dsn, group string) error {
	var r admin.ForcedRelease
	if err := adminCall(ctx, env, dsn, func(ctx context.Context, db *sql.DB) (err error) {
		r, err = admin.ForceRelease(ctx, db, group)
		return err
	}); err != nil {
		return err
	}
	if !r.Released {
		fmt.Fprintf(env.Stdout, "group %q has no holder: nothing to release\n", group)
		return nil
	}
	fmt.Fprintf(env.Stdout, "ended the lease of %s (token %d) on group %q: the next runner to try takes it with a new token; "+
		"the old holder's fenced writes fail and its next heartbeat is refused\n", r.Holder, r.Token, group)
	fmt.Fprintln(env.Stdout, holderLooks(r.HeartbeatAge, r.TTL, r.Interval))
	return nil
}

// holderLooks judges from its heartbeats whether a holder was dead when its
// lease was ended. A live holder renews once per interval; one that missed
// two renewals in a row, or let its lease expire, looks dead.
func holderLooks(age, ttl, interval time.Duration) string {
	every := ttl / 3 // the longest interval a runner may use
	if interval > 0 {
		every = interval
	}
	switch {
	case age >= ttl:
		return fmt.Sprintf("its last heartbeat was %v ago and its lease (TTL %v) had expired: it looks dead", age, ttl)
	case age > 2*every:
		return fmt.Sprintf("its last heartbeat was %v ago, more than twice its interval (%v): it looks dead or paused; "+
			"if it runs again it steps down at its next heartbeat", age, every)
	default:
		return fmt.Sprintf("warning: its last heartbeat was %v ago (interval %v): it looks alive, and jobs it is running may "+
			"overlap the next holder's until it steps down; without --force, release waits for it", age, every)
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
	var r admin.Repair
	if err := adminCall(ctx, env, *dsn, func(ctx context.Context, db *sql.DB) (err error) {
		r, err = admin.RepairJob(ctx, db, *group, *job)
		return err
	}); err != nil {
		return err
	}
	msTime := func(t time.Time) string {
		if t.IsZero() {
			return "none"
		}
		return t.Format(time.DateTime)
	}
	switch {
	case !r.Known:
		return fmt.Errorf("group %q has no job %q: check the name with soloist status", *group, *job)
	case !r.Repaired:
		fmt.Fprintf(env.Stdout, "job %q of group %q: its last fire (%s) is sound; nothing to repair\n", *job, *group, msTime(r.LastFire))
	default:
		fmt.Fprintf(env.Stdout, "job %q of group %q: last fire moved back from %s to %s; %s deleted. "+
			"Run soloist release --group %s so that the holder reads it at a new term.\n",
			*job, *group, msTime(r.LastFire), msTime(r.Now), plural(r.Removed, "future history row"), *group)
	}
	return nil
}
