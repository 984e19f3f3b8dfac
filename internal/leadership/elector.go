// Package leadership is the lease loop of one runner: it competes for a lock
// with await_lease, renews the lease with heartbeat while it holds it, and
// steps down on its own local deadline before the lease can expire. The SQL
// half of the algorithm is the await_lease, heartbeat and release_lease
// procedures.
//
// # Trust window
//
// The database clock decides when a lease expires; this process never
// compares its own wall clock with it. Instead it trusts a lease only until
//
//	(local monotonic time when the last successful renewal was sent) + TTL - Margin
//
// The database started the renewed lease no earlier than that send, so the
// trust window always ends at least Margin before the lease can. When the
// window passes without a successful renewal, the term ends at once (its
// context is cancelled by a timer, not by the loop), even if the database is
// unreachable or the loop is stuck in a call.
//
// # Failure handling
//
// Database errors never end the loop: it logs them, backs off and tries again.
// A deadlock, a lock wait timeout or a Galera certification conflict (errors
// 1213 and 1205) means "not acquired this time". A broken connection is dropped and dialled again; the lease loop
// uses one connection of its own, so that the holder's wake-up lock
// (see await_lease) lives exactly as long as the connection that leads.
package leadership

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/soloist-dev/soloist/internal/dberr"
	"github.com/soloist-dev/soloist/internal/retry"
	"github.com/soloist-dev/soloist/internal/store"
)

// Config configures an Elector. Every field but Hooks is required; [New]
// rejects a Config that is missing one or whose timings cannot work.
type Config struct {
	DB       *sql.DB
	Lock     string
	Owner    string
	TTL      time.Duration
	Interval time.Duration // between polls and between heartbeats
	Margin   time.Duration // the trust window is TTL - Margin
	Logger   *slog.Logger
	Hooks    Hooks
}

// Hooks observe the loop, for metrics. Any of them may be nil. They are
// called from the loop's goroutine and must not block.
type Hooks struct {
	// Acquire follows every await_lease call.
	Acquire func(took time.Duration, acquired bool, err error)
	// Heartbeat follows every heartbeat call.
	Heartbeat func(took time.Duration, renewed bool, err error)
	// StartedLeading follows a won lease, before the term's LeadFunc starts.
	StartedLeading func(token uint64)
	// StoppedLeading follows the end of a term, with why it ended.
	StoppedLeading func(token uint64, cause error)
}

// Reasons a term ends, the cause of its context. The first three match
// store.ErrLeaseLost.
var (
	// ErrTrustWindowPassed: no renewal succeeded within TTL - Margin.
	ErrTrustWindowPassed = fmt.Errorf("%w: trust window passed without a successful heartbeat", store.ErrLeaseLost)
	// ErrLeaseNotRenewed: the database refused a call under the term's token,
	// a heartbeat or one of the LeadFunc's (taken over or revoked).
	ErrLeaseNotRenewed = fmt.Errorf("%w: the database refused the lease, it was taken over or revoked", store.ErrLeaseLost)
	// ErrSteppedDown: the LeadFunc returned (the runner is shutting down, or
	// gave the term up) and the lease was released after it.
	ErrSteppedDown = errors.New("stepped down")
)

// LeadFunc runs for one term, in its own goroutine. It must return soon after
// term.Context() is done (the lease is lost: stop everything now) and after
// term.Stopping() is closed (the runner is shutting down: finish up). The
// lease is kept and renewed until it returns, and released after.
type LeadFunc func(term *Term)

// Elector runs the lease loop.
type Elector struct {
	cfg Config

	conn  *sql.Conn    // the loop's own connection, nil until dialled
	store *store.Store // prepared statements on conn
}

// New returns an Elector for cfg. It fails when a field is missing, or when
// the timings leave no room to renew: the trust window (TTL - Margin) must be
// longer than an Interval, so that a holder renews at least once before it
// has to step down, and Margin must be positive.
func New(cfg Config) (*Elector, error) {
	switch {
	case cfg.DB == nil:
		return nil, errors.New("leadership: DB is nil")
	case cfg.Lock == "":
		return nil, errors.New("leadership: Lock is empty")
	case cfg.Owner == "":
		return nil, errors.New("leadership: Owner is empty")
	case cfg.Logger == nil:
		return nil, errors.New("leadership: Logger is nil")
	case cfg.TTL <= 0 || cfg.Interval <= 0 || cfg.Margin <= 0:
		return nil, fmt.Errorf("leadership: TTL %v, Interval %v and Margin %v must all be positive", cfg.TTL, cfg.Interval, cfg.Margin)
	case cfg.TTL-cfg.Margin <= cfg.Interval:
		return nil, fmt.Errorf("leadership: the trust window (TTL %v - Margin %v) must be longer than the Interval %v", cfg.TTL, cfg.Margin, cfg.Interval)
	}
	return &Elector{cfg: cfg}, nil
}

// Run competes for the lease until ctx is cancelled, calling lead for every
// term it wins. After a term it goes back to following. It returns nil once
// ctx is cancelled and any term has been handed over.
func (e *Elector) Run(ctx context.Context, lead LeadFunc) error {
	defer e.hangUp()
	var (
		wait    time.Duration // server-side wait of the next await_lease
		backoff = retry.Backoff{Min: 50 * time.Millisecond, Max: e.cfg.Interval}
		keptOff bool // the last answer was a free lease that was not ours
	)
	for ctx.Err() == nil {
		sent := time.Now()
		l, err := e.await(ctx, wait)
		if e.cfg.Hooks.Acquire != nil {
			e.cfg.Hooks.Acquire(time.Since(sent), l.Acquired, err)
		}
		switch {
		case ctx.Err() != nil:
			if err == nil && l.Acquired { // won just as we were told to stop
				e.release(ctx, l.Token)
			}
			return nil
		case err != nil && dberr.IsConflict(err):
			e.cfg.Logger.Debug("lease attempt lost a conflict", "err", err)
			wait = 0
			retry.Sleep(ctx, backoff.Next())
			continue
		case err != nil:
			e.cfg.Logger.Warn("lease attempt failed; retrying", "err", err)
			wait = 0
			retry.Sleep(ctx, backoff.Next())
			continue
		}
		backoff.Reset()
		e.noteKeptOff(&keptOff, l)
		if l.Acquired {
			released := e.lead(ctx, l.Token, sent, lead)
			wait = e.cfg.Interval
			if released && ctx.Err() == nil {
				// We handed the lease over (an operator revoked it, or lead
				// returned): give the followers we woke a poll to take it.
				retry.Sleep(ctx, e.cfg.Interval)
			}
			continue
		}
		wait = e.cfg.Interval
		if l.Holder == "" {
			// Free but not ours (an allow-list, or a lost race): nothing to
			// wait for on the server, so wait here.
			retry.Sleep(ctx, e.cfg.Interval)
		}
	}
	return nil
}

// noteKeptOff logs, once each time it starts, that the lease is free but
// not given to this runner: the only reason await_lease gives for that is
// an allow-list that does not name the owner.
func (e *Elector) noteKeptOff(keptOff *bool, l store.Lease) {
	now := !l.Acquired && l.Holder == ""
	if now && !*keptOff {
		e.cfg.Logger.Warn("the lease is free but this runner may not take it: the group's allow-list does not name this owner " +
			"(soloist status shows the list; soloist allow --host adds a host)")
	}
	*keptOff = now
}

// await calls await_lease on the loop's connection.
func (e *Elector) await(ctx context.Context, wait time.Duration) (store.Lease, error) {
	// The deadline covers dialling too: a path that accepts TCP and passes
	// no data must not hold the loop in the handshake.
	cctx, cancel := context.WithTimeout(ctx, wait+max(e.cfg.Interval, 2*time.Second))
	defer cancel()
	s, err := e.dial(cctx)
	if err != nil {
		return store.Lease{}, err
	}
	l, err := s.AwaitLease(cctx, e.cfg.Lock, e.cfg.Owner, e.cfg.TTL, wait)
	e.checkConn(err)
	return l, err
}

// lead holds the lease for one term: it runs fn, renews the lease until fn
// returns or the term ends, then releases the lease. It reports whether the
// release freed the lease (false when it was lost to another runner).
func (e *Elector) lead(ctx context.Context, token uint64, sent time.Time, fn LeadFunc) (released bool) {
	log := e.cfg.Logger.With("token", token)
	term := newTerm(token, sent.Add(e.cfg.TTL-e.cfg.Margin))
	defer term.end(ErrSteppedDown) // no-op if it ended already
	if e.cfg.Hooks.StartedLeading != nil {
		e.cfg.Hooks.StartedLeading(token)
	}
	log.Info("leading", "trust_window", e.cfg.TTL-e.cfg.Margin)

	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(term)
	}()

	stopping := ctx.Done()
	beat := time.NewTimer(time.Until(sent.Add(e.cfg.Interval)))
	defer beat.Stop()
	again := retry.Backoff{Min: 20 * time.Millisecond, Max: e.cfg.Interval / 4}
	for {
		select {
		case <-stopping:
			stopping = nil
			log.Info("stopping: finishing running jobs before releasing the lease")
			term.stop()
		case <-term.Context().Done():
			// The lease is lost or the trust window passed: fn is cancelling
			// everything. Stop renewing and wait for it.
			beat.Stop()
			<-done
			return e.finish(ctx, term, log)
		case <-done:
			term.end(ErrSteppedDown)
			return e.finish(ctx, term, log)
		case <-beat.C:
			next, err := e.heartbeat(term)
			switch {
			case errors.Is(err, ErrLeaseNotRenewed):
				term.end(err)
			case err != nil:
				log.Warn("heartbeat failed; retrying within the trust window",
					"err", err, "trust_left", time.Until(term.Deadline()).Round(time.Millisecond))
				beat.Reset(again.Next())
			default:
				again.Reset()
				beat.Reset(time.Until(next))
			}
		}
	}
}

// heartbeat renews the lease and extends the term's trust window. It returns
// when the next heartbeat is due.
func (e *Elector) heartbeat(term *Term) (next time.Time, err error) {
	// The call, dialling included, may take until the end of the trust
	// window, no longer: a renewal that arrives later cannot extend a term
	// that has ended.
	ctx, cancel := context.WithDeadline(context.Background(), term.Deadline())
	defer cancel()
	s, err := e.dial(ctx)
	if err != nil {
		e.checkConn(err)
		return time.Time{}, err
	}
	sent := time.Now()
	renewed, err := s.Heartbeat(ctx, e.cfg.Lock, e.cfg.Owner, term.Token, e.cfg.TTL)
	if e.cfg.Hooks.Heartbeat != nil {
		e.cfg.Hooks.Heartbeat(time.Since(sent), renewed, err)
	}
	e.checkConn(err)
	switch {
	case err != nil:
		return time.Time{}, err
	case !renewed:
		return time.Time{}, ErrLeaseNotRenewed
	case !term.extend(sent.Add(e.cfg.TTL - e.cfg.Margin)):
		return time.Time{}, ErrTrustWindowPassed
	}
	return sent.Add(e.cfg.Interval), nil
}

// finish logs the end of a term and releases the lease: after a graceful
// stop it hands the lease over at once, after a revocation it lets the
// waiting followers in, and after a loss it does nothing but let go of the
// wake-up lock.
func (e *Elector) finish(ctx context.Context, term *Term, log *slog.Logger) (released bool) {
	cause := context.Cause(term.Context())
	released = e.release(ctx, term.Token)
	log.Info("stopped leading", "cause", cause, "released", released)
	if e.cfg.Hooks.StoppedLeading != nil {
		e.cfg.Hooks.StoppedLeading(term.Token, cause)
	}
	return released
}

// release gives the lease up, with its own short deadline even when ctx is
// cancelled (shutdown), and a few tries.
func (e *Elector) release(ctx context.Context, token uint64) bool {
	for try := range 3 {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		s, err := e.dial(rctx)
		var released bool
		if err == nil {
			released, err = s.Release(rctx, e.cfg.Lock, e.cfg.Owner, token)
			e.checkConn(err)
		}
		cancel()
		if err == nil {
			return released
		}
		e.cfg.Logger.Warn("release failed", "token", token, "try", try+1, "err", err)
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

// dial returns the store on the loop's own connection, connecting if needed.
func (e *Elector) dial(ctx context.Context) (*store.Store, error) {
	if e.store != nil {
		return e.store, nil
	}
	conn, err := e.cfg.DB.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	// ctx bounds the dial only: the connection stays usable after it ends.
	e.conn, e.store = conn, store.New(conn)
	return e.store, nil
}

// checkConn drops the connection after an error that may have left it
// unusable (a broken connection, or a call cancelled half way).
func (e *Elector) checkConn(err error) {
	if err != nil && (dberr.IsConnection(err) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)) {
		e.hangUp()
	}
}

func (e *Elector) hangUp() {
	if e.conn == nil {
		return
	}
	e.store.Close()
	// Discard the connection instead of returning it to the pool: it may
	// hold the wake-up lock, which must end with the term.
	e.conn.Raw(func(any) error { return driver.ErrBadConn }) //nolint:errcheck // the error is the point
	e.conn.Close()
	e.conn, e.store = nil, nil
}

// Term is one continuous holding of the lease.
type Term struct {
	// Token is the term's fencing token.
	Token uint64

	ctx      context.Context
	cancel   context.CancelCauseFunc
	stopping chan struct{}
	stopOnce sync.Once

	mu       sync.Mutex
	deadline time.Time
	timer    *time.Timer
}

// NewTerm starts a term with token that is trusted until deadline, for a
// lease loop other than the Elector's: balanced mode holds one term per job.
// Its owner extends it with Extend after each successful renewal, and ends
// it with Refused, Stop or End.
func NewTerm(token uint64, deadline time.Time) *Term { return newTerm(token, deadline) }

// Extend moves the trust window's end to deadline, unless the term ended;
// it reports whether it did.
func (t *Term) Extend(deadline time.Time) bool { return t.extend(deadline) }

// Stop closes Stopping: the runner is shutting down gracefully.
func (t *Term) Stop() { t.stop() }

// End ends the term with cause, unless it ended already.
func (t *Term) End(cause error) { t.end(cause) }

func newTerm(token uint64, deadline time.Time) *Term {
	ctx, cancel := context.WithCancelCause(context.Background())
	t := &Term{Token: token, ctx: ctx, cancel: cancel, stopping: make(chan struct{}), deadline: deadline}
	t.timer = time.AfterFunc(time.Until(deadline), func() { t.end(ErrTrustWindowPassed) })
	return t
}

// Context is done when the term ends: the trust window passed, the database
// refused a renewal, or the runner stepped down. Its cause says which.
func (t *Term) Context() context.Context { return t.ctx }

// Stopping is closed when the runner shuts down gracefully: start nothing
// new, let running work finish. The term stays valid meanwhile.
func (t *Term) Stopping() <-chan struct{} { return t.stopping }

// Deadline is the end of the current trust window.
func (t *Term) Deadline() time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.deadline
}

// Valid reports whether the term still holds. It reads the clock itself, so
// that a process that was paused past its deadline knows before its timer
// has fired, and then ends the term on the spot (cause
// ErrTrustWindowPassed), so that everything derived from its context sees
// the same cause.
func (t *Term) Valid() bool {
	if t.ctx.Err() != nil {
		return false
	}
	if time.Now().Before(t.Deadline()) {
		return true
	}
	t.end(ErrTrustWindowPassed)
	return false
}

// extend moves the trust window's end to deadline, unless the term ended.
func (t *Term) extend(deadline time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ctx.Err() != nil || !t.timer.Stop() {
		return false
	}
	t.deadline = deadline
	t.timer.Reset(time.Until(deadline))
	return true
}

func (t *Term) stop() { t.stopOnce.Do(func() { close(t.stopping) }) }

// Refused ends the term because the database refused a call made under its
// token (it answered that the lease is lost): the cause is
// ErrLeaseNotRenewed, as after a refused heartbeat, whichever call noticed
// first. The context is cancelled at once; the loop then waits for the
// LeadFunc and releases.
func (t *Term) Refused() { t.end(ErrLeaseNotRenewed) }

func (t *Term) end(cause error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.timer.Stop()
	t.cancel(cause)
}
