package cli_test

import (
	"strings"
	"testing"
	"time"

	"github.com/soloist-dev/soloist/internal/dbtest"
)

// TestBalanceReachesTheRunner starts soloist run with --balance and
// SOLOIST_BALANCE in their spellings, reads the mode from the start-up
// record, and checks that the database sees the runner in that mode.
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
			group := "mode-" + strings.ToLower(tc.name)
			env := append([]string{"SOLOIST_DSN=" + d.DSN(), "SOLOIST_GROUP=" + group}, tc.env...)
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
			// And the database agrees: a balanced runner is a member of its
			// group, a leader-mode runner holds the group's own lease.
			balanced := tc.want == "balance=true"
			dbtest.WaitFor(t, 20*time.Second, "the runner's mode to show in the database", func() bool {
				var members, held int
				d.DB.QueryRow("SELECT COUNT(*) FROM lease_members WHERE lease_name = ? AND expires_at > UTC_TIMESTAMP(6)", group).Scan(&members)
				d.DB.QueryRow("SELECT COUNT(*) FROM leases WHERE name = ? AND holder IS NOT NULL", group).Scan(&held)
				if balanced {
					return members == 1 && held == 0
				}
				return members == 0 && held == 1
			})
		})
	}
}

// TestARunnerOfTheOtherModeRefusesToStart: a --balance runner of a group
// that a leader-mode runner leads exits 1 and says who leads it, and a
// leader-mode runner of a group that balanced runners share exits 1 too.
func TestARunnerOfTheOtherModeRefusesToStart(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDatabase(t)
	ct := writeFile(t, "crontab", "@hourly true\n")
	env := func(group string) []string { return []string{"SOLOIST_DSN=" + d.DSN(), "SOLOIST_GROUP=" + group} }

	start(t, env("led"), "run", ct)
	dbtest.WaitFor(t, 20*time.Second, "the leader-mode runner to lead", func() bool {
		var held int
		d.DB.QueryRow("SELECT COUNT(*) FROM leases WHERE name = 'led' AND holder IS NOT NULL").Scan(&held)
		return held == 1
	})
	r := soloistCmd(t, env("led"), "run", "--balance", ct)
	if r.code != 1 || !strings.Contains(r.stderr, "group led runs in leader mode") || !strings.Contains(r.stderr, "holds its lease") {
		t.Fatalf("a --balance runner of a leader-mode group: exit %d\n%s", r.code, r.stderr)
	}

	start(t, env("spread"), "run", "--balance", ct)
	dbtest.WaitFor(t, 20*time.Second, "the balanced runner to join", func() bool {
		var members int
		d.DB.QueryRow("SELECT COUNT(*) FROM lease_members WHERE lease_name = 'spread'").Scan(&members)
		return members == 1
	})
	r = soloistCmd(t, env("spread"), "run", ct)
	if r.code != 1 || !strings.Contains(r.stderr, "group spread runs in balanced mode") || !strings.Contains(r.stderr, "--balance") {
		t.Fatalf("a leader-mode runner of a balanced group: exit %d\n%s", r.code, r.stderr)
	}
}
