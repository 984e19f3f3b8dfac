package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/soloist-dev/soloist/internal/ledger"
	"github.com/soloist-dev/soloist/internal/spawn"
)

// Group is three processes leading with one lease kind, whose jobs append
// to one ledger.
type Group struct {
	Lease  string // Soloist, ShedLock, Quartz or GET_LOCK
	TTL    time.Duration
	ledger string
	procs  []*groupProc
}

type groupProc struct {
	owner string
	bin   string
	args  []string
	env   []string
	proc  *spawn.Process
}

// Programs are the binaries the groups run.
type Programs struct {
	Soloist string // the soloist binary
	Self    string // this benchmark's binary: its worker and ledger commands
}

// StartGroup starts three processes of lease kind on the database dsn, in a
// directory of its own under dir.
func StartGroup(p Programs, lease string, ttl time.Duration, dsn, dir string) (*Group, error) {
	g := &Group{Lease: lease, TTL: ttl}
	dir = filepath.Join(dir, fmt.Sprintf("%s-%v", strings.ToLower(strings.ReplaceAll(lease, "_", "")), ttl))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	g.ledger = filepath.Join(dir, "ledger.jsonl")
	group := "bench"
	crontab := filepath.Join(dir, "crontab")
	if lease == "Soloist" {
		ct := fmt.Sprintf("# soloist: name=tick missed=all\n* * * * * * * exec %s ledger -file %s\n", p.Self, g.ledger)
		if err := os.WriteFile(crontab, []byte(ct), 0o644); err != nil {
			return nil, err
		}
	}
	for i := range 3 {
		gp := &groupProc{owner: fmt.Sprintf("127.0.0.1/%s-%d", strings.ToLower(lease), i)}
		if lease == "Soloist" {
			gp.bin = p.Soloist
			gp.args = spawn.Run{Crontab: crontab, Group: group, Owner: gp.owner, TTL: ttl,
				Grace: time.Second, KillGrace: time.Second, LogFormat: "json", LogLevel: "warn"}.Args()
			gp.env = append(os.Environ(), "SOLOIST_DSN="+dsn)
		} else {
			gp.bin = p.Self
			gp.args = []string{"worker", "--kind", altKinds[lease], "--dsn", dsn, "--lock", group,
				"--owner", gp.owner, "--ttl", ttl.String(), "--ledger", g.ledger}
			gp.env = os.Environ()
		}
		if err := gp.start(dir); err != nil {
			g.Stop()
			return nil, err
		}
		g.procs = append(g.procs, gp)
	}
	return g, nil
}

func (gp *groupProc) start(dir string) error {
	log, err := os.OpenFile(filepath.Join(dir, strings.ReplaceAll(gp.owner, "/", "_")+".log"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer log.Close() // the process has its own descriptor
	gp.proc, err = spawn.Start(gp.bin, gp.args, gp.env, log)
	return err
}

// Stop ends every process gracefully, then kills what is left.
func (g *Group) Stop() {
	for _, p := range g.procs {
		p.proc.Terminate()
	}
	for _, p := range g.procs {
		p.proc.Await(15 * time.Second)
	}
}

// leader is the process whose job started last, if within a second and a half.
func (g *Group) leader() (*groupProc, error) {
	evs, err := ledger.Read(g.ledger)
	if err != nil {
		return nil, err
	}
	now := ledger.Now()
	for i := len(evs) - 1; i >= 0; i-- {
		e := evs[i]
		if e.Ev != "start" {
			continue
		}
		if time.Duration(now-e.Mono) > 1500*time.Millisecond {
			return nil, nil
		}
		for _, p := range g.procs {
			if p.owner == e.Owner {
				return p, nil
			}
		}
	}
	return nil, nil
}

func (g *Group) waitLeader(ctx context.Context, within time.Duration) (*groupProc, error) {
	deadline := time.Now().Add(within)
	for {
		p, err := g.leader()
		if err != nil || p != nil {
			return p, err
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s: no process ran the job within %v", g.Lease, within)
		}
		sleep(ctx, 20*time.Millisecond)
	}
}

// firstStartAfter waits for a job start by another owner than not, after the
// monotonic time t0, and returns how long after t0 it was.
func (g *Group) firstStartAfter(ctx context.Context, t0 int64, not string, within time.Duration) (time.Duration, error) {
	deadline := time.Now().Add(within)
	for {
		evs, err := ledger.Read(g.ledger)
		if err != nil {
			return 0, err
		}
		for _, e := range evs {
			if e.Ev == "start" && e.Mono > t0 && e.Owner != not {
				return time.Duration(e.Mono - t0), nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return 0, fmt.Errorf("%s: no other process ran the job within %v", g.Lease, within)
		}
		sleep(ctx, 2*time.Millisecond)
	}
}

// Failover kills the leading process with SIGKILL n times, at a random
// moment of its renewal cycle, and measures each time until another
// process's job starts. The killed process is restarted each time.
func (g *Group) Failover(ctx context.Context, n int) ([]time.Duration, error) {
	return g.interrupt(ctx, n, syscall.SIGKILL, 500*time.Millisecond, func() {
		sleep(ctx, time.Duration(rand.Int64N(int64(g.TTL/3))))
	})
}

// Handover stops the leading process with SIGTERM n times, 5 ms before a
// fire is due, and measures each time until another process's job starts.
// The stopped process is restarted each time.
func (g *Group) Handover(ctx context.Context, n int) ([]time.Duration, error) {
	return g.interrupt(ctx, n, syscall.SIGTERM, 700*time.Millisecond, func() {
		next := time.Now().Truncate(time.Second).Add(time.Second)
		if time.Until(next) < 200*time.Millisecond {
			next = next.Add(time.Second)
		}
		sleep(ctx, time.Until(next.Add(-5*time.Millisecond)))
	})
}

// interrupt sends sig to the leading process n times, each time after
// waitMoment returns, and measures until another process's job starts. It
// restarts the interrupted process once it has exited, and lets the group
// settle before the next round.
func (g *Group) interrupt(ctx context.Context, n int, sig syscall.Signal, settle time.Duration, waitMoment func()) ([]time.Duration, error) {
	var times []time.Duration
	for range n {
		p, err := g.waitLeader(ctx, g.TTL+20*time.Second)
		if err != nil {
			return times, err
		}
		waitMoment()
		t0 := ledger.Now()
		_ = p.proc.Signal(sig)
		d, err := g.firstStartAfter(ctx, t0, p.owner, g.TTL+20*time.Second)
		if err != nil {
			return times, err
		}
		times = append(times, d)
		select {
		case <-p.proc.Done():
		case <-time.After(15 * time.Second):
			return times, fmt.Errorf("%s: %s did not exit after %v", g.Lease, p.owner, sig)
		}
		if err := p.start(filepath.Dir(g.ledger)); err != nil {
			return times, err
		}
		sleep(ctx, settle)
	}
	return times, nil
}
