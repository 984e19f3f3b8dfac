package runner

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	cron "github.com/netresearch/go-cron"

	"github.com/soloist-dev/soloist/internal/store"
)

// Job is a scheduled function. Only the runner that holds the group's lease
// runs it, once per fire.
type Job struct {
	// Name identifies the job in its group: 1 to 191 characters, unique,
	// stable across restarts (fires are recorded under it).
	Name string

	// Schedule is a cron expression: five fields ("*/5 * * * *"), six with a
	// leading seconds field ("*/10 * * * * *"), a descriptor (@yearly,
	// @monthly, @weekly, @daily, @hourly) or "@every <duration>" (at least
	// 1s). A "CRON_TZ=Area/City " or "TZ=Area/City " prefix sets its time
	// zone. When day of month and day of week are both restricted, either
	// matching fires the job, as in Vixie cron.
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

// Fire is one scheduled fire of a job, handed to Job.Run.
type Fire struct {
	// Group is the group (lease name).
	Group string
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

// AssertLease calls the assert_lease procedure on q, normally the
// transaction in which the job writes: it fails with an error matching
// ErrLeaseLost unless the fire's token is still the current lease, and
// otherwise holds the lease until the transaction ends, so that no other
// runner can take over before the writes commit. q must be on the same
// server as the Soloist schema; the call names that schema explicitly.
func (f Fire) AssertLease(ctx context.Context, q store.Querier) error {
	return store.AssertLease(ctx, q, f.schema, f.Group, f.Token)
}

// SetOutput records text (for example the tail of a command's output) to
// store with the run's outcome. The history keeps the last 8 KiB.
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

// parser accepts standard crontab schedules, an optional leading seconds
// field, and descriptors.
var parser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month |
	cron.Dow | cron.Descriptor | cron.DowOrDom)

// job is a validated Job with its parsed schedule.
type job struct {
	Job
	sched cron.Schedule
}

// ParseSchedule checks a schedule the way a Job's is checked, and returns
// a function giving its next fire after t, in UTC. loc is the time zone of a
// schedule without a CRON_TZ prefix; nil means UTC.
func ParseSchedule(schedule string, loc *time.Location) (next func(t time.Time) time.Time, err error) {
	sched, err := parseSpec(schedule)
	if err != nil {
		return nil, err
	}
	if loc == nil {
		loc = time.UTC
	}
	j := &job{Job: Job{Schedule: schedule, Location: loc}, sched: sched}
	if j.next(time.Now()).IsZero() {
		return nil, fmt.Errorf("schedule %q never fires", schedule)
	}
	return j.next, nil
}

// parseSpec parses a schedule.
func parseSpec(schedule string) (cron.Schedule, error) {
	spec := strings.TrimSpace(schedule)
	if strings.HasPrefix(spec, "@reboot") {
		return nil, fmt.Errorf("@reboot is not supported: a cluster has no single boot; run it from the service manager instead")
	}
	if utf8.RuneCountInString(spec) > 255 {
		return nil, fmt.Errorf("schedule is longer than 255 characters")
	}
	sched, err := parser.Parse(spec)
	if err != nil {
		return nil, &scheduleError{schedule: schedule, err: err}
	}
	return sched, nil
}

// scheduleError says in Soloist's words what the cron parser refused; the
// parser's own error stays reachable with errors.Unwrap.
type scheduleError struct {
	schedule string
	err      error
}

var (
	badNumber = regexp.MustCompile(`failed to parse int from "([^"]*)"`)
	badFields = regexp.MustCompile(`expected \d+ to \d+ fields, found (\d+)`)
)

func (e *scheduleError) Error() string {
	msg := e.err.Error()
	var why string
	switch {
	case strings.Contains(msg, "DomL option") || strings.Contains(msg, "DomW option"):
		why = "L and W in the day of month (last day, nearest weekday) are not supported: list the days instead, such as 28-31"
	case strings.Contains(msg, "DowNth") || strings.Contains(msg, "DowLast"):
		why = "# in the day of week (the nth weekday of the month) is not supported: give the weekday and a day-of-month range, such as 1-7"
	case badNumber.MatchString(msg):
		tok := badNumber.FindStringSubmatch(msg)[1]
		if strings.HasSuffix(tok, "L") {
			why = fmt.Sprintf("%q: L in the day of week (the last weekday of the month) is not supported", tok)
		} else {
			why = fmt.Sprintf("%q is not a number, a month or weekday name (JAN, MON), or *", tok)
		}
	case strings.Contains(msg, "time: invalid duration"):
		why = "@every wants a Go duration, such as 90s or 1h30m"
	case badFields.MatchString(msg):
		why = fmt.Sprintf("%s fields; want 5 (minute hour day-of-month month day-of-week), or 6 with seconds first", badFields.FindStringSubmatch(msg)[1])
	default:
		why = msg
	}
	return fmt.Sprintf("schedule %q: %s", e.schedule, why)
}

func (e *scheduleError) Unwrap() error { return e.err }

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
