// Package ledger is the job that the fault tests and the benchmark put in
// their crontabs, and the reader of what it writes. The job
// appends what it does to a ledger file, one JSON line per event, stamped
// with CLOCK_MONOTONIC (which every process of the machine shares) and the
// wall clock:
//
//	ledger -file F [-sleep 300ms] [-fence] [-unfenced]
//
// "start", then a sleep, then optionally a fenced write (assert_lease in a
// transaction with an INSERT into fenced_writes) and an unfenced one (a
// plain INSERT into unfenced_writes), then "end". SIGTERM records "end"
// with killed=true at once and exits, so a stopped job's end is on record.
// The crontab runs it with exec, so that the runner's parent-death signal
// reaches it. The job's identity comes from the SOLOIST_ variables; the
// database from LEDGER_DSN.
package ledger

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
	"golang.org/x/sys/unix"

	"github.com/soloist-dev/soloist/internal/store"
)

// Event is one line of the ledger.
type Event struct {
	Ev     string    `json:"ev"` // start, fence, unfenced, end
	Job    string    `json:"job"`
	Fire   time.Time `json:"fire"`
	Token  uint64    `json:"token"`
	Owner  string    `json:"owner"`
	RunID  int64     `json:"run_id"`
	Mono   int64     `json:"mono"` // CLOCK_MONOTONIC, ns
	Wall   time.Time `json:"wall"`
	Pid    int       `json:"pid"`
	Killed bool      `json:"killed,omitempty"`
	OK     bool      `json:"ok,omitempty"`
	Err    string    `json:"err,omitempty"`
}

// Main runs the job with the command line args (without the program name)
// and returns its exit code.
func Main(args []string) int {
	fs := flag.NewFlagSet("ledger", flag.ContinueOnError)
	file := fs.String("file", "", "the ledger file")
	pause := fs.Duration("sleep", 0, "how long the job works")
	fence := fs.Bool("fence", false, "make a fenced write after working")
	unfenced := fs.Bool("unfenced", false, "make an unfenced write after working")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *file == "" {
		return fail(fmt.Errorf("-file is required"))
	}
	f, err := os.OpenFile(*file, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fail(err)
	}
	defer f.Close()
	token, _ := strconv.ParseUint(os.Getenv("SOLOIST_TOKEN"), 10, 64)
	runID, _ := strconv.ParseInt(os.Getenv("SOLOIST_RUN_ID"), 10, 64)
	fire, _ := time.Parse(time.RFC3339, os.Getenv("SOLOIST_FIRE_TIME"))
	base := Event{Job: os.Getenv("SOLOIST_JOB"), Fire: fire, Token: token, Owner: os.Getenv("SOLOIST_OWNER"), RunID: runID, Pid: os.Getpid()}
	write := func(e Event) {
		if err := Append(f, e); err != nil {
			fmt.Fprintln(os.Stderr, "ledger:", err)
		}
	}
	event := func(ev string) Event { e := base; e.Ev = ev; return e }

	// SIGTERM at any point records the end at once and exits, as a job that
	// is stopped does; the first end recorded is the only one.
	var ended sync.Once
	end := func(killed bool) {
		ended.Do(func() {
			e := event("end")
			e.Killed = killed
			write(e)
		})
	}
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	go func() {
		<-term
		end(true)
		os.Exit(143)
	}()
	write(event("start"))
	time.Sleep(*pause)
	if *fence || *unfenced {
		cfg, err := mysql.ParseDSN(os.Getenv("LEDGER_DSN"))
		if err != nil {
			return fail(fmt.Errorf("LEDGER_DSN: %w", err))
		}
		connector, err := mysql.NewConnector(cfg)
		if err != nil {
			return fail(fmt.Errorf("LEDGER_DSN: %w", err))
		}
		db := sql.OpenDB(connector)
		defer db.Close()
		if *fence {
			e := event("fence")
			if err := fencedWrite(db, cfg.DBName, base); err != nil {
				e.Err = err.Error()
			} else {
				e.OK = true
			}
			write(e)
		}
		if *unfenced {
			e := event("unfenced")
			if _, err := db.Exec("INSERT INTO unfenced_writes (job, fire, token, owner) VALUES (?, ?, ?, ?)",
				base.Job, base.Fire, base.Token, base.Owner); err != nil {
				e.Err = err.Error()
			} else {
				e.OK = true
			}
			write(e)
		}
	}
	end(false)
	return 0
}

// Now is CLOCK_MONOTONIC in ns, the clock every process of the machine
// shares, as the ledger stamps events.
func Now() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

// Append stamps e with the monotonic and wall clocks and appends it to f, in
// one write of less than PIPE_BUF bytes with O_APPEND, so that the lines of
// concurrent jobs never interleave.
func Append(f *os.File, e Event) error {
	e.Mono, e.Wall = Now(), time.Now().UTC()
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	_, err = f.Write(append(b, '\n'))
	return err
}

// Read returns the events of a ledger file; none if it does not exist yet.
func Read(path string) ([]Event, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var evs []Event
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, fmt.Errorf("ledger line %q: %w", sc.Text(), err)
		}
		evs = append(evs, e)
	}
	return evs, sc.Err()
}

// fenceLease is the lease the run's token belongs to: SOLOIST_LEASE (the
// group in leader mode, the job's own lease in balanced mode), or the group
// under a runner too old to set it.
func fenceLease() string {
	if l := os.Getenv("SOLOIST_LEASE"); l != "" {
		return l
	}
	return os.Getenv("SOLOIST_GROUP")
}

// fencedWrite inserts a row in the same transaction as assert_lease on the
// run's lease, which it calls in schema, the database of LEDGER_DSN.
func fencedWrite(db *sql.DB, schema string, e Event) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	if err := store.AssertLease(ctx, tx, schema, fenceLease(), e.Token); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO fenced_writes (job, fire, token, owner) VALUES (?, ?, ?, ?)",
		e.Job, e.Fire, e.Token, e.Owner); err != nil {
		return err
	}
	return tx.Commit()
}

func fail(err error) int {
	fmt.Fprintln(os.Stderr, "ledger:", err)
	return 1
}
