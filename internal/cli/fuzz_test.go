package cli_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/soloist-dev/soloist/internal/cli"
)

// FuzzParseDSN feeds the DSN handling anything. It must never panic, must
// refuse with a message, must add what Soloist needs to what it accepts, and
// must never print a password. Seeds: testdata/fuzz/FuzzParseDSN and below.
func FuzzParseDSN(f *testing.F) {
	for _, s := range []string{
		"user:pass@tcp(db:3306)/soloist",
		"user:p@ss:w0rd@tcp(127.0.0.1:3306)/soloist?parseTime=false&loc=Local",
		"user@unix(/run/mysqld/mysqld.sock)/soloist?timeout=1s",
		"root@/soloist",
		"user:secret-password@tcp(db:3306)/",
		"user:secret@tcp(db:3306",
		"@/",
		"",
		"user:pw@tcp(db:3306)/db?tls=bogus",
		"user:pw@tcp([::1]:3306)/db?interpolateParams=false&timeout=-1s",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, dsn string) {
		cfg, err := cli.ParseDSN(dsn)
		red := cli.Redact(dsn)
		if parsed, perr := mysql.ParseDSN(dsn); perr == nil && len(parsed.Passwd) >= 6 &&
			!strings.Contains(strings.Replace(dsn, parsed.Passwd, "", 1), parsed.Passwd) && strings.Contains(red, parsed.Passwd) {
			t.Fatalf("Redact(%q) = %q shows the password", dsn, red)
		}
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			if p, perr := mysql.ParseDSN(dsn); perr == nil && len(p.Passwd) >= 6 && strings.Contains(err.Error(), p.Passwd) &&
				!strings.Contains(strings.Replace(dsn, p.Passwd, "", 1), p.Passwd) {
				t.Fatalf("the error for %q shows the password: %v", dsn, err)
			}
			return
		}
		if cfg.DBName == "" || !cfg.ParseTime || cfg.Loc != time.UTC || !cfg.InterpolateParams || cfg.Timeout <= 0 {
			t.Fatalf("accepted %q as %+v", dsn, cfg)
		}
		if _, err := mysql.NewConnector(cfg); err != nil && !errors.Is(err, errors.ErrUnsupported) {
			t.Logf("accepted %q; the driver refuses it at connect time: %v", dsn, err)
		}
	})
}
