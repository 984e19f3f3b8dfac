package cli

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/soloist-dev/soloist/internal/dberr"
	"github.com/soloist-dev/soloist/internal/report"
)

// dsnFlag adds --dsn and --dsn-file. After parse, the string holds the DSN
// from either; a file is read once, at start.
func (f *flags) dsnFlag() *string {
	f.dsn = f.String("dsn", "", "the database, as a go-sql-driver DSN: user:password@tcp(host:3306)/soloist; "+
		"visible to local users in ps on the command line, so prefer --dsn-file")
	f.dsnFile = f.String("dsn-file", "", "a file that holds the DSN, such as a systemd credential or a Kubernetes secret")
	return f.dsn
}

// readDSNFile fills the DSN from --dsn-file, which must not be given
// together with --dsn: both on the command line, or both in the
// environment (one on the command line overrides the environment's).
// Trailing white space (a file's newline) is dropped.
func (f *flags) readDSNFile() error {
	if f.dsnFile == nil || *f.dsnFile == "" {
		return nil
	}
	if *f.dsn != "" {
		return usagef("both a DSN and a DSN file are set (--dsn and --dsn-file, or SOLOIST_DSN and SOLOIST_DSN_FILE): keep one")
	}
	b, err := os.ReadFile(*f.dsnFile)
	if err != nil {
		return usagef("--dsn-file: %v", err)
	}
	*f.dsn = strings.TrimRight(string(b), " \t\r\n")
	if *f.dsn == "" {
		return usagef("--dsn-file %s is empty: it must hold a DSN such as user:password@tcp(db:3306)/soloist", *f.dsnFile)
	}
	return nil
}

// ParseDSN checks a go-sql-driver DSN and adds what Soloist needs: times as
// time.Time in UTC, interpolated parameters (one round trip per call), and a
// connect timeout. Errors are usage errors that say what to fix.
func ParseDSN(dsn string) (*mysql.Config, error) {
	if strings.TrimSpace(dsn) == "" {
		return nil, usagef("no database: set --dsn-file (SOLOIST_DSN_FILE) to a file holding a go-sql-driver DSN, or --dsn (SOLOIST_DSN) to the DSN itself, such as user:password@tcp(db:3306)/soloist")
	}
	cfg, err := mysql.ParseDSN(dsn)
	switch {
	case err != nil && !strings.Contains(dsn, "@"):
		// The driver's message may quote what it took for the network,
		// which is then the user and password.
		return nil, usagef("bad DSN %s: no @ between user:password and the address; the form is user:password@tcp(host:3306)/database?param=value", Redact(dsn))
	case err != nil:
		return nil, usagef("bad DSN %s: %v; the form is user:password@tcp(host:3306)/database?param=value", Redact(dsn), err)
	case !plausibleNet(cfg.Net):
		return nil, usagef("bad DSN %s: the text before the address is not a network such as tcp or unix: is the @ after user:password missing?", Redact(dsn))
	}
	if cfg.DBName == "" {
		return nil, usagef("the DSN %s names no database: end it with the schema's name, such as /soloist", redactConfig(cfg))
	}
	if cfg.Timeout < 0 || cfg.ReadTimeout < 0 || cfg.WriteTimeout < 0 {
		return nil, usagef("the DSN %s has a negative timeout, readTimeout or writeTimeout: use a positive duration such as 5s", redactConfig(cfg))
	}
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	cfg.InterpolateParams = true
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	return cfg, nil
}

// Redact returns a DSN without its password, for messages and logs. A DSN
// the driver cannot read shows only an address part that cannot hold the
// password: from the last @ on, when that looks like an address.
func Redact(dsn string) string {
	if cfg, err := mysql.ParseDSN(dsn); err == nil && plausibleNet(cfg.Net) {
		return redactConfig(cfg)
	}
	if i := strings.LastIndex(dsn, "@"); i >= 0 && addressPart.MatchString(dsn[i+1:]) {
		return "***" + dsn[i:]
	}
	return "***"
}

// addressPart is what may follow the @ of a DSN: an optional net(address),
// then / and the rest.
var addressPart = regexp.MustCompile(`^([a-z][a-z0-9]*\([^()]*\))?(/.*)?$`)

// plausibleNet reports whether the driver's network is a network's name, as
// tcp, tcp6 or unix, and not text that a missing @ left in front of the
// address (such as "user:password#tcp").
func plausibleNet(n string) bool { return n == "" || netName.MatchString(n) }

var netName = regexp.MustCompile(`^[a-z][a-z0-9]*$`)

func redactConfig(cfg *mysql.Config) string {
	addr := cfg.Addr
	if cfg.Net == "unix" {
		addr = "unix(" + addr + ")"
	} else {
		addr = cfg.Net + "(" + addr + ")"
	}
	return cfg.User + "@" + addr + "/" + cfg.DBName
}

// openDB opens and checks the database, turning the usual failures into
// messages that say what to do.
func openDB(ctx context.Context, dsn string) (*sql.DB, *mysql.Config, error) {
	db, cfg, err := lazyDB(dsn)
	if err != nil {
		return nil, nil, err
	}
	if err := ping(ctx, db, cfg); err != nil {
		db.Close()
		return nil, nil, err
	}
	return db, cfg, nil
}

// lazyDB opens a pool without connecting.
func lazyDB(dsn string) (*sql.DB, *mysql.Config, error) {
	cfg, err := ParseDSN(dsn)
	if err != nil {
		return nil, nil, err
	}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, nil, usagef("DSN %s: %v", redactConfig(cfg), err)
	}
	return sql.OpenDB(conn), cfg, nil
}

// ping connects once, to report a wrong address or password at start.
func ping(ctx context.Context, db *sql.DB, cfg *mysql.Config) error {
	pctx, cancel := context.WithTimeout(ctx, cfg.Timeout+5*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		return explainConnect(cfg, err)
	}
	return nil
}

// explainConnect says why a connection failed and what to check.
func explainConnect(cfg *mysql.Config, err error) error {
	where := redactConfig(cfg)
	switch kind := dberr.Classify(err); {
	case kind == dberr.LoginDenied:
		return fmt.Errorf("access denied for %s: check the user and password in the DSN (%v)", where, err)
	case kind == dberr.UnknownDatabase:
		return fmt.Errorf("database %q does not exist on %s: create it (CREATE DATABASE %s) or fix the DSN", cfg.DBName, cfg.Addr, cfg.DBName)
	case kind == dberr.NoPrivilege: // at connect: no privilege on the database at all
		return fmt.Errorf("user %q may not use database %q: grant it the procedures (soloist grants --help)", cfg.User, cfg.DBName)
	case kind == dberr.Connection, errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("cannot reach the database at %s: %v; is the server running, and is the address right?", where, err)
	}
	return fmt.Errorf("connect to %s: %w", where, err)
}

// notMigrated turns "procedure does not exist" and "access denied" into
// advice.
func notMigrated(err error) error { return report.Explain(err) }

// refusal is a procedure's refusal (SIGNAL SQLSTATE '45000') in its own words,
// without the driver's "Error 1644 (45000):", prefixed by what was refused.
// Any other error comes back as it is.
func refusal(what string, err error) error {
	var me *mysql.MySQLError
	if dberr.Signalled(err, "") && errors.As(err, &me) {
		return fmt.Errorf("%s: %s", what, me.Message)
	}
	return err
}
