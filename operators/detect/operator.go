package detect

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	goruntime "runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/corb-dev/corb/operators"
	"github.com/corb-dev/corb/operators/metrics"
	"github.com/corb-dev/corb/schemas"
)

// OperatorConfig is the detect kind's config, as written under an operator's
// `config:` in the topology. Every field is optional.
type OperatorConfig struct {
	// Model is the ONNX model path; "" means DefaultModelPath (NanoDet-g).
	Model string `yaml:"model" default:"the cached NanoDet-g (make model)" doc:"ONNX model file"`
	// Format is the model layout: "nanodet" (default) or "yolov8" (also YOLO11).
	Format string `yaml:"format" default:"nanodet" doc:"model layout: nanodet or yolov8 (also YOLO11)"`
	// Classes to keep, as COCO labels or ids; empty means person only.
	Classes []string `yaml:"classes" default:"[person]" doc:"COCO labels or ids to keep"`
	// Threshold is the minimum box score, 0..1; 0 means 0.35.
	Threshold float32 `yaml:"threshold" default:"0.35" doc:"minimum box score, 0..1"`
	// IoU is the overlap above which the weaker of two boxes of one class is
	// dropped, 0..1; 0 means 0.5.
	IoU float32 `yaml:"iou" default:"0.5" doc:"overlap above which the weaker of two boxes is dropped"`
	// MaxBatch is the most frames per ONNX Runtime run; 0 means 8. The frames
	// of one Process call are decoded and detected max_batch at a time, so
	// memory stays bounded whatever the runtime's batch size.
	MaxBatch int `yaml:"max_batch" default:"8" doc:"frames per ONNX Runtime run"`
	// Provider is the execution provider: cpu (default), cuda or tensorrt.
	Provider Provider `yaml:"provider" default:"cpu" doc:"execution provider: cpu, cuda or tensorrt"`
	// Fallback, when "cpu", runs on the CPU (with a warning) when the GPU
	// provider is unavailable; "" fails instead.
	Fallback Provider `yaml:"fallback" doc:"cpu: run on the CPU (with a warning) when the GPU provider is unavailable; none: fail"`
	// Instances are the ONNX Runtime sessions of the model that run side by
	// side, each detecting its share of every batch; 0 means, on the CPU, up
	// to DefaultMaxInstances sharing the cores equally (2 cores: 2 × 1
	// thread; 6: 3 × 2; 32: 4 × 8), or one per `threads` cores when threads
	// is set, and 1 on a GPU. Several sessions with few threads keep
	// the cores busier than one session whose threads wait for each other at
	// every layer (BENCHMARKS.md, "Instances"), at the cost of each frame's
	// latency and of memory: each instance holds the model and its
	// activations.
	Instances int `yaml:"instances" default:"CPU: up to 4 sharing the cores (2 × 1 thread on 2 cores, 4 × 2 on 8); GPU: 1" doc:"model sessions side by side"`
	// Threads are each instance's ONNX Runtime intra-op threads; 0 means the
	// cores divided among the instances (at least 1).
	Threads int `yaml:"threads" default:"cores ÷ instances" doc:"intra-op threads per instance"`
	// MaxFrameAge, when positive, skips frames whose CaptureTime is older than
	// this when they are decoded, one model batch before their turn to be
	// detected (zero outputs, counted in
	// corb_detect_frames_skipped_total), so a detector slower than its
	// cameras drops stale frames instead of building a backlog. 0 (default)
	// never skips: replaying a recording needs every frame.
	MaxFrameAge time.Duration `yaml:"max_frame_age" default:"0: never skip" doc:"skip frames older than this (live cameras)"`
	// MaxRecords caps the frames the runtime hands to one Process call (and
	// so to one transaction), whatever `corb run --max-batch` says; 0 means
	// DefaultMaxRecords. Small enough that a call ends in about a second on a
	// CPU, so a rebalance is never held up for long.
	MaxRecords int `yaml:"max_records" default:"32" doc:"frames per transaction"`
	// BatchWait is how long the runtime may keep polling to fill a short
	// batch up to MaxRecords (see operators.BatchFiller): each call ends in a
	// commit, and its instances wait for the slowest of them, so fuller calls
	// waste less. 0 means DefaultBatchWait; negative, no wait. A detector
	// that keeps up with live cameras adds at most this to each frame's
	// latency.
	BatchWait time.Duration `yaml:"batch_wait" default:"50ms" doc:"how long to fill a transaction up to max_records when records are coming (negative: none)"`
}

const (
	// DefaultMaxRecords is MaxRecords when it is 0.
	DefaultMaxRecords = 32
	// DefaultBatchWait is BatchWait when it is 0.
	DefaultBatchWait = 50 * time.Millisecond
	// DefaultMaxInstances caps the instances a CPU gets by default, for memory:
	// a bigger machine gives each of them more threads instead.
	DefaultMaxInstances = 4
)

// Validate checks the values that New does not check itself.
func (c OperatorConfig) Validate() error {
	var errs []error
	if c.MaxBatch < 0 {
		errs = append(errs, fmt.Errorf("max_batch %d is negative", c.MaxBatch))
	}
	if c.Threads < 0 {
		errs = append(errs, fmt.Errorf("threads %d is negative", c.Threads))
	}
	if c.Instances < 0 {
		errs = append(errs, fmt.Errorf("instances %d is negative", c.Instances))
	}
	if c.MaxFrameAge < 0 {
		errs = append(errs, fmt.Errorf("max_frame_age %v is negative", c.MaxFrameAge))
	}
	if c.MaxRecords < 0 {
		errs = append(errs, fmt.Errorf("max_records %d is negative", c.MaxRecords))
	}
	switch c.Provider {
	case "", CPU, CUDA, TensorRT:
	default:
		errs = append(errs, fmt.Errorf("provider %q: want cpu, cuda or tensorrt", c.Provider))
	}
	switch c.Fallback {
	case "", CPU:
	default:
		errs = append(errs, fmt.Errorf("fallback %q: want cpu or nothing", c.Fallback))
	}
	if c.Threshold < 0 || c.Threshold > 1 {
		errs = append(errs, fmt.Errorf("threshold %v is not within 0..1", c.Threshold))
	}
	if c.IoU < 0 || c.IoU > 1 {
		errs = append(errs, fmt.Errorf("iou %v is not within 0..1", c.IoU))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("detect: %w", err)
	}
	return nil
}

// OperatorOptions are what the host gives a detect operator besides its config.
type OperatorOptions struct {
	// Name is the operator's name in the topology; it labels the metrics.
	Name string
	// Output is the logical topic the detections go to.
	Output string
	// Registry receives the operator's metrics; nil registers none.
	Registry prometheus.Registerer
	// Now is the clock that ages frames; nil means time.Now. It is called
	// from the goroutines that decode ahead, one per instance, so it must be
	// safe for concurrent use.
	Now func() time.Time
	// LibraryPath is the ONNX Runtime library; "" means $CORB_ORT_LIB, then the cache.
	LibraryPath string
	// Logger; nil means slog.Default().
	Logger *slog.Logger
}

// Operator is the detect operator: corb.Frame records in, one corb.Detections
// record per frame out (key = camera id), on one output topic.
//
// A record that is not a corb.Frame, or whose image cannot be decoded, is a
// permanent failure (the runtime dead-letters it) and the rest of the batch
// goes on. An ONNX Runtime failure fails the whole batch transiently. A frame
// older than MaxFrameAge is consumed with zero outputs.
type Operator struct {
	cfg     OperatorConfig
	out     string
	now     func() time.Time
	model   string
	version string
	m       opMetrics
	lanes   []*lane // one per instance
	threads int     // each instance's
	closed  bool
}

// lane is one instance of the model: a Detector and the goroutine that
// prepares its next model batch while the current one is inferred.
type lane struct {
	op      *Operator
	det     *Detector
	batches [2]*Batch // one inferred while the other is prepared
	jobs    chan prepareJob
}

// NewOperator loads the model and returns the operator. Close it to free the model.
func NewOperator(ctx context.Context, cfg OperatorConfig, opts OperatorOptions) (*Operator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opts.Output == "" {
		return nil, errors.New("detect: operator needs an output topic")
	}
	path, err := ModelPath(cfg.Model)
	if err != nil {
		return nil, err
	}
	version, err := fileDigest(path)
	if err != nil {
		return nil, err
	}
	m, err := newOpMetrics(opts.Registry, opts.Name)
	if err != nil {
		return nil, err
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	o := &Operator{
		cfg: cfg, out: opts.Output, now: now, m: m, version: version,
		model: strings.TrimSuffix(filepath.Base(path), filepath.Ext(path)),
	}
	instances, threads := sizing(cfg, goruntime.GOMAXPROCS(0))
	o.threads = threads
	for range instances {
		det, err := New(ctx, Config{
			ModelPath: path, Format: cfg.Format, Classes: cfg.Classes, Threshold: cfg.Threshold, IoU: cfg.IoU,
			MaxBatch: cfg.MaxBatch, Provider: cfg.Provider, Fallback: cfg.Fallback, IntraOpThreads: threads,
			LibraryPath: opts.LibraryPath, Logger: opts.Logger,
		})
		if err != nil {
			o.Close()
			return nil, err
		}
		dec, err := NewFrameDecoder()
		if err != nil {
			det.Close()
			o.Close()
			return nil, err
		}
		l := &lane{op: o, det: det, batches: [2]*Batch{det.NewBatch(), det.NewBatch()}, jobs: make(chan prepareJob, 2)}
		o.lanes = append(o.lanes, l)
		go l.prepareLoop(dec)
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	log.Info("detect: instances of the model", "operator", opts.Name, "instances", instances, "threads_each", threads)
	return o, nil
}

// sizing is how many instances of the model to run, and with how many
// threads each, for cfg on cores.
func sizing(cfg OperatorConfig, cores int) (instances, threads int) {
	instances, threads = cfg.Instances, cfg.Threads
	if instances == 0 {
		switch {
		case cfg.Provider == CUDA || cfg.Provider == TensorRT:
			instances = 1
		case threads > 0:
			instances = max(1, cores/threads)
		default: // as many as fit DefaultMaxInstances with equal threads
			instances = max(1, cores/((cores+DefaultMaxInstances-1)/DefaultMaxInstances))
		}
	}
	if threads == 0 {
		threads = max(1, cores/instances)
	}
	return instances, threads
}

// fileDigest is the model version: the first 12 hex digits of the file's SHA-256.
func fileDigest(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("detect: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("detect: reading %s: %w", path, err)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))[:12], nil
}

// Detector is the detector of the operator's first instance.
func (o *Operator) Detector() *Detector { return o.lanes[0].det }

// Instances is how many instances of the model the operator runs side by
// side, and the intra-op threads of each.
func (o *Operator) Instances() (n, threads int) { return len(o.lanes), o.threads }

// Model is the model name and version the operator writes into each Detections.
func (o *Operator) Model() (name, version string) { return o.model, o.version }

// MaxBatch implements operators.BatchLimiter: the runtime never passes more
// than MaxRecords frames to one Process call.
func (o *Operator) MaxBatch() int {
	if o.cfg.MaxRecords == 0 {
		return DefaultMaxRecords
	}
	return o.cfg.MaxRecords
}

// BatchWait implements operators.BatchFiller.
func (o *Operator) BatchWait() time.Duration {
	switch {
	case o.cfg.BatchWait == 0:
		return DefaultBatchWait
	case o.cfg.BatchWait < 0:
		return 0
	}
	return o.cfg.BatchWait
}

// Close stops the preparing goroutines and frees the model's instances.
func (o *Operator) Close() error {
	if o.closed {
		return nil
	}
	o.closed = true
	var errs []error
	for _, l := range o.lanes {
		close(l.jobs)
		for _, b := range l.batches {
			b.Close()
		}
		errs = append(errs, l.det.Close())
	}
	return errors.Join(errs...)
}

// pending is one prepared frame waiting for inference: the record's place in
// the call's batch, and what its Detections repeats of the frame.
type pending struct {
	index         int
	frame         schemas.Frame // without its image
	width, height int
}

// prepared is one chunk of records made ready for inference.
type prepared struct {
	batch  *Batch
	frames []pending // in the batch's order
	took   time.Duration
}

// prepareJob asks the preparing goroutine for one chunk.
type prepareJob struct {
	recs    []operators.Record
	results []operators.Result // indexed like recs
	batch   *Batch
	done    chan<- prepared
}

// prepareLoop is the preparing goroutine: it turns chunks of records into
// prepared batches, in order.
func (l *lane) prepareLoop(dec *FrameDecoder) {
	defer dec.Close()
	for j := range l.jobs {
		j.done <- l.prepare(dec, j.recs, j.results, j.batch)
	}
}

// Process implements operators.Operator. The records are shared out among
// the instances in contiguous runs; each instance takes its run through
// ONNX Runtime one model batch (max_batch) at a time, while its preparing
// goroutine unmarshals, decodes and preprocesses the next batch.
func (o *Operator) Process(ctx context.Context, batch []operators.Record) ([]operators.Result, error) {
	if o.closed {
		return nil, errors.New("detect: operator is closed")
	}
	results := make([]operators.Result, len(batch))
	if len(o.lanes) == 1 {
		return results, o.lanes[0].process(ctx, batch, results)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		wg       sync.WaitGroup
		panicked atomic.Pointer[operators.PanicError]
	)
	per := (len(batch) + len(o.lanes) - 1) / len(o.lanes)
	share := chunks(len(batch), per, per)
	for i := 0; i+1 < len(share); i++ {
		lo, hi := share[i], share[i+1]
		wg.Go(func() {
			// A panic here is out of the runtime's Recover: it is raised
			// again on the calling goroutine, after every instance stopped.
			defer func() {
				if v := recover(); v != nil {
					panicked.CompareAndSwap(nil, &operators.PanicError{Value: v, Stack: debug.Stack()})
					cancel(errInstancePanicked)
				}
			}()
			if err := o.lanes[i].process(ctx, batch[lo:hi], results[lo:hi]); err != nil {
				cancel(err)
			}
		})
	}
	wg.Wait()
	if p := panicked.Load(); p != nil {
		panic(p)
	}
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	return results, nil
}

// errInstancePanicked stops the other instances when one panicked.
var errInstancePanicked = errors.New("detect: another instance panicked")

// process detects recs on l, writing results (indexed like recs).
func (l *lane) process(ctx context.Context, batch []operators.Record, results []operators.Result) error {
	bounds := chunks(len(batch), l.det.BatchSize(), l.firstChunk())
	// inflight are the chunks submitted and not yet received. However Process
	// ends (an error, a panic the middleware recovers), they are waited for
	// and both batches emptied before it returns, so the preparing goroutine
	// never writes into a Batch the next call uses.
	var inflight []chan prepared
	defer func() {
		for _, ch := range inflight {
			<-ch
		}
		for _, b := range l.batches {
			b.Reset()
		}
	}()
	submit := func(k int) {
		if k+1 >= len(bounds) {
			return
		}
		lo, hi := bounds[k], bounds[k+1]
		done := make(chan prepared, 1)
		l.jobs <- prepareJob{batch[lo:hi], results[lo:hi], l.batches[k%2], done}
		inflight = append(inflight, done)
	}
	submit(0)
	for k := 0; k+1 < len(bounds); k++ {
		submit(k + 1)
		p := <-inflight[0]
		inflight = inflight[1:]
		err := ctx.Err()
		if err == nil {
			err = l.detect(ctx, p, results[bounds[k]:]) // Infer empties the batch
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// firstChunk is the size of a call's first chunk, whose preparation nothing
// hides. On the CPU, a single-threaded instance (the default) takes the same
// time per frame whatever the batch (NanoDet-g: 40.6 ms at 1, 2 and 4), so
// the first chunk is one frame and the wait is one frame's decoding; on a
// GPU, or with a model of fixed batch, a small run costs nearly a full one
// and it is a full batch. (With two threads a run of one frame costs 20 %
// more per frame than a run of four: one frame of the call.)
func (l *lane) firstChunk() int {
	if l.det.info.Provider == CPU && !l.det.fixed {
		return 1
	}
	return l.det.BatchSize()
}

// chunks splits n records into runs of at most size, the first of at most
// first, and returns the runs' bounds: run k is [b[k], b[k+1]).
func chunks(n, size, first int) []int {
	b := []int{0}
	if n == 0 {
		return b
	}
	lo := min(first, n)
	b = append(b, lo)
	for lo < n {
		lo = min(lo+size, n)
		b = append(b, lo)
	}
	return b
}

// prepare unmarshals, decodes and preprocesses a chunk of records into b,
// skipping frames too old and writing permanent failures into
// results[0:len(recs)].
func (l *lane) prepare(dec *FrameDecoder, recs []operators.Record, results []operators.Result, b *Batch) prepared {
	p := prepared{batch: b}
	start := time.Now()
	now := l.op.now()
	for i, r := range recs {
		f, w, h, err := l.prepareOne(dec, r, now, b)
		switch {
		case err != nil:
			results[i].Err = operators.Permanent(err)
		case f != nil:
			p.frames = append(p.frames, pending{index: i, frame: *f, width: w, height: h})
		}
	}
	p.took = time.Since(start)
	return p
}

// prepareOne prepares one record into b and returns its frame (without the
// image) and full size, or a nil frame when it is too old. This runs on the
// preparing goroutine, where the runtime's Recover cannot reach: a panic is
// made the record's error here, so that a bad frame cannot stop the process.
func (l *lane) prepareOne(dec *FrameDecoder, r operators.Record, now time.Time, b *Batch) (f *schemas.Frame, w, h int, err error) {
	defer func() {
		if v := recover(); v != nil {
			f, err = nil, &operators.PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	f = new(schemas.Frame)
	if err := schemas.Unmarshal(r.Value, f); err != nil {
		return nil, 0, 0, fmt.Errorf("detect: not a corb.Frame: %w", err)
	}
	if l.op.cfg.MaxFrameAge > 0 && now.Sub(f.CaptureTime) > l.op.cfg.MaxFrameAge {
		l.op.m.skipped.Inc()
		return nil, 0, 0, nil // consumed, nothing follows
	}
	m, w, h, err := dec.Decode(f, l.det.Needs)
	if err != nil {
		return nil, 0, 0, err
	}
	defer m.Close()
	if err := l.det.Prepare(b, m); err != nil {
		return nil, 0, 0, fmt.Errorf("detect: camera %q seq %d: %w", f.CameraID, f.Seq, err)
	}
	f.Image = nil
	return f, w, h, nil
}

// detect infers a prepared chunk and writes the outputs into results
// (indexed like the chunk's records).
func (l *lane) detect(ctx context.Context, p prepared, results []operators.Result) error {
	if len(p.frames) == 0 {
		return nil
	}
	boxes, t, err := l.det.Infer(ctx, p.batch)
	if err != nil {
		return err
	}
	l.op.m.inference.Observe(t.Inference.Seconds())
	l.op.m.preprocess.Observe(p.took.Seconds())
	l.op.m.batch.Observe(float64(len(p.frames)))
	per := t.Inference / time.Duration(len(p.frames))
	for i := range p.frames {
		results[p.frames[i].index] = l.op.result(&p.frames[i], boxes[i], per)
	}
	return nil
}

// result is the Detections output of one frame.
func (o *Operator) result(p *pending, boxes []schemas.Box, inference time.Duration) operators.Result {
	o.m.perFrame.Observe(float64(len(boxes)))
	d := schemas.Detections{
		CameraID: p.frame.CameraID, FrameSeq: p.frame.Seq, CaptureTime: p.frame.CaptureTime,
		Model: o.model, ModelVersion: o.version,
		FrameWidth: int32(p.width), FrameHeight: int32(p.height),
		Boxes: boxes, InferenceTime: inference.Truncate(time.Microsecond),
	}
	v, err := schemas.Marshal(&d)
	if err != nil {
		// Only a frame with fields the schema refuses (e.g. invalid UTF-8
		// camera id) gets here: retrying cannot fix it.
		return operators.Result{Err: operators.Permanent(fmt.Errorf("detect: encoding detections: %w", err))}
	}
	return operators.Result{Outputs: []operators.Output{{Topic: o.out, Key: []byte(p.frame.CameraID), Value: v}}}
}

// opMetrics are one detect operator's metrics.
type opMetrics struct {
	inference, preprocess, batch, perFrame prometheus.Observer
	skipped                                prometheus.Counter
}

// newOpMetrics registers the detect metrics on reg (once per registry: later
// operators share the vectors) and returns operator name's children.
func newOpMetrics(reg prometheus.Registerer, name string) (opMetrics, error) {
	label := []string{"operator"}
	inference := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "corb_detect_inference_seconds", Help: "ONNX Runtime time of one detect batch.",
		Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
	}, label)
	preprocess := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "corb_detect_preprocess_seconds", Help: "Image decoding, resizing and normalising of one detect batch.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
	}, label)
	batch := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "corb_detect_batch_size", Help: "Frames per detect batch.",
		Buckets: prometheus.ExponentialBuckets(1, 2, 8),
	}, label)
	perFrame := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "corb_detect_detections_per_frame", Help: "Boxes kept per detected frame.",
		Buckets: []float64{0, 1, 2, 3, 5, 8, 13, 21, 34},
	}, label)
	skipped := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "corb_detect_frames_skipped_total", Help: "Frames not detected because they were older than max_frame_age.",
	}, label)
	var err error
	if inference, err = metrics.Register(reg, inference); err != nil {
		return opMetrics{}, err
	}
	if preprocess, err = metrics.Register(reg, preprocess); err != nil {
		return opMetrics{}, err
	}
	if batch, err = metrics.Register(reg, batch); err != nil {
		return opMetrics{}, err
	}
	if perFrame, err = metrics.Register(reg, perFrame); err != nil {
		return opMetrics{}, err
	}
	if skipped, err = metrics.Register(reg, skipped); err != nil {
		return opMetrics{}, err
	}
	return opMetrics{
		inference: inference.WithLabelValues(name), preprocess: preprocess.WithLabelValues(name),
		batch: batch.WithLabelValues(name), perFrame: perFrame.WithLabelValues(name),
		skipped: skipped.WithLabelValues(name),
	}, nil
}
