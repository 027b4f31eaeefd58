//go:build integration

package integration

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/corb-dev/corb/integration/kafkatest"
	"github.com/corb-dev/corb/operators/passthrough"
	"github.com/corb-dev/corb/operators/runtime"
)

// BenchmarkPassthroughVsBareLoop moves records of 100 KB from one topic to
// another through the real broker three ways, in the same iteration so they
// see the same machine: a bare franz-go consume→produce→commit loop (the
// baseline), Corb's runtime hosting the no-op passthrough operator at least
// once, and the same exactly once. It reports each one's MB/s and the
// runtime's speed as a ratio of the baseline's, in steady state (from a sixth
// of the records committed to all of them).
func BenchmarkPassthroughVsBareLoop(b *testing.B) {
	const (
		records = 1200
		size    = 100 << 10
	)
	brokers := kafkatest.Brokers(b)
	value := make([]byte, size)
	_, _ = rand.Read(value) // incompressible, like JPEG
	var bare, alo, eos time.Duration
	for i := range b.N {
		ns := kafkatest.Unique(b, fmt.Sprintf("bench%d", i))
		run := func(name string, move func(ctx context.Context, in, out, group string) error) time.Duration {
			in, out, group := ns+"."+name+".in", ns+"."+name+".out", ns+"."+name
			kafkatest.CreateTopic(b, brokers, in, 6, map[string]string{"max.message.bytes": "1048576"})
			kafkatest.CreateTopic(b, brokers, out, 6, map[string]string{"max.message.bytes": "1048576"})
			kafkatest.CreateTopic(b, brokers, ns+"."+name+".dlq", 1, nil)
			fill(b, brokers, in, records, value)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- move(ctx, in, out, group) }()
			// Steady state only: the clock starts once a sixth is committed, so
			// client start-up and the group join (the same for both) are left out.
			waitGroupDone(b, brokers, group, in, records/6, done)
			start := time.Now()
			waitGroupDone(b, brokers, group, in, records, done)
			d := time.Since(start)
			cancel()
			if err := <-done; err != nil {
				b.Fatalf("%s: %v", name, err)
			}
			return d
		}
		bare += run("bare", func(ctx context.Context, in, out, group string) error { return bareLoop(ctx, brokers, in, out, group) })
		alo += run("alo", func(ctx context.Context, in, out, group string) error {
			return runPass(ctx, brokers, in, out, group, runtime.AtLeastOnce)
		})
		eos += run("eos", func(ctx context.Context, in, out, group string) error {
			return runPass(ctx, brokers, in, out, group, runtime.ExactlyOnce)
		})
	}
	mb := float64((records-records/6)*size*b.N) / (1 << 20)
	b.ReportMetric(mb/bare.Seconds(), "bare-MB/s")
	b.ReportMetric(mb/alo.Seconds(), "alo-MB/s")
	b.ReportMetric(mb/eos.Seconds(), "eos-MB/s")
	b.ReportMetric(bare.Seconds()/alo.Seconds(), "alo/bare")
	b.ReportMetric(bare.Seconds()/eos.Seconds(), "eos/bare")
}

func fill(b *testing.B, brokers []string, topic string, n int, value []byte) {
	cl := kafkatest.NewClient(b, brokers, kgo.ProducerBatchMaxBytes(1<<20))
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: topic, Key: []byte(fmt.Sprint(i)), Value: value}
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		b.Fatal(err)
	}
}

// waitGroupDone waits until group has committed all n records of topic.
func waitGroupDone(b *testing.B, brokers []string, group, topic string, n int, done <-chan error) {
	adm := kadm.NewClient(kafkatest.NewClient(b, brokers))
	for {
		select {
		case err := <-done:
			b.Fatalf("mover stopped early: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
		offs, err := adm.FetchOffsets(context.Background(), group)
		if err != nil {
			continue
		}
		var total int64
		offs.Each(func(o kadm.OffsetResponse) {
			if o.Topic == topic {
				total += o.At
			}
		})
		if total >= int64(n) {
			return
		}
	}
}

// bareLoop is the baseline: what a hand-written franz-go service does at least
// once, with the same batch size and fetch limits as the runtime.
func bareLoop(ctx context.Context, brokers []string, in, out, group string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumerGroup(group), kgo.ConsumeTopics(in),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit(), kgo.BlockRebalanceOnPoll(),
		kgo.FetchMaxBytes(16<<20), kgo.ProducerBatchMaxBytes(1<<20))
	if err != nil {
		return err
	}
	defer cl.Close()
	defer cl.AllowRebalance() // Close would wait for it forever
	for {
		fs := cl.PollRecords(ctx, 500)
		if ctx.Err() != nil {
			return nil
		}
		recs := fs.Records()
		outs := make([]*kgo.Record, len(recs))
		for i, r := range recs {
			outs[i] = &kgo.Record{Topic: out, Key: r.Key, Value: r.Value}
		}
		if err := cl.ProduceSync(ctx, outs...).FirstErr(); err != nil {
			return err
		}
		if err := cl.CommitRecords(ctx, recs...); err != nil {
			return err
		}
		cl.AllowRebalance()
	}
}

func runPass(ctx context.Context, brokers []string, in, out, group string, g runtime.Guarantee) error {
	r, err := runtime.New(runtime.Config{
		Name: group, Brokers: brokers, Inputs: []string{in}, Outputs: []string{out}, DeadLetter: group + ".dlq",
		Guarantee: g, Operator: passthrough.New(out, passthrough.Config{}), MaxBatch: 500,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), ClientOptions: []kgo.Opt{kgo.ProducerBatchMaxBytes(1 << 20)},
	})
	if err != nil {
		return err
	}
	return r.Run(ctx)
}
