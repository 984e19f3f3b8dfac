package crontab

import (
	"fmt"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aptible/supercronic/cronexpr"

	"github.com/soloist-dev/soloist/runner"
)

// Dialect is how lines are read where Vixie cron and supercronic disagree.
// "# soloist: dialect=..." on a line of its own sets it for the lines below.
type Dialect int

const (
	// DialectSoloist, the default, reads fields as supercronic does (six
	// fields end with a year, seven start with seconds), and %, variables
	// and CRON_TZ as cron does (% starts standard input; a variable or
	// CRON_TZ applies to the lines below it).
	DialectSoloist Dialect = iota
	// DialectCron reads five fields, then the command, as cron does.
	DialectCron
	// DialectSupercronic reads every line as supercronic does: % is passed
	// to the shell, and each variable's, SHELL's and CRON_TZ's last value in
	// the file applies to every job.
	DialectSupercronic
)

func (d Dialect) String() string {
	switch d {
	case DialectSoloist:
		return "soloist"
	case DialectCron:
		return "cron"
	case DialectSupercronic:
		return "supercronic"
	}
	return fmt.Sprintf("Dialect(%d)", int(d))
}

func parseDialect(v string) (Dialect, error) {
	for _, d := range []Dialect{DialectSoloist, DialectCron, DialectSupercronic} {
		if v == d.String() {
			return d, nil
		}
	}
	return 0, fmt.Errorf("%q: want soloist, cron or supercronic", v)
}

// span is where one blank-separated field of a line is.
type span struct{ start, end int }

// fields splits a line at spaces and tabs, as supercronic's \S+ does once
// control characters are refused.
func fields(s string) []span {
	var out []span
	start := -1
	for i := 0; i < len(s); i++ {
		blank := s[i] == ' ' || s[i] == '\t'
		switch {
		case !blank && start < 0:
			start = i
		case blank && start >= 0:
			out = append(out, span{start, i})
			start = -1
		}
	}
	if start >= 0 {
		out = append(out, span{start, len(s)})
	}
	return out
}

// reading is how a job line splits into a schedule and a command.
type reading struct {
	schedule string // fields joined by one space, CRON_TZ prefix included
	command  string // the rest of the line, trailing blanks kept
	notes    []string
}

// fieldCounts are the schedule lengths tried, longest first: supercronic's
// order (seconds + five + year, five + year, five, a descriptor).
var fieldCounts = map[Dialect][]int{
	DialectSoloist:     {7, 6, 5, 1},
	DialectSupercronic: {7, 6, 5, 1},
	DialectCron:        {5, 1},
}

// split finds where the schedule of a job line ends, trying each field
// count of the dialect with cronexpr.ParseStrict exactly as supercronic
// does, and notes where cron would read the line otherwise.
func split(line string, d Dialect) (reading, error) {
	var r reading
	prefix := ""
	if strings.HasPrefix(line, "CRON_TZ=") {
		zone := line[:fields(line)[0].end]
		prefix, line = zone+" ", strings.TrimLeft(line[len(zone):], " \t")
		r.notes = append(r.notes, fmt.Sprintf("the %s prefix is Soloist's (from robfig/cron): supercronic refuses it and cron reads a variable; for both, put %s on a line above", zone, zone))
	}
	toks := fields(line)
	if len(toks) == 0 {
		return r, fmt.Errorf("%s is not followed by a schedule and a command", strings.TrimSpace(prefix))
	}
	join := func(n int) string {
		parts := make([]string, n)
		for i := range n {
			parts[i] = line[toks[i].start:toks[i].end]
		}
		return strings.Join(parts, " ")
	}
	rest := func(n int) string { return line[toks[n].start:] }

	switch first := join(1); first {
	case "@every", "@midnight", "@reboot":
		n := 1
		if first == "@every" {
			n = 2
		}
		if len(toks) <= n {
			return r, fmt.Errorf("%q is not a schedule and a command: want %s, then the command", line, map[bool]string{true: "@every <duration>", false: first}[n == 2])
		}
		if _, err := runner.ParseSchedule(join(n), nil); err != nil {
			return r, fmt.Errorf("bad schedule: %v", err)
		}
		if first == "@midnight" {
			r.notes = append(r.notes, "@midnight is read as @daily, as in cron; supercronic refuses it")
		} else {
			r.notes = append(r.notes, "@every is Soloist's (from robfig/cron); cron and supercronic refuse it")
		}
		r.schedule, r.command = prefix+join(n), rest(n)
		return r, nil
	}

	var fiveErr error
	for _, n := range fieldCounts[d] {
		if len(toks) <= n {
			continue
		}
		if _, err := cronexpr.ParseStrict(join(n)); err != nil {
			if n == 5 || (n == 1 && strings.HasPrefix(line, "@")) {
				fiveErr = fmt.Errorf("bad schedule %q: %v", join(n), err)
			}
			continue
		}
		r.schedule, r.command = prefix+join(n), rest(n)
		r.notes = append(r.notes, otherReading(line, toks, n, d, join, rest)...)
		if n >= 5 {
			dayField := func(i int) string { return line[toks[i].start:toks[i].end] }
			dom, dow := dayField(2), dayField(4)
			if n == 7 {
				dom, dow = dayField(3), dayField(5)
			}
			if either(dom, dow) != cronEither(dom, dow) {
				if d == DialectCron {
					return r, fmt.Errorf("day of month %q and day of week %q: cron fires when %s; supercronic's rule, which Soloist uses, fires when %s, and cannot say it cron's way: write the days out without a leading *", dom, dow, dayRule(cronEither(dom, dow)), dayRule(either(dom, dow)))
				}
				r.notes = append(r.notes, fmt.Sprintf("day of month %q and day of week %q: fires when %s, as in supercronic; cron, which looks at whether a day field starts with *, fires when %s", dom, dow, dayRule(either(dom, dow)), dayRule(cronEither(dom, dow))))
			}
		}
		return r, nil
	}
	if fiveErr != nil {
		return r, fiveErr
	}
	return r, fmt.Errorf("%q is not a schedule and a command: want five fields (six with a year, seven with seconds and a year) or a @descriptor, then the command", line)
}

// otherReading notes how the other tool splits a line that was split after
// n fields.
func otherReading(line string, toks []span, n int, d Dialect, join func(int) string, rest func(int) string) []string {
	switch {
	case d == DialectSoloist && n == 6:
		return []string{fmt.Sprintf("read as five fields and a year (%s), as supercronic does; cron runs %q; '# soloist: dialect=cron' above it reads it the other way", line[toks[5].start:toks[5].end], rest(5))}
	case d == DialectSoloist && n == 7:
		return []string{fmt.Sprintf("read as seconds, five fields and a year, as supercronic does; cron runs %q; '# soloist: dialect=cron' above it reads it the other way", rest(5))}
	case d == DialectCron && n == 5:
		for _, m := range []int{7, 6} {
			if len(toks) > m {
				if _, err := cronexpr.ParseStrict(join(m)); err == nil {
					return []string{fmt.Sprintf("read as five fields and the command, as cron does (dialect=cron); supercronic reads %d fields and runs %q", m, rest(m))}
				}
			}
		}
	}
	return nil
}

// either reports whether cronexpr fires on days matching either day field:
// when both are restricted, that is, neither lists * or ?.
func either(dom, dow string) bool {
	restricted := func(f string) bool {
		for _, part := range strings.Split(f, ",") {
			if part == "*" || part == "?" {
				return false
			}
		}
		return true
	}
	return restricted(dom) && restricted(dow)
}

// cronEither is Vixie cron's rule (entry.c sets DOM_STAR and DOW_STAR from
// a field's first character): either day field matching fires the job
// unless one of them starts with *.
func cronEither(dom, dow string) bool { return dom[0] != '*' && dow[0] != '*' }

func dayRule(either bool) string {
	if either {
		return "either day field matches"
	}
	return "both day fields match"
}

// percent applies cron's rule: an unescaped % ends the command, and the rest
// of the line, with each further % turned into a newline, is its input.
// "\%" stands for a literal %.
func percent(s string) (command, input string) {
	var parts []string
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s) && s[i+1] == '%':
			b.WriteByte('%')
			i++
		case s[i] == '%':
			parts = append(parts, b.String())
			b.Reset()
		default:
			b.WriteByte(s[i])
		}
	}
	parts = append(parts, b.String())
	if len(parts) == 1 {
		return parts[0], ""
	}
	return parts[0], strings.Join(parts[1:], "\n") + "\n"
}

// isSystemPath reports whether a crontab's path is where cron keeps system
// crontabs, whose lines all have a user field.
func isSystemPath(name string) bool {
	clean := filepath.Clean(name)
	return clean == "/etc/crontab" || filepath.Dir(clean) == "/etc/cron.d"
}

var userName = regexp.MustCompile(`^[a-z_][a-z0-9_-]*\$?$`)

// userField reports whether the command starts with a system crontab's user
// field: always in a system crontab by its path; elsewhere when its first
// word is a user of this system and no program of that name is on PATH
// ("root", "www-data"), with a command after it.
func (p *parser) userField(command string) (string, bool) {
	toks := fields(command)
	if len(toks) < 2 {
		return "", false
	}
	word := command[toks[0].start:toks[0].end]
	if p.system {
		return word, true
	}
	if !userName.MatchString(word) || !isUserNotProgram(word) {
		return "", false
	}
	return word, true
}

// userWords remembers isUserNotProgram's answers: a crontab names few
// distinct first words, and a reload asks again for each.
var userWords = struct {
	sync.Mutex
	m map[string]bool
}{m: map[string]bool{}}

// isUserNotProgram reports whether word is a user of this system and not a
// program on PATH.
func isUserNotProgram(word string) bool {
	userWords.Lock()
	v, ok := userWords.m[word]
	userWords.Unlock()
	if ok {
		return v
	}
	_, errUser := user.Lookup(word)
	_, errPath := exec.LookPath(word)
	v = errUser == nil && errPath != nil
	userWords.Lock()
	if len(userWords.m) < 4096 {
		userWords.m[word] = v
	}
	userWords.Unlock()
	return v
}

// fileScope applies what holds for the whole file: under dialect=supercronic
// an entry gets the file's last value of each variable, SHELL and CRON_TZ;
// under the others, a note says where supercronic would differ.
func (p *parser) fileScope(ct *Crontab) {
	lastEnv := map[string]string{}
	var keys []string
	for _, kv := range p.env {
		k, v, _ := strings.Cut(kv, "=")
		if _, ok := lastEnv[k]; !ok {
			keys = append(keys, k)
		}
		lastEnv[k] = v
	}
	finalEnv := make([]string, 0, len(keys))
	for _, k := range keys {
		finalEnv = append(finalEnv, k+"="+lastEnv[k])
	}
	zone := p.defaultLoc
	if p.lastZone != nil {
		zone = p.lastZone
	}
	ct.Notes = append(ct.Notes, p.notes...)
	localNoted := false
	for i := range ct.Entries {
		e := &ct.Entries[i]
		if e.Dialect == DialectSupercronic {
			e.Env, e.Shell = finalEnv, p.shell
			if e.Location != zone && !strings.HasPrefix(e.Schedule, "CRON_TZ=") {
				e.Location = zone
				e.next, _ = runner.ParseSchedule(e.Schedule, zone) // parsed once already
			}
			continue
		}
		if !localNoted && e.Location == p.defaultLoc && !strings.HasPrefix(e.Schedule, "CRON_TZ=") && !sameZone(p.defaultLoc, time.Local) {
			localNoted = true
			ct.Notes = append(ct.Notes, Note{e.Line, fmt.Sprintf("runs in %s (--time-zone), as does every entry without CRON_TZ; cron and supercronic would use this server's local time zone, which differs: --time-zone or a CRON_TZ line", p.defaultLoc)})
		}
		if p.lastZone != nil && e.Location != zone && !strings.HasPrefix(e.Schedule, "CRON_TZ=") {
			ct.Notes = append(ct.Notes, Note{e.Line, fmt.Sprintf("runs in %s, the CRON_TZ above it, as in cron; supercronic applies the file's last CRON_TZ (%s, line %d) to every job; '# soloist: dialect=supercronic' above it reads it the other way", e.Location, zone, p.lastZoneLine)})
		}
		if diff := envDiff(e.Env, lastEnv); len(diff) > 0 {
			ct.Notes = append(ct.Notes, Note{e.Line, fmt.Sprintf("gets the variables set above it, as in cron; supercronic gives every job each variable's last value in the file (%s); '# soloist: dialect=supercronic' above it reads it the other way", strings.Join(diff, ", "))})
		}
	}
}

// sameZone reports whether a and b keep the same time this year and next.
func sameZone(a, b *time.Location) bool {
	y := time.Now().Year()
	for _, m := range []time.Month{time.January, time.April, time.July, time.October} {
		for _, year := range []int{y, y + 1} {
			t := time.Date(year, m, 1, 12, 0, 0, 0, time.UTC)
			_, oa := t.In(a).Zone()
			_, ob := t.In(b).Zone()
			if oa != ob {
				return false
			}
		}
	}
	return true
}

// envDiff names the variables whose value for an entry differs from the
// file's last value.
func envDiff(env []string, last map[string]string) []string {
	mine := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		mine[k] = v
	}
	var diff []string
	for k, v := range last {
		if got, ok := mine[k]; !ok || got != v {
			diff = append(diff, k)
		}
	}
	slices.Sort(diff)
	return diff
}
