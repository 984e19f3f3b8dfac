package bench

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/soloist-dev/soloist/internal/ledger"
)

// WorkerOptions configure a process that leads with one of the alternatives.
type WorkerOptions struct {
	Kind   string // shedlock, quartz or getlock
	DSN    string
	Lock   string
	Owner  string
	TTL    time.Duration
	Ledger string
}

// Worker is `soloist-bench worker`: one process of a group led with an
// alternative lease, to compare failover and handover with real processes.
// It polls every TTL/3 while following (GET_LOCK blocks that long on the
// server instead), renews every TTL/3 while leading, runs its "job" at once
// when it takes over (the fire that came due meanwhile, as Soloist's
// catch-up does) and then at every second, and appends each job start and a
// "lead" event to the ledger. SIGTERM releases the lease and exits.
func Worker(o WorkerOptions) error {
	ctx, db, f, done, err := startWorkerProcess(o.DSN, o.Ledger)
	if err != nil {
		return err
	}
	defer done()
	l, err := newLease(o.Kind, o.Lock, o.Owner, o.TTL, db)
	if err != nil {
		return err
	}
	defer l.close()
	if err := l.setup(ctx, db); err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	interval := o.TTL / 3
	term := uint64(0)
	job := func(ev string) {
		_ = ledger.Append(f, ledger.Event{Ev: ev, Job: "tick", Fire: time.Now().UTC().Truncate(time.Second), Token: term, Owner: o.Owner, Pid: os.Getpid()})
	}

	leading := false
	for ctx.Err() == nil {
		if !leading {
			var ok bool
			if g, isGetLock := l.(*getLock); isGetLock {
				ok, err = g.await(ctx, interval)
			} else {
				ok, err = l.poll(ctx)
			}
			if err == nil && ok {
				leading, term = true, term+1
				job("lead")
				job("start")
				continue
			}
			if _, isGetLock := l.(*getLock); !isGetLock || err != nil {
				sleep(ctx, interval)
			}
			continue
		}
		// Leading: renew every interval, run the job at every second.
		next := time.Now().Truncate(time.Second).Add(time.Second)
		renewAt := time.Now().Add(interval)
		for leading && ctx.Err() == nil {
			now := time.Now()
			if !now.Before(renewAt) {
				if ok, err := l.renew(ctx); err != nil || !ok {
					leading = false
					break
				}
				renewAt = now.Add(interval)
			}
			if !now.Before(next) {
				job("start")
				next = next.Add(time.Second)
			}
			sleep(ctx, min(time.Until(renewAt), time.Until(next)))
		}
	}
	if leading {
		rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return l.release(rctx)
	}
	return nil
}

// startWorkerProcess is how every worker process begins: a context that
// SIGTERM or an interrupt ends, a pool on the database, and the ledger file
// its jobs append to. done closes them.
func startWorkerProcess(dsn, ledgerPath string) (ctx context.Context, db *sql.DB, ledgerFile *os.File, done func(), err error) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	if db, err = sql.Open("mysql", dsn); err != nil {
		stop()
		return nil, nil, nil, nil, err
	}
	if ledgerFile, err = os.OpenFile(ledgerPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644); err != nil {
		db.Close()
		stop()
		return nil, nil, nil, nil, err
	}
	return ctx, db, ledgerFile, func() {
		ledgerFile.Close()
		db.Close()
		stop()
	}, nil
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(max(d, 0))
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
