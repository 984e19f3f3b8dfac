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

// ownedJob is a job whose lease this runner holds.
type ownedJob struct {
	term     *leadership.Term
	handover chan struct{} // closed to move the job away between runs
	changed  chan struct{} // the job's definition changed
	done     chan struct{} // closed when the term has ended and the lease is released
	handing  bool
}

// balancer is the loop of a runner in balanced mode.
type balancer struct {
	r     *Runner
	log   *slog.Logger
	owned map[string]*ownedJob
	// freeSince is when this runner first saw each job free and not its to
	// take: a job that stays free for two intervals is taken by whoever has
	// it, so that a job only some runners know (a crontab being rolled out)
	// or an assignment seen differently never leaves it unowned.
	freeSince map[string]time.Time
	declared  map[string]*job // the jobs as last declared
	stopping  bool
	unownable []string
}

// runBalanced is Run in balanced mode.
func (r *Runner) runBalanced(ctx context.Context) error {
	if err := r.join(ctx, true); err != nil {
		return err
	}
	b := &balancer{r: r, log: r.cfg.logger, owned: map[string]*ownedJob{}, freeSince: map[string]time.Time{}}
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
	for _, h := range g.Jobs {
		if h.Holder != "" {
			owners[h.Job] = h.Holder
		}
	}
	jobs := r.snapshotJobs()
	if err := b.declare(jobs); err != nil {
		b.log.Warn("declaring the jobs failed; retrying next round", "err", err)
	}
	list := make([]balance.Job, 0, len(jobs))
	for _, name := range slices.Sorted(maps.Keys(jobs)) {
		j := jobs[name]
		list = append(list, balance.Job{Name: name, Weight: j.Weight, Hosts: j.Hosts})
	}
	target := balance.Assign(members, list, owners)

	// Hand over what should move (or is no longer a job here), between runs.
	for name, o := range b.owned {
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
		since, seen := b.freeSince[name]
		if !seen {
			b.freeSince[name] = now
			since = now
		}
		overdue := now.Sub(since) >= 2*r.cfg.interval && balance.Eligible(r.cfg.owner, j.Hosts)
		if target[name] != r.cfg.owner && !overdue {
			continue
		}
		if time.Since(sent) > r.cfg.interval/2 {
			continue // the rest at the next round: the renewal must not wait
		}
		b.acquire(name)
	}
	owned := slices.Sorted(maps.Keys(b.owned))
	r.owned.Store(&owned)
	if h := r.cfg.hooks.Balanced; h != nil {
		h(len(members), slices.Clone(owned), slices.Clone(b.unownable))
	}
	return sent.Add(r.cfg.interval), nil
}

// acquire tries to take a job's lease and, if it does, starts its term.
func (b *balancer) acquire(name string) {
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
		return
	case err != nil:
		b.log.Warn("taking a job failed", "job", name, "err", err)
		return
	case !l.Acquired:
		return
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
		released := false
		if term.Valid() {
			released = b.release(lease, l.Token)
		}
		term.End(leadership.ErrSteppedDown) // no-op if it ended already
		cause := context.Cause(term.Context())
		log.Info("no longer owning the job", "cause", cause, "released", released)
		if h := r.cfg.hooks.StoppedOwning; h != nil {
			h(name, l.Token, cause)
		}
	}()
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

// declare records the jobs' weights and hosts in the database when they
// changed since the last declaration, so that reports can tell which jobs no
// live runner may own.
func (b *balancer) declare(jobs map[string]*job) error {
	if b.declared != nil && maps.Equal(b.declared, jobs) {
		return nil
	}
	list := make([]store.Declared, 0, len(jobs))
	for _, name := range slices.Sorted(maps.Keys(jobs)) {
		j := jobs[name]
		list = append(list, store.Declared{Name: name, Schedule: j.zonedSchedule(), Weight: j.Weight, Hosts: store.HostsList(j.Hosts)})
	}
	ctx, cancel := context.WithTimeout(context.Background(), b.r.callTimeout())
	defer cancel()
	if err := b.r.store.DeclareJobs(ctx, b.r.group, b.r.cfg.owner, list); err != nil {
		return err
	}
	b.declared = jobs
	return nil
}
