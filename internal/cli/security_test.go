package cli_test

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/soloist-dev/soloist/internal/cli"
	"github.com/soloist-dev/soloist/internal/dbtest"
	"github.com/soloist-dev/soloist/internal/spawn"
)

// runnerAccount creates a database user with the runner role's grants, as
// `soloist grants` prints them, and returns its configuration: unlike the
// harness's root, it has a password to leak.
func runnerAccount(t *testing.T, d *dbtest.Database) *mysql.Config {
	t.Helper()
	const account = "'placeholder'@'%'"
	r := soloistCmd(t, nil, "grants", "--role", "runner", "--user", account, "--database", d.Name)
	if r.code != 0 {
		t.Fatal(r.stderr)
	}
	var grants []string
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		grants = append(grants, strings.TrimSuffix(strings.TrimSuffix(line, ";"), " TO "+account))
	}
	return d.NewUser(t, grants...)
}

// marked is a name unique to this test process and call, for pgrep -f.
func marked(t *testing.T) string {
	return fmt.Sprintf("%d%d", os.Getpid()%10000, time.Now().UnixNano()%1000000)
}

// running reports whether a live process's command line matches the
// regular expression re (pgrep -f does not match zombies, which have none).
func running(re string) bool {
	out, _ := exec.Command("pgrep", "-f", re).Output()
	return len(strings.TrimSpace(string(out))) > 0
}

// killMarked ends whatever a test left running under marker.
func killMarked(marker string) { _ = exec.Command("pkill", "-KILL", "-f", marker).Run() }

func TestACommandThatPrintsItsEnvironmentSeesNoSecret(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDatabase(t)
	cfg := runnerAccount(t, d)
	dsn := cfg.FormatDSN()
	out := t.TempDir()
	dsnFile := writeFile(t, "dsn", dsn+"\n")
	ct := writeFile(t, "crontab", fmt.Sprintf("GREETING=hi\n# soloist: name=env\n* * * * * * * env > %s/env.$SOLOIST_RUN_ID; env\n", out))
	// The attack of the review: the DSN in the runner's environment. Here it
	// is there three times, under Soloist's name, under another name and as
	// the MySQL client's password variable.
	env := []string{"SOLOIST_DSN_FILE=" + dsnFile, "SOLOIST_TTL=1s", "DATABASE_URL=" + dsn, "MYSQL_PWD=" + cfg.Passwd,
		"SOLOIST_EXTRA=" + cfg.Passwd, "HARMLESS=kept"}
	p := start(t, env, "run", "--crontab", ct)
	var printed string
	dbtest.WaitFor(t, 20*time.Second, "a run of env", func() bool {
		files, _ := filepath.Glob(filepath.Join(out, "env.*"))
		if len(files) == 0 {
			return false
		}
		b, _ := os.ReadFile(files[0])
		printed = string(b)
		return strings.Contains(printed, "SOLOIST_OWNER=")
	})
	for _, want := range []string{"HARMLESS=kept", "GREETING=hi", "SOLOIST_JOB=env", "SOLOIST_GROUP=default", "SOLOIST_LEASE=default", "SOLOIST_TOKEN=",
		"SOLOIST_FIRE_TIME=", "SOLOIST_RUN_ID=", "SOLOIST_OWNER="} {
		if !strings.Contains(printed, want) {
			t.Errorf("the command's environment lacks %s:\n%s", want, printed)
		}
	}
	var soloistVars []string
	for _, line := range strings.Split(printed, "\n") {
		if name, _, _ := strings.Cut(line, "="); strings.HasPrefix(name, "SOLOIST_") {
			soloistVars = append(soloistVars, name)
		}
	}
	if got := strings.Join(soloistVars, " "); len(soloistVars) != 7 {
		t.Errorf("the command got Soloist variables %s, want only the fire's seven", got)
	}
	for _, leak := range []string{cfg.Passwd, "SOLOIST_DSN", "DATABASE_URL", "MYSQL_PWD", "SOLOIST_EXTRA"} {
		if strings.Contains(printed, leak) {
			t.Errorf("the command's environment holds %q:\n%s", leak, printed)
		}
	}
	// Nor does the password reach the log or the history through the output.
	hist := soloistCmd(t, []string{"SOLOIST_DSN=" + d.DSN()}, "runs", "--output", "--limit", "3")
	if !strings.Contains(hist.stdout, "SOLOIST_JOB=env") || strings.Contains(hist.stdout, cfg.Passwd) {
		t.Errorf("runs --output: the output is missing, or holds the password:\n%s", hist.stdout)
	}
	p.stop(t, syscall.SIGTERM, 15*time.Second)
	if strings.Contains(p.log(), cfg.Passwd) {
		t.Errorf("the runner's log holds the password:\n%s", p.log())
	}
}

func TestDSNFile(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDatabase(t)
	good := writeFile(t, "dsn", d.DSN()+"\n")
	if r := soloistCmd(t, []string{"SOLOIST_DSN_FILE=" + good}, "status", "--json"); r.code != 0 {
		t.Errorf("status with SOLOIST_DSN_FILE: exit %d %s", r.code, r.stderr)
	}
	if r := soloistCmd(t, nil, "status", "--dsn-file", good); r.code != 0 {
		t.Errorf("status --dsn-file: exit %d %s", r.code, r.stderr)
	}
	// A DSN file on the command line overrides SOLOIST_DSN, as flags
	// override the environment: a broken SOLOIST_DSN is not even read.
	if r := soloistCmd(t, []string{"SOLOIST_DSN=nobody:x@tcp(127.0.0.1:1)/nothing"}, "status", "--json", "--dsn-file", good); r.code != 0 {
		t.Errorf("status --dsn-file with SOLOIST_DSN set: exit %d %s", r.code, r.stderr)
	}
	empty := writeFile(t, "empty", "\n")
	for _, c := range []struct {
		env  []string
		args []string
		want string
	}{
		{nil, []string{"--dsn-file", empty}, "is empty"},
		{nil, []string{"--dsn-file", filepath.Join(t.TempDir(), "missing")}, "no such file"},
		{[]string{"SOLOIST_DSN=" + d.DSN(), "SOLOIST_DSN_FILE=" + good}, nil, "keep one"},
		{nil, []string{"--dsn", d.DSN(), "--dsn-file", good}, "keep one"},
	} {
		r := soloistCmd(t, c.env, append([]string{"status"}, c.args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("status %v: exit %d, %q; want exit 2 saying %q", c.args, r.code, r.stderr, c.want)
		}
	}
}

// firstFireOnly is a crontab whose single job starts cmd on its first fire only.
func firstFireOnly(t *testing.T, cmd string) string {
	flag := filepath.Join(t.TempDir(), "fired")
	return writeFile(t, "crontab", fmt.Sprintf("# soloist: name=bg\n* * * * * * * [ -e %[1]s ] && exit 0; touch %[1]s; %[2]s\n", flag, cmd))
}

func TestABackgroundedChildEndsWithItsRun(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDatabase(t)
	env := []string{"SOLOIST_DSN=" + d.DSN(), "SOLOIST_TTL=1s", "SOLOIST_KILL_GRACE=2s"}

	t.Run("SweptWhenTheShellExits", func(t *testing.T) {
		marker := marked(t)
		t.Cleanup(func() { killMarked(marker) })
		ct := firstFireOnly(t, "sleep 1003"+marker+" >/dev/null 2>&1 &")
		p := start(t, append(env, "SOLOIST_GROUP=swept"), "run", "--crontab", ct)
		p.waitLog(t, "the command left processes behind; ending them", 20*time.Second)
		// The sweep returns before the run is recorded, so by the time the
		// history says succeeded, the sleep is gone.
		dbtest.WaitFor(t, 10*time.Second, "the run recorded", func() bool {
			r := soloistCmd(t, []string{"SOLOIST_DSN=" + d.DSN()}, "runs", "--group", "swept", "--json")
			return strings.Contains(r.stdout, `"succeeded"`)
		})
		if running("^sleep 1003" + marker) {
			t.Fatal("the backgrounded sleep outlived its run")
		}
	})

	t.Run("KeptWhenTheRunnerIsToldTo", func(t *testing.T) {
		marker := marked(t)
		t.Cleanup(func() { killMarked(marker) })
		ct := firstFireOnly(t, "sleep 1003"+marker+" >/dev/null 2>&1 &")
		p := start(t, append(env, "SOLOIST_GROUP=kept", "SOLOIST_KEEP_BACKGROUND=true"), "run", "--crontab", ct)
		dbtest.WaitFor(t, 20*time.Second, "the run recorded", func() bool {
			r := soloistCmd(t, []string{"SOLOIST_DSN=" + d.DSN()}, "runs", "--group", "kept", "--json")
			return strings.Contains(r.stdout, `"succeeded"`)
		})
		if !running("^sleep 1003" + marker) {
			t.Fatal("with --keep-background the daemon did not survive its run")
		}
		p.stop(t, syscall.SIGTERM, 15*time.Second)
		if strings.Contains(p.log(), "left processes behind") {
			t.Fatalf("with --keep-background the runner still swept:\n%s", p.log())
		}
	})
}

// cgroup2 is where the unified cgroup hierarchy is mounted.
func cgroup2(t *testing.T) string {
	f, err := os.Open("/proc/mounts")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if fields := strings.Fields(s.Text()); len(fields) > 2 && fields[2] == "cgroup2" {
			return fields[1]
		}
	}
	t.Fatal("no cgroup2 hierarchy is mounted: this test needs Linux with cgroup v2 and root, as systemd has (mount -t cgroup2 none /sys/fs/cgroup)")
	return ""
}

// TestARunnerKilledWithSIGKILL shows what a SIGKILL of the runner leaves
// and how the service manager ends it. The runner runs in a cgroup of its
// own, as systemd starts a service; the job's shell starts a grandchild.
// After the SIGKILL the kernel's parent-death signal ends the shell but not
// the grandchild, which nothing in the runner can reach any more. systemd
// with KillMode=control-group (its default) kills every process left in the
// service's cgroup when the main process dies; the test does what systemd
// does, through cgroup.kill, and the grandchild is gone.
func TestARunnerKilledWithSIGKILL(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDatabase(t)
	marker := marked(t)
	t.Cleanup(func() { killMarked(marker) })
	group := filepath.Join(cgroup2(t), "soloist-test-"+marker)
	if err := os.Mkdir(group, 0o755); err != nil {
		t.Fatalf("create a cgroup as systemd would (needs root): %v", err)
	}
	t.Cleanup(func() {
		_ = os.WriteFile(filepath.Join(group, "cgroup.kill"), []byte("1"), 0)
		dbtest.WaitFor(t, 10*time.Second, "the test's cgroup to empty", func() bool { return len(procs(t, group)) == 0 })
		_ = os.Remove(group)
	})
	ct := firstFireOnly(t, "sh -c 'sleep 1006"+marker+"; true'")
	sp, err := spawn.Start("sh", []string{"-c", `echo $$ > "$0/cgroup.procs" && exec "$@"`, group, binary(t), "run", "--crontab", ct},
		append(cleanEnv(), "SOLOIST_DSN="+d.DSN(), "SOLOIST_TTL=1s"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sp.Kill)

	dbtest.WaitFor(t, 20*time.Second, "the job's grandchild to start", func() bool { return running("^sleep 1006" + marker) })
	if err := sp.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-sp.Done()
	// The runner is gone; its command's grandchild is not, and it is still
	// in the service's cgroup.
	if !running("^sleep 1006" + marker) {
		t.Fatal("the grandchild ended with the runner: the test no longer shows what the service manager is for")
	}
	if len(procs(t, group)) == 0 {
		t.Fatal("the grandchild left the runner's cgroup")
	}
	// What systemd does when a service's main process dies.
	if err := os.WriteFile(filepath.Join(group, "cgroup.kill"), []byte("1"), 0); err != nil {
		t.Fatalf("cgroup.kill (Linux 5.14 or later): %v", err)
	}
	dbtest.WaitFor(t, 10*time.Second, "the cgroup to empty", func() bool { return len(procs(t, group)) == 0 })
	if running("^sleep 1006" + marker) {
		t.Fatal("the grandchild survived the cgroup's kill")
	}
}

// procs are the processes in a cgroup.
func procs(t *testing.T, group string) []string {
	b, err := os.ReadFile(filepath.Join(group, "cgroup.procs"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(b))
}

func TestNegativeDurationsAreRefused(t *testing.T) {
	t.Parallel()
	ct := writeFile(t, "crontab", "* * * * * true\n")
	for _, c := range []struct {
		env  []string
		args []string
	}{
		{nil, []string{"run", "--check", "--crontab", ct, "--kill-grace", "-1s"}},
		{[]string{"SOLOIST_KILL_GRACE=-1s"}, []string{"run", "--check", "--crontab", ct}},
		{nil, []string{"run", "--check", "--crontab", ct, "--grace", "-5s"}},
		{nil, []string{"run", "--check", "--crontab", ct, "--ttl", "-30s"}},
		{nil, []string{"run", "--check", "--crontab", ct, "--interval", "-1ms"}},
		{nil, []string{"run", "--check", "--crontab", ct, "--safety-margin", "-1s"}},
		{nil, []string{"run", "--check", "--crontab", ct, "--retention", "-24h"}},
		{nil, []string{"dashboard", "--refresh", "-1s"}},
	} {
		r := soloistCmd(t, c.env, c.args...)
		if r.code != 2 || !strings.Contains(r.stderr, "must not be negative") {
			t.Errorf("%v %v: exit %d %q; want exit 2, must not be negative", c.env, c.args, r.code, r.stderr)
		}
	}
	if r := soloistCmd(t, nil, "run", "--check", "--crontab", ct, "--kill-grace", "0s"); r.code != 0 {
		t.Errorf("--kill-grace 0s: exit %d %s", r.code, r.stderr)
	}
}

func TestMalformedDSNsNeverShowThePassword(t *testing.T) {
	t.Parallel()
	const secret = "Secret-Passw0rd"
	for _, dsn := range []string{
		"user:" + secret,                           // no @, no address
		"user:" + secret + "/soloist",              // no @: the driver takes the credentials for a network
		"user:" + secret + "#tcp(db:3306)/soloist", // # where the @ belongs
		"user:" + secret + " tcp(db:3306)/soloist", // a space where the @ belongs
		"user:" + secret + "@tcp(db:3306",          // unterminated address
		"user:" + secret + "@tcp(db:3306)",         // no database
	} {
		if red := cli.Redact(dsn); strings.Contains(red, "Secret") || strings.Contains(red, "Passw0rd") {
			t.Errorf("Redact(%q) = %q", dsn, red)
		}
		_, err := cli.ParseDSN(dsn)
		if err == nil {
			t.Errorf("ParseDSN(%q) accepted it", dsn)
			continue
		}
		if strings.Contains(err.Error(), "Secret") || strings.Contains(err.Error(), "Passw0rd") {
			t.Errorf("ParseDSN(%q): %v", dsn, err)
		}
		r := soloistCmd(t, []string{"SOLOIST_DSN=" + dsn}, "status")
		if r.code != cli.ExitUsage || strings.Contains(r.stderr, "Secret") {
			t.Errorf("status with %q: exit %d %q", dsn, r.code, r.stderr)
		}
	}
	if red := cli.Redact("user:" + secret + "@tcp(db:3306)/soloist"); red != "user@tcp(db:3306)/soloist" {
		t.Errorf("a well-formed DSN redacts to %q", red)
	}
}

func TestRunsOutputShowsEscapeSequencesInsteadOfSendingThem(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDatabase(t)
	env := []string{"SOLOIST_DSN=" + d.DSN(), "SOLOIST_TTL=1s"}
	// Set the terminal's title, clear the screen, and overwrite a line.
	ct := writeFile(t, "crontab", `# soloist: name=esc
* * * * * * * printf 'a\033]0;pwned\007b\033[2Jc\rd\n'; exit 3
`)
	start(t, env, "run", "--crontab", ct)
	var r result
	dbtest.WaitFor(t, 20*time.Second, "a run of esc", func() bool {
		r = soloistCmd(t, env, "runs", "--output", "--limit", "1")
		return strings.Contains(r.stdout, "output (tail)")
	})
	if strings.ContainsAny(r.stdout, "\x1b\x07\r") {
		t.Fatalf("runs --output sent control characters to the terminal: %q", r.stdout)
	}
	if !strings.Contains(r.stdout, `a\x1b]0;pwned\x07b\x1b[2Jc\x0dd`) {
		t.Fatalf("runs --output does not show the escapes: %q", r.stdout)
	}
	j := soloistCmd(t, env, "runs", "--json", "--limit", "1")
	if !strings.Contains(j.stdout, `a\u001b]0;pwned\u0007b`) {
		t.Fatalf("runs --json does not keep the output as written: %s", j.stdout)
	}
}

func TestGrantsRefusesAnythingButAnAccountName(t *testing.T) {
	t.Parallel()
	for _, user := range []string{
		"'x'@'%'; DROP DATABASE mysql; --",
		"x",
		"'x'@'%' WITH GRANT OPTION",
		"'x'@'%'\n",
		`'x\'@'%'`,
		"'x'@''",
		"''@'%'",
	} {
		r := soloistCmd(t, nil, "grants", "--user", user)
		if r.code != cli.ExitUsage || r.stdout != "" || !strings.Contains(r.stderr, "want an account quoted as in SQL") {
			t.Errorf("grants --user %q: exit %d, stdout %q, stderr %q", user, r.code, r.stdout, r.stderr)
		}
	}
	for _, user := range []string{"'soloist_runner'@'%'", "'ops'@'10.0.0.%'", "'a b'@'db.example.com'"} {
		if r := soloistCmd(t, nil, "grants", "--role", "operator", "--user", user); r.code != 0 || !strings.Contains(r.stdout, " TO "+user+";") {
			t.Errorf("grants --user %q: exit %d %q %q", user, r.code, r.stdout, r.stderr)
		}
	}
}

func TestHTTPAnswersOnlyHostsThatCannotBeRebound(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDatabase(t)
	p := start(t, []string{"SOLOIST_DSN=" + d.DSN(), "SOLOIST_HTTP_ALLOW_HOST=dash.example.com,ops.internal"},
		"dashboard", "--http", "127.0.0.1:0")
	addr := httpAddr(t, p, "soloist dashboard")
	_, port, _ := strings.Cut(addr, ":")
	get := func(host string) int {
		req, err := http.NewRequest("GET", "http://"+addr+"/api/status", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for host, want := range map[string]int{
		// A page of attacker.example whose name was rebound to 127.0.0.1.
		"attacker.example:" + port:   http.StatusForbidden,
		"attacker.example":           http.StatusForbidden,
		"localhost.attacker.example": http.StatusForbidden,
		addr:                         http.StatusOK,
		"localhost:" + port:          http.StatusOK,
		"[::1]:" + port:              http.StatusOK,
		"DASH.example.com:" + port:   http.StatusOK,
		"ops.internal":               http.StatusOK,
	} {
		if got := get(host); got != want {
			t.Errorf("Host: %s: %d, want %d", host, got, want)
		}
	}
}

// TestAForcedReleaseOfAStoppedHolder: the holder is frozen (SIGSTOP) with a
// lease of an hour, which would block the group for that hour. An operator
// forces the lease off: the other runner leads at its next poll, runs the
// jobs, and the frozen holder, once it runs again, finds its heartbeat
// refused and steps down.
func TestAForcedReleaseOfAStoppedHolder(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDatabase(t)
	ct := writeFile(t, "crontab", "# soloist: name=tick\n* * * * * * * true\n")
	env := []string{"SOLOIST_DSN=" + d.DSN(), "SOLOIST_GROUP=forced", "SOLOIST_TTL=1h", "SOLOIST_INTERVAL=1s"}
	holder := func() (string, int64) {
		st := statusJSON(t, []string{"SOLOIST_DSN=" + d.DSN()})
		if len(st.Groups) == 0 || st.Groups[0].Holder == nil || st.Groups[0].HeartbeatAgeMs == nil {
			return "", 0
		}
		return *st.Groups[0].Holder, *st.Groups[0].HeartbeatAgeMs
	}
	a := start(t, append(env, "SOLOIST_OWNER=10.0.0.1/a"), "run", "--crontab", ct)
	dbtest.WaitFor(t, 20*time.Second, "a to lead", func() bool { h, _ := holder(); return h == "10.0.0.1/a" })
	b := start(t, append(env, "SOLOIST_OWNER=10.0.0.2/b"), "run", "--crontab", ct)
	b.waitLog(t, "runner started", 20*time.Second)

	if err := a.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Signal(syscall.SIGCONT) })
	dbtest.WaitFor(t, 20*time.Second, "a's heartbeat to go quiet for three intervals", func() bool {
		h, age := holder()
		return h == "10.0.0.1/a" && age > 3000
	})
	r := soloistCmd(t, env, "release", "--group", "forced", "--force")
	if r.code != 0 || !strings.Contains(r.stdout, "ended the lease of 10.0.0.1/a") || !strings.Contains(r.stdout, "it looks dead or paused") {
		t.Fatalf("release --force: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// b leads long before the hour-long lease would have expired.
	dbtest.WaitFor(t, 20*time.Second, "b to lead", func() bool { h, _ := holder(); return h == "10.0.0.2/b" })
	b.waitLog(t, "job=tick", 20*time.Second)
	var gapMs int64
	if err := d.DB.QueryRow(`SELECT TIMESTAMPDIFF(MICROSECOND, a.ended_at, b.acquired_at) DIV 1000
		FROM lease_terms a JOIN lease_terms b ON b.name = a.name AND b.token = a.token + 1
		WHERE a.name = 'forced' AND a.end_reason = 'forced'`).Scan(&gapMs); err != nil {
		t.Fatal(err)
	}
	if gapMs < 0 {
		t.Fatalf("b's term began %d ms before a's was forced to end", gapMs)
	}
	t.Logf("b led %d ms after the forced release (interval 1s)", gapMs)

	// a runs again: its next heartbeat is refused and it steps down.
	if err := a.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	a.waitLog(t, "stopped leading", 20*time.Second)
	if h, _ := holder(); h != "10.0.0.2/b" {
		t.Fatalf("after a woke, the holder is %q", h)
	}
}
