// Package crontab reads an ordinary crontab file into Soloist jobs.
//
// It reads a line as supercronic does wherever supercronic and Vixie cron
// agree, and where they disagree it picks one reading, says so in Notes, and
// lets "# soloist: dialect=cron" or "dialect=supercronic" choose the other.
// Schedules are parsed by supercronic's own cronexpr package, through the
// runner, so that --check, the runner and supercronic name the same fire
// times.
//
// It takes five fields, six (a trailing year), seven (seconds and a year),
// @hourly, @daily, @weekly, @monthly, @yearly, @annually, cron's @midnight,
// "@every 30s", KEY=VALUE environment lines, CRON_TZ= lines or schedule
// prefixes, comments and blank lines, and cron's % (the rest of the line is
// the command's input). Soloist's own settings ride in a comment right above
// an entry, so the file still works in cron and supercronic:
//
//	# soloist: name=nightly-report timeout=30m concurrency=forbid missed=once
//	0 2 * * * /usr/local/bin/report
//
// weight= and hosts= are for balanced mode (runner.WithBalance): a job's
// share of a runner's load, and the runners that may own it.
//
// A system crontab's user field (/etc/crontab, /etc/cron.d) is refused with
// the line and the fix: the user name never becomes the command.
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
	"slices"
	"strconv"
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
	Schedule string         // the schedule, CRON_TZ prefix included, fields separated by one space
	Location *time.Location // time zone of a schedule without a prefix
	Command  string         // the shell command, the dialect's % handling applied
	Input    string         // what cron's % put on the command's standard input
	Shell    string         // from SHELL=, default /bin/sh
	Env      []string       // the crontab's KEY=VALUE lines that reach the entry
	Dialect  Dialect        // how the line was read

	Timeout          time.Duration
	Concurrency      runner.Concurrency
	Missed           runner.Missed
	StartingDeadline time.Duration

	// Weight is the job's share of a runner's load in balanced mode, from
	// "# soloist: weight=", 1 to 1000; 0 when not set (the runner's default, 1).
	Weight int
	// Hosts are the runners that may own the job in balanced mode, from
	// "# soloist: hosts=": IPs or leading '/'-separated fields of owners,
	// without a trailing '/'. Empty: any runner.
	Hosts []string

	next func(time.Time) time.Time
}

// Next returns the entry's next n fire times after t, in UTC; fewer when it
// fires no more (cronexpr stops at 2099).
func (e Entry) Next(t time.Time, n int) []time.Time {
	var out []time.Time
	for len(out) < n {
		t = e.next(t)
		if t.IsZero() {
			break
		}
		out = append(out, t)
	}
	return out
}

// Fires reports whether the entry has a fire after now. One that has none
// (such as "0 0 31 2 *") is accepted, as cron and supercronic accept it, and
// is not handed to the runner.
func (e Entry) Fires(now time.Time) bool { return !e.next(now).IsZero() }

// Note says how a line was read where cron and supercronic read it
// differently, and which setting chooses the other reading.
type Note struct {
	Line int
	Text string
}

// Crontab is a parsed file.
type Crontab struct {
	Path    string
	Entries []Entry
	// Warnings are lines that parse but do not mean in Soloist what they
	// mean in cron (MAILTO, USER), and entries that never fire.
	Warnings []string
	// Notes say how lines were read where cron and supercronic disagree.
	Notes []Note
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
	// envLine is supercronic's rule for a variable line, which is also
	// Vixie cron's: a name without blanks or "=", then "=".
	envLine  = regexp.MustCompile(`^([^\s=]+)\s*=\s*(.*)$`)
	settings = regexp.MustCompile(`^#\s*soloist:(.*)$`)
)

// maxLine bounds one line, as cron does; longer is surely not a crontab.
const maxLine = 64 * 1024

// Parse parses a crontab read from r; name is used in errors, and names
// under /etc/cron.d and /etc/crontab mark a system crontab. Every problem is
// reported, each as an *Error with its line, joined.
func Parse(name string, r io.Reader, loc *time.Location) (*Crontab, error) {
	if loc == nil {
		loc = time.UTC
	}
	p := &parser{file: name, loc: loc, defaultLoc: loc, shell: "/bin/sh", names: map[string]int{},
		system: isSystemPath(name)}
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
	p.fileScope(ct)
	now := time.Now()
	for _, e := range ct.Entries {
		if !e.Fires(now) {
			ct.Warnings = append(ct.Warnings, fmt.Sprintf("%s:%d: schedule %q never fires again; cron and supercronic accept it too, and Soloist runs nothing for it", name, e.Line, e.Schedule))
		}
	}
	slices.SortStableFunc(ct.Notes, func(a, b Note) int { return a.Line - b.Line })
	return ct, nil
}

type parser struct {
	file       string
	line       int
	loc        *time.Location // CRON_TZ of the lines below, or defaultLoc
	defaultLoc *time.Location
	shell      string
	env        []string
	names      map[string]int // job name -> line
	errs       []error
	dialect    Dialect
	system     bool // a system crontab by its path

	lastZone     *time.Location // the file's last CRON_TZ line, which supercronic applies to every job
	lastZoneLine int
	notes        []Note

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
	// Leading blanks go, as in cron and supercronic; trailing ones are part
	// of the command.
	line := strings.TrimLeft(raw, " \t")
	switch {
	case strings.TrimRight(line, " \t") == "":
		p.orphan()
		return Entry{}, false
	case settings.MatchString(line):
		if !p.noControl(line, "soloist settings") {
			return Entry{}, false
		}
		p.settings(settings.FindStringSubmatch(line)[1])
		return Entry{}, false
	case strings.HasPrefix(line, "#"):
		p.orphan()
		return Entry{}, false
	}
	if !p.noControl(line, "line") {
		return Entry{}, false
	}
	if m := envLine.FindStringSubmatch(line); m != nil {
		switch key, value := m[1], m[2]; {
		case key == "CRON_TZ" && len(fields(value)) > 1:
			return p.entry(line) // "CRON_TZ=Asia/Tokyo 0 9 * * * cmd"
		case key == "TZ" && len(fields(value)) > 1:
			zone, _, _ := strings.Cut(value, " ")
			p.fail(p.line, "TZ=%s with a schedule after it sets the variable TZ to %q in cron and supercronic, not a time zone for this entry; put CRON_TZ=%s on the line above it (it applies to the lines below)", zone, value, zone)
			return Entry{}, false
		default:
			p.orphan()
			p.setEnv(key, unquote(value), ct)
			return Entry{}, false
		}
	}
	return p.entry(line)
}

// noControl refuses a line with control characters other than tab: a NUL in
// a name or a command passes no shell, and the job would fail at every fire.
func (p *parser) noControl(line, what string) bool {
	i := strings.IndexFunc(line, func(r rune) bool { return (r < 0x20 && r != '\t') || r == 0x7f })
	if i < 0 {
		return true
	}
	p.fail(p.line, "control character %U in the %s at column %d: a crontab line holds printable text and tabs only; remove it", rune(line[i]), what, utf8.RuneCountInString(line[:i])+1)
	p.pending = nil
	return false
}

// orphan reports settings that a blank line, comment or variable separates
// from the next entry.
func (p *parser) orphan() {
	if p.pending != nil {
		p.fail(p.pendingLine, "soloist settings must be right above the entry they are for")
		p.pending = nil
	}
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
	case "CRON_TZ":
		loc, err := time.LoadLocation(value)
		if err != nil || value == "" || value == "Local" {
			p.fail(p.line, "unknown time zone %q: use a name from the tz database, such as Europe/Berlin or UTC", value)
			return
		}
		p.loc = loc
		p.lastZone, p.lastZoneLine = loc, p.line
		// CRON_TZ also reaches the commands, as in supercronic.
	case "TZ":
		ct.Notes = append(ct.Notes, Note{p.line, fmt.Sprintf("TZ=%s goes to the commands' environment and does not move any schedule, as in cron and supercronic; for schedules in that zone write CRON_TZ=%s", value, value)})
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
	settingKeys = "name, timeout, concurrency, missed, deadline, weight, hosts, and dialect on a line of its own"
	nameRule    = regexp.MustCompile(`^[^\s]+$`)
)

func (p *parser) settings(text string) {
	kvs := strings.Fields(text)
	for _, kv := range kvs {
		if key, value, _ := strings.Cut(kv, "="); key == "dialect" {
			p.orphan()
			d, err := parseDialect(value)
			switch {
			case len(kvs) > 1:
				p.fail(p.line, "soloist setting dialect stands on a line of its own: it applies to every line below it, not to one entry")
			case err != nil:
				p.fail(p.line, "soloist setting dialect: %v", err)
			default:
				p.dialect = d
			}
			return
		}
	}
	if p.pending == nil {
		p.pending, p.pendingLine = &Entry{}, p.line
	}
	e := p.pending
	for i := 0; i < len(kvs); i++ {
		kv := kvs[i]
		key, value, ok := strings.Cut(kv, "=")
		if !ok || value == "" {
			p.fail(p.line, "soloist setting %q: want key=value, with key one of %s", kv, settingKeys)
			continue
		}
		if key == "hosts" && strings.HasSuffix(value, ",") && i+1 < len(kvs) && !strings.Contains(kvs[i+1], "=") {
			p.fail(p.line, "soloist setting hosts: %q: write the list without spaces, such as hosts=10.0.0.11,10.0.0.12", value+" "+kvs[i+1])
			i++
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
		case "weight":
			e.Weight, err = parseWeight(value)
		case "hosts":
			e.Hosts, err = parseHosts(value)
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

// maxWeight is the largest weight= (runner.Job.Weight's bound).
const maxWeight = 1000

var weightRule = regexp.MustCompile(`^[0-9]{1,4}$`)

func parseWeight(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if !weightRule.MatchString(v) || err != nil || n < 1 || n > maxWeight {
		return 0, fmt.Errorf("%q: want a whole number from 1 to %d", v, maxWeight)
	}
	return n, nil
}

// maxHost is the longest entry of hosts=, in characters, as for the
// group's allow-list.
const maxHost = 255

// parseHosts reads a comma list of hosts. A trailing '/' of an entry is
// dropped, as soloist allow drops it: "10.0.0.11/" names the same runners
// as "10.0.0.11". Spaces never get here: they end the setting.
func parseHosts(v string) ([]string, error) {
	var hosts []string
	seen := map[string]bool{}
	for i, raw := range strings.Split(v, ",") {
		h := strings.TrimRight(raw, "/")
		switch {
		case h == "":
			return nil, fmt.Errorf("%q: entry %d (%q) names no host; want a comma list of IPs or owners' leading fields, such as hosts=10.0.0.11,10.0.0.12", v, i+1, raw)
		case utf8.RuneCountInString(h) > maxHost:
			return nil, fmt.Errorf("entry %d is %d characters; a host is at most %d", i+1, utf8.RuneCountInString(h), maxHost)
		case seen[h]:
			return nil, fmt.Errorf("%q: %q is listed twice", v, h)
		}
		seen[h] = true
		hosts = append(hosts, h)
	}
	return hosts, nil
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
	e.Line, e.Location, e.Shell, e.Dialect = p.line, p.loc, p.shell, p.dialect
	e.Env = append([]string(nil), p.env...)

	r, err := split(line, p.dialect)
	if err != nil {
		p.fail(p.line, "%v", err)
		return Entry{}, false
	}
	e.Schedule = r.schedule
	if e.next, err = runner.ParseSchedule(r.schedule, p.loc); err != nil {
		p.fail(p.line, "bad schedule: %v", err) // split checked it; this is the runner's word
		return Entry{}, false
	}
	if user, ok := p.userField(r.command); ok {
		p.fail(p.line, "%q is the user field of a system crontab (/etc/crontab, /etc/cron.d): Soloist runs every command as the user it runs as, never as another; remove %q from the line and run soloist as that user", user, user)
		return Entry{}, false
	}
	e.Command, e.Input = r.command, ""
	if p.dialect != DialectSupercronic {
		e.Command, e.Input = percent(r.command)
	}
	if strings.TrimSpace(e.Command) == "" {
		p.fail(p.line, "no command after the schedule %q", r.schedule)
		return Entry{}, false
	}
	for _, n := range r.notes {
		p.note(n)
	}
	if p.dialect != DialectSupercronic && strings.Contains(strings.ReplaceAll(r.command, `\%`, ""), "%") {
		p.note("% ends the command and the rest is its standard input, as in cron; supercronic passes % to the shell unchanged; '# soloist: dialect=supercronic' above it reads it the other way")
	} else if p.dialect == DialectSupercronic && strings.Contains(r.command, "%") {
		p.note("% goes to the shell unchanged (dialect=supercronic); cron would end the command there and send the rest as its standard input")
	}
	if !e.Named {
		e.Name = derivedName(r.schedule, r.command)
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

// notes collected while parsing; they reach the Crontab in fileScope.
func (p *parser) note(text string) { p.notes = append(p.notes, Note{p.line, text}) }

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
