// Package web serves Soloist's read-only dashboard and its HTTP probes:
// server-rendered HTML from html/template with embedded assets (no build
// step, nothing fetched from the internet), the same data as JSON, and
// /healthz and /readyz for Kubernetes. `soloist run --http` and `soloist
// dashboard` wire it; /metrics comes from internal/metrics.
//
// # Read-only
//
// The dashboard only calls the report procedures (soloist.ReportProcedures)
// and only answers GET and HEAD. It shows no DSN, user or password. Steering
// the runners (release, pause, allow) stays in the CLI.
//
// # Load on the database
//
// A Dashboard reads the database when a page, fragment, JSON or readiness
// request finds its data older than half the refresh interval: one read at
// a time, however many browsers watch, and none while nobody does. A read is
// six report calls; its runs are the newest 1,000 of the last hour.
package web

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/soloist-dev/soloist/internal/report"
)

const (
	// DefaultRefresh is how often pages refresh by default.
	DefaultRefresh = 2 * time.Second
	// runLimit is how many runs of the last hour a read fetches at most.
	runLimit = 1000
	// readTimeout bounds one read of the database.
	readTimeout = 5 * time.Second
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

var templates = template.Must(template.New("").Funcs(template.FuncMap{
	"f1": func(v float64) string { return fmt.Sprintf("%.1f", v) },
}).ParseFS(templateFS, "templates/*.html"))

// Option configures a Dashboard. Options validate themselves; [New] returns
// the first error.
type Option interface {
	apply(*config) error
}

type optionFunc func(*config) error

func (f optionFunc) apply(c *config) error { return f(c) }

type config struct {
	group   string
	refresh time.Duration
	self    string
	version string
	logger  *slog.Logger
}

// WithGroup shows only group. Default: every group of the database.
func WithGroup(group string) Option {
	return optionFunc(func(c *config) error {
		c.group = group
		return nil
	})
}

// WithRefresh sets how often a page refreshes itself, and how fresh
// readiness demands the data be. Default 2s; 500ms to 1m.
func WithRefresh(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d < 500*time.Millisecond || d > time.Minute {
			return fmt.Errorf("refresh %v: must be between 500ms and 1m", d)
		}
		c.refresh = d
		return nil
	})
}

// WithSelf names the owner of the runner that serves the dashboard (`soloist
// run --http`): its timeline lane is marked. Default: none.
func WithSelf(owner string) Option {
	return optionFunc(func(c *config) error {
		c.self = owner
		return nil
	})
}

// WithVersion sets the version shown in the page's footer. Default: none.
func WithVersion(v string) Option {
	return optionFunc(func(c *config) error {
		c.version = v
		return nil
	})
}

// WithLogger sets where failed reads are logged. Default: slog.Default().
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(c *config) error {
		if l == nil {
			return errors.New("logger is nil")
		}
		c.logger = l
		return nil
	})
}

// Dashboard serves the state of one Soloist database.
type Dashboard struct {
	db  *sql.DB
	cfg config

	mu     sync.Mutex // held for a read: one at a time
	snap   *snapshot  // the latest successful read; nil before the first
	err    error      // the latest read's error, explained; nil when it succeeded
	tried  time.Time  // when the latest read began
	failAt time.Time  // when the latest failure was logged
}

// snapshot is one read of the database.
type snapshot struct {
	now    time.Time // the database clock at the read
	readAt time.Time // the local clock at the read
	status *report.Status
	terms  []report.Term // begun in the 24 hours before now
	runs   []report.Run  // fired in the hour before now, newest first, without output
	capped bool          // the hour held more than runLimit runs
}

// New returns the dashboard of the Soloist database db. It does not connect.
func New(db *sql.DB, opts ...Option) (*Dashboard, error) {
	if db == nil {
		return nil, errors.New("dashboard: db is nil")
	}
	cfg := config{refresh: DefaultRefresh, logger: slog.Default()}
	for _, o := range opts {
		if err := o.apply(&cfg); err != nil {
			return nil, fmt.Errorf("dashboard: %w", err)
		}
	}
	return &Dashboard{db: db, cfg: cfg}, nil
}

// Refresh is how often a page refreshes itself.
func (d *Dashboard) Refresh() time.Duration { return d.cfg.refresh }

// current returns the latest data, reading the database first when the data
// is older than half the refresh interval. On a failed read it returns the
// data of the last good one (nil if none) with the read's error.
func (d *Dashboard) current(ctx context.Context) (*snapshot, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.tried.IsZero() && time.Since(d.tried) < d.cfg.refresh/2 {
		return d.snap, d.err
	}
	d.tried = time.Now()
	// The read finishes for the requests waiting on it even if this one goes.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), readTimeout)
	defer cancel()
	s, err := d.read(rctx)
	if err != nil {
		d.err = fmt.Errorf("read the database: %w", report.Explain(err))
		if time.Since(d.failAt) > time.Minute {
			d.failAt = time.Now()
			d.cfg.logger.Warn("dashboard: database read failed", "err", d.err)
		}
		return d.snap, d.err
	}
	d.snap, d.err = s, nil
	return s, nil
}

func (d *Dashboard) read(ctx context.Context) (*snapshot, error) {
	st, now, err := report.ReadStatus(ctx, d.db, d.cfg.group)
	if err != nil {
		return nil, err
	}
	terms, err := report.Terms(ctx, d.db, d.cfg.group, now.Add(-24*time.Hour))
	if err != nil {
		return nil, err
	}
	runs, err := report.Runs(ctx, d.db, report.RunQuery{Group: d.cfg.group, Limit: runLimit})
	if err != nil {
		return nil, err
	}
	s := &snapshot{now: now, readAt: time.Now(), status: st, terms: terms, runs: runs[:0]}
	from := now.Add(-maxWindow)
	for _, r := range runs {
		if r.Fire.Before(from) {
			break // newest first: the rest are older
		}
		r.Output = nil
		s.runs = append(s.runs, r)
	}
	s.capped = len(runs) == runLimit && len(s.runs) == runLimit
	return s, nil
}

// Ready reports whether the database answered a read within the refresh
// interval: it reads if the data is older than half of it.
func (d *Dashboard) Ready(ctx context.Context) error {
	_, err := d.current(ctx)
	return err
}

// Handler serves the dashboard: the page at /, its live part at /fragment,
// the same data as JSON at /api/status, and the page's assets at /static/.
func (d *Dashboard) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", d.servePage)
	mux.HandleFunc("GET /fragment", d.serveFragment)
	mux.HandleFunc("GET /api/status", d.serveJSON)
	static, _ := fs.Sub(staticFS, "static") // the embedded directory always exists
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	return secure(mux)
}

func (d *Dashboard) servePage(w http.ResponseWriter, r *http.Request) {
	d.render(w, r, "page")
}

func (d *Dashboard) serveFragment(w http.ResponseWriter, r *http.Request) {
	d.render(w, r, "fragment")
}

func (d *Dashboard) render(w http.ResponseWriter, r *http.Request, name string) {
	s, err := d.current(r.Context())
	window, span := windowOf(r.URL.Query())
	p := buildPage(s, err, window, span, d.cfg.self, time.Now())
	p.RefreshMs = d.cfg.refresh.Milliseconds()
	p.RefreshSeconds = int64(max(time.Second, d.cfg.refresh.Round(time.Second)) / time.Second)
	p.RefreshText = durText(d.cfg.refresh)
	p.Version = d.cfg.version
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := templates.ExecuteTemplate(w, name, p); err != nil {
		d.cfg.logger.Error("dashboard: render", "template", name, "err", err)
	}
}

// apiStatus is the JSON of /api/status.
type apiStatus struct {
	DatabaseTime time.Time      `json:"database_time"`
	Status       *report.Status `json:"status"`
	Terms        []report.Term  `json:"terms"` // begun in the last 24 hours
	Runs         []report.Run   `json:"runs"`  // fired in the last hour, newest first, at most 1,000, without output
}

func (d *Dashboard) serveJSON(w http.ResponseWriter, r *http.Request) {
	s, err := d.current(r.Context())
	if s == nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	if err != nil {
		w.Header().Set("Warning", `110 soloist "stale: `+sanitizeHeader(err.Error())+`"`)
	}
	writeJSON(w, apiStatus{DatabaseTime: s.now, Status: s.status, Terms: s.terms, Runs: s.runs})
}

// secure adds the headers of a page that loads nothing from elsewhere and
// may not be framed.
func secure(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		h.ServeHTTP(w, r)
	})
}
