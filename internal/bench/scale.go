package bench

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/soloist-dev/soloist/internal/store"
	"github.com/soloist-dev/soloist/runner"
)

// ServerStats samples what the database server did: the statements clients
// sent (Questions) and, when its process is on this machine, its CPU time.
type ServerStats struct {
	db  *sql.DB
	pid int // 0: not on this machine
}

type statsSample struct {
	at        time.Time
	questions int64
	cpu       time.Duration
}

func (s ServerStats) sample(ctx context.Context) (statsSample, error) {
	var name string
	var q int64
	if err := s.db.QueryRowContext(ctx, "SHOW GLOBAL STATUS LIKE 'Questions'").Scan(&name, &q); err != nil {
		return statsSample{}, err
	}
	return statsSample{at: time.Now(), questions: q, cpu: processCPU(s.pid)}, nil
}

// processCPU is the user and system CPU time of a process, from /proc.
func processCPU(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The fields after the command name, which is in parentheses.
	fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(fields) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}

// ScaleResult is one load level.
type ScaleResult struct {
	Name       string
	Runners    int
	Locks      int
	Window     time.Duration
	Interval   time.Duration
	PerSecond  float64 // statements the server executed per second
	PerRunner  float64 // round trips per runner (or per lock) per interval
	ServerCPU  float64 // cores, on average; 0 when not measured
	Probe      Latency // a try_acquire on the held lock, from a separate connection, during the load
	Heartbeat  Latency // the holders' heartbeats during the load
	Held       int     // locks still held at the end
	Leaders    int     // runners leading at the end (1 for a group)
	Unexpected string  // anything that should not have happened
}

// ScaleGroup runs n runners of one group in this process for the window and
// measures the load they put on the server.
func ScaleGroup(ctx context.Context, stats ServerStats, db *sql.DB, n int, ttl, window time.Duration) (*ScaleResult, error) {
	r := &ScaleResult{Name: fmt.Sprintf("%d runners, one group", n), Runners: n, Locks: 1, Window: window, Interval: ttl / 3}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	var mu sync.Mutex
	var beats []time.Duration
	hooks := runner.Hooks{Heartbeat: func(took time.Duration, renewed bool, err error) {
		if err == nil {
			mu.Lock()
			beats = append(beats, took)
			mu.Unlock()
		}
	}}
	group := fmt.Sprintf("scale-%d", n)
	rctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	runners := make([]*runner.Runner, n)
	for i := range n {
		rn, err := runner.New(db, group, runner.WithTTL(ttl), runner.WithLogger(quiet), runner.WithHooks(hooks),
			runner.WithOwner(fmt.Sprintf("127.0.0.1/scale-%d", i)))
		if err != nil {
			cancel()
			return nil, err
		}
		runners[i] = rn
		wg.Go(func() { _ = rn.Run(rctx) })
	}
	defer func() {
		cancel()
		wg.Wait()
	}()
	// Let every runner make its first call and settle into its cycle.
	sleep(ctx, ttl)
	probe, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer probe.Close()
	probeCalls := store.New(probe)
	defer probeCalls.Close()
	before, err := stats.sample(ctx)
	if err != nil {
		return nil, err
	}
	mu.Lock()
	beats = beats[:0]
	mu.Unlock()
	var probes []time.Duration
	deadline := time.Now().Add(window)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		t := time.Now()
		if _, err := probeCalls.TryAcquire(ctx, group, "127.0.0.1/probe", ttl); err != nil {
			return nil, fmt.Errorf("probe: %w", err)
		}
		probes = append(probes, time.Since(t))
		sleep(ctx, 20*time.Millisecond)
	}
	after, err := stats.sample(ctx)
	if err != nil {
		return nil, err
	}
	elapsed := after.at.Sub(before.at)
	// The probe's own calls, and the two status queries, are not the runners'.
	stmts := float64(after.questions-before.questions-int64(len(probes))-1) / elapsed.Seconds()
	r.PerSecond = stmts
	r.PerRunner = stmts * r.Interval.Seconds() / float64(n)
	if stats.pid != 0 {
		r.ServerCPU = float64(after.cpu-before.cpu) / float64(elapsed)
	}
	r.Probe = latencyOf("probe try_acquire", probes)
	mu.Lock()
	r.Heartbeat = latencyOf("heartbeat", beats)
	mu.Unlock()
	for _, rn := range runners {
		if _, ok := rn.Leading(); ok {
			r.Leaders++
		}
	}
	r.Held = r.Leaders
	if r.Leaders != 1 {
		r.Unexpected = fmt.Sprintf("%d runners lead", r.Leaders)
	}
	return r, nil
}

// ScaleLocks holds `locks` leases from `workers` connections, each worker
// renewing its share once per interval, and measures the load.
func ScaleLocks(ctx context.Context, stats ServerStats, db *sql.DB, workers, locks int, ttl, window time.Duration) (*ScaleResult, error) {
	r := &ScaleResult{Name: fmt.Sprintf("%d locks held by %d runners", locks, workers), Runners: workers, Locks: locks, Window: window, Interval: ttl / 3}
	perWorker := locks / workers
	type worker struct {
		calls  *store.Store // on a connection of its own
		owner  string
		tokens []uint64
		beats  []time.Duration
		lost   int
	}
	ws := make([]*worker, workers)
	for i := range ws {
		conn, err := db.Conn(ctx)
		if err != nil {
			return nil, err
		}
		defer conn.Close()
		w := &worker{calls: store.New(conn), owner: fmt.Sprintf("127.0.0.1/holder-%d", i)}
		defer w.calls.Close()
		for j := range perWorker {
			l, err := w.calls.TryAcquire(ctx, fmt.Sprintf("lock-%d-%d", i, j), w.owner, ttl)
			if err != nil || !l.Acquired {
				return nil, fmt.Errorf("take lock-%d-%d: %v", i, j, err)
			}
			w.tokens = append(w.tokens, l.Token)
		}
		ws[i] = w
	}
	before, err := stats.sample(ctx)
	if err != nil {
		return nil, err
	}
	var wg sync.WaitGroup
	end := time.Now().Add(window)
	for i, w := range ws {
		wg.Go(func() {
			gap := r.Interval / time.Duration(perWorker) // spread the renewals over the interval
			next := time.Now()
			for time.Now().Before(end) && ctx.Err() == nil {
				for j := range perWorker {
					sleep(ctx, time.Until(next))
					next = next.Add(gap)
					t := time.Now()
					renewed, err := w.calls.Heartbeat(ctx, fmt.Sprintf("lock-%d-%d", i, j), w.owner, w.tokens[j], ttl)
					w.beats = append(w.beats, time.Since(t))
					if err != nil || !renewed {
						w.lost++
					}
				}
			}
		})
	}
	wg.Wait()
	after, err := stats.sample(ctx)
	if err != nil {
		return nil, err
	}
	elapsed := after.at.Sub(before.at)
	r.PerSecond = float64(after.questions-before.questions-1) / elapsed.Seconds()
	r.PerRunner = r.PerSecond * r.Interval.Seconds() / float64(locks)
	if stats.pid != 0 {
		r.ServerCPU = float64(after.cpu-before.cpu) / float64(elapsed)
	}
	var all []time.Duration
	lost := 0
	for _, w := range ws {
		all = append(all, w.beats...)
		lost += w.lost
	}
	r.Heartbeat = latencyOf("heartbeat", all)
	r.Held = locks
	if lost > 0 {
		r.Unexpected = fmt.Sprintf("%d renewals failed", lost)
	}
	return r, nil
}

func latencyOf(name string, d []time.Duration) Latency {
	if len(d) == 0 {
		return Latency{Name: name}
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return Latency{Name: name, P50: s[len(s)/2], P99: s[len(s)*99/100], N: len(s)}
}
