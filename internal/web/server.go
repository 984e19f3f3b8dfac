package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"
)

// Probe checks one thing about the process: nil when it is fine, else why not.
type Probe func(ctx context.Context) error

// Routes are what one listener serves.
type Routes struct {
	// Dashboard serves /, /fragment, /api/status and /static/.
	Dashboard *Dashboard
	// Live answers /healthz: is the process and its loop alive? nil: always.
	Live Probe
	// Ready answers /readyz: does the database answer? nil: always.
	Ready Probe
	// Metrics serves /metrics when it is not nil.
	Metrics http.Handler
}

// Handler routes the listener's requests.
func (rt Routes) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /healthz", probeHandler(rt.Live))
	mux.Handle("GET /readyz", probeHandler(rt.Ready))
	if rt.Metrics != nil {
		mux.Handle("GET /metrics", rt.Metrics)
	}
	if rt.Dashboard != nil {
		mux.Handle("/", rt.Dashboard.Handler())
	}
	return mux
}

// probeTimeout bounds a probe that reads the database.
const probeTimeout = 5 * time.Second

// probeHandler answers 200 "ok" when p passes, and 503 with the reason when
// it does not: what a Kubernetes probe and a person with curl both read.
func probeHandler(p Probe) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		var err error
		if p != nil {
			ctx, cancel := context.WithTimeout(r.Context(), probeTimeout)
			err = p(ctx)
			cancel()
		}
		if err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "not ok: %v\n", err)
			return
		}
		fmt.Fprintln(w, "ok")
	})
}

// Server is an HTTP server on one address, serving until Stop.
type Server struct {
	srv  *http.Server
	ln   net.Listener
	done chan error
	log  *slog.Logger
}

// Start binds addr (host:port; port 0 picks a free one) and serves h in the
// background. It fails at once when the address cannot be bound.
func Start(addr string, h http.Handler, log *slog.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Server{
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		},
		ln: ln, done: make(chan error, 1), log: log,
	}
	go func() { s.done <- s.srv.Serve(ln) }()
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Stop shuts the server down gracefully: it stops accepting, lets requests
// in flight finish for up to 5 seconds, then closes what is left, and
// returns once the serving goroutine has.
func (s *Server) Stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		s.log.Warn("http: requests still running after 5s; closing them", "err", err)
		s.srv.Close()
	}
	if err := <-s.done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		s.log.Error("http: server failed", "err", err)
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client went away
}

// sanitizeHeader makes s safe inside a quoted header value.
func sanitizeHeader(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '"' || r == '\\' || r > 0x7e {
			return ' '
		}
		return r
	}, s)
}

// AllowHosts serves only requests whose Host header names this machine in
// a way DNS rebinding cannot forge: an IP address, localhost (or a name
// under .localhost), or one of names; others get 403. A page of another
// site that rebinds its own name to 127.0.0.1 sends that name as the Host,
// so it cannot read the dashboard or the metrics. (A request without a Host,
// which no browser sends, passes.) names are host names
// without a port, compared without regard to case.
func AllowHosts(h http.Handler, names []string) http.Handler {
	allowed := map[string]bool{}
	for _, n := range names {
		allowed[strings.ToLower(strings.TrimSuffix(n, "."))] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if name, _, err := net.SplitHostPort(host); err == nil {
			host = name
		}
		host = strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
		if host == "" || net.ParseIP(host) != nil || host == "localhost" || strings.HasSuffix(host, ".localhost") || allowed[host] {
			h.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, "host %q is not allowed: use the server's IP address or localhost, or start soloist with --http-allow-host %s\n",
			sanitizeHeader(host), sanitizeHeader(host))
	})
}
