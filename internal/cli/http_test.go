package cli_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/soloist-dev/soloist/internal/cli"
	"github.com/soloist-dev/soloist/internal/dbtest"
)

// httpAddr waits until p has logged the address it serves HTTP on (after
// the line that contains marker) and returns it.
func httpAddr(t testing.TB, p *process, marker string) string {
	t.Helper()
	p.waitLog(t, marker, 20*time.Second)
	re := regexp.MustCompile(regexp.QuoteMeta(marker) + `.*? addr=(\S+)`)
	m := re.FindStringSubmatch(p.log())
	if m == nil {
		t.Fatalf("no addr= on the line with %q:\n%s", marker, p.log())
	}
	return m[1]
}

const servingHTTP = "serving http"

// httpGet fetches a URL and returns its status and body.
func httpGet(t testing.TB, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

// scrape reads a process's /metrics as Prometheus does.
func scrape(t testing.TB, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	code, body := httpGet(t, "http://"+addr+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: %d\n%s", code, body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics is not the Prometheus text format: %v\n%s", err, body)
	}
	return fams
}

// sample is the value of name's series with the given label pairs.
func sample(fams map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	f, ok := fams[name]
	if !ok {
		return 0, false
	}
series:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if have[labels[i]] != labels[i+1] {
				continue series
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

func TestRunServesMetricsProbesAndTheDashboard(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDatabase(t)
	ct := writeFile(t, "crontab", "# soloist: name=tick\n* * * * * * * true\n# soloist: name=fails\n* * * * * * * exit 3\n")
	env := []string{"SOLOIST_DSN=" + d.DSN(), "SOLOIST_TTL=1s", "SOLOIST_GROUP=web"}
	a := start(t, append(env, "SOLOIST_OWNER=10.0.0.1/a", "SOLOIST_HTTP=127.0.0.1:0"), "run", "--crontab", ct)
	addrA := httpAddr(t, a, servingHTTP)
	a.waitLog(t, "leading", 10*time.Second)
	b := start(t, append(env, "SOLOIST_OWNER=10.0.0.2/b"), "run", "--crontab", ct, "--http", "127.0.0.1:0")
	addrB := httpAddr(t, b, servingHTTP)
	b.waitLog(t, "runner started", 10*time.Second)

	value := func(addr, name string, labels ...string) float64 {
		v, _ := sample(scrape(t, addr), name, labels...)
		return v
	}
	dbtest.WaitFor(t, 10*time.Second, "a to report a failed and a succeeded run", func() bool {
		return value(addrA, "soloist_runs_total", "group", "web", "job", "fails", "outcome", "failed") >= 1 &&
			value(addrA, "soloist_runs_total", "group", "web", "job", "tick", "outcome", "succeeded") >= 1
	})
	fams := scrape(t, addrA)
	for _, tc := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"soloist_leader", []string{"group", "web"}, 1},
		{"soloist_leader_changes_total", []string{"group", "web"}, 1},
		{"soloist_build_info", []string{"version", "v0.0.0-test"}, 1},
		{"soloist_step_downs_total", []string{"group", "web", "reason", "refused"}, 0},
	} {
		if got, ok := sample(fams, tc.name, tc.labels...); !ok || got != tc.want {
			t.Errorf("a's %s%v = %v (present %v), want %v", tc.name, tc.labels, got, ok, tc.want)
		}
	}
	for _, name := range []string{"soloist_acquire_duration_seconds", "soloist_heartbeat_duration_seconds",
		"soloist_run_duration_seconds", "soloist_last_heartbeat_age_seconds", "go_goroutines", "process_resident_memory_bytes"} {
		if _, ok := fams[name]; !ok {
			t.Errorf("a's /metrics has no %s", name)
		}
	}
	if got := value(addrB, "soloist_leader", "group", "web"); got != 0 {
		t.Errorf("the follower b reports soloist_leader %v", got)
	}
	for _, addr := range []string{addrA, addrB} {
		for _, path := range []string{"/healthz", "/readyz"} {
			if code, body := httpGet(t, "http://"+addr+path); code != http.StatusOK || body != "ok\n" {
				t.Errorf("GET %s%s: %d %q", addr, path, code, body)
			}
		}
	}
	if code, page := httpGet(t, "http://"+addrB+"/"); code != http.StatusOK || !strings.Contains(page, `<td class="holder mono">10.0.0.1/a</td>`) {
		t.Errorf("b's dashboard: %d, want a as the holder\n%s", code, page)
	}

	// An operator forces a takeover: the metrics of both say so.
	if r := soloistCmd(t, env, "release"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	dbtest.WaitFor(t, 10*time.Second, "b to lead by its metrics", func() bool { return value(addrB, "soloist_leader", "group", "web") == 1 })
	dbtest.WaitFor(t, 10*time.Second, "a's refused step-down by its metrics", func() bool {
		return value(addrA, "soloist_step_downs_total", "group", "web", "reason", "refused") == 1
	})
	if got := value(addrA, "soloist_leader", "group", "web"); got != 0 {
		t.Errorf("a reports soloist_leader %v after the takeover", got)
	}
	if got := value(addrB, "soloist_leader_changes_total", "group", "web"); got != 1 {
		t.Errorf("b reports %v leader changes, want 1", got)
	}
	dbtest.WaitFor(t, 10*time.Second, "b's dashboard to show b leading, in its own marked lane", func() bool {
		_, page := httpGet(t, "http://"+addrB+"/")
		return strings.Contains(page, `<td class="holder mono">10.0.0.2/b</td>`) && strings.Contains(page, "10.0.0.2/b (this runner)")
	})

	// A graceful stop shuts the listener down too.
	if code := a.stop(t, syscall.SIGTERM, 15*time.Second); code != 0 {
		t.Fatalf("a exited %d", code)
	}
	if c, err := net.DialTimeout("tcp", addrA, time.Second); err == nil {
		c.Close()
		t.Error("a's HTTP listener is still open after it stopped")
	}
}

func TestHTTPAddressProblemsAreClear(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDatabase(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	ct := writeFile(t, "crontab", "* * * * * true\n")
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"run", "--dsn", d.DSN(), "--crontab", ct, "--http", busy.Addr().String()}, cli.ExitError,
			fmt.Sprintf("--http %s: listen tcp %s: bind: address already in use", busy.Addr(), busy.Addr())},
		{[]string{"dashboard", "--dsn", d.DSN(), "--http", busy.Addr().String()}, cli.ExitError, "address already in use"},
		{[]string{"dashboard", "--dsn", d.DSN(), "--http", "nonsense"}, cli.ExitError, "--http nonsense: listen tcp: address nonsense: missing port in address"},
		{[]string{"dashboard", "--dsn", d.DSN(), "--refresh", "10ms"}, cli.ExitUsage, "--refresh 10ms: want 500ms to 1m"},
	} {
		r := soloistCmd(t, nil, tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("soloist %s: exit %d, stderr %q; want exit %d with %q", strings.Join(tc.args, " "), r.code, r.stderr, tc.code, tc.want)
		}
	}
}

func TestDashboardCommandServesAReadOnlyView(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDatabase(t)
	ct := writeFile(t, "crontab", "# soloist: name=tick\n* * * * * * * true\n")
	env := []string{"SOLOIST_DSN=" + d.DSN(), "SOLOIST_TTL=1s"}
	start(t, append(env, "SOLOIST_OWNER=10.0.0.1/a"), "run", "--crontab", ct)

	r := soloistCmd(t, []string{"SOLOIST_DSN=" + dbtest.NewEmptyDatabase(t).DSN()}, "dashboard", "--http", "127.0.0.1:0")
	if r.code != cli.ExitError || !strings.Contains(r.stderr, "run `soloist migrate up`") {
		t.Errorf("dashboard of an empty database: exit %d %q, want the advice to migrate", r.code, r.stderr)
	}

	p := start(t, append(env, "SOLOIST_HTTP=127.0.0.1:0", "SOLOIST_REFRESH=1s"), "dashboard")
	addr := httpAddr(t, p, "soloist dashboard")
	dbtest.WaitFor(t, 10*time.Second, "the page to show a as the holder", func() bool {
		_, page := httpGet(t, "http://"+addr+"/")
		return strings.Contains(page, `<td class="holder mono">10.0.0.1/a</td>`)
	})
	_, page := httpGet(t, "http://"+addr+"/")
	for _, want := range []string{`data-refresh-ms="1000"`, `data-job="tick"`, "Soloist v0.0.0-test"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, body := httpGet(t, "http://"+addr+path); code != http.StatusOK {
			t.Errorf("GET %s: %d %q", path, code, body)
		}
	}
	if code, _ := httpGet(t, "http://"+addr+"/metrics"); code != http.StatusNotFound {
		t.Errorf("GET /metrics of soloist dashboard: %d; it runs no runner, so it has none", code)
	}
	if code := p.stop(t, syscall.SIGTERM, 10*time.Second); code != 0 {
		t.Fatalf("dashboard exited %d after SIGTERM", code)
	}
}
