// Command soloist-bench is `make bench`: it measures Soloist against
// ShedLock's, Quartz's and GET_LOCK's ways of leading, on one MySQL-compatible
// server in one run, and writes docs/benchmarks.md. Its worker and ledger
// subcommands are the processes the failover measurements start.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/soloist-dev/soloist/internal/bench"
	"github.com/soloist-dev/soloist/internal/ledger"
	"github.com/soloist-dev/soloist/internal/spawn"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "ledger":
			os.Exit(ledger.Main(os.Args[2:]))
		case "worker":
			os.Exit(worker(os.Args[2:]))
		case "balanced-worker":
			os.Exit(balancedWorker(os.Args[2:]))
		}
	}
	fs := pflag.NewFlagSet("soloist-bench", pflag.ExitOnError)
	dsn := fs.String("dsn", "", "an existing server to measure on (a user that may create databases); default: a throwaway MariaDB")
	soloistBin := fs.String("soloist", "", "the soloist binary (default: build ./cmd/soloist)")
	out := fs.String("out", "docs", "where to write benchmarks.md and benchmarks-failover.svg (\"\" for nowhere)")
	quick := fs.Bool("quick", false, "fewer repetitions: a few minutes instead of half an hour")
	only := fs.String("only", "", "run one part: micro, failover, handover, scale or balanced")
	sizes := fs.StringSlice("balanced-sizes", nil, "the balanced section's sizes, as RUNNERSxJOBS (default 10x100,30x300,100x1000; 10x100 with --quick)")
	kinds := fs.StringSlice("balanced-systems", nil, "the balanced section's systems: quartz, dbscheduler, soloist (default all)")
	keep := fs.Bool("keep", false, "keep the working files (processes' logs, ledgers) and say where")
	_ = fs.Parse(os.Args[1:])
	var balancedSizes []bench.BalancedSize
	for _, s := range *sizes {
		var sz bench.BalancedSize
		if _, err := fmt.Sscanf(s, "%dx%d", &sz.Runners, &sz.Jobs); err != nil || sz.Runners < 2 || sz.Jobs < sz.Runners {
			fail(fmt.Errorf("--balanced-sizes %q: want RUNNERSxJOBS with at least 2 runners and a job per runner, as 10x100", s))
		}
		balancedSizes = append(balancedSizes, sz)
	}
	for _, k := range *kinds {
		if !slices.Contains(bench.BalancedKinds, k) {
			fail(fmt.Errorf("--balanced-systems %q: want one of %s", k, strings.Join(bench.BalancedKinds, ", ")))
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	self, err := os.Executable()
	if err != nil {
		fail(err)
	}
	if *soloistBin == "" {
		dir, err := os.MkdirTemp("", "soloist-bench-bin-")
		if err != nil {
			fail(err)
		}
		defer os.RemoveAll(dir)
		if *soloistBin, err = spawn.Build(dir, spawn.SoloistPackage); err != nil {
			fail(err)
		}
	}
	command := "soloist-bench " + strings.Join(os.Args[1:], " ")
	switch {
	case *quick && *dsn == "" && *only == "":
		command = "make bench-quick"
	case !*quick && *dsn == "" && *only == "":
		command = "make bench"
	case !*quick && *dsn == "" && *only == "balanced" && len(*sizes) == 0 && len(*kinds) == 0:
		command = "make bench-balanced"
	}
	r, err := bench.Run(ctx, bench.Options{
		DSN: *dsn, Programs: bench.Programs{Soloist: *soloistBin, Self: self},
		Out: *out, Quick: *quick, Only: *only, Command: command, Log: os.Stderr,
		BalancedSizes: balancedSizes, BalancedKinds: *kinds, Keep: *keep,
	})
	if err != nil {
		fail(err)
	}
	fmt.Println("benchmark done in", r.Took.Round(time.Second))
	for _, h := range r.Headlines() {
		fmt.Println(" -", h)
	}
}

func worker(args []string) int {
	fs := pflag.NewFlagSet("worker", pflag.ContinueOnError)
	o := bench.WorkerOptions{}
	fs.StringVar(&o.Kind, "kind", "", "shedlock, quartz or getlock")
	fs.StringVar(&o.DSN, "dsn", "", "the database")
	fs.StringVar(&o.Lock, "lock", "", "the lock")
	fs.StringVar(&o.Owner, "owner", "", "this process's identity")
	fs.DurationVar(&o.TTL, "ttl", 10*time.Second, "the lease TTL")
	fs.StringVar(&o.Ledger, "ledger", "", "the ledger file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := bench.Worker(o); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		return 1
	}
	return 0
}

func balancedWorker(args []string) int {
	fs := pflag.NewFlagSet("balanced-worker", pflag.ContinueOnError)
	o := bench.BalancedWorkerOptions{}
	fs.StringVar(&o.Kind, "kind", "", "soloist, quartz or dbscheduler")
	fs.StringVar(&o.DSN, "dsn", "", "the database")
	fs.StringVar(&o.Owner, "owner", "", "this process's identity")
	fs.IntVar(&o.Jobs, "jobs", 0, "the number of jobs, each every second")
	fs.DurationVar(&o.TTL, "ttl", 10*time.Second, "Soloist's TTL; the alternatives' failure detection follows it")
	fs.StringVar(&o.Ledger, "ledger", "", "the ledger file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := bench.BalancedWorker(o); err != nil {
		fmt.Fprintln(os.Stderr, "balanced-worker:", err)
		return 1
	}
	return 0
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "soloist-bench:", err)
	os.Exit(1)
}
