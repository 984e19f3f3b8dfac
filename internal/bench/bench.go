// Package bench is `make bench`: Soloist measured against ShedLock's,
// Quartz's and GET_LOCK's ways of leading on MySQL, on one server in one
// run, and docs/benchmarks.md written from the results. It is not part of
// `go test`: timing belongs here, on demand, not in tests.
package bench

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/soloist-dev/soloist"
	"github.com/soloist-dev/soloist/internal/dbserver"
)

// Options configure a run.
type Options struct {
	DSN      string // an existing server (root-like user); default: a throwaway one
	Programs Programs
	Out      string // where docs/benchmarks.md and the plot go; "" to write nothing
	Quick    bool   // fewer repetitions
	Only     string // micro, failover, handover, scale or balanced; "" for all
	Command  string // how the run was started, for the report
	Log      io.Writer
	Keep     bool // keep the working files (logs, ledgers) instead of removing them

	// BalancedSizes and BalancedKinds narrow the balanced section (default:
	// 10 runners with 100 jobs, 30 with 300 and 100 with 1,000, or only the
	// first with Quick; every system).
	BalancedSizes []BalancedSize
	BalancedKinds []string
}

// Run runs the benchmark and writes the report.
func Run(ctx context.Context, o Options) (*Report, error) {
	logf := func(format string, args ...any) { fmt.Fprintf(o.Log, format+"\n", args...) }
	r := &Report{Started: time.Now(), Command: o.Command, Machine: MachineInfo()}

	var srv *dbserver.Server
	base := o.DSN
	if base == "" {
		var err error
		srv, err = dbserver.Start(ctx, dbserver.Options{
			Durable: true, MaxConnections: 5000,
			Args: []string{"--innodb-buffer-pool-size=512M", "--thread-cache-size=1000", "--table-open-cache=4000"},
			Log:  logf,
		})
		if err != nil {
			return nil, err
		}
		defer srv.Close()
		base = srv.DSN("")
	}
	cfg, err := mysql.ParseDSN(base)
	if err != nil {
		return nil, fmt.Errorf("--dsn: %w", err)
	}
	cfg.DBName, cfg.InterpolateParams, cfg.ParseTime = "", true, true
	admin, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return nil, err
	}
	defer admin.Close()
	if err := admin.QueryRowContext(ctx, "SELECT VERSION()").Scan(&r.Server); err != nil {
		return nil, err
	}
	for _, v := range []string{"innodb_flush_log_at_trx_commit", "sync_binlog", "log_bin", "innodb_buffer_pool_size", "max_connections", "transaction_isolation"} {
		var name, value string
		if err := admin.QueryRowContext(ctx, "SHOW GLOBAL VARIABLES LIKE ?", v).Scan(&name, &value); err == nil {
			r.Settings = append(r.Settings, name+"="+value)
		}
	}
	stats := ServerStats{db: admin}
	if srv != nil {
		stats.pid = srv.Pid()
	}
	// database creates a fresh, migrated database and returns a pool on it.
	n := 0
	database := func() (*sql.DB, string, error) {
		n++
		name := fmt.Sprintf("bench_%d_%d", os.Getpid(), n)
		if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name+" CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"); err != nil {
			return nil, "", err
		}
		c := cfg.Clone()
		c.DBName = name
		// ShedLock and Quartz read "rows affected" as JDBC reports it, rows
		// matched, so a renewal in the same millisecond as the last one still
		// counts. Soloist reads no affected-row counts.
		c.ClientFoundRows = true
		db, err := sql.Open("mysql", c.FormatDSN())
		if err != nil {
			return nil, "", err
		}
		if err := soloist.Migrate(ctx, db); err != nil {
			db.Close()
			return nil, "", err
		}
		return db, c.FormatDSN(), nil
	}

	rounds, kills, handovers, window := 20000, 30, 30, 30*time.Second
	if o.Quick {
		rounds, kills, handovers, window = 3000, 5, 5, 10*time.Second
	}
	want := func(part string) bool { return o.Only == "" || o.Only == part }
	dir, err := os.MkdirTemp("", "soloist-bench-")
	if err != nil {
		return nil, err
	}
	if o.Keep {
		logf("working files kept in %s", dir)
	} else {
		defer os.RemoveAll(dir)
	}

	if want("micro") {
		logf("1, 2: follower poll and renewal, %d rounds", rounds)
		db, _, err := database()
		if err != nil {
			return nil, err
		}
		r.Micro, err = Micro(ctx, db, rounds)
		db.Close()
		if err != nil {
			return nil, fmt.Errorf("micro: %w", err)
		}
	}
	for _, part := range []string{"failover", "handover"} {
		if !want(part) {
			continue
		}
		ttls := []time.Duration{time.Second, 2 * time.Second, 5 * time.Second}
		if part == "handover" {
			ttls = []time.Duration{2 * time.Second}
		}
		for _, ttl := range ttls {
			for _, lease := range Leases {
				db, dsn, err := database()
				if err != nil {
					return nil, err
				}
				db.Close()
				logf("%s: %s, TTL %v", part, lease, ttl)
				g, err := StartGroup(o.Programs, lease, ttl, dsn, filepath.Join(dir, part))
				if err != nil {
					return nil, err
				}
				var times []time.Duration
				if part == "failover" {
					times, err = g.Failover(ctx, kills)
				} else {
					times, err = g.Handover(ctx, handovers)
				}
				g.Stop()
				if err != nil {
					return nil, fmt.Errorf("%s of %s at TTL %v: %w", part, lease, ttl, err)
				}
				s := Series{Lease: lease, TTL: ttl, Times: times}
				logf("  p50 %v p99 %v", s.quantile(0.5), s.quantile(0.99))
				if part == "failover" {
					r.Failover = append(r.Failover, s)
				} else {
					r.Handover = append(r.Handover, s)
				}
			}
		}
	}
	if want("scale") {
		for _, runners := range []int{10, 100, 1000} {
			db, _, err := database()
			if err != nil {
				return nil, err
			}
			db.SetMaxIdleConns(runners + 10)
			logf("5: %d runners, one group, window %v", runners, window)
			s, err := ScaleGroup(ctx, stats, db, runners, 10*time.Second, window)
			db.Close()
			if err != nil {
				return nil, fmt.Errorf("scale %d: %w", runners, err)
			}
			r.Scale = append(r.Scale, s)
		}
		db, _, err := database()
		if err != nil {
			return nil, err
		}
		db.SetMaxIdleConns(110)
		logf("5: 10,000 locks held by 100 runners, window %v", window)
		s, err := ScaleLocks(ctx, stats, db, 100, 10000, 10*time.Second, window)
		db.Close()
		if err != nil {
			return nil, fmt.Errorf("scale locks: %w", err)
		}
		r.Scale = append(r.Scale, s)
	}
	if want("balanced") {
		sizes, kinds, bw := []BalancedSize{{10, 100}, {30, 300}, {100, 1000}}, BalancedKinds, 30*time.Second
		if o.Quick {
			sizes, bw = sizes[:1], 10*time.Second
		}
		if len(o.BalancedSizes) > 0 {
			sizes = o.BalancedSizes
		}
		if len(o.BalancedKinds) > 0 {
			kinds = o.BalancedKinds
		}
		t := time.Now()
		r.Balanced, err = Balanced(ctx, o.Programs.Self, stats, database, sizes, kinds, bw, dir, logf)
		r.BalancedTook = time.Since(t)
		if raw, jerr := json.Marshal(r.Balanced); jerr == nil {
			logf("balanced results: %s", raw)
		}
		if err != nil {
			return r, err
		}
	}
	r.Took = time.Since(r.Started)
	if o.Out != "" && o.Only == "balanced" {
		// Only this section is new: the rest of the file stays as it is.
		path := filepath.Join(o.Out, "benchmarks.md")
		old, err := os.ReadFile(path)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return r, err
		}
		if err := os.WriteFile(path, []byte(spliceSection(string(old), balancedHeading, r.BalancedMarkdown())), 0o644); err != nil {
			return r, err
		}
	} else if o.Out != "" {
		if err := os.MkdirAll(o.Out, 0o755); err != nil {
			return r, err
		}
		if err := os.WriteFile(filepath.Join(o.Out, "benchmarks.md"), []byte(r.Markdown()), 0o644); err != nil {
			return r, err
		}
		if svg := r.FailoverSVG(); svg != "" {
			if err := os.WriteFile(filepath.Join(o.Out, "benchmarks-failover.svg"), []byte(svg), 0o644); err != nil {
				return r, err
			}
		}
	}
	logf("headlines: %s", strings.Join(r.Headlines(), "; "))
	return r, nil
}
