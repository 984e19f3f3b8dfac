package runner_test

import (
	"database/sql"
	"testing"
	"time"

	"github.com/soloist-dev/soloist/runner"
)

// FuzzSettings feeds the runner's settings anything: New must never panic,
// and a runner it accepts must keep the timing rules (interval at most a
// third of the TTL, margin at most a third). Seeds: testdata/fuzz/FuzzSettings.
func FuzzSettings(f *testing.F) {
	f.Add("default", int64(10*time.Second), int64(0), int64(0), "@hourly")
	f.Add("g", int64(time.Second), int64(time.Second), int64(0), "*/5 * * * * * *")
	f.Add("", int64(-1), int64(-1), int64(-1), "")
	f.Add("a\x00b", int64(1<<62), int64(1), int64(1<<62), "CRON_TZ=Mars/X * * * * *")
	f.Add("é", int64(30*time.Millisecond), int64(10*time.Millisecond), int64(10*time.Millisecond), "@every 1s")
	db, err := sql.Open("mysql", "u@tcp(127.0.0.1:1)/x") // never connected
	if err != nil {
		f.Fatal(err)
	}
	defer db.Close()
	f.Fuzz(func(t *testing.T, group string, ttl, interval, margin int64, schedule string) {
		opts := []runner.Option{runner.WithTTL(time.Duration(ttl))}
		if interval != 0 {
			opts = append(opts, runner.WithInterval(time.Duration(interval)))
		}
		if margin != 0 {
			opts = append(opts, runner.WithSafetyMargin(time.Duration(margin)))
		}
		r, err := runner.New(db, group, opts...)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		if r.Interval()*3 > r.TTL() || r.SafetyMargin()*3 > r.TTL() || r.Interval() <= 0 || r.SafetyMargin() <= 0 {
			t.Fatalf("accepted TTL %v, interval %v, margin %v", r.TTL(), r.Interval(), r.SafetyMargin())
		}
		_ = r.Add(runner.Job{Name: "j", Schedule: schedule, Run: noop})
	})
}
