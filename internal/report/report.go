// Package report reads the state of a Soloist database through its read-only
// report procedures (lease_report, job_report, run_report, term_report and
// database_time, member_report), for `soloist status`, `soloist runs` and the dashboard. A
// database user needs nothing but EXECUTE on soloist.ReportProcedures.
//
// The types are also the JSON of `soloist status --json`, `soloist runs
// --json` and the dashboard's /api/status. Field names are stable: scripts
// may rely on them. Times are RFC 3339 in UTC (the database clock), durations
// are milliseconds, absent values are null.
package report

import (
	"context"
	"database/sql"
	"slices"
	"strings"
	"time"

	"github.com/soloist-dev/soloist/internal/balance"
	"github.com/soloist-dev/soloist/internal/store"
	"github.com/soloist-dev/soloist/runner"
)

// The calls, one per procedure.
const (
	callDatabaseTime = "CALL database_time()"
	callLeaseReport  = "CALL lease_report(?)"
	callJobReport    = "CALL job_report(?)"
	callRunReport    = "CALL run_report(?, ?, ?, ?)"
	callTermReport   = "CALL term_report(?, ?)"
	callMemberReport = "CALL member_report(?)"
)

// A group's modes, the values of Group.Mode.
const (
	ModeLeader   = "leader"   // one runner holds the group's lease and runs every job
	ModeBalanced = "balanced" // the jobs are spread over the group's live runners, each job under its own lease
)

// ProblemLimit is how many missed or abandoned fires a Status holds at most.
const ProblemLimit = 50

// Status is the whole picture.
type Status struct {
	Groups   []Group `json:"groups"`
	Problems []Run   `json:"problems"` // missed or abandoned fires of the last 24 hours, newest first
}

// Group is a lease and its jobs.
type Group struct {
	Name           string     `json:"name"`
	Mode           string     `json:"mode"`   // leader or balanced
	Status         string     `json:"status"` // held, free or expired; balanced in balanced mode
	Holder         *string    `json:"holder"`
	HolderIP       *string    `json:"holder_ip"`
	Token          uint64     `json:"token"`
	AcquiredAt     *time.Time `json:"acquired_at"`
	LastHeartbeat  *time.Time `json:"last_heartbeat_at"`
	HeartbeatAgeMs *int64     `json:"heartbeat_age_ms"`
	ExpiresAt      *time.Time `json:"expires_at"`
	ExpiresInMs    int64      `json:"expires_in_ms"`
	RevokedAt      *time.Time `json:"revoked_at"`
	ReleasedAt     *time.Time `json:"-"`
	AllowedHosts   []string   `json:"allowed_hosts"` // empty: everyone may lead
	LeaderChanges  int64      `json:"terms_24h"`     // terms begun in the last 24 hours
	Jobs           []Job      `json:"jobs"`
	// Balanced mode: the group's runners alive in the last hour, by owner.
	// Empty in leader mode.
	Members []Member `json:"members"`
}

// Member is a runner of a group in balanced mode.
type Member struct {
	Owner       string    `json:"owner"`
	JoinedAt    time.Time `json:"joined_at"`
	RenewedAt   time.Time `json:"renewed_at"`
	ExpiresAt   time.Time `json:"expires_at"`
	Live        bool      `json:"live"`         // its membership has not expired
	JobsOwned   int64     `json:"jobs_owned"`   // jobs whose live lease it holds
	WeightOwned int64     `json:"weight_owned"` // their weights' sum
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
	// Balanced mode: the job's weight and hosts, and the live owner of its
	// own lease with its token (Owner nil: nobody owns it now).
	Weight   int      `json:"weight"`
	Hosts    []string `json:"hosts"`
	Owner    *string  `json:"owner"`
	OwnerTok *uint64  `json:"owner_token"`
	// Unownable: the group runs in balanced mode, the job names hosts, and
	// no live runner of the group is one of them, so nobody runs it.
	Unownable bool `json:"unownable"`
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

// Term is one holding of a group's lease, a row of lease_terms.
type Term struct {
	Group      string     `json:"group"`
	Token      uint64     `json:"token"`
	Holder     string     `json:"holder"`
	AcquiredAt time.Time  `json:"acquired_at"`
	EndedAt    *time.Time `json:"ended_at"`   // null while the term lasts
	EndReason  *string    `json:"end_reason"` // released or expired; null while the term lasts
	Job        *string    `json:"job"`        // balanced mode: the job whose own lease it is; null for the group's
}

// RunQuery selects runs for [Runs].
type RunQuery struct {
	Group    string // only this group; "" for all
	Job      string // only this job; "" for all
	Problems bool   // only missed or abandoned fires
	Limit    int    // at most this many, newest fire first: 1 to 10,000
}

// Now reads the database clock.
func Now(ctx context.Context, db *sql.DB) (time.Time, error) {
	var nowMs int64
	if err := db.QueryRowContext(ctx, callDatabaseTime).Scan(&nowMs); err != nil {
		return time.Time{}, err
	}
	return time.UnixMilli(nowMs).UTC(), nil
}

// ReadStatus reads every group (or only group, when it is not ""), its jobs,
// and the missed or abandoned fires of the 24 hours before now, the database
// clock when it read them. A job whose group never took a lease (it was
// paused ahead of time) comes in a group of status free.
func ReadStatus(ctx context.Context, db *sql.DB, group string) (st *Status, now time.Time, err error) {
	now, err = Now(ctx, db)
	if err != nil {
		return nil, time.Time{}, err
	}
	st = &Status{Groups: []Group{}, Problems: []Run{}}
	byName := map[string]int{}
	if err := readGroups(ctx, db, group, st, byName); err != nil {
		return nil, time.Time{}, err
	}
	if err := readMembers(ctx, db, group, st, byName); err != nil {
		return nil, time.Time{}, err
	}
	if err := readJobs(ctx, db, group, now, st, byName); err != nil {
		return nil, time.Time{}, err
	}
	for i := range st.Groups {
		markUnownable(&st.Groups[i])
	}
	problems, err := Runs(ctx, db, RunQuery{Group: group, Problems: true, Limit: ProblemLimit})
	if err != nil {
		return nil, time.Time{}, err
	}
	cutoff := now.Add(-24 * time.Hour)
	for _, r := range problems {
		if r.Fire.After(cutoff) {
			st.Problems = append(st.Problems, r)
		}
	}
	return st, now, nil
}

func readGroups(ctx context.Context, db *sql.DB, group string, st *Status, byName map[string]int) error {
	rows, err := db.QueryContext(ctx, callLeaseReport, nullable(group))
	if err != nil {
		return err
	}
	for rows.Next() {
		var g Group
		var allowed sql.NullString
		if err := rows.Scan(&g.Name, &g.Status, &g.Holder, &g.HolderIP, &g.Token, &g.AcquiredAt, &g.LastHeartbeat,
			&g.HeartbeatAgeMs, &g.ExpiresAt, &g.ExpiresInMs, &g.RevokedAt, &g.ReleasedAt, &allowed, &g.LeaderChanges); err != nil {
			rows.Close()
			return err
		}
		g.AllowedHosts = strings.Fields(allowed.String)
		g.Mode = ModeLeader
		g.Jobs = []Job{}
		g.Members = []Member{}
		byName[g.Name] = len(st.Groups)
		st.Groups = append(st.Groups, g)
	}
	return store.CloseRows(rows)
}

func readJobs(ctx context.Context, db *sql.DB, group string, now time.Time, st *Status, byName map[string]int) error {
	rows, err := db.QueryContext(ctx, callJobReport, nullable(group))
	if err != nil {
		return err
	}
	for rows.Next() {
		var j Job
		var groupName string
		var hosts *string
		if err := rows.Scan(&groupName, &j.Name, &j.Schedule, &j.PausedAt, &j.LastFire, &j.NextFire, &j.RegisteredAt,
			&j.LastOutcome, &j.LastRunFire, &j.LastStarted, &j.LastFinished, &j.LastMessage, &j.LastOwner,
			&j.Weight, &hosts, &j.Owner, &j.OwnerTok, &j.Problems24h); err != nil {
			rows.Close()
			return err
		}
		j.Hosts = []string{}
		if hosts != nil && *hosts != "" {
			j.Hosts = strings.Split(*hosts, ",")
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
			st.Groups = append(st.Groups, newGroup(groupName))
		}
		st.Groups[i].Jobs = append(st.Groups[i].Jobs, j)
	}
	return store.CloseRows(rows)
}

// newGroup is a group that has no row of its own lease: it never took one.
func newGroup(name string) Group {
	return Group{Name: name, Mode: ModeLeader, Status: "free", AllowedHosts: []string{}, Jobs: []Job{}, Members: []Member{}}
}

// readMembers adds the runners of the groups in balanced mode. A group runs
// in balanced mode when it has a live member, or when it has members of the
// last hour and nobody holds its own lease (its runners all stopped or
// died): its own lease, free, is then not a leader's to take.
func readMembers(ctx context.Context, db *sql.DB, group string, st *Status, byName map[string]int) error {
	rows, err := db.QueryContext(ctx, callMemberReport, nullable(group))
	if err != nil {
		return err
	}
	for rows.Next() {
		var m Member
		var groupName string
		if err := rows.Scan(&groupName, &m.Owner, &m.JoinedAt, &m.RenewedAt, &m.ExpiresAt, &m.Live,
			&m.JobsOwned, &m.WeightOwned); err != nil {
			rows.Close()
			return err
		}
		i, ok := byName[groupName]
		if !ok {
			i = len(st.Groups)
			byName[groupName] = i
			st.Groups = append(st.Groups, newGroup(groupName))
		}
		st.Groups[i].Members = append(st.Groups[i].Members, m)
	}
	if err := store.CloseRows(rows); err != nil {
		return err
	}
	for i := range st.Groups {
		g := &st.Groups[i]
		if len(g.Members) > 0 && (g.Status != "held" || slices.ContainsFunc(g.Members, func(m Member) bool { return m.Live })) {
			g.Mode, g.Status = ModeBalanced, ModeBalanced
		}
	}
	return nil
}

// markUnownable marks the jobs of a balanced group that no live member may
// own, by the rule the runners place jobs with.
func markUnownable(g *Group) {
	if g.Mode != ModeBalanced {
		return
	}
	for i := range g.Jobs {
		j := &g.Jobs[i]
		j.Unownable = len(j.Hosts) > 0 && !slices.ContainsFunc(g.Members, func(m Member) bool {
			return m.Live && balance.Eligible(m.Owner, j.Hosts)
		})
	}
}

// Runs reads the run history, newest fire first.
func Runs(ctx context.Context, db *sql.DB, q RunQuery) ([]Run, error) {
	rows, err := db.QueryContext(ctx, callRunReport, nullable(q.Group), nullable(q.Job), q.Problems, q.Limit)
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
	return runs, store.CloseRows(rows)
}

// Terms reads the terms of every group (or only group, when it is not "")
// that began at or after since, by group and token. A term that began
// earlier is not among them, even if it lasted into since or still lasts.
func Terms(ctx context.Context, db *sql.DB, group string, since time.Time) ([]Term, error) {
	rows, err := db.QueryContext(ctx, callTermReport, nullable(group), max(since.UnixMilli(), 0))
	if err != nil {
		return nil, err
	}
	terms := []Term{}
	for rows.Next() {
		var t Term
		if err := rows.Scan(&t.Group, &t.Token, &t.Holder, &t.AcquiredAt, &t.EndedAt, &t.EndReason, &t.Job); err != nil {
			rows.Close()
			return nil, err
		}
		terms = append(terms, t)
	}
	return terms, store.CloseRows(rows)
}

// nullable is NULL for "", which the report procedures read as "all".
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}
