package cli_test

import (
	"strings"
	"testing"
	"time"

	"github.com/soloist-dev/soloist/internal/dbtest"
)

// TestBalanceReachesTheRunner starts soloist run with --balance and
// SOLOIST_BALANCE in their spellings and reads the mode its runner was
// built with from the start-up record, which logs the value that decides
// whether runner.WithBalance() is passed.
func TestBalanceReachesTheRunner(t *testing.T) {
	t.Parallel()
	if r := soloistCmd(t, nil, "run", "--help"); r.code != 0 || !strings.Contains(r.stdout, "--balance") || !strings.Contains(r.stdout, "(env SOLOIST_BALANCE)") {
		t.Fatalf("run --help does not show --balance and its variable:\n%s", r.stdout)
	}
	d := dbtest.NewDatabase(t)
	ct := writeFile(t, "crontab", "# soloist: name=tick weight=2 hosts=127.0.0.1\n@hourly true\n")
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"Default", nil, nil, "balance=false"},
		{"Flag", nil, []string{"--balance"}, "balance=true"},
		{"Environment", []string{"SOLOIST_BALANCE=true"}, nil, "balance=true"},
		{"EnvironmentAsOne", []string{"SOLOIST_BALANCE=1"}, nil, "balance=true"},
		{"FlagOverridesEnvironment", []string{"SOLOIST_BALANCE=1"}, []string{"--balance=false"}, "balance=false"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// A group each: the runners of one group must agree on the mode.
			env := append([]string{"SOLOIST_DSN=" + d.DSN(), "SOLOIST_GROUP=mode-" + strings.ToLower(tc.name)}, tc.env...)
			p := start(t, env, append([]string{"run", ct}, tc.args...)...)
			p.waitLog(t, `msg="soloist run"`, 20*time.Second)
			var line string
			for _, l := range strings.Split(p.log(), "\n") {
				if strings.Contains(l, `msg="soloist run"`) {
					line = l
				}
			}
			if !strings.Contains(line, " "+tc.want+" ") {
				t.Fatalf("the start-up record lacks %s:\n%s", tc.want, line)
			}
		})
	}
}
