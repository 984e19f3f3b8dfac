package metrics

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/soloist-dev/soloist/runner"
)

// Runner is one group's runner as the metrics see it: its hooks feed the
// group's series, and it remembers when its lease loop last reported, for
// the probes. Get one from [Metrics.Runner].
type Runner struct {
	m       *Metrics
	group   string
	created time.Time

	mu      sync.Mutex
	contact time.Time // the database last answered the lease loop; zero before the first answer
	attempt time.Time // the lease loop last reported, answer or error; zero before its first call

	unownable map[string]bool // balanced mode: the jobs last reported unownable
}

// Hooks returns the hooks to give the group's runner (runner.WithHooks).
// They never block: each updates a few counters.
func (r *Runner) Hooks() runner.Hooks {
	m, g := r.m, r.group
	return runner.Hooks{
		Acquire: func(took time.Duration, _ bool, err error) {
			m.acquire.WithLabelValues(g).Observe(took.Seconds())
			switch {
			case errors.Is(err, context.Canceled): // shutting down: no answer expected
				r.mark(false)
			case err != nil:
				m.acquireErrors.WithLabelValues(g).Inc()
				r.mark(false)
			default:
				r.mark(true)
			}
		},
		Heartbeat: func(took time.Duration, renewed bool, err error) {
			m.heartbeat.WithLabelValues(g).Observe(took.Seconds())
			switch {
			case err != nil:
				m.heartbeatFails.WithLabelValues(g, FailureError).Inc()
				r.mark(false)
			case !renewed:
				m.heartbeatFails.WithLabelValues(g, FailureRefused).Inc()
				r.mark(true)
			default:
				r.mark(true)
			}
		},
		StartedLeading: func(uint64) {
			m.leader.WithLabelValues(g).Set(1)
			m.leaderChanges.WithLabelValues(g).Inc()
		},
		StoppedLeading: func(_ uint64, cause error) {
			m.leader.WithLabelValues(g).Set(0)
			m.stepDowns.WithLabelValues(g, StepDownReason(cause)).Inc()
		},
		RunFinished: func(job string, outcome runner.Outcome, took time.Duration) {
			m.runs.WithLabelValues(g, job, string(outcome)).Inc()
			m.runDuration.WithLabelValues(g, job).Observe(took.Seconds())
		},
		FireMissed: func(job string) {
			m.missed.WithLabelValues(g, job).Inc()
		},
		RunsAbandoned: func(n int64) {
			m.abandoned.WithLabelValues(g).Add(float64(n))
		},
		StartedOwning: func(job string, _ uint64) {
			m.jobOwned.WithLabelValues(g, job).Set(1)
			m.jobTerms.WithLabelValues(g, job).Inc()
		},
		StoppedOwning: func(job string, _ uint64, cause error) {
			m.jobOwned.WithLabelValues(g, job).Set(0)
			m.jobStepDowns.WithLabelValues(g, job, StepDownReason(cause)).Inc()
		},
		Balanced: r.balanced,
	}
}

// balanced records a balanced runner's view of its group at a renewal.
func (r *Runner) balanced(members int, owned, unownable []string) {
	m, g := r.m, r.group
	m.members.WithLabelValues(g).Set(float64(members))
	m.jobsOwned.WithLabelValues(g).Set(float64(len(owned)))
	m.unownable.WithLabelValues(g).Set(float64(len(unownable)))
	r.mu.Lock()
	defer r.mu.Unlock()
	now := make(map[string]bool, len(unownable))
	for _, job := range unownable {
		now[job] = true
		m.jobUnownable.WithLabelValues(g, job).Set(1)
	}
	for job := range r.unownable {
		if !now[job] {
			m.jobUnownable.WithLabelValues(g, job).Set(0)
		}
	}
	r.unownable = now
}

// StepDownReason names why a term ended, from the cause StoppedLeading gets:
// ReasonTrustWindow, ReasonRefused, or ReasonReleased for any other end (the
// runner gave the lease up).
func StepDownReason(cause error) string {
	switch {
	case errors.Is(cause, runner.ErrTrustWindowPassed):
		return ReasonTrustWindow
	case errors.Is(cause, runner.ErrLeaseNotRenewed):
		return ReasonRefused
	default:
		return ReasonReleased
	}
}

// mark records a report of the lease loop, and whether the database answered.
func (r *Runner) mark(answered bool) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.attempt = now
	if answered {
		r.contact = now
	}
}

// contactAge is how long ago the database last answered the lease loop, or
// how long ago the metrics were created if it never has.
func (r *Runner) contactAge(now time.Time) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.contact.IsZero() {
		return now.Sub(r.created)
	}
	return now.Sub(r.contact)
}

// Alive reports an error when the lease loop, once started, has reported
// nothing, neither an answer nor an error, for longer than stale: it is
// wedged. A loop that fails every call is alive. Before the loop's first
// call (the runner may be waiting for its database at start) it is alive.
func (r *Runner) Alive(stale time.Duration) error {
	r.mu.Lock()
	attempt := r.attempt
	r.mu.Unlock()
	if attempt.IsZero() {
		return nil
	}
	if since := time.Since(attempt); since > stale {
		return fmt.Errorf("the lease loop of group %q has reported nothing for %v (limit %v)",
			r.group, since.Round(time.Millisecond), stale)
	}
	return nil
}

// Ready reports an error unless the database answered the lease loop within
// the last within.
func (r *Runner) Ready(within time.Duration) error {
	r.mu.Lock()
	contact := r.contact
	r.mu.Unlock()
	if contact.IsZero() {
		return fmt.Errorf("the database has not answered the lease loop of group %q yet", r.group)
	}
	if since := time.Since(contact); since > within {
		return fmt.Errorf("the database last answered the lease loop of group %q %v ago (limit %v)",
			r.group, since.Round(time.Millisecond), within)
	}
	return nil
}
