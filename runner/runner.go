package runner

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/soloist-dev/soloist/internal/dberr"
	"github.com/soloist-dev/soloist/internal/leadership"
	"github.com/soloist-dev/soloist/internal/retry"
	"github.com/soloist-dev/soloist/internal/schema"
	"github.com/soloist-dev/soloist/internal/store"
)

// Runner runs a group's jobs on whichever runner of the group holds the
// group's lease. Start one per process and group; every process of the
// cluster starts one with the same group name and the same jobs.
type Runner struct {
	db    *sql.DB
	group string
	cfg   config
	store *store.Store // on the pool, for claims and outcomes

	mu      sync.Mutex
	jobs    map[string]*job
	changed chan struct{} // SetJobs and Add tell a running term

	schema  string // the database the procedures live in, learned by Run
	leading atomic.Uint64
	owned   atomic.Pointer[[]string] // balanced mode: the jobs owned now
	running atomic.Bool
	closed  atomic.Bool
	bg      sync.WaitGroup // outcome reports that outlive a term
}

// Hooks observe a runner, for metrics. Any may be nil; none may block. The
// lease hooks (Acquire, Heartbeat, StartedLeading, StoppedLeading) are
// called from the lease loop's goroutine, the others from the goroutines of
// the term and its runs.
type Hooks struct {
	// Acquire follows every attempt to take the lease.
	Acquire func(took time.Duration, acquired bool, err error)
	// Heartbeat follows every renewal.
	Heartbeat func(took time.Duration, renewed bool, err error)
	// StartedLeading follows a won lease.
	StartedLeading func(token uint64)
	// StoppedLeading follows the end of a term, after its jobs returned and
	// the lease was released. cause is ErrTrustWindowPassed,
	// ErrLeaseNotRenewed (both match ErrLeaseLost) or ErrSteppedDown.
	StoppedLeading func(token uint64, cause error)
	// RunFinished follows every run, with its outcome as recorded.
	RunFinished func(job string, outcome Outcome, took time.Duration)
	// FireMissed follows every fire recorded as missed.
	FireMissed func(job string)
	// RunsAbandoned follows a takeover that found runs of an earlier holder
	// unfinished.
	RunsAbandoned func(n int64)

	// Balanced mode (WithBalance). Acquire then follows every attempt to
	// take a job's lease, and Heartbeat every renewal of the runner with
	// all its job leases; the leader hooks are not called.

	// StartedOwning follows a job's lease taken.
	StartedOwning func(job string, token uint64)
	// StoppedOwning follows the end of a job's term, after its runs
	// returned and its lease was released (cause as for StoppedLeading).
	StoppedOwning func(job string, token uint64, cause error)
	// Balanced follows every renewal: the group's live runners, the jobs
	// this runner owns, and the jobs no live runner may own (their hosts
	// name none).
	Balanced func(members int, owned []string, unownable []string)
}

// New returns a runner for group (the lease name: 1 to 191 characters) on
// db, the database with Soloist's procedures. The DSN needs no special
// parameters; interpolateParams=true saves a round trip on the rare calls
// that are not prepared.
func New(db *sql.DB, group string, opts ...Option) (*Runner, error) {
	if db == nil {
		return nil, errors.New("runner: db is nil")
	}
	if err := checkName("group", group, 191); err != nil {
		return nil, fmt.Errorf("runner: %w", err)
	}
	cfg := config{grace: DefaultGracePeriod, retention: DefaultRetention}
	for _, o := range opts {
		if err := o.apply(&cfg); err != nil {
			return nil, fmt.Errorf("runner: %w", err)
		}
	}
	if err := cfg.finish(); err != nil {
		return nil, fmt.Errorf("runner: %w", err)
	}
	if cfg.owner == "" {
		cfg.owner = DefaultOwner()
	}
	cfg.logger = cfg.logger.With("group", group, "owner", cfg.owner)
	return &Runner{
		db: db, group: group, cfg: cfg, store: store.New(db),
		jobs: map[string]*job{}, changed: make(chan struct{}, 1),
	}, nil
}

// Add registers jobs, before or during Run. A name may be added once.
func (r *Runner) Add(jobs ...Job) error {
	return r.update(false, jobs)
}

// SetJobs replaces all jobs with jobs, before or during Run: a crontab
// reload. Runs of removed or changed jobs that are running go on.
func (r *Runner) SetJobs(jobs ...Job) error {
	return r.update(true, jobs)
}

func (r *Runner) update(replace bool, jobs []Job) error {
	compiled := make(map[string]*job, len(jobs))
	for _, j := range jobs {
		c, err := compile(j)
		if err != nil {
			return fmt.Errorf("runner: %w", err)
		}
		if _, dup := compiled[j.Name]; dup {
			return fmt.Errorf("runner: job %q is defined twice", j.Name)
		}
		if n := utf8.RuneCountInString(r.group) + utf8.RuneCountInString(j.Name); r.cfg.balance && n > 190 {
			return fmt.Errorf("runner: job %q: in balanced mode the group and job names together may have at most 190 characters (the job's own lease is named group/job); they have %d", j.Name, n)
		}
		compiled[j.Name] = c
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !replace {
		for name := range compiled {
			if _, dup := r.jobs[name]; dup {
				return fmt.Errorf("runner: job %q is already added", name)
			}
		}
		for name, j := range r.jobs {
			compiled[name] = j
		}
	}
	r.jobs = compiled
	select {
	case r.changed <- struct{}{}:
	default:
	}
	return nil
}

func (r *Runner) snapshotJobs() map[string]*job {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.jobs
}

// Group is the runner's group.
func (r *Runner) Group() string { return r.group }

// Owner is the runner's identity in the lease table.
func (r *Runner) Owner() string { return r.cfg.owner }

// TTL is the lease's time to live.
func (r *Runner) TTL() time.Duration { return r.cfg.ttl }

// Interval is how often the runner polls and renews.
func (r *Runner) Interval() time.Duration { return r.cfg.interval }

// SafetyMargin is how long before its lease could expire the holder steps
// down: its trust window is TTL minus this.
func (r *Runner) SafetyMargin() time.Duration { return r.cfg.margin }

// Leading reports whether the runner holds the lease now, and its token.
func (r *Runner) Leading() (token uint64, ok bool) {
	t := r.leading.Load()
	return t, t != 0
}

// Owned lists the jobs this runner owns now, in balanced mode
// ([WithBalance]), sorted; nil in leader mode or before Run.
func (r *Runner) Owned() []string {
	if p := r.owned.Load(); p != nil {
		return slices.Clone(*p)
	}
	return nil
}

// Run competes for the group's lease until ctx is cancelled, running the
// jobs whenever it holds it, and going back to following when it loses it.
// It returns nil after a graceful stop: running jobs get the grace period to
// finish, are then cancelled, and the lease is released so that another
// runner takes over on its next attempt. It returns an error at once only
// when it cannot work at all: the schema is missing or too old, or the
// database user may not call the procedures.
func (r *Runner) Run(ctx context.Context) error {
	if !r.running.CompareAndSwap(false, true) {
		return errors.New("runner: Run is already running")
	}
	defer r.running.Store(false)
	if r.closed.Load() {
		return ErrClosed
	}
	defer r.waitReports()
	if err := r.checkSchema(ctx); err != nil {
		if ctx.Err() != nil {
			return nil // stopped before it started
		}
		return err
	}
	if r.cfg.balance {
		return r.runBalanced(ctx)
	}
	if err := r.join(ctx, false); err != nil || ctx.Err() != nil {
		return err
	}
	h := r.cfg.hooks
	e, err := leadership.New(leadership.Config{
		DB: r.db, Lock: r.group, Owner: r.cfg.owner,
		TTL: r.cfg.ttl, Interval: r.cfg.interval, Margin: r.cfg.margin,
		Logger: r.cfg.logger,
		Hooks: leadership.Hooks{
			Acquire:   h.Acquire,
			Heartbeat: h.Heartbeat,
			StartedLeading: func(token uint64) {
				r.leading.Store(token)
				if h.StartedLeading != nil {
					h.StartedLeading(token)
				}
			},
			StoppedLeading: func(token uint64, cause error) {
				r.leading.Store(0)
				if h.StoppedLeading != nil {
					h.StoppedLeading(token, cause)
				}
			},
		},
	})
	if err != nil {
		return fmt.Errorf("runner: %w", err) // New's checks make this unreachable
	}
	r.cfg.logger.Info("runner started", "ttl", r.cfg.ttl, "interval", r.cfg.interval,
		"safety_margin", r.cfg.margin, "jobs", len(r.snapshotJobs()))
	err = e.Run(ctx, r.lead)
	r.cfg.logger.Info("runner stopped")
	return err
}

// Close frees what the runner keeps on db between calls: its prepared
// statements. It does not close db. Call it after Run has returned; while
// Run runs it returns an error and closes nothing. After Close, Run returns
// ErrClosed. Close may be called more than once.
func (r *Runner) Close() error {
	if r.running.Load() {
		return errors.New("runner: Close called while Run is running: cancel Run's context and wait for it to return first")
	}
	r.closed.Store(true)
	if r.running.Load() { // Run started meanwhile; it sees closed and returns
		return errors.New("runner: Close called while Run is running: cancel Run's context and wait for it to return first")
	}
	return r.store.Close()
}

// waitReports waits for the outcomes of ended runs to be recorded, and for
// runs still going after their grace periods, up to a bound: a job that
// ignores cancellation is left behind rather than blocking Run for ever.
func (r *Runner) waitReports() {
	done := make(chan struct{})
	go func() {
		r.bg.Wait()
		close(done)
	}()
	t := time.NewTimer(2*r.cfg.grace + reportFor + 10*time.Second)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		r.cfg.logger.Error("runs still unreported after the grace periods; returning without them")
	}
}

// checkSchema makes sure the database has the procedures this build calls.
// It waits for a database that is not reachable yet, and fails at once on a
// schema that is missing or too old, or on missing privileges.
func (r *Runner) checkSchema(ctx context.Context) error {
	b := retry.Backoff{Min: 100 * time.Millisecond, Max: 5 * time.Second}
	for {
		cctx, cancel := context.WithTimeout(ctx, r.callTimeout())
		version, database, err := r.store.SchemaVersion(cctx)
		cancel()
		switch {
		case err == nil && version < schema.Version:
			return fmt.Errorf("%w: database %q is at schema version %d, this build needs %d: run `soloist migrate up`",
				ErrSchemaVersion, database, version, schema.Version)
		case err == nil:
			if version > schema.Version {
				r.cfg.logger.Warn("the database schema is newer than this build; procedures keep their contracts, so it runs",
					"schema_version", version, "build_version", schema.Version)
			}
			r.schema = database
			return nil
		case dberr.IsNotMigrated(err):
			return fmt.Errorf("%w: the database has no Soloist schema (%v); this build needs version %d: run `soloist migrate up`",
				ErrSchemaVersion, err, schema.Version)
		case dberr.IsAccessDenied(err):
			return fmt.Errorf("runner: %w; the runner's database user needs EXECUTE on Soloist's procedures (see docs/dba.md)", err)
		case ctx.Err() != nil:
			return ctx.Err()
		}
		r.cfg.logger.Warn("database not reachable yet; retrying", "err", err)
		retry.Sleep(ctx, b.Next())
	}
}

// DefaultOwner is the owner identity a runner uses unless WithOwner says
// otherwise: the host's IP first, as the classic timer table kept it, then
// the host name, the process id and a random suffix, so that two runners
// on one host, or in one process, never share an identity.
func DefaultOwner() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	var b [2]byte
	_, _ = rand.Read(b[:])
	return hostIP() + "/" + host + "/" + strconv.Itoa(os.Getpid()) + "-" + hex.EncodeToString(b[:])
}

// hostIP is the address this host uses for outbound traffic: the source
// address of a UDP "connection" to a documentation address, which sends
// nothing. Without a route it falls back to the first non-loopback address.
func hostIP() string {
	if c, err := net.Dial("udp", "192.0.2.1:9"); err == nil {
		defer c.Close()
		if a, ok := c.LocalAddr().(*net.UDPAddr); ok && !a.IP.IsUnspecified() {
			return a.IP.String()
		}
	}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
				return n.IP.String()
			}
		}
	}
	return "127.0.0.1"
}
