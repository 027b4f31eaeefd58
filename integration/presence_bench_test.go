//go:build integration

package integration

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/corb-dev/corb/integration/kafkatest"
	"github.com/corb-dev/corb/operators"
	"github.com/corb-dev/corb/operators/presence"
	"github.com/corb-dev/corb/operators/presence/presencetest"
	"github.com/corb-dev/corb/operators/runtime"
	"github.com/corb-dev/corb/schemas"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// BenchmarkPresenceVsDecodeLoop runs the same synthetic zone-count stream
// (50 zones × 100 s at 10 fps = 50 000 records, 6 partitions) through the real
// broker two ways in each iteration: a bare franz-go group consumer that only
// decodes every record and commits (the baseline), and Corb's runtime hosting
// the presence operator exactly once (events, occupancy view and changelog
// written in transactions). It reports records/s of each and their ratio.
func BenchmarkPresenceVsDecodeLoop(b *testing.B) {
	const zonesN, seconds = 50, 100
	brokers := kafkatest.Brokers(b)
	input := presencetest.Stream(zonesN, seconds, 11)
	values := make([][]byte, len(input))
	for i := range input {
		v, err := schemas.Marshal(&input[i])
		if err != nil {
			b.Fatal(err)
		}
		values[i] = v
	}
	var bare, pres time.Duration
	var events float64
	for i := range b.N {
		ns := kafkatest.Unique(b, fmt.Sprintf("pbench%d", i))
		run := func(name string, outputs []string, move func(ctx context.Context, in, group string) error) time.Duration {
			in, group := ns+"."+name+".in", ns+"."+name
			kafkatest.CreateTopic(b, brokers, in, 6, nil)
			for _, o := range outputs {
				kafkatest.CreateTopic(b, brokers, ns+"."+name+"."+o, 6, nil)
			}
			kafkatest.CreateTopic(b, brokers, ns+"."+name+".dlq", 1, nil)
			cl := kafkatest.NewClient(b, brokers)
			recs := make([]*kgo.Record, len(input))
			for j, zc := range input {
				recs[j] = &kgo.Record{Topic: in, Key: []byte(zc.ZoneID), Value: values[j], Timestamp: zc.CaptureTime}
			}
			if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			start := time.Now()
			done := make(chan error, 1)
			go func() { done <- move(ctx, in, group) }()
			waitGroupDone(b, brokers, group, in, len(input), done)
			d := time.Since(start)
			cancel()
			if err := <-done; err != nil {
				b.Fatalf("%s: %v", name, err)
			}
			return d
		}
		bare += run("bare", nil, func(ctx context.Context, in, group string) error { return decodeLoop(ctx, brokers, in, group) })
		reg := prometheus.NewRegistry()
		pres += run("presence", []string{"events", "occupancy", "state"}, func(ctx context.Context, in, group string) error {
			op, err := presence.NewOperator(presencetest.Config(zonesN), presence.OperatorOptions{
				Name: "presence", Events: group + ".events", Occupancy: group + ".occupancy", State: group + ".state", Registry: reg,
			})
			if err != nil {
				return err
			}
			r, err := runtime.New(runtime.Config{
				Name: group, Brokers: brokers, Inputs: []string{in}, Outputs: []string{group + ".events", group + ".occupancy"},
				State: []string{group + ".state"}, DeadLetter: group + ".dlq", Operator: op, MaxBatch: 500, Logger: quietLogger(),
			})
			if err != nil {
				return err
			}
			return r.Run(ctx)
		})
		events += gatherSum(b, reg, "corb_presence_events_total")
	}
	n := float64(len(input) * b.N)
	b.ReportMetric(n/bare.Seconds(), "decode-rec/s")
	b.ReportMetric(n/pres.Seconds(), "presence-rec/s")
	b.ReportMetric(bare.Seconds()/pres.Seconds(), "presence/decode")
	b.ReportMetric(events/float64(b.N), "events/op")
}

// decodeLoop is the baseline: a franz-go group consumer that decodes every
// zone-count record and commits, nothing else.
func decodeLoop(ctx context.Context, brokers []string, in, group string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumerGroup(group), kgo.ConsumeTopics(in),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit(), kgo.BlockRebalanceOnPoll(),
		kgo.FetchMaxBytes(16<<20))
	if err != nil {
		return err
	}
	defer cl.Close()
	defer cl.AllowRebalance()
	for {
		fs := cl.PollRecords(ctx, 500)
		if ctx.Err() != nil {
			return nil
		}
		recs := fs.Records()
		for _, r := range recs {
			var zc schemas.ZoneCounts
			if err := schemas.Unmarshal(r.Value, &zc); err != nil {
				return err
			}
		}
		if err := cl.CommitRecords(ctx, recs...); err != nil {
			return err
		}
		cl.AllowRebalance()
	}
}

func gatherSum(b *testing.B, g prometheus.Gatherer, name string) float64 {
	mfs, err := g.Gather()
	if err != nil {
		b.Fatal(err)
	}
	var s float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			switch {
			case m.GetCounter() != nil:
				s += m.GetCounter().GetValue()
			case m.GetHistogram() != nil:
				s += m.GetHistogram().GetSampleSum()
			}
		}
	}
	return s
}

// restoreProbe is a Stateful operator that only reports its restores.
type restoreProbe struct {
	restored chan int
}

func (p *restoreProbe) Process(_ context.Context, batch []operators.Record) ([]operators.Result, error) {
	return make([]operators.Result, len(batch)), nil
}

func (p *restoreProbe) Restore(_ context.Context, _ string, _ int32, state map[string][]byte) error {
	select {
	case p.restored <- len(state):
	default: // a later restore (after an abort): only the first is timed
	}
	return nil
}

func (p *restoreProbe) Revoke(int32) {}

// BenchmarkChangelogRestore100k writes 100 000 keys (256-byte values, the size
// of a presence zone state with a few open windows) to a one-partition
// changelog, then times how long the runtime takes to restore them: from Run
// to the operator's Restore (group join included), and the restore alone as
// the runtime measures it (corb_state_restore_seconds).
func BenchmarkChangelogRestore100k(b *testing.B) {
	const keys = 100_000
	brokers := kafkatest.Brokers(b)
	value := make([]byte, 256)
	for i := range value {
		value[i] = 'a' + byte(i%26)
	}
	var total, restore time.Duration
	for i := range b.N {
		ns := kafkatest.Unique(b, fmt.Sprintf("rbench%d", i))
		in, st := ns+".in", ns+".state"
		kafkatest.CreateTopic(b, brokers, in, 1, nil)
		kafkatest.CreateTopic(b, brokers, st, 1, map[string]string{"cleanup.policy": "compact"})
		kafkatest.CreateTopic(b, brokers, ns+".dlq", 1, nil)
		cl := kafkatest.NewClient(b, brokers)
		recs := make([]*kgo.Record, keys)
		for j := range recs {
			recs[j] = &kgo.Record{Topic: st, Key: fmt.Appendf(nil, "zone-%06d", j), Value: value}
		}
		if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
			b.Fatal(err)
		}
		reg := prometheus.NewRegistry()
		probe := &restoreProbe{restored: make(chan int, 1)}
		hooks, err := runtime.NewPrometheus(reg)
		if err != nil {
			b.Fatal(err)
		}
		r, err := runtime.New(runtime.Config{
			Name: ns, Brokers: brokers, Inputs: []string{in}, State: []string{st}, DeadLetter: ns + ".dlq",
			Operator: probe, Logger: quietLogger(), Hooks: hooks, RestoreSettle: 100 * time.Millisecond,
		})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		start := time.Now()
		go func() { done <- r.Run(ctx) }()
		select {
		case n := <-probe.restored:
			total += time.Since(start)
			if n != keys {
				b.Fatalf("restored %d keys, want %d", n, keys)
			}
		case err := <-done:
			b.Fatalf("runner stopped: %v", err)
		case <-time.After(2 * time.Minute):
			b.Fatal("no restore within 2 minutes")
		}
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		restore += time.Duration(gatherSum(b, reg, "corb_state_restore_seconds") * float64(time.Second))
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s-to-restored")
	b.ReportMetric(restore.Seconds()/float64(b.N), "s-restore")
	b.ReportMetric(float64(keys)*float64(b.N)/restore.Seconds(), "keys/s")
}
