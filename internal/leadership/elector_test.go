package leadership_test

import (
	"database/sql"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"

	"github.com/soloist-dev/soloist/internal/leadership"
)

func TestNewRejectsConfigsThatCannotWork(t *testing.T) {
	db, err := sql.Open("mysql", "u:p@tcp(127.0.0.1:1)/db") // never dialled
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	valid := func() leadership.Config {
		return leadership.Config{
			DB: db, Lock: "g", Owner: "o", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			TTL: 10 * time.Second, Interval: 3 * time.Second, Margin: 2 * time.Second,
		}
	}
	if _, err := leadership.New(valid()); err != nil {
		t.Fatalf("New(valid config): %v", err)
	}
	for _, tc := range []struct {
		name   string
		change func(*leadership.Config)
		want   string
	}{
		{"NoDatabase", func(c *leadership.Config) { c.DB = nil }, "DB is nil"},
		{"NoLock", func(c *leadership.Config) { c.Lock = "" }, "Lock is empty"},
		{"NoOwner", func(c *leadership.Config) { c.Owner = "" }, "Owner is empty"},
		{"NoLogger", func(c *leadership.Config) { c.Logger = nil }, "Logger is nil"},
		{"ZeroTTL", func(c *leadership.Config) { c.TTL = 0 }, "must all be positive"},
		{"ZeroInterval", func(c *leadership.Config) { c.Interval = 0 }, "must all be positive"},
		{"ZeroMargin", func(c *leadership.Config) { c.Margin = 0 }, "must all be positive"},
		{"TrustWindowNoLongerThanAnInterval", func(c *leadership.Config) { c.Margin = 7 * time.Second }, "must be longer than the Interval"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := valid()
			tc.change(&cfg)
			e, err := leadership.New(cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, %v; want an error saying %q", e, err, tc.want)
			}
		})
	}
}
