package faults_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/soloist-dev/soloist"
	"github.com/soloist-dev/soloist/internal/dbserver"
	"github.com/soloist-dev/soloist/internal/dbtest"
	"github.com/soloist-dev/soloist/internal/dbtest/netfault"
	"github.com/soloist-dev/soloist/internal/spawn"
)

// clusterOptions describe a fault test's group of runners.
type clusterOptions struct {
	group   string // default "faults"
	runners int
	ttl     time.Duration
	// crontab is the crontab's text; {ledger} stands for the ledger job
	// ("exec /path/ledger -file /path/ledger.jsonl").
	crontab string
	// server, when set, starts a server of the test's own (for restarts and
	// skewed clocks) instead of a database on the shared one.
	server *dbserver.Options
	// database, when set, is an existing, migrated database to use instead
	// (a Galera cluster's); the checker reads it with this configuration.
	database *mysql.Config
	// upstream, when set, is the server address runner i connects to
	// through its proxy (runners spread over Galera nodes).
	upstream func(i int) string
	// runnerEnv returns extra environment for runner i.
	runnerEnv func(i int) []string
	// runnerArgs returns extra arguments of `soloist run` for runner i.
	runnerArgs func(i int) []string
	// dsnParams returns extra DSN parameters for runner i (e.g. time_zone).
	dsnParams func(i int) map[string]string
}

// cluster is a group of `soloist run` processes, each behind a proxy of its
// own to the database, and the ledger their jobs write.
type cluster struct {
	t       *testing.T
	opts    clusterOptions
	group   string
	server  *dbserver.Server // nil on the shared server
	cfg     *mysql.Config    // the database, as root, direct
	db      *sql.DB
	dir     string
	ledger  string
	crontab string
	runners []*proc
	started time.Time
}

// proc is one `soloist run`.
type proc struct {
	i           int
	name, owner string
	proxy       *netfault.Proxy
	run         *spawn.Process // its output is the runner's log
}

func newCluster(t *testing.T, o clusterOptions) *cluster {
	t.Helper()
	soloistBin, ledgerBin := binaries(t)
	if o.group == "" {
		o.group = "faults"
	}
	c := &cluster{t: t, opts: o, group: o.group, dir: t.TempDir()}
	c.ledger = filepath.Join(c.dir, "ledger.jsonl")
	switch {
	case o.database != nil:
		c.cfg = o.database.Clone()
		var err error
		c.db, err = sql.Open("mysql", c.cfg.FormatDSN())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.db.Close() })
	case o.server != nil:
		srv, err := dbserver.Start(context.Background(), *o.server)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Close() })
		c.server = srv
		admin, err := sql.Open("mysql", srv.DSN(""))
		if err != nil {
			t.Fatal(err)
		}
		defer admin.Close()
		if _, err := admin.Exec("CREATE DATABASE soloist CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"); err != nil {
			t.Fatal(err)
		}
		c.cfg, err = mysql.ParseDSN(srv.DSN("soloist"))
		if err != nil {
			t.Fatal(err)
		}
		c.db, err = sql.Open("mysql", c.cfg.FormatDSN())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.db.Close() })
		if err := soloist.Migrate(context.Background(), c.db); err != nil {
			t.Fatal(err)
		}
	default:
		d := dbtest.NewDatabase(t)
		c.cfg, c.db = d.Config, d.DB
	}
	for _, table := range []string{"fenced_writes", "unfenced_writes"} {
		_, err := c.db.Exec("CREATE TABLE IF NOT EXISTS " + table + ` (id BIGINT AUTO_INCREMENT PRIMARY KEY,
			job VARCHAR(191) NOT NULL, fire DATETIME NOT NULL, token BIGINT UNSIGNED NOT NULL,
			owner VARCHAR(255) NOT NULL, at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6))`)
		if err != nil {
			t.Fatal(err)
		}
	}
	job := "exec " + ledgerBin + " -file " + c.ledger
	c.crontab = filepath.Join(c.dir, "crontab")
	if err := os.WriteFile(c.crontab, []byte(strings.ReplaceAll(o.crontab, "{ledger}", job)), 0o644); err != nil {
		t.Fatal(err)
	}
	c.started = time.Now()
	for i := range o.runners {
		upstream := c.cfg.Addr
		if o.upstream != nil {
			upstream = o.upstream(i)
		}
		p, err := netfault.New(fmt.Sprint("runner-", i), upstream)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		r := &proc{i: i, name: fmt.Sprintf("%s-%d", o.group, i), owner: fmt.Sprintf("127.0.0.1/%s-%d", o.group, i), proxy: p}
		c.runners = append(c.runners, r)
		c.start(r, soloistBin)
	}
	t.Cleanup(func() {
		c.stopAll()
		if t.Failed() {
			for _, r := range c.runners {
				t.Logf("log of %s:\n%s", r.name, tail(r.run.Output(), 60))
			}
		}
	})
	return c
}

// dsn is runner i's DSN: through its proxy, with a short connect timeout.
func (c *cluster) dsn(r *proc) string {
	cfg := c.cfg.Clone()
	cfg.Addr = r.proxy.Addr
	cfg.Timeout = 500 * time.Millisecond
	if c.opts.dsnParams != nil {
		cfg.Params = c.opts.dsnParams(r.i)
	}
	return cfg.FormatDSN()
}

// start starts (or restarts) runner r.
func (c *cluster) start(r *proc, bin string) {
	run := spawn.Run{Crontab: c.crontab, Owner: r.owner, Group: c.group, TTL: c.opts.ttl,
		Grace: 2 * time.Second, KillGrace: 2 * time.Second, LogFormat: "json", LogLevel: "info"}
	if c.opts.runnerArgs != nil {
		run.Extra = c.opts.runnerArgs(r.i)
	}
	env := append(os.Environ(), "SOLOIST_DSN="+c.dsn(r), "LEDGER_DSN="+c.dsn(r))
	if c.opts.runnerEnv != nil {
		env = append(env, c.opts.runnerEnv(r.i)...)
	}
	var err error
	if r.run, err = spawn.Runner(bin, run, env, nil); err != nil {
		c.t.Fatal(err)
	}
}

// restart starts a runner that was killed or stopped.
func (c *cluster) restart(r *proc) {
	<-r.run.Done()
	bin, _ := binaries(c.t)
	c.start(r, bin)
}

// signal sends sig to runner r's process (not its jobs).
func (c *cluster) signal(r *proc, sig syscall.Signal) {
	_ = r.run.Signal(sig)
}

// stopAll stops every runner gracefully, then kills what is left.
func (c *cluster) stopAll() {
	for _, r := range c.runners {
		r.run.Terminate() // SIGCONT first: a stopped runner cannot handle SIGTERM
	}
	for _, r := range c.runners {
		r.run.Await(20 * time.Second)
	}
}

// holder is the current holder of the group's lease, from the database: its
// runner (nil if free or not one of ours) and token.
func (c *cluster) holder() (*proc, uint64) {
	var holder sql.NullString
	var status string
	var token uint64
	err := c.db.QueryRow("SELECT status, holder, token FROM lease_status WHERE name = ?", c.group).Scan(&status, &holder, &token)
	if err != nil || status != "held" {
		return nil, token
	}
	for _, r := range c.runners {
		if r.owner == holder.String {
			return r, token
		}
	}
	return nil, token
}

// waitHolder waits until a runner other than not holds the lease.
func (c *cluster) waitHolder(not *proc, within time.Duration) (*proc, uint64) {
	c.t.Helper()
	deadline := time.Now().Add(within)
	for {
		if r, tok := c.holder(); r != nil && r != not {
			return r, tok
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("no runner (other than %v) took the lease within %v", not, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitRuns waits until the ledger holds at least n ends.
func (c *cluster) waitRuns(n int, within time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(within)
	for {
		ends := 0
		for _, e := range readLedger(c.t, c.ledger) {
			if e.Ev == "end" {
				ends++
			}
		}
		if ends >= n {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("only %d job executions ended within %v", ends, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (r *proc) String() string {
	if r == nil {
		return "nobody"
	}
	return r.name
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
