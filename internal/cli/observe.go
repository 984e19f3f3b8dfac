package cli

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/soloist-dev/soloist/internal/metrics"
	"github.com/soloist-dev/soloist/internal/web"
	"github.com/soloist-dev/soloist/runner"
)

// observer is what `soloist run --http` serves: Prometheus metrics fed by
// the runner's hooks, the probes judged from the same hooks, and the
// dashboard of the runner's database.
type observer struct {
	reg *prometheus.Registry
	m   *metrics.Runner
}

func newObserver(group string) (*observer, error) {
	reg := metrics.NewRegistry(BuildVersion())
	m, err := metrics.New(reg)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	return &observer{reg: reg, m: m.Runner(group)}, nil
}

// hooks are the runner's hooks that feed the metrics.
func (o *observer) hooks() runner.Hooks { return o.m.Hooks() }

// serve binds addr and serves /metrics, /healthz, /readyz and the dashboard
// until the returned server is stopped.
//
// /readyz passes while the database answered the lease loop within one TTL:
// a follower's poll and a holder's heartbeat each get an answer at least
// once per interval (TTL/3 at most), and a handover adds one quiet interval.
// /healthz passes while the lease loop reports, answer or error, at least
// once per 2×TTL + 2×grace + 10s: the longest a healthy loop can be quiet
// is a call's timeout plus a back-off, or a term's end waiting for its jobs.
func (o *observer) serve(addr string, allowHosts []string, db *sql.DB, r *runner.Runner, grace time.Duration, log *slog.Logger) (*web.Server, error) {
	d, err := web.New(db, web.WithSelf(r.Owner()), web.WithVersion(BuildVersion()), web.WithLogger(log))
	if err != nil {
		return nil, err
	}
	stale := 2*r.TTL() + 2*grace + 10*time.Second
	routes := web.Routes{
		Dashboard: d,
		Live:      func(context.Context) error { return o.m.Alive(stale) },
		Ready:     func(context.Context) error { return o.m.Ready(r.TTL()) },
		Metrics:   metrics.Handler(o.reg),
	}
	srv, err := web.Start(addr, web.AllowHosts(routes.Handler(), allowHosts), log)
	if err != nil {
		return nil, fmt.Errorf("--http %s: %w", addr, err)
	}
	log.Info("serving http: /metrics, /healthz, /readyz and the dashboard at /", "addr", srv.Addr())
	return srv, nil
}

// allowHostsFlag adds --http-allow-host.
func (f *flags) allowHostsFlag() *[]string {
	return f.StringSlice("http-allow-host", nil, "host names, besides IP addresses and localhost, that the HTTP server answers to "+
		"(comma-separated); any other Host header gets 403, against DNS rebinding")
}
