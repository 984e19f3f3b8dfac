package soloist_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/soloist-dev/soloist"
	"github.com/soloist-dev/soloist/internal/dbtest"
)

// gooseVersion is the stock goose CLI the DBA docs name. Built here with the
// tags that drop the drivers which do not build from the module proxy alone.
const gooseVersion = "v3.29.0"

// gooseCLI returns the path of the stock goose CLI, building it once into the
// user's cache directory (about 40 s the first time) when it is not there.
func gooseCLI(t *testing.T) string {
	t.Helper()
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	bin := filepath.Join(cache, "soloist", "goose-"+gooseVersion)
	exe := filepath.Join(bin, "goose")
	if _, err := os.Stat(exe); err == nil {
		return exe
	}
	t.Logf("building the stock goose CLI %s into %s", gooseVersion, bin)
	cmd := exec.Command("go", "install", "-tags=no_ydb no_libsql", "github.com/pressly/goose/v3/cmd/goose@"+gooseVersion)
	cmd.Env = append(os.Environ(), "GOBIN="+bin, "GOFLAGS=-buildvcs=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go install goose %s: %v\n%s\nInstall it by hand with: go install -tags='no_ydb no_libsql' github.com/pressly/goose/v3/cmd/goose@%s",
			gooseVersion, err, out, gooseVersion)
	}
	return exe
}

func goose(t *testing.T, exe, dsn string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, append([]string{"-dir", "sql", "mysql", dsn}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("goose %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestStockGooseCLIAppliesAndRevertsTheMigrations(t *testing.T) {
	t.Parallel()
	exe := gooseCLI(t)
	cli := dbtest.NewEmptyDatabase(t)
	fromGo := dbtest.NewDatabase(t)

	up := goose(t, exe, cli.DSN(), "up")
	if !strings.Contains(up, "successfully migrated database to version") {
		t.Fatalf("goose up said:\n%s", up)
	}
	if got, want := schema(t, cli.DB), schema(t, fromGo.DB); got != want {
		t.Fatalf("goose CLI installed a different schema:\n%s\nfrom Go:\n%s", got, want)
	}
	status := goose(t, exe, cli.DSN(), "status")
	if strings.Contains(status, "Pending") {
		t.Fatalf("goose status shows pending migrations after up:\n%s", status)
	}

	// The CLI's version table is the one Go reads and writes.
	p, err := soloist.NewMigrator(cli.DB)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := p.GetDBVersion(context.Background()); err != nil || v != soloist.SchemaVersion {
		t.Fatalf("version after goose up: %d, %v; want %d", v, err, soloist.SchemaVersion)
	}

	goose(t, exe, cli.DSN(), "down-to", "0")
	if left := schema(t, cli.DB); left != "" {
		t.Fatalf("objects left after goose down-to 0:\n%s", left)
	}
	if again := goose(t, exe, cli.DSN(), "up"); !strings.Contains(again, "successfully migrated database to version") {
		t.Fatalf("goose up after down-to 0 said:\n%s", again)
	}
	if got, want := schema(t, cli.DB), schema(t, fromGo.DB); got != want {
		t.Fatalf("goose up after down-to 0 installed a different schema:\n%s\nfrom Go:\n%s", got, want)
	}
	// And Go sees nothing left to do on what the CLI applied.
	if err := migrate(cli.DB); err != nil {
		t.Fatalf("migrate from Go after the CLI: %v", err)
	}
}
