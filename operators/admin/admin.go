// Package admin serves an operator process's health and metrics over HTTP:
// /metrics (Prometheus), /healthz (the process is alive) and /readyz (every
// check passes: e.g. each operator has joined its group).
package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Check is one readiness condition. It returns nil when ready, or why not.
type Check func() error

// Server is the admin HTTP endpoint. The zero value is not usable; use New.
type Server struct {
	gatherer prometheus.Gatherer
	checks   map[string]Check
}

// New returns a server exposing gatherer's metrics and the given readiness checks.
func New(gatherer prometheus.Gatherer, checks map[string]Check) *Server {
	return &Server{gatherer: gatherer, checks: checks}
}

// Handler returns the HTTP handler with all endpoints.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.gatherer, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		names := make([]string, 0, len(s.checks))
		for n := range s.checks {
			names = append(names, n)
		}
		sort.Strings(names)
		var b strings.Builder
		ready := true
		for _, n := range names {
			if err := s.checks[n](); err != nil {
				ready = false
				fmt.Fprintf(&b, "%s: not ready: %v\n", n, err)
			} else {
				fmt.Fprintf(&b, "%s: ready\n", n)
			}
		}
		if !ready {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		fmt.Fprint(w, b.String())
	})
	return mux
}

// Serve listens on addr and serves until ctx ends, then shuts down within 5s.
// An empty addr serves nothing and returns when ctx ends.
func (s *Server) Serve(ctx context.Context, addr string, log *slog.Logger) error {
	if addr == "" {
		<-ctx.Done()
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("admin endpoint: %w", err)
	}
	log.Info("serving metrics and health", "addr", "http://"+ln.Addr().String(), "paths", "/metrics /healthz /readyz")
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("admin endpoint: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("admin endpoint shutdown: %w", err)
	}
	return nil
}
