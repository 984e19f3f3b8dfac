package cli_test

import (
	"encoding/json"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/soloist-dev/soloist/internal/cli"
)

func TestCheckPrintsJobsAsJSON(t *testing.T) {
	t.Parallel()
	path := writeFile(t, "crontab", `SHELL=/bin/sh
CRON_TZ=Europe/Berlin
# soloist: name=report
0 2 * * * /usr/local/bin/report
*/10 * * * * * * echo tick
0 0 31 2 * echo never
`)
	r := soloistCmd(t, nil, "run", "--check", "--format", "json", "--crontab", path)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	// Exactly these fields, in this order.
	var raw map[string][]map[string]json.RawMessage
	if err := json.Unmarshal([]byte(r.stdout), &raw); err != nil || len(raw) != 1 || len(raw["jobs"]) != 3 {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	for _, j := range raw["jobs"] {
		var keys []string
		for k := range j {
			keys = append(keys, k)
		}
		if len(keys) != 8 || j["line"] == nil || j["name"] == nil || j["schedule"] == nil || j["command"] == nil || j["time_zone"] == nil || j["next"] == nil ||
			string(j["weight"]) != "1" || string(j["hosts"]) != "[]" {
			t.Fatalf("fields %v", keys)
		}
	}
	if !strings.HasPrefix(r.stdout, `{"jobs":[{"line":4,"name":"report","schedule":"0 2 * * *","command":"/usr/local/bin/report","time_zone":"Europe/Berlin","next":["`) {
		t.Fatalf("stdout %s", r.stdout)
	}
	var out cli.CheckJSON
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatal(err)
	}
	report, tick, never := out.Jobs[0], out.Jobs[1], out.Jobs[2]
	if len(report.Next) != 5 || len(tick.Next) != 5 || len(never.Next) != 0 || never.Line != 6 {
		t.Fatalf("%+v", out)
	}
	var prev time.Time
	for i, s := range tick.Next {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil || !strings.HasSuffix(s, "Z") || tm.Second()%10 != 0 {
			t.Fatalf("fire %q: %v", s, err)
		}
		if i > 0 && tm.Sub(prev) != 10*time.Second {
			t.Fatalf("fires %v are not 10s apart", tick.Next)
		}
		prev = tm
	}
	for _, s := range report.Next {
		tm, _ := time.Parse(time.RFC3339, s)
		berlin, _ := time.LoadLocation("Europe/Berlin")
		if lt := tm.In(berlin); lt.Hour() != 2 || lt.Minute() != 0 {
			t.Fatalf("report fires at %s, %s in Berlin", s, lt)
		}
	}
	// How lines were read, and the never-firing line, go to stderr.
	for _, want := range []string{path + ":5: read as seconds, five fields and a year", "dialect=cron", `warning: ` + path + `:6: schedule "0 0 31 2 *" never fires again`} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}

	table := soloistCmd(t, nil, "run", "--check", "--crontab", path)
	if table.code != 0 || !strings.HasPrefix(table.stdout, "LINE") || !strings.Contains(table.stdout, "never") ||
		!strings.Contains(table.stdout, "line 5: read as seconds") || !strings.Contains(table.stdout, "3 jobs, OK") {
		t.Fatalf("table: exit %d\n%s", table.code, table.stdout)
	}
}

func TestCheckJSONListsTheRefusedLines(t *testing.T) {
	t.Parallel()
	path := writeFile(t, "crontab", "# Debian's /etc/crontab style\n17 * * * * root cd / && run-parts --report /etc/cron.hourly\n* * * * * echo a\x00b\n61 * * * * x\n")
	r := soloistCmd(t, nil, "run", "--check", "--format", "json", "--crontab", path)
	if r.code != cli.ExitError {
		t.Fatalf("exit %d", r.code)
	}
	var out cli.CheckRefusal
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	var lines []int
	for _, e := range out.Errors {
		lines = append(lines, e.Line)
	}
	if !reflect.DeepEqual(lines, []int{2, 3, 4}) || !strings.Contains(out.Errors[0].Reason, `"root" is the user field of a system crontab`) ||
		!strings.Contains(out.Errors[1].Reason, "control character U+0000") || !strings.Contains(out.Errors[2].Reason, "bad schedule") {
		t.Fatalf("%+v", out)
	}
	if !strings.Contains(r.stderr, path+":2:") || !strings.Contains(r.stderr, "the crontab is refused") {
		t.Fatalf("stderr %s", r.stderr)
	}
	if r := soloistCmd(t, nil, "run", "--format", "yaml", "--check", "--crontab", path); r.code != cli.ExitUsage {
		t.Fatalf("--format yaml: exit %d", r.code)
	}
}

func TestCheckNotesWhenTheServersZoneIsNotTheSchedules(t *testing.T) {
	t.Parallel()
	path := writeFile(t, "crontab", "# x\n0 9 * * * echo morning\n")
	r := soloistCmd(t, []string{"TZ=Asia/Tokyo"}, "run", "--check", "--crontab", path)
	if r.code != 0 || !strings.Contains(r.stdout, "line 2: runs in UTC (--time-zone), as does every entry without CRON_TZ; cron and supercronic would use this server's local time zone") {
		t.Fatalf("exit %d\n%s", r.code, r.stdout)
	}
	r = soloistCmd(t, []string{"TZ=UTC"}, "run", "--check", "--crontab", path)
	if r.code != 0 || strings.Contains(r.stdout, "runs in UTC") {
		t.Fatalf("a UTC server got the note:\n%s", r.stdout)
	}
}

func TestCheckShowsWeightAndHostsAndWhenTheyMatter(t *testing.T) {
	t.Parallel()
	path := writeFile(t, "crontab", `# soloist: name=heavy weight=5 hosts=10.0.0.11,10.0.0.12
@hourly report
# soloist: name=light
@daily true
# soloist: name=pinned hosts=10.0.0.13/web-3
@daily pinned
`)
	note := "lines 2, 6 set weight= or hosts=, which only matter in balanced mode (--balance, SOLOIST_BALANCE, on every runner of the group)"
	for _, tc := range []struct {
		name     string
		env      []string
		args     []string
		wantNote bool
	}{
		{"WithoutBalance", nil, nil, true},
		{"WithTheFlag", nil, []string{"--balance"}, false},
		{"WithTheEnvironment", []string{"SOLOIST_BALANCE=true"}, nil, false},
		{"WithTheEnvironmentAsOne", []string{"SOLOIST_BALANCE=1"}, nil, false},
		{"WithTheEnvironmentOff", []string{"SOLOIST_BALANCE=0"}, nil, true},
		{"TheFlagOverridesTheEnvironment", []string{"SOLOIST_BALANCE=true"}, []string{"--balance=false"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := soloistCmd(t, tc.env, append([]string{"run", "--check", path}, tc.args...)...)
			if r.code != 0 || !strings.Contains(r.stdout, "3 jobs, OK") {
				t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			if got := strings.Contains(r.stdout, note); got != tc.wantNote {
				t.Fatalf("the leader-mode note is there: %v, want %v\n%s", got, tc.wantNote, r.stdout)
			}
			for _, row := range []string{`WEIGHT\s+HOSTS\s+COMMAND`, `(?m)^2\s+heavy\s.*\s5\s+10\.0\.0\.11,10\.0\.0\.12\s+report$`,
				`(?m)^4\s+light\s.*\s1\s+any\s+true$`, `(?m)^6\s+pinned\s.*\s1\s+10\.0\.0\.13/web-3\s+pinned$`} {
				if !regexp.MustCompile(row).MatchString(r.stdout) {
					t.Errorf("the table lacks %s:\n%s", row, r.stdout)
				}
			}
		})
	}

	r := soloistCmd(t, nil, "run", "--check", "--format", "json", path)
	var out cli.CheckJSON
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || len(out.Jobs) != 3 {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	if j := out.Jobs[0]; j.Weight != 5 || !reflect.DeepEqual(j.Hosts, []string{"10.0.0.11", "10.0.0.12"}) {
		t.Errorf("heavy: %+v", j)
	}
	if j := out.Jobs[1]; j.Weight != 1 || j.Hosts == nil || len(j.Hosts) != 0 {
		t.Errorf("light: %+v", j)
	}
	if !strings.Contains(r.stderr, "note: "+path+": "+note) {
		t.Errorf("stderr lacks the note:\n%s", r.stderr)
	}
	if r := soloistCmd(t, nil, "run", "--check", "--format", "json", "--balance", path); strings.Contains(r.stderr, "balanced mode") {
		t.Errorf("the note with --balance:\n%s", r.stderr)
	}

	// Without weight= or hosts=, the table is as it was.
	plain := writeFile(t, "plain", "@daily true\n")
	if r := soloistCmd(t, nil, "run", "--check", plain); r.code != 0 || strings.Contains(r.stdout, "WEIGHT") || strings.Contains(r.stdout, "balanced") {
		t.Errorf("a crontab without weight= or hosts=: exit %d\n%s", r.code, r.stdout)
	}
	// A value the flag does not take is refused, naming the variable.
	if r := soloistCmd(t, []string{"SOLOIST_BALANCE=maybe"}, "run", "--check", path); r.code != cli.ExitUsage || !strings.Contains(r.stderr, `SOLOIST_BALANCE="maybe"`) {
		t.Errorf("SOLOIST_BALANCE=maybe: exit %d, stderr %s", r.code, r.stderr)
	}
}
