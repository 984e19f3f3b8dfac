package runner

import (
	"context"
	"database/sql"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/aptible/supercronic/cronexpr"
	cron "github.com/netresearch/go-cron"

	"github.com/soloist-dev/soloist/internal/store"
)

// Job is a scheduled function. Only the runner that holds the group's lease
// runs it, once per fire.
type Job struct {
	// Name identifies the job in its group: 1 to 191 characters, unique,
	// stable across restarts (fires are recorded under it).
	Name string

	// Schedule is a cron expression as supercronic reads it (its cronexpr
	// grammar): five fields ("*/5 * * * *"), six with a trailing year
	// ("0 0 1 1 * 2030"), seven with a leading seconds field and a trailing
	// year ("*/10 * * * * * *"), a descriptor (@yearly, @annually, @monthly,
	// @weekly, @daily, @hourly, and cron's @midnight), L, W, # and ? in the
	// day fields, or "@every <duration>" (at least 1s). A "CRON_TZ=Area/City "
	// or "TZ=Area/City " prefix sets its time zone. When day of month and
	// day of week are both restricted, either matching fires the job, as in
	// Vixie cron.
	Schedule string

	// Location is the time zone of Schedule when it has no CRON_TZ prefix.
	// Default UTC, the same on every server: a time zone that differed
	// between runners would move fires with the leader.
	Location *time.Location

	// Run is the work. Its context is cancelled when the runner loses the
	// lease (cause ErrLeaseLost), when Timeout passes (ErrTimedOut), when a
	// newer fire replaces it (ErrReplaced) and when the runner stops and the
	// grace period has passed (ErrShutdown). It should return soon after.
	Run func(ctx context.Context, fire Fire) error

	// Timeout bounds one run. Default 0: no bound but the lease's.
	Timeout time.Duration

	// Concurrency says what happens when a fire comes due while a run of the
	// same job still runs. Default ConcurrencyForbid.
	Concurrency Concurrency

	// Missed says what happens to fires whose time passed while no runner
	// could run them: during a takeover or an outage, while the previous run
	// still ran (ConcurrencyForbid), or while the runner was behind.
	// Default MissedRunOnce.
	Missed Missed

	// StartingDeadline is how late after its time a fire may still start.
	// Later fires are recorded as missed. Default: 1s for MissedSkip, 1h for
	// MissedRunAll, none for MissedRunOnce.
	StartingDeadline time.Duration

	// Weight is the job's share of a runner's load in balanced mode
	// ([WithBalance]): a job of weight 3 counts as three of weight 1.
	// Default 1; at most 1000. Leader mode ignores it.
	Weight int

	// Hosts limits which runners may own the job in balanced mode: each
	// entry is a whole owner or its leading '/'-separated fields, usually the
	// host's IP ("10.0.0.11"), as the group allow-list reads them. Empty:
	// any runner. Leader mode ignores it (use the group's allow-list).
	Hosts []string
}

// Concurrency policy of a job.
type Concurrency int

const (
	// ConcurrencyForbid never starts a run while another of the same job
	// runs: the fire waits for it and then follows the Missed policy.
	ConcurrencyForbid Concurrency = iota
	// ConcurrencyAllow starts every fire, overlapping runs included.
	ConcurrencyAllow
	// ConcurrencyReplace cancels the running run (cause ErrReplaced) and
	// starts the new fire.
	ConcurrencyReplace
)

func (c Concurrency) String() string {
	switch c {
	case ConcurrencyForbid:
		return "forbid"
	case ConcurrencyAllow:
		return "allow"
	case ConcurrencyReplace:
		return "replace"
	}
	return fmt.Sprintf("Concurrency(%d)", int(c))
}

// Missed-fire policy of a job. Every fire of a job is recorded exactly once
// in the run history: as a run, or as missed.
type Missed int

const (
	// MissedRunOnce runs the latest of the fires that piled up, once, and
	// records the others as missed.
	MissedRunOnce Missed = iota
	// MissedSkip runs a fire only if it can start within StartingDeadline of
	// its time (default 1s), and records it as missed otherwise.
	MissedSkip
	// MissedRunAll runs every fire that piled up, oldest first, unless it is
	// older than StartingDeadline (default 1h).
	MissedRunAll
)

func (m Missed) String() string {
	switch m {
	case MissedRunOnce:
		return "once"
	case MissedSkip:
		return "skip"
	case MissedRunAll:
		return "all"
	}
	return fmt.Sprintf("Missed(%d)", int(m))
}

// Outcome is how a run ended, as the run history records it and
// [Hooks.RunFinished] reports it.
type Outcome string

// The outcomes of a run.
const (
	// OutcomeSucceeded: Job.Run returned nil.
	OutcomeSucceeded Outcome = "succeeded"
	// OutcomeFailed: Job.Run returned an error (or panicked) while its
	// context was still live.
	OutcomeFailed Outcome = "failed"
	// OutcomeTimedOut: the job's Timeout passed (cause ErrTimedOut).
	OutcomeTimedOut Outcome = "timed_out"
	// OutcomeLost: the runner lost the lease during the run (cause
	// matching ErrLeaseLost).
	OutcomeLost Outcome = "lost"
	// OutcomeCancelled: the run was cancelled for another reason: the
	// runner shut down (ErrShutdown) or a newer fire replaced it
	// (ErrReplaced).
	OutcomeCancelled Outcome = "cancelled"
)

// Fire is one scheduled fire of a job, handed to Job.Run.
type Fire struct {
	// Group is the group.
	Group string
	// Lease is the lease that Token belongs to, the one assert_lease checks:
	// the group itself in leader mode, the job's own lease in balanced mode.
	Lease string
	// Job is the job's name.
	Job string
	// Time is the scheduled fire time, in UTC, by the database clock.
	Time time.Time
	// Token is the fencing token of the lease the run started under. Pass it
	// to assert_lease (or call AssertLease) to fence the job's own writes.
	Token uint64
	// Owner is the runner that runs it.
	Owner string
	// RunID is the run's id in the runs table.
	RunID int64

	schema string
	out    *output
}

// Querier is what [Fire.AssertLease] calls assert_lease on: a *sql.Tx (the
// usual case: the job's own transaction), a *sql.Conn or a *sql.DB.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// AssertLease calls the assert_lease procedure on q, normally the
// transaction in which the job writes: it fails with an error matching
// ErrLeaseLost unless the fire's token is still the current lease, and
// otherwise holds the lease until the transaction ends, so that no other
// runner can take over before the writes commit. q must be on the same
// server as the Soloist schema; the call names that schema explicitly.
//
// Outside a transaction (q a *sql.DB or *sql.Conn in autocommit) the check
// holds only for the instant of the call: it fences nothing that follows.
func (f Fire) AssertLease(ctx context.Context, q Querier) error {
	return store.AssertLease(ctx, q, f.schema, f.Lease, f.Token)
}

// SetOutput records text (for example the tail of a command's output) to
// store with the run's outcome. The history keeps its last 8192 characters.
func (f Fire) SetOutput(text string) {
	if f.out != nil {
		f.out.set(text)
	}
}

type output struct {
	mu   sync.Mutex
	text string
}

func (o *output) set(s string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.text = s
}

func (o *output) get() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.text
}

// every parses "@every <duration>", the one form cronexpr does not know.
var every = cron.NewParser(cron.Descriptor)

// job is a validated Job with its parsed schedule.
type job struct {
	Job
	sched cron.Schedule
}

// ParseSchedule checks a schedule the way a Job's is checked, and returns
// a function giving its next fire after t, in UTC, or the zero time when it
// fires no more (such as "0 0 31 2 *", which cron also accepts). loc is the
// time zone of a schedule without a CRON_TZ prefix; nil means UTC.
func ParseSchedule(schedule string, loc *time.Location) (next func(t time.Time) time.Time, err error) {
	sched, err := parseSpec(schedule)
	if err != nil {
		return nil, err
	}
	if loc == nil {
		loc = time.UTC
	}
	j := &job{Job: Job{Schedule: schedule, Location: loc}, sched: sched}
	return j.next, nil
}

// parseSpec parses a schedule: an optional CRON_TZ= or TZ= prefix, then
// "@every", or what supercronic's cronexpr.ParseStrict accepts.
func parseSpec(schedule string) (cron.Schedule, error) {
	spec := strings.TrimSpace(schedule)
	if utf8.RuneCountInString(spec) > 255 {
		return nil, fmt.Errorf("schedule is longer than 255 characters")
	}
	var zone *time.Location
	if strings.HasPrefix(spec, "CRON_TZ=") || strings.HasPrefix(spec, "TZ=") {
		prefix, rest, _ := strings.Cut(spec, " ")
		_, name, _ := strings.Cut(prefix, "=")
		loc, err := time.LoadLocation(name)
		if err != nil || name == "" || name == "Local" {
			return nil, fmt.Errorf("schedule %q: unknown time zone %q: use a name from the tz database, such as Europe/Berlin or UTC", schedule, name)
		}
		zone, spec = loc, strings.TrimSpace(rest)
	}
	var sched cron.Schedule
	switch {
	case strings.HasPrefix(spec, "@reboot"):
		return nil, fmt.Errorf("@reboot is not supported: a cluster has no single boot; run it from the service manager instead")
	case strings.HasPrefix(spec, "@every"):
		s, err := every.Parse(spec)
		if _, perr := time.ParseDuration(strings.TrimSpace(strings.TrimPrefix(spec, "@every"))); err != nil && perr != nil {
			return nil, fmt.Errorf("schedule %q: @every wants a Go duration, such as 90s or 1h30m", schedule)
		}
		if err != nil {
			return nil, fmt.Errorf("schedule %q: %w", schedule, err)
		}
		sched = s
	default:
		if spec == "@midnight" { // cron's name for @daily
			spec = "@daily"
		}
		expr, err := cronexpr.ParseStrict(spec)
		if n := len(strings.Fields(spec)); err != nil && n > 7 {
			return nil, fmt.Errorf("schedule %q: %d fields; want 5 (minute hour day-of-month month day-of-week), "+
				"6 (a year last) or 7 (seconds first, a year last)", schedule, n)
		}
		if err != nil {
			return nil, fmt.Errorf("schedule %q: %w", schedule, err)
		}
		if field := emptyField(expr); field != "" {
			return nil, fmt.Errorf("schedule %q: the %s field matches no value: a range with a step must not run backwards (write 10-30/5, not 30-10/5)", schedule, field)
		}
		sched = &cronSchedule{expr: expr}
	}
	if zone != nil {
		sched = zoned{sched, zone}
	}
	return sched, nil
}

// cronSchedule is a cronexpr expression, safe for concurrent use (Next
// keeps state in the expression) and never going back in time: around a
// fall-back clock change cronexpr can name a wall time that the first pass
// through the repeated hour already passed, and then the next later one is
// taken.
type cronSchedule struct {
	mu   sync.Mutex
	expr *cronexpr.Expression
}

func (c *cronSchedule) Next(t time.Time) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.expr.Next(t)
	for probe, i := t, 0; !n.IsZero() && !n.After(t); i++ {
		if i == 2*3600 {
			return time.Time{}
		}
		probe = probe.Add(time.Second)
		n = c.expr.Next(probe)
	}
	return n
}

// emptyField names a field of expr that matches no value, such as the hour
// field of "0 20-5/2 * * *": cronexpr accepts it and then panics in Next
// (supercronic crashes on it when the job comes due).
func emptyField(expr *cronexpr.Expression) string {
	v := reflect.ValueOf(expr).Elem()
	for _, f := range []struct{ list, name string }{
		{"secondList", "second"}, {"minuteList", "minute"}, {"hourList", "hour"}, {"monthList", "month"}, {"yearList", "year"},
	} {
		if v.FieldByName(f.list).Len() == 0 {
			return f.name
		}
	}
	return ""
}

// zoned is a schedule with its own time zone (a CRON_TZ= prefix).
type zoned struct {
	cron.Schedule
	loc *time.Location
}

func (z zoned) Next(t time.Time) time.Time { return z.Schedule.Next(t.In(z.loc)) }

func compile(j Job) (*job, error) {
	if err := checkName("job name", j.Name, 191); err != nil {
		return nil, err
	}
	if j.Run == nil {
		return nil, fmt.Errorf("job %q: Run is nil", j.Name)
	}
	sched, err := parseSpec(j.Schedule)
	if err != nil {
		return nil, fmt.Errorf("job %q: %w", j.Name, err)
	}
	if j.Location == nil {
		j.Location = time.UTC
	}
	if j.Timeout < 0 || j.StartingDeadline < 0 {
		return nil, fmt.Errorf("job %q: Timeout and StartingDeadline must not be negative", j.Name)
	}
	if j.Concurrency < ConcurrencyForbid || j.Concurrency > ConcurrencyReplace {
		return nil, fmt.Errorf("job %q: unknown concurrency policy %d", j.Name, j.Concurrency)
	}
	if j.Missed < MissedRunOnce || j.Missed > MissedRunAll {
		return nil, fmt.Errorf("job %q: unknown missed-fire policy %d", j.Name, j.Missed)
	}
	if j.Weight == 0 {
		j.Weight = 1
	}
	if j.Weight < 1 || j.Weight > 1000 {
		return nil, fmt.Errorf("job %q: weight %d: must be 1 to 1000", j.Name, j.Weight)
	}
	hosts := make([]string, 0, len(j.Hosts))
	for _, h := range j.Hosts {
		h = strings.TrimSuffix(h, "/") // "10.0.0.1/" means "10.0.0.1", as soloist allow reads it
		if err := checkName("host", h, 255); err != nil {
			return nil, fmt.Errorf("job %q: %w", j.Name, err)
		}
		hosts = append(hosts, h)
	}
	j.Hosts = hosts
	if j.StartingDeadline == 0 {
		switch j.Missed {
		case MissedSkip:
			j.StartingDeadline = time.Second
		case MissedRunAll:
			j.StartingDeadline = time.Hour
		}
	}
	cj := &job{Job: j, sched: sched}
	if cj.next(time.Now()).IsZero() {
		return nil, fmt.Errorf("job %q: schedule %q never fires", j.Name, j.Schedule)
	}
	return cj, nil
}

// zonedSchedule is the schedule with its time zone, as the jobs table keeps
// it: "CRON_TZ=Europe/Berlin 0 2 * * *" when Location says so, so that a
// reader of the table (soloist status) can compute fires without the
// runner's settings.
func (j *job) zonedSchedule() string {
	s := strings.TrimSpace(j.Schedule)
	if j.Location == time.UTC || strings.HasPrefix(s, "CRON_TZ=") || strings.HasPrefix(s, "TZ=") {
		return s
	}
	return "CRON_TZ=" + j.Location.String() + " " + s
}

// next is the job's first fire strictly after t, in UTC; zero if none.
func (j *job) next(t time.Time) time.Time {
	n := j.sched.Next(t.In(j.Location))
	if n.IsZero() {
		return n
	}
	return n.UTC()
}

// late reports whether a fire that is late by lateness may no longer start.
func (j *job) late(lateness time.Duration) bool {
	return j.StartingDeadline > 0 && lateness > j.StartingDeadline
}

// checkName applies the procedures' rule for names to s, for an early,
// clear error: 1 to max characters of UTF-8 without control characters.
func checkName(what, s string, maxChars int) error {
	switch n := utf8.RuneCountInString(s); {
	case s == "":
		return fmt.Errorf("%s must not be empty", what)
	case !utf8.ValidString(s):
		return fmt.Errorf("%s %q must be valid UTF-8", what, s)
	case n > maxChars:
		return fmt.Errorf("%s must be at most %d characters, got %d", what, maxChars, n)
	case strings.IndexFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0:
		return fmt.Errorf("%s %q must not contain control characters", what, s)
	}
	return nil
}
