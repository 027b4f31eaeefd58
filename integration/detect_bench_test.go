//go:build integration

package integration

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	goruntime "runtime"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	ort "github.com/yalue/onnxruntime_go"

	"github.com/corb-dev/corb/integration/kafkatest"
	"github.com/corb-dev/corb/operators/detect"
	"github.com/corb-dev/corb/operators/detect/detecttest"
	"github.com/corb-dev/corb/operators/runtime"
	"github.com/corb-dev/corb/schemas"
)

// BenchmarkDetectOperatorVsRawORT measures, in the same run and interleaved,
// the detect operator's throughput through the real broker — JPEG frames of
// vtest.avi produced to a topic, consumed by a runtime.Runner hosting the
// detect operator (exactly-once), detections read back read_committed — and
// bare ONNX Runtime Run loops on the same model, instances, threads and input
// size (batches of max_batch, input filled once, outputs preallocated: the
// floor), one per instance, side by side. It reports frames/s of each and
// their ratio (target ≥ 0.9), and the ratio to one bare session with a
// thread per core (operator/raw-one-session), the loop the operator ran
// before it had instances. The operator's rate is taken in steady state (see
// below), as in the engine's benchmark.
//
//	KAFKA_BROKERS=... go test -tags integration -run '^$' -bench DetectOperatorVsRawORT -benchtime 3x -timeout 30m ./integration/
//
// On this 2-core machine the default (2 instances × 1 thread) and the raw
// loops fill both cores with inference, so every other cycle — decoding, the
// Kafka client, the broker, the commits — comes out of inference.
func BenchmarkDetectOperatorVsRawORT(b *testing.B) {
	// width 0: the video's 768×576 frames; 416: frames as `corb ingest
	// --max-width 416` sends them (the model's input width), cheaper to decode.
	//
	// instances and threads 0 are the operator's defaults: on the CPU, one
	// single-threaded instance per core (up to 4).
	//
	// wait is the operator's batch_wait: 0 its default, negative none.
	for _, c := range []struct {
		records, instances, threads, width int
		wait                               time.Duration
	}{{32, 0, 0, 0, 0}, {32, 0, 0, 0, -1}, {32, 1, 2, 0, 0}, {32, 0, 0, 416, 0}} {
		b.Run(fmt.Sprintf("records_per_batch=%d/instances=%d/threads=%d/width=%d/batch_wait=%v", c.records, c.instances, c.threads, c.width, c.wait), func(b *testing.B) {
			benchDetectOperator(b, c.records, detect.OperatorConfig{Instances: c.instances, Threads: c.threads, BatchWait: c.wait}, c.width)
		})
	}
}

func benchDetectOperator(b *testing.B, records int, cfg detect.OperatorConfig, width int) {
	const (
		maxBatch = 4
		perIter  = 160 // frames per iteration, for each side
	)
	video := needDetector(b)
	brokers := kafkatest.Brokers(b)
	ns := kafkatest.Unique(b, "detectbench")
	kafkatest.CreateTopic(b, brokers, ns+".frames", detectCameras, nil)
	kafkatest.CreateTopic(b, brokers, ns+".detections", detectCameras, nil)
	kafkatest.CreateTopic(b, brokers, ns+".frames-dlq", 1, nil)
	frames := videoFramesWidth(b, video, perIter, time.Now(), width)
	quiet := slog.New(slog.DiscardHandler)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg.MaxBatch, cfg.MaxRecords = maxBatch, records
	op, err := detect.NewOperator(ctx, cfg,
		detect.OperatorOptions{Name: "detect", Output: "detections", Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	runner, err := runtime.New(runtime.Config{
		Name: "detect", GroupPrefix: ns + ".", Instance: "0", Brokers: brokers,
		Inputs: []string{"frames"}, Outputs: []string{"detections"}, DeadLetter: "frames-dlq",
		Topic: func(l string) string { return ns + "." + l }, Operator: op, MaxBatch: records, Logger: quiet,
	})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- runner.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			b.Error(err)
		}
	}()
	kafkatest.WaitFor(b, time.Minute, func() (bool, error) { return runner.Ready(), nil })

	// The raw baseline: the same model, instances and threads, batches of
	// maxBatch frames, the instances side by side. The other baseline is one
	// session with a thread per core.
	instances, threads := op.Instances()
	raw := make([]rawSession, instances)
	for i := range raw {
		raw[i].s, raw[i].in, raw[i].out = detecttest.RawSession(b, detect.DefaultModelPath(), threads, maxBatch)
	}
	var one rawSession
	one.s, one.in, one.out = detecttest.RawSession(b, detect.DefaultModelPath(), goruntime.GOMAXPROCS(0), maxBatch)

	out := kafkatest.NewClient(b, brokers, kgo.ConsumeTopics(ns+".detections"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	read := 0
	// await reads detections until there are n, and returns when the first
	// transaction after `from` became visible, how many had been read then,
	// and when the last did.
	await := func(from, n int) (first time.Time, atFirst int, last time.Time) {
		wctx, wcancel := context.WithTimeout(ctx, 10*time.Minute)
		defer wcancel()
		for read < n {
			f := out.PollFetches(wctx)
			if err := wctx.Err(); err != nil {
				b.Fatalf("%d of %d detections after 10 minutes", read, n)
			}
			for _, fe := range f.Errors() {
				b.Fatalf("consume detections: %v", fe.Err)
			}
			read += f.NumRecords()
			if first.IsZero() && read > from {
				first, atFirst = time.Now(), read
			}
		}
		return first, atFirst, time.Now()
	}
	// Each iteration's frames are produced in one transaction, so they become
	// visible to the operator at once: it works through a backlog (as after a
	// burst or a restart), polls of records_per_batch, which is what its
	// throughput is. Produced as the test goes, they would trickle in at the
	// test producer's pace and the polls would be whatever had arrived.
	backlog := kafkatest.NewClient(b, brokers, kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.TransactionalID(kafkatest.Unique(b, "frames-producer")))
	produce := func(frames []*schemas.Frame) {
		if err := backlog.BeginTransaction(); err != nil {
			b.Fatal(err)
		}
		for _, f := range frames {
			backlog.Produce(ctx, frameRecord(b, ns+".frames", f),
				func(_ *kgo.Record, err error) {
					if err != nil {
						b.Errorf("produce frame: %v", err)
					}
				})
		}
		if err := backlog.Flush(ctx); err != nil {
			b.Fatalf("produce frames: %v", err)
		}
		if err := backlog.EndTransaction(ctx, kgo.TryCommit); err != nil {
			b.Fatalf("produce frames: %v", err)
		}
	}
	// Warm up both: the session's first runs and the group's first transaction.
	produce(frames[:maxBatch])
	await(0, maxBatch)
	runRaw(b, raw, instances*maxBatch)
	runRaw(b, []rawSession{one}, maxBatch)

	// The operator's rate is its steady state: from the first transaction of
	// an iteration becoming visible to the last, so the pipeline's fill (the
	// produce, the first poll, the first transaction) is not counted. It is
	// a fixed latency, not throughput, and would weigh more the fewer frames
	// an iteration has.
	var opTime, rawTime, oneTime time.Duration
	var opFrames int
	b.ResetTimer()
	for i := range b.N {
		produce(frames)
		from := maxBatch + i*perIter
		first, atFirst, last := await(from, from+perIter)
		opTime += last.Sub(first)
		opFrames += from + perIter - atFirst

		start := time.Now()
		runRaw(b, raw, perIter)
		rawTime += time.Since(start)
		start = time.Now()
		runRaw(b, []rawSession{one}, perIter)
		oneTime += time.Since(start)
	}
	b.StopTimer()
	if opFrames == 0 {
		b.Fatal("every iteration's detections became visible in one transaction: give it more frames")
	}
	opFPS, rawFPS := float64(opFrames)/opTime.Seconds(), float64(b.N*perIter)/rawTime.Seconds()
	oneFPS := float64(b.N*perIter) / oneTime.Seconds()
	b.ReportMetric(opFPS, "operator-frames/s")
	b.ReportMetric(rawFPS, "raw-frames/s")
	b.ReportMetric(opFPS/rawFPS, "operator/raw")
	b.ReportMetric(opFPS/oneFPS, "operator/raw-one-session")
}

// rawSession is one bare ONNX Runtime session with its input and outputs.
type rawSession struct {
	s   *ort.DynamicAdvancedSession
	in  ort.Value
	out []ort.Value
}

// runRaw runs frames through the sessions side by side, each taking an equal
// share in runs of its batch.
func runRaw(b *testing.B, sessions []rawSession, frames int) {
	var wg sync.WaitGroup
	for _, r := range sessions {
		batch := int(r.in.GetShape()[0])
		wg.Go(func() {
			for range frames / len(sessions) / batch {
				if err := r.s.Run([]ort.Value{r.in}, r.out); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}
