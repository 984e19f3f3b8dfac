package runner

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Option configures a Runner. Options validate themselves; [New] returns the
// first error.
type Option interface {
	apply(*config) error
}

type optionFunc func(*config) error

func (f optionFunc) apply(c *config) error { return f(c) }

// Defaults.
const (
	DefaultTTL         = 10 * time.Second
	DefaultGracePeriod = 10 * time.Second
	DefaultRetention   = 30 * 24 * time.Hour
)

type config struct {
	owner     string
	ttl       time.Duration
	interval  time.Duration // 0: ttl/3
	margin    time.Duration // 0: ttl/5
	grace     time.Duration
	retention time.Duration
	logger    *slog.Logger
	hooks     Hooks
	balance   bool
}

// WithOwner sets the runner's identity in the lease table. It must be unique
// among the runners of a group: two runners with one owner would both hold
// the lease. Default: the host's IP, host name, process id and a random
// suffix, e.g. "10.0.0.7/web-1/4242-9f3a". Keep the IP first so that
// allow-lists by IP keep working.
func WithOwner(owner string) Option {
	return optionFunc(func(c *config) error {
		if err := checkName("owner", owner, 255); err != nil {
			return err
		}
		c.owner = owner
		return nil
	})
}

// WithTTL sets how long a lease lasts without a heartbeat: a crashed holder
// is replaced within TTL plus a few milliseconds. Default 10s; at least
// 30ms, at most 24h.
func WithTTL(ttl time.Duration) Option {
	return optionFunc(func(c *config) error {
		if ttl < 30*time.Millisecond || ttl > 24*time.Hour {
			return fmt.Errorf("TTL %v: must be between 30ms and 24h", ttl)
		}
		c.ttl = ttl
		return nil
	})
}

// WithInterval sets how often a follower polls and the holder renews.
// Default TTL/3; at most TTL/3, so that a holder has at least two chances to
// renew before its trust window ends.
func WithInterval(interval time.Duration) Option {
	return optionFunc(func(c *config) error {
		if interval < 10*time.Millisecond {
			return fmt.Errorf("interval %v: must be at least 10ms", interval)
		}
		c.interval = interval
		return nil
	})
}

// WithSafetyMargin sets how long before its lease can expire the holder
// stops trusting it: the trust window is TTL minus this margin, measured from
// the send time of the last successful renewal. On a step-down, running jobs
// are cancelled and a crontab command gets SIGTERM, then SIGKILL within half
// the margin, so that it is gone before anyone can take over. Default TTL/5;
// at most TTL/3.
func WithSafetyMargin(margin time.Duration) Option {
	return optionFunc(func(c *config) error {
		if margin <= 0 {
			return fmt.Errorf("safety margin %v: must be positive", margin)
		}
		c.margin = margin
		return nil
	})
}

// WithGracePeriod sets how long running jobs may take to finish when the
// runner stops, and again after they are cancelled. Default 10s.
func WithGracePeriod(grace time.Duration) Option {
	return optionFunc(func(c *config) error {
		if grace < 0 {
			return fmt.Errorf("grace period %v: must not be negative", grace)
		}
		c.grace = grace
		return nil
	})
}

// WithRetention sets how long the run history is kept. The holder deletes
// older runs and terms of its group every hour. Default 30 days; at least a
// minute. The schema keeps at least the DBA's floor whatever this says
// (min_retention_ms, 7 days unless the DBA changed it).
func WithRetention(keep time.Duration) Option {
	return optionFunc(func(c *config) error {
		if keep < time.Minute {
			return fmt.Errorf("retention %v: must be at least a minute", keep)
		}
		c.retention = keep
		return nil
	})
}

// WithLogger sets the logger. Default: slog.Default().
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(c *config) error {
		if l == nil {
			return errors.New("logger must not be nil")
		}
		c.logger = l
		return nil
	})
}

// WithBalance spreads the group's jobs across its live runners instead of
// running them all on one leader: each job has its own lease, owned by one
// runner at a time, and the runners share the jobs out evenly (by
// Job.Weight, within Job.Hosts). Every runner of a group must use the same
// mode; Run refuses to start when the group's live runners use the other.
// See docs/design.md, "Balanced mode".
func WithBalance() Option {
	return optionFunc(func(c *config) error {
		c.balance = true
		return nil
	})
}

// WithHooks sets functions that observe the runner, for metrics.
func WithHooks(h Hooks) Option {
	return optionFunc(func(c *config) error {
		c.hooks = h
		return nil
	})
}

// finish fills in defaults and checks the options against each other, as
// client-go's NewLeaderElector checks LeaseDuration > RenewDeadline > RetryPeriod.
func (c *config) finish() error {
	if c.ttl == 0 {
		c.ttl = DefaultTTL
	}
	if c.interval == 0 {
		c.interval = c.ttl / 3
	}
	if c.margin == 0 {
		c.margin = c.ttl / 5
	}
	if c.interval*3 > c.ttl {
		return fmt.Errorf("interval %v is too long for TTL %v: the TTL must be at least 3 intervals (use an interval of at most %v)",
			c.interval, c.ttl, c.ttl/3)
	}
	if c.margin*3 > c.ttl {
		return fmt.Errorf("safety margin %v is too long for TTL %v: it may be at most a third of the TTL (%v)",
			c.margin, c.ttl, c.ttl/3)
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	return nil
}
