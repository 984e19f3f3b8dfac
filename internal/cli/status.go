package cli

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/soloist-dev/soloist/runner"
)

// The JSON of `soloist status --json` and `soloist runs --json`. Field names
// are stable: scripts may rely on them. Times are RFC 3339 in UTC, durations
// are milliseconds, absent values are null.

// Status is the whole picture.
type Status struct {
	Groups   []Group `json:"groups"`
	Problems []Run   `json:"problems"` // missed or abandoned fires of the last 24 hours, newest first
}

// Group is a lease and its jobs.
type Group struct {
	Name           string     `json:"name"`
	Status         string     `json:"status"` // held, free or expired
	Holder         *string    `json:"holder"`
	HolderIP       *string    `json:"holder_ip"`
	Token          uint64     `json:"token"`
	AcquiredAt     *time.Time `json:"acquired_at"`
	LastHeartbeat  *time.Time `json:"last_heartbeat_at"`
	HeartbeatAgeMs *int64     `json:"heartbeat_age_ms"`
	ExpiresAt      *time.Time `json:"expires_at"`
	ExpiresInMs    int64      `json:"expires_in_ms"`
	RevokedAt      *time.Time `json:"revoked_at"`
	AllowedHosts   []string   `json:"allowed_hosts"` // empty: everyone may lead
	LeaderChanges  int64      `json:"terms_24h"`     // terms begun in the last 24 hours
	Jobs           []Job      `json:"jobs"`
}

// Job is a job of a group.
type Job struct {
	Name         string     `json:"name"`
	Schedule     *string    `json:"schedule"`
	Paused       bool       `json:"paused"`
	PausedAt     *time.Time `json:"paused_at"`
	LastFire     *time.Time `json:"last_fire"`
	NextFire     *time.Time `json:"next_fire"`
	LastOutcome  *string    `json:"last_outcome"`
	LastRunFire  *time.Time `json:"last_run_fire"`
	LastStarted  *time.Time `json:"last_started_at"`
	LastFinished *time.Time `json:"last_finished_at"`
	LastMessage  *string    `json:"last_message"`
	LastOwner    *string    `json:"last_owner"`
	Problems24h  int64      `json:"problems_24h"`
	RegisteredAt *time.Time `json:"registered_at"`
}

// Run is a row of the run history.
type Run struct {
	ID         int64      `json:"id"`
	Group      string     `json:"group"`
	Job        string     `json:"job"`
	Fire       time.Time  `json:"fire_time"`
	Outcome    string     `json:"outcome"`
	Owner      string     `json:"owner"`
	Token      uint64     `json:"token"`
	StartedAt  *time.Time `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
	DurationMs *int64     `json:"duration_ms"`
	Message    *string    `json:"message"`
	Output     *string    `json:"output"`
}

func statusCommand(ctx context.Context, env *IO, args []string) error {
	fs := newFlags("status", "", `Show, for every group (or --group), who holds the lease, the holder's IP,
the token, the heartbeat's age and the time to expiry; for every job its
schedule, last and next fire and last outcome; and the fires missed or
abandoned in the last 24 hours. All times are the database's, in UTC.`)
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
	st, err := readStatus(ctx, db, nullable(*group))
	if err != nil {
		return notMigrated(err)
	}
	if *asJSON {
		return writeJSON(env.Stdout, st)
	}
	printStatus(env.Stdout, st)
	return nil
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// readStatus calls lease_report, job_report and run_report.
func readStatus(ctx context.Context, db *sql.DB, group any) (*Status, error) {
	st := &Status{Groups: []Group{}, Problems: []Run{}}
	var nowMs int64
	if err := db.QueryRowContext(ctx, "CALL database_time()").Scan(&nowMs); err != nil {
		return nil, err
	}
	now := time.UnixMilli(nowMs).UTC()
	rows, err := db.QueryContext(ctx, "CALL lease_report(?)", group)
	if err != nil {
		return nil, err
	}
	byName := map[string]int{}
	for rows.Next() {
		var g Group
		var allowed sql.NullString
		var released *time.Time
		if err := rows.Scan(&g.Name, &g.Status, &g.Holder, &g.HolderIP, &g.Token, &g.AcquiredAt, &g.LastHeartbeat,
			&g.HeartbeatAgeMs, &g.ExpiresAt, &g.ExpiresInMs, &g.RevokedAt, &released, &allowed, &g.LeaderChanges); err != nil {
			rows.Close()
			return nil, err
		}
		g.AllowedHosts = strings.Fields(allowed.String)
		g.Jobs = []Job{}
		byName[g.Name] = len(st.Groups)
		st.Groups = append(st.Groups, g)
	}
	if err := closeRows(rows); err != nil {
		return nil, err
	}

	rows, err = db.QueryContext(ctx, "CALL job_report(?)", group)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var j Job
		var groupName string
		if err := rows.Scan(&groupName, &j.Name, &j.Schedule, &j.PausedAt, &j.LastFire, &j.NextFire, &j.RegisteredAt,
			&j.LastOutcome, &j.LastRunFire, &j.LastStarted, &j.LastFinished, &j.LastMessage, &j.LastOwner, &j.Problems24h); err != nil {
			rows.Close()
			return nil, err
		}
		j.Paused = j.PausedAt != nil
		if j.NextFire == nil && j.Schedule != nil { // registered, never claimed: compute it
			if next, err := runner.ParseSchedule(*j.Schedule, time.UTC); err == nil {
				t := next(now)
				j.NextFire = &t
			}
		}
		i, ok := byName[groupName]
		if !ok { // jobs of a group that never took a lease (paused ahead of time)
			i = len(st.Groups)
			byName[groupName] = i
			st.Groups = append(st.Groups, Group{Name: groupName, Status: "free", AllowedHosts: []string{}, Jobs: []Job{}})
		}
		st.Groups[i].Jobs = append(st.Groups[i].Jobs, j)
	}
	if err := closeRows(rows); err != nil {
		return nil, err
	}
	st.Problems, err = readRuns(ctx, db, group, nil, true, 50)
	if err != nil {
		return nil, err
	}
	cutoff := now.Add(-24 * time.Hour)
	recent := st.Problems[:0]
	for _, r := range st.Problems {
		if r.Fire.After(cutoff) {
			recent = append(recent, r)
		}
	}
	st.Problems = recent
	return st, nil
}

// closeRows reads what is left of a CALL's results and reports any error.
func closeRows(rows *sql.Rows) error {
	for rows.NextResultSet() {
		for rows.Next() {
		}
	}
	err := rows.Err()
	if cerr := rows.Close(); err == nil {
		err = cerr
	}
	return err
}

func readRuns(ctx context.Context, db *sql.DB, group, job any, problems bool, limit int) ([]Run, error) {
	rows, err := db.QueryContext(ctx, "CALL run_report(?, ?, ?, ?)", group, job, problems, limit)
	if err != nil {
		return nil, err
	}
	runs := []Run{}
	for rows.Next() {
		var r Run
		if err := rows.Scan(&r.ID, &r.Group, &r.Job, &r.Fire, &r.Outcome, &r.Owner, &r.Token,
			&r.StartedAt, &r.FinishedAt, &r.DurationMs, &r.Message, &r.Output); err != nil {
			rows.Close()
			return nil, err
		}
		runs = append(runs, r)
	}
	return runs, closeRows(rows)
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
	for _, g := range st.Groups {
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

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tJOB\tSCHEDULE\tLAST FIRE (UTC)\tOUTCOME\tNEXT FIRE (UTC)\tPROBLEMS 24H")
	jobs := 0
	for _, g := range st.Groups {
		for _, j := range g.Jobs {
			jobs++
			next := when(j.NextFire)
			if j.Paused {
				next = "paused"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\n", g.Name, j.Name, str(j.Schedule), when(j.LastFire),
				str(j.LastOutcome), next, j.Problems24h)
		}
	}
	if jobs == 0 {
		fmt.Fprintln(tw, "(no jobs registered yet)")
	}
	tw.Flush()

	if len(st.Problems) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "MISSED OR ABANDONED FIRES, LAST 24 HOURS")
		printRuns(w, st.Problems)
	}
}

func printRuns(w io.Writer, runs []Run) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tJOB\tFIRE (UTC)\tOUTCOME\tOWNER\tTOKEN\tTOOK\tMESSAGE")
	for _, r := range runs {
		took := ""
		if r.DurationMs != nil {
			took = ms(*r.DurationMs)
		}
		msg := strings.ReplaceAll(str(r.Message), "\n", " ")
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
	output := fs.Bool("output", false, "also print the tail of each run's output")
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
	runs, err := readRuns(ctx, db, nullable(*group), nullable(*job), *problems, *limit)
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
				fmt.Fprintf(env.Stdout, "\n--- %s %s run %d output (tail)\n%s", r.Job, r.Fire.Format(time.DateTime), r.ID, *r.Output)
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
