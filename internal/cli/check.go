package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/soloist-dev/soloist/internal/crontab"
)

// CheckJSON is what `soloist run --check --format json` prints for a crontab
// it accepts. The field names are stable.
type CheckJSON struct {
	Jobs []CheckJob `json:"jobs"`
}

// CheckJob is one entry of a checked crontab.
type CheckJob struct {
	Line     int      `json:"line"`
	Name     string   `json:"name"`
	Schedule string   `json:"schedule"`
	Command  string   `json:"command"`
	TimeZone string   `json:"time_zone"`
	Next     []string `json:"next"`   // the next 5 fires, RFC 3339 in UTC; fewer (or none) when it stops firing
	Weight   int      `json:"weight"` // balanced mode's weight=, 1 when not set
	Hosts    []string `json:"hosts"`  // balanced mode's hosts=, [] when any runner may own the job
}

// CheckRefusal is what `soloist run --check --format json` prints, before
// exiting 1, for a crontab it refuses.
type CheckRefusal struct {
	Errors []CheckError `json:"errors"`
}

// CheckError is one refused line; Line is 0 for the file as a whole.
type CheckError struct {
	Line   int    `json:"line"`
	Reason string `json:"reason"`
}

// checkFires is how many next fires the check lists per job.
const checkFires = 5

// printCheck lists what a valid crontab will run, after now: a table with
// the notes on how lines were read, or JSON with the notes on stderr.
// balance is whether --balance was given: without it, weight= and hosts=
// get a note that they only matter in balanced mode.
func printCheck(env *IO, ct *crontab.Crontab, format string, balance bool, now time.Time) error {
	for _, w := range ct.Warnings {
		fmt.Fprintln(env.Stderr, "warning:", w)
	}
	balanced := balancedLines(ct)
	if format == "json" {
		out := CheckJSON{Jobs: []CheckJob{}}
		for _, e := range ct.Entries {
			next := []string{}
			for _, t := range e.Next(now, checkFires) {
				next = append(next, t.Format(time.RFC3339))
			}
			out.Jobs = append(out.Jobs, CheckJob{Line: e.Line, Name: e.Name, Schedule: e.Schedule,
				Command: e.Command, TimeZone: e.Location.String(), Next: next,
				Weight: max(e.Weight, 1), Hosts: append([]string{}, e.Hosts...)})
		}
		for _, n := range ct.Notes {
			fmt.Fprintf(env.Stderr, "note: %s:%d: %s\n", ct.Path, n.Line, n.Text)
		}
		if len(balanced) > 0 && !balance {
			fmt.Fprintf(env.Stderr, "note: %s: %s\n", ct.Path, leaderModeNote(balanced))
		}
		return json.NewEncoder(env.Stdout).Encode(out)
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	if len(balanced) > 0 {
		fmt.Fprintln(tw, "LINE\tJOB\tSCHEDULE\tTIME ZONE\tNEXT FIRE (UTC)\tWEIGHT\tHOSTS\tCOMMAND")
	} else {
		fmt.Fprintln(tw, "LINE\tJOB\tSCHEDULE\tTIME ZONE\tNEXT FIRE (UTC)\tCOMMAND")
	}
	for _, e := range ct.Entries {
		next := "never"
		if t := e.Next(now, 1); len(t) == 1 {
			next = t[0].Format(time.DateTime)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t", e.Line, e.Name, e.Schedule, e.Location, next)
		if len(balanced) > 0 {
			hosts := "any"
			if len(e.Hosts) > 0 {
				hosts = strings.Join(e.Hosts, ",")
			}
			fmt.Fprintf(tw, "%d\t%s\t", max(e.Weight, 1), hosts)
		}
		fmt.Fprintf(tw, "%s\n", e.Command)
	}
	tw.Flush()
	if len(ct.Notes) > 0 {
		fmt.Fprintln(env.Stdout, "\nHow lines were read where cron and supercronic differ:")
		for _, n := range ct.Notes {
			fmt.Fprintf(env.Stdout, "  line %d: %s\n", n.Line, n.Text)
		}
	}
	if len(balanced) > 0 && !balance {
		fmt.Fprintf(env.Stdout, "\nNote: %s\n", leaderModeNote(balanced))
	}
	fmt.Fprintf(env.Stdout, "%s: %s, OK\n", ct.Path, plural(int64(len(ct.Entries)), "job"))
	return nil
}

// balancedLines are the lines of the entries that set weight= or hosts=.
func balancedLines(ct *crontab.Crontab) []string {
	var lines []string
	for _, e := range ct.Entries {
		if e.Weight != 0 || len(e.Hosts) > 0 {
			lines = append(lines, strconv.Itoa(e.Line))
		}
	}
	return lines
}

// leaderModeNote says that weight= and hosts= on lines do nothing without
// --balance, which a check without --balance cannot know the runners use.
func leaderModeNote(lines []string) string {
	which := "line " + lines[0] + " sets"
	if len(lines) > 1 {
		which = "lines " + strings.Join(lines, ", ") + " set"
	}
	return which + " weight= or hosts=, which only matter in balanced mode (--balance, SOLOIST_BALANCE, on every runner of the group); " +
		"without it one runner runs every job, and the group's allow-list (soloist allow) decides which; check with --balance to leave this note out"
}

// printRefusalJSON lists a refused crontab's lines and reasons as JSON.
func printRefusalJSON(env *IO, err error) {
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	out := CheckRefusal{Errors: []CheckError{}}
	for _, e := range errs {
		var ce *crontab.Error
		if errors.As(e, &ce) {
			out.Errors = append(out.Errors, CheckError{Line: ce.Line, Reason: ce.Msg})
		} else {
			out.Errors = append(out.Errors, CheckError{Line: 0, Reason: e.Error()})
		}
	}
	_ = json.NewEncoder(env.Stdout).Encode(out)
}
