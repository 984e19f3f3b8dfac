package cli_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/soloist-dev/soloist/internal/dbtest"
)

// EnvScreenshot set to 1 makes TestDashboardInABrowser run a few minutes
// longer, so that the timeline fills up, and write its screenshot to
// docs/dashboard.png for the README. Without it the screenshot goes to a
// temporary directory and the checkout stays clean.
const EnvScreenshot = "SOLOIST_SCREENSHOT"

// chromium finds a Chromium or Chrome binary, failing the test with how to
// install one: the browser test never skips.
func chromium(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	t.Fatal("the browser test needs Chromium and found none on PATH: install it with `apt-get install -y chromium` (Debian), or `scripts/install-deps.sh chromium`")
	return ""
}

// browser starts a headless Chromium of its own for the test and returns a
// tab. The browser stops, and its profile is removed, when the test ends.
func browser(t *testing.T, parent context.Context) context.Context {
	t.Helper()
	profile, err := os.MkdirTemp("", "soloist-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	var output syncBuffer
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(parent,
		chromedp.ExecPath(chromium(t)),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.UserDataDir(profile),
		chromedp.CombinedOutput(&output),
	)
	tab, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc() // waits for the browser to exit
		// Chromium's helpers may still write to the profile for a moment.
		for range 50 {
			if err := os.RemoveAll(profile); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if t.Failed() {
			t.Logf("chromium's output:\n%s", output.String())
		}
	})
	return tab
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// pageProblems collects the page's uncaught exceptions and the errors the
// browser logs for it (a failed load, a Content-Security-Policy violation).
type pageProblems struct {
	mu   sync.Mutex
	list []string
}

func (p *pageProblems) watch(t *testing.T, tab context.Context) {
	t.Helper()
	err := chromedp.Listen(tab, func(ev any) {
		var problem string
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			problem = (&chromedp.ExceptionError{ExceptionDetails: e.ExceptionDetails}).Error()
		case *cdplog.EventEntryAdded:
			if e.Entry.Level == cdplog.EntryLevelError {
				problem = fmt.Sprintf("%s: %s (%s)", e.Entry.Source, e.Entry.Text, e.Entry.URL)
			}
		}
		if problem != "" {
			p.mu.Lock()
			p.list = append(p.list, problem)
			p.mu.Unlock()
		}
	})
	if err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	if err := chromedp.Do(tab, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, cdplog.Enable, cdp.Empty{})
		return err
	})); err != nil {
		t.Fatalf("enable the browser's log: %v", err)
	}
}

func (p *pageProblems) get() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.list...)
}

// dbHolder is the holder of group's live lease by the database, or "".
func dbHolder(t testing.TB, db *sql.DB, group string) string {
	t.Helper()
	var h sql.NullString
	err := db.QueryRow("SELECT holder FROM lease_status WHERE name = ? AND status = 'held'", group).Scan(&h)
	if err != nil && err != sql.ErrNoRows {
		t.Fatal(err)
	}
	return h.String
}

// TestDashboardInABrowser runs a three-runner group and `soloist dashboard`
// as a user would, and looks at the page in headless Chromium: the leader it
// shows is the database's, a forced takeover shows up without a reload, the
// page loads nothing it may not, and a screenshot of it is a real picture.
func TestDashboardInABrowser(t *testing.T) {
	t.Parallel()
	long := os.Getenv(EnvScreenshot) == "1"
	chromium(t) // fail at once, before starting anything, when there is none
	d := dbtest.NewDatabase(t)
	ct := writeFile(t, "crontab", `# Three servers share this crontab; each job runs on one of them.
# soloist: name=sync-catalog missed=skip
*/2 * * * * * * sleep 0.3
# soloist: name=send-reminders
*/5 * * * * * * sleep 3
# soloist: name=import-feed
*/7 * * * * * * echo "feed unavailable: HTTP 503" >&2; exit 1
# soloist: name=nightly-billing timeout=2h
0 2 * * * /opt/app/bin/billing --run
# soloist: name=weekly-report
0 6 * * 1 /opt/app/bin/report --weekly
`)
	env := []string{"SOLOIST_DSN=" + d.DSN(), "SOLOIST_TTL=2s", "SOLOIST_GROUP=app"}
	if long {
		env[1] = "SOLOIST_TTL=5s" // a crash leaves a gap that fires fall into
	}
	owners := []string{"10.0.0.11/web-1/4242-9f3a", "10.0.0.12/web-2/3171-c2e8", "10.0.0.13/web-3/2890-5b1d"}
	runners := map[string]*process{}
	for i, owner := range owners {
		runners[owner] = start(t, append(env, "SOLOIST_OWNER="+owner), "run", "--crontab", ct)
		if i == 0 {
			dbtest.WaitFor(t, 10*time.Second, "web-1 to lead", func() bool { return dbHolder(t, d.DB, "app") == owner })
		}
	}
	dash := start(t, append(env, "SOLOIST_HTTP=127.0.0.1:0", "SOLOIST_REFRESH=1s"), "dashboard")
	url := "http://" + httpAddr(t, dash, "soloist dashboard") + "/?window=5m"
	dbtest.WaitFor(t, 10*time.Second, "web-1 to register the jobs", func() bool {
		return strings.Contains(soloistCmd(t, env, "status").stdout, "weekly-report")
	})
	if r := soloistCmd(t, env, "pause", "--job", "weekly-report"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	failed := func() bool {
		r := soloistCmd(t, env, "runs", "--job", "import-feed", "--json", "--limit", "1")
		return strings.Contains(r.stdout, `"failed"`)
	}
	dbtest.WaitFor(t, 20*time.Second, "import-feed to fail once", failed)
	if long { // let web-1's term fill a minute of the timeline
		time.Sleep(75 * time.Second)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	tab := browser(t, ctx)
	var problems pageProblems
	problems.watch(t, tab)
	const holderJS = `(document.querySelector('tr.group[data-group="app"] td.holder') || {}).textContent`
	err := chromedp.Do(tab,
		chromedp.EmulateViewport(1280, 800),
		chromedp.Navigate(url),
		chromedp.WaitVisible(`tr.group[data-group="app"] td.holder`),
	)
	if err != nil {
		t.Fatalf("load %s: %v", url, err)
	}
	shown, err := chromedp.Run(tab, chromedp.Text(`tr.group[data-group="app"] td.holder`))
	if err != nil {
		t.Fatal(err)
	}
	if want := dbHolder(t, d.DB, "app"); shown != want {
		t.Fatalf("the page shows %q leading, the database %q", shown, want)
	}
	t.Logf("the page shows %s leading, as the database does", shown)

	// A forced takeover reaches the open page by itself, without a reload.
	if _, err := chromedp.Run(tab, chromedp.Evaluate[int](`window.soloistTestMark = 7`)); err != nil {
		t.Fatal(err)
	}
	if r := soloistCmd(t, env, "release", "--group", "app"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	next, err := chromedp.Run(tab, chromedp.Poll[string](
		fmt.Sprintf(`(() => { const h = %s; return h && h !== %q && h !== "-" ? h : false })()`, holderJS, shown),
		chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second)))
	if err != nil {
		t.Fatalf("the page did not show a new leader after the release: %v", err)
	}
	dbtest.WaitFor(t, 10*time.Second, "the database to agree with the page", func() bool { return dbHolder(t, d.DB, "app") == next })
	if mark, err := chromedp.Run(tab, chromedp.Evaluate[int](`window.soloistTestMark || 0`)); err != nil || mark != 7 {
		t.Fatalf("the page was reloaded rather than updated in place (%v)", err)
	}
	t.Logf("after the release the page shows %s leading", next)

	if long {
		// A minute for the new leader. Then the first is taken down for
		// maintenance, and the leader crashes in the middle of a run: the
		// third takes over at the lease's expiry, marks that run abandoned,
		// and records the fires nobody could start in time as missed.
		time.Sleep(75 * time.Second)
		runners[shown].stop(t, syscall.SIGTERM, 15*time.Second)
		dbtest.WaitFor(t, 10*time.Second, "send-reminders to be running", func() bool {
			r := soloistCmd(t, env, "runs", "--job", "send-reminders", "--json", "--limit", "1")
			return strings.Contains(r.stdout, `"running"`)
		})
		runners[next].stop(t, syscall.SIGKILL, 10*time.Second)
		dbtest.WaitFor(t, 15*time.Second, "the third runner to lead", func() bool {
			h := dbHolder(t, d.DB, "app")
			return h != "" && h != shown && h != next
		})
		time.Sleep(75 * time.Second)
	}

	// The timeline shows both leaders, the change, and the failures in red;
	// the jobs table shows the paused job.
	checks := []struct{ what, js string }{
		{"a lane per leader", `document.querySelectorAll('.timeline[data-group="app"] g.lane').length >= 2`},
		{"a leader change", `document.querySelectorAll('.timeline[data-group="app"] line.change').length >= 1`},
		{"a failed run in red", `(() => { const r = document.querySelector('.timeline[data-group="app"] rect.run.failed'); return !!r && getComputedStyle(r).fill === "rgb(220, 38, 38)" })()`},
		{"the paused job", `(document.querySelector('tr.job[data-job="weekly-report"] .paused') || {}).textContent === "paused"`},
		{"the database's clock", `/UTC$/.test((document.getElementById("db-time") || {}).textContent || "")`},
	}
	for _, c := range checks {
		if _, err := chromedp.Run(tab, chromedp.Poll[bool](c.js, chromedp.WithPollingTimeout(10*time.Second))); err != nil {
			t.Errorf("the page does not show %s: %v", c.what, err)
		}
	}
	if p := problems.get(); len(p) > 0 {
		t.Errorf("the browser reported problems with the page:\n%s", strings.Join(p, "\n"))
	}

	// A screenshot of the whole page: the viewport grows to the page's height
	// (which may change as the page refreshes) so that no scrollbar shows.
	var shot []byte
	for height := int64(800); ; {
		if err := chromedp.Do(tab, chromedp.EmulateViewport(1280, height)); err != nil {
			t.Fatal(err)
		}
		if shot, err = chromedp.Run(tab, chromedp.CaptureScreenshot()); err != nil {
			t.Fatal(err)
		}
		need, err := chromedp.Run(tab, chromedp.Evaluate[int64](`document.documentElement.scrollHeight`))
		if err != nil {
			t.Fatal(err)
		}
		if need <= height {
			break
		}
		height = need + 32 // room for a refresh that makes the page a little taller
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("the screenshot is not a PNG: %v", err)
	}
	if _, err := png.Decode(bytes.NewReader(shot)); err != nil {
		t.Fatalf("the screenshot does not decode: %v", err)
	}
	if cfg.Width != 1280 || cfg.Height < 800 || cfg.Height > 5000 || len(shot) < 20_000 {
		t.Fatalf("the screenshot is %dx%d, %d bytes: want 1280 wide, 800 to 5000 high, and more than a blank page", cfg.Width, cfg.Height, len(shot))
	}
	dir := t.TempDir()
	if long {
		dir = filepath.Join("..", "..", "docs")
	}
	path := filepath.Join(dir, "dashboard.png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%dx%d, %d bytes)", path, cfg.Width, cfg.Height, len(shot))
}
