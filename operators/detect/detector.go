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
	input   []float32
	scratch [3]gocv.Mat // resized, padded, converted
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
	d.input = make([]float32, d.batch*3*in.Width*in.Height)
	for i := range d.scratch {
		d.scratch[i] = gocv.NewMat()
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

// Info describes the loaded model and the provider it runs on.
func (d *Detector) Info() Info { return d.info }

// Close frees the session. The process-wide ONNX Runtime environment stays.
func (d *Detector) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.session == nil {
		return nil
	}
	for i := range d.scratch {
		d.scratch[i].Close()
	}
	err := d.session.Destroy()
	d.session = nil
	return err
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
		chunk := frames[start:min(start+d.batch, len(frames))]
		boxes, t, err := d.run(chunk)
		total = total.Add(t)
		if err != nil {
			return nil, total, err
		}
		out = append(out, boxes...)
	}
	return out, total, nil
}

// run detects one batch of at most d.batch frames.
func (d *Detector) run(frames []gocv.Mat) ([][]schemas.Box, Timings, error) {
	t := Timings{Frames: len(frames), Runs: 1}
	in := d.info.Input
	n := len(frames)
	if d.fixed {
		n = d.batch
	}
	plane := 3 * in.Width * in.Height
	geoms := make([]model.Geometry, len(frames))
	start := time.Now()
	for i, f := range frames {
		g, err := d.preprocess(f, d.input[i*plane:(i+1)*plane])
		if err != nil {
			return nil, t, fmt.Errorf("frame %d: %w", i, err)
		}
		geoms[i] = g
	}
	clear(d.input[len(frames)*plane : n*plane]) // unused slots of a fixed batch
	t.Preprocess = time.Since(start)

	start = time.Now()
	shape := ort.NewShape(int64(n), 3, int64(in.Height), int64(in.Width))
	tensor, err := ort.NewTensor(shape, d.input[:n*plane])
	if err != nil {
		return nil, t, fmt.Errorf("detect: input tensor: %w", err)
	}
	defer tensor.Destroy()
	outputs := make([]ort.Value, len(d.info.Outputs))
	defer func() {
		for _, o := range outputs {
			if o != nil {
				o.Destroy()
			}
		}
	}()
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
	boxes := make([][]schemas.Box, len(frames))
	for i := range frames {
		cands, err := d.decoder.Decode(tensors, i, d.threshold, d.filter)
		if err != nil {
			return nil, t, fmt.Errorf("detect: %w", err)
		}
		boxes[i] = model.ToBoxes(model.NMS(cands, d.iou), geoms[i])
	}
	t.Postprocess = time.Since(start)
	return boxes, t, nil
}
