// Package crontab reads an ordinary crontab file into Soloist jobs.
//
// It takes what cron and supercronic take, unchanged: five-field lines, a
// leading seconds field (six fields), @hourly, @daily, @weekly, @monthly,
// @yearly (and @annually, @midnight), "@every 30s", KEY=VALUE environment
// lines, CRON_TZ= and TZ= lines or schedule prefixes, comments and blank
// lines, and cron's % (the rest of the line is the command's input). Soloist's
// own settings ride in a comment right above an entry, so the file still
// works in cron:
//
//	# soloist: name=nightly-report timeout=30m concurrency=forbid missed=once
//	0 2 * * * /usr/local/bin/report
package crontab

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/soloist-dev/soloist/runner"
)

// Entry is one job line of a crontab, with the settings that apply to it.
type Entry struct {
	Line     int            // where the schedule is, 1-based
	Name     string         // from "# soloist: name=", or derived from the line
	Named    bool           // whether Name was given rather than derived
	Schedule string         // the schedule as written, CRON_TZ prefix included
	Location *time.Location // time zone of a schedule without a prefix
	Command  string         // the shell command, cron's % handling applied
	Input    string         // what cron's % put on the command's standard input
	Shell    string         // from SHELL=, default /bin/sh
	Env      []string       // the crontab's KEY=VALUE lines above the entry

	Timeout          time.Duration
	Concurrency      runner.Concurrency
	Missed           runner.Missed
	StartingDeadline time.Duration
}

// Crontab is a parsed file.
type Crontab struct {
	Path    string
	Entries []Entry
	// Warnings are lines that parse but do not mean in Soloist what they
	// mean in cron (MAILTO, USER).
	Warnings []string
}

// Error is a problem on one line of a file.
type Error struct {
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// ParseFile reads and parses the crontab at path. loc is the time zone of
// schedules that set none.
func ParseFile(path string, loc *time.Location) (*Crontab, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("crontab: %w", err)
	}
	defer f.Close()
	return Parse(path, f, loc)
}

var (
	envLine  = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$`)
	settings = regexp.MustCompile(`^#\s*soloist:(.*)$`)
)

// maxLine bounds one line, as cron does; longer is surely not a crontab.
const maxLine = 64 * 1024

// Parse parses a crontab read from r; name is used in errors. Every problem
// is reported, each as an *Error with its line, joined.
func Parse(name string, r io.Reader, loc *time.Location) (*Crontab, error) {
	if loc == nil {
		loc = time.UTC
	}
	p := &parser{file: name, loc: loc, shell: "/bin/sh", names: map[string]int{}}
	ct := &Crontab{Path: name}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	for sc.Scan() {
		p.line++
		if e, ok := p.parseLine(sc.Text(), ct); ok {
			ct.Entries = append(ct.Entries, e)
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			p.fail(p.line+1, "line longer than 64 KiB")
		} else {
			p.errs = append(p.errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	if p.pending != nil {
		p.fail(p.pendingLine, "soloist settings are not followed by an entry")
	}
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	return ct, nil
}

type parser struct {
	file  string
	line  int
	loc   *time.Location
	shell string
	env   []string
	names map[string]int // job name -> line
	errs  []error

	pending     *Entry // settings waiting for their entry
	pendingLine int
}

func (p *parser) fail(line int, format string, args ...any) {
	p.errs = append(p.errs, &Error{File: p.file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

func (p *parser) parseLine(raw string, ct *Crontab) (Entry, bool) {
	if !utf8.ValidString(raw) {
		p.fail(p.line, "not valid UTF-8")
		return Entry{}, false
	}
	line := strings.TrimSpace(raw)
	switch {
	case line == "":
		p.orphan()
		return Entry{}, false
	case settings.MatchString(line):
		p.settings(settings.FindStringSubmatch(line)[1])
		return Entry{}, false
	case strings.HasPrefix(line, "#"):
		p.orphan()
		return Entry{}, false
	}
	if m := envLine.FindStringSubmatch(line); m != nil && !isZonePrefix(m[1], m[2]) {
		p.orphan()
		p.setEnv(m[1], unquote(m[2]), ct)
		return Entry{}, false
	}
	return p.entry(line)
}

// orphan reports settings that a blank line, comment or variable separates
// from the next entry.
func (p *parser) orphan() {
	if p.pending != nil {
		p.fail(p.pendingLine, "soloist settings must be right above the entry they are for")
		p.pending = nil
	}
}

// isZonePrefix tells "CRON_TZ=Europe/Berlin 0 9 * * * cmd" (a schedule with a
// time zone prefix) from "CRON_TZ=Europe/Berlin" (a time zone for the lines
// that follow).
func isZonePrefix(key, value string) bool {
	return (key == "CRON_TZ" || key == "TZ") && len(strings.Fields(value)) > 1
}

func unquote(v string) string {
	v = strings.TrimSpace(v)
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		return v[1 : len(v)-1]
	}
	return v
}

func (p *parser) setEnv(key, value string, ct *Crontab) {
	switch key {
	case "CRON_TZ", "TZ":
		loc, err := time.LoadLocation(value)
		if err != nil || value == "" || value == "Local" {
			p.fail(p.line, "unknown time zone %q: use a name from the tz database, such as Europe/Berlin or UTC", value)
			return
		}
		p.loc = loc
		if key == "CRON_TZ" {
			return // cron keeps CRON_TZ out of the commands' environment
		}
	case "SHELL":
		if value == "" {
			p.fail(p.line, "SHELL is empty")
			return
		}
		p.shell = value
	case "MAILTO", "MAILFROM":
		if value == "" {
			break // MAILTO="" asks cron for no mail, which is what Soloist does
		}
		ct.Warnings = append(ct.Warnings, fmt.Sprintf("%s:%d: %s is ignored: Soloist sends no mail; output goes to the log and the run history", p.file, p.line, key))
	case "USER", "LOGNAME":
		ct.Warnings = append(ct.Warnings, fmt.Sprintf("%s:%d: %s does not change the user: commands run as the soloist process's user", p.file, p.line, key))
	}
	p.env = append(p.env, key+"="+value)
}

var (
	settingKeys = "name, timeout, concurrency, missed, deadline"
	nameRule    = regexp.MustCompile(`^[^\s]+$`)
)

func (p *parser) settings(text string) {
	if p.pending == nil {
		p.pending, p.pendingLine = &Entry{}, p.line
	}
	e := p.pending
	for _, kv := range strings.Fields(text) {
		key, value, ok := strings.Cut(kv, "=")
		if !ok || value == "" {
			p.fail(p.line, "soloist setting %q: want key=value, with key one of %s", kv, settingKeys)
			continue
		}
		var err error
		switch key {
		case "name":
			if n := utf8.RuneCountInString(value); n > 191 || !nameRule.MatchString(value) {
				err = fmt.Errorf("a job name is 1 to 191 characters without spaces, got %q", value)
			}
			e.Name, e.Named = value, true
		case "timeout":
			e.Timeout, err = positiveDuration(value)
		case "deadline":
			e.StartingDeadline, err = positiveDuration(value)
		case "concurrency":
			e.Concurrency, err = parseConcurrency(value)
		case "missed":
			e.Missed, err = parseMissed(value)
		default:
			err = fmt.Errorf("unknown setting %q; the settings are %s", key, settingKeys)
		}
		if err != nil {
			p.fail(p.line, "soloist setting %s: %v", key, err)
		}
	}
}

func positiveDuration(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q is not a positive duration such as 90s, 30m or 2h", v)
	}
	return d, nil
}

func parseConcurrency(v string) (runner.Concurrency, error) {
	for _, c := range []runner.Concurrency{runner.ConcurrencyForbid, runner.ConcurrencyAllow, runner.ConcurrencyReplace} {
		if v == c.String() {
			return c, nil
		}
	}
	return 0, fmt.Errorf("%q: want forbid, allow or replace", v)
}

func parseMissed(v string) (runner.Missed, error) {
	for _, m := range []runner.Missed{runner.MissedRunOnce, runner.MissedSkip, runner.MissedRunAll} {
		if v == m.String() {
			return m, nil
		}
	}
	return 0, fmt.Errorf("%q: want once, skip or all", v)
}

// entry parses a job line: a schedule, then the command.
func (p *parser) entry(line string) (Entry, bool) {
	e := Entry{}
	if p.pending != nil {
		e = *p.pending
		p.pending = nil
	}
	e.Line, e.Location, e.Shell = p.line, p.loc, p.shell
	e.Env = append([]string(nil), p.env...)

	schedule, command, err := splitSchedule(line, p.loc)
	if err != nil {
		p.fail(p.line, "%v", err)
		return Entry{}, false
	}
	e.Schedule = schedule
	e.Command, e.Input = percent(command)
	if strings.TrimSpace(e.Command) == "" {
		p.fail(p.line, "no command after the schedule %q", schedule)
		return Entry{}, false
	}
	if !e.Named {
		e.Name = derivedName(schedule, command)
	}
	if prev, dup := p.names[e.Name]; dup {
		if e.Named {
			p.fail(p.line, "job name %q is already used on line %d", e.Name, prev)
		} else {
			p.fail(p.line, "this entry repeats line %d; give one of them a name with '# soloist: name=...'", prev)
		}
		return Entry{}, false
	}
	p.names[e.Name] = p.line
	return e, true
}

// splitSchedule finds where the schedule ends: like supercronic it tries the
// longest form first (six fields, with seconds), then five fields, then a
// descriptor.
func splitSchedule(line string, loc *time.Location) (schedule, command string, err error) {
	prefix := ""
	if strings.HasPrefix(line, "CRON_TZ=") || strings.HasPrefix(line, "TZ=") {
		zone, rest, _ := strings.Cut(line, " ")
		prefix, line = zone+" ", strings.TrimSpace(rest)
	}
	fields := strings.Fields(line)
	// When no form parses, the error of the last form tried (five fields,
	// the common one) is the one to show.
	var lastErr error
	try := func(n int) bool {
		if len(fields) <= n {
			return false
		}
		candidate := prefix + strings.Join(fields[:n], " ")
		if _, err := runner.ParseSchedule(candidate, loc); err != nil {
			lastErr = err
			return false
		}
		schedule, command = candidate, afterFields(line, n)
		return true
	}
	if strings.HasPrefix(line, "@") {
		n := 1
		if strings.HasPrefix(line, "@every") {
			n = 2
		}
		if try(n) {
			return schedule, command, nil
		}
	} else if try(6) || try(5) {
		return schedule, command, nil
	}
	if lastErr == nil {
		return "", "", fmt.Errorf("%q is not a schedule and a command: want five fields (or six with seconds) or a @descriptor, then the command", line)
	}
	return "", "", fmt.Errorf("bad schedule: %v", unwrapSchedule(lastErr))
}

// unwrapSchedule drops the runner's "job ...:" prefix from a schedule error.
func unwrapSchedule(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "schedule "); i >= 0 {
		return msg[i+len("schedule "):]
	}
	return msg
}

// afterFields returns line after its first n whitespace-separated fields.
func afterFields(line string, n int) string {
	rest := line
	for range n {
		rest = strings.TrimLeft(rest, " \t")
		i := strings.IndexAny(rest, " \t")
		if i < 0 {
			return ""
		}
		rest = rest[i:]
	}
	return strings.TrimSpace(rest)
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

var slugRule = regexp.MustCompile(`[^a-z0-9]+`)

// derivedName names an entry that has no name: the command's program and a
// hash of the whole line, stable across restarts and servers, such as
// "backup-sh-3f2a9c1d".
func derivedName(schedule, command string) string {
	sum := sha256.Sum256([]byte(schedule + "\x00" + command))
	prog := "job"
	if f := strings.Fields(command); len(f) > 0 {
		base := f[0][strings.LastIndexByte(f[0], '/')+1:]
		if s := strings.Trim(slugRule.ReplaceAllString(strings.ToLower(base), "-"), "-"); s != "" {
			prog = s
		}
	}
	if len(prog) > 24 {
		prog = prog[:24]
	}
	return prog + "-" + hex.EncodeToString(sum[:4])
}
