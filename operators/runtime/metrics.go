package runtime

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the Prometheus metrics of every operator in a process, labelled by
// operator name. Create one per registry with NewMetrics and share it.
type Metrics struct {
	recordsIn      *prometheus.CounterVec
	recordsOut     *prometheus.CounterVec
	deadLettered   *prometheus.CounterVec
	filtered       *prometheus.CounterVec
	latency        *prometheus.HistogramVec
	batchSize      *prometheus.HistogramVec
	lag            *prometheus.GaugeVec
	rebalances     *prometheus.CounterVec
	transactions   *prometheus.CounterVec
	assignedGauges *prometheus.GaugeVec

	restoreSeconds  *prometheus.HistogramVec
	restoredRecords *prometheus.CounterVec
}

// NewMetrics creates the runtime's metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		recordsIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corb_records_in_total", Help: "Records consumed by an operator.",
		}, []string{"operator", "topic"}),
		recordsOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corb_records_out_total", Help: "Records produced by an operator, dead letters excluded.",
		}, []string{"operator", "topic"}),
		deadLettered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corb_records_dead_lettered_total", Help: "Records sent to the dead-letter topic.",
		}, []string{"operator", "reason"}),
		filtered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corb_records_filtered_total", Help: "Records skipped because they did not match the operator's match pattern.",
		}, []string{"operator"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "corb_processing_seconds", Help: "Time to process one batch, retries and commit included.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"operator"}),
		batchSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "corb_batch_size", Help: "Records per processed batch.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 12),
		}, []string{"operator"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "corb_consumer_lag", Help: "Records between an operator's position and the partition's high watermark, as of the last fetch.",
		}, []string{"operator", "topic", "partition"}),
		rebalances: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corb_rebalances_total", Help: "Partition assignments and revocations seen by an operator.",
		}, []string{"operator", "event"}),
		transactions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corb_batches_total", Help: "Batches ended, by outcome (committed, aborted).",
		}, []string{"operator", "outcome"}),
		assignedGauges: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "corb_assigned_partitions", Help: "Partitions currently assigned to an operator instance.",
		}, []string{"operator"}),
	}
	m.restoreSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "corb_state_restore_seconds", Help: "Time to restore one changelog partition into an operator's state.",
		Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
	}, []string{"operator"})
	m.restoredRecords = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "corb_state_restored_records_total", Help: "Changelog records read while restoring state.",
	}, []string{"operator"})
	reg.MustRegister(m.restoreSeconds, m.restoredRecords)
	reg.MustRegister(m.recordsIn, m.recordsOut, m.deadLettered, m.filtered, m.latency, m.batchSize,
		m.lag, m.rebalances, m.transactions, m.assignedGauges)
	return m
}

// DeadLettered is the counter of records operator dead-lettered for reason.
func (m *Metrics) DeadLettered(operator, reason string) prometheus.Counter {
	return m.deadLettered.WithLabelValues(operator, reason)
}
