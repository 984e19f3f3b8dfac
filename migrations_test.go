package soloist_test

import (
	"context"
	"database/sql"
	"flag"
	"io/fs"
	"os"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/soloist-dev/soloist"
	"github.com/soloist-dev/soloist/internal/dberr"
	"github.com/soloist-dev/soloist/internal/dbtest"
)

func migrate(db *sql.DB) error { return soloist.Migrate(context.Background(), db) }

// schema is every table, view and routine of the current database as the
// server shows them, in a stable order, without values that change on their
// own (AUTO_INCREMENT counters, the definer).
func schema(t testing.TB, db *sql.DB) string {
	t.Helper()
	rows, err := db.Query(`
		SELECT 'TABLE', TABLE_NAME FROM information_schema.TABLES
		 WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' AND TABLE_NAME NOT IN ('goose_db_version', 'goose_lock')
		UNION ALL
		SELECT 'VIEW', TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA = DATABASE()
		UNION ALL
		SELECT ROUTINE_TYPE, ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE()
		ORDER BY 1, 2`)
	if err != nil {
		t.Fatal(err)
	}
	type object struct{ kind, name string }
	var objects []object
	for rows.Next() {
		var o object
		if err := rows.Scan(&o.kind, &o.name); err != nil {
			t.Fatal(err)
		}
		objects = append(objects, o)
	}
	rows.Close()
	volatile := regexp.MustCompile(` AUTO_INCREMENT=\d+| DEFINER=\S+`)
	var b strings.Builder
	for _, o := range objects {
		b.WriteString(showCreate(t, db, o.kind, o.name, volatile))
		b.WriteString("\n")
	}
	return b.String()
}

func showCreate(t testing.TB, db *sql.DB, kind, name string, volatile *regexp.Regexp) string {
	t.Helper()
	rows, err := db.Query("SHOW CREATE " + kind + " `" + name + "`")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if !rows.Next() {
		t.Fatalf("SHOW CREATE %s %s: no row", kind, name)
	}
	if err := rows.Scan(ptrs...); err != nil {
		t.Fatal(err)
	}
	var parts []string
	for i, c := range cols {
		if strings.HasPrefix(c, "Create") || c == "sql_mode" || strings.HasPrefix(c, "character_set") || strings.HasPrefix(c, "collation") {
			parts = append(parts, c+": "+volatile.ReplaceAllString(vals[i].String, ""))
		}
	}
	return kind + " " + name + "\n" + strings.Join(parts, "\n")
}

func TestMigrationsUpDownToZeroAndUpAgainLeaveAnIdenticalSchema(t *testing.T) {
	t.Parallel()
	d := dbtest.NewEmptyDatabase(t)
	ctx := context.Background()
	if err := migrate(d.DB); err != nil {
		t.Fatal(err)
	}
	first := schema(t, d.DB)
	if !strings.Contains(first, "PROCEDURE try_acquire") {
		t.Fatalf("no try_acquire after up:\n%s", first)
	}
	p, err := soloist.NewMigrator(d.DB)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if empty := schema(t, d.DB); empty != "" {
		t.Fatalf("objects left after down to zero:\n%s", empty)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatal(err)
	}
	if again := schema(t, d.DB); again != first {
		t.Fatalf("schema after up, down, up differs:\n%s\nfirst:\n%s", again, first)
	}
}

func TestEachDownRestoresTheSchemaBeforeItsUp(t *testing.T) {
	t.Parallel()
	d := dbtest.NewEmptyDatabase(t)
	ctx := context.Background()
	p, err := soloist.NewMigrator(d.DB)
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range p.ListSources() {
		before := schema(t, d.DB)
		if _, err := p.UpByOne(ctx); err != nil {
			t.Fatalf("up %s: %v", path.Base(src.Path), err)
		}
		if _, err := p.Down(ctx); err != nil {
			t.Fatalf("down %s: %v", path.Base(src.Path), err)
		}
		if after := schema(t, d.DB); after != before {
			t.Fatalf("down of %s left:\n%s\nwant:\n%s", path.Base(src.Path), after, before)
		}
		if _, err := p.UpByOne(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// TestProceduresMatchTheirCanonicalSource installs procedures/*.sql into one
// database and the migrations into another, and compares what the server
// holds: the migrations must install exactly the procedures/ sources.
func TestProceduresMatchTheirCanonicalSource(t *testing.T) {
	t.Parallel()
	migrated := dbtest.NewDatabase(t)
	canonical := dbtest.NewEmptyDatabase(t)

	files, err := os.ReadDir("procedures")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		name, ok := strings.CutSuffix(f.Name(), ".sql")
		if !ok {
			continue
		}
		names = append(names, name)
		body, err := os.ReadFile(path.Join("procedures", f.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := canonical.DB.Exec(string(body)); err != nil {
			t.Fatalf("procedures/%s: %v", f.Name(), err)
		}
	}

	rows, err := migrated.DB.Query("SELECT ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE() ORDER BY 1")
	if err != nil {
		t.Fatal(err)
	}
	var installed []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		installed = append(installed, n)
	}
	rows.Close()
	slices.Sort(names)
	if !slices.Equal(installed, names) {
		t.Fatalf("the migrations install %v; procedures/ has %v", installed, names)
	}
	volatile := regexp.MustCompile(` DEFINER=\S+`)
	for _, n := range names {
		got := showCreate(t, migrated.DB, "PROCEDURE", n, volatile)
		want := showCreate(t, canonical.DB, "PROCEDURE", n, volatile)
		if got != want {
			t.Errorf("procedure %s installed by the migrations differs from procedures/%s.sql:\n%s\nwant:\n%s", n, n, got, want)
		}
	}
}

func TestSchemaVersionIsTheNewestMigration(t *testing.T) {
	entries, err := fs.ReadDir(soloist.Migrations(), ".")
	if err != nil {
		t.Fatal(err)
	}
	var newest int64
	for _, e := range entries {
		prefix, _, _ := strings.Cut(e.Name(), "_")
		v, err := strconv.ParseInt(prefix, 10, 64)
		if err != nil {
			t.Fatalf("%s: not a goose file name: %v", e.Name(), err)
		}
		newest = max(newest, v)
	}
	if soloist.SchemaVersion != newest {
		t.Fatalf("SchemaVersion = %d, the newest migration is %d", soloist.SchemaVersion, newest)
	}
}

func TestMigrationsAreOneChangeEach(t *testing.T) {
	// One object per file: MySQL commits DDL at once, so a file with two
	// changes can half-apply (goose #822).
	entries, err := fs.ReadDir(soloist.Migrations(), ".")
	if err != nil {
		t.Fatal(err)
	}
	create := regexp.MustCompile(`(?mi)^\s*CREATE\s+(TABLE|VIEW|PROCEDURE|INDEX|TRIGGER|FUNCTION|EVENT)\b`)
	for _, e := range entries {
		b, err := fs.ReadFile(soloist.Migrations(), e.Name())
		if err != nil {
			t.Fatal(err)
		}
		up, down, ok := strings.Cut(string(b), "-- +goose Down")
		if !ok {
			t.Errorf("%s: no Down section", e.Name())
			continue
		}
		if n := len(create.FindAllString(up, -1)); n > 1 {
			t.Errorf("%s: %d CREATE statements in Up; one change per file", e.Name(), n)
		}
		if strings.TrimSpace(down) == "" {
			t.Errorf("%s: empty Down", e.Name())
		}
		if strings.Contains(strings.ToUpper(up), "DELIMITER") {
			t.Errorf("%s: DELIMITER is a client command; use StatementBegin/End", e.Name())
		}
		if strings.Contains(strings.ToUpper(up), "CREATE OR REPLACE") {
			t.Errorf("%s: CREATE OR REPLACE is not MySQL 8 syntax for routines", e.Name())
		}
	}
}

func TestMigrationLockLetsOneMigratorInAtATime(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDatabase(t)
	in, release, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- soloist.WithMigrationLock(context.Background(), d.DB, func() error {
			close(in)
			<-release
			return nil
		})
	}()
	<-in
	// A second migrator waits for the lock, and gives up when its context
	// ends: its work never runs unguarded.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	ran := false
	err := soloist.WithMigrationLock(ctx, d.DB, func() error { ran = true; return nil })
	if err == nil || ran || !strings.Contains(err.Error(), "could not take the migration lock") {
		t.Fatalf("second migrator: ran %v, err %v; want it refused with the lock named", ran, err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("first migrator: %v", err)
	}
	// Released: the next migrator gets in at once.
	if err := soloist.WithMigrationLock(context.Background(), d.DB, func() error { ran = true; return nil }); err != nil || !ran {
		t.Fatalf("after the release: ran %v, err %v", ran, err)
	}
}

func TestMigrationLockFailsClearlyWithoutPrivileges(t *testing.T) {
	t.Parallel()
	// No goose_lock yet, and no CREATE; then a goose_lock that exists (a
	// migrated database) but may not be written. Neither is retried as if
	// another migrator held the lock: the context would end first, and the
	// error would be the context's rather than the server's.
	for name, d := range map[string]*dbtest.Database{
		"MayNotCreateTheTable": dbtest.NewEmptyDatabase(t),
		"MayNotWriteTheTable":  dbtest.NewDatabase(t),
	} {
		t.Run(name, func(t *testing.T) {
			cfg := d.NewUser(t, "GRANT SELECT ON {db}.*")
			db := d.Open(t, func(c *mysql.Config) { c.User, c.Passwd = cfg.User, cfg.Passwd })
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			ran := false
			err := soloist.WithMigrationLock(ctx, db, func() error { ran = true; return nil })
			if ran || dberr.Classify(err) != dberr.NoPrivilege || !strings.Contains(err.Error(), "soloist grants --role migrator") {
				t.Fatalf("migrator without the privileges: ran %v, err %v; want the server's refusal, naming the grants", ran, err)
			}
		})
	}
}

// updateBaseline rewrites the baseline's procedure migrations from
// procedures/: go test -run TestBaselineProceduresAreGeneratedFromTheirSource -update-baseline .
var updateBaseline = flag.Bool("update-baseline", false, "rewrite sql/NNNNN_create_<procedure>.sql from procedures/")

// procedureMigration is the migration that installs procedure name from its
// canonical source: goose's header, DROP PROCEDURE IF EXISTS so that a
// half-applied run can be repeated, the source verbatim, and a Down.
func procedureMigration(name, source string) string {
	return "-- Installs the " + name + " procedure. Generated from procedures/" + name + ".sql, its\n" +
		"-- canonical source, by TestBaselineProceduresAreGeneratedFromTheirSource\n" +
		"-- (docs/dba.md, \"Changing the SQL\"): edit that file, not this one.\n" +
		"\n" +
		"-- +goose Up\n" +
		"DROP PROCEDURE IF EXISTS " + name + ";\n" +
		"\n" +
		"-- +goose StatementBegin\n" +
		strings.TrimRight(source, "\n") + ";\n" +
		"-- +goose StatementEnd\n" +
		"\n" +
		"-- +goose Down\n" +
		"DROP PROCEDURE IF EXISTS " + name + ";\n"
}

// TestBaselineProceduresAreGeneratedFromTheirSource holds the baseline to
// its rule: the migration sql/NNNNN_create_X.sql of each procedure X is
// procedureMigration of procedures/X.sql, byte for byte, unless a later
// migration changes X (a released file is never edited again). With
// -update-baseline it rewrites those files instead of failing.
func TestBaselineProceduresAreGeneratedFromTheirSource(t *testing.T) {
	entries, err := os.ReadDir("sql")
	if err != nil {
		t.Fatal(err)
	}
	procs, err := os.ReadDir("procedures")
	if err != nil {
		t.Fatal(err)
	}
	created := map[string]string{} // procedure -> its create migration
	for _, e := range entries {
		_, rest, _ := strings.Cut(e.Name(), "_")
		if name, ok := strings.CutPrefix(strings.TrimSuffix(rest, ".sql"), "create_"); ok {
			created[name] = e.Name()
		}
	}
	for _, p := range procs {
		name, ok := strings.CutSuffix(p.Name(), ".sql")
		if !ok {
			continue
		}
		file, ok := created[name]
		if !ok {
			t.Errorf("procedures/%s has no sql/NNNNN_create_%s.sql", p.Name(), name)
			continue
		}
		if changedLater(t, entries, file, name) {
			continue
		}
		source, err := os.ReadFile(path.Join("procedures", p.Name()))
		if err != nil {
			t.Fatal(err)
		}
		want := procedureMigration(name, string(source))
		target := path.Join("sql", file)
		if *updateBaseline {
			if err := os.WriteFile(target, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(target)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("%s is not generated from procedures/%s; run: go test -run %s -update-baseline .", target, p.Name(), t.Name())
		}
	}
}

// changedLater reports whether a migration after file creates procedure name
// again.
func changedLater(t *testing.T, entries []fs.DirEntry, file, name string) bool {
	t.Helper()
	create := regexp.MustCompile(`(?mi)^\s*CREATE\s+PROCEDURE\s+` + regexp.QuoteMeta(name) + `\s*\(`)
	for _, e := range entries {
		if e.Name() <= file {
			continue
		}
		b, err := os.ReadFile(path.Join("sql", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if up, _, _ := strings.Cut(string(b), "-- +goose Down"); create.MatchString(up) {
			return true
		}
	}
	return false
}
