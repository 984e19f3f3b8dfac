package faults_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
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
	// balance starts the runners with --balance: each job has a lease of
	// its own, '<group>/<job>', and the runners share the jobs.
	balance bool
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
	run         *spawn.Process   // its output is the runner's log
	past        []*spawn.Process // the processes before restarts
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
	if c.opts.balance {
		run.Extra = append(run.Extra, "--balance")
	}
	if c.opts.runnerArgs != nil {
		run.Extra = append(run.Extra, c.opts.runnerArgs(r.i)...)
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
	r.past = append(r.past, r.run)
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

// lease is the lease whose token a run of job carries: the group's own in
// leader mode, the job's own ('<group>/<job>') in balanced mode.
func (c *cluster) lease(job string) string {
	if c.opts.balance {
		return c.group + "/" + job
	}
	return c.group
}

// leases are the group's leases that runs carry tokens of: the group's
// own, or in balanced mode every job lease of the group.
func (c *cluster) leases() []string {
	if !c.opts.balance {
		return []string{c.group}
	}
	rows, err := c.db.Query("SELECT CONVERT(name USING utf8mb4) FROM leases WHERE group_name = ? ORDER BY name", c.group)
	if err != nil {
		c.t.Fatal(err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			c.t.Fatal(err)
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		c.t.Fatal(err)
	}
	return names
}

// runner is the runner whose owner is owner, or nil.
func (c *cluster) runner(owner string) *proc {
	for _, r := range c.runners {
		if r.owner == owner {
			return r
		}
	}
	return nil
}

// holder is the current holder of the group's lease, from the database: its
// runner (nil if free or not one of ours) and token. In balanced mode, see
// owner.
func (c *cluster) holder() (*proc, uint64) {
	return c.leaseHolder(c.group)
}

// owner is the live holder of the lease that runs job (the group's in
// leader mode, the job's own in balanced mode) and its token.
func (c *cluster) owner(job string) (*proc, uint64) {
	return c.leaseHolder(c.lease(job))
}

func (c *cluster) leaseHolder(lease string) (*proc, uint64) {
	var holder sql.NullString
	var live bool
	var token uint64
	err := c.db.QueryRow("SELECT holder, holder IS NOT NULL AND expires_at > UTC_TIMESTAMP(6), token FROM leases WHERE name = ?", lease).
		Scan(&holder, &live, &token)
	if err != nil || !live {
		return nil, token
	}
	return c.runner(holder.String), token
}

// waitHolder waits until a runner other than not holds the group's lease.
func (c *cluster) waitHolder(not *proc, within time.Duration) (*proc, uint64) {
	c.t.Helper()
	return c.waitLease(c.group, not, within)
}

// waitOwner waits until a runner other than not holds the lease that runs
// job (see owner).
func (c *cluster) waitOwner(job string, not *proc, within time.Duration) (*proc, uint64) {
	c.t.Helper()
	return c.waitLease(c.lease(job), not, within)
}

func (c *cluster) waitLease(lease string, not *proc, within time.Duration) (*proc, uint64) {
	c.t.Helper()
	deadline := time.Now().Add(within)
	for {
		if r, tok := c.leaseHolder(lease); r != nil && r != not {
			return r, tok
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("no runner (other than %v) took the lease %s within %v", not, lease, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitRunning waits until the runner that holds the lease of job (see
// owner) is running job under its current token, and returns the runner,
// the token and the execution. The owner is read again each time: in
// balanced mode a job may move while the group settles.
func (c *cluster) waitRunning(job string, within time.Duration) (r *proc, token uint64, e *execution) {
	c.t.Helper()
	dbtest.WaitFor(c.t, within, "the runner that owns "+job+" to run it", func() bool {
		if r, token = c.owner(job); r == nil {
			return false
		}
		e = c.lastStartBy(r.owner, token, job)
		return e != nil
	})
	return r, token, e
}

// settle waits, in balanced mode, until the runners share the crontab's
// jobs evenly (each job of the tests' crontabs has a name= setting).
func (c *cluster) settle(within time.Duration) {
	c.t.Helper()
	if c.opts.balance {
		c.waitShares(c.runners, strings.Count(c.opts.crontab, "name="), within)
	}
}

// shares are the live owners of the group's job leases in balanced mode:
// the jobs each runner owns, by runner, and the jobs nobody owns.
func (c *cluster) shares() (owned map[*proc][]string, free []string) {
	rows, err := c.db.Query(`SELECT CONVERT(job USING utf8mb4), IF(holder IS NOT NULL AND expires_at > UTC_TIMESTAMP(6), CONVERT(holder USING utf8mb4), '')
		FROM leases WHERE group_name = ? ORDER BY job`, c.group)
	if err != nil {
		c.t.Fatal(err)
	}
	defer rows.Close()
	owned = map[*proc][]string{}
	for rows.Next() {
		var job, holder string
		if err := rows.Scan(&job, &holder); err != nil {
			c.t.Fatal(err)
		}
		if r := c.runner(holder); r != nil {
			owned[r] = append(owned[r], job)
		} else {
			free = append(free, job)
		}
	}
	if err := rows.Err(); err != nil {
		c.t.Fatal(err)
	}
	return owned, free
}

// waitShares waits until the given runners own jobs jobs between them,
// each ⌊jobs/n⌋ or ⌈jobs/n⌉, and no other runner owns one; it returns
// the shares.
func (c *cluster) waitShares(runners []*proc, jobs int, within time.Duration) map[*proc][]string {
	c.t.Helper()
	deadline := time.Now().Add(within)
	lo, hi := jobs/len(runners), (jobs+len(runners)-1)/len(runners)
	for {
		owned, free := c.shares()
		ok, total := len(free) == 0, 0
		for r, js := range owned {
			total += len(js)
			if !slices.Contains(runners, r) || len(js) < lo || len(js) > hi {
				ok = false
			}
		}
		for _, r := range runners {
			if len(owned[r]) < lo {
				ok = false
			}
		}
		if ok && total == jobs {
			return owned
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("the jobs did not settle at %d to %d each on %v within %v: owned %v, free %v", lo, hi, runners, within, owned, free)
		}
		time.Sleep(20 * time.Millisecond)
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
