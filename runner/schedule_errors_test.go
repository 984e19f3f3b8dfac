package runner_test

import (
	"strings"
	"testing"
	"time"

	"github.com/soloist-dev/soloist/runner"
)

// TestScheduleErrorsAreInSoloistsWords checks that a bad schedule's error
// names the field and the cause in the crontab's terms (supercronic's, for
// the fields), not a library's options or Go's strconv and time packages.
// supercronic's L, W and # are schedules, not errors.
func TestScheduleErrorsAreInSoloistsWords(t *testing.T) {
	for _, s := range []string{"0 0 L * *", "0 0 15W * *", "0 0 * * MON#2", "0 0 * * 5L"} {
		if _, err := runner.ParseSchedule(s, time.UTC); err != nil {
			t.Errorf("%q, which supercronic accepts: %v", s, err)
		}
	}
	for _, c := range []struct{ schedule, want string }{
		{"x * * * *", "syntax error in minute field: 'x'"},
		{"0 0 1-y * *", "syntax error in day-of-month field: '1-y'"},
		{"@every soon", "@every wants a Go duration"},
		{"0 0 * * * * * *", "8 fields; want 5"},
		{"0 0 32 * *", "syntax error in day-of-month field: '32'"},
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
		for _, leak := range []string{"strconv", "DomL", "DomW", "DowNth", "option to be enabled", "time: invalid duration"} {
			if strings.Contains(msg, leak) {
				t.Errorf("%q: %q speaks the library's words (%s)", c.schedule, msg, leak)
			}
		}
	}
}
