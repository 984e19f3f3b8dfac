package web_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/soloist-dev/soloist"
	"github.com/soloist-dev/soloist/internal/dbtest"
	"github.com/soloist-dev/soloist/internal/dbtest/netfault"
	"github.com/soloist-dev/soloist/internal/report"
	"github.com/soloist-dev/soloist/internal/web"
	"github.com/soloist-dev/soloist/runner"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

var quiet = slog.New(slog.DiscardHandler)

// startRunner runs a runner of group "app" until the test ends or stop.
func startRunner(t *testing.T, db *sql.DB, owner string) (r *runner.Runner, stop func()) {
	t.Helper()
	r, err := runner.New(db, "app", runner.WithTTL(time.Second), runner.WithOwner(owner), runner.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	err = r.Add(
		runner.Job{Name: "tick", Schedule: "@every 1s", Run: func(context.Context, runner.Fire) error { return nil }},
		runner.Job{Name: "flaky", Schedule: "@every 1s", Run: func(context.Context, runner.Fire) error { return errors.New("exit status 7") }},
	)
	if err != nil {
		t.Fatal(err)
	}
	return r, run(t, r)
}

// run runs r until the test ends or stop.
func run(t *testing.T, r *runner.Runner) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := r.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	return stop
}

// serve serves the routes of `soloist dashboard` on db.
func serve(t *testing.T, db *sql.DB, opts ...web.Option) (*httptest.Server, *web.Dashboard) {
	t.Helper()
	d, err := web.New(db, append([]web.Option{web.WithRefresh(500 * time.Millisecond), web.WithLogger(quiet)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(web.Routes{Dashboard: d, Ready: d.Ready}.Handler())
	t.Cleanup(srv.Close)
	return srv, d
}

type response struct {
	code   int
	header http.Header
	body   string
}

func get(t *testing.T, url string) response {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, string(b)}
}

func apiStatus(t *testing.T, url string) (st struct {
	DatabaseTime time.Time     `json:"database_time"`
	Status       report.Status `json:"status"`
	Terms        []report.Term `json:"terms"`
	Runs         []report.Run  `json:"runs"`
}) {
	t.Helper()
	r := get(t, url+"/api/status")
	if r.code != http.StatusOK || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /api/status: %d %s\n%s", r.code, r.header.Get("Content-Type"), r.body)
	}
	if err := json.Unmarshal([]byte(r.body), &st); err != nil {
		t.Fatalf("GET /api/status: %v\n%s", err, r.body)
	}
	return st
}

// holder is the holder of app's lease by the database.
func holder(t *testing.T, db *sql.DB) string {
	t.Helper()
	var h sql.NullString
	if err := db.QueryRow("SELECT holder FROM lease_status WHERE name = 'app' AND status = 'held'").Scan(&h); err != nil && !errors.Is(err, sql.ErrNoRows) {
		t.Fatal(err)
	}
	return h.String
}

// external finds what a page could fetch from elsewhere: an absolute or a
// protocol-relative URL.
var external = regexp.MustCompile(`(?i)https?://|(src|href|url)\s*[=(]\s*["']?//`)

func TestDashboardShowsALiveGroup(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDatabase(t)
	_, stopA := startRunner(t, d.DB, "10.0.0.1/web-1")
	dbtest.WaitFor(t, 10*time.Second, "web-1 to lead", func() bool { return holder(t, d.DB) == "10.0.0.1/web-1" })
	startRunner(t, d.DB, "10.0.0.2/web-2")
	srv, _ := serve(t, d.DB)
	dbtest.WaitFor(t, 10*time.Second, "a failed run", func() bool {
		// A read is several calls: a run that began after the read took the
		// database's time is in its runs, but not yet in its jobs or on its
		// timeline. Wait for a read that has the failure everywhere.
		st := apiStatus(t, srv.URL)
		failed := false
		for _, g := range st.Status.Groups {
			for _, j := range g.Jobs {
				failed = failed || j.Name == "flaky" && j.LastOutcome != nil && *j.LastOutcome == "failed"
			}
		}
		for _, r := range st.Runs {
			if failed && r.Outcome == "failed" && r.StartedAt != nil && !r.StartedAt.After(st.DatabaseTime) {
				return true
			}
		}
		return false
	})

	t.Run("ThePageShowsTheHolderTheDatabaseShows", func(t *testing.T) {
		r := get(t, srv.URL+"/")
		if r.code != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
			t.Fatalf("GET /: %d %s", r.code, r.header.Get("Content-Type"))
		}
		want := `<td class="holder mono">` + holder(t, d.DB) + `</td>`
		for _, s := range []string{want, `data-group="app"`, `<svg class="tl"`, `data-owner="10.0.0.1/web-1"`,
			`class="run failed"`, `data-job="flaky"`, `<span class="badge failed outcome"`, "exit status 7",
			`data-refresh-ms="500"`, `<noscript><meta http-equiv="refresh" content="1"></noscript>`} {
			if !strings.Contains(r.body, s) {
				t.Errorf("the page lacks %q", s)
			}
		}
	})

	t.Run("NothingComesFromElsewhere", func(t *testing.T) {
		page := get(t, srv.URL+"/?window=5m")
		if m := external.FindString(page.body); m != "" {
			t.Errorf("the page refers to %q", m)
		}
		csp := page.header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("Content-Security-Policy %q", csp)
		}
		for _, m := range regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllStringSubmatch(page.body, -1) {
			ref := m[1]
			if strings.HasPrefix(ref, "?") {
				continue // a window link: this page
			}
			r := get(t, srv.URL+"/"+ref)
			if r.code != http.StatusOK {
				t.Errorf("GET /%s: %d", ref, r.code)
			}
			body := strings.ReplaceAll(r.body, `xmlns="http://www.w3.org/2000/svg"`, "") // a name, not a fetch
			if m := external.FindString(body); m != "" {
				t.Errorf("%s refers to %q", ref, m)
			}
		}
	})

	t.Run("TheFragmentIsThePagesLivePart", func(t *testing.T) {
		r := get(t, srv.URL+"/fragment?window=15m")
		if r.code != http.StatusOK || strings.Contains(r.body, "<html") || !strings.Contains(r.body, `<tr class="group" data-group="app" data-mode="leader">`) {
			t.Fatalf("GET /fragment: %d\n%s", r.code, r.body)
		}
		if !strings.Contains(r.body, `<a href="?window=15m" class="current"`) {
			t.Error("the fragment does not mark the 15m window current")
		}
	})

	t.Run("TheJSONIsTheSameData", func(t *testing.T) {
		st := apiStatus(t, srv.URL)
		if len(st.Status.Groups) != 1 || st.Status.Groups[0].Holder == nil || *st.Status.Groups[0].Holder != holder(t, d.DB) {
			t.Fatalf("status %+v", st.Status)
		}
		if len(st.Terms) == 0 || st.Terms[0].Holder != "10.0.0.1/web-1" || st.DatabaseTime.IsZero() {
			t.Fatalf("terms %+v at %v", st.Terms, st.DatabaseTime)
		}
		for _, r := range st.Runs {
			if r.Output != nil {
				t.Fatal("/api/status carries the runs' output")
			}
		}
	})

	t.Run("ProbesAnswer", func(t *testing.T) {
		for _, path := range []string{"/healthz", "/readyz"} {
			if r := get(t, srv.URL+path); r.code != http.StatusOK || r.body != "ok\n" {
				t.Errorf("GET %s: %d %q", path, r.code, r.body)
			}
		}
	})

	t.Run("ItIsReadOnly", func(t *testing.T) {
		for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
			req, _ := http.NewRequest(method, srv.URL+"/", strings.NewReader("x"))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusMethodNotAllowed {
				t.Errorf("%s /: %d, want 405", method, resp.StatusCode)
			}
		}
		if r := get(t, srv.URL+"/nosuch"); r.code != http.StatusNotFound {
			t.Errorf("GET /nosuch: %d", r.code)
		}
	})

	t.Run("ATakeoverShowsOnThePage", func(t *testing.T) {
		stopA()
		dbtest.WaitFor(t, 10*time.Second, "the page to show web-2 leading", func() bool {
			return strings.Contains(get(t, srv.URL+"/fragment").body, `<td class="holder mono">10.0.0.2/web-2</td>`)
		})
		if h := holder(t, d.DB); h != "10.0.0.2/web-2" {
			t.Fatalf("the page shows web-2, the database %q", h)
		}
		body := get(t, srv.URL+"/").body
		if !strings.Contains(body, `data-owner="10.0.0.2/web-2"`) || !strings.Contains(body, `<line class="change"`) {
			t.Error("the timeline shows no lane for web-2, or no leader change")
		}
	})
}

func TestDashboardOfAnEmptyDatabase(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDatabase(t)
	srv, _ := serve(t, d.DB)
	r := get(t, srv.URL+"/")
	if r.code != http.StatusOK || !strings.Contains(r.body, "No groups yet") || !strings.Contains(r.body, "No jobs registered yet") {
		t.Fatalf("GET /: %d\n%s", r.code, r.body)
	}
}

func TestDashboardShowsNoSecretAndExplainsMissingGrants(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDatabase(t)
	startRunner(t, d.DB, "10.0.0.1/web-1")
	dbtest.WaitFor(t, 10*time.Second, "web-1 to lead", func() bool { return holder(t, d.DB) != "" })

	var grants []string
	for _, p := range soloist.ReportProcedures() {
		grants = append(grants, "GRANT EXECUTE ON PROCEDURE {db}."+p)
	}
	reader := d.NewUser(t, grants...)
	srv, _ := serve(t, d.Open(t, func(c *mysql.Config) { *c = *reader }))
	for _, path := range []string{"/", "/fragment", "/api/status", "/readyz"} {
		r := get(t, srv.URL+path)
		if r.code != http.StatusOK {
			t.Fatalf("GET %s with EXECUTE on the report procedures only: %d\n%s", path, r.code, r.body)
		}
		for _, secret := range []string{reader.Passwd, reader.FormatDSN()} {
			if strings.Contains(r.body, secret) {
				t.Fatalf("GET %s shows %q", path, secret)
			}
		}
	}

	nobody := d.NewUser(t, "GRANT EXECUTE ON PROCEDURE {db}.database_time")
	srv, _ = serve(t, d.Open(t, func(c *mysql.Config) { *c = *nobody }))
	r := get(t, srv.URL+"/")
	if r.code != http.StatusOK || !strings.Contains(r.body, "Cannot read the database.") || !strings.Contains(r.body, "may not call it") {
		t.Fatalf("GET / without grants: %d\n%s", r.code, r.body)
	}
	if r := get(t, srv.URL+"/readyz"); r.code != http.StatusServiceUnavailable || !strings.Contains(r.body, "may not call it") {
		t.Fatalf("GET /readyz without grants: %d %q", r.code, r.body)
	}
	if r := get(t, srv.URL+"/api/status"); r.code != http.StatusServiceUnavailable {
		t.Fatalf("GET /api/status without grants: %d %q", r.code, r.body)
	}
	if strings.Contains(r.body, nobody.Passwd) {
		t.Fatal("the error shows the password")
	}
}

func TestReadyzFollowsTheDatabase(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDatabase(t)
	proxy, err := netfault.New("dashboard", d.Config.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	viaProxy := d.Open(t, func(c *mysql.Config) { c.Addr = proxy.Addr; c.Timeout = 300 * time.Millisecond })
	startRunner(t, d.DB, "10.0.0.1/web-1")
	dbtest.WaitFor(t, 10*time.Second, "web-1 to lead", func() bool { return holder(t, d.DB) != "" })
	srv, dash := serve(t, viaProxy)
	if r := get(t, srv.URL+"/readyz"); r.code != http.StatusOK {
		t.Fatalf("GET /readyz: %d %q", r.code, r.body)
	}

	if err := proxy.Reset(); err != nil {
		t.Fatal(err)
	}
	dbtest.WaitFor(t, 10*time.Second, "/readyz to fail", func() bool { return get(t, srv.URL+"/readyz").code == http.StatusServiceUnavailable })
	if r := get(t, srv.URL+"/healthz"); r.code != http.StatusOK {
		t.Errorf("GET /healthz while the database is unreachable: %d; the process is alive", r.code)
	}
	page := get(t, srv.URL+"/").body
	if !strings.Contains(page, "showing what was read before") || !strings.Contains(page, `data-group="app"`) {
		t.Errorf("the page does not keep the last data with the error:\n%s", page)
	}
	if r := get(t, srv.URL+"/api/status"); r.code != http.StatusOK || !strings.HasPrefix(r.header.Get("Warning"), "110 soloist") {
		t.Errorf("GET /api/status while the database is unreachable: %d, Warning %q", r.code, r.header.Get("Warning"))
	}

	proxy.Heal()
	dbtest.WaitFor(t, 10*time.Second, "/readyz to pass again", func() bool { return dash.Ready(context.Background()) == nil })
}

func TestOptionsValidateThemselves(t *testing.T) {
	db, err := sql.Open("mysql", "u@tcp(127.0.0.1:1)/x")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, tc := range []struct {
		opts []web.Option
		want string
	}{
		{[]web.Option{web.WithRefresh(100 * time.Millisecond)}, "dashboard: refresh 100ms: must be between 500ms and 1m"},
		{[]web.Option{web.WithRefresh(2 * time.Minute)}, "dashboard: refresh 2m0s: must be between 500ms and 1m"},
		{[]web.Option{web.WithLogger(nil)}, "dashboard: logger is nil"},
	} {
		if _, err := web.New(db, tc.opts...); err == nil || err.Error() != tc.want {
			t.Errorf("New: %v, want %q", err, tc.want)
		}
	}
	if _, err := web.New(nil); err == nil {
		t.Error("New(nil) did not fail")
	}
	d, err := web.New(db)
	if err != nil || d.Refresh() != web.DefaultRefresh {
		t.Fatalf("New with defaults: %v, refresh %v", err, d.Refresh())
	}
}

func TestServerBindsAtOnceAndStopsGracefully(t *testing.T) {
	srv, err := web.Start("127.0.0.1:0", web.Routes{}.Handler(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := web.Start(srv.Addr(), web.Routes{}.Handler(), quiet); err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("a second Start on %s: %v, want address already in use", srv.Addr(), err)
	}
	if r := get(t, fmt.Sprintf("http://%s/healthz", srv.Addr())); r.code != http.StatusOK {
		t.Errorf("GET /healthz: %d", r.code)
	}
	if r := get(t, fmt.Sprintf("http://%s/", srv.Addr())); r.code != http.StatusNotFound {
		t.Errorf("GET / without a dashboard: %d", r.code)
	}
	srv.Stop()
	if _, err := http.Get(fmt.Sprintf("http://%s/healthz", srv.Addr())); err == nil {
		t.Error("the server answers after Stop")
	}
}
