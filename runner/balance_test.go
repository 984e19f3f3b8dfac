package runner_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/soloist-dev/soloist/internal/dbtest"
	"github.com/soloist-dev/soloist/runner"
)

// fireBook records every execution of every job across runners: how many
// ran at once per job, each fire's executions, and which lease and token
// each ran under.
type fireBook struct {
	mu      sync.Mutex
	now     map[string]int
	most    map[string]int
	fires   map[string]int // job + fire time -> executions
	leases  map[string]string
	tokens  map[string][]uint64
	byOwner map[string]map[string]int // owner -> job -> executions
}

func newFireBook() *fireBook {
	return &fireBook{now: map[string]int{}, most: map[string]int{}, fires: map[string]int{},
		leases: map[string]string{}, tokens: map[string][]uint64{}, byOwner: map[string]map[string]int{}}
}

func (b *fireBook) job(name string, took time.Duration) runner.Job {
	return runner.Job{Name: name, Schedule: "@every 1s", Run: func(ctx context.Context, f runner.Fire) error {
		b.mu.Lock()
		b.now[f.Job]++
		b.most[f.Job] = max(b.most[f.Job], b.now[f.Job])
		b.fires[f.Job+" "+f.Time.Format(time.RFC3339Nano)]++
		b.leases[f.Job] = f.Lease
		if ts := b.tokens[f.Job]; len(ts) == 0 || ts[len(ts)-1] != f.Token {
			b.tokens[f.Job] = append(ts, f.Token)
		}
		if b.byOwner[f.Owner] == nil {
			b.byOwner[f.Owner] = map[string]int{}
		}
		b.byOwner[f.Owner][f.Job]++
		b.mu.Unlock()
		defer func() {
			b.mu.Lock()
			b.now[f.Job]--
			b.mu.Unlock()
		}()
		select {
		case <-time.After(took):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}}
}

// ownership follows the Balanced hook of each runner: what it owns now.
type ownership struct {
	mu    sync.Mutex
	owned map[string][]string
}

func (o *ownership) hooks(owner *string) runner.Hooks {
	return runner.Hooks{Balanced: func(_ int, owned, _ []string) {
		o.mu.Lock()
		defer o.mu.Unlock()
		o.owned[*owner] = owned
	}}
}

func (o *ownership) counts() map[string]int {
	o.mu.Lock()
	defer o.mu.Unlock()
	c := map[string]int{}
	for owner, jobs := range o.owned {
		c[owner] = len(jobs)
	}
	return c
}

func TestBalancedRunnersShareTheJobsAndEachFireRunsOnce(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDatabase(t)
	book := newFireBook()
	var jobs []runner.Job
	for i := range 6 {
		jobs = append(jobs, book.job(fmt.Sprintf("job-%d", i), 100*time.Millisecond))
	}
	own := &ownership{owned: map[string][]string{}}
	opts := []runner.Option{runner.WithBalance(), runner.WithTTL(3 * time.Second), runner.WithInterval(500 * time.Millisecond)}
	var rs []*started
	for i := range 3 {
		owner := fmt.Sprintf("127.0.0.1/r%d", i)
		rs = append(rs, startHooked(t, d.DB, "g", jobs, own.hooks(&owner), append(opts, runner.WithOwner(owner))...))
	}
	settled := func() bool {
		c := own.counts()
		return len(c) == 3 && c["127.0.0.1/r0"] == 2 && c["127.0.0.1/r1"] == 2 && c["127.0.0.1/r2"] == 2
	}
	dbtest.WaitFor(t, 30*time.Second, "three runners to own two jobs each", settled)

	// Every job fires under its own lease, on the runner that owns it.
	dbtest.WaitFor(t, 30*time.Second, "every job to run on its owner", func() bool {
		book.mu.Lock()
		defer book.mu.Unlock()
		return len(book.leases) == 6
	})

	// A runner that stops hands its jobs over: the other two own three each.
	rs[2].stop(t)
	own.mu.Lock()
	delete(own.owned, "127.0.0.1/r2")
	own.mu.Unlock()
	dbtest.WaitFor(t, 30*time.Second, "two runners to own three jobs each", func() bool {
		c := own.counts()
		return c["127.0.0.1/r0"] == 3 && c["127.0.0.1/r1"] == 3
	})
	for _, s := range rs[:2] {
		s.stop(t)
	}
	book.mu.Lock()
	defer book.mu.Unlock()
	for i := range 6 {
		name := fmt.Sprintf("job-%d", i)
		if got := book.leases[name]; got != "g/"+name {
			t.Errorf("%s ran under lease %q, want g/%s", name, got, name)
		}
		if book.most[name] != 1 {
			t.Errorf("%s: %d runs at once", name, book.most[name])
		}
		if ts := book.tokens[name]; !slices.IsSorted(ts) {
			t.Errorf("%s: tokens went backwards: %v", name, ts)
		}
	}
	for fire, n := range book.fires {
		if n != 1 {
			t.Errorf("fire %s ran %d times", fire, n)
		}
	}
	var recorded int
	if err := d.DB.QueryRow(`SELECT COUNT(*) FROM runs WHERE lease_name = 'g' AND outcome = 'succeeded'`).Scan(&recorded); err != nil {
		t.Fatal(err)
	}
	if total := len(book.fires); recorded > total || recorded < total-6 {
		t.Errorf("%d fires ran but %d succeeded runs are recorded", total, recorded)
	}
	// A graceful stop released every job lease and left the group.
	var held, members int
	if err := d.DB.QueryRow(`SELECT COUNT(*) FROM leases WHERE group_name = 'g' AND holder IS NOT NULL`).Scan(&held); err != nil {
		t.Fatal(err)
	}
	if err := d.DB.QueryRow(`SELECT COUNT(*) FROM lease_members WHERE lease_name = 'g'`).Scan(&members); err != nil {
		t.Fatal(err)
	}
	if held != 0 || members != 0 {
		t.Errorf("after every runner stopped: %d job leases held, %d members left", held, members)
	}
}

func TestAGroupRunsInOneModeAtATime(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDatabase(t)
	book := newFireBook()
	jobs := []runner.Job{book.job("a", 10*time.Millisecond)}

	leader := startRunner(t, d.DB, "led", jobs, runner.WithTTL(3*time.Second))
	leader.waitLead(t, 10*time.Second)
	r, err := runner.New(d.DB, "led", runner.WithBalance(), runner.WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	r.Add(jobs...)
	err = r.Run(context.Background())
	if !errors.Is(err, runner.ErrModeConflict) {
		t.Fatalf("a balanced runner of a group in leader mode: Run returned %v, want ErrModeConflict", err)
	}
	t.Logf("balanced runner refused: %v", err)

	balanced := startRunner(t, d.DB, "spread", jobs, runner.WithBalance(), runner.WithTTL(3*time.Second))
	dbtest.WaitFor(t, 10*time.Second, "the balanced runner to join", func() bool {
		var n int
		d.DB.QueryRow(`SELECT COUNT(*) FROM lease_members WHERE lease_name = 'spread'`).Scan(&n)
		return n == 1
	})
	r, err = runner.New(d.DB, "spread", runner.WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	r.Add(jobs...)
	err = r.Run(context.Background())
	if !errors.Is(err, runner.ErrModeConflict) {
		t.Fatalf("a leader-mode runner of a balanced group: Run returned %v, want ErrModeConflict", err)
	}
	t.Logf("leader-mode runner refused: %v", err)
	_ = balanced
}

func TestAJobNoLiveRunnerMayOwnIsReported(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDatabase(t)
	book := newFireBook()
	pinned := book.job("pinned", time.Millisecond)
	pinned.Hosts = []string{"10.9.9.9"}
	heavy := book.job("heavy", time.Millisecond)
	heavy.Weight = 5
	var mu sync.Mutex
	var unownable, owned []string
	hooks := runner.Hooks{Balanced: func(_ int, o, u []string) {
		mu.Lock()
		defer mu.Unlock()
		owned, unownable = o, u
	}}
	startHooked(t, d.DB, "g", []runner.Job{pinned, heavy}, hooks,
		runner.WithBalance(), runner.WithOwner("127.0.0.1/only"), runner.WithTTL(3*time.Second), runner.WithInterval(500*time.Millisecond))
	dbtest.WaitFor(t, 20*time.Second, "the runner to own heavy and report pinned", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.Equal(owned, []string{"heavy"}) && slices.Equal(unownable, []string{"pinned"})
	})
	var weight int
	var hosts sql.NullString
	if err := d.DB.QueryRow("SELECT weight, hosts FROM jobs WHERE lease_name = 'g' AND name = 'pinned'").Scan(&weight, &hosts); err != nil ||
		weight != 1 || hosts.String != "10.9.9.9" {
		t.Fatalf("pinned as declared: weight %d hosts %v (%v)", weight, hosts, err)
	}
}

// TestALeaseHeldWithoutATermIsGivenBack: the database says the runner holds
// a job's lease that it never learnt it took (the answer of acquire_job was
// lost). The runner releases it instead of renewing it for ever, and the job
// runs under a new token.
func TestALeaseHeldWithoutATermIsGivenBack(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDatabase(t)
	const owner = "127.0.0.1/orphan"
	if _, err := d.DB.Exec("CALL join_group('g', ?, 'balanced', 60000)", owner); err != nil {
		t.Fatal(err)
	}
	if _, err := d.DB.Exec("CALL acquire_job('g', ?, 'tick', 60000)", owner); err != nil {
		t.Fatal(err)
	}
	book := newFireBook()
	startRunner(t, d.DB, "g", []runner.Job{book.job("tick", time.Millisecond)},
		runner.WithBalance(), runner.WithOwner(owner), runner.WithTTL(3*time.Second), runner.WithInterval(500*time.Millisecond))
	dbtest.WaitFor(t, 20*time.Second, "tick to run under a new token", func() bool {
		book.mu.Lock()
		defer book.mu.Unlock()
		ts := book.tokens["tick"]
		return len(ts) > 0 && ts[0] == 2
	})
}

// TestAJobOnlySomeRunnersHaveStillRuns: while a crontab is rolled out, one
// runner has a job the other lacks. The assignment may give it to the one
// that lacks it; after a TTL free, the other takes it, and keeps it rather
// than hand it back.
func TestAJobOnlySomeRunnersHaveStillRuns(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDatabase(t)
	book := newFireBook()
	common := []runner.Job{book.job("a", time.Millisecond), book.job("b", time.Millisecond)}
	var jobs []runner.Job
	for i := range 6 {
		jobs = append(jobs, book.job(fmt.Sprintf("new-%d", i), time.Millisecond))
	}
	var mu sync.Mutex
	rounds := map[string]int{} // new job -> rounds in a row the new runner owned it
	hooks := runner.Hooks{Balanced: func(_ int, owned, _ []string) {
		mu.Lock()
		defer mu.Unlock()
		for _, j := range jobs {
			if slices.Contains(owned, j.Name) {
				rounds[j.Name]++
			} else {
				rounds[j.Name] = 0
			}
		}
	}}
	opts := []runner.Option{runner.WithBalance(), runner.WithTTL(1500 * time.Millisecond), runner.WithInterval(250 * time.Millisecond)}
	startRunner(t, d.DB, "g", common, append(opts, runner.WithOwner("127.0.0.1/old"))...)
	startHooked(t, d.DB, "g", append(common, jobs...), hooks, append(opts, runner.WithOwner("127.0.0.1/new"))...)
	// With six jobs only the new runner knows, the assignment gives some of
	// them to the old one; every one must end up owned by the new runner
	// for 20 rounds in a row.
	dbtest.WaitFor(t, 60*time.Second, "the new runner to own every new job for 20 rounds", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, j := range jobs {
			if rounds[j.Name] < 20 {
				return false
			}
		}
		return true
	})
}
