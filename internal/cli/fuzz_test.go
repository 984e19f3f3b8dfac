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
		// What Redact prints must not depend on the password: the same DSN
		// with another password redacts to the same text. (A plain "does
		// the output contain the password" check is wrong for a password
		// like "u@" next to the user "u".)
		if parsed, perr := mysql.ParseDSN(dsn); perr == nil && parsed.Passwd != "" {
			other := parsed.Clone()
			other.Passwd = "another password"
			again, aerr := mysql.ParseDSN(other.FormatDSN())
			if aerr == nil && again.User == parsed.User && again.Net == parsed.Net && again.Addr == parsed.Addr && again.DBName == parsed.DBName {
				if r := cli.Redact(other.FormatDSN()); r != red {
					t.Fatalf("Redact(%q) = %q, but with another password %q: it shows the password", dsn, red, r)
				}
			}
		}
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			// Errors may quote the redacted DSN (checked above); nothing else
			// in them may show the password.
			if p, perr := mysql.ParseDSN(dsn); perr == nil && len(p.Passwd) >= 6 &&
				strings.Contains(strings.ReplaceAll(err.Error(), red, ""), p.Passwd) &&
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
