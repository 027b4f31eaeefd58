package video

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are ingest's Prometheus metrics; set Ingester.Metrics to record them.
//
//	corb_ingest_source_state{camera,source,state}  1 for the current state of a live source, else 0
//	corb_ingest_frames_total{camera,result}        frames "sent", "dropped" (by max_fps) or "shed" (live, sink blocked)
//	corb_ingest_bytes_total{camera}                JPEG bytes sent
//	corb_ingest_reconnects_total{camera}           live source reconnect attempts
type Metrics struct {
	state      *prometheus.GaugeVec
	frames     *prometheus.CounterVec
	bytes      *prometheus.CounterVec
	reconnects *prometheus.CounterVec
}

// NewMetrics creates the metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		state: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "corb_ingest_source_state",
			Help: "1 for the current state (connecting, streaming, backoff, stopped) of a live video source."}, []string{"camera", "source", "state"}),
		frames: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "corb_ingest_frames_total",
			Help: "Frames read from video sources, by result: sent, dropped by max_fps sampling, or shed (a live source's oldest frames dropped while the sink was blocked)."}, []string{"camera", "result"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "corb_ingest_bytes_total",
			Help: "Encoded image bytes sent to the frames topic."}, []string{"camera"}),
		reconnects: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "corb_ingest_reconnects_total",
			Help: "Reconnect attempts of live video sources."}, []string{"camera"}),
	}
	var errs []error
	for _, c := range []prometheus.Collector{m.state, m.frames, m.bytes, m.reconnects} {
		if err := reg.Register(c); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("video: register metrics: %w", err)
	}
	return m, nil
}

func (m *Metrics) setState(c StateChange) {
	if m == nil {
		return
	}
	for _, s := range [...]State{StateConnecting, StateStreaming, StateBackoff, StateStopped} {
		v := 0.0
		if s == c.State {
			v = 1
		}
		m.state.WithLabelValues(c.Camera, c.Source.String(), s.String()).Set(v)
	}
	if c.State == StateBackoff {
		m.reconnects.WithLabelValues(c.Camera).Inc()
	}
}

func (m *Metrics) frame(camera string, sent bool, bytes int) {
	if m == nil {
		return
	}
	if !sent {
		m.frames.WithLabelValues(camera, "dropped").Inc()
		return
	}
	m.frames.WithLabelValues(camera, "sent").Inc()
	m.bytes.WithLabelValues(camera).Add(float64(bytes))
}

func (m *Metrics) shed(camera string) {
	if m == nil {
		return
	}
	m.frames.WithLabelValues(camera, "shed").Inc()
}
