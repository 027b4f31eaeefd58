package inbound

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/corb-dev/corb/operators/metrics"
)

// handlerMetrics are the Handler's Prometheus metrics.
type handlerMetrics struct {
	requests       *prometheus.CounterVec   // endpoint, outcome
	latency        *prometheus.HistogramVec // endpoint
	produced       *prometheus.CounterVec   // type
	replies        *prometheus.CounterVec   // reason
	receipts       *prometheus.CounterVec   // status
	deliveryFailed *prometheus.CounterVec   // code
}

func newMetrics(reg prometheus.Registerer) (*handlerMetrics, error) {
	m := &handlerMetrics{}
	var err error
	register := func(c *prometheus.CounterVec) *prometheus.CounterVec {
		if err == nil {
			c, err = metrics.Register(reg, c)
		}
		return c
	}
	m.requests = register(prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "corb_sms_webhook_requests_total",
		Help: "Twilio webhook requests by endpoint (message, status) and outcome (accepted, replied, silenced, duplicate, forbidden, too_large, bad_request, unavailable, busy, method, internal).",
	}, []string{"endpoint", "outcome"}))
	m.produced = register(prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "corb_sms_commands_produced_total",
		Help: "Commands the SMS connector put on the bus, by command type (send_sms: its own replies).",
	}, []string{"type"}))
	m.replies = register(prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "corb_sms_replies_total",
		Help: "Replies the SMS connector wrote itself, by reason (unknown_sender, forbidden, not_understood, slow_down).",
	}, []string{"reason"}))
	m.receipts = register(prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "corb_sms_delivery_receipts_total",
		Help: "Twilio status callbacks put on the sms-status topic, by status (each status of a message once).",
	}, []string{"status"}))
	m.deliveryFailed = register(prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "corb_sms_delivery_failed_total",
		Help: "Messages Twilio reported undelivered or failed, by Twilio's error code (\"none\" when it gave no code).",
	}, []string{"code"}))
	if err != nil {
		return nil, err
	}
	m.latency, err = metrics.Register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "corb_sms_webhook_duration_seconds",
		Help:    "Time from a Twilio webhook's arrival to its answer, by endpoint.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"endpoint"}))
	return m, err
}
