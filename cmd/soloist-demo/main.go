// Command soloist-demo is `make demo`: a throwaway MariaDB from the binaries
// on PATH, three `soloist run` processes sharing examples/demo.crontab, a
// killed leader, the takeover and the run history. No Docker needed.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/soloist-dev/soloist/internal/demo"
	"github.com/soloist-dev/soloist/internal/spawn"
)

func main() {
	fs := pflag.NewFlagSet("soloist-demo", pflag.ExitOnError)
	bin := fs.String("soloist", "", "the soloist binary (default: build ./cmd/soloist)")
	ct := fs.String("crontab", "examples/demo.crontab", "the crontab the three servers share")
	ttl := fs.Duration("ttl", 3*time.Second, "the lease TTL")
	_ = fs.Parse(os.Args[1:])

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *bin == "" {
		dir, err := os.MkdirTemp("", "soloist-demo-")
		if err != nil {
			fail(err)
		}
		defer os.RemoveAll(dir)
		if *bin, err = spawn.Build(dir, spawn.SoloistPackage, "-buildvcs=auto"); err != nil {
			fail(err)
		}
	}
	if err := demo.Run(ctx, demo.Options{Soloist: *bin, Crontab: *ct, TTL: *ttl, Out: os.Stdout}); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "soloist-demo:", err)
	os.Exit(1)
}
