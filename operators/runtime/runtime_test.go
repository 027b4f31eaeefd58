package runtime_test

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/corb-dev/corb/operators"
	"github.com/corb-dev/corb/operators/runtime"
)

// upper copies each record to "out"; the value "poison" fails permanently and
// "panic" panics.
func upper(_ context.Context, r operators.Record) ([]operators.Output, error) {
	switch string(r.Value) {
	case "poison":
		return nil, operators.Permanentf("poison record at offset %d", r.Offset)
	case "panic":
		panic("operator bug")
	case "stray":
		return []operators.Output{{Topic: "nowhere", Value: r.Value}}, nil
	}
	return []operators.Output{{Topic: "out", Key: r.Key, Value: append([]byte("seen:"), r.Value...)}}, nil
}

// newCluster starts a one-broker kfake cluster with topics of the given
// partitions, closed when t ends, and returns its addresses.
func newCluster(t *testing.T, partitions int32, topics ...string) []string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, topics...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

func produce(t *testing.T, brokers []string, values ...string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for i, v := range values {
		recs = append(recs, &kgo.Record{Topic: "in", Key: []byte(strconv.Itoa(i)), Value: []byte(v)})
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// consume reads topic read_committed until it has n records or the deadline passes.
func consume(t *testing.T, brokers []string, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var got []*kgo.Record
	for len(got) < n {
		f := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("%s: got %d records, want %d", topic, len(got), n)
		}
		got = append(got, f.Records()...)
	}
	return got
}

// newPrometheus is runtime.NewPrometheus on reg.
func newPrometheus(t *testing.T, reg prometheus.Registerer) *runtime.Prometheus {
	t.Helper()
	p, err := runtime.NewPrometheus(reg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// metricValue is the value of the counter or gauge name with the given
// label pairs in reg; 0 when there is no such series.
func metricValue(t *testing.T, reg prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	v, _ := lookupMetric(t, reg, name, labels...)
	return v
}

// lookupMetric is metricValue, and whether the series exists.
func lookupMetric(t *testing.T, reg prometheus.Gatherer, name string, labels ...string) (float64, bool) {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if got[k] != v {
					continue series
				}
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue(), true
			}
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

func start(t *testing.T, cfg runtime.Config) (*runtime.Runner, func()) {
	t.Helper()
	r, err := runtime.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	return r, func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("Run did not return within 20s of cancel")
		}
	}
}

func TestRunnerCarriesRecordsAndDeadLetters(t *testing.T) {
	for _, g := range []runtime.Guarantee{runtime.ExactlyOnce, runtime.AtLeastOnce} {
		t.Run(string(g), func(t *testing.T) {
			brokers := newCluster(t, 3, "in", "out", "dlq")
			var values []string
			for i := range 200 {
				values = append(values, fmt.Sprintf("v%03d", i))
			}
			values[17], values[99], values[150] = "poison", "panic", "stray"
			produce(t, brokers, values...)

			reg := prometheus.NewRegistry()
			_, stop := start(t, runtime.Config{
				Name: "upper", Brokers: brokers, Inputs: []string{"in"}, Outputs: []string{"out"},
				DeadLetter: "dlq", Guarantee: g, Operator: operators.OperatorFunc(upper), Hooks: newPrometheus(t, reg),
				MaxBatch: 32, Retry: operators.RetryPolicy{MaxAttempts: 2, InitialBackoff: time.Millisecond},
			})
			out := consume(t, brokers, "out", 197)
			dlq := consume(t, brokers, "dlq", 3)
			stop()

			var gotOut []string
			for _, r := range out {
				gotOut = append(gotOut, string(r.Value))
			}
			sort.Strings(gotOut)
			var wantOut []string
			for _, v := range values {
				if v[0] == 'v' {
					wantOut = append(wantOut, "seen:"+v)
				}
			}
			if fmt.Sprint(gotOut) != fmt.Sprint(wantOut) {
				t.Fatalf("outputs differ:\n got %v\nwant %v", gotOut, wantOut)
			}
			reasons := map[string]string{}
			for _, r := range dlq {
				why, _ := runtime.Header(r, runtime.HeaderReason)
				op, _ := runtime.Header(r, runtime.HeaderOperator)
				src, _ := runtime.Header(r, runtime.HeaderTopic)
				if _, ok := runtime.Header(r, runtime.HeaderError); !ok || op != "upper" || src != "in" {
					t.Errorf("dead letter %q lacks its headers: %v", r.Value, r.Headers)
				}
				reasons[string(r.Value)] = why
			}
			want := map[string]string{"poison": "permanent", "panic": "panic", "stray": "undeclared-output"}
			if fmt.Sprint(reasons) != fmt.Sprint(want) {
				t.Fatalf("dead letters %v, want %v", reasons, want)
			}
			for why, want := range map[string]float64{"panic": 1, "permanent": 1, "undeclared-output": 1} {
				if got := metricValue(t, reg, "corb_records_dead_lettered_total", "operator", "upper", "reason", why); got != want {
					t.Errorf("dead-lettered{%s} = %v, want %v", why, got, want)
				}
			}
			if got := metricValue(t, reg, "corb_records_in_total", "operator", "upper", "topic", "in"); got != 200 {
				t.Errorf("records in = %v, want 200", got)
			}
			if got := metricValue(t, reg, "corb_records_out_total", "operator", "upper", "topic", "out"); got != 197 {
				t.Errorf("records out = %v, want 197 (dead letters are not outputs)", got)
			}
		})
	}
}

func TestRunnerMatchFiltersRecords(t *testing.T) {
	brokers := newCluster(t, 3, "in", "out", "dlq")
	produce(t, brokers, "keep-1", "drop-1", "keep-2", "drop-2", "keep-3")
	_, stop := start(t, runtime.Config{
		Name: "filter", Brokers: brokers, Inputs: []string{"in"}, Outputs: []string{"out"}, DeadLetter: "dlq",
		Operator: operators.OperatorFunc(upper),
		Match:    func(r operators.Record) (bool, error) { return string(r.Value[:4]) == "keep", nil },
	})
	out := consume(t, brokers, "out", 3)
	stop()
	if len(out) != 3 {
		t.Fatalf("got %d outputs, want 3", len(out))
	}
	for _, r := range out {
		if string(r.Value[:9]) != "seen:keep" {
			t.Errorf("unexpected output %q", r.Value)
		}
	}
}

func TestNewReportsEveryConfigProblem(t *testing.T) {
	_, err := runtime.New(runtime.Config{Guarantee: "sometimes"})
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{"name is required", "brokers are required", "input topic", "dead-letter", "operator is required", "guarantee"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}
