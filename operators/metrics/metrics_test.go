package metrics_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/corb-dev/corb/operators/metrics"
)

func TestRegisterSharesEqualCollectors(t *testing.T) {
	reg := prometheus.NewRegistry()
	newVec := func() *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: "corb_x_total", Help: "x"}, []string{"operator"})
	}
	first, err := metrics.Register(reg, newVec())
	if err != nil {
		t.Fatal(err)
	}
	second, err := metrics.Register(reg, newVec())
	if err != nil || second != first {
		t.Fatalf("second registration: %v, same collector: %v", err, second == first)
	}
	clash := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "corb_x_total", Help: "other"}, []string{"zone"})
	if _, err := metrics.Register(reg, clash); err == nil {
		t.Fatal("a different collector under the same name must be an error")
	}
	if _, err := metrics.Register[prometheus.Collector](nil, newVec()); err != nil {
		t.Fatalf("nil registry: %v", err)
	}
}
