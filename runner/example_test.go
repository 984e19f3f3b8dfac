package runner_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"

	_ "github.com/go-sql-driver/mysql"

	"github.com/soloist-dev/soloist/internal/dbtest"
	"github.com/soloist-dev/soloist/runner"
)

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
