package crontab_test

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/soloist-dev/soloist/internal/crontab"
	"github.com/soloist-dev/soloist/runner"
)

// FuzzParse feeds the crontab parser anything. It must never panic; a
// refusal must say which line is wrong and why; an accepted file must give
// jobs the runner accepts. Seeds: testdata/fuzz/FuzzParse and the lines below.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"*/5 * * * * echo hi\n",
		"*/10 * * * * * * echo seconds\n@hourly x\n@every 30s y\n0 0 * * * 2030 year\n",
		"# soloist: dialect=cron\n* * * * * * * x\n# soloist: dialect=supercronic\n0 0 L * ? date +%F\nA=1\n",
		"17 * * * * root cd / && run-parts /etc/cron.hourly\n",
		"# soloist: name=a\x00b\n* * * * * echo \x00\n",
		"# soloist: name=a timeout=30m concurrency=replace missed=all deadline=1h\n0 2 * * * report\n",
		"# soloist: weight=1000 hosts=10.0.0.11,10.0.0.12/web-2/\n@hourly x\n# soloist: weight=0 hosts=a,,a\n@daily y\n",
		"CRON_TZ=Europe/Berlin\n0 9 * * 1-5 x\nTZ=Asia/Tokyo 0 9 * * * y\n",
		"SHELL=/bin/bash\nA = \"b c\"\nMAILTO=x@y\n@daily date +\\%F%in%put\n",
		"61 * * * * x\n",
		"# soloist: name=\n",
		"TZ=\n",
		"CRON_TZ=Nowhere/Nope * * * * * x\n",
		"@every -1s x\n@reboot y\n",
		"* * * * * *\n",
		"\x00\xff\n",
		"0 0 30 2 * never\n",
	} {
		f.Add(s)
	}
	db := neverConnected(f)
	f.Fuzz(func(t *testing.T, text string) {
		ct, err := crontab.Parse("fuzz", strings.NewReader(text), time.UTC)
		lines := strings.Count(text, "\n") + 2
		if err != nil {
			var errs []error
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				errs = j.Unwrap()
			} else {
				errs = []error{err}
			}
			for _, e := range errs {
				var ce *crontab.Error
				if !errors.As(e, &ce) {
					if strings.Contains(e.Error(), "fuzz:") {
						continue // a read error of the whole file
					}
					t.Fatalf("error %q has no line", e)
				}
				if ce.Line < 1 || ce.Line > lines || ce.Msg == "" || !utf8.ValidString(ce.Msg) {
					t.Fatalf("error %+v: line out of range or empty message", ce)
				}
			}
			return
		}
		seen := map[string]bool{}
		for _, e := range ct.Entries {
			if e.Name == "" || strings.TrimSpace(e.Command) == "" || seen[e.Name] {
				t.Fatalf("accepted entry %+v: no name, no command, or a duplicate name", e)
			}
			seen[e.Name] = true
			if _, err := runner.ParseSchedule(e.Schedule, e.Location); err != nil {
				t.Fatalf("accepted schedule %q that the runner refuses: %v", e.Schedule, err)
			}
		}
		firing := 0
		for _, e := range ct.Entries {
			if e.Fires(time.Now()) {
				firing++
			}
		}
		jobs := ct.Jobs(crontab.ExecOptions{})
		if len(jobs) != firing {
			t.Fatal("jobs lost")
		}
		r, err := runner.New(db, "fuzz", runner.WithBalance())
		if err != nil {
			t.Fatal(err)
		}
		if err := r.SetJobs(jobs...); err != nil {
			t.Fatalf("the runner refuses the accepted crontab's jobs: %v", err)
		}
	})
}
