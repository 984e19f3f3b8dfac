package crontab_test

import (
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/soloist-dev/soloist/internal/crontab"
	"github.com/soloist-dev/soloist/runner"
)

// The notes compare the schedules' zone with the server's: make the
// server's UTC, like the default --time-zone, wherever the tests run.
func init() { time.Local = time.UTC }

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
*/10 * * * * * * echo every ten seconds
@hourly    rotate-logs
@every 30s echo half a minute
@daily date +\%F%dear diary%second line
CRON_TZ=Asia/Tokyo
0 9 * * * echo ohayo
CRON_TZ=America/New_York 30 8 * * * echo morning in New York
`)
	want := []struct {
		schedule, command, input, zone string
	}{
		{"*/5 * * * *", "/usr/local/bin/poll --quick", "", "UTC"},
		{"0 2 * * 1-5", "backup.sh >> /var/log/backup.log 2>&1", "", "UTC"},
		{"*/10 * * * * * *", "echo every ten seconds", "", "UTC"},
		{"@hourly", "rotate-logs", "", "UTC"},
		{"@every 30s", "echo half a minute", "", "UTC"},
		{"@daily", "date +%F", "dear diary\nsecond line\n", "UTC"},
		{"0 9 * * *", "echo ohayo", "", "Asia/Tokyo"},
		{"CRON_TZ=America/New_York 30 8 * * *", "echo morning in New York", "", "Asia/Tokyo"},
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

// refusal parses text and returns the one error's line and message.
func refusal(t *testing.T, name, text string) (int, string) {
	t.Helper()
	_, err := crontab.Parse(name, strings.NewReader(text), nil)
	errs := unwrap(err)
	var ce *crontab.Error
	if err == nil || len(errs) != 1 || !errors.As(errs[0], &ce) {
		t.Fatalf("want one *crontab.Error, got %v", err)
	}
	return ce.Line, ce.Msg
}

func notes(ct *crontab.Crontab) string {
	var b strings.Builder
	for _, n := range ct.Notes {
		fmt.Fprintf(&b, "%d: %s\n", n.Line, n.Text)
	}
	return b.String()
}

func TestFieldsAreReadAsSupercronicReadsThemAndTheCheckSaysHowCronWould(t *testing.T) {
	ct := parse(t, `* * * * * * * echo hello
0 0 * * * 2030 echo in 2030
0 0 * * * echo five
`)
	want := []struct{ schedule, command string }{
		{"* * * * * * *", "echo hello"},
		{"0 0 * * * 2030", "echo in 2030"},
		{"0 0 * * *", "echo five"},
	}
	for i, w := range want {
		if e := ct.Entries[i]; e.Schedule != w.schedule || e.Command != w.command {
			t.Errorf("line %d: %q %q, want %q %q", e.Line, e.Schedule, e.Command, w.schedule, w.command)
		}
	}
	n := notes(ct)
	for _, w := range []string{`1: read as seconds, five fields and a year, as supercronic does; cron runs "* * echo hello"; '# soloist: dialect=cron' above it reads it the other way`,
		`2: read as five fields and a year (2030), as supercronic does; cron runs "2030 echo in 2030"; '# soloist: dialect=cron' above it reads it the other way`} {
		if !strings.Contains(n, w) {
			t.Errorf("notes lack %q:\n%s", w, n)
		}
	}
	if strings.Contains(n, "3:") {
		t.Errorf("a line both tools read alike got a note:\n%s", n)
	}
	if got := ct.Entries[0].Next(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 2); len(got) != 2 || got[1].Sub(got[0]) != time.Second {
		t.Errorf("seven fields do not fire every second: %v", got)
	}
}

func TestDialectCronReadsFiveFieldsAndTheCommand(t *testing.T) {
	ct := parse(t, "# soloist: dialect=cron\n* * * * * * * echo hello\n")
	e := ct.Entries[0]
	if e.Schedule != "* * * * *" || e.Command != "* * echo hello" || e.Dialect != crontab.DialectCron {
		t.Fatalf("%q %q %v", e.Schedule, e.Command, e.Dialect)
	}
	if n := notes(ct); !strings.Contains(n, `2: read as five fields and the command, as cron does (dialect=cron); supercronic reads 7 fields and runs "echo hello"`) {
		t.Fatalf("notes:\n%s", n)
	}
}

func TestPercentIsInputUnlessTheDialectIsSupercronic(t *testing.T) {
	ct := parse(t, "@daily date +%F\n# soloist: dialect=supercronic\n@hourly date +%F\n")
	if e := ct.Entries[0]; e.Command != "date +" || e.Input != "F\n" {
		t.Errorf("cron's %%: %q %q", e.Command, e.Input)
	}
	if e := ct.Entries[1]; e.Command != "date +%F" || e.Input != "" {
		t.Errorf("supercronic's %%: %q %q", e.Command, e.Input)
	}
	n := notes(ct)
	if !strings.Contains(n, "1: % ends the command") || !strings.Contains(n, "3: % goes to the shell unchanged (dialect=supercronic)") {
		t.Fatalf("notes:\n%s", n)
	}
}

func TestVariablesAndCronTZApplyBelowUnlessTheDialectIsSupercronic(t *testing.T) {
	ct := parse(t, `A=first
CRON_TZ=Asia/Tokyo
0 9 * * * echo $A
A=second
CRON_TZ=Europe/Berlin
0 9 * * * echo "$A"
# soloist: dialect=supercronic
0 10 * * * echo $A
`)
	if e := ct.Entries[0]; e.Location.String() != "Asia/Tokyo" || !slices.Contains(e.Env, "A=first") {
		t.Errorf("line 3: %s %v", e.Location, e.Env)
	}
	if e := ct.Entries[2]; e.Location.String() != "Europe/Berlin" || !slices.Contains(e.Env, "A=second") || slices.Contains(e.Env, "A=first") {
		t.Errorf("line 8 (supercronic): %s %v", e.Location, e.Env)
	}
	n := notes(ct)
	for _, w := range []string{"3: runs in Asia/Tokyo, the CRON_TZ above it, as in cron; supercronic applies the file's last CRON_TZ (Europe/Berlin, line 5) to every job; '# soloist: dialect=supercronic' above it reads it the other way",
		"3: gets the variables set above it, as in cron; supercronic gives every job each variable's last value in the file (A, CRON_TZ); '# soloist: dialect=supercronic' above it reads it the other way"} {
		if !strings.Contains(n, w) {
			t.Errorf("notes lack %q:\n%s", w, n)
		}
	}
}

func TestTZIsTheCommandsVariableNotTheSchedulesZone(t *testing.T) {
	ct := parse(t, "TZ=Asia/Tokyo\n0 9 * * * date\n")
	if e := ct.Entries[0]; e.Location != time.UTC || !slices.Contains(e.Env, "TZ=Asia/Tokyo") {
		t.Fatalf("%s %v", e.Location, e.Env)
	}
	if n := notes(ct); !strings.Contains(n, "1: TZ=Asia/Tokyo goes to the commands' environment and does not move any schedule") {
		t.Fatalf("notes:\n%s", n)
	}
	line, msg := refusal(t, "ct", "# x\nTZ=America/New_York 30 8 * * * echo morning\n")
	if line != 2 || !strings.Contains(msg, "put CRON_TZ=America/New_York on the line above it") {
		t.Fatalf("%d: %s", line, msg)
	}
}

func TestSystemCrontabsAreRefusedAndTheUserNeverBecomesTheCommand(t *testing.T) {
	line, msg := refusal(t, "ct", "SHELL=/bin/sh\n17 * * * * root cd / && run-parts --report /etc/cron.hourly\n")
	if line != 2 || !strings.Contains(msg, `"root" is the user field of a system crontab`) || !strings.Contains(msg, `remove "root" from the line`) {
		t.Fatalf("%d: %s", line, msg)
	}
	// By its path, any first word is the user field.
	line, msg = refusal(t, "/etc/cron.d/app", "*/5 * * * * deploy /opt/app/bin/sync\n")
	if line != 1 || !strings.Contains(msg, `"deploy" is the user field`) {
		t.Fatalf("%d: %s", line, msg)
	}
	// A program that is on PATH is a command, even if a user has its name.
	ct := parse(t, "0 2 * * * sh -c true\n")
	if ct.Entries[0].Command != "sh -c true" {
		t.Fatal(ct.Entries[0].Command)
	}
}

func TestControlCharactersAreRefusedWithTheirLine(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		line       int
		want       string
	}{
		{"NULInCommand", "# ok\n* * * * * echo a\x00b\n", 2, "control character U+0000 in the line at column 17"},
		{"NULInName", "# soloist: name=a\x00b\n* * * * * true\n", 1, "control character U+0000 in the soloist settings"},
		{"EscapeInCommand", "\n* * * * * printf '\x1b[2J'\n", 2, "control character U+001B"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			line, msg := refusal(t, "ct", tc.text)
			if line != tc.line || !strings.Contains(msg, tc.want) {
				t.Fatalf("%d: %s", line, msg)
			}
		})
	}
	// A tab is a blank, as in cron.
	if ct := parse(t, "*\t*\t*\t*\t*\techo\ttab\n"); ct.Entries[0].Command != "echo\ttab" {
		t.Fatalf("%q", ct.Entries[0].Command)
	}
}

func TestALineThatNeverFiresIsAcceptedAndRunsNothing(t *testing.T) {
	ct := parse(t, "0 0 31 2 * echo never\n@hourly echo often\n")
	if len(ct.Entries) != 2 || len(ct.Jobs(crontab.ExecOptions{})) != 1 {
		t.Fatalf("%d entries, %d jobs", len(ct.Entries), len(ct.Jobs(crontab.ExecOptions{})))
	}
	if len(ct.Warnings) != 1 || !strings.Contains(ct.Warnings[0], `crontab:1: schedule "0 0 31 2 *" never fires again`) {
		t.Fatalf("%v", ct.Warnings)
	}
}

func TestDialectStandsOnALineOfItsOwn(t *testing.T) {
	line, msg := refusal(t, "ct", "# soloist: dialect=cron name=x\n* * * * * true\n")
	if line != 1 || !strings.Contains(msg, "dialect stands on a line of its own") {
		t.Fatalf("%d: %s", line, msg)
	}
	line, msg = refusal(t, "ct", "# soloist: dialect=bsd\n")
	if line != 1 || !strings.Contains(msg, `"bsd": want soloist, cron or supercronic`) {
		t.Fatalf("%d: %s", line, msg)
	}
}

func TestDayFieldsThatCronCombinesOtherwiseAreNoted(t *testing.T) {
	ct := parse(t, "0 0 */2 * 1 echo odd days or mondays\n0 0 1-31/2 * 1 echo the same in both tools\n")
	if n := notes(ct); !strings.Contains(n, `1: day of month "*/2" and day of week "1": fires when either day field matches, as in supercronic; cron, which looks at whether a day field starts with *, fires when both day fields match`) || strings.Contains(n, "2: day") {
		t.Fatalf("notes:\n%s", n)
	}
	// 2026-03-02 is a Monday; the 3rd is odd: both fire under either-rule.
	got := ct.Entries[0].Next(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), 3)
	want := []time.Time{time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 3, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC)}
	if !slices.EqualFunc(got, want, time.Time.Equal) {
		t.Fatalf("fires %v, want %v", got, want)
	}
	line, msg := refusal(t, "ct", "# soloist: dialect=cron\n0 0 */2 * 1 echo x\n")
	if line != 2 || !strings.Contains(msg, "cron fires when both day fields match") {
		t.Fatalf("%d: %s", line, msg)
	}
}

func TestWeightAndHostsAreBalancedModeSettings(t *testing.T) {
	ct := parse(t, `# soloist: name=heavy weight=5
# soloist: hosts=10.0.0.11,10.0.0.12/web-2,10.0.0.13/
@hourly report
# soloist: name=light
@hourly true
# soloist: weight=1000 hosts=10.0.0.11
@daily big
`)
	heavy, light, big := ct.Entries[0], ct.Entries[1], ct.Entries[2]
	if heavy.Weight != 5 || !slices.Equal(heavy.Hosts, []string{"10.0.0.11", "10.0.0.12/web-2", "10.0.0.13"}) {
		t.Errorf("heavy: weight %d, hosts %q", heavy.Weight, heavy.Hosts)
	}
	if light.Weight != 0 || light.Hosts != nil {
		t.Errorf("light, with neither setting: weight %d, hosts %q", light.Weight, light.Hosts)
	}
	if big.Weight != 1000 || !slices.Equal(big.Hosts, []string{"10.0.0.11"}) {
		t.Errorf("big: weight %d, hosts %q", big.Weight, big.Hosts)
	}
	jobs := ct.Jobs(crontab.ExecOptions{})
	if jobs[0].Weight != 5 || !slices.Equal(jobs[0].Hosts, heavy.Hosts) || jobs[1].Weight != 0 || jobs[1].Hosts != nil {
		t.Errorf("runner jobs: %d %q, %d %q", jobs[0].Weight, jobs[0].Hosts, jobs[1].Weight, jobs[1].Hosts)
	}
	// The runner takes them as they are, at the bounds too.
	r, err := runner.New(neverConnected(t), "g", runner.WithBalance())
	if err != nil {
		t.Fatal(err)
	}
	long := parse(t, "# soloist: weight=1 hosts="+strings.Repeat("é", 255)+"\n@daily x\n")
	if err := r.SetJobs(append(jobs, long.Jobs(crontab.ExecOptions{})...)...); err != nil {
		t.Fatalf("the runner refuses the crontab's jobs: %v", err)
	}
}

// neverConnected is a database handle that no test uses: the runner checks
// jobs without connecting.
func neverConnected(t testing.TB) *sql.DB {
	t.Helper()
	c, err := mysql.NewConnector(mysql.NewConfig())
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	t.Cleanup(func() { db.Close() })
	return db
}

func TestBadWeightsAndHostsAreRefusedWithTheirLine(t *testing.T) {
	for _, tc := range []struct {
		name, setting, want string
	}{
		{"WeightZero", "weight=0", `soloist setting weight: "0": want a whole number from 1 to 1000`},
		{"WeightTooBig", "weight=1001", `soloist setting weight: "1001": want a whole number from 1 to 1000`},
		{"WeightNegative", "weight=-1", `"-1": want a whole number from 1 to 1000`},
		{"WeightSigned", "weight=+5", `"+5": want a whole number`},
		{"WeightFraction", "weight=1.5", `"1.5": want a whole number`},
		{"WeightWord", "weight=heavy", `"heavy": want a whole number`},
		{"WeightHuge", "weight=99999999999999999999", `want a whole number from 1 to 1000`},
		{"WeightEmpty", "weight=", `soloist setting "weight=": want key=value`},
		{"HostsEmptyEntry", "hosts=10.0.0.11,,10.0.0.12", `soloist setting hosts: "10.0.0.11,,10.0.0.12": entry 2 ("") names no host`},
		{"HostsTrailingComma", "hosts=10.0.0.11,", `entry 2 ("") names no host`},
		{"HostsOnlySlash", "hosts=/", `entry 1 ("/") names no host`},
		{"HostsDuplicate", "hosts=10.0.0.11,10.0.0.12,10.0.0.11", `"10.0.0.11" is listed twice`},
		{"HostsDuplicateWithSlash", "hosts=10.0.0.11,10.0.0.11/", `"10.0.0.11" is listed twice`},
		{"HostsTooLong", "hosts=" + strings.Repeat("a", 256), "entry 1 is 256 characters; a host is at most 255"},
		{"HostsWithASpace", "hosts=10.0.0.11, 10.0.0.12", `soloist setting hosts: "10.0.0.11, 10.0.0.12": write the list without spaces`},
		{"HostsControlCharacter", "hosts=10.0.0.11\x01", "control character U+0001 in the soloist settings"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			line, msg := refusal(t, "ct", "SHELL=/bin/sh\n# soloist: name=a "+tc.setting+"\n@hourly true\n")
			if line != 2 || !strings.Contains(msg, tc.want) {
				t.Fatalf("%d: %s\nwant line 2: %s", line, msg, tc.want)
			}
		})
	}
}

func TestCommandsGetTheLeaseTheirTokenBelongsTo(t *testing.T) {
	e := parse(t, "# soloist: name=report\n@hourly report\n").Entries[0]
	env := crontab.CommandEnv([]string{"SOLOIST_LEASE=from-the-runner", "HOME=/root"}, nil, e,
		runner.Fire{Group: "billing", Lease: "billing/report", Job: "report", Token: 42})
	var soloist []string
	for _, kv := range env {
		if strings.HasPrefix(kv, "SOLOIST_") {
			soloist = append(soloist, kv)
		}
	}
	for _, want := range []string{"SOLOIST_GROUP=billing", "SOLOIST_LEASE=billing/report", "SOLOIST_TOKEN=42", "SOLOIST_JOB=report"} {
		if !slices.Contains(soloist, want) {
			t.Errorf("the command's environment lacks %s: %q", want, soloist)
		}
	}
	if len(soloist) != 7 || slices.Contains(env, "SOLOIST_LEASE=from-the-runner") {
		t.Errorf("want the fire's seven Soloist variables and none of the runner's: %q", soloist)
	}
}
