package crontab_test

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	sc "github.com/aptible/supercronic/crontab"
	"github.com/sirupsen/logrus"

	"github.com/soloist-dev/soloist/internal/crontab"
)

// The differential test reads each crontab with Soloist and with
// supercronic's own parser (github.com/aptible/supercronic/crontab, the
// code supercronic runs) and wants the same reading: the same jobs, each
// with the same command and the same next 20 fire times, or both refusing.
// The only differences allowed are the documented ones, each
// recognised by what Soloist says about the line.

// fireCount is how many fire times are compared per job.
const fireCount = 20

// diffStart is when fire times are counted from: a Saturday, mid-second.
var diffStart = time.Date(2026, 3, 7, 10, 17, 42, 500_000_000, time.UTC)

// job is one tool's reading of a job line.
type job struct {
	command, input string
	fires          []time.Time
}

// reading is one tool's reading of a whole file.
type reading struct {
	refused bool
	why     []string // Soloist's messages (refusals and notes)
	jobs    []job
}

func init() { logrus.SetOutput(io.Discard) } // supercronic's parser logs what it reads

// supercronicReads parses text with supercronic's parser. It panics on a
// variable with an empty value ("A="); that counts as a refusal, which is
// what a user sees.
func supercronicReads(text string) (r reading) {
	defer func() {
		if p := recover(); p != nil {
			r = reading{refused: true, why: []string{fmt.Sprint("panic: ", p)}}
		}
	}()
	tab, err := sc.ParseCrontab(strings.NewReader(text))
	if err != nil {
		return reading{refused: true, why: []string{err.Error()}}
	}
	zone := tab.Context.Timezone
	if zone == time.Local { // no CRON_TZ: supercronic's zone is its process's, Soloist's --time-zone (UTC here)
		zone = time.UTC
	}
	for _, j := range tab.Jobs {
		var fires []time.Time
		for t := diffStart.In(zone); len(fires) < fireCount; {
			if t = j.Expression.Next(t); t.IsZero() {
				break
			}
			fires = append(fires, t.UTC())
		}
		r.jobs = append(r.jobs, job{command: j.Command, fires: fires})
	}
	return r
}

// soloistReads parses text with Soloist, in UTC.
func soloistReads(text string) (r reading) {
	ct, err := crontab.Parse("ct", strings.NewReader(text), time.UTC)
	if err != nil {
		r.refused = true
		for _, e := range unwrap(err) {
			r.why = append(r.why, e.Error())
		}
		return r
	}
	for _, n := range ct.Notes {
		r.why = append(r.why, n.Text)
	}
	for _, e := range ct.Entries {
		r.jobs = append(r.jobs, job{command: e.Command, input: e.Input, fires: e.Next(diffStart, fireCount)})
	}
	return r
}

// Refusals of Soloist where supercronic runs the line, each on purpose and
// documented.
var allowedRefusals = []string{
	"is the user field of a system crontab", // supercronic would run the user name as the command
	"control character",                     // supercronic hands a NUL to the shell, which fails at every fire
	"with a schedule after it sets the variable TZ",
	"this entry repeats line",           // two identical lines need names to be told apart
	`unknown time zone "Local"`,         // the server's own zone would move fires with the leader
	"not valid UTF-8",                   // names and commands are text
	"schedule is longer than 255",       // the jobs table's limit
	"no command after the schedule",     // only with cron's %: the command is empty
	"soloist settings must be right",    // Soloist's own comments, misplaced
	"soloist settings are not followed", //
	"matches no value",                  // a stepped range that runs backwards: supercronic panics once it comes due
}

// Lines Soloist runs where supercronic refuses, each an extension that
// --check names.
var allowedExtensions = []string{
	"@every is Soloist's",
	"@midnight is read as @daily",
	"prefix is Soloist's",
	"panic: ", // supercronic crashes on "A=" (an empty value); cron sets an empty variable, and so does Soloist
}

// compare returns why Soloist's reading s differs from supercronic's x, or
// "" when it may: the same jobs, or a difference on the allowed lists.
// percentInput says whether cron's % applies (the default dialect).
func compare(s, x reading, percentInput bool) string {
	switch {
	case s.refused && x.refused:
		return ""
	case s.refused:
		for _, why := range s.why {
			if !containsAny(why, allowedRefusals) {
				return fmt.Sprintf("Soloist refuses what supercronic runs: %s", why)
			}
		}
		return ""
	case x.refused:
		if containsAny(strings.Join(x.why, "\n"), allowedExtensions) || containsAny(strings.Join(s.why, "\n"), allowedExtensions) {
			return ""
		}
		// supercronic keeps the blanks after a CRON_TZ value and then knows
		// no such zone; cron and Soloist drop them.
		if zone, ok := strings.CutPrefix(strings.Join(x.why, ""), "unknown time zone "); ok && zone != strings.TrimSpace(zone) {
			return ""
		}
		return fmt.Sprintf("Soloist runs what supercronic refuses (%s)", strings.Join(x.why, "; "))
	case len(s.jobs) != len(x.jobs):
		return fmt.Sprintf("%d jobs, supercronic %d", len(s.jobs), len(x.jobs))
	}
	for i := range s.jobs {
		sj, xj := s.jobs[i], x.jobs[i]
		wantCommand, wantInput := xj.command, ""
		if percentInput && strings.Contains(xj.command, "%") {
			wantCommand, wantInput = cronPercent(xj.command)
			if !containsAny(strings.Join(s.why, "\n"), []string{"% ends the command"}) && strings.Contains(strings.ReplaceAll(xj.command, `\%`, ""), "%") {
				return "a % line without a note"
			}
		}
		if sj.command != wantCommand || sj.input != wantInput {
			return fmt.Sprintf("job %d: command %q input %q, supercronic %q (want %q %q)", i, sj.command, sj.input, xj.command, wantCommand, wantInput)
		}
		if !slices.EqualFunc(sj.fires, xj.fires, time.Time.Equal) {
			return fmt.Sprintf("job %d: fires %v, supercronic %v", i, sj.fires, xj.fires)
		}
	}
	return ""
}

// cronPercent is crontab(5)'s rule, written out again from the man page
// rather than calling the code under test: an unescaped % ends the command,
// \% is a %, and after the first % each % is a newline of the input.
func cronPercent(s string) (string, string) {
	s = strings.ReplaceAll(s, `\%`, "\x00")
	cmd, in, found := strings.Cut(s, "%")
	back := func(v string) string { return strings.ReplaceAll(v, "\x00", "%") }
	if !found {
		return back(cmd), ""
	}
	return back(cmd), back(strings.ReplaceAll(in, "%", "\n")) + "\n"
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// fixtures are the crontabs from outside the project, kept with their
// sources named.
func fixtures(t *testing.T) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir("testdata/outside", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(path, ".md") {
			return err
		}
		b, err := os.ReadFile(path)
		files[path] = string(b)
		return err
	})
	if err != nil || len(files) < 19 {
		t.Fatalf("%d fixtures: %v", len(files), err)
	}
	return files
}

func TestFixturesReadAsSupercronicReadsThem(t *testing.T) {
	files := fixtures(t)
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, path := range paths {
		text := files[path]
		t.Run(path, func(t *testing.T) {
			x := supercronicReads(text)
			// Each file, and each of its lines alone, in both dialects.
			cases := map[string]string{"file": text}
			for i, line := range strings.Split(text, "\n") {
				cases[fmt.Sprintf("line %d", i+1)] = line + "\n"
			}
			for name, c := range cases {
				x := x
				if name != "file" {
					x = supercronicReads(c)
				}
				if why := compare(soloistReads(c), x, true); why != "" {
					t.Errorf("%s: %s\n%s", name, why, c)
				}
				if why := compare(soloistReads("# soloist: dialect=supercronic\n"+c), x, false); why != "" {
					t.Errorf("%s, dialect=supercronic: %s\n%s", name, why, c)
				}
			}
		})
	}
}

// TestSystemCrontabsFromDebianAreRefusedLineByLine checks the Debian files
// are refused for their user fields, on every job line, and for nothing
// else.
func TestSystemCrontabsFromDebianAreRefusedLineByLine(t *testing.T) {
	for path, text := range fixtures(t) {
		if !strings.Contains(path, "debian") {
			continue
		}
		r := soloistReads(text)
		jobLines := 0
		for _, l := range strings.Split(text, "\n") {
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") && !strings.Contains(strings.Fields(l)[0], "=") {
				jobLines++
			}
		}
		if !r.refused || len(r.why) != jobLines || jobLines == 0 {
			t.Errorf("%s: %d job lines, refusals %q", path, jobLines, r.why)
		}
		for _, why := range r.why {
			if !strings.Contains(why, `"root" is the user field of a system crontab`) {
				t.Errorf("%s: %s", path, why)
			}
		}
	}
}

func TestFuzzedLinesReadAsSupercronicReadsThem(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 2026)) // seeded: the same lines on every run
	lines := make([]string, fuzzLines)
	for i := range lines {
		lines[i] = genLine(rng)
	}
	var (
		mu       sync.Mutex
		counts   = map[string]int{}
		failures []string
		wg       sync.WaitGroup
	)
	workers := runtime.GOMAXPROCS(0)
	for w := range workers {
		wg.Go(func() {
			local := map[string]int{}
			var bad []string
			for i := w; i < len(lines) && len(bad) < 20; i += workers {
				line := lines[i]
				x, s := supercronicReads(line), soloistReads(line)
				if why := compare(s, x, true); why != "" {
					bad = append(bad, fmt.Sprintf("line %q: %s", line, why))
				}
				// One line alone reads the same in both dialects but for %.
				if strings.Contains(line, "%") {
					if why := compare(soloistReads("# soloist: dialect=supercronic\n"+line), x, false); why != "" {
						bad = append(bad, fmt.Sprintf("line %q, dialect=supercronic: %s", line, why))
					}
				}
				local[outcome(s, x)]++
			}
			mu.Lock()
			defer mu.Unlock()
			for k, v := range local {
				counts[k] += v
			}
			failures = append(failures, bad...)
		})
	}
	wg.Wait()
	for _, f := range failures {
		t.Error(f)
	}
	t.Logf("%d lines: %v", fuzzLines, counts)
	// The generator must reach every kind of outcome, or it tests little.
	for _, k := range []string{"both refuse", "only Soloist refuses", "only supercronic refuses", "both read a variable", "both run a job"} {
		if counts[k] < fuzzLines/200 {
			t.Errorf("only %d lines where %s: the generator needs more of them", counts[k], k)
		}
	}
}

func outcome(s, x reading) string {
	switch {
	case x.refused && s.refused:
		return "both refuse"
	case s.refused:
		return "only Soloist refuses"
	case x.refused:
		return "only supercronic refuses"
	case len(s.jobs) == 0:
		return "both read a variable"
	}
	return "both run a job"
}

// genLine makes one crontab line from the pieces of real ones and of
// mistakes: schedules of 1 to 8 fields, descriptors, prefixes, variables,
// commands with %, user names, year-like words and control characters.
func genLine(r *rand.Rand) string {
	pick := func(xs ...string) string { return xs[r.IntN(len(xs))] }
	blank := func() string { return pick(" ", " ", " ", "\t", "  ", " \t ") }
	num := func(max int) string { return fmt.Sprint(r.IntN(max)) }
	field := func() string {
		k := r.IntN(40)
		switch {
		case k >= 20:
			return "*"
		case k >= 14:
			return num(13)
		}
		switch k {
		case 3:
			return "?"
		case 4:
			return "*/" + pick(num(70), "0", "5", "15", "60", "07")
		case 5:
			return num(62)
		case 6:
			return num(30) + "-" + num(60)
		case 7:
			return num(24) + "-" + num(60) + "/" + num(20)
		case 8:
			return num(60) + "," + num(60)
		case 9:
			return pick("mon", "Mon-Fri", "jan", "SUN", "sat,sun", "dec", "mon-fri/2", "7", "0-7")
		case 10:
			return pick("L", "LW", "15W", "5L", "5#3", "1#6", "W", "l")
		case 11:
			return pick("1969", "1970", "2030", "2099", "2100", "2026-2030", "2030/2", "*/2")
		case 12:
			return pick("00", "007", "-", ",", "x", "1-", "*/", "5/", "**")
		default:
			return num(13)
		}
	}
	command := func() string {
		words := []string{pick("echo", "date", "/usr/bin/env", "root", "www-data", "2030", "*", "sh -c", "mail -s hi joe", "true", "printf")}
		for range r.IntN(4) {
			words = append(words, pick("hello", "+%F", `+\%H:\%M`, "%input%more", "'a b'", `"$VAR"`, ">/dev/null", "2>&1", "&&", "x%", "*", "1", "mon"))
		}
		return strings.Join(words, blank())
	}
	var b strings.Builder
	if r.IntN(10) == 0 {
		b.WriteString(blank())
	}
	switch k := r.IntN(20); {
	case k == 0:
		b.WriteString(pick("A", "PATH", "SHELL", "CRON_TZ", "TZ", "MAILTO", "A.B", "_x") + pick("=", " = ", "=\t") + pick("", "v", `"quoted value"`, "'x'", "Europe/Berlin", "Local", "/bin/bash", "a b c"))
	case k == 1:
		b.WriteString(pick("@hourly", "@daily", "@weekly", "@monthly", "@yearly", "@annually", "@midnight", "@reboot", "@every 5s", "@every 0s", "@every", "@bogus", "@hourly@daily"))
		b.WriteString(blank() + command())
	default:
		switch r.IntN(12) {
		case 0:
			b.WriteString(pick("CRON_TZ=Asia/Tokyo", "TZ=UTC", "CRON_TZ=Nowhere/X") + " ")
		case 1:
			b.WriteString("#")
		}
		n := pick("5", "5", "5", "5", "6", "7", "7", "4", "8", "1")
		var c int
		fmt.Sscan(n, &c)
		for i := range c {
			if i > 0 {
				b.WriteString(blank())
			}
			b.WriteString(field())
		}
		if r.IntN(20) > 0 {
			b.WriteString(blank() + command())
		}
	}
	if r.IntN(12) == 0 {
		b.WriteString(pick(" ", "\t", "  "))
	}
	if r.IntN(100) == 0 {
		s := []rune(b.String())
		i := r.IntN(len(s) + 1)
		b.Reset()
		b.WriteString(string(s[:i]) + pick("\x00", "\x1b", "\x7f", "\v", "\f") + string(s[i:]))
	}
	return b.String() + "\n"
}
