package runtime

import (
	"errors"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/corb-dev/corb/operators/metrics"
)

// Prometheus is Hooks that keep the runtime's Prometheus metrics, labelled
// by operator name. One serves every operator of a process; a second one on
// the same registry (a second runtime host in the process, a test) shares
// the first one's collectors.
type Prometheus struct {
	recordsIn    *prometheus.CounterVec
	recordsOut   *prometheus.CounterVec
	deadLettered *prometheus.CounterVec
	filtered     *prometheus.CounterVec
	dropped      *prometheus.CounterVec
	latency      *prometheus.HistogramVec
	batchSize    *prometheus.HistogramVec
	lag          *prometheus.GaugeVec
	rebalances   *prometheus.CounterVec
	batches      *prometheus.CounterVec
	assigned     *prometheus.GaugeVec
	ticks        *prometheus.CounterVec

	restoreSeconds  *prometheus.HistogramVec
	restoredRecords *prometheus.CounterVec

	faults   *prometheus.CounterVec
	stuck    *stuckGauge
	recovery *prometheus.HistogramVec

	mu sync.Mutex
	// lagOwner is the member that last reported each lag series, lagOf the
	// series each member reported last: a member's series go when it stops
	// reporting them, unless another member took them on meanwhile.
	lagOwner map[lagSeries]Member
	lagOf    map[Member][]lagSeries
}

type lagSeries struct{ operator, topic, partition string }

// NewPrometheus creates the runtime's metrics and registers them with reg,
// reusing collectors registered there before. It fails when reg holds a
// different metric under one of their names.
func NewPrometheus(reg prometheus.Registerer) (*Prometheus, error) {
	p := &Prometheus{lagOwner: map[lagSeries]Member{}, lagOf: map[Member][]lagSeries{}}
	var err error
	counter := func(opts prometheus.CounterOpts, labels ...string) *prometheus.CounterVec {
		c, e := metrics.Register(reg, prometheus.NewCounterVec(opts, labels))
		err = errors.Join(err, e)
		return c
	}
	gauge := func(opts prometheus.GaugeOpts, labels ...string) *prometheus.GaugeVec {
		g, e := metrics.Register(reg, prometheus.NewGaugeVec(opts, labels))
		err = errors.Join(err, e)
		return g
	}
	histogram := func(opts prometheus.HistogramOpts) *prometheus.HistogramVec {
		h, e := metrics.Register(reg, prometheus.NewHistogramVec(opts, []string{"operator"}))
		err = errors.Join(err, e)
		return h
	}
	p.recordsIn = counter(prometheus.CounterOpts{
		Name: "corb_records_in_total", Help: "Records consumed by an operator.",
	}, "operator", "topic")
	p.recordsOut = counter(prometheus.CounterOpts{
		Name: "corb_records_out_total", Help: "Records produced by an operator, dead letters excluded.",
	}, "operator", "topic")
	p.deadLettered = counter(prometheus.CounterOpts{
		Name: "corb_records_dead_lettered_total", Help: "Records sent to the dead-letter topic.",
	}, "operator", "reason")
	p.filtered = counter(prometheus.CounterOpts{
		Name: "corb_records_filtered_total", Help: "Records skipped because they did not match the operator's match pattern.",
	}, "operator")
	p.dropped = counter(prometheus.CounterOpts{
		Name: "corb_records_dropped_total", Help: `Records consumed on purpose with nothing following, by reason ("match": left out by the match pattern).`,
	}, "operator", "reason")
	p.latency = histogram(prometheus.HistogramOpts{
		Name: "corb_processing_seconds", Help: "Time to process one batch, retries and commit included.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
	})
	p.batchSize = histogram(prometheus.HistogramOpts{
		Name: "corb_batch_size", Help: "Records per processed batch.",
		Buckets: prometheus.ExponentialBuckets(1, 2, 12),
	})
	p.lag = gauge(prometheus.GaugeOpts{
		Name: "corb_consumer_lag", Help: "Records between an assigned partition's committed offset and its end, refreshed every few seconds.",
	}, "operator", "topic", "partition")
	p.rebalances = counter(prometheus.CounterOpts{
		Name: "corb_rebalances_total", Help: "Partition assignments and revocations seen by an operator.",
	}, "operator", "event")
	p.batches = counter(prometheus.CounterOpts{
		Name: "corb_batches_total", Help: "Batches ended, by outcome (committed, aborted).",
	}, "operator", "outcome")
	p.assigned = gauge(prometheus.GaugeOpts{
		Name: "corb_assigned_partitions", Help: "Partitions currently assigned to an operator's instances.",
	}, "operator")
	p.ticks = counter(prometheus.CounterOpts{
		Name: "corb_ticks_total", Help: "Ticks of an operator, by outcome (ok, failed).",
	}, "operator", "outcome")
	p.restoreSeconds = histogram(prometheus.HistogramOpts{
		Name: "corb_state_restore_seconds", Help: "Time to restore one changelog partition into an operator's state.",
		Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
	})
	p.restoredRecords = counter(prometheus.CounterOpts{
		Name: "corb_state_restored_records_total", Help: "Changelog records read while restoring state.",
	}, "operator")
	p.faults = counter(prometheus.CounterOpts{
		Name: "corb_faults_total", Help: "Faults an operator rode out (aborted what was in flight and tried again), by kind: unreachable, timeout, coordinator, leader, transaction, rebalance, broker, rejected, operator, other.",
	}, "operator", "kind")
	p.recovery = histogram(prometheus.HistogramOpts{
		Name: "corb_stuck_duration_seconds", Help: "How long an operator instance made no progress, per stall, observed when it made progress again.",
		Buckets: prometheus.ExponentialBuckets(0.5, 2, 12),
	})
	stuck, e := metrics.Register(reg, newStuckGauge(time.Now))
	err = errors.Join(err, e)
	p.stuck = stuck
	if err != nil {
		return nil, err
	}
	return p, nil
}

// BatchDone implements Hooks.
func (p *Prometheus) BatchDone(m Member, b Batch) {
	outcome := "aborted"
	if b.Committed {
		outcome = "committed"
	}
	p.batches.WithLabelValues(m.Operator, outcome).Inc()
	p.stuck.know(m.Operator)
	p.latency.WithLabelValues(m.Operator).Observe(b.Duration.Seconds())
	if b.Records > 0 { // a tick alone is no batch
		p.batchSize.WithLabelValues(m.Operator).Observe(float64(b.Records))
	}
	if !b.Committed {
		return
	}
	for topic, n := range b.In {
		p.recordsIn.WithLabelValues(m.Operator, topic).Add(float64(n))
	}
	for topic, n := range b.Out {
		p.recordsOut.WithLabelValues(m.Operator, topic).Add(float64(n))
	}
}

// DeadLettered implements Hooks.
func (p *Prometheus) DeadLettered(m Member, d DeadLetter) {
	p.deadLettered.WithLabelValues(m.Operator, d.Reason).Inc()
}

// Dropped implements Hooks.
func (p *Prometheus) Dropped(m Member, d Drop) {
	p.dropped.WithLabelValues(m.Operator, d.Reason).Inc()
	if d.Reason == ReasonMatch {
		p.filtered.WithLabelValues(m.Operator).Inc()
	}
}

// Rebalanced implements Hooks. The assigned gauge moves by the change, so
// that it sums the instances of an operator in this process.
func (p *Prometheus) Rebalanced(m Member, r Rebalance) {
	p.rebalances.WithLabelValues(m.Operator, r.Event).Inc()
	delta := float64(r.Changed)
	if r.Event != "assigned" {
		delta = -delta
	}
	p.assigned.WithLabelValues(m.Operator).Add(delta)
}

// Restored implements Hooks.
func (p *Prometheus) Restored(m Member, r Restore) {
	p.restoreSeconds.WithLabelValues(m.Operator).Observe(r.Duration.Seconds())
	p.restoredRecords.WithLabelValues(m.Operator).Add(float64(r.Records))
}

// Ticked implements Hooks.
func (p *Prometheus) Ticked(m Member, t Tick) {
	outcome := "ok"
	if t.Err != nil {
		outcome = "failed"
	}
	p.ticks.WithLabelValues(m.Operator, outcome).Inc()
}

// Lagged implements Hooks: it sets the lag of every partition reported and
// removes the series of those m reported before and no longer does.
func (p *Prometheus) Lagged(m Member, lags []PartitionLag) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := make([]lagSeries, 0, len(lags))
	for _, l := range lags {
		s := lagSeries{m.Operator, l.Topic, strconv.Itoa(int(l.Partition))}
		p.lag.WithLabelValues(s.operator, s.topic, s.partition).Set(float64(l.Lag))
		p.lagOwner[s] = m
		now = append(now, s)
	}
	for _, s := range p.lagOf[m] {
		if p.lagOwner[s] == m && !slices.Contains(now, s) {
			p.lag.DeleteLabelValues(s.operator, s.topic, s.partition)
			delete(p.lagOwner, s)
		}
	}
	if len(now) == 0 {
		delete(p.lagOf, m)
	} else {
		p.lagOf[m] = now
	}
}

// Faulted implements Hooks.
func (p *Prometheus) Faulted(m Member, f Fault) {
	p.faults.WithLabelValues(m.Operator, string(f.Kind)).Inc()
}

// Stalled implements Hooks.
func (p *Prometheus) Stalled(m Member, s Stall) {
	p.stuck.set(m, s.Since)
	if s.Since.IsZero() && s.Stuck > 0 {
		p.recovery.WithLabelValues(m.Operator).Observe(s.Stuck.Seconds())
	}
}

// stuckGauge is corb_stuck_seconds, worked out when scraped: how long the
// operator's longest-stuck instance in this process has made no progress.
type stuckGauge struct {
	desc *prometheus.Desc
	now  func() time.Time

	mu    sync.Mutex
	since map[Member]time.Time
	known map[string]bool // operators seen, reported 0 while they make progress
}

func newStuckGauge(now func() time.Time) *stuckGauge {
	return &stuckGauge{
		desc: prometheus.NewDesc("corb_stuck_seconds",
			"Seconds an operator has made no progress: since its first fault after its last commit, since no broker answers, or since its last commit while work waits; 0 while it makes progress.",
			[]string{"operator"}, nil),
		now: now, since: map[Member]time.Time{}, known: map[string]bool{},
	}
}

// know makes operator's series exist (at 0) before its first stall.
func (g *stuckGauge) know(operator string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.known[operator] = true
}

func (g *stuckGauge) set(m Member, since time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.known[m.Operator] = true
	if since.IsZero() {
		delete(g.since, m)
	} else {
		g.since[m] = since
	}
}

// Describe implements prometheus.Collector.
func (g *stuckGauge) Describe(ch chan<- *prometheus.Desc) { ch <- g.desc }

// Collect implements prometheus.Collector.
func (g *stuckGauge) Collect(ch chan<- prometheus.Metric) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	worst := map[string]float64{}
	for op := range g.known {
		worst[op] = 0
	}
	for m, since := range g.since {
		worst[m.Operator] = max(worst[m.Operator], now.Sub(since).Seconds())
	}
	for op, v := range worst {
		ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, v, op)
	}
}
