package cli_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/soloist-dev/soloist"
	"github.com/soloist-dev/soloist/internal/cli"
	"github.com/soloist-dev/soloist/internal/dbtest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func TestHelpVersionAndUsageErrors(t *testing.T) {
	t.Parallel()
	r := soloistCmd(t, nil, "--help")
	if r.code != 0 || !strings.Contains(r.stdout, "Commands:") {
		t.Fatalf("--help: %d\n%s", r.code, r.stdout)
	}
	r = soloistCmd(t, nil, "--version")
	if r.code != 0 || strings.TrimSpace(r.stdout) != "soloist v0.0.0-test" {
		t.Fatalf("--version: %d %q", r.code, r.stdout)
	}
	for _, c := range []string{"run", "migrate", "status", "runs", "dashboard", "release", "pause", "resume", "allow", "disallow", "grants", "version"} {
		r := soloistCmd(t, nil, c, "--help")
		if r.code != 0 || !strings.Contains(r.stdout, "Usage: soloist "+c) {
			t.Errorf("%s --help: exit %d\n%s%s", c, r.code, r.stdout, r.stderr)
		}
		if c != "version" && !strings.Contains(r.stdout, "(env SOLOIST_") {
			t.Errorf("%s --help does not name the environment variables:\n%s", c, r.stdout)
		}
	}
	for _, tc := range []struct {
		args []string
		env  []string
		want string
	}{
		{[]string{"frobnicate"}, nil, `unknown command "frobnicate"`},
		{[]string{"status", "--no-such-flag"}, nil, "unknown flag: --no-such-flag"},
		{[]string{"status"}, nil, "no database: set --dsn-file (SOLOIST_DSN_FILE)"},
		{[]string{"run", "--dsn", "u@tcp(127.0.0.1:1)/x"}, nil, "missing crontab: give the crontab file as an argument"},
		{[]string{"run", "--crontab", "x", "--ttl", "soon"}, nil, `invalid argument "soon" for "--ttl"`},
		{[]string{"run", "--crontab", "x"}, []string{"SOLOIST_TTL=soon"}, `SOLOIST_TTL="soon"`},
		{[]string{"migrate", "sideways", "--dsn", "u@tcp(127.0.0.1:1)/x"}, nil, `unknown migrate action "sideways"`},
		{[]string{"status", "--dsn", "u@tcp(127.0.0.1:1)"}, nil, "bad DSN"},
		{[]string{"status", "--dsn", "u:secret@tcp(127.0.0.1:1)/"}, nil, "names no database"},
		{[]string{"runs", "--dsn", "u@tcp(127.0.0.1:1)/x", "--limit", "0"}, nil, "--limit 0"},
		{[]string{"pause", "--dsn", "u@tcp(127.0.0.1:1)/x"}, nil, "missing --job"},
		{[]string{"grants", "--role", "king", "--user", "x"}, nil, `--role "king"`},
	} {
		r := soloistCmd(t, tc.env, tc.args...)
		if r.code != cli.ExitUsage || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("soloist %s: exit %d, stderr %q; want exit 2 with %q", strings.Join(tc.args, " "), r.code, r.stderr, tc.want)
		}
		if strings.Contains(r.stderr, "secret") {
			t.Errorf("soloist %s printed the password: %s", strings.Join(tc.args, " "), r.stderr)
		}
	}
}

func TestFailuresExplainThemselves(t *testing.T) {
	t.Parallel()
	d := dbtest.NewEmptyDatabase(t)
	wrongPass := d.Config.Clone()
	wrongPass.User, wrongPass.Passwd = "nobody", "hunter2"
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := l.Addr().String()
	l.Close()
	unreachable := d.Config.Clone()
	unreachable.Addr = closedAddr
	noSuchDB := d.Config.Clone()
	noSuchDB.DBName = "no_such_database"

	good := writeFile(t, "good", "@every 1s true\n")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"WrongPassword", []string{"status", "--dsn", wrongPass.FormatDSN()}, "access denied for nobody@"},
		{"UnreachableServer", []string{"status", "--dsn", unreachable.FormatDSN()}, "cannot reach the database at"},
		{"NoSuchDatabase", []string{"status", "--dsn", noSuchDB.FormatDSN()}, `database "no_such_database" does not exist`},
		{"SchemaNotMigrated", []string{"status", "--dsn", d.DSN()}, "run `soloist migrate up`"},
		{"RunSchemaNotMigrated", []string{"run", "--dsn", d.DSN(), "--crontab", good}, "run `soloist migrate up`"},
		{"RunUnreachable", []string{"run", "--dsn", unreachable.FormatDSN(), "--crontab", good}, "cannot reach the database"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := soloistCmd(t, nil, tc.args...)
			if r.code != cli.ExitError || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want exit 1 with %q", r.code, r.stderr, tc.want)
			}
			if strings.Contains(r.stdout+r.stderr, "hunter2") {
				t.Fatal("printed the password")
			}
		})
	}
}

func TestBadCrontabsAreRefusedWithTheirLine(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tc := range []struct {
		name, content, want string
	}{
		{"BadField", "# comment\n\n*/5 * * * * true\n61 * * * * echo bad\n", ":4: bad schedule"},
		{"UnknownSetting", "# soloist: name=a colour=blue\n* * * * * true\n", `:1: soloist setting colour: unknown setting "colour"`},
		{"BadPolicy", "# soloist: missed=sometimes\n* * * * * true\n", `:1: soloist setting missed: "sometimes": want once, skip or all`},
		{"SettingsNotAboveAnEntry", "# soloist: name=a\n\n* * * * * true\n", ":1: soloist settings must be right above the entry"},
		{"DuplicateName", "# soloist: name=a\n* * * * * true\n# soloist: name=a\n@hourly true\n", `:4: job name "a" is already used on line 2`},
		{"NoCommand", "* * * * *\n", ":1:"},
		{"Reboot", "@reboot /bin/start\n", ":1: bad schedule"},
		{"BadZone", "CRON_TZ=Mars/Olympus\n* * * * * true\n", `:1: unknown time zone "Mars/Olympus"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name)
			if err := os.WriteFile(path, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			r := soloistCmd(t, nil, "run", "--check", "--crontab", path)
			if r.code != cli.ExitError || !strings.Contains(r.stderr, path+tc.want) {
				t.Fatalf("exit %d, stderr %q; want exit 1 with %q", r.code, r.stderr, path+tc.want)
			}
		})
	}
	t.Run("MissingFile", func(t *testing.T) {
		r := soloistCmd(t, nil, "run", "--check", "--crontab", filepath.Join(dir, "absent"))
		if r.code != cli.ExitError || !strings.Contains(r.stderr, "no such file") {
			t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
		}
	})
	t.Run("UnreadableFile", func(t *testing.T) {
		r := soloistCmd(t, nil, "run", "--check", "--crontab", dir) // a directory
		if r.code != cli.ExitError || !strings.Contains(r.stderr, "is a directory") {
			t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
		}
	})
	t.Run("CheckListsAGoodFile", func(t *testing.T) {
		path := writeFile(t, "ok", "SHELL=/bin/sh\n# soloist: name=report timeout=30m\n0 2 * * * /usr/local/bin/report\n*/10 * * * * * * echo tick\n")
		r := soloistCmd(t, nil, "run", "--check", "--crontab", path)
		if r.code != 0 || !strings.Contains(r.stdout, "report") || !strings.Contains(r.stdout, "2 jobs, OK") {
			t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
	})
}

func TestMigrate(t *testing.T) {
	t.Parallel()
	d := dbtest.NewEmptyDatabase(t)
	dsn := "SOLOIST_DSN=" + d.DSN()
	r := soloistCmd(t, []string{dsn}, "migrate", "up")
	want := fmt.Sprintf("is at version %d", soloist.SchemaVersion)
	if r.code != 0 || !strings.Contains(r.stdout, "OK    up 00001_create_leases.sql") || !strings.Contains(r.stdout, want) {
		t.Fatalf("migrate up: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := soloistCmd(t, []string{dsn}, "migrate", "up"); r.code != 0 || !strings.Contains(r.stdout, "nothing to do") {
		t.Fatalf("migrate up again: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := soloistCmd(t, []string{dsn}, "migrate", "version"); r.code != 0 || strings.TrimSpace(r.stdout) != fmt.Sprint(soloist.SchemaVersion) {
		t.Fatalf("migrate version: %q", r.stdout)
	}
	if r := soloistCmd(t, []string{dsn}, "migrate", "status"); r.code != 0 || !strings.Contains(r.stdout, "0 pending") {
		t.Fatalf("migrate status: exit %d\n%s", r.code, r.stdout)
	}
	if r := soloistCmd(t, []string{dsn}, "migrate", "down"); r.code != 0 || !strings.Contains(r.stdout, "OK    down") {
		t.Fatalf("migrate down: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := soloistCmd(t, []string{dsn}, "migrate", "status"); !strings.Contains(r.stdout, "1 pending") {
		t.Fatalf("migrate status after down:\n%s", r.stdout)
	}
	if r := soloistCmd(t, []string{dsn}, "migrate", "down", "--to", "0"); r.code != 0 || !strings.Contains(r.stdout, "is at version 0") {
		t.Fatalf("migrate down --to 0: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// goose's verbs, and goose's variable when no DSN is given.
	gooseEnv := []string{"GOOSE_DRIVER=mysql", "GOOSE_DBSTRING=" + d.DSN()}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"up-to", "3"}, "is at version 3"},
		{[]string{"redo"}, "OK    up 00003_create_lease_terms.sql"},
		{[]string{"up"}, want},
		{[]string{"down-to", fmt.Sprint(soloist.SchemaVersion - 1)}, fmt.Sprintf("is at version %d", soloist.SchemaVersion-1)},
		{[]string{"reset"}, "is at version 0"},
	} {
		r := soloistCmd(t, gooseEnv, append([]string{"migrate"}, c.args...)...)
		if r.code != 0 || !strings.Contains(r.stdout, c.want) {
			t.Fatalf("migrate %s: exit %d, want %q\n%s%s", strings.Join(c.args, " "), r.code, c.want, r.stdout, r.stderr)
		}
	}
	if r := soloistCmd(t, gooseEnv, "migrate", "up-to", "x"); r.code != cli.ExitUsage || !strings.Contains(r.stderr, "a version is a whole number") {
		t.Fatalf("migrate up-to x: exit %d %s", r.code, r.stderr)
	}
	if r := soloistCmd(t, []string{"GOOSE_DRIVER=postgres", "GOOSE_DBSTRING=" + d.DSN()}, "migrate", "status"); r.code != cli.ExitUsage || !strings.Contains(r.stderr, "GOOSE_DRIVER") {
		t.Fatalf("migrate with GOOSE_DRIVER=postgres: exit %d %s", r.code, r.stderr)
	}
}

// statusJSON runs soloist status --json.
func statusJSON(t testing.TB, env []string, args ...string) cli.Status {
	t.Helper()
	r := soloistCmd(t, env, append([]string{"status", "--json"}, args...)...)
	if r.code != 0 {
		t.Fatalf("status: exit %d\n%s", r.code, r.stderr)
	}
	var st cli.Status
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatalf("status --json: %v\n%s", err, r.stdout)
	}
	return st
}

func TestRunACrontabOnThreeRunners(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDatabase(t)
	out := t.TempDir()
	ct := writeFile(t, "crontab", fmt.Sprintf(`# Three runners share this file; each job runs on one of them.
GREETING="hello there"
# soloist: name=tick missed=all
* * * * * * * echo "$GREETING $SOLOIST_JOB $SOLOIST_TOKEN" >> %[1]s/tick.$SOLOIST_FIRE_TIME && touch %[1]s/done.$SOLOIST_FIRE_TIME
# soloist: name=input
*/2 * * * * * * cat > %[1]s/input.$SOLOIST_FIRE_TIME && mv %[1]s/input.$SOLOIST_FIRE_TIME %[1]s/input%% first line%% second line
# soloist: name=fails
*/3 * * * * * * echo oops >&2; exit 7
`, out))
	env := []string{"SOLOIST_DSN=" + d.DSN(), "SOLOIST_TTL=1s", "SOLOIST_GROUP=batch"}
	var runners []*process
	for i := range 3 {
		p := start(t, append(env, fmt.Sprintf("SOLOIST_OWNER=10.0.0.%d/runner-%d", i+1, i)), "run", "--crontab", ct)
		runners = append(runners, p)
	}
	// A fire is complete when its done file exists; the input job renames
	// its file into place, so a read never sees a fire's cat half done.
	dbtest.WaitFor(t, 20*time.Second, "five tick runs and an input run", func() bool {
		done, _ := filepath.Glob(filepath.Join(out, "done.*"))
		_, err := os.Stat(filepath.Join(out, "input"))
		return len(done) >= 5 && err == nil
	})

	// Each fire ran once: one file per fire time, one line in each.
	done, _ := filepath.Glob(filepath.Join(out, "done.*"))
	for _, f := range done {
		tick := filepath.Join(out, "tick."+strings.TrimPrefix(filepath.Base(f), "done."))
		b, _ := os.ReadFile(tick)
		if lines := strings.Count(string(b), "\n"); lines != 1 || !strings.HasPrefix(string(b), "hello there tick ") {
			t.Errorf("%s: %q, want one line from one runner", filepath.Base(tick), b)
		}
	}
	if b, err := os.ReadFile(filepath.Join(out, "input")); err != nil || string(b) != " first line\n second line\n" {
		t.Errorf("cron's %% input: %q (%v)", b, err)
	}

	// fails fires every third second; wait for its first run to be recorded.
	var st cli.Status
	dbtest.WaitFor(t, 10*time.Second, "a run of fails", func() bool {
		st = statusJSON(t, []string{"SOLOIST_DSN=" + d.DSN()})
		for _, g := range st.Groups {
			for _, j := range g.Jobs {
				if j.Name == "fails" && j.LastOutcome != nil {
					return true
				}
			}
		}
		return false
	})
	if len(st.Groups) != 1 || st.Groups[0].Name != "batch" || st.Groups[0].Status != "held" || len(st.Groups[0].Jobs) != 3 {
		t.Fatalf("status: %+v", st)
	}
	g := st.Groups[0]
	var leader *process
	for i, p := range runners {
		if *g.Holder == fmt.Sprintf("10.0.0.%d/runner-%d", i+1, i) {
			leader = p
		}
	}
	if leader == nil || *g.HolderIP != strings.Split(*g.Holder, "/")[0] {
		t.Fatalf("holder %v (IP %v) is none of the runners", *g.Holder, *g.HolderIP)
	}
	for _, j := range g.Jobs {
		if j.Name == "fails" && (j.LastOutcome == nil || *j.LastOutcome != "failed") {
			t.Errorf("job fails: last outcome %v", j.LastOutcome)
		}
	}

	// The leader stops: another runner takes over and the jobs go on.
	if code := leader.stop(t, syscall.SIGTERM, 15*time.Second); code != 0 {
		t.Fatalf("leader exited %d after SIGTERM", code)
	}
	dbtest.WaitFor(t, 10*time.Second, "another runner to lead", func() bool {
		st := statusJSON(t, []string{"SOLOIST_DSN=" + d.DSN()})
		return st.Groups[0].Status == "held" && *st.Groups[0].Holder != *g.Holder
	})

	// The newest run of fails may be running still: take the newest ended.
	r := soloistCmd(t, []string{"SOLOIST_DSN=" + d.DSN()}, "runs", "--job", "fails", "--json")
	var runs []cli.Run
	if err := json.Unmarshal([]byte(r.stdout), &runs); err != nil {
		t.Fatalf("runs --json: %v\n%s", err, r.stdout)
	}
	var ended *cli.Run
	for i := range runs {
		if runs[i].Outcome != "running" {
			ended = &runs[i]
			break
		}
	}
	if ended == nil || ended.Outcome != "failed" || ended.Message == nil || *ended.Message != "exit status 7" ||
		ended.Output == nil || !strings.Contains(*ended.Output, "oops") {
		t.Fatalf("the failing job's newest ended run: %+v\n%s", ended, r.stdout)
	}
	text := soloistCmd(t, []string{"SOLOIST_DSN=" + d.DSN()}, "status")
	for _, want := range []string{"GROUP", "batch", "held", "tick", "fails", "failed"} {
		if !strings.Contains(text.stdout, want) {
			t.Errorf("status does not show %q:\n%s", want, text.stdout)
		}
	}
}

// TestStatusAndRunsJSONAreStable compares the JSON of status and runs, with
// the values that change from run to run masked, to golden files.
func TestStatusAndRunsJSONAreStable(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDatabase(t)
	ct := writeFile(t, "crontab", "# soloist: name=ok\n* * * * * * * true\n# soloist: name=daily\n0 2 * * * true\n")
	env := []string{"SOLOIST_DSN=" + d.DSN(), "SOLOIST_GROUP=golden", "SOLOIST_TTL=1s"}
	p := start(t, append(env, "SOLOIST_OWNER=10.0.0.1/golden"), "run", "--crontab", ct)
	dbtest.WaitFor(t, 10*time.Second, "a run of ok", func() bool {
		r := soloistCmd(t, env, "runs", "--json", "--job", "ok")
		return strings.Contains(r.stdout, `"succeeded"`)
	})
	if r := soloistCmd(t, env, "allow", "--host", "10.0.0.1"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	if r := soloistCmd(t, env, "pause", "--job", "daily"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	p.stop(t, syscall.SIGTERM, 15*time.Second)

	status := soloistCmd(t, env, "status", "--json")
	runs := soloistCmd(t, env, "runs", "--json", "--limit", "1")
	golden(t, "status.json", mask(t, status.stdout))
	golden(t, "runs.json", mask(t, runs.stdout))
}

var (
	maskTime = regexp.MustCompile(`"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z"`)
	maskMs   = regexp.MustCompile(`("(heartbeat_age_ms|duration_ms|expires_in_ms|id|token|terms_24h)": )\d+`)
)

// mask replaces values that differ between runs.
func mask(t testing.TB, s string) string {
	t.Helper()
	s = maskTime.ReplaceAllString(s, `"<time>"`)
	return maskMs.ReplaceAllString(s, "${1}0")
}

func golden(t testing.TB, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/cli -run %s -update to create it)", err, t.Name())
	}
	if got != string(want) {
		t.Fatalf("%s differs from the golden file:\n%s\nwant:\n%s", name, got, want)
	}
}

func TestAdminCommands(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDatabase(t)
	out := t.TempDir()
	ct := writeFile(t, "crontab", fmt.Sprintf("# soloist: name=tick\n* * * * * * * echo $SOLOIST_OWNER >> %s/tick\n", out))
	env := []string{"SOLOIST_DSN=" + d.DSN(), "SOLOIST_TTL=1s"}
	a := start(t, append(env, "SOLOIST_OWNER=10.0.0.1/a"), "run", "--crontab", ct)
	a.waitLog(t, "leading", 10*time.Second)
	b := start(t, append(env, "SOLOIST_OWNER=10.0.0.2/b"), "run", "--crontab", ct)
	b.waitLog(t, "runner started", 10*time.Second)
	holder := func() string {
		st := statusJSON(t, env)
		if st.Groups[0].Holder == nil {
			return ""
		}
		return *st.Groups[0].Holder
	}

	t.Run("NamesThatDoNotExistFailListWhatDoesAndCreateNothing", func(t *testing.T) {
		for _, c := range []struct {
			args []string
			want string
		}{
			{[]string{"release", "--group", "nosuch"}, `group "nosuch" does not exist; the groups are: default`},
			{[]string{"pause", "--group", "nosuch", "--job", "tick"}, `group "nosuch" does not exist; the groups are: default`},
			{[]string{"pause", "--job", "nosuch"}, `group "default" has no job "nosuch"; its jobs are: tick`},
			{[]string{"resume", "--job", "nosuch"}, `group "default" has no job "nosuch"; its jobs are: tick`},
			{[]string{"allow", "--group", "nosuch", "--host", "10.0.0.1"}, `group "nosuch" does not exist`},
			{[]string{"disallow", "--host", "10.0.0.9"}, `group "default" has no allow-list: every runner may lead`},
		} {
			r := soloistCmd(t, env, c.args...)
			if r.code != cli.ExitError || !strings.Contains(r.stderr, c.want) {
				t.Errorf("soloist %s: exit %d, stderr %q; want exit 1 and %q", strings.Join(c.args, " "), r.code, r.stderr, c.want)
			}
		}
		st := statusJSON(t, env)
		if len(st.Groups) != 1 || len(st.Groups[0].Jobs) != 1 || len(st.Groups[0].AllowedHosts) != 0 {
			t.Fatalf("the failed commands left rows: %+v", st)
		}
	})

	t.Run("ReleaseMakesTheHolderStepDown", func(t *testing.T) {
		r := soloistCmd(t, env, "release")
		if r.code != 0 || !strings.Contains(r.stdout, "revoked the lease of 10.0.0.1/a") {
			t.Fatalf("release: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		dbtest.WaitFor(t, 10*time.Second, "b to lead", func() bool { return holder() == "10.0.0.2/b" })
	})

	t.Run("PauseStopsFiresAndResumeRestartsThem", func(t *testing.T) {
		if r := soloistCmd(t, env, "pause", "--job", "tick"); r.code != 0 || !strings.Contains(r.stdout, "paused") {
			t.Fatalf("pause: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		st := statusJSON(t, env)
		if !st.Groups[0].Jobs[0].Paused {
			t.Fatal("status does not show the job paused")
		}
		before, _ := os.ReadFile(filepath.Join(out, "tick"))
		time.Sleep(2500 * time.Millisecond) // two fires would have come
		after, _ := os.ReadFile(filepath.Join(out, "tick"))
		if n := strings.Count(string(after), "\n") - strings.Count(string(before), "\n"); n > 1 {
			t.Fatalf("the paused job ran %d more times", n)
		}
		// status shows the last run with its own outcome, not a slot the
		// pause passed over, and says since when the job is paused.
		j := statusJSON(t, env).Groups[0].Jobs[0]
		text := soloistCmd(t, env, "status").stdout
		var line string
		for _, l := range strings.Split(text, "\n") {
			if strings.Contains(l, " tick ") {
				line = l
			}
		}
		if !strings.Contains(line, "paused since") || j.LastRunFire == nil || !strings.Contains(line, j.LastRunFire.UTC().Format(time.DateTime)) {
			t.Fatalf("status of the paused job: %q, want its last run's fire %v and \"paused since\"", line, j.LastRunFire)
		}
		if j.LastFire != nil && !j.LastFire.Equal(*j.LastRunFire) && strings.Contains(line, j.LastFire.UTC().Format(time.DateTime)) {
			t.Fatalf("status shows the passed-over slot %v beside the outcome of the run at %v: %q", j.LastFire, j.LastRunFire, line)
		}
		if r := soloistCmd(t, env, "resume", "--job", "tick"); r.code != 0 {
			t.Fatalf("resume: exit %d\n%s", r.code, r.stderr)
		}
		dbtest.WaitFor(t, 5*time.Second, "the job to run again", func() bool {
			now, _ := os.ReadFile(filepath.Join(out, "tick"))
			return len(now) > len(after)
		})
		if r := soloistCmd(t, env, "resume", "--job", "nosuch"); r.code != cli.ExitError || !strings.Contains(r.stderr, `no job "nosuch"`) {
			t.Fatalf("resume of an unknown job: exit %d %s", r.code, r.stderr)
		}
	})

	t.Run("AllowListsDecideWhoMayLead", func(t *testing.T) {
		r := soloistCmd(t, env, "allow", "--host", "10.0.0.7")
		if r.code != 0 || !strings.Contains(r.stderr, "no runner group \"default\" has seen in 24 hours matches the allow-list (10.0.0.7)") {
			t.Fatalf("allow of a host no runner has: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		if r := soloistCmd(t, env, "disallow", "--host", "10.0.0.7"); r.code != 0 {
			t.Fatal(r.stderr)
		}
		r = soloistCmd(t, env, "allow", "--host", "10.0.0.1")
		if r.code != 0 || !strings.Contains(r.stdout, "1 host") || strings.Contains(r.stderr, "warning") {
			t.Fatalf("allow: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		if got := statusJSON(t, env).Groups[0].AllowedHosts; len(got) != 1 || got[0] != "10.0.0.1" {
			t.Fatalf("status shows allowed hosts %v", got)
		}
		// b holds the lease but is not listed: revoke it; only a may take over.
		soloistCmd(t, env, "release")
		dbtest.WaitFor(t, 10*time.Second, "a to lead", func() bool { return holder() == "10.0.0.1/a" })
		// a dies: b, not listed, must not take over; the group waits.
		mark := len(b.log())
		a.stop(t, syscall.SIGKILL, 5*time.Second)
		time.Sleep(2500 * time.Millisecond)
		if st := statusJSON(t, env); st.Groups[0].Status == "held" {
			t.Fatalf("%s took over though the allow-list names only 10.0.0.1", *st.Groups[0].Holder)
		}
		// b says why, once, though it found the lease free at every poll.
		if n := strings.Count(b.log()[mark:], "the group's allow-list does not name this owner"); n != 1 {
			t.Fatalf("b logged %d times that the allow-list keeps it off, want once:\n%s", n, b.log())
		}
		// Listing b as a standby lets it take over.
		if r := soloistCmd(t, env, "allow", "--host", "10.0.0.2/"); r.code != 0 {
			t.Fatal(r.stderr)
		}
		dbtest.WaitFor(t, 10*time.Second, "b to lead", func() bool { return holder() == "10.0.0.2/b" })
		r = soloistCmd(t, env, "disallow", "--host", "10.0.0.2")
		if r.code != 0 || !strings.Contains(r.stdout, "steps down") {
			t.Fatalf("disallow of the holder: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		r = soloistCmd(t, env, "disallow", "--host", "10.0.0.1")
		if r.code != 0 || !strings.Contains(r.stdout, "every runner may lead") {
			t.Fatalf("disallow of the last host: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		dbtest.WaitFor(t, 10*time.Second, "b to lead again", func() bool { return holder() == "10.0.0.2/b" })
	})
}

func TestSIGHUPAndSIGUSR2ReloadTheCrontab(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDatabase(t)
	dir := t.TempDir()
	ct := filepath.Join(dir, "crontab")
	write := func(s string) {
		if err := os.WriteFile(ct, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("# soloist: name=first\n* * * * * * * true\n")
	env := []string{"SOLOIST_DSN=" + d.DSN(), "SOLOIST_TTL=1s", "SOLOIST_LOG_FORMAT=json"}
	p := start(t, env, "run", ct) // the crontab as the argument, as supercronic takes it
	p.waitLog(t, `"job":"first"`, 10*time.Second)
	// Durations are Go duration strings in JSON too, not nanoseconds.
	if !strings.Contains(p.log(), `"ttl":"1s"`) || strings.Contains(p.log(), `"ttl":1000000000`) {
		t.Fatalf("the JSON log does not give the TTL as \"1s\":\n%s", p.log())
	}

	write("# soloist: name=second\n* * * * * * * true\n")
	_ = p.Signal(syscall.SIGHUP)
	p.waitLog(t, "crontab reloaded", 5*time.Second)
	p.waitLog(t, `"job":"second"`, 5*time.Second)

	write("# soloist: name=third\n* * * * * * * true\n")
	_ = p.Signal(syscall.SIGUSR2) // as supercronic reloads
	p.waitLog(t, `"job":"third"`, 5*time.Second)

	write("61 * * * * broken\n")
	_ = p.Signal(syscall.SIGHUP)
	p.waitLog(t, "crontab reload refused; the previous jobs go on", 5*time.Second)
	if !strings.Contains(p.log(), "crontab:1: bad schedule") {
		t.Fatalf("the refused reload does not say where:\n%s", p.log())
	}
	if code := p.stop(t, syscall.SIGTERM, 15*time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

func TestASecondSignalEndsARunAtOnce(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDatabase(t)
	ct := writeFile(t, "crontab", "# soloist: name=long\n* * * * * * * sleep 60\n")
	p := start(t, []string{"SOLOIST_DSN=" + d.DSN(), "SOLOIST_TTL=3s", "SOLOIST_GRACE=60s"}, "run", "--crontab", ct)
	p.waitLog(t, "run started", 10*time.Second)
	_ = p.Signal(syscall.SIGTERM)
	p.waitLog(t, "finishing running jobs", 5*time.Second)
	select {
	case <-p.Done():
		t.Fatal("the first SIGTERM did not wait for the running job's grace period")
	case <-time.After(500 * time.Millisecond):
	}
	p.stop(t, syscall.SIGTERM, 5*time.Second) // fails the test unless it exits within 5 s
}

func TestLostLeaseKillsTheWholeProcessGroup(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDatabase(t)
	marker := fmt.Sprintf("%d.%d", os.Getpid(), time.Now().UnixNano()%100000)
	// The command forks children that ignore nothing and would outlive a
	// plain kill of the shell.
	ct := writeFile(t, "crontab", fmt.Sprintf("# soloist: name=long\n* * * * * * * sleep 1%s & sleep 2%s; wait\n", marker, marker))
	env := []string{"SOLOIST_DSN=" + d.DSN(), "SOLOIST_TTL=3s"}
	p := start(t, append(env, "SOLOIST_OWNER=10.0.0.1/a"), "run", "--crontab", ct)
	alive := func() bool {
		out, _ := exec.Command("pgrep", "-f", marker).Output()
		return len(strings.TrimSpace(string(out))) > 0
	}
	dbtest.WaitFor(t, 10*time.Second, "the command to start", alive)
	// An operator revokes the lease: the runner's next heartbeat is refused,
	// its term ends as a lost lease, and the command's group goes. The job
	// is paused first (a running run goes on), so that the runner's next
	// term, which follows at once, starts no new run of the same command.
	if r := soloistCmd(t, env, "pause", "--job", "long"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	if r := soloistCmd(t, env, "release"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	p.waitLog(t, "stopping the command", 10*time.Second)
	dbtest.WaitFor(t, 5*time.Second, "every process of the command to end", func() bool { return !alive() })
	// The runner may lead again at once and start a new run: look for the
	// run of the first term, not the newest.
	dbtest.WaitFor(t, 10*time.Second, "the first term's run recorded as lost", func() bool {
		var runs []cli.Run
		r := soloistCmd(t, env, "runs", "--json")
		if err := json.Unmarshal([]byte(r.stdout), &runs); err != nil {
			t.Fatalf("runs --json: %v\n%s", err, r.stdout)
		}
		for _, run := range runs {
			if run.Token == 1 {
				return run.Outcome == "lost"
			}
		}
		return false
	})
}

func TestARunnerWorksWithTheGrantsOfItsRole(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDatabase(t)
	cfg := runnerAccount(t, d)
	env := []string{"SOLOIST_DSN=" + cfg.FormatDSN(), "SOLOIST_TTL=1s"}
	ct := writeFile(t, "crontab", "# soloist: name=tick\n* * * * * * * true\n")
	start(t, env, "run", "--crontab", ct)
	dbtest.WaitFor(t, 10*time.Second, "a run, seen with the runner's own credentials", func() bool {
		r := soloistCmd(t, env, "runs", "--json")
		return strings.Contains(r.stdout, `"succeeded"`)
	})
	db := d.Open(t, func(c *mysql.Config) { *c = *cfg })
	if _, err := db.ExecContext(context.Background(), "UPDATE leases SET token = 0"); err == nil {
		t.Fatal("the runner's user can update the leases table")
	}
	if r := soloistCmd(t, env, "release"); r.code != cli.ExitError || !strings.Contains(r.stderr, "may not call it") {
		t.Fatalf("a runner's user ran an admin command: exit %d %s", r.code, r.stderr)
	}
}
