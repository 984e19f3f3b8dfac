package cli_test

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/soloist-dev/soloist/internal/cli"
	"github.com/soloist-dev/soloist/internal/dbtest"
)

// supercronicDir holds supercronic v0.2.48's own integration crontabs
// (kept with their source named).
const supercronicDir = "../crontab/testdata/outside/supercronic/integration"

// TestSupercronicsIntegrationCrontabsRunTheSame runs the real `soloist run`
// on each of supercronic's integration crontabs that supercronic runs, and
// wants what supercronic's own test (integration/test.bats) wants of it:
// the commands start, with the same output, now in the run history.
func TestSupercronicsIntegrationCrontabsRunTheSame(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		file   string
		env    []string
		output string // each run's output
		runs   int    // at least this many runs that succeeded
	}{
		{"hello.crontab", nil, "hello from crontab\n", 4}, // "it runs a cron job": more than 3
		{"env.crontab", []string{"VAR=hello from foo"}, "hello from foo\n", 1},
		{"override.crontab", []string{"VAR=hello from foo"}, "hello from bar\n", 1},
		{"normal.crontab", nil, "1\n", 2},
		{"zombie.crontab", nil, "", 2},
		{"timeout.crontab", nil, "", 1},
	} {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			d := dbtest.NewDatabase(t)
			env := append([]string{"SOLOIST_DSN=" + d.DSN(), "SOLOIST_TTL=1s"}, tc.env...)
			p := start(t, env, "run", "--crontab", filepath.Join(supercronicDir, tc.file))
			var runs []cli.Run
			dbtest.WaitFor(t, 30*time.Second, "the runs", func() bool {
				r := soloistCmd(t, env, "runs", "--json", "--limit", "100")
				runs = nil
				if err := json.Unmarshal([]byte(r.stdout), &runs); err != nil {
					t.Fatalf("runs --json: %v\n%s", err, r.stdout)
				}
				ok := 0
				for _, run := range runs {
					if run.Outcome == "succeeded" {
						ok++
					}
				}
				return ok >= tc.runs
			})
			for _, run := range runs {
				if run.Outcome != "succeeded" && run.Outcome != "missed" && run.Outcome != "running" {
					t.Errorf("run %d: %s (%v)", run.ID, run.Outcome, deref(run.Message))
				}
				if run.Outcome == "succeeded" && deref(run.Output) != tc.output {
					t.Errorf("run %d: output %q, want %q as under supercronic", run.ID, deref(run.Output), tc.output)
				}
			}
			if line := strings.TrimSuffix(tc.output, "\n"); line != "" &&
				!strings.Contains(p.log(), "stream=stdout line=\""+line+"\"") && !strings.Contains(p.log(), "stream=stdout line="+line+"\n") {
				t.Errorf("the log lacks the command's output %q", tc.output)
			}
			// "it warns when a job is falling behind": here the fires that
			// came due while it ran are recorded as missed.
			if tc.file == "timeout.crontab" {
				p.waitLog(t, `msg="fire missed"`, 10*time.Second)
			}
			if code := p.stop(t, syscall.SIGTERM, 15*time.Second); code != 0 {
				t.Fatalf("exit %d", code)
			}
		})
	}

	// "it waits for jobs to exit before terminating".
	t.Run("exit.crontab", func(t *testing.T) {
		t.Parallel()
		d := dbtest.NewDatabase(t)
		env := []string{"SOLOIST_DSN=" + d.DSN(), "SOLOIST_TTL=1s", "MSG_START=will start", "MSG_DONE=all done"}
		p := start(t, env, "run", "--crontab", filepath.Join(supercronicDir, "exit.crontab"))
		p.waitLog(t, `line="will start"`, 30*time.Second)
		if code := p.stop(t, syscall.SIGTERM, 15*time.Second); code != 0 {
			t.Fatalf("exit %d", code)
		}
		if !strings.Contains(p.log(), `line="all done"`) {
			t.Fatal("the job did not finish before soloist exited")
		}
	})

	// "it starts" with a crontab of no jobs, and "it warns when USER is set".
	for _, tc := range []struct{ file, log string }{
		{"noop.crontab", "jobs=0"},
		{"user.crontab", "USER does not change the user"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			d := dbtest.NewDatabase(t)
			p := start(t, []string{"SOLOIST_DSN=" + d.DSN(), "SOLOIST_TTL=1s"}, "run", "--crontab", filepath.Join(supercronicDir, tc.file))
			p.waitLog(t, tc.log, 30*time.Second)
			if code := p.stop(t, syscall.SIGTERM, 15*time.Second); code != 0 {
				t.Fatalf("exit %d", code)
			}
		})
	}

	// "it errors on an invalid crontab".
	t.Run("invalid.crontab", func(t *testing.T) {
		t.Parallel()
		r := soloistCmd(t, nil, "run", "--check", "--crontab", filepath.Join(supercronicDir, "invalid.crontab"))
		if r.code != cli.ExitError || !strings.Contains(r.stderr, "invalid.crontab:1:") {
			t.Fatalf("exit %d\n%s", r.code, r.stderr)
		}
	})
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
