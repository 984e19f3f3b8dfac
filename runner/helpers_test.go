package runner_test

import (
	"context"
	"database/sql"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/soloist-dev/soloist/runner"
)

// testLogger writes the runner's logs to the test log, or to stderr with
// SOLOIST_TEST_LOG=1.
func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("SOLOIST_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// started is a runner running in the background.
type started struct {
	*runner.Runner
	cancel context.CancelFunc
	done   chan error
	leads  chan uint64 // receives each token it wins
	stops  chan error  // receives the cause each term ends with
}

// startRunner runs a new runner until stop or the end of the test.
func startRunner(t testing.TB, db *sql.DB, group string, jobs []runner.Job, opts ...runner.Option) *started {
	t.Helper()
	return startHooked(t, db, group, jobs, runner.Hooks{}, opts...)
}

// startHooked is startRunner with hooks of the test's own.
func startHooked(t testing.TB, db *sql.DB, group string, jobs []runner.Job, hooks runner.Hooks, opts ...runner.Option) *started {
	t.Helper()
	s := &started{done: make(chan error, 1), leads: make(chan uint64, 100), stops: make(chan error, 100)}
	hooks.StartedLeading = func(token uint64) { s.leads <- token }
	hooks.StoppedLeading = func(_ uint64, cause error) { s.stops <- cause }
	opts = append([]runner.Option{runner.WithLogger(testLogger(t)), runner.WithHooks(hooks)}, opts...)
	r, err := runner.New(db, group, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Add(jobs...); err != nil {
		t.Fatal(err)
	}
	s.Runner = r
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go func() { s.done <- r.Run(ctx) }()
	t.Cleanup(func() { s.stop(t) })
	return s
}

// stop cancels the runner and waits for Run to return, failing the test on
// an error. It may be called more than once.
func (s *started) stop(t testing.TB) {
	t.Helper()
	s.cancel()
	select {
	case err, ok := <-s.done:
		if ok && err != nil {
			t.Errorf("Run: %v", err)
		}
		if ok {
			close(s.done)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("Run did not return within 60s of cancel")
	}
}

// waitLead waits until the runner wins a term and returns its token.
func (s *started) waitLead(t testing.TB, within time.Duration) uint64 {
	t.Helper()
	select {
	case tok := <-s.leads:
		return tok
	case <-time.After(within):
		t.Fatalf("runner %s did not lead within %v", s.Owner(), within)
		return 0
	}
}

// run is a row of the runs table.
type run struct {
	Job, Owner, Outcome, Message string
	Fire                         time.Time
	Token                        uint64
	Started, Finished            sql.NullTime
}

func runs(t testing.TB, db *sql.DB, group string) []run {
	t.Helper()
	rows, err := db.Query(`SELECT job, owner, outcome, COALESCE(message, ''), fire_time, token, started_at, finished_at
		FROM runs WHERE lease_name = ? ORDER BY fire_time, id`, group)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []run
	for rows.Next() {
		var r run
		if err := rows.Scan(&r.Job, &r.Owner, &r.Outcome, &r.Message, &r.Fire, &r.Token, &r.Started, &r.Finished); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// counter counts concurrent executions and remembers the most at once.
type counter struct {
	mu        sync.Mutex
	now, most int
	total     int
}

func (c *counter) enter() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now++
	c.total++
	c.most = max(c.most, c.now)
}

func (c *counter) leave() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now--
}

func (c *counter) get() (total, most int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total, c.most
}
