package detect

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	ort "github.com/yalue/onnxruntime_go"
	"gocv.io/x/gocv"

	"github.com/corb-dev/corb/operators/detect/model"
	"github.com/corb-dev/corb/schemas"
)

// Provider is an ONNX Runtime execution provider.
type Provider string

const (
	CPU      Provider = "cpu"
	CUDA     Provider = "cuda"
	TensorRT Provider = "tensorrt"
)

// ErrProviderUnavailable is returned when the configured execution provider
// (CUDA, TensorRT) cannot be used on this machine and no fallback is set.
var ErrProviderUnavailable = errors.New("execution provider unavailable")

// ErrBadFrame is returned for a frame that cannot be preprocessed (empty, or
// not 1, 3 or 4 channels of 8 bits). Retrying cannot fix it.
var ErrBadFrame = errors.New("bad frame")

// Config configures a Detector. The zero value finds NanoDet-g and ONNX
// Runtime in the cache and detects people on the CPU.
type Config struct {
	// ModelPath is the ONNX model; "" means DefaultModelPath (NanoDet-g).
	ModelPath string
	// Format is the model's layout: "nanodet" (default) or "yolov8" (also YOLO11).
	Format string
	// Classes to keep, as COCO labels or ids; empty means person only.
	Classes []string
	// Threshold is the minimum score; 0 means 0.35.
	Threshold float32
	// IoU is the overlap above which a weaker box of the same class is
	// suppressed; 0 means 0.5.
	IoU float32
	// MaxBatch is the most frames per Run when the model's batch dimension is
	// dynamic; 0 means 8. A model with a fixed batch runs that many at a time.
	MaxBatch int
	// Provider is "cpu" (default), "cuda" or "tensorrt".
	Provider Provider
	// DeviceID is the GPU for cuda and tensorrt.
	DeviceID int
	// Fallback, when "cpu", lets a Detector whose GPU provider is unavailable
	// log the fact and run on the CPU instead of failing.
	Fallback Provider
	// IntraOpThreads for the CPU provider; 0 lets ONNX Runtime choose (one per core).
	IntraOpThreads int
	// Spin lets ONNX Runtime's idle threads busy-wait for the next run. Off by
	// default: on cores shared with frame decoding and other operators the
	// spinning steals more than the latency it saves.
	Spin bool
	// LibraryPath is the ONNX Runtime shared library; "" means $CORB_ORT_LIB,
	// then DefaultLibraryPath.
	LibraryPath string
	// Logger; nil means slog.Default().
	Logger *slog.Logger
}

// Timings are what one Detect call spent in each stage, summed over its runs.
type Timings struct {
	Frames      int           // frames detected
	Runs        int           // ONNX Runtime runs (batches)
	Preprocess  time.Duration // resize, letterbox, normalise into the input tensor
	Inference   time.Duration // ONNX Runtime Run
	Postprocess time.Duration // decode, suppress, map to the frame
}

// Add sums two Timings.
func (t Timings) Add(o Timings) Timings {
	return Timings{t.Frames + o.Frames, t.Runs + o.Runs, t.Preprocess + o.Preprocess,
		t.Inference + o.Inference, t.Postprocess + o.Postprocess}
}

// Info describes the loaded model.
type Info struct {
	ModelPath string
	Format    string
	Provider  Provider // the provider the session actually runs on
	Input     model.Input
	Inputs    []model.TensorInfo
	Outputs   []model.TensorInfo
}

// Detector runs a detection model on frames. It is safe for concurrent use,
// but runs one batch at a time; use one Detector per core budget.
type Detector struct {
	info      Info
	decoder   model.Decoder
	filter    model.ClassFilter
	threshold float32
	iou       float32
	batch     int // frames per Run
	fixed     bool

	mu      sync.Mutex
	session *ort.DynamicAdvancedSession
	own     *Batch // Detect's
	// full are the outputs of a full batch, allocated once (when the model's
	// output shapes are known but for the batch): ONNX Runtime writes into them
	// instead of allocating ~1.5 MB per frame every run.
	full []ort.Value
}

// Batch is up to one model batch of frames, preprocessed into an input tensor
// and waiting for Infer. Prepare fills it and Infer empties it. Two Batches
// let one batch be prepared while the other is inferred; one Batch must not
// be used by two goroutines at once.
type Batch struct {
	input   []float32
	geoms   []model.Geometry
	scratch [3]gocv.Mat // resized, padded, converted
}

// NewBatch returns an empty Batch for d. Close it when done.
func (d *Detector) NewBatch() *Batch {
	b := &Batch{input: make([]float32, d.batch*3*d.info.Input.Width*d.info.Input.Height)}
	for i := range b.scratch {
		b.scratch[i] = gocv.NewMat()
	}
	return b
}

// Reset empties b for reuse.
func (b *Batch) Reset() { b.geoms = b.geoms[:0] }

// Close frees b's scratch images.
func (b *Batch) Close() {
	for i := range b.scratch {
		b.scratch[i].Close()
	}
}

// New loads the model and checks that its shapes fit the format.
func New(ctx context.Context, cfg Config) (*Detector, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	format, err := model.Lookup(cfg.Format)
	if err != nil {
		return nil, err
	}
	filter, err := model.ParseClasses(cfg.Classes)
	if err != nil {
		return nil, err
	}
	d := &Detector{filter: filter, threshold: cfg.Threshold, iou: cfg.IoU}
	if d.threshold == 0 {
		d.threshold = 0.35
	}
	if d.iou == 0 {
		d.iou = 0.5
	}
	if d.threshold < 0 || d.threshold > 1 || d.iou < 0 || d.iou > 1 {
		return nil, fmt.Errorf("detect: threshold %v and IoU %v must be within 0..1", d.threshold, d.iou)
	}
	if cfg.MaxBatch < 0 {
		return nil, fmt.Errorf("detect: MaxBatch %d is negative", cfg.MaxBatch)
	}
	lib, err := LibraryPath(cfg.LibraryPath)
	if err != nil {
		return nil, err
	}
	path, err := ModelPath(cfg.ModelPath)
	if err != nil {
		return nil, err
	}
	if err := initEnvironment(lib); err != nil {
		return nil, err
	}
	ins, outs, err := ort.GetInputOutputInfo(path)
	if err != nil {
		return nil, fmt.Errorf("detect: reading model %s: %w", path, err)
	}
	if len(ins) != 1 || ins[0].OrtValueType != ort.ONNXTypeTensor || ins[0].DataType != ort.TensorElementDataTypeFloat {
		return nil, fmt.Errorf("%w: model %s has inputs %v; want one float32 image tensor", model.ErrShapeMismatch, path, ins)
	}
	info := Info{ModelPath: path, Format: format.Name()}
	info.Inputs = []model.TensorInfo{{Name: ins[0].Name, Shape: ins[0].Dimensions}}
	for _, o := range outs {
		info.Outputs = append(info.Outputs, model.TensorInfo{Name: o.Name, Shape: o.Dimensions})
	}
	in, dec, err := format.Bind(info.Inputs[0], info.Outputs)
	if err != nil {
		return nil, fmt.Errorf("detect: model %s: %w", path, err)
	}
	info.Input, d.decoder = in, dec
	switch {
	case in.Batch > 0:
		d.batch, d.fixed = int(in.Batch), true
	case cfg.MaxBatch > 0:
		d.batch = cfg.MaxBatch
	default:
		d.batch = 8
	}
	names := make([]string, len(outs))
	for i, o := range outs {
		names[i] = o.Name
	}
	provider := cfg.Provider
	if provider == "" {
		provider = CPU
	}
	d.session, err = newSession(path, ins[0].Name, names, provider, cfg)
	if err != nil && errors.Is(err, ErrProviderUnavailable) && cfg.Fallback == CPU && provider != CPU {
		log.Warn("detect: execution provider unavailable, falling back to cpu",
			"provider", string(provider), "model", path, "error", err)
		provider = CPU
		d.session, err = newSession(path, ins[0].Name, names, CPU, cfg)
	}
	if err != nil {
		return nil, err
	}
	info.Provider = provider
	d.info = info
	d.own = d.NewBatch()
	if d.full, err = fullOutputs(info.Outputs, d.batch); err != nil {
		d.Close()
		return nil, err
	}
	log.Info("detect: model loaded", "model", path, "format", info.Format, "provider", string(provider),
		"input", model.ShapeString(info.Inputs[0].Shape), "batch", d.batch, "classes", len(filter.IDs()))
	return d, nil
}

// newSession opens an ONNX Runtime session on provider.
func newSession(path, input string, outputs []string, provider Provider, cfg Config) (*ort.DynamicAdvancedSession, error) {
	opts, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("detect: session options: %w", err)
	}
	defer opts.Destroy()
	if cfg.IntraOpThreads > 0 {
		if err := opts.SetIntraOpNumThreads(cfg.IntraOpThreads); err != nil {
			return nil, fmt.Errorf("detect: intra-op threads: %w", err)
		}
	}
	spin := "0"
	if cfg.Spin {
		spin = "1"
	}
	if err := opts.AddSessionConfigEntry("session.intra_op.allow_spinning", spin); err != nil {
		return nil, fmt.Errorf("detect: spinning: %w", err)
	}
	unavailable := func(err error) error {
		return fmt.Errorf("%w: %s (device %d): %w", ErrProviderUnavailable, provider, cfg.DeviceID, err)
	}
	device := map[string]string{"device_id": strconv.Itoa(cfg.DeviceID)}
	switch provider {
	case CPU:
	case CUDA:
		co, err := ort.NewCUDAProviderOptions()
		if err != nil {
			return nil, unavailable(err)
		}
		defer co.Destroy()
		if err := co.Update(device); err != nil {
			return nil, unavailable(err)
		}
		if err := opts.AppendExecutionProviderCUDA(co); err != nil {
			return nil, unavailable(err)
		}
	case TensorRT:
		to, err := ort.NewTensorRTProviderOptions()
		if err != nil {
			return nil, unavailable(err)
		}
		defer to.Destroy()
		if err := to.Update(device); err != nil {
			return nil, unavailable(err)
		}
		if err := opts.AppendExecutionProviderTensorRT(to); err != nil {
			return nil, unavailable(err)
		}
	default:
		return nil, fmt.Errorf("detect: unknown execution provider %q (want cpu, cuda or tensorrt)", provider)
	}
	s, err := ort.NewDynamicAdvancedSession(path, []string{input}, outputs, opts)
	if err != nil {
		if provider != CPU && isProviderFailure(err) {
			return nil, unavailable(err)
		}
		return nil, fmt.Errorf("detect: opening %s on %s: %w", path, provider, err)
	}
	return s, nil
}

// isProviderFailure recognises a session that failed because its GPU
// provider could not start, rather than because of the model.
func isProviderFailure(err error) bool {
	m := strings.ToLower(err.Error())
	for _, s := range []string{"cuda", "tensorrt", "provider", "gpu", "libcu", "nvinfer"} {
		if strings.Contains(m, s) {
			return true
		}
	}
	return false
}

// fullOutputs allocates float32 output tensors for a batch of n, or returns
// nil when a dimension besides the batch is not fixed (ONNX Runtime then
// allocates the outputs of each run).
func fullOutputs(outs []model.TensorInfo, n int) ([]ort.Value, error) {
	var vals []ort.Value
	for _, o := range outs {
		shape := ort.NewShape(o.Shape...)
		for i, dim := range shape {
			if i == 0 {
				shape[0] = int64(n)
			} else if dim <= 0 {
				for _, v := range vals {
					v.Destroy()
				}
				return nil, nil
			}
		}
		t, err := ort.NewEmptyTensor[float32](shape)
		if err != nil {
			for _, v := range vals {
				v.Destroy()
			}
			return nil, fmt.Errorf("detect: output tensor %q: %w", o.Name, err)
		}
		vals = append(vals, t)
	}
	return vals, nil
}

// Info describes the loaded model and the provider it runs on.
func (d *Detector) Info() Info { return d.info }

// Close frees the session. The process-wide ONNX Runtime environment stays.
func (d *Detector) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.session == nil {
		return nil
	}
	d.own.Close()
	for _, o := range d.full {
		o.Destroy()
	}
	err := d.session.Destroy()
	d.session = nil
	return err
}

// BatchSize is the most frames one Batch holds (one ONNX Runtime run).
func (d *Detector) BatchSize() int { return d.batch }

// Needs is the size a w×h frame is resized to in the model input: a frame
// decoded at least that large loses nothing to the resize.
func (d *Detector) Needs(w, h int) (int, int) {
	in := d.info.Input
	g, err := model.NewGeometry(in.Resize, w, h, in.Width, in.Height)
	if err != nil {
		return w, h // Prepare reports it
	}
	return g.ResizedW, g.ResizedH
}

// Detect finds objects in frames (8-bit BGR, grey or BGRA Mats of any size),
// in batches as large as the model allows, and returns for each frame its
// boxes, best first, normalised to that frame. An unusable frame gives an
// error wrapping ErrBadFrame; the frames are not modified.
func (d *Detector) Detect(ctx context.Context, frames []gocv.Mat) ([][]schemas.Box, Timings, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var total Timings
	if d.session == nil {
		return nil, total, errors.New("detect: Detector is closed")
	}
	out := make([][]schemas.Box, 0, len(frames))
	for start := 0; start < len(frames); start += d.batch {
		if err := ctx.Err(); err != nil {
			return nil, total, err
		}
		d.own.Reset()
		begin := time.Now()
		for i, f := range frames[start:min(start+d.batch, len(frames))] {
			if err := d.Prepare(d.own, f); err != nil {
				return nil, total, fmt.Errorf("frame %d: %w", start+i, err)
			}
		}
		total.Preprocess += time.Since(begin)
		boxes, t, err := d.infer(d.own)
		total = total.Add(t)
		if err != nil {
			return nil, total, err
		}
		out = append(out, boxes...)
	}
	return out, total, nil
}

// Prepare preprocesses frame (an 8-bit BGR, grey or BGRA Mat of any size)
// into b's next slot. An unusable frame gives an error wrapping ErrBadFrame
// and leaves b as it was. Prepare does not hold the session: it may run
// while another Batch is inferred.
func (d *Detector) Prepare(b *Batch, frame gocv.Mat) error {
	n := len(b.geoms)
	if n == d.batch {
		return fmt.Errorf("detect: batch is full (%d frames)", n)
	}
	plane := 3 * d.info.Input.Width * d.info.Input.Height
	g, err := d.preprocess(frame, b.input[n*plane:(n+1)*plane], &b.scratch)
	if err != nil {
		return err
	}
	b.geoms = append(b.geoms, g)
	return nil
}

// Infer runs the model on b's frames and returns each one's boxes, in the
// order they were prepared, normalised to its frame. b is emptied.
func (d *Detector) Infer(ctx context.Context, b *Batch) ([][]schemas.Box, Timings, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.session == nil {
		return nil, Timings{}, errors.New("detect: Detector is closed")
	}
	if err := ctx.Err(); err != nil {
		return nil, Timings{}, err
	}
	return d.infer(b)
}

// infer runs one prepared batch and empties it; d.mu is held.
func (d *Detector) infer(b *Batch) ([][]schemas.Box, Timings, error) {
	frames := len(b.geoms)
	t := Timings{Frames: frames, Runs: 1}
	defer b.Reset()
	if frames == 0 {
		return nil, Timings{}, nil
	}
	in := d.info.Input
	n := frames
	if d.fixed {
		n = d.batch
	}
	plane := 3 * in.Width * in.Height
	clear(b.input[frames*plane : n*plane]) // unused slots of a fixed batch

	start := time.Now()
	shape := ort.NewShape(int64(n), 3, int64(in.Height), int64(in.Width))
	tensor, err := ort.NewTensor(shape, b.input[:n*plane])
	if err != nil {
		return nil, t, fmt.Errorf("detect: input tensor: %w", err)
	}
	defer tensor.Destroy()
	outputs := make([]ort.Value, len(d.info.Outputs))
	if n == d.batch && d.full != nil {
		copy(outputs, d.full)
	} else {
		defer func() {
			for _, o := range outputs {
				if o != nil {
					o.Destroy()
				}
			}
		}()
	}
	if err := d.session.Run([]ort.Value{tensor}, outputs); err != nil {
		return nil, t, fmt.Errorf("detect: run: %w", err)
	}
	t.Inference = time.Since(start)

	start = time.Now()
	tensors := make([]model.Tensor, len(outputs))
	for i, o := range outputs {
		ft, ok := o.(*ort.Tensor[float32])
		if !ok {
			return nil, t, fmt.Errorf("%w: output %q is %T, want a float32 tensor", model.ErrShapeMismatch, d.info.Outputs[i].Name, o)
		}
		tensors[i] = model.Tensor{Shape: ft.GetShape(), Data: ft.GetData()}
	}
	boxes := make([][]schemas.Box, frames)
	for i := range frames {
		cands, err := d.decoder.Decode(tensors, i, d.threshold, d.filter)
		if err != nil {
			return nil, t, fmt.Errorf("detect: %w", err)
		}
		boxes[i] = model.ToBoxes(model.NMS(cands, d.iou), b.geoms[i])
	}
	t.Postprocess = time.Since(start)
	return boxes, t, nil
}
