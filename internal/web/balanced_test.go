package web_test

import (
	"context"
	"database/sql"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/soloist-dev/soloist/internal/dbtest"
	"github.com/soloist-dev/soloist/runner"
)

// startBalanced runs a runner of group "bal" in balanced mode until the test
// ends or stop: jobs a to d, and pinned, which only 10.0.0.9 may own.
func startBalanced(t *testing.T, db *sql.DB, owner string) (stop func()) {
	t.Helper()
	r, err := runner.New(db, "bal", runner.WithBalance(), runner.WithOwner(owner), runner.WithLogger(quiet),
		runner.WithTTL(3*time.Second), runner.WithInterval(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	noop := func(context.Context, runner.Fire) error { return nil }
	for _, name := range []string{"a", "b", "c", "d"} {
		if err := r.Add(runner.Job{Name: name, Schedule: "@every 1s", Run: noop}); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Add(runner.Job{Name: "pinned", Schedule: "@every 1s", Hosts: []string{"10.0.0.9"}, Run: noop}); err != nil {
		t.Fatal(err)
	}
	return run(t, r)
}

func TestDashboardShowsABalancedGroup(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDatabase(t)
	startBalanced(t, d.DB, "10.0.0.1/r1")
	stop2 := startBalanced(t, d.DB, "10.0.0.2/r2")
	srv, _ := serve(t, d.DB)
	owns := func(counts ...int64) func() bool {
		return func() bool {
			st := apiStatus(t, srv.URL).Status
			if len(st.Groups) != 1 || len(st.Groups[0].Members) != len(counts) {
				return false
			}
			for i, m := range st.Groups[0].Members {
				if m.JobsOwned != counts[i] {
					return false
				}
			}
			return true
		}
	}
	dbtest.WaitFor(t, 30*time.Second, "r1 and r2 to own two jobs each", owns(2, 2))

	st := apiStatus(t, srv.URL).Status
	g := st.Groups[0]
	if g.Mode != "balanced" || g.Status != "balanced" {
		t.Fatalf("group bal: mode %q, status %q", g.Mode, g.Status)
	}
	owner := map[string]string{}
	for _, j := range g.Jobs {
		if j.Owner != nil && j.OwnerTok != nil {
			owner[j.Name] = *j.Owner
		}
		if j.Unownable != (j.Name == "pinned") {
			t.Errorf("job %s: unownable %v", j.Name, j.Unownable)
		}
	}

	body := get(t, srv.URL+"/fragment").body
	t.Run("TheGroupIsBalancedWithItsRunnersAndTheJobsEachOwns", func(t *testing.T) {
		for _, want := range []string{
			`<tr class="group" data-group="bal" data-mode="balanced">`,
			`<span class="badge ok status">balanced</span>`,
			`<td class="holder mono">2 live runners</td>`,
			`<tr class="runner" data-group="bal" data-owner="10.0.0.1/r1">`,
			`<tr class="runner" data-group="bal" data-owner="10.0.0.2/r2">`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("the fragment lacks %q", want)
			}
		}
		if n := len(regexp.MustCompile(`<td class="num jobs-owned">2</td>`).FindAllString(body, -1)); n != 2 {
			t.Errorf("%d runners shown owning 2 jobs, want 2", n)
		}
	})

	t.Run("EachJobShowsItsOwnerAndTheUnownableOneStandsOut", func(t *testing.T) {
		for job, o := range owner {
			re := regexp.MustCompile(`data-job="` + job + `">\s*<td>bal</td>\s*<td class="name">` + job +
				`</td>\s*<td class="mono">@every 1s</td>\s*<td class="owner mono">` + regexp.QuoteMeta(o) + ` #\d+</td>`)
			if !re.MatchString(body) {
				t.Errorf("job %s's row does not name its owner %s", job, o)
			}
		}
		if len(owner) != 4 {
			t.Errorf("owners %v, want a to d owned", owner)
		}
		if !strings.Contains(body, `<tr class="job unownable" data-group="bal" data-job="pinned">`) ||
			!strings.Contains(body, `<span class="badge bad unownable">no live runner may own it (hosts=10.0.0.9)</span>`) {
			t.Error("pinned is not marked as a job no live runner may own")
		}
	})

	t.Run("TheTimelineHasALanePerJobAndShowsMoves", func(t *testing.T) {
		stop2()
		dbtest.WaitFor(t, 30*time.Second, "r1 to own every job", owns(4)) // r2 left the group
		page := get(t, srv.URL+"/").body
		for _, want := range []string{`<g class="lane job-lane" data-job="a">`, `<g class="lane job-lane unownable" data-job="pinned">`,
			`<span class="owner" data-owner="10.0.0.1/r1">`, `<span class="owner" data-owner="10.0.0.2/r2">`, `<line class="change move"`} {
			if !strings.Contains(page, want) {
				t.Errorf("the page lacks %q", want)
			}
		}
		// Four first terms, and the two jobs of r2 moved to r1.
		m := regexp.MustCompile(`<span class="moves">(\d+) job moves</span>`).FindStringSubmatch(page)
		if m == nil {
			t.Fatal("the caption counts no job moves")
		}
		if n, _ := strconv.Atoi(m[1]); n < 6 {
			t.Errorf("the caption counts %d job moves, want at least 6", n)
		}
	})
}
