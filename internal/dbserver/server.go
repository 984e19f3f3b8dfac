// Package dbserver starts throwaway MySQL-compatible servers for the tests, the
// demo and the benchmark, from the mariadbd or mysqld binary on PATH.
//
// A server gets its own temporary data directory, socket and random
// 127.0.0.1 port, and is started with --no-defaults so that nothing in
// /etc/mysql changes it. It is ready in about a second and goes away with
// Stop. Nothing here is a mock: every test talks to a real server.
package dbserver

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
)

// InstallHint is how to get a server when none is found. It ends every error
// that reports a missing server.
const InstallHint = "install one (Debian/Ubuntu: apt-get install -y mariadb-server) or set SOLOIST_TEST_DSN to a server where this user may create databases, e.g. SOLOIST_TEST_DSN='root:pw@tcp(127.0.0.1:3306)/'"

// ErrNoServer is returned by Start when neither mariadbd nor mysqld is found.
var ErrNoServer = errors.New("dbserver: no MySQL-compatible server binary (mariadbd or mysqld) on PATH or in /usr/sbin: " + InstallHint)

// Options tune a throwaway server. The zero value is what the tests use.
type Options struct {
	// MaxConnections is the server's max_connections. Default 500.
	MaxConnections int
	// Durable keeps innodb_flush_log_at_trx_commit=1 (an fsync per commit,
	// the server's default). The tests use 2, which survives a server restart
	// but not an operating-system crash, to run faster.
	Durable bool
	// Args are extra server arguments, such as "--innodb-buffer-pool-size=1G".
	Args []string
	// Env is extra environment for the server process, such as the
	// LD_PRELOAD and FAKETIME variables of libfaketime.
	Env []string
	// Dir is the data directory's parent. Default: a new directory under
	// os.TempDir, removed by Stop.
	Dir string
	// Log receives progress lines. Default: none.
	Log func(format string, args ...any)
	// User is the operating-system user the server runs as, such as "mysql"
	// (Galera's rsync state transfer fails when the server runs as root).
	// The server's directories are given to that user. It applies only when
	// this process runs as root; otherwise the server runs as this process's
	// user. Default: root.
	User string
}

// Server is a running throwaway server.
type Server struct {
	// Addr is the 127.0.0.1:port the server listens on.
	Addr string
	// Version is the server's version string, e.g. "10.11.19-MariaDB-0+deb12u1".
	Version string

	opts    Options
	bin     string
	mariadb bool
	dir     string
	ownDir  bool
	user    string              // the --user argument
	cred    *syscall.Credential // run the server as User; nil: as this process
	datadir string
	tmpdir  string
	port    int

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// binaries finds the server binary and the matching initialiser.
func binaries() (server, install string, err error) {
	look := func(names ...string) string {
		for _, n := range names {
			if p, err := exec.LookPath(n); err == nil {
				return p
			}
			for _, d := range []string{"/usr/sbin", "/usr/local/sbin", "/usr/local/mysql/bin"} {
				p := filepath.Join(d, n)
				if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
					return p
				}
			}
		}
		return ""
	}
	if s := look("mariadbd"); s != "" {
		if i := look("mariadb-install-db", "mysql_install_db"); i != "" {
			return s, i, nil
		}
		return "", "", fmt.Errorf("dbserver: found %s but not mariadb-install-db: %s", s, InstallHint)
	}
	if s := look("mysqld"); s != "" {
		return s, "", nil // MySQL initialises with mysqld --initialize-insecure
	}
	return "", "", ErrNoServer
}

// Start initialises a data directory and starts a server on a random port.
func Start(ctx context.Context, opts Options) (*Server, error) {
	s, err := prepare(ctx, opts)
	if err != nil {
		return nil, err
	}
	if err := s.start(ctx); err != nil {
		s.cleanup()
		return nil, err
	}
	return s, nil
}

// prepare initialises the data directory of a server that is not started
// yet.
func prepare(ctx context.Context, opts Options) (*Server, error) {
	bin, install, err := binaries()
	if err != nil {
		return nil, err
	}
	if opts.MaxConnections == 0 {
		opts.MaxConnections = 500
	}
	s := &Server{opts: opts, bin: bin, user: "root"}
	if out, err := exec.Command(bin, "--version").CombinedOutput(); err == nil {
		s.mariadb = bytes.Contains(bytes.ToLower(out), []byte("mariadb"))
	}
	if opts.User != "" && os.Geteuid() == 0 {
		s.user = opts.User
		if s.cred, err = credential(opts.User); err != nil {
			return nil, err
		}
	}
	if opts.Dir == "" {
		// Unix socket paths are limited to 108 bytes: keep the path short.
		s.dir, err = os.MkdirTemp("", "soloist-db-")
		if err != nil {
			return nil, fmt.Errorf("dbserver: %w", err)
		}
		s.ownDir = true
	} else {
		s.dir = opts.Dir
	}
	s.datadir = filepath.Join(s.dir, "data")
	// Each server gets its own temporary directory: concurrent bootstraps
	// sharing /tmp were seen to crash mariadb-install-db (Aria temporary
	// tables of two servers collide).
	s.tmpdir = filepath.Join(s.dir, "tmp")
	if err := os.MkdirAll(s.tmpdir, 0o700); err != nil {
		s.cleanup()
		return nil, fmt.Errorf("dbserver: %w", err)
	}
	if s.cred != nil {
		for _, d := range []string{s.dir, s.tmpdir} {
			if err := os.Chown(d, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
				s.cleanup()
				return nil, fmt.Errorf("dbserver: %w", err)
			}
		}
	}
	if err := s.initialise(ctx, install); err != nil {
		s.cleanup()
		return nil, err
	}
	return s, nil
}

// credential looks up the operating-system user a server runs as.
func credential(name string) (*syscall.Credential, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("dbserver: no operating-system user %q to run the server as (Debian/Ubuntu: apt-get install -y mariadb-server creates mysql): %w", name, err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("dbserver: user %s: uid %q: %w", name, u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("dbserver: user %s: gid %q: %w", name, u.Gid, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func (s *Server) logf(format string, args ...any) {
	if s.opts.Log != nil {
		s.opts.Log(format, args...)
	}
}

func (s *Server) initialise(ctx context.Context, install string) error {
	var cmd *exec.Cmd
	if install != "" {
		cmd = exec.CommandContext(ctx, install, "--no-defaults", "--datadir="+s.datadir, "--tmpdir="+s.tmpdir, "--user="+s.user,
			"--auth-root-authentication-method=normal", "--skip-test-db", "--innodb-log-file-size=16M")
	} else {
		cmd = exec.CommandContext(ctx, s.bin, "--no-defaults", "--initialize-insecure", "--datadir="+s.datadir, "--tmpdir="+s.tmpdir, "--user="+s.user)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("dbserver: initialise %s: %w\n%s", s.datadir, err, tail(out, 20))
	}
	return nil
}

// freePort asks the kernel for a free port on 127.0.0.1.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) args() []string {
	flush := "2"
	if s.opts.Durable {
		flush = "1"
	}
	a := []string{
		"--no-defaults", // must come first
		"--datadir=" + s.datadir,
		"--tmpdir=" + s.tmpdir,
		"--socket=" + filepath.Join(s.dir, "s.sock"),
		"--port=" + strconv.Itoa(s.port),
		"--bind-address=127.0.0.1",
		"--user=" + s.user,
		"--pid-file=" + filepath.Join(s.dir, "pid"),
		"--log-error=" + filepath.Join(s.dir, "err.log"),
		"--max-connections=" + strconv.Itoa(s.opts.MaxConnections),
		"--innodb-flush-log-at-trx-commit=" + flush,
		"--innodb-log-file-size=16M",
		"--character-set-server=utf8mb4",
		"--collation-server=utf8mb4_general_ci",
		"--skip-name-resolve",
	}
	if !s.mariadb {
		a = append(a, "--mysqlx=OFF") // no second listener on a fixed port
	}
	return append(a, s.opts.Args...)
}

// start launches the server on the existing data directory and waits until it
// answers. It picks a free port on first start (another process may take it
// before the server binds it, hence the retries) and keeps it across restarts.
func (s *Server) start(ctx context.Context) error {
	restart := s.Addr != ""
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		if !restart {
			p, err := freePort()
			if err != nil {
				return fmt.Errorf("dbserver: %w", err)
			}
			s.port = p
		}
		if lastErr = s.startOnce(ctx); lastErr == nil {
			s.Addr = s.addr()
			return nil
		}
		if restart {
			time.Sleep(200 * time.Millisecond)
		}
	}
	return lastErr
}

func (s *Server) startOnce(ctx context.Context) error {
	_ = os.Remove(filepath.Join(s.dir, "err.log"))
	cmd := exec.Command(s.bin, s.args()...)
	cmd.Env = append(os.Environ(), s.opts.Env...)
	// The server dies with the process that started it, even on kill -9.
	// A server that is to run as another user is started as that user: one
	// that switched users itself would lose its parent-death signal.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true, Credential: s.cred}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("dbserver: start %s: %w", s.bin, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()

	deadline := time.Now().Add(60 * time.Second)
	for {
		db, err := sql.Open("mysql", s.Config("").FormatDSN())
		if err == nil {
			pctx, cancel := context.WithTimeout(ctx, time.Second)
			err = db.QueryRowContext(pctx, "SELECT VERSION()").Scan(&s.Version)
			cancel()
			db.Close()
			if err == nil {
				s.logf("dbserver: %s %s ready on %s (data %s)", filepath.Base(s.bin), s.Version, s.addr(), s.datadir)
				return nil
			}
		}
		select {
		case <-done:
			return fmt.Errorf("dbserver: %s exited during start-up:\n%s", s.bin, s.errLog(30))
		case <-ctx.Done():
			s.kill()
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.kill()
			return fmt.Errorf("dbserver: %s did not answer within 60s: %v\n%s", s.bin, err, s.errLog(30))
		}
	}
}

func (s *Server) addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// Config is the driver configuration for root on database db.
func (s *Server) Config(db string) *mysql.Config {
	cfg := mysql.NewConfig()
	cfg.User = "root"
	cfg.Net = "tcp"
	cfg.Addr = s.addr()
	cfg.DBName = db
	cfg.ParseTime = true
	cfg.Timeout = 5 * time.Second
	return cfg
}

// DSN is root's data source name for database db ("" for none).
func (s *Server) DSN(db string) string { return s.Config(db).FormatDSN() }

// Pid is the server's process id, or 0 when it is not running.
func (s *Server) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Stop shuts the server down with SIGTERM and waits for it, keeping the data
// directory so that Restart can start it again.
func (s *Server) Stop() error {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
		return nil
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		return errors.New("dbserver: server ignored SIGTERM for 60s; killed")
	}
}

func (s *Server) kill() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd != nil {
		_ = cmd.Process.Kill()
		<-done
	}
}

// Restart stops the server and starts it again on the same data directory
// and port, as an operator restarting the database would.
func (s *Server) Restart(ctx context.Context) error {
	if err := s.Stop(); err != nil {
		return err
	}
	return s.start(ctx)
}

// Boot starts a server that Stop stopped, on the same data directory and
// port.
func (s *Server) Boot(ctx context.Context) error { return s.start(ctx) }

// Close stops the server and removes its directory, if Start created it.
func (s *Server) Close() error {
	err := s.Stop()
	s.cleanup()
	return err
}

func (s *Server) cleanup() {
	if s.ownDir {
		_ = os.RemoveAll(s.dir)
	}
}

func (s *Server) errLog(lines int) string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "err.log"))
	return tail(b, lines)
}

func tail(b []byte, n int) string {
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
