package inbound

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Counter is the value of h's counter name for the label values given, in
// the order the counter declares its labels.
func (h *Handler) Counter(name string, values ...string) float64 {
	vecs := map[string]*prometheus.CounterVec{
		"corb_sms_webhook_requests_total":  h.m.requests,
		"corb_sms_commands_produced_total": h.m.produced,
		"corb_sms_replies_total":           h.m.replies,
		"corb_sms_delivery_receipts_total": h.m.receipts,
		"corb_sms_delivery_failed_total":   h.m.deliveryFailed,
	}
	return testutil.ToFloat64(vecs[name].WithLabelValues(values...))
}
