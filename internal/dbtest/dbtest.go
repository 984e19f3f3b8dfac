// Package dbtest is the test harness over internal/dbserver: TestMain starts
// one throwaway server per test binary (or uses the one SOLOIST_TEST_DSN
// names), each test gets a fresh database of its own, and goleak checks that
// no goroutine outlives the tests. A test that cannot get a server fails
// with the command that installs one; it never skips.
//
// Only tests import it: the demo and the benchmark use dbserver directly, so
// no binary links testing or goleak.
package dbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"go.uber.org/goleak"

	"github.com/soloist-dev/soloist"
	"github.com/soloist-dev/soloist/internal/dbserver"
)

// EnvDSN names the environment variable that points the tests at an existing
// server instead of a throwaway one. Its user must be able to create and drop
// databases and users.
const EnvDSN = "SOLOIST_TEST_DSN"

// shared is the server of one test binary, set up by Main.
var shared struct {
	server *dbserver.Server // nil when EnvDSN is used
	base   *mysql.Config    // admin connection settings, without a database
	admin  *sql.DB

	exampleDBs []string // dropped after the tests
	atExit     []func()
}

// AtExit registers fn to run after the package's tests, before Main exits.
func AtExit(fn func()) { shared.atExit = append(shared.atExit, fn) }

// Main runs a package's tests against a real server: the one EnvDSN names, or
// a throwaway server started from the binaries on PATH. Without either it
// fails the whole package with a message that says how to install one; it
// never skips. After the tests it checks for leaked goroutines (goleak) with
// opts.
func Main(m *testing.M, opts ...goleak.Option) {
	os.Exit(run(m, opts))
}

func run(m *testing.M, opts []goleak.Option) int {
	// The driver logs broken connections on its own; the fault tests break
	// many on purpose.
	_ = mysql.SetLogger(quiet{})
	if err := setUp(); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: the tests need a MySQL-compatible server: %v\n", err)
		return 1
	}
	code := m.Run()
	for _, fn := range shared.atExit {
		fn()
	}
	for _, name := range shared.exampleDBs {
		_, _ = shared.admin.Exec("DROP DATABASE IF EXISTS " + name)
	}
	shared.admin.Close()
	if shared.server != nil {
		if err := shared.server.Close(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}
	if code == 0 {
		if err := goleak.Find(opts...); err != nil {
			fmt.Fprintf(os.Stderr, "FAIL: goroutines leaked: %v\n", err)
			return 1
		}
	}
	return code
}

func setUp() error {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if dsn := os.Getenv(EnvDSN); dsn != "" {
		cfg, err := mysql.ParseDSN(dsn)
		if err != nil {
			return fmt.Errorf("%s: %w", EnvDSN, err)
		}
		cfg.DBName = ""
		cfg.ParseTime = true
		shared.base = cfg
	} else {
		srv, err := dbserver.Start(ctx, dbserver.Options{})
		if err != nil {
			return err
		}
		shared.server = srv
		shared.base = srv.Config("")
	}
	db, err := sql.Open("mysql", shared.base.FormatDSN())
	if err != nil {
		return err
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		if shared.server != nil {
			shared.server.Close()
		}
		return fmt.Errorf("connect to %s: %w; %s", shared.base.Addr, err, dbserver.InstallHint)
	}
	db.SetMaxIdleConns(2)
	shared.admin = db
	return nil
}

type quiet struct{}

func (quiet) Print(...any) {}

// SharedServer is the throwaway server of this test binary, or nil when the
// tests run against the server that EnvDSN names.
func SharedServer() *dbserver.Server { return shared.server }

// Database is a fresh database on the test server.
type Database struct {
	// DB is a pool connected to the database with Config.
	DB *sql.DB
	// Name is the database (schema) name.
	Name string
	// Config holds the connection settings; copy it before changing it.
	Config *mysql.Config
}

// DSN is the data source name of the database.
func (d *Database) DSN() string { return d.Config.FormatDSN() }

// Open opens another pool on the database, with changes applied to a copy of
// its configuration (for example a session time zone). The pool is closed
// when the test ends.
func (d *Database) Open(t testing.TB, change func(*mysql.Config)) *sql.DB {
	t.Helper()
	cfg := d.Config.Clone()
	if change != nil {
		change(cfg)
	}
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatalf("dbtest: open %s: %v", d.Name, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// NewDatabase creates a database for one test with every migration applied,
// and drops it when the test ends. MySQL cannot roll DDL back, so every test
// gets its own.
func NewDatabase(t testing.TB) *Database {
	t.Helper()
	d := NewEmptyDatabase(t)
	if err := soloist.Migrate(context.Background(), d.DB); err != nil {
		t.Fatalf("dbtest: migrate %s: %v", d.Name, err)
	}
	return d
}

// NewEmptyDatabase creates a database without the schema, for one test.
func NewEmptyDatabase(t testing.TB) *Database {
	t.Helper()
	if shared.admin == nil {
		t.Fatal("dbtest: no server: call dbtest.Main(m) from TestMain; " + dbserver.InstallHint)
	}
	ctx := context.Background()
	name := "soloist_t_" + randomHex(6)
	if _, err := shared.admin.ExecContext(ctx, "CREATE DATABASE "+name+" CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"); err != nil {
		t.Fatalf("dbtest: create database: %v", err)
	}
	cfg := shared.base.Clone()
	cfg.DBName = name
	cfg.InterpolateParams = true
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatalf("dbtest: open %s: %v", name, err)
	}
	t.Cleanup(func() {
		db.Close()
		if _, err := shared.admin.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name); err != nil {
			t.Errorf("dbtest: drop database %s: %v", name, err)
		}
	})
	return &Database{DB: db, Name: name, Config: cfg}
}

// NewUser creates a user with the given password and grants, where each
// grant is the part of a GRANT statement before " TO", with {db} replaced by
// the database name. The user is dropped when the test ends. It returns a
// configuration for connecting to d as that user.
func (d *Database) NewUser(t testing.TB, grants ...string) *mysql.Config {
	t.Helper()
	ctx := context.Background()
	user := "u_" + randomHex(6)
	pass := "pw-" + randomHex(8)
	// '%' covers TCP from 127.0.0.1 with skip-name-resolve.
	account := fmt.Sprintf("'%s'@'%%'", user)
	if _, err := shared.admin.ExecContext(ctx, "CREATE USER "+account+" IDENTIFIED BY '"+pass+"'"); err != nil {
		t.Fatalf("dbtest: create user: %v", err)
	}
	t.Cleanup(func() { _, _ = shared.admin.ExecContext(context.Background(), "DROP USER IF EXISTS "+account) })
	for _, g := range grants {
		stmt := strings.ReplaceAll(g, "{db}", d.Name) + " TO " + account
		if _, err := shared.admin.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("dbtest: %s: %v", stmt, err)
		}
	}
	cfg := d.Config.Clone()
	cfg.User, cfg.Passwd = user, pass
	return cfg
}

// ExampleDSN creates a migrated database for a runnable Example, which has
// no *testing.T, and returns its DSN. Main drops it after the tests.
func ExampleDSN() string {
	ctx := context.Background()
	name := "soloist_x_" + randomHex(6)
	if _, err := shared.admin.ExecContext(ctx, "CREATE DATABASE "+name+" CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"); err != nil {
		panic(err)
	}
	shared.exampleDBs = append(shared.exampleDBs, name)
	cfg := shared.base.Clone()
	cfg.DBName = name
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		panic(err)
	}
	defer db.Close()
	if err := soloist.Migrate(ctx, db); err != nil {
		panic(err)
	}
	return cfg.FormatDSN()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// WaitFor calls cond every 20 ms until it holds, and fails the test if it
// does not within d; what names the wait in the failure.
func WaitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
