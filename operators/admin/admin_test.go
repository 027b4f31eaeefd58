package admin_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/corb-dev/corb/operators/admin"
)

func TestEndpoints(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "corb_test_total", Help: "test"})
	reg.MustRegister(c)
	c.Add(3)
	ready := errors.New("no partitions yet")
	srv := httptest.NewServer(admin.New(reg, map[string]admin.Check{
		"detect": func() error { return ready },
		"zones":  func() error { return nil },
	}).Handler())
	defer srv.Close()

	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	tests := []struct {
		path   string
		before func()
		code   int
		body   string
	}{
		{"/healthz", nil, 200, "ok"},
		{"/metrics", nil, 200, "corb_test_total 3"},
		{"/readyz", nil, 503, "detect: not ready: no partitions yet"},
		{"/readyz", func() { ready = nil }, 200, "detect: ready\nzones: ready"},
	}
	for _, tt := range tests {
		if tt.before != nil {
			tt.before()
		}
		code, body := get(tt.path)
		if code != tt.code || !strings.Contains(body, tt.body) {
			t.Errorf("GET %s = %d %q, want %d containing %q", tt.path, code, body, tt.code, tt.body)
		}
	}
}
