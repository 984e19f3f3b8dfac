package dbserver

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
)

// GaleraInstallHint is how to get what a Galera cluster needs besides
// MariaDB. The error that reports a missing piece ends with it (naming more
// packages when the state transfer's other tools are missing too).
const GaleraInstallHint = "install them (Debian/Ubuntu: apt-get install -y galera-4 rsync)"

// galeraProviders are where distributions put the Galera 4 provider.
var galeraProviders = []string{
	"/usr/lib/galera/libgalera_smm.so",     // Debian, Ubuntu
	"/usr/lib/libgalera_smm.so",            // Debian's compatibility link
	"/usr/lib64/galera-4/libgalera_smm.so", // RHEL, Fedora
	"/usr/lib64/galera/libgalera_smm.so",
}

// GaleraOptions tune a throwaway Galera cluster. The zero value is what the
// tests use.
type GaleraOptions struct {
	// Name is the cluster's name (wsrep_cluster_name). Default "soloist".
	Name string
	// User is the operating-system user the nodes run as when this process
	// runs as root. Default "mysql": the rsync state transfer fails as root.
	User string
	// ProviderOptions are extra wsrep_provider_options, separated by
	// semicolons, such as "evs.suspect_timeout=PT1S". Default: none, so the
	// cluster detects a dead node as a production cluster with Galera's
	// defaults does (evs.suspect_timeout=PT5S).
	ProviderOptions string
	// Args are extra server arguments for every node.
	Args []string
	// Log receives progress lines. Default: none.
	Log func(format string, args ...any)
}

// Galera is a running throwaway MariaDB Galera cluster on 127.0.0.1: every
// node is a server of its own (see Server) with the wsrep provider loaded,
// joined to the others over loopback with rsync state transfers.
type Galera struct {
	// Nodes are the cluster's nodes, in the order they joined.
	Nodes []*GaleraNode
	// Addr is a 127.0.0.1 address that forwards each new connection to the
	// first node that is running, as a load balancer in front of the cluster
	// would: a pool connected to it survives the loss of any one node.
	Addr string

	opts GaleraOptions
	lb   *forwarder
}

// GaleraNode is one node of a Galera cluster.
type GaleraNode struct {
	// Index is the node's position in Galera.Nodes.
	Index int
	// Addr is the 127.0.0.1:port the node serves SQL on.
	Addr string

	srv  *Server
	args []string // the node's Galera arguments, for every start after the first
	mu   sync.Mutex
	up   bool
}

// galeraPorts are the ports a node needs besides SQL.
type galeraPorts struct{ gcomm, ist, sst int }

// galeraTools finds the wsrep provider and checks that the rsync state
// transfer can run.
func galeraTools() (provider string, err error) {
	for _, p := range galeraProviders {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			provider = p
			break
		}
	}
	var missing, extra []string // extra: packages besides galera-4 and rsync
	need := func(what, pkg string) {
		missing = append(missing, what)
		if pkg != "galera-4" && pkg != "rsync" {
			extra = append(extra, pkg)
		}
	}
	if provider == "" {
		need("the Galera 4 provider libgalera_smm.so (in "+strings.Join(galeraProviders, ", ")+")", "galera-4")
	}
	if _, err := exec.LookPath("rsync"); err != nil {
		need("rsync on PATH", "rsync")
	}
	if _, err := exec.LookPath("wsrep_sst_rsync"); err != nil {
		need("wsrep_sst_rsync on PATH", "mariadb-server")
	}
	if !onPath("ss", "lsof", "sockstat") {
		need("ss on PATH, which wsrep_sst_rsync uses", "iproute2")
	}
	if len(missing) > 0 {
		hint := GaleraInstallHint
		if len(extra) > 0 {
			hint = "install them (Debian/Ubuntu: apt-get install -y galera-4 rsync " + strings.Join(extra, " ") + ")"
		}
		return "", fmt.Errorf("dbserver: a Galera cluster needs %s: %s", strings.Join(missing, "; "), hint)
	}
	bin, install, err := binaries()
	if err != nil {
		return "", err
	}
	if install == "" {
		return "", fmt.Errorf("dbserver: a Galera cluster needs MariaDB (mariadbd), found %s: install it (Debian/Ubuntu: apt-get install -y mariadb-server galera-4 rsync)", bin)
	}
	return provider, nil
}

func onPath(names ...string) bool {
	for _, n := range names {
		if _, err := exec.LookPath(n); err == nil {
			return true
		}
		for _, d := range []string{"/usr/sbin", "/sbin"} {
			if _, err := os.Stat(d + "/" + n); err == nil {
				return true
			}
		}
	}
	return false
}

// StartGalera starts an n-node Galera cluster on 127.0.0.1: it initialises
// every node's data directory, bootstraps the first node with
// --wsrep-new-cluster, joins the others one at a time (rsync state
// transfer) and returns when every node is synced in one cluster of n. It
// fails, never skips, when Galera or rsync is missing, saying how to
// install them.
func StartGalera(ctx context.Context, n int, opts GaleraOptions) (*Galera, error) {
	if n < 1 {
		return nil, fmt.Errorf("dbserver: a Galera cluster needs at least one node, not %d", n)
	}
	provider, err := galeraTools()
	if err != nil {
		return nil, err
	}
	if opts.Name == "" {
		opts.Name = "soloist"
	}
	if opts.User == "" {
		opts.User = "mysql"
	}
	g := &Galera{opts: opts}
	ports := make([]galeraPorts, n)
	gcomm := make([]string, n)
	for i := range ports {
		for _, p := range []*int{&ports[i].gcomm, &ports[i].ist, &ports[i].sst} {
			if *p, err = freePort(); err != nil {
				return nil, fmt.Errorf("dbserver: %w", err)
			}
		}
		gcomm[i] = "127.0.0.1:" + strconv.Itoa(ports[i].gcomm)
	}

	// Initialise the data directories side by side: each server has its own
	// tmpdir, so concurrent bootstraps do not collide.
	g.Nodes = make([]*GaleraNode, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			p := ports[i]
			po := "gmcast.listen_addr=tcp://" + gcomm[i] + ";ist.recv_addr=127.0.0.1:" + strconv.Itoa(p.ist)
			if opts.ProviderOptions != "" {
				po += ";" + opts.ProviderOptions
			}
			args := append([]string{
				"--wsrep-on=ON",
				"--wsrep-provider=" + provider,
				"--wsrep-cluster-name=" + opts.Name,
				"--wsrep-cluster-address=gcomm://" + strings.Join(gcomm, ","),
				"--wsrep-node-address=" + gcomm[i],
				"--wsrep-node-name=node" + strconv.Itoa(i),
				"--wsrep-provider-options=" + po,
				"--wsrep-sst-method=rsync",
				"--wsrep-sst-receive-address=127.0.0.1:" + strconv.Itoa(p.sst),
				"--binlog-format=ROW",
				"--innodb-autoinc-lock-mode=2",
				"--default-storage-engine=InnoDB",
			}, opts.Args...)
			srv, err := prepare(ctx, Options{User: opts.User, Args: args, Log: opts.Log})
			if err != nil {
				errs[i] = fmt.Errorf("node %d: %w", i, err)
				return
			}
			g.Nodes[i] = &GaleraNode{Index: i, srv: srv, args: args}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		g.Close()
		return nil, err
	}

	// The first node founds the cluster; the others join it one by one (a
	// donor serves one state transfer at a time).
	first := g.Nodes[0]
	first.srv.opts.Args = append(append([]string{}, first.args...), "--wsrep-new-cluster")
	err = g.boot(ctx, first)
	first.srv.opts.Args = first.args // restarts join the running cluster
	if err != nil {
		g.Close()
		return nil, err
	}
	for _, node := range g.Nodes[1:] {
		if err := g.boot(ctx, node); err != nil {
			g.Close()
			return nil, err
		}
	}
	if err := g.WaitSynced(ctx); err != nil {
		g.Close()
		return nil, err
	}
	g.lb, err = newForwarder(g.firstUp)
	if err != nil {
		g.Close()
		return nil, err
	}
	g.Addr = g.lb.addr
	g.logf("dbserver: Galera cluster %q of %d nodes ready, any node at %s", opts.Name, n, g.Addr)
	return g, nil
}

func (g *Galera) logf(format string, args ...any) {
	if g.opts.Log != nil {
		g.opts.Log(format, args...)
	}
}

// boot starts a node's server and waits until it is synced with the others
// that are up.
func (g *Galera) boot(ctx context.Context, node *GaleraNode) error {
	started := time.Now()
	if err := node.srv.start(ctx); err != nil {
		return fmt.Errorf("dbserver: Galera node %d: %w", node.Index, err)
	}
	node.mu.Lock()
	if node.Addr == "" { // a restart keeps the port: Addr never changes once set
		node.Addr = node.srv.Addr
	}
	node.up = true
	node.mu.Unlock()
	if err := g.waitNode(ctx, node, g.upCount()); err != nil {
		return err
	}
	g.logf("dbserver: Galera node %d synced on %s after %v", node.Index, node.Addr, time.Since(started).Round(time.Millisecond))
	return nil
}

// waitNode waits until node says it is synced and ready in a cluster of
// size nodes.
func (g *Galera) waitNode(ctx context.Context, node *GaleraNode, size int) error {
	db, err := sql.Open("mysql", node.srv.Config("").FormatDSN())
	if err != nil {
		return err
	}
	defer db.Close()
	deadline := time.Now().Add(2 * time.Minute)
	var state string
	for {
		var st map[string]string
		st, err = wsrepStatus(ctx, db)
		if err == nil {
			state = fmt.Sprintf("wsrep_ready=%s wsrep_local_state_comment=%s wsrep_cluster_size=%s",
				st["wsrep_ready"], st["wsrep_local_state_comment"], st["wsrep_cluster_size"])
			if st["wsrep_ready"] == "ON" && st["wsrep_local_state_comment"] == "Synced" && st["wsrep_cluster_size"] == strconv.Itoa(size) {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("dbserver: Galera node %d not synced in a cluster of %d within 2 minutes (%s, %v):\n%s",
				node.Index, size, state, err, node.srv.errLog(40))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func wsrepStatus(ctx context.Context, db *sql.DB) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	rows, err := db.QueryContext(ctx, "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_ready', 'wsrep_local_state_comment', 'wsrep_cluster_size')")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	st := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		st[strings.ToLower(k)] = v
	}
	return st, rows.Err()
}

// WaitSynced waits until every running node is synced in one cluster made
// of exactly the running nodes: after Kill, until the others have noticed
// (by Galera's default timeouts, about 6 seconds, during which commits on
// every node stall).
func (g *Galera) WaitSynced(ctx context.Context) error {
	size := g.upCount()
	for _, node := range g.Nodes {
		if node.Up() {
			if err := g.waitNode(ctx, node, size); err != nil {
				return err
			}
		}
	}
	return nil
}

// WaitApplied waits until every running node has committed the same
// replicated transactions (the same wsrep_last_committed twice in a row),
// so that a read on any node sees every write made so far. Galera applies
// other nodes' writes after they commit: without this, a read may miss them.
func (g *Galera) WaitApplied(ctx context.Context) error {
	deadline := time.Now().Add(time.Minute)
	var last string
	for {
		var seen []string
		for _, node := range g.Nodes {
			if !node.Up() {
				continue
			}
			var name, seqno string
			err := func() error {
				db, err := sql.Open("mysql", node.srv.Config("").FormatDSN())
				if err != nil {
					return err
				}
				defer db.Close()
				qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				defer cancel()
				return db.QueryRowContext(qctx, "SHOW GLOBAL STATUS LIKE 'wsrep_last_committed'").Scan(&name, &seqno)
			}()
			if err != nil {
				seqno = "?" + err.Error()
			}
			seen = append(seen, seqno)
		}
		now := strings.Join(seen, ",")
		same := len(seen) > 0
		for _, s := range seen {
			same = same && s == seen[0] && !strings.HasPrefix(s, "?")
		}
		if same && now == last {
			return nil
		}
		last = now
		if time.Now().After(deadline) {
			return fmt.Errorf("dbserver: Galera nodes did not converge within a minute: last committed %s", now)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (g *Galera) upCount() int {
	n := 0
	for _, node := range g.Nodes {
		if node != nil && node.Up() {
			n++
		}
	}
	return n
}

// firstUp is the address of the first running node, or "" if none runs.
func (g *Galera) firstUp() string {
	for _, node := range g.Nodes {
		node.mu.Lock()
		up, addr := node.up, node.Addr
		node.mu.Unlock()
		if up {
			return addr
		}
	}
	return ""
}

// Kill kills node i with SIGKILL, as a crash or an out-of-memory kill would,
// and waits for it to exit. Its data directory stays for Restart.
func (g *Galera) Kill(i int) {
	node := g.Nodes[i]
	node.mu.Lock()
	node.up = false
	node.mu.Unlock()
	node.srv.kill()
	g.logf("dbserver: Galera node %d killed", i)
}

// Restart starts a node that Kill killed, on its data directory and ports,
// and waits until it has rejoined the cluster (by incremental or full state
// transfer) and every running node is synced.
func (g *Galera) Restart(ctx context.Context, i int) error {
	node := g.Nodes[i]
	if node.Up() {
		return fmt.Errorf("dbserver: Galera node %d is running", i)
	}
	if err := g.boot(ctx, node); err != nil {
		return err
	}
	return g.WaitSynced(ctx)
}

// DSN is root's data source name for database db ("" for none) through
// Addr, the address that reaches whichever node runs.
func (g *Galera) DSN(db string) string {
	cfg := g.Nodes[0].srv.Config(db)
	cfg.Addr = g.Addr
	return cfg.FormatDSN()
}

// Close stops every node, removes their directories and stops forwarding.
func (g *Galera) Close() error {
	if g.lb != nil {
		g.lb.close()
	}
	errs := make([]error, len(g.Nodes))
	var wg sync.WaitGroup
	for i, node := range g.Nodes {
		if node == nil {
			continue
		}
		wg.Go(func() {
			node.mu.Lock()
			node.up = false
			node.mu.Unlock()
			errs[i] = node.srv.Close()
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Up reports whether the node runs (it was not killed, or was restarted).
func (n *GaleraNode) Up() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.up
}

// Config is root's driver configuration for database db on this node.
func (n *GaleraNode) Config(db string) *mysql.Config { return n.srv.Config(db) }

// DSN is root's data source name for database db ("" for none) on this node.
func (n *GaleraNode) DSN(db string) string { return n.srv.DSN(db) }

// Pid is the node's server process id, or 0 when it is not running.
func (n *GaleraNode) Pid() int { return n.srv.Pid() }

// ErrLog is the end of the node's error log, for a test that failed.
func (n *GaleraNode) ErrLog(lines int) string { return n.srv.errLog(lines) }

// forwarder accepts connections on 127.0.0.1 and forwards each to the
// address pick returns when it is accepted.
type forwarder struct {
	addr string
	ln   net.Listener
	pick func() string

	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

func newForwarder(pick func() string) (*forwarder, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("dbserver: %w", err)
	}
	f := &forwarder{addr: ln.Addr().String(), ln: ln, pick: pick, conns: map[net.Conn]struct{}{}}
	f.wg.Add(1)
	go f.serve()
	return f, nil
}

func (f *forwarder) serve() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.wg.Add(1)
		go f.forward(c)
	}
}

func (f *forwarder) forward(c net.Conn) {
	defer f.wg.Done()
	to := f.pick()
	var u net.Conn
	var err error
	if to != "" {
		u, err = net.DialTimeout("tcp", to, 2*time.Second)
	}
	if to == "" || err != nil {
		c.Close()
		return
	}
	if !f.track(c, u) {
		return
	}
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(u, c)
		u.Close()
		c.Close()
		close(done)
	}()
	_, _ = io.Copy(c, u)
	c.Close()
	u.Close()
	<-done
	f.untrack(c, u)
}

// track registers a forwarded pair, or closes it if the forwarder is closed.
func (f *forwarder) track(conns ...net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		for _, c := range conns {
			c.Close()
		}
		return false
	}
	for _, c := range conns {
		f.conns[c] = struct{}{}
	}
	return true
}

func (f *forwarder) untrack(conns ...net.Conn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range conns {
		delete(f.conns, c)
	}
}

// close stops accepting, closes every forwarded connection and waits for
// the goroutines.
func (f *forwarder) close() {
	f.ln.Close()
	f.mu.Lock()
	f.closed = true
	for c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
}
