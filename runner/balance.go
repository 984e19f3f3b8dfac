package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/soloist-dev/soloist/internal/balance"
	"github.com/soloist-dev/soloist/internal/dberr"
	"github.com/soloist-dev/soloist/internal/leadership"
	"github.com/soloist-dev/soloist/internal/retry"
	"github.com/soloist-dev/soloist/internal/store"
)

// Balanced mode (WithBalance): every runner of the group is a member, and
// each job has its own lease, '<group>/<job>', owned by one member at a
// time. Once per interval a member renews its membership and every job
// lease it owns in one call (balance_renew), which also answers with the
// group as it stands. From that answer every member computes the same
// assignment (internal/balance): it takes the free jobs the assignment gives
// it (acquire_job) and hands over the jobs the assignment gives to others,
// between their runs. Each owned job runs as a term of its own lease, with
// the same trust window, claims and fencing as a leader's term.

// expirySlack is how long after another runner's lease should have expired
// the next round looks: the expiry was measured from the send of the call,
// so the lease has ended by then but for the call's one-way latency, and a
// round that comes a little early looks again.
const expirySlack = 10 * time.Millisecond

// maxFallbacks bounds how many runners a round works out the assignment
// without, for jobs those runners left free: each is a whole assignment.
const maxFallbacks = 2

// keepFor is how many TTLs a runner keeps a job it took for a runner that
// left it free before it offers the job to that runner again.
const keepFor = 10

// ownedJob is a job whose lease this runner holds.
type ownedJob struct {
	term     *leadership.Term
	handover chan struct{} // closed to move the job away between runs
	changed  chan struct{} // the job's definition changed
	done     chan struct{} // closed when the term has ended and the lease is released
	handing  bool
}

// freeSince is since when a job has been free while given to one runner.
type freeSince struct {
	to    string
	since time.Time
}

// kept is a job taken for a runner that did not take it.
type kept struct {
	from  string
	until time.Time
}

// balancer is the loop of a runner in balanced mode.
type balancer struct {
	r     *Runner
	log   *slog.Logger
	owned map[string]*ownedJob
	// freeSince is since when this runner has seen each job free and given
	// to the same other runner. A job that stays so for a whole TTL although
	// that runner is live (a job only some runners know, while a crontab is rolled out) is
	// taken by the runner the assignment would pick without that one, so
	// that it is never left unowned, and a runner that is only slow to take
	// its jobs does not lose them.
	freeSince map[string]freeSince
	// kept are jobs taken that way, with the runner that did not take them
	// and until when this runner keeps them rather than hand them back.
	kept     map[string]kept
	declared map[string]*job // the jobs as last declared
	// last is the previous round's view and answer: the assignment is
	// computed again only when the view changed.
	last struct {
		members []string
		jobs    map[string]*job
		owners  map[string]string
		target  map[string]string
	}
	// without is this round's assignments without one runner, for the
	// free-job fallback, at most maxFallbacks of them a round.
	without   map[string]map[string]string
	stopping  bool
	unownable []string
}

// runBalanced is Run in balanced mode.
func (r *Runner) runBalanced(ctx context.Context) error {
	if err := r.join(ctx, true); err != nil {
		return err
	}
	b := &balancer{r: r, log: r.cfg.logger, owned: map[string]*ownedJob{}, freeSince: map[string]freeSince{}, kept: map[string]kept{}}
	r.cfg.logger.Info("runner started in balanced mode", "ttl", r.cfg.ttl, "interval", r.cfg.interval,
		"safety_margin", r.cfg.margin, "jobs", len(r.snapshotJobs()))
	err := b.loop(ctx)
	r.cfg.logger.Info("runner stopped")
	return err
}

// join checks the runner's mode against its group's live runners and, in
// balanced mode, records it as a member. It waits for a database that does
// not answer, and fails at once when the group runs in the other mode.
func (r *Runner) join(ctx context.Context, balanced bool) error {
	b := retry.Backoff{Min: 100 * time.Millisecond, Max: 5 * time.Second}
	for {
		cctx, cancel := context.WithTimeout(ctx, r.callTimeout())
		_, err := r.store.JoinGroup(cctx, r.group, r.cfg.owner, balanced, r.cfg.ttl)
		cancel()
		switch {
		case err == nil:
			return nil
		case errors.Is(err, store.ErrModeConflict):
			return fmt.Errorf("%w: %v", ErrModeConflict, dberr.Message(err))
		case dberr.IsAccessDenied(err) || dberr.Signalled(err, "p_"):
			return fmt.Errorf("runner: %w", err)
		case ctx.Err() != nil:
			return nil // stopped before it started
		}
		r.cfg.logger.Warn("joining the group failed; retrying", "err", err)
		retry.Sleep(ctx, b.Next())
	}
}

func (b *balancer) loop(ctx context.Context) error {
	r := b.r
	timer := time.NewTimer(0)
	defer timer.Stop()
	again := retry.Backoff{Min: 20 * time.Millisecond, Max: r.cfg.interval / 4}
	var (
		fatal     error
		nextRound time.Time // zero: now
		done      = ctx.Done()
	)
	for {
		select {
		case <-timer.C:
		case <-r.changed:
			b.jobsChanged()
			continue // the timer still runs
		case <-done:
			done = nil
			b.stop()
		}
		if b.stopping {
			// Keep renewing while the jobs wind down; leave when they have.
			b.reap()
			if len(b.owned) == 0 {
				r.owned.Store(nil)
				b.leave()
				return fatal
			}
		}
		if !time.Now().Before(nextRound) {
			next, err := b.round()
			switch {
			case errors.Is(err, ErrModeConflict):
				b.log.Error("stopping: the group runs in the other mode now", "err", err)
				fatal, done = err, nil
				b.stop()
				nextRound = time.Now().Add(again.Next())
			case err != nil:
				nextRound = time.Now().Add(again.Next())
			default:
				again.Reset()
				nextRound = next
			}
		}
		wake := nextRound
		if b.stopping {
			wake = time.Now().Add(min(time.Until(wake), 50*time.Millisecond))
		}
		timer.Reset(max(time.Until(wake), 0))
	}
}

// round is one interval: renew, then take and hand over jobs. It returns
// when the next round is due.
func (b *balancer) round() (next time.Time, err error) {
	r := b.r
	ctx, cancel := context.WithTimeout(context.Background(), r.callTimeout())
	sent := time.Now()
	g, err := r.store.BalanceRenew(ctx, r.group, r.cfg.owner, r.cfg.ttl)
	cancel()
	if h := r.cfg.hooks.Heartbeat; h != nil {
		h(time.Since(sent), err == nil, err)
	}
	b.reap()
	if err != nil {
		if errors.Is(err, store.ErrModeConflict) {
			return time.Time{}, fmt.Errorf("%w: %v", ErrModeConflict, dberr.Message(err))
		}
		b.log.Warn("renewal failed; retrying within the trust window", "err", err)
		return time.Time{}, err
	}

	// Extend the terms the database renewed; end those it did not.
	holders := make(map[string]store.JobOwner, len(g.Jobs))
	for _, j := range g.Jobs {
		holders[j.Job] = j
	}
	for name, o := range b.owned {
		if h, ok := holders[name]; ok && h.Holder == r.cfg.owner && h.Token == o.term.Token && h.ExpiresIn > r.cfg.margin {
			// The database's clock read the expiry after the send, so the
			// lease lasts at least ExpiresIn from the send: for a renewed
			// lease exactly the TTL.
			o.term.Extend(sent.Add(h.ExpiresIn - r.cfg.margin))
			continue
		}
		o.term.Refused()
	}
	// A lease the database says this runner holds, with no term here: an
	// acquire_job whose answer was lost. Renewing it would keep the job from
	// everyone; give it back, and let the assignment decide again.
	for _, h := range g.Jobs {
		if _, ok := b.owned[h.Job]; !ok && h.Holder == r.cfg.owner {
			b.log.Warn("releasing a job lease this runner holds without running the job (an answer was lost)", "job", h.Job, "token", h.Token)
			b.release(store.JobLease(r.group, h.Job), h.Token)
			h.Holder = ""
			holders[h.Job] = h
		}
	}
	if b.stopping {
		return sent.Add(r.cfg.interval), nil
	}

	members := make([]string, 0, len(g.Members))
	for _, m := range g.Members {
		members = append(members, m.Owner)
	}
	if !slices.Contains(members, r.cfg.owner) {
		members = append(members, r.cfg.owner)
	}
	owners := map[string]string{}
	for _, h := range holders {
		if h.Holder != "" {
			owners[h.Job] = h.Holder
		}
	}
	jobs := r.snapshotJobs()
	list := make([]balance.Job, 0, len(jobs))
	for _, name := range slices.Sorted(maps.Keys(jobs)) {
		j := jobs[name]
		list = append(list, balance.Job{Name: name, Weight: j.Weight, Hosts: j.Hosts})
	}
	slices.Sort(members)
	target := b.last.target
	if !slices.Equal(members, b.last.members) || !maps.Equal(jobs, b.last.jobs) || !maps.Equal(owners, b.last.owners) {
		target = balance.Assign(members, list, owners)
		b.last.members, b.last.jobs, b.last.owners, b.last.target = members, jobs, owners, target
	}
	b.without = map[string]map[string]string{}

	// Hand over what should move (or is no longer a job here), between runs,
	// but not back to a runner that left it free.
	for name, o := range b.owned {
		if k, ok := b.kept[name]; ok && k.from == target[name] && time.Now().Before(k.until) {
			continue
		}
		if _, ok := jobs[name]; (!ok || target[name] != r.cfg.owner) && !o.handing {
			b.log.Info("handing the job over", "job", name, "to", target[name])
			o.handing = true
			close(o.handover)
		}
	}

	// Take the free jobs that are this runner's, and any left free too long.
	b.unownable = b.unownable[:0]
	now := time.Now()
	for name := range b.freeSince {
		if _, ok := jobs[name]; !ok {
			delete(b.freeSince, name)
		}
	}
	for _, j := range list {
		name := j.Name
		if target[name] == "" {
			b.unownable = append(b.unownable, name)
		}
		if _, mine := b.owned[name]; mine || owners[name] != "" {
			delete(b.freeSince, name)
			continue
		}
		free, seen := b.freeSince[name]
		if !seen || free.to != target[name] {
			free = freeSince{to: target[name], since: now}
			b.freeSince[name] = free
		}
		fallback := target[name] != r.cfg.owner && now.Sub(free.since) >= r.cfg.ttl && b.fallback(members, list, owners, name, target[name])
		if target[name] != r.cfg.owner && !fallback {
			continue
		}
		if time.Since(sent) > r.cfg.interval/2 {
			continue // the rest at the next round: the renewal must not wait
		}
		if b.acquire(name) && fallback {
			b.log.Warn("took a job that the runner it was given to left free for a TTL; is the job in its crontab?",
				"job", name, "runner", target[name])
			b.kept[name] = kept{from: target[name], until: now.Add(keepFor * r.cfg.ttl)}
		}
	}
	if err := b.declare(jobs); err != nil {
		b.log.Warn("declaring the jobs' weights and hosts failed; retrying next round", "err", err)
	}
	owned := slices.Sorted(maps.Keys(b.owned))
	r.owned.Store(&owned)
	if h := r.cfg.hooks.Balanced; h != nil {
		h(len(members), slices.Clone(owned), slices.Clone(b.unownable))
	}
	return b.nextRound(sent, g), nil
}

// nextRound is when the next round is due: an interval after this one, or
// just after the soonest expiry of another runner's membership or job lease
// if that comes first. A live runner renews every interval, so its expiries
// stay more than an interval ahead; only a runner that stopped renewing
// brings a round forward, and its jobs are taken as soon as its leases end,
// not up to an interval later.
func (b *balancer) nextRound(sent time.Time, g store.Group) time.Time {
	next := sent.Add(b.r.cfg.interval)
	soonest := func(left time.Duration) {
		if at := sent.Add(left + expirySlack); at.Before(next) {
			next = at
		}
	}
	for _, m := range g.Members {
		if m.Owner != b.r.cfg.owner {
			soonest(m.ExpiresIn)
		}
	}
	for _, j := range g.Jobs {
		if j.Holder != "" && j.Holder != b.r.cfg.owner {
			soonest(j.ExpiresIn)
		}
	}
	return next
}

// fallback reports whether this runner is the one to take job, free for a
// TTL although the assignment gives it to the live runner absent: the
// assignment without that runner gives it here.
func (b *balancer) fallback(members []string, jobs []balance.Job, owners map[string]string, job, absent string) bool {
	if absent == "" {
		return false // no live runner may own it: nobody takes it
	}
	target, ok := b.without[absent]
	if !ok {
		if len(b.without) == maxFallbacks {
			return false // the next round looks again
		}
		others := slices.DeleteFunc(slices.Clone(members), func(m string) bool { return m == absent })
		target = balance.Assign(others, jobs, owners)
		b.without[absent] = target
	}
	return target[job] == b.r.cfg.owner
}

// acquire tries to take a job's lease and, if it does, starts its term and
// reports true.
func (b *balancer) acquire(name string) bool {
	r := b.r
	ctx, cancel := context.WithTimeout(context.Background(), r.callTimeout())
	sent := time.Now()
	l, err := r.store.AcquireJob(ctx, r.group, r.cfg.owner, name, r.cfg.ttl)
	cancel()
	if h := r.cfg.hooks.Acquire; h != nil {
		h(time.Since(sent), l.Acquired, err)
	}
	switch {
	case err != nil && dberr.IsConflict(err):
		return false
	case err != nil:
		b.log.Warn("taking a job failed", "job", name, "err", err)
		return false
	case !l.Acquired:
		return false
	}
	delete(b.freeSince, name)
	term := leadership.NewTerm(l.Token, sent.Add(r.cfg.ttl-r.cfg.margin))
	o := &ownedJob{term: term, handover: make(chan struct{}), changed: make(chan struct{}, 1), done: make(chan struct{})}
	b.owned[name] = o
	lease := store.JobLease(r.group, name)
	log := r.cfg.logger.With("job", name, "lease", lease, "token", l.Token)
	log.Info("owning the job")
	if h := r.cfg.hooks.StartedOwning; h != nil {
		h(name, l.Token)
	}
	go func() {
		defer close(o.done)
		// The first prune comes at a random point of the hour, so that the
		// group's jobs do not all prune at once.
		r.newTermRun(term, lease, name, o.handover, o.changed, log).run(rand.N(pruneEvery))
		// End the term before the release, so that a round that no longer
		// finds the lease does not take the release for a loss.
		valid := term.Valid()
		term.End(leadership.ErrSteppedDown) // no-op if it ended already
		released := false
		if valid {
			released = b.release(lease, l.Token)
		}
		cause := context.Cause(term.Context())
		log.Info("no longer owning the job", "cause", cause, "released", released)
		if h := r.cfg.hooks.StoppedOwning; h != nil {
			h(name, l.Token, cause)
		}
	}()
	return true
}

// release gives a job's lease up, with a few tries.
func (b *balancer) release(lease string, token uint64) bool {
	for try := range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		released, err := b.r.store.Release(ctx, lease, b.r.cfg.owner, token)
		cancel()
		if err == nil {
			return released
		}
		b.log.Warn("release failed", "lease", lease, "token", token, "try", try+1, "err", err)
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

// reap forgets the jobs whose terms have ended.
func (b *balancer) reap() {
	for name, o := range b.owned {
		select {
		case <-o.done:
			delete(b.owned, name)
		default:
		}
	}
}

// stop begins a graceful stop: every owned job finishes its runs within
// the grace period and releases its lease.
func (b *balancer) stop() {
	b.stopping = true
	b.log.Info("stopping: finishing running jobs before releasing their leases", "jobs", len(b.owned))
	for _, o := range b.owned {
		o.term.Stop()
	}
}

// leave tells the group this runner is gone.
func (b *balancer) leave() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := b.r.store.LeaveGroup(ctx, b.r.group, b.r.cfg.owner); err != nil {
		b.log.Warn("leaving the group failed; the others take over its jobs after the TTL", "err", err)
	}
}

// jobsChanged passes a crontab reload to the owned jobs' terms; a removed
// job is handed over at the next round.
func (b *balancer) jobsChanged() {
	for _, o := range b.owned {
		select {
		case o.changed <- struct{}{}:
		default:
		}
	}
}

// declare records the weights and hosts of the jobs that have them in the
// database (every other job of the group gets the defaults back) when the
// jobs changed since the last declaration, so that reports can tell which
// jobs no live runner may own.
func (b *balancer) declare(jobs map[string]*job) error {
	if b.declared != nil && maps.Equal(b.declared, jobs) {
		return nil
	}
	list := []store.Declared{}
	for _, name := range slices.Sorted(maps.Keys(jobs)) {
		if j := jobs[name]; j.Weight != 1 || len(j.Hosts) > 0 {
			list = append(list, store.Declared{Name: name, Schedule: j.zonedSchedule(), Weight: j.Weight, Hosts: store.HostsList(j.Hosts)})
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), b.r.callTimeout())
	defer cancel()
	if err := b.r.store.DeclareJobs(ctx, b.r.group, b.r.cfg.owner, list); err != nil {
		return err
	}
	b.declared = jobs
	return nil
}
