package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/soloist-dev/soloist/internal/leadership"
	"github.com/soloist-dev/soloist/internal/retry"
	"github.com/soloist-dev/soloist/internal/store"
)

const (
	// maxCatchUp bounds how many piled-up fires of one job are handled one by
	// one; older ones are skipped with a warning (an outage of 17 minutes
	// piles up 1000 fires of an every-second job).
	maxCatchUp = 1000
	// clockResync is how long the scheduler trusts one reading of the
	// database clock before it asks again.
	clockResync = 30 * time.Second
	// pruneEvery is how often the holder deletes history past retention.
	pruneEvery = time.Hour
	// fireSlack is how long after a fire's time (by its estimate of the
	// database clock) the scheduler claims it, so that a claim is not
	// refused as early for a millisecond of rounding.
	fireSlack = 2 * time.Millisecond
	// reportFor is how long a runner keeps trying to record a run's outcome
	// when the database does not answer.
	reportFor = 30 * time.Second
)

// callTimeout bounds one call of the scheduler: a connection that a network
// fault left hanging must not stall the term.
func (r *Runner) callTimeout() time.Duration { return max(2*r.cfg.interval, 2*time.Second) }

// callCtx is the context of one call within the term.
func (t *termRun) callCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(t.term.Context(), t.r.callTimeout())
}

// termRun schedules a group's jobs for one term of the lease: in leader
// mode all of them under the group's lease, in balanced mode one job under
// its own.
type termRun struct {
	r    *Runner
	term *leadership.Term
	log  *slog.Logger
	lock string // the lease the term holds: the group, or the job's own
	only string // balanced mode: the one job of the term; "" for all

	// handover is closed when the job should move to another runner
	// (balanced mode only): the term starts no new run, and ends as soon as
	// none is running, so that a job moves only between its runs.
	handover    <-chan struct{}
	handingOver bool
	changed     <-chan struct{} // the jobs changed (SetJobs, Add)

	clock  dbClock
	states map[string]*jobState
	retry  retry.Backoff

	mu      sync.Mutex
	running map[int64]*execution // by run id
	wake    chan struct{}        // a run ended
}

// jobState is where a job's schedule stands in this term.
type jobState struct {
	job    *job
	cursor time.Time // the latest fire handled (run, recorded, taken or paused)
}

// execution is one run in progress.
type execution struct {
	job     *job
	fire    Fire
	cancel  context.CancelCauseFunc
	started time.Time
}

// dbClock estimates the database clock from one reading and the local
// monotonic clock.
type dbClock struct {
	local time.Time // when the reading was taken, locally (mid round trip)
	db    time.Time
}

func (c *dbClock) set(db, sent, received time.Time) {
	c.local, c.db = sent.Add(received.Sub(sent)/2), db
}

func (c *dbClock) now() time.Time { return c.db.Add(time.Since(c.local)) }

// lead is the leadership.LeadFunc: the scheduler of one term.
func (r *Runner) lead(term *leadership.Term) {
	r.newTermRun(term, r.group, "", nil, r.changed, r.cfg.logger.With("token", term.Token)).run(0)
}

func (r *Runner) newTermRun(term *leadership.Term, lock, only string, handover, changed <-chan struct{}, log *slog.Logger) *termRun {
	return &termRun{
		r: r, term: term, log: log, lock: lock, only: only, handover: handover, changed: changed,
		states: map[string]*jobState{}, running: map[int64]*execution{},
		wake:  make(chan struct{}, 1),
		retry: retry.Backoff{Min: 20 * time.Millisecond, Max: r.cfg.interval},
	}
}

// run is the whole term: begin, then the loop, then the wind-down. The first
// prune of history comes after pruneAfter.
func (t *termRun) run(pruneAfter time.Duration) {
	defer t.windDown()
	if !t.begin() {
		return
	}
	t.loop(pruneAfter)
}

// jobs is what the term schedules: every job of the runner, or its one job.
func (t *termRun) jobs() map[string]*job {
	all := t.r.snapshotJobs()
	if t.only == "" {
		return all
	}
	if j, ok := all[t.only]; ok {
		return map[string]*job{t.only: j}
	}
	return map[string]*job{}
}

// begin marks the previous holders' unfinished runs abandoned, reads the
// database clock and registers the jobs.
func (t *termRun) begin() bool {
	for t.term.Valid() {
		ctx, cancel := t.callCtx()
		sent := time.Now()
		abandoned, now, err := t.r.store.BeginTerm(ctx, t.lock, t.r.cfg.owner, t.term.Token)
		cancel()
		if err == nil {
			t.clock.set(now, sent, time.Now())
			if abandoned > 0 {
				t.log.Warn("runs of an earlier holder never reported an outcome; marked abandoned", "runs", abandoned)
				if h := t.r.cfg.hooks.RunsAbandoned; h != nil {
					h(abandoned)
				}
			}
			return t.syncJobs()
		}
		if errors.Is(err, store.ErrLeaseLost) {
			t.log.Warn("lease lost before the term began", "err", err)
			t.term.Refused()
			return false
		}
		t.log.Warn("begin term failed; retrying", "err", err)
		retry.Sleep(t.term.Context(), t.retry.Next())
	}
	return false
}

// syncJobs registers new and changed jobs and forgets removed ones.
func (t *termRun) syncJobs() bool {
	jobs := t.jobs()
	for name := range t.states {
		if _, ok := jobs[name]; !ok {
			delete(t.states, name)
		}
	}
	for name, j := range jobs {
		if st, ok := t.states[name]; ok && st.job == j {
			continue
		}
		for {
			if !t.term.Valid() {
				return false
			}
			ctx, cancel := t.callCtx()
			sent := time.Now()
			js, err := t.r.store.SyncJob(ctx, t.lock, t.r.cfg.owner, t.term.Token, name, j.zonedSchedule())
			cancel()
			if err == nil {
				t.clock.set(js.Now, sent, time.Now())
				// Every fire after the cursor is owed. A job that never fired
				// owes the fires since an earlier holder registered it (its
				// first fire may have come due while nobody held the lease);
				// a job never registered owes nothing before now.
				cursor := js.LastFire
				if cursor.IsZero() {
					cursor = js.Registered
				}
				if cursor.IsZero() {
					cursor = js.Now
				}
				t.states[name] = &jobState{job: j, cursor: cursor}
				break
			}
			if errors.Is(err, store.ErrLeaseLost) {
				t.log.Warn("lease lost while registering jobs", "err", err)
				t.term.Refused()
				return false
			}
			t.log.Warn("registering a job failed; retrying", "job", name, "err", err)
			retry.Sleep(t.term.Context(), t.retry.Next())
		}
	}
	t.retry.Reset()
	return true
}

// loop claims and starts fires as they come due, until the term ends or the
// runner stops.
func (t *termRun) loop(pruneAfter time.Duration) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	synced := time.Now()
	pruneAt := time.Now().Add(pruneAfter)
	for {
		if t.handingOver && t.runningCount("") == 0 {
			return
		}
		if time.Now().After(pruneAt) {
			t.prune()
			pruneAt = time.Now().Add(pruneEvery)
		}
		if time.Since(synced) > clockResync {
			ctx, cancel := t.callCtx()
			sent := time.Now()
			now, err := t.r.store.DatabaseTime(ctx)
			cancel()
			if err == nil {
				t.clock.set(now, sent, time.Now())
				synced = time.Now()
			}
		}
		var wakeAt time.Time
		if !t.handingOver {
			var ok bool
			if wakeAt, ok = t.dispatch(); !ok {
				return
			}
		}
		d := min(time.Until(pruneAt), clockResync)
		if !wakeAt.IsZero() {
			d = min(d, wakeAt.Sub(t.clock.now())+fireSlack)
		}
		timer.Reset(max(d, 0))
		select {
		case <-t.term.Context().Done():
			return
		case <-t.term.Stopping():
			return
		case <-t.changed:
			if !t.syncJobs() {
				return
			}
		case <-t.handover:
			t.handingOver, t.handover = true, nil
		case <-t.wake:
		case <-timer.C:
		}
		if !timer.Stop() {
			select { // drain a timer that fired while we were woken otherwise
			case <-timer.C:
			default:
			}
		}
	}
}

// dispatch handles every due fire of every job. It returns the database time
// at which the next fire comes due (zero: none, wait for a run to end), and
// false when the term is over.
func (t *termRun) dispatch() (wakeAt time.Time, ok bool) {
	names := make([]string, 0, len(t.states))
	for name := range t.states {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		st := t.states[name]
		next, ok := t.handle(st)
		if !ok {
			return time.Time{}, false
		}
		if !next.IsZero() && (wakeAt.IsZero() || next.Before(wakeAt)) {
			wakeAt = next
		}
	}
	return wakeAt, true
}

// handle deals with the due fires of one job. It returns when the job next
// needs attention (zero: when one of its runs ends), and false when the term
// is over.
func (t *termRun) handle(st *jobState) (wakeAt time.Time, ok bool) {
	j := st.job
	for {
		if !t.term.Valid() {
			return time.Time{}, false
		}
		select {
		case <-t.term.Stopping():
			return time.Time{}, false
		default:
		}
		now := t.clock.now()
		due, skipped := t.dueFires(st, now)
		if skipped > 0 {
			t.log.Warn("fires piled up beyond what is caught up one by one; the oldest are not recorded",
				"job", j.Name, "skipped", skipped, "recorded_from", due[0])
		}
		if len(due) == 0 {
			return j.next(st.cursor), true
		}
		if j.Concurrency == ConcurrencyForbid && t.runningCount(j.Name) > 0 {
			return time.Time{}, true // its end wakes the loop
		}
		fire, run, why := t.plan(j, due, now)
		result, err := t.claim(j, fire, run, why)
		switch {
		case err != nil:
			t.log.Warn("claiming a fire failed; retrying", "job", j.Name, "fire", fire, "err", err)
			return now.Add(t.retry.Next()), true
		case result.Reason == store.ReasonLeaseLost:
			// The term ends as after a refused heartbeat: its runs are
			// cancelled at once, not given the grace period.
			t.log.Warn("the database says the lease is lost; stepping down", "job", j.Name)
			t.term.Refused()
			return time.Time{}, false
		case result.Reason == store.ReasonEarly || result.Reason == store.ReasonBusy:
			return fire.Add(t.retry.Next()), true
		}
		t.retry.Reset()
		st.cursor = fire
		switch result.Reason {
		case store.ReasonClaimed:
			t.start(j, fire, result.RunID)
		case store.ReasonRecorded:
			if h := t.r.cfg.hooks.FireMissed; h != nil {
				h(j.Name)
			}
			t.log.Info("fire missed", "job", j.Name, "fire", fire, "why", why)
		case store.ReasonPaused:
			t.log.Debug("job paused; fire passed over", "job", j.Name, "fire", fire)
		case store.ReasonTaken:
			t.log.Debug("fire already handled by an earlier holder", "job", j.Name, "fire", fire)
		}
	}
}

// dueFires lists the fires of a job after its cursor and at or before now,
// at most maxCatchUp of them (the newest), and how many older ones it left
// out. The cursor moves past those left out.
func (t *termRun) dueFires(st *jobState, now time.Time) (due []time.Time, skipped int) {
	for f := st.job.next(st.cursor); !f.IsZero() && !f.After(now); f = st.job.next(f) {
		if len(due) == maxCatchUp {
			st.cursor = due[0]
			due = due[1:]
			skipped++
		}
		due = append(due, f)
	}
	return due, skipped
}

// plan picks the first fire to handle from the due ones (oldest first) and
// whether to run it; when not, why it is recorded as missed.
func (t *termRun) plan(j *job, due []time.Time, now time.Time) (fire time.Time, run bool, why string) {
	fire = due[0]
	lateness := now.Sub(fire)
	switch {
	case j.Missed == MissedRunOnce && len(due) > 1:
		return fire, false, fmt.Sprintf("missed: a later fire came due before it could start (policy %s)", j.Missed)
	case j.late(lateness):
		return fire, false, fmt.Sprintf("missed: could not start within %v of its time (policy %s)", j.StartingDeadline, j.Missed)
	}
	return fire, true, ""
}

// claim claims a fire to run it, or records it as missed.
func (t *termRun) claim(j *job, fire time.Time, run bool, why string) (store.ClaimResult, error) {
	ctx, cancel := t.callCtx()
	defer cancel()
	sent := time.Now()
	res, err := t.r.store.ClaimFire(ctx, store.Claim{
		Lock: t.lock, Owner: t.r.cfg.owner, Token: t.term.Token,
		Job: j.Name, Fire: fire, Next: j.next(fire), Missed: !run, Message: why,
	})
	if err == nil {
		t.clock.set(res.Now, sent, time.Now())
	}
	return res, err
}

// runningCount counts the term's runs of job in progress ("": of any job).
func (t *termRun) runningCount(job string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, e := range t.running {
		if job == "" || e.job.Name == job {
			n++
		}
	}
	return n
}

// start runs a claimed fire in its own goroutine.
func (t *termRun) start(j *job, fire time.Time, runID int64) {
	if !t.term.Valid() {
		// The claim went through but the trust window ended meanwhile: the
		// run must not start. The next holder marks it abandoned.
		return
	}
	if j.Concurrency == ConcurrencyReplace {
		t.mu.Lock()
		for _, e := range t.running {
			if e.job.Name == j.Name {
				e.cancel(ErrReplaced)
			}
		}
		t.mu.Unlock()
	}
	ctx, cancel := context.WithCancelCause(t.term.Context())
	e := &execution{
		job: j, cancel: cancel, started: time.Now(),
		fire: Fire{
			Group: t.r.group, Lease: t.lock, Job: j.Name, Time: fire, Token: t.term.Token, Owner: t.r.cfg.owner,
			RunID: runID, schema: t.r.schema, out: &output{},
		},
	}
	t.mu.Lock()
	t.running[runID] = e
	t.mu.Unlock()
	t.log.Info("run started", "job", j.Name, "fire", fire, "run_id", runID)
	t.r.bg.Add(1) // done once the outcome is reported
	go t.execute(ctx, e)
}

func (t *termRun) execute(ctx context.Context, e *execution) {
	if e.job.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, e.job.Timeout, ErrTimedOut)
		defer cancel()
	}
	err := call(ctx, e.job.Run, e.fire)
	outcome, message := outcomeOf(ctx, err)
	took := time.Since(e.started)
	e.cancel(nil)

	// Report from a goroutine that Run waits for, so that ending the term
	// does not wait for the database.
	go func() {
		defer t.r.bg.Done()
		t.r.report(e, outcome, message, took)
	}()

	t.mu.Lock()
	delete(t.running, e.fire.RunID)
	t.mu.Unlock()
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// call runs a job function, turning a panic into an error.
func call(ctx context.Context, fn func(context.Context, Fire) error, f Fire) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v\n%s", p, debug.Stack())
		}
	}()
	return fn(ctx, f)
}

// outcomeOf names how a run ended, as the runs table records it.
func outcomeOf(ctx context.Context, err error) (outcome Outcome, message string) {
	if err == nil {
		return OutcomeSucceeded, ""
	}
	msg := err.Error()
	if ctx.Err() == nil {
		return OutcomeFailed, msg
	}
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, ErrTimedOut):
		return OutcomeTimedOut, msg
	case LeaseLost(cause):
		return OutcomeLost, cause.Error() + ": " + msg
	default:
		return OutcomeCancelled, cause.Error() + ": " + msg
	}
}

// report records a run's outcome, with a few tries: the database may be the
// reason the run failed.
func (r *Runner) report(e *execution, outcome Outcome, message string, took time.Duration) {
	log := r.cfg.logger.With("job", e.job.Name, "fire", e.fire.Time, "run_id", e.fire.RunID, "outcome", outcome, "took", took.Round(time.Millisecond))
	switch outcome {
	case OutcomeSucceeded:
		log.Info("run finished")
	default:
		log.Warn("run finished", "message", message)
	}
	if h := r.cfg.hooks.RunFinished; h != nil {
		h(e.job.Name, outcome, took)
	}
	output := e.fire.out.get()
	b := retry.Backoff{Min: 200 * time.Millisecond, Max: 5 * time.Second}
	for giveUp := time.Now().Add(reportFor); ; {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := r.store.FinishRun(ctx, e.fire.RunID, r.cfg.owner, string(outcome), message, output)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(giveUp) {
			break
		}
		log.Warn("recording the outcome failed; retrying", "err", err)
		time.Sleep(b.Next())
	}
	log.Error("outcome not recorded; the next holder will mark the run abandoned")
}

// windDown ends the term's runs. After a graceful stop they get the grace
// period to finish before they are cancelled; after a lost lease they are
// cancelled already (their contexts derive from the term's). Either way it
// waits up to the grace period for them to return.
func (t *termRun) windDown() {
	grace := t.r.cfg.grace
	if t.term.Valid() && t.idle(grace) {
		return
	}
	// After a lost lease the runs are told so, whatever ended the loop first.
	cause := ErrShutdown
	if c := context.Cause(t.term.Context()); errors.Is(c, ErrLeaseLost) {
		cause = c
	}
	t.mu.Lock()
	for _, e := range t.running {
		e.cancel(cause)
	}
	t.mu.Unlock()
	if !t.idle(grace) {
		t.mu.Lock()
		defer t.mu.Unlock()
		for _, e := range t.running {
			t.log.Error("job ignored cancellation and still runs; leaving it behind",
				"job", e.job.Name, "fire", e.fire.Time, "running_for", time.Since(e.started).Round(time.Millisecond))
		}
	}
}

// idle waits up to d for every run of the term to end.
func (t *termRun) idle(d time.Duration) bool {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		t.mu.Lock()
		n := len(t.running)
		t.mu.Unlock()
		if n == 0 {
			return true
		}
		select {
		case <-t.wake:
		case <-deadline.C:
			return false
		}
	}
}

// prune deletes the group's history past the retention period.
func (t *termRun) prune() {
	var total int64
	for range 10 {
		ctx, cancel := t.callCtx()
		n, err := t.r.store.PruneRuns(ctx, t.lock, t.r.cfg.owner, t.term.Token, t.r.cfg.retention)
		cancel()
		if err != nil {
			t.log.Warn("pruning history failed", "err", err)
			return
		}
		total += n
		if n < 10000 {
			break
		}
	}
	if total > 0 {
		t.log.Info("history pruned", "rows", total, "retention", t.r.cfg.retention)
	}
}
