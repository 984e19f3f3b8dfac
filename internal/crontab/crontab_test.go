package crontab_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/soloist-dev/soloist/internal/crontab"
	"github.com/soloist-dev/soloist/runner"
)

func parse(t *testing.T, text string) *crontab.Crontab {
	t.Helper()
	ct, err := crontab.Parse("crontab", strings.NewReader(text), nil)
	if err != nil {
		t.Fatal(err)
	}
	return ct
}

func TestAStandardCrontabParsesUnchanged(t *testing.T) {
	ct := parse(t, `# m h dom mon dow command
SHELL=/bin/bash
PATH = "/usr/local/bin:/usr/bin:/bin"
MAILTO=ops@example.com

*/5 * * * * /usr/local/bin/poll --quick
0 2 * * 1-5 backup.sh >> /var/log/backup.log 2>&1
*/10 * * * * * echo every ten seconds
@hourly    rotate-logs
@every 30s echo half a minute
@daily date +\%F%dear diary%second line
CRON_TZ=Asia/Tokyo
0 9 * * * echo ohayo
TZ=America/New_York 30 8 * * * echo morning in New York
`)
	want := []struct {
		schedule, command, input, zone string
	}{
		{"*/5 * * * *", "/usr/local/bin/poll --quick", "", "UTC"},
		{"0 2 * * 1-5", "backup.sh >> /var/log/backup.log 2>&1", "", "UTC"},
		{"*/10 * * * * *", "echo every ten seconds", "", "UTC"},
		{"@hourly", "rotate-logs", "", "UTC"},
		{"@every 30s", "echo half a minute", "", "UTC"},
		{"@daily", "date +%F", "dear diary\nsecond line\n", "UTC"},
		{"0 9 * * *", "echo ohayo", "", "Asia/Tokyo"},
		{"TZ=America/New_York 30 8 * * *", "echo morning in New York", "", "Asia/Tokyo"},
	}
	if len(ct.Entries) != len(want) {
		t.Fatalf("%d entries, want %d", len(ct.Entries), len(want))
	}
	for i, w := range want {
		e := ct.Entries[i]
		if e.Schedule != w.schedule || e.Command != w.command || e.Input != w.input || e.Location.String() != w.zone {
			t.Errorf("entry %d: %q %q %q %s, want %q %q %q %s", i, e.Schedule, e.Command, e.Input, e.Location, w.schedule, w.command, w.input, w.zone)
		}
		if e.Shell != "/bin/bash" {
			t.Errorf("entry %d: shell %q", i, e.Shell)
		}
	}
	env := strings.Join(ct.Entries[0].Env, "\n")
	if !strings.Contains(env, "PATH=/usr/local/bin:/usr/bin:/bin") {
		t.Errorf("quoted PATH not unquoted: %v", ct.Entries[0].Env)
	}
	if len(ct.Warnings) != 1 || !strings.Contains(ct.Warnings[0], "MAILTO is ignored") {
		t.Errorf("warnings: %v", ct.Warnings)
	}
}

func TestAnEmptyMAILTOIsNoWarning(t *testing.T) {
	ct := parse(t, "MAILTO=\"\"\nMAILTO=\n* * * * * true\n")
	if len(ct.Warnings) != 0 {
		t.Errorf("MAILTO=\"\" asks for no mail, as Soloist sends none; warnings: %v", ct.Warnings)
	}
}

func TestSettingsRideInTheCommentAboveAnEntry(t *testing.T) {
	ct := parse(t, `# soloist: name=nightly-report timeout=30m concurrency=replace
# soloist: missed=all deadline=2h
0 2 * * * report
`)
	e := ct.Entries[0]
	if e.Name != "nightly-report" || !e.Named || e.Timeout != 30*time.Minute || e.Concurrency != runner.ConcurrencyReplace ||
		e.Missed != runner.MissedRunAll || e.StartingDeadline != 2*time.Hour {
		t.Fatalf("%+v", e)
	}
}

func TestDerivedNamesAreStable(t *testing.T) {
	a := parse(t, "0 2 * * * /usr/local/bin/Backup.sh --full\n")
	b := parse(t, "# a comment\n\n0 2 * * * /usr/local/bin/Backup.sh --full\n")
	c := parse(t, "0 3 * * * /usr/local/bin/Backup.sh --full\n")
	if a.Entries[0].Name != b.Entries[0].Name {
		t.Fatalf("the name moved with the line: %s vs %s", a.Entries[0].Name, b.Entries[0].Name)
	}
	if a.Entries[0].Name == c.Entries[0].Name {
		t.Fatal("two different lines got the same name")
	}
	if !strings.HasPrefix(a.Entries[0].Name, "backup-sh-") {
		t.Fatalf("name %q does not start with the program", a.Entries[0].Name)
	}
}

func TestEveryProblemIsReportedWithItsLine(t *testing.T) {
	_, err := crontab.Parse("ct", strings.NewReader("61 * * * * a\n* * * * * ok\n# soloist: bogus=1\n* * * * * b\nnot a line\n"), nil)
	var lines []int
	for _, e := range unwrap(err) {
		var ce *crontab.Error
		if !errors.As(e, &ce) {
			t.Fatalf("error %v is not a *crontab.Error", e)
		}
		lines = append(lines, ce.Line)
	}
	if len(lines) != 3 || lines[0] != 1 || lines[1] != 3 || lines[2] != 5 {
		t.Fatalf("errors on lines %v, want 1, 3, 5: %v", lines, err)
	}
}

func unwrap(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
