package dashboard

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	clients       prometheus.Gauge
	records       *prometheus.CounterVec // by logical topic
	undecodable   *prometheus.CounterVec // by logical topic
	droppedFrames prometheus.Counter
	resyncs       prometheus.Counter
	kafkaUp       prometheus.Gauge
}

// newMetrics registers the dashboard's metrics with reg (none when nil).
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		clients: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "corb_dashboard_clients",
			Help: "Pages connected to the dashboard's event stream.",
		}),
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corb_dashboard_records_total",
			Help: "Records the dashboard read, by logical topic.",
		}, []string{"topic"}),
		undecodable: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corb_dashboard_undecodable_total",
			Help: "Records the dashboard could not decode (and skipped), by logical topic.",
		}, []string{"topic"}),
		droppedFrames: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "corb_dashboard_dropped_frames_total",
			Help: "Frame events a slow page never got because a newer frame of the camera replaced them.",
		}),
		resyncs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "corb_dashboard_resyncs_total",
			Help: "Pages so far behind that their queued events were replaced by a fresh snapshot.",
		}),
		kafkaUp: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "corb_dashboard_kafka_up",
			Help: "1 while the dashboard reaches the Kafka cluster, else 0.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	var errs []error
	for _, c := range []prometheus.Collector{m.clients, m.records, m.undecodable, m.droppedFrames, m.resyncs, m.kafkaUp} {
		errs = append(errs, reg.Register(c))
	}
	return m, errors.Join(errs...)
}
