package runner_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	_ "github.com/go-sql-driver/mysql"

	"github.com/soloist-dev/soloist/internal/dbtest"
	"github.com/soloist-dev/soloist/runner"
)

// Every server of the cluster starts a runner with the same group and jobs;
// only the one that holds the group's lease runs them, each fire once.
func Example() {
	db, err := sql.Open("mysql", dbtest.ExampleDSN()) // in production: your DSN
	if err != nil {
		panic(err)
	}
	defer db.Close()

	ctx, stop := context.WithCancel(context.Background()) // in production: signal.NotifyContext
	r, err := runner.New(db, "billing", runner.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		panic(err)
	}
	defer r.Close()
	var ran runner.Fire
	err = r.Add(runner.Job{
		Name:     "invoices",
		Schedule: "@every 1s", // "0 2 * * *" for a nightly run
		Timeout:  time.Minute,
		Run: func(ctx context.Context, fire runner.Fire) error {
			defer stop() // one run is enough for the example
			ran = fire
			return nil // ctx is cancelled if the lease is lost: stop then
		},
	})
	if err != nil {
		panic(err)
	}
	if err := r.Run(ctx); err != nil { // blocks until stop; releases the lease
		panic(err)
	}
	fmt.Printf("%s ran under token %d\n", ran.Job, ran.Token)
	// Output:
	// invoices ran under token 1
}

// Hooks feed metrics: each tells of one event of the lease loop or of a
// run, with typed outcomes and step-down causes.
func Example_hooks() {
	db, err := sql.Open("mysql", dbtest.ExampleDSN())
	if err != nil {
		panic(err)
	}
	defer db.Close()

	var mu sync.Mutex // hooks run on the runner's goroutines
	var events []string
	record := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, fmt.Sprintf(format, args...))
	}
	ctx, stop := context.WithCancel(context.Background())
	r, err := runner.New(db, "reports",
		runner.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		runner.WithHooks(runner.Hooks{
			StartedLeading: func(token uint64) { record("leading with token %d", token) },
			RunFinished: func(job string, outcome runner.Outcome, _ time.Duration) {
				record("%s: %s", job, outcome)
				if outcome == runner.OutcomeFailed {
					stop()
				}
			},
			StoppedLeading: func(token uint64, cause error) {
				record("term %d ended: stepped down %v, lease lost %v",
					token, errors.Is(cause, runner.ErrSteppedDown), runner.LeaseLost(cause))
			},
		}))
	if err != nil {
		panic(err)
	}
	defer r.Close()
	err = r.Add(runner.Job{Name: "digest", Schedule: "@every 1s", Run: func(context.Context, runner.Fire) error {
		return errors.New("mail server down")
	}})
	if err != nil {
		panic(err)
	}
	if err := r.Run(ctx); err != nil {
		panic(err)
	}
	for _, e := range events {
		fmt.Println(e)
	}
	// Output:
	// leading with token 1
	// digest: failed
	// term 1 ended: stepped down true, lease lost false
}

// A job fences its own writes with the run's token: assert_lease, called in
// the job's transaction, fails once another runner could have taken over,
// and otherwise keeps any takeover from committing before the writes do.
func Example_fencedWrites() {
	dsn := dbtest.ExampleDSN() // in production: the DSN of your database
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		panic(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE TABLE invoices (fire DATETIME PRIMARY KEY, token BIGINT UNSIGNED)"); err != nil {
		panic(err)
	}

	ctx, stop := context.WithCancel(context.Background()) // in production: signal.NotifyContext
	var last runner.Fire
	r, err := runner.New(db, "billing", runner.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		panic(err)
	}
	err = r.Add(runner.Job{
		Name:     "invoices",
		Schedule: "@every 1s", // "0 2 * * *" for a nightly run
		Run: func(ctx context.Context, fire runner.Fire) error {
			defer stop() // one run is enough for the example
			last = fire
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			defer tx.Rollback()
			if err := fire.AssertLease(ctx, tx); err != nil {
				return err // another runner may have taken over: write nothing
			}
			if _, err := tx.ExecContext(ctx, "INSERT INTO invoices VALUES (?, ?)", fire.Time, fire.Token); err != nil {
				return err
			}
			return tx.Commit()
		},
	})
	if err != nil {
		panic(err)
	}
	if err := r.Run(ctx); err != nil { // blocks until stop; releases the lease
		panic(err)
	}

	var token uint64
	if err := db.QueryRow("SELECT token FROM invoices").Scan(&token); err != nil {
		panic(err)
	}
	fmt.Println("invoice written under token", token)

	// The lease is released: a late write under the old token is refused.
	tx, err := db.Begin()
	if err != nil {
		panic(err)
	}
	defer tx.Rollback()
	err = last.AssertLease(context.Background(), tx)
	fmt.Println("late write refused:", errors.Is(err, runner.ErrLeaseLost))
	// Output:
	// invoice written under token 1
	// late write refused: true
}
