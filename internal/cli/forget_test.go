package cli_test

import (
	"encoding/json"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/soloist-dev/soloist/internal/cli"
	"github.com/soloist-dev/soloist/internal/dbtest"
)

func TestForgetRemovesAStaleJobAndGroupButKeepsRunsAndTokens(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDatabase(t)
	ct := writeFile(t, "crontab", "# soloist: name=keep\n* * * * * * * true\n# soloist: name=gone\n* * * * * * * true\n")
	env := []string{"SOLOIST_DSN=" + d.DSN()}
	runEnv := append([]string{"SOLOIST_GROUP=old", "SOLOIST_TTL=1s"}, env...)
	a := start(t, append(runEnv, "SOLOIST_OWNER=10.0.0.1/a"), "run", ct)
	a.waitLog(t, "leading", 10*time.Second)

	runsOf := func(job string) []cli.Run {
		t.Helper()
		r := soloistCmd(t, env, "runs", "--group", "old", "--job", job, "--json")
		var runs []cli.Run
		if err := json.Unmarshal([]byte(r.stdout), &runs); err != nil {
			t.Fatalf("runs --json: %v\n%s%s", err, r.stdout, r.stderr)
		}
		return runs
	}
	jobsOf := func(st cli.Status) (names []string) {
		for _, g := range st.Groups {
			for _, j := range g.Jobs {
				names = append(names, g.Name+"/"+j.Name)
			}
		}
		return names
	}
	dbtest.WaitFor(t, 10*time.Second, "gone to run", func() bool { return len(runsOf("gone")) > 0 })

	t.Run("RefusalsAndUnknownNamesChangeNothing", func(t *testing.T) {
		for _, c := range []struct {
			args []string
			code int
			want string
		}{
			{[]string{"forget", "--group", "old"}, cli.ExitError, `group "old": the group has a live lease: stop its runners`},
			{[]string{"forget", "--group", "nosuch"}, cli.ExitError, `group "nosuch" does not exist; the groups are: old`},
			{[]string{"forget", "--group", "old", "--job", "nosuch"}, cli.ExitError, `group "old" has no job "nosuch"; its jobs are: gone, keep`},
			{[]string{"forget", "--job", "gone"}, cli.ExitUsage, "missing --group"},
		} {
			r := soloistCmd(t, env, c.args...)
			if r.code != c.code || !strings.Contains(r.stderr, c.want) {
				t.Errorf("soloist %s: exit %d, stderr %q; want exit %d and %q", strings.Join(c.args, " "), r.code, r.stderr, c.code, c.want)
			}
		}
		st := statusJSON(t, env)
		if got := strings.Join(jobsOf(st), " "); len(st.Groups) != 1 || got != "old/gone old/keep" {
			t.Fatalf("the refused commands changed the groups or jobs: %d groups, jobs %s", len(st.Groups), got)
		}
	})

	t.Run("AJobRemovedFromTheCrontabIsForgottenAndItsRunsStay", func(t *testing.T) {
		if err := os.WriteFile(ct, []byte("# soloist: name=keep\n* * * * * * * true\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		_ = a.Signal(syscall.SIGHUP)
		a.waitLog(t, "crontab reloaded", 5*time.Second)
		// A run of gone claimed before the reload may still be in
		// progress: forget refuses until it ends, and says why.
		var out string
		dbtest.WaitFor(t, 10*time.Second, "forget of the removed job to succeed", func() bool {
			r := soloistCmd(t, env, "forget", "--group", "old", "--job", "gone")
			if r.code != 0 && !strings.Contains(r.stderr, "the job has a run in progress") {
				t.Fatalf("forget --job gone: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			out = r.stdout
			return r.code == 0
		})
		if !strings.Contains(out, `forgot job "gone" of group "old"`) {
			t.Fatalf("forget --job says %q", out)
		}
		if got := strings.Join(jobsOf(statusJSON(t, env)), " "); got != "old/keep" {
			t.Fatalf("status after forgetting gone lists jobs %s; want old/keep", got)
		}
		if len(runsOf("gone")) == 0 {
			t.Fatal("forgetting gone removed its runs")
		}
	})

	var token uint64
	t.Run("AGroupIsForgottenOnceItsLeaseIsNotLive", func(t *testing.T) {
		token = statusJSON(t, env).Groups[0].Token
		if code := a.stop(t, syscall.SIGTERM, 15*time.Second); code != 0 {
			t.Fatalf("runner exit %d", code)
		}
		dbtest.WaitFor(t, 10*time.Second, "the lease to end", func() bool { return statusJSON(t, env).Groups[0].Status != "held" })
		r := soloistCmd(t, env, "forget", "--group", "old")
		if r.code != 0 || !strings.Contains(r.stdout, `forgot group "old" (1 job, 0 hosts on its allow-list); its runs stay`) {
			t.Fatalf("forget --group old: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		if st := statusJSON(t, env); len(st.Groups) != 0 {
			t.Fatalf("status still lists %+v", st.Groups)
		}
		if len(runsOf("keep")) == 0 || len(runsOf("gone")) == 0 {
			t.Fatal("forgetting the group removed its runs")
		}
		if r := soloistCmd(t, env, "forget", "--group", "old"); r.code != cli.ExitError || !strings.Contains(r.stderr, `group "old" does not exist`) {
			t.Fatalf("forget of a forgotten group: exit %d %q", r.code, r.stderr)
		}
	})

	t.Run("ARunnerBringsTheGroupBackWithAGreaterToken", func(t *testing.T) {
		b := start(t, append(runEnv, "SOLOIST_OWNER=10.0.0.2/b"), "run", ct)
		b.waitLog(t, "leading", 10*time.Second)
		st := statusJSON(t, env)
		if len(st.Groups) != 1 || st.Groups[0].Name != "old" || st.Groups[0].Token <= token {
			t.Fatalf("after a runner started again: %+v; want group old with a token above %d", st.Groups, token)
		}
		if code := b.stop(t, syscall.SIGTERM, 15*time.Second); code != 0 {
			t.Fatalf("runner exit %d", code)
		}
	})
}
