package runtime_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/corb-dev/corb/operators"
	"github.com/corb-dev/corb/operators/runtime"
)

// waitFor polls cond until it holds, and fails the test after 15s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// produceInTransaction produces values to "in" in one committed transaction,
// so that a commit marker follows them in the log.
func produceInTransaction(t *testing.T, brokers []string, values ...string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.TransactionalID("test-producer"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for _, v := range values {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "in", Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
}

// gate copies each record to "out" once open is closed.
type gate struct{ open chan struct{} }

func (g gate) Process(ctx context.Context, batch []operators.Record) ([]operators.Result, error) {
	select {
	case <-g.open:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	res := make([]operators.Result, len(batch))
	for i, r := range batch {
		res[i].Outputs = []operators.Output{{Topic: "out", Value: r.Value}}
	}
	return res, nil
}

// The lag is the committed offset against the log end, measured while
// idle too: it reads the backlog while the operator is stuck on it, and 0
// once everything is committed — also after a transactional producer's
// commit marker, which no batch holds — and the series goes when the
// instance stops.
func TestLagIsCommittedOffsetAgainstEnd(t *testing.T) {
	for _, g := range []runtime.Guarantee{runtime.ExactlyOnce, runtime.AtLeastOnce} {
		for _, transactional := range []bool{false, true} {
			name := string(g) + "/plain input"
			if transactional {
				name = string(g) + "/transactional input"
			}
			t.Run(name, func(t *testing.T) {
				brokers := newCluster(t, 1, "in", "out", "dlq")
				values := make([]string, 20)
				for i := range values {
					values[i] = "v"
				}
				if transactional {
					produceInTransaction(t, brokers, values...)
				} else {
					produce(t, brokers, values...)
				}
				reg := prometheus.NewRegistry()
				op := gate{open: make(chan struct{})}
				_, stop := start(t, runtime.Config{
					Name: "lagging", Brokers: brokers, Inputs: []string{"in"}, Outputs: []string{"out"}, DeadLetter: "dlq",
					Guarantee: g, Operator: op, Hooks: newPrometheus(t, reg), LagInterval: 20 * time.Millisecond,
				})
				lag := func() (float64, bool) {
					return lookupMetric(t, reg, "corb_consumer_lag", "operator", "lagging", "topic", "in", "partition", "0")
				}
				waitFor(t, "the lag of the backlog", func() bool { v, _ := lag(); return v >= 20 })
				close(op.open)
				consume(t, brokers, "out", 20)
				waitFor(t, "lag 0 once caught up", func() bool { v, ok := lag(); return ok && v == 0 })
				stop()
				if v, ok := lag(); ok {
					t.Errorf("lag %v still reported after the instance stopped", v)
				}
			})
		}
	}
}

// dropperOp drops "skip" on purpose, says it dropped "both" although it
// has an output (which makes it no drop), and copies the rest to "out".
type dropperOp struct{}

func (dropperOp) Process(_ context.Context, batch []operators.Record) ([]operators.Result, error) {
	res := make([]operators.Result, len(batch))
	for i, r := range batch {
		switch string(r.Value) {
		case "skip":
			res[i].Dropped = "boring"
		case "both":
			res[i] = operators.Result{Dropped: "ignored", Outputs: []operators.Output{{Topic: "out", Value: r.Value}}}
		default:
			res[i].Outputs = []operators.Output{{Topic: "out", Value: r.Value}}
		}
	}
	return res, nil
}

// Records an operator drops on purpose, and those the match pattern leaves
// out, are counted by reason; a reason is logged when first seen, not per
// record.
func TestDroppedRecordsAreCountedByReason(t *testing.T) {
	brokers := newCluster(t, 1, "in", "out", "dlq")
	produce(t, brokers, "keep-1", "skip", "x-routed-elsewhere", "skip", "both", "keep-2", "skip")
	reg := prometheus.NewRegistry()
	// A file, not a buffer: the runtime's goroutines may still log while the test reads.
	logs, err := os.CreateTemp(t.TempDir(), "log")
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	_, stop := start(t, runtime.Config{
		Name: "dropper", Brokers: brokers, Inputs: []string{"in"}, Outputs: []string{"out"}, DeadLetter: "dlq",
		Operator: dropperOp{}, Hooks: newPrometheus(t, reg), Logger: slog.New(slog.NewTextHandler(logs, nil)),
		Match: func(r operators.Record) (bool, error) { return !strings.HasPrefix(string(r.Value), "x-"), nil },
	})
	consume(t, brokers, "out", 3)
	waitFor(t, "the drops counted", func() bool {
		return metricValue(t, reg, "corb_records_dropped_total", "operator", "dropper", "reason", "boring") == 3
	})
	stop()
	tests := []struct {
		metric string
		labels []string
		want   float64
	}{
		{"corb_records_dropped_total", []string{"reason", "boring"}, 3},
		{"corb_records_dropped_total", []string{"reason", runtime.ReasonMatch}, 1},
		{"corb_records_filtered_total", nil, 1},
		{"corb_records_dropped_total", []string{"reason", "ignored"}, 0},
		{"corb_records_out_total", []string{"topic", "out"}, 3},
		{"corb_records_in_total", []string{"topic", "in"}, 7},
	}
	for _, tt := range tests {
		if got := metricValue(t, reg, tt.metric, append([]string{"operator", "dropper"}, tt.labels...)...); got != tt.want {
			t.Errorf("%s%v = %v, want %v", tt.metric, tt.labels, got, tt.want)
		}
	}
	logged, err := os.ReadFile(logs.Name())
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(logged), "reason=boring"); n != 1 {
		t.Errorf("%d log lines for reason boring, want 1 (the first):\n%s", n, logged)
	}
}

// slowFirst runs out of time on its first call — and answers anyway, late —
// then answers in time.
type slowFirst struct{ calls atomic.Int32 }

func (s *slowFirst) Process(ctx context.Context, batch []operators.Record) ([]operators.Result, error) {
	answer := "in time"
	if s.calls.Add(1) == 1 {
		if _, ok := ctx.Deadline(); !ok {
			return nil, operators.Permanentf("no deadline: ProcessTimeout was not applied")
		}
		<-ctx.Done()
		answer = "late"
	}
	res := make([]operators.Result, len(batch))
	for i := range batch {
		res[i].Outputs = []operators.Output{{Topic: "out", Value: []byte(answer)}}
	}
	return res, nil
}

// A call that runs past ProcessTimeout fails its batch transiently: its
// late answer is thrown away and the batch is tried again, not
// dead-lettered.
func TestProcessTimeoutFailsTheBatchTransiently(t *testing.T) {
	for _, g := range []runtime.Guarantee{runtime.ExactlyOnce, runtime.AtLeastOnce} {
		t.Run(string(g), func(t *testing.T) {
			brokers := newCluster(t, 1, "in", "out", "dlq")
			produce(t, brokers, "a")
			reg := prometheus.NewRegistry()
			op := &slowFirst{}
			_, stop := start(t, runtime.Config{
				Name: "slow", Brokers: brokers, Inputs: []string{"in"}, Outputs: []string{"out"}, DeadLetter: "dlq",
				Guarantee: g, Operator: op, Hooks: newPrometheus(t, reg), ProcessTimeout: 50 * time.Millisecond,
				Retry: operators.RetryPolicy{InitialBackoff: time.Millisecond},
			})
			out := consume(t, brokers, "out", 1)
			stop()
			if string(out[0].Value) != "in time" || len(out) != 1 {
				t.Errorf("outputs %q, want the second call's alone", out[0].Value)
			}
			if n := op.calls.Load(); n != 2 {
				t.Errorf("%d calls, want 2", n)
			}
			if got := metricValue(t, reg, "corb_records_dead_lettered_total", "operator", "slow"); got != 0 {
				t.Errorf("%v dead letters, want none", got)
			}
		})
	}
}

// Two Prometheus hooks on one registry (two hosts in one process) share
// the collectors instead of panicking; a registry that holds another metric
// under one of their names is an error.
func TestNewPrometheusTwiceOnOneRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	a, b := newPrometheus(t, reg), newPrometheus(t, reg)
	m := runtime.Member{Operator: "op", Instance: "0"}
	a.DeadLettered(m, runtime.DeadLetter{Reason: "panic"})
	b.DeadLettered(m, runtime.DeadLetter{Reason: "panic"})
	if got := metricValue(t, reg, "corb_records_dead_lettered_total", "operator", "op", "reason", "panic"); got != 2 {
		t.Errorf("dead letters = %v, want 2: one series for both", got)
	}

	clash := prometheus.NewRegistry()
	clash.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: "corb_batches_total", Help: "not ours"}))
	var are prometheus.AlreadyRegisteredError
	if _, err := runtime.NewPrometheus(clash); err == nil || errors.As(err, &are) {
		t.Errorf("err = %v, want a registration error", err)
	}
}

// The lag series are those the instances report last: a partition an
// instance stops reporting goes, unless another instance reports it since.
func TestPrometheusLagSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	p := newPrometheus(t, reg)
	a, b := runtime.Member{Operator: "op", Instance: "a"}, runtime.Member{Operator: "op", Instance: "b"}
	lag := func(part string) (float64, bool) {
		return lookupMetric(t, reg, "corb_consumer_lag", "operator", "op", "topic", "in", "partition", part)
	}
	p.Lagged(a, []runtime.PartitionLag{{Topic: "in", Partition: 0, Lag: 5}, {Topic: "in", Partition: 1, Lag: 7}})
	p.Lagged(b, []runtime.PartitionLag{{Topic: "in", Partition: 1, Lag: 3}}) // b took partition 1 over
	p.Lagged(a, []runtime.PartitionLag{{Topic: "in", Partition: 0, Lag: 4}})
	if v, ok := lag("0"); !ok || v != 4 {
		t.Errorf("partition 0: %v %v, want 4", v, ok)
	}
	if v, ok := lag("1"); !ok || v != 3 {
		t.Errorf("partition 1: %v %v, want b's 3", v, ok)
	}
	p.Lagged(a, nil)
	if _, ok := lag("0"); ok {
		t.Error("partition 0 still reported after a stopped")
	}
}

// The assigned gauge sums an operator's instances in the process.
func TestPrometheusAssignedSumsInstances(t *testing.T) {
	reg := prometheus.NewRegistry()
	p := newPrometheus(t, reg)
	for _, ev := range []struct {
		instance, event string
		n               int
	}{{"a", "assigned", 3}, {"b", "assigned", 3}, {"a", "revoked", 1}, {"b", "lost", 3}} {
		p.Rebalanced(runtime.Member{Operator: "op", Instance: ev.instance}, runtime.Rebalance{Event: ev.event, Changed: ev.n})
	}
	if got := metricValue(t, reg, "corb_assigned_partitions", "operator", "op"); got != 2 {
		t.Errorf("assigned = %v, want 2", got)
	}
	if got := metricValue(t, reg, "corb_rebalances_total", "operator", "op", "event", "assigned"); got != 2 {
		t.Errorf("rebalances{assigned} = %v, want 2", got)
	}
}
