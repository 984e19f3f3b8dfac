package bench

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/soloist-dev/soloist/internal/ledger"
	"github.com/soloist-dev/soloist/internal/spawn"
	"github.com/soloist-dev/soloist/runner"
)

// BalancedKinds are the systems the balanced section compares, in the
// order they run and are reported: the two alternatives, then Soloist's
// balanced mode.
var BalancedKinds = []string{"quartz", "dbscheduler", "soloist"}

// BalancedWorkerOptions configure `soloist-bench balanced-worker`.
type BalancedWorkerOptions struct {
	Kind   string // soloist, quartz or dbscheduler
	DSN    string
	Owner  string
	Jobs   int           // job-0000 ... , each firing every second
	TTL    time.Duration // Soloist's; the alternatives' failure detection follows it
	Ledger string
}

// BalancedWorker is one scheduler instance of a balanced run, in a process
// of its own so that the harness can kill it with SIGKILL: a runner of the
// Go library in balanced mode (runner.WithBalance), or one node of an
// alternative. Every job is a no-op that appends its start to the ledger:
// the benchmark measures the scheduling and its database cost, not fork and
// exec, which `soloist run`'s commands would add to every fire alike.
// SIGTERM stops it gracefully.
func BalancedWorker(o BalancedWorkerOptions) error {
	ctx, db, f, done, err := startWorkerProcess(o.DSN, o.Ledger)
	if err != nil {
		return err
	}
	defer done()
	db.SetMaxIdleConns(16) // every worker keeps the connections its threads use
	emit := func(job string, fire time.Time) {
		_ = ledger.Append(f, ledger.Event{Ev: "start", Job: job, Fire: fire.UTC(), Owner: o.Owner, Pid: os.Getpid()})
	}
	if o.Kind != "soloist" {
		d, err := newDistributor(o.Kind, db, o.Owner, o.TTL, func(err error) { fmt.Fprintln(os.Stderr, o.Owner+":", err) })
		if err != nil {
			return err
		}
		return d.run(ctx, emit)
	}
	// Warnings go to the worker's log file, which --keep keeps.
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	r, err := runner.New(db, "bench", runner.WithBalance(), runner.WithOwner(o.Owner), runner.WithTTL(o.TTL), runner.WithLogger(logger))
	if err != nil {
		return err
	}
	for i := range o.Jobs {
		err := r.Add(runner.Job{Name: jobName(i), Schedule: "* * * * * * *", Run: func(_ context.Context, f runner.Fire) error {
			emit(f.Job, f.Time)
			return nil
		}})
		if err != nil {
			return err
		}
	}
	if err := r.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// BalancedResult is one system at one size.
type BalancedResult struct {
	Kind          string
	Runners, Jobs int
	Window        time.Duration
	TTL           time.Duration // Soloist's; the alternatives' failure detection follows it
	Expected, Ran int           // fires due in the window, and how many of them ran
	Doubles       int           // fires that ran more than once, over the whole run
	PerSecond     float64       // statements the server received per second (Questions)
	ServerCPU     float64       // the server process's CPU, in cores
	WorkerCPU     float64       // all the workers' CPU together, in cores
	MachineCPU    float64       // every process's CPU on the machine, in cores: the others are what else ran
	LockWaits     float64       // InnoDB row lock waits per second
	Lateness      Latency       // a fire's start less its scheduled time, in the window
	LatenessMax   time.Duration
	JoinFirst     time.Duration // from the joiner's start to its first job; -1: not seen
	JoinShare     time.Duration // to the first second it ran ⌊J/(N+1)⌋ jobs; -1: not within the bound
	KillRecover   time.Duration // from the kill to the last of the killed one's jobs starting elsewhere; -1: not all
	KilledJobs    int
	SettledIn     time.Duration // from the start until the steady state the window measures
	Notes         []string
}

// PerFire is the statements per fire that ran.
func (b *BalancedResult) PerFire() float64 {
	if b.Ran == 0 {
		return 0
	}
	return b.PerSecond * b.Window.Seconds() / float64(b.Ran)
}

// balancedStats is what the balanced section samples from the server.
type balancedStats struct {
	at        time.Time
	questions int64
	lockWaits int64
	cpu       time.Duration
}

func (s ServerStats) sampleBalanced(ctx context.Context) (balancedStats, error) {
	rows, err := s.db.QueryContext(ctx, "SHOW GLOBAL STATUS WHERE Variable_name IN ('Questions', 'Innodb_row_lock_waits')")
	if err != nil {
		return balancedStats{}, err
	}
	defer rows.Close()
	b := balancedStats{at: time.Now(), cpu: processCPU(s.pid)}
	for rows.Next() {
		var name string
		var v int64
		if err := rows.Scan(&name, &v); err != nil {
			return b, err
		}
		switch strings.ToLower(name) {
		case "questions":
			b.questions = v
		case "innodb_row_lock_waits":
			b.lockWaits = v
		}
	}
	return b, rows.Close()
}

// balancedRun is one system at one size: its workers and what they wrote.
type balancedRun struct {
	kind    string
	jobs    int
	ttl     time.Duration
	bin     string
	dsn     string
	dir     string
	workers []*balancedWorker
	tail    *ledgerTail
}

type balancedWorker struct {
	owner string
	proc  *spawn.Process
}

func (b *balancedRun) start(i int) error {
	w := &balancedWorker{owner: fmt.Sprintf("127.0.0.1/%s-%d", b.kind, i)}
	log, err := os.OpenFile(filepath.Join(b.dir, fmt.Sprintf("worker-%d.log", i)), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer log.Close() // the process has its own descriptor
	w.proc, err = spawn.Start(b.bin, []string{"balanced-worker", "--kind", b.kind, "--dsn", b.dsn, "--owner", w.owner,
		"--jobs", fmt.Sprint(b.jobs), "--ttl", b.ttl.String(), "--ledger", b.tail.path}, os.Environ(), log)
	if err != nil {
		return err
	}
	b.workers = append(b.workers, w)
	return nil
}

func (b *balancedRun) stop() {
	for _, w := range b.workers {
		_ = w.proc.Signal(syscall.SIGTERM)
	}
	for _, w := range b.workers {
		select {
		case <-w.proc.Done():
		case <-time.After(15 * time.Second):
			_ = w.proc.Signal(syscall.SIGKILL)
			<-w.proc.Done()
		}
	}
}

func (b *balancedRun) workerCPU() time.Duration {
	var t time.Duration
	for _, w := range b.workers {
		select {
		case <-w.proc.Done():
		default:
			t += processCPU(w.proc.Pid())
		}
	}
	return t
}

// machineBusy is the CPU time every process of the machine has used since
// boot (all but idle and iowait), from /proc/stat.
func machineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	fields := strings.Fields(line)
	var busy int64
	for i, f := range fields[1:] {
		var v int64
		fmt.Sscan(f, &v)
		if i != 3 && i != 4 { // idle, iowait
			busy += v
		}
	}
	return time.Duration(busy) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}

// start is a job's start as the ledger has it.
type start struct {
	job   string
	fire  int64 // scheduled time, Unix seconds
	late  time.Duration
	wall  time.Time
	owner string
}

// ledgerTail reads the lines the workers append, as they come.
type ledgerTail struct {
	path   string
	f      *os.File
	r      *bufio.Reader
	part   []byte
	starts []start
}

func (t *ledgerTail) read() error {
	if t.f == nil {
		f, err := os.Open(t.path)
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		t.f, t.r = f, bufio.NewReaderSize(f, 1<<20)
	}
	for {
		line, err := t.r.ReadBytes('\n')
		if err == io.EOF {
			t.part = append(t.part, line...)
			return nil
		}
		if err != nil {
			return err
		}
		if len(t.part) > 0 {
			line = append(t.part, line...)
			t.part = nil
		}
		var e ledger.Event
		if err := json.Unmarshal(line, &e); err != nil {
			return fmt.Errorf("ledger line %q: %w", line, err)
		}
		t.starts = append(t.starts, start{job: e.Job, fire: e.Fire.Unix(), late: e.Wall.Sub(e.Fire), wall: e.Wall, owner: e.Owner})
	}
}

func (t *ledgerTail) close() {
	if t.f != nil {
		t.f.Close()
	}
}

// bySecond counts, for each fire second from `from`, the jobs that ran and
// the jobs each owner ran.
func (t *ledgerTail) bySecond(from int64) (jobs map[int64]map[string]bool, owners map[int64]map[string]int) {
	jobs, owners = map[int64]map[string]bool{}, map[int64]map[string]int{}
	for _, s := range t.starts {
		if s.fire < from {
			continue
		}
		if jobs[s.fire] == nil {
			jobs[s.fire], owners[s.fire] = map[string]bool{}, map[string]int{}
		}
		jobs[s.fire][s.job] = true
		owners[s.fire][s.owner]++
	}
	return jobs, owners
}

// BalancedSize is one load level of the balanced section.
type BalancedSize struct{ Runners, Jobs int }

// Balanced measures each system at each size: N workers, J jobs every
// second, a measured window at steady state, then a worker joins, then one
// is killed with SIGKILL. database makes a fresh, migrated database.
func Balanced(ctx context.Context, bin string, stats ServerStats, database func() (*sql.DB, string, error),
	sizes []BalancedSize, kinds []string, window time.Duration, dir string, logf func(string, ...any)) ([]*BalancedResult, error) {
	var out []*BalancedResult
	for _, size := range sizes {
		for _, kind := range kinds {
			db, dsn, err := database()
			if err != nil {
				return out, err
			}
			logf("balanced: %s, %d runners, %d jobs, window %v", kindName(kind), size.Runners, size.Jobs, window)
			r, err := balancedOne(ctx, bin, stats, db, dsn, kind, size, window, dir, logf)
			db.Close()
			if qerr := quiesce(ctx, stats.db, dsn, logf); err == nil {
				err = qerr
			}
			if err != nil {
				return out, fmt.Errorf("balanced %s %d/%d: %w", kind, size.Runners, size.Jobs, err)
			}
			logf("  lateness p50 %v p99 %v, %.0f statements/s, server CPU %.2f, ran %d/%d, doubles %d, join %v/%v, kill %v",
				r.Lateness.P50, r.Lateness.P99, r.PerSecond, r.ServerCPU, r.Ran, r.Expected, r.Doubles, r.JoinFirst, r.JoinShare, r.KillRecover)
			out = append(out, r)
		}
	}
	return out, nil
}

// quiesce ends what the workers of a run left running on the server (a
// call goes on after its client is gone), so that the next run starts on an
// idle server.
func quiesce(ctx context.Context, admin *sql.DB, dsn string, logf func(string, ...any)) error {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return err
	}
	for range 30 {
		rows, err := admin.QueryContext(ctx, "SELECT id FROM information_schema.processlist WHERE db = ?", cfg.DBName)
		if err != nil {
			return err
		}
		var ids []int64
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		logf("  %d connections of the run still on the server: killed", len(ids))
		for _, id := range ids {
			_, _ = admin.ExecContext(ctx, fmt.Sprintf("KILL %d", id)) // it may have ended meanwhile
		}
		sleep(ctx, time.Second)
	}
	return fmt.Errorf("the server still runs statements of %s after 30 s of KILLs", cfg.DBName)
}

func balancedOne(ctx context.Context, bin string, stats ServerStats, db *sql.DB, dsn, kind string, size BalancedSize,
	window time.Duration, dir string, logf func(string, ...any)) (*BalancedResult, error) {
	const ttl = runner.DefaultTTL
	res := &BalancedResult{Kind: kind, Runners: size.Runners, Jobs: size.Jobs, Window: window, TTL: ttl, JoinFirst: -1, JoinShare: -1, KillRecover: -1}
	dir = filepath.Join(dir, fmt.Sprintf("balanced-%s-%d-%d", kind, size.Runners, size.Jobs))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	b := &balancedRun{kind: kind, jobs: size.Jobs, ttl: ttl, bin: bin, dsn: dsn, dir: dir,
		tail: &ledgerTail{path: filepath.Join(dir, "ledger.jsonl")}}
	defer b.tail.close()
	begun := time.Now()
	if kind != "soloist" {
		first := begun.Truncate(time.Second).Add(3 * time.Second)
		if err := distributorSetup(ctx, kind, db, size.Jobs, first); err != nil {
			return nil, err
		}
	}
	for i := range size.Runners {
		if err := b.start(i); err != nil {
			b.stop()
			return nil, err
		}
	}
	defer b.stop()

	// Steady state: three fire seconds in a row in which every job ran, and
	// (for Soloist, whose jobs have owners) the last of them balanced.
	share := func(n int) (lo, hi int) { return size.Jobs / n, (size.Jobs + n - 1) / n }
	settled := func() bool {
		now := time.Now().Add(-1500 * time.Millisecond).Unix() // seconds whose late fires are in
		jobs, owners := b.tail.bySecond(now - 3)
		for s := now - 2; s <= now; s++ {
			if len(jobs[s]) < size.Jobs {
				return false
			}
		}
		if kind != "soloist" {
			return true
		}
		lo, hi := share(size.Runners)
		if len(owners[now]) != size.Runners {
			return false
		}
		for _, c := range owners[now] {
			if c < lo || c > hi {
				return false
			}
		}
		return true
	}
	settleBound := 90 * time.Second
	for !settled() {
		if time.Since(begun) > settleBound {
			res.Notes = append(res.Notes, fmt.Sprintf("no steady state within %v; measured anyway", settleBound))
			break
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err := b.waitTail(ctx, 200*time.Millisecond); err != nil {
			return nil, err
		}
	}
	res.SettledIn = time.Since(begun)

	// The window.
	before, err := stats.sampleBalanced(ctx)
	if err != nil {
		return nil, err
	}
	cpu0, busy0 := b.workerCPU(), machineBusy()
	sleep(ctx, window)
	after, err := stats.sampleBalanced(ctx)
	if err != nil {
		return nil, err
	}
	cpu1, busy1 := b.workerCPU(), machineBusy()
	elapsed := after.at.Sub(before.at)
	res.PerSecond = float64(after.questions-before.questions-1) / elapsed.Seconds()
	res.LockWaits = float64(after.lockWaits-before.lockWaits) / elapsed.Seconds()
	if stats.pid != 0 {
		res.ServerCPU = float64(after.cpu-before.cpu) / float64(elapsed)
	}
	res.WorkerCPU = float64(cpu1-cpu0) / float64(elapsed)
	res.MachineCPU = float64(busy1-busy0) / float64(elapsed)
	// The fires due in the window, once they have run (up to a minute
	// after it: a system that falls behind runs them late, or never).
	from, to := before.at.Add(time.Second-1).Unix(), after.at.Unix() // whole fire seconds inside the window
	res.Expected = size.Jobs * int(to-from)
	ran := map[string]bool{}
	var late []time.Duration
	seen := 0
	for lateBound := time.Now().Add(time.Minute); ; {
		if err := b.waitTail(ctx, 200*time.Millisecond); err != nil {
			return nil, err
		}
		for _, s := range b.tail.starts[seen:] {
			k := fmt.Sprintf("%s@%d", s.job, s.fire)
			if s.fire < from || s.fire >= to || ran[k] {
				continue
			}
			ran[k] = true
			late = append(late, s.late)
		}
		seen = len(b.tail.starts)
		if len(ran) == res.Expected || time.Now().After(lateBound) {
			break
		}
	}
	res.Ran = len(ran)
	res.Lateness = latencyOf("lateness", late)
	if len(late) > 0 {
		res.LatenessMax = slices.Max(late)
	}

	// A worker joins.
	joiner := fmt.Sprintf("127.0.0.1/%s-%d", kind, size.Runners)
	tJoin := time.Now()
	if err := b.start(size.Runners); err != nil {
		return nil, err
	}
	lo, _ := share(size.Runners + 1)
	joinBound := 60 * time.Second
	for time.Since(tJoin) < joinBound && res.JoinShare < 0 {
		if err := b.waitTail(ctx, 100*time.Millisecond); err != nil {
			return nil, err
		}
		// The joiner's starts by fire second; its share is in once it has
		// started lo jobs of one fire second.
		counts := map[int64]int{}
		for _, s := range b.tail.starts {
			if s.owner != joiner {
				continue
			}
			if res.JoinFirst < 0 {
				res.JoinFirst = s.wall.Sub(tJoin)
			}
			counts[s.fire]++
			if lo > 0 && counts[s.fire] == lo && (res.JoinShare < 0 || s.wall.Sub(tJoin) < res.JoinShare) {
				res.JoinShare = s.wall.Sub(tJoin)
			}
		}
	}
	if res.JoinShare < 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("the joiner never ran %d jobs in one second within %v", lo, joinBound))
	}
	sleep(ctx, 3*time.Second)

	// One of the first workers is killed: the one that started the most
	// jobs in the last second.
	if err := b.tail.read(); err != nil {
		return nil, err
	}
	recent := time.Now().Add(-time.Second)
	owned := map[string][]string{}
	for _, s := range b.tail.starts {
		if s.wall.After(recent) && !slices.Contains(owned[s.owner], s.job) {
			owned[s.owner] = append(owned[s.owner], s.job)
		}
	}
	var victim *balancedWorker
	for _, w := range b.workers[:size.Runners] {
		if victim == nil || len(owned[w.owner]) > len(owned[victim.owner]) {
			victim = w
		}
	}
	// A random moment of the second, as a crash comes.
	sleep(ctx, time.Duration(rand.Int64N(int64(time.Second))))
	tKill := time.Now()
	_ = victim.proc.Signal(syscall.SIGKILL)
	<-victim.proc.Done()
	jobsOf := owned[victim.owner]
	res.KilledJobs = len(jobsOf)
	killBound := 3*ttl + 30*time.Second
	if len(jobsOf) == 0 {
		res.Notes = append(res.Notes, "no worker started a job in the second before the kill")
		killBound = 0
	}
	for time.Since(tKill) < killBound {
		if err := b.waitTail(ctx, 100*time.Millisecond); err != nil {
			return nil, err
		}
		again := map[string]time.Time{}
		for _, s := range b.tail.starts {
			if s.owner != victim.owner && s.wall.After(tKill) {
				if _, ok := again[s.job]; !ok {
					again[s.job] = s.wall
				}
			}
		}
		all := true
		var worst time.Time
		for _, j := range jobsOf {
			t, ok := again[j]
			if !ok {
				all = false
				break
			}
			if t.After(worst) {
				worst = t
			}
		}
		if all {
			res.KillRecover = worst.Sub(tKill)
			break
		}
	}
	if res.KillRecover < 0 && len(jobsOf) > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("not every job of the killed worker ran again within %v", killBound))
	}
	sleep(ctx, 2*time.Second)
	b.stop()
	if err := b.tail.read(); err != nil {
		return nil, err
	}
	count := map[string]int{}
	for _, s := range b.tail.starts {
		k := fmt.Sprintf("%s@%d", s.job, s.fire)
		count[k]++
		if count[k] == 2 {
			res.Doubles++
		}
	}
	logf("  settled in %v; files in %s", res.SettledIn.Round(time.Second), dir)
	return res, nil
}

// waitTail sleeps d and reads what the workers appended meanwhile.
func (b *balancedRun) waitTail(ctx context.Context, d time.Duration) error {
	sleep(ctx, d)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return b.tail.read()
}
