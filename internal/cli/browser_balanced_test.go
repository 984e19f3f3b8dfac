package cli_test

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/soloist-dev/soloist/internal/dbtest"
	"github.com/soloist-dev/soloist/runner"
)

// runBalanced runs a runner of group "bal" in balanced mode in the test's
// process, with jobs a to d and pinned (which only 10.0.0.9 may own), until
// stop or the test's end.
func runBalanced(t *testing.T, db *sql.DB, owner string) (stop func()) {
	t.Helper()
	r, err := runner.New(db, "bal", runner.WithBalance(), runner.WithOwner(owner), runner.WithLogger(slog.New(slog.DiscardHandler)),
		runner.WithTTL(3*time.Second), runner.WithInterval(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	run := func(ctx context.Context, _ runner.Fire) error { return nil }
	for _, j := range []runner.Job{{Name: "a"}, {Name: "b"}, {Name: "c"}, {Name: "d"}, {Name: "pinned", Hosts: []string{"10.0.0.9"}}} {
		j.Schedule, j.Run = "@every 1s", run
		if err := r.Add(j); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var stopped bool
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run of %s: %v", owner, err)
		}
	}
	t.Cleanup(stop)
	return stop
}

// TestBalancedDashboardInABrowser looks at a group in balanced mode in
// headless Chromium, served by `soloist dashboard`: the runners with the jobs
// each owns, each job's owner, the job no live runner may own highlighted,
// a timeline lane per job; and a runner's leaving reaches the open page by
// itself, as moves.
func TestBalancedDashboardInABrowser(t *testing.T) {
	t.Parallel()
	chromium(t)
	d := dbtest.NewDatabase(t)
	runBalanced(t, d.DB, "10.0.0.1/r1")
	stop2 := runBalanced(t, d.DB, "10.0.0.2/r2")
	env := []string{"SOLOIST_DSN=" + d.DSN()}
	dash := start(t, append(env, "SOLOIST_HTTP=127.0.0.1:0", "SOLOIST_REFRESH=1s"), "dashboard")
	url := "http://" + httpAddr(t, dash, "soloist dashboard") + "/?window=5m"

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	tab := browser(t, ctx)
	var problems pageProblems
	problems.watch(t, tab)
	if err := chromedp.Do(tab, chromedp.EmulateViewport(1280, 800), chromedp.Navigate(url),
		chromedp.WaitVisible(`tr.group[data-group="bal"]`)); err != nil {
		t.Fatalf("load %s: %v", url, err)
	}
	if _, err := chromedp.Run(tab, chromedp.Evaluate[int](`window.soloistTestMark = 7`)); err != nil {
		t.Fatal(err)
	}
	poll := func(what, js string) {
		t.Helper()
		if _, err := chromedp.Run(tab, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
			t.Errorf("the page does not show %s: %v", what, err)
		}
	}
	// ownedBy is a script: do the runners' rows say they own these many jobs?
	ownedBy := func(counts map[string]int) string {
		var conds []string
		for o, n := range counts {
			conds = append(conds, fmt.Sprintf(`(document.querySelector('tr.runner[data-owner="%s"] td.jobs-owned') || {}).textContent === "%d"`, o, n))
		}
		return fmt.Sprintf(`document.querySelectorAll('tr.runner').length === %d && %s`, len(counts), strings.Join(conds, " && "))
	}

	poll("two runners owning two jobs each", ownedBy(map[string]int{"10.0.0.1/r1": 2, "10.0.0.2/r2": 2}))
	poll("the group in balanced mode", `(document.querySelector('tr.group[data-group="bal"] td.mode') || {}).textContent === "balanced"`)
	poll("every ownable job's owner and token",
		`["a", "b", "c", "d"].every(j => /^10\.0\.0\.[12]\/r[12] #\d+$/.test((document.querySelector('tr.job[data-job="' + j + '"] td.owner') || {}).textContent || ""))`)
	poll("the unownable job highlighted in red",
		`(() => { const r = document.querySelector('tr.job.unownable[data-job="pinned"] td'); return !!r && getComputedStyle(r).backgroundColor === "rgb(253, 232, 232)" && /no live runner may own it \(hosts=10\.0\.0\.9\)/.test(r.parentNode.textContent) })()`)
	poll("a timeline lane per job", `document.querySelectorAll('.timeline[data-group="bal"] g.job-lane').length === 5`)
	poll("the terms in two owners' colours",
		`new Set([...document.querySelectorAll('.timeline[data-group="bal"] rect.term')].map(r => r.getAttribute("fill"))).size === 2`)
	moves, err := chromedp.Run(tab, chromedp.Evaluate[int](`document.querySelectorAll('.timeline[data-group="bal"] line.move').length`))
	if err != nil {
		t.Fatal(err)
	}

	stop2()
	poll("r1 owning every job after r2 left", ownedBy(map[string]int{"10.0.0.1/r1": 4}))
	poll("r2's jobs moving to r1", fmt.Sprintf(`document.querySelectorAll('.timeline[data-group="bal"] line.move').length >= %d`, moves+2))
	if mark, err := chromedp.Run(tab, chromedp.Evaluate[int](`window.soloistTestMark || 0`)); err != nil || mark != 7 {
		t.Fatalf("the page was reloaded rather than updated in place (%v)", err)
	}
	if p := problems.get(); len(p) > 0 {
		t.Errorf("the browser reported problems with the page:\n%s", strings.Join(p, "\n"))
	}
}
