package runner_test

import (
	"strings"
	"testing"
	"time"

	"github.com/soloist-dev/soloist/runner"
)

// TestScheduleErrorsAreInSoloistsWords checks that a bad schedule's error
// names the cause in the crontab's terms, not the cron library's options
// or Go's strconv.
func TestScheduleErrorsAreInSoloistsWords(t *testing.T) {
	for _, c := range []struct{ schedule, want string }{
		{"0 0 L * *", "L and W in the day of month"},
		{"0 0 15W * *", "L and W in the day of month"},
		{"0 0 * * MON#2", "# in the day of week"},
		{"0 0 * * 5L", `"5L": L in the day of week`},
		{"x * * * *", `"x" is not a number, a month or weekday name`},
		{"0 0 1-y * *", `"y" is not a number`},
		{"@every soon", "@every wants a Go duration"},
		{"0 0 * * * * * *", "8 fields; want 5"},
		{"0 0 32 * *", "above maximum (31)"},
	} {
		_, err := runner.ParseSchedule(c.schedule, time.UTC)
		if err == nil {
			t.Errorf("%q: no error", c.schedule)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, c.want) || !strings.HasPrefix(msg, "schedule "+`"`+c.schedule) {
			t.Errorf("%q: %q, want it to say %q", c.schedule, msg, c.want)
		}
		for _, leak := range []string{"strconv", "DomL", "DomW", "DowNth", "option to be enabled"} {
			if strings.Contains(msg, leak) {
				t.Errorf("%q: %q speaks the library's words (%s)", c.schedule, msg, leak)
			}
		}
	}
}
