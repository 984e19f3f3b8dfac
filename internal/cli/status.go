package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/soloist-dev/soloist/internal/report"
)

// The JSON of `soloist status --json` and `soloist runs --json`: the types
// of internal/report, which the dashboard shares. Field names are stable.
type (
	// Status is the whole picture.
	Status = report.Status
	// Group is a lease and its jobs.
	Group = report.Group
	// Job is a job of a group.
	Job = report.Job
	// Member is a runner of a group in balanced mode.
	Member = report.Member
	// Run is a row of the run history.
	Run = report.Run
)

func statusCommand(ctx context.Context, env *IO, args []string) error {
	fs := newFlags("status", "", `Show, for every group (or --group), who holds the lease, the holder's IP,
the token, the heartbeat's age and the time to expiry, or for a group in
balanced mode its runners and the jobs each owns; for every job its
schedule, owner, last and next fire and last outcome; the jobs that no live
runner may own (their hosts name none); and the fires missed or abandoned in
the last 24 hours. All times are the database's, in UTC.`)
	dsn := fs.dsnFlag()
	group := fs.String("group", "", "only this group")
	asJSON := fs.Bool("json", false, "print JSON (stable field names) instead of tables")
	if err := fs.parse(args, env); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments %q", fs.Args())
	}
	db, _, err := openDB(ctx, *dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	st, _, err := report.ReadStatus(ctx, db, *group)
	if err != nil {
		return notMigrated(err)
	}
	if *asJSON {
		return writeJSON(env.Stdout, st)
	}
	printStatus(env.Stdout, st)
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printStatus writes the tables an operator reads at a glance.
func printStatus(w io.Writer, st *Status) {
	if len(st.Groups) == 0 {
		fmt.Fprintln(w, "No groups yet: no runner has taken a lease in this database.")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tSTATUS\tHOLDER\tIP\tTOKEN\tHEARTBEAT\tEXPIRES IN\tTERMS 24H\tALLOWED HOSTS")
	balanced := false
	for _, g := range st.Groups {
		if g.Mode == report.ModeBalanced {
			balanced = true
			fmt.Fprintf(tw, "%s\tbalanced, %s\t-\t-\t-\t-\t-\t-\t-\n", g.Name, plural(int64(liveMembers(g)), "live runner"))
			continue
		}
		status := g.Status
		if g.RevokedAt != nil && g.Status == "held" {
			status = "held, revoked"
		}
		allowed := "anyone"
		if len(g.AllowedHosts) > 0 {
			allowed = strings.Join(g.AllowedHosts, " ")
		}
		heartbeat := "-"
		if g.Status != "free" {
			heartbeat = ago(g.HeartbeatAgeMs)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%d\t%s\n", g.Name, status, str(g.Holder), str(g.HolderIP), g.Token,
			heartbeat, ms(g.ExpiresInMs), g.LeaderChanges, allowed)
	}
	tw.Flush()

	if balanced {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "GROUP\tRUNNER\tLIVE\tJOINED (UTC)\tRENEWED (UTC)\tJOBS OWNED\tWEIGHT OWNED")
		for _, g := range st.Groups {
			for _, m := range g.Members {
				live := "yes"
				if !m.Live {
					live = "no, expired " + m.ExpiresAt.UTC().Format(time.DateTime)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\n", g.Name, m.Owner, live, when(&m.JoinedAt), when(&m.RenewedAt),
					m.JobsOwned, m.WeightOwned)
			}
			if g.Mode == report.ModeBalanced && len(g.Members) == 0 {
				fmt.Fprintf(tw, "%s\t(no runner in the last hour)\t\t\t\t\t\n", g.Name)
			}
		}
		tw.Flush()
	}

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tJOB\tSCHEDULE\tOWNER\tLAST RUN (UTC)\tOUTCOME\tNEXT FIRE (UTC)\tPROBLEMS 24H")
	jobs := 0
	var unownable []string
	for _, g := range st.Groups {
		for _, j := range g.Jobs {
			jobs++
			if j.Unownable {
				unownable = append(unownable, fmt.Sprintf("%s\t%s\t%s", g.Name, j.Name, strings.Join(j.Hosts, ",")))
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\n", g.Name, j.Name, str(j.Schedule), jobOwner(g, j),
				when(j.LastRunFire), str(j.LastOutcome), nextFire(j), j.Problems24h)
		}
	}
	if jobs == 0 {
		fmt.Fprintln(tw, "(no jobs registered yet)")
	}
	tw.Flush()

	if len(unownable) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "JOBS NO LIVE RUNNER MAY OWN: nothing runs them until a runner on one of their hosts joins")
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "GROUP\tJOB\tHOSTS")
		for _, line := range unownable {
			fmt.Fprintln(tw, line)
		}
		tw.Flush()
	}

	if len(st.Problems) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "MISSED OR ABANDONED FIRES, LAST 24 HOURS")
		printRuns(w, st.Problems)
	}
}

// jobOwner is who runs a job now: in leader mode the group's holder (the
// groups table names it), in balanced mode the owner of the job's own lease
// with its token.
func jobOwner(g Group, j Job) string {
	switch {
	case j.Unownable:
		return "no live runner may own it (hosts=" + strings.Join(j.Hosts, ",") + ")"
	case g.Mode == report.ModeBalanced && j.Owner != nil && j.OwnerTok != nil:
		return fmt.Sprintf("%s #%d", *j.Owner, *j.OwnerTok)
	case g.Mode == report.ModeBalanced:
		return "none yet"
	case g.Status == "held":
		return "the leader"
	}
	return "-"
}

// liveMembers counts a balanced group's live runners.
func liveMembers(g Group) int {
	n := 0
	for _, m := range g.Members {
		if m.Live {
			n++
		}
	}
	return n
}

// nextFire is a job's next fire, or why it has none. The outcome beside it
// is the last run's, at the fire time of that run: slots a paused job passed
// over ran nothing, so they have no outcome to show.
func nextFire(j Job) string {
	switch {
	case j.Paused && j.PausedAt != nil:
		return "paused since " + j.PausedAt.UTC().Format(time.DateTime)
	case j.Paused:
		return "paused"
	}
	return when(j.NextFire)
}

func printRuns(w io.Writer, runs []Run) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tJOB\tFIRE (UTC)\tOUTCOME\tOWNER\tTOKEN\tTOOK\tMESSAGE")
	for _, r := range runs {
		took := ""
		if r.DurationMs != nil {
			took = ms(*r.DurationMs)
		}
		msg := terminalSafe(strings.ReplaceAll(str(r.Message), "\n", " "))
		if len(msg) > 80 {
			msg = msg[:77] + "..."
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", r.Group, r.Job, r.Fire.Format(time.DateTime), r.Outcome,
			r.Owner, r.Token, took, msg)
	}
	tw.Flush()
}

func runsCommand(ctx context.Context, env *IO, args []string) error {
	fs := newFlags("runs", "", `Show the run history, newest fire first: one row per fire, with its outcome,
the runner that ran it, its token, how long it took and its message.`)
	dsn := fs.dsnFlag()
	group := fs.String("group", "", "only this group")
	job := fs.String("job", "", "only this job")
	limit := fs.Int("limit", 20, "at most this many runs (1 to 10000)")
	problems := fs.Bool("problems", false, "only missed or abandoned fires")
	output := fs.Bool("output", false, "also print the tail of each run's output, with control characters shown as \\xNN (--json has them raw)")
	asJSON := fs.Bool("json", false, "print JSON (stable field names) instead of a table")
	if err := fs.parse(args, env); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments %q", fs.Args())
	}
	if *limit < 1 || *limit > 10000 {
		return usagef("--limit %d: want 1 to 10000", *limit)
	}
	db, _, err := openDB(ctx, *dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	runs, err := report.Runs(ctx, db, report.RunQuery{Group: *group, Job: *job, Problems: *problems, Limit: *limit})
	if err != nil {
		return notMigrated(err)
	}
	if *asJSON {
		return writeJSON(env.Stdout, runs)
	}
	if len(runs) == 0 {
		fmt.Fprintln(env.Stdout, "No runs recorded.")
		return nil
	}
	printRuns(env.Stdout, runs)
	if *output {
		for _, r := range runs {
			if r.Output != nil && *r.Output != "" {
				fmt.Fprintf(env.Stdout, "\n--- %s %s run %d output (tail)\n%s", r.Job, r.Fire.Format(time.DateTime), r.ID, terminalSafe(*r.Output))
			}
		}
	}
	return nil
}

func str(s *string) string {
	if s == nil {
		return "-"
	}
	return *s
}

func when(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.DateTime)
}

func ago(msp *int64) string {
	if msp == nil {
		return "-"
	}
	return ms(*msp) + " ago"
}

func ms(v int64) string {
	return (time.Duration(v) * time.Millisecond).Round(time.Millisecond).String()
}

// terminalSafe shows the control characters of s, other than newline and
// tab, as \xNN or \u00NN, so that what a job wrote cannot drive the
// operator's terminal: no escape sequence, no carriage return over a line.
func terminalSafe(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\n' || r == '\t' || !unicode.IsControl(r):
			b.WriteRune(r)
		case r < 0x80:
			fmt.Fprintf(&b, "\\x%02x", r)
		default:
			fmt.Fprintf(&b, "\\u%04x", r)
		}
	}
	return b.String()
}
