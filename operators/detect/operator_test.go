package detect

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"gocv.io/x/gocv"

	"github.com/corb-dev/corb/operators"
	"github.com/corb-dev/corb/operators/detect/detecttest"
	"github.com/corb-dev/corb/schemas"
)

// newTestOperator loads NanoDet-g as a detect operator with a fixed clock.
func newTestOperator(t testing.TB, cfg OperatorConfig, now time.Time, reg prometheus.Registerer) *Operator {
	t.Helper()
	lib := needLibrary(t)
	detecttest.NeedFile(t, DefaultModelPath(), "make model (deploy/model)")
	op, err := NewOperator(context.Background(), cfg, OperatorOptions{
		Name: "detect-test", Output: "detections", Registry: reg, LibraryPath: lib, Logger: quiet(),
		Now: func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := op.Close(); err != nil {
			t.Error(err)
		}
	})
	return op
}

// encodeImage reads a cached sample image and encodes it as enc.
func encodeImage(t testing.TB, name string, enc schemas.FrameEncoding) (img []byte, w, h int) {
	t.Helper()
	m := readFrame(t, detecttest.NeedFile(t, filepath.Join(CacheDir(), "media", name), "deploy/media/fetch.sh"), 0)
	defer m.Close()
	switch enc {
	case schemas.EncodingRawBGR:
		return append([]byte(nil), m.ToBytes()...), m.Cols(), m.Rows()
	case schemas.EncodingPNG, schemas.EncodingJPEG:
		ext := gocv.JPEGFileExt
		if enc == schemas.EncodingPNG {
			ext = gocv.PNGFileExt
		}
		buf, err := gocv.IMEncode(ext, m)
		if err != nil {
			t.Fatal(err)
		}
		defer buf.Close()
		return append([]byte(nil), buf.GetBytes()...), m.Cols(), m.Rows()
	}
	t.Fatalf("unknown encoding %s", enc)
	return nil, 0, 0
}

func frameRecord(t testing.TB, f *schemas.Frame) operators.Record {
	t.Helper()
	v, err := schemas.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	return operators.Record{Topic: "frames", Key: []byte(f.CameraID), Value: v}
}

func TestOperatorProcess(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	reg := prometheus.NewRegistry()
	op := newTestOperator(t, OperatorConfig{MaxBatch: 2, MaxFrameAge: 5 * time.Second, Instances: 1, Threads: 2}, now, reg)

	person, pw, ph := encodeImage(t, "person.jpg", schemas.EncodingJPEG)
	dog, dw, dh := encodeImage(t, "dog.jpg", schemas.EncodingJPEG)
	png, _, _ := encodeImage(t, "person.jpg", schemas.EncodingPNG)
	raw, _, _ := encodeImage(t, "person.jpg", schemas.EncodingRawBGR)
	fresh := now.Add(-time.Second)
	command, err := schemas.Marshal(&schemas.Command{ID: "c1", CommandType: "status", IssuedAt: now})
	if err != nil {
		t.Fatal(err)
	}

	type want struct {
		err     string // substring of a permanent error; "" means success
		skipped bool
		people  int // at least this many person boxes (-1: exactly none)
		w, h    int32
	}
	tests := []struct {
		name string
		rec  operators.Record
		want want
	}{
		{"person jpeg", frameRecord(t, &schemas.Frame{CameraID: "cam-a", Seq: 0, CaptureTime: fresh, Encoding: schemas.EncodingJPEG, Image: person}),
			want{people: 1, w: int32(pw), h: int32(ph)}},
		{"dog jpeg", frameRecord(t, &schemas.Frame{CameraID: "cam-b", Seq: 1, CaptureTime: fresh, Encoding: schemas.EncodingJPEG, Image: dog}),
			want{people: -1, w: int32(dw), h: int32(dh)}},
		{"corrupt jpeg", frameRecord(t, &schemas.Frame{CameraID: "cam-a", Seq: 2, CaptureTime: fresh, Encoding: schemas.EncodingJPEG, Image: person[:64]}),
			want{err: "JPEG is truncated"}},
		{"garbage between jpeg markers", frameRecord(t, &schemas.Frame{CameraID: "cam-a", Seq: 20, CaptureTime: fresh, Encoding: schemas.EncodingJPEG, Image: []byte("\xff\xd8 not a jpeg body \xff\xd9")}),
			want{err: "not a decodable JPEG"}},
		{"wrong schema", operators.Record{Topic: "frames", Key: []byte("c1"), Value: command},
			want{err: "not a corb.Frame"}},
		{"not avro", operators.Record{Topic: "frames", Value: []byte("garbage")},
			want{err: "not a corb.Frame"}},
		{"too old", frameRecord(t, &schemas.Frame{CameraID: "cam-a", Seq: 3, CaptureTime: now.Add(-6 * time.Second), Encoding: schemas.EncodingJPEG, Image: person}),
			want{skipped: true}},
		{"person png", frameRecord(t, &schemas.Frame{CameraID: "cam-a", Seq: 4, CaptureTime: fresh, Encoding: schemas.EncodingPNG, Image: png}),
			want{people: 1, w: int32(pw), h: int32(ph)}},
		{"person raw", frameRecord(t, &schemas.Frame{CameraID: "cam-a", Seq: 5, CaptureTime: fresh, Width: int32(pw), Height: int32(ph), Encoding: schemas.EncodingRawBGR, Image: raw}),
			want{people: 1, w: int32(pw), h: int32(ph)}},
	}
	batch := make([]operators.Record, len(tests))
	for i, tt := range tests {
		batch[i] = tt.rec
	}
	results, err := op.Process(context.Background(), batch)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != len(batch) {
		t.Fatalf("%d results for %d records", len(results), len(batch))
	}
	name, version := op.Model()
	if name != "nanodet-g-416" || !strings.HasPrefix(version, "sha256:") {
		t.Fatalf("model %q version %q", name, version)
	}
	var detected int
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := results[i]
			switch {
			case tt.want.err != "":
				if !operators.IsPermanent(res.Err) || !strings.Contains(res.Err.Error(), tt.want.err) {
					t.Fatalf("want a permanent error containing %q, got %v", tt.want.err, res.Err)
				}
				return
			case res.Err != nil:
				t.Fatalf("unexpected error %v", res.Err)
			case tt.want.skipped:
				if len(res.Outputs) != 0 {
					t.Fatalf("a too-old frame gave %d outputs", len(res.Outputs))
				}
				return
			}
			if len(res.Outputs) != 1 {
				t.Fatalf("%d outputs, want 1", len(res.Outputs))
			}
			detected++
			out := res.Outputs[0]
			var in schemas.Frame
			if err := schemas.Unmarshal(tt.rec.Value, &in); err != nil {
				t.Fatal(err)
			}
			var det schemas.Detections
			if err := schemas.Unmarshal(out.Value, &det); err != nil {
				t.Fatal(err)
			}
			if out.Topic != "detections" || string(out.Key) != in.CameraID {
				t.Fatalf("output topic %q key %q", out.Topic, out.Key)
			}
			if det.CameraID != in.CameraID || det.FrameSeq != in.Seq || !det.CaptureTime.Equal(in.CaptureTime) ||
				det.Model != name || det.ModelVersion != version || det.FrameWidth != tt.want.w || det.FrameHeight != tt.want.h {
				t.Fatalf("detections header %+v does not match frame %s/%d", det, in.CameraID, in.Seq)
			}
			if det.InferenceTime <= 0 {
				t.Fatalf("inference time %v", det.InferenceTime)
			}
			people := 0
			for _, b := range det.Boxes {
				if b.Label != "person" || b.ClassID != 0 {
					t.Fatalf("box %+v is not a person (classes default to person)", b)
				}
				if b.X1 < 0 || b.Y1 < 0 || b.X2 > 1 || b.Y2 > 1 || b.X1 >= b.X2 || b.Y1 >= b.Y2 {
					t.Fatalf("box %+v is not normalised", b)
				}
				people++
			}
			if (tt.want.people < 0 && people != 0) || people < tt.want.people {
				t.Fatalf("%d people, want %d", people, tt.want.people)
			}
		})
	}

	mf := gather(t, reg)
	if got := mf.value("corb_detect_frames_skipped_total"); got != 1 {
		t.Errorf("frames skipped = %v, want 1", got)
	}
	if got := mf.count("corb_detect_detections_per_frame"); got != uint64(detected) {
		t.Errorf("detections-per-frame observations = %d, want %d", got, detected)
	}
	// Chunks of 2 records: [person, dog] [corrupt, garbage] [wrong schema, not avro] [too old, png] [raw]:
	// three detect batches of 2, 1 and 1 frames; chunks without a frame run no batch.
	if n, sum := mf.count("corb_detect_batch_size"), mf.sum("corb_detect_batch_size"); n != 3 || sum != 4 {
		t.Errorf("batches = %d holding %v frames, want 3 holding 4", n, sum)
	}
	if mf.count("corb_detect_inference_seconds") != 3 || mf.count("corb_detect_preprocess_seconds") != 3 {
		t.Errorf("inference/preprocess observations: %d/%d, want 3 each",
			mf.count("corb_detect_inference_seconds"), mf.count("corb_detect_preprocess_seconds"))
	}
}

func TestOperatorNeverSkipsWithoutMaxFrameAge(t *testing.T) {
	op := newTestOperator(t, OperatorConfig{}, time.Now(), nil)
	img, _, _ := encodeImage(t, "kite.jpg", schemas.EncodingJPEG)
	rec := frameRecord(t, &schemas.Frame{CameraID: "cam", Seq: 7, CaptureTime: time.UnixMilli(1), Encoding: schemas.EncodingJPEG, Image: img})
	res, err := op.Process(context.Background(), []operators.Record{rec})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Err != nil || len(res[0].Outputs) != 1 {
		t.Fatalf("a 1970 frame with max_frame_age 0 gave %+v, want one output", res[0])
	}
}

func TestOperatorContextCancelled(t *testing.T) {
	op := newTestOperator(t, OperatorConfig{}, time.Now(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := op.Process(ctx, []operators.Record{{Value: []byte("x")}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled (a transient batch failure)", err)
	}
}

func TestOperatorMetricsShareARegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	a, err := newOpMetrics(reg, "a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := newOpMetrics(reg, "b")
	if err != nil {
		t.Fatal(err)
	}
	a.skipped.Inc()
	b.skipped.Add(2)
	mf := gather(t, reg)
	if got := mf.value("corb_detect_frames_skipped_total"); got != 3 {
		t.Fatalf("skipped over both operators = %v, want 3", got)
	}
	if n := len(mf["corb_detect_frames_skipped_total"].GetMetric()); n != 2 {
		t.Fatalf("%d label sets, want one per operator", n)
	}
}

func TestOperatorConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  OperatorConfig
		want string
	}{
		{"zero", OperatorConfig{}, ""},
		{"full", OperatorConfig{Provider: CUDA, Fallback: CPU, MaxBatch: 4, Threads: 2, Threshold: 0.3, IoU: 0.4, MaxFrameAge: time.Second}, ""},
		{"negative batch", OperatorConfig{MaxBatch: -1}, "max_batch"},
		{"negative threads", OperatorConfig{Threads: -1}, "threads"},
		{"negative age", OperatorConfig{MaxFrameAge: -time.Second}, "max_frame_age"},
		{"provider", OperatorConfig{Provider: "tpu"}, "provider"},
		{"fallback", OperatorConfig{Fallback: CUDA}, "fallback"},
		{"threshold", OperatorConfig{Threshold: 1.5}, "threshold"},
		{"iou", OperatorConfig{IoU: -0.1}, "iou"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error about %s", err, tt.want)
			}
		})
	}
}

func TestDecodeFrame(t *testing.T) {
	jpeg, w, h := encodeImage(t, "dog.jpg", schemas.EncodingJPEG)
	png, _, _ := encodeImage(t, "dog.jpg", schemas.EncodingPNG)
	tests := []struct {
		name string
		f    schemas.Frame
		ok   bool
	}{
		{"jpeg", schemas.Frame{Encoding: schemas.EncodingJPEG, Image: jpeg}, true},
		{"jpeg labelled png still decodes", schemas.Frame{Encoding: schemas.EncodingPNG, Image: jpeg}, true},
		{"png labelled jpeg", schemas.Frame{Encoding: schemas.EncodingJPEG, Image: png}, false},
		{"empty", schemas.Frame{Encoding: schemas.EncodingJPEG}, false},
		{"truncated", schemas.Frame{Encoding: schemas.EncodingJPEG, Image: jpeg[:20]}, false},
		{"half a jpeg", schemas.Frame{Encoding: schemas.EncodingJPEG, Image: jpeg[:len(jpeg)/2]}, false},
		{"jpeg with zero padding", schemas.Frame{Encoding: schemas.EncodingJPEG, Image: append(append([]byte(nil), jpeg...), 0, 0, 0)}, true},
		{"raw", schemas.Frame{Encoding: schemas.EncodingRawBGR, Width: 2, Height: 2, Image: make([]byte, 12)}, true},
		{"raw short", schemas.Frame{Encoding: schemas.EncodingRawBGR, Width: 2, Height: 2, Image: make([]byte, 11)}, false},
		{"raw no size", schemas.Frame{Encoding: schemas.EncodingRawBGR, Image: make([]byte, 12)}, false},
		{"unknown encoding", schemas.Frame{Encoding: "GIF", Image: jpeg}, false},
	}
	dec := newFrameDecoder(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, fw, fh, err := dec.Decode(&tt.f, nil)
			if !tt.ok {
				if !errors.Is(err, ErrUndecodable) {
					t.Fatalf("got %v, want ErrUndecodable", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if m.Type() != gocv.MatTypeCV8UC3 {
				t.Fatalf("Mat type %v, want 8-bit BGR", m.Type())
			}
			if m.Cols() != fw || m.Rows() != fh {
				t.Fatalf("decoded %dx%d, reported %dx%d", m.Cols(), m.Rows(), fw, fh)
			}
			if tt.f.Encoding == schemas.EncodingJPEG && (fw != w || fh != h) {
				t.Fatalf("decoded %dx%d, want %dx%d", fw, fh, w, h)
			}
		})
	}
}

// newFrameDecoder is a FrameDecoder closed when the test ends.
func newFrameDecoder(t testing.TB) *FrameDecoder {
	t.Helper()
	d, err := NewFrameDecoder()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// FuzzDecodeFrame: no input crashes FrameDecoder.Decode, and what decodes is
// 8-bit BGR, no larger than the size it reports.
func FuzzDecodeFrame(f *testing.F) {
	f.Add("JPEG", int32(0), int32(0), []byte{0xff, 0xd8, 0xff, 0xe0, 0, 0x10})
	f.Add("PNG", int32(0), int32(0), []byte("\x89PNG\r\n\x1a\n"))
	f.Add("RAW_BGR", int32(1), int32(1), []byte{1, 2, 3})
	f.Add("RAW_BGR", int32(-1), int32(-3), []byte{1, 2, 3})
	dec := newFrameDecoder(f)
	half := func(w, h int) (int, int) { return w / 2, h / 2 }
	f.Fuzz(func(t *testing.T, enc string, w, h int32, img []byte) {
		m, fw, fh, err := dec.Decode(&schemas.Frame{Encoding: schemas.FrameEncoding(enc), Width: w, Height: h, Image: img}, half)
		if err != nil {
			if !errors.Is(err, ErrUndecodable) {
				t.Fatalf("error %v does not wrap ErrUndecodable", err)
			}
			return
		}
		defer m.Close()
		if m.Empty() || m.Type() != gocv.MatTypeCV8UC3 || m.Cols() > fw || m.Rows() > fh {
			t.Fatalf("decoded an unusable Mat (type %v, %dx%d of %dx%d)", m.Type(), m.Cols(), m.Rows(), fw, fh)
		}
	})
}

// metricFamilies indexes a registry's gathered metrics by name.
type metricFamilies map[string]*dto.MetricFamily

func gather(t testing.TB, reg *prometheus.Registry) metricFamilies {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	mf := metricFamilies{}
	for _, f := range fams {
		mf[f.GetName()] = f
	}
	return mf
}

// value sums a counter over its label sets.
func (mf metricFamilies) value(name string) float64 {
	var v float64
	for _, m := range mf[name].GetMetric() {
		v += m.GetCounter().GetValue()
	}
	return v
}

// count sums a histogram's observation counts over its label sets.
func (mf metricFamilies) count(name string) uint64 {
	var n uint64
	for _, m := range mf[name].GetMetric() {
		n += m.GetHistogram().GetSampleCount()
	}
	return n
}

// sum sums a histogram's observations over its label sets.
func (mf metricFamilies) sum(name string) float64 {
	var v float64
	for _, m := range mf[name].GetMetric() {
		v += m.GetHistogram().GetSampleSum()
	}
	return v
}

func TestOperatorCapsRecordsPerCall(t *testing.T) {
	var _ operators.BatchLimiter = (*Operator)(nil)
	for _, tt := range []struct{ records, want int }{{0, DefaultMaxRecords}, {5, 5}} {
		if got := (&Operator{cfg: OperatorConfig{MaxRecords: tt.records}}).MaxBatch(); got != tt.want {
			t.Errorf("max_records %d: MaxBatch() = %d, want %d", tt.records, got, tt.want)
		}
	}
	if err := (OperatorConfig{MaxRecords: -1}).Validate(); err == nil {
		t.Fatal("negative max_records must be an error")
	}
}

func TestChunks(t *testing.T) {
	for _, c := range []struct {
		n, size, first int
		want           []int
	}{
		{0, 4, 1, []int{0}},
		{1, 4, 1, []int{0, 1}},
		{5, 4, 1, []int{0, 1, 5}},
		{6, 4, 1, []int{0, 1, 5, 6}},
		{32, 4, 4, []int{0, 4, 8, 12, 16, 20, 24, 28, 32}},
		{3, 4, 4, []int{0, 3}},
		{9, 4, 4, []int{0, 4, 8, 9}},
	} {
		if got := chunks(c.n, c.size, c.first); !slices.Equal(got, c.want) {
			t.Errorf("chunks(%d, %d, %d) = %v, want %v", c.n, c.size, c.first, got, c.want)
		}
	}
}

// A call cancelled halfway, with a chunk still being prepared, leaves nothing
// behind: the next call on the same records gives what an undisturbed
// operator gives.
func TestOperatorCancelledMidwayLeavesNoTrace(t *testing.T) {
	lib := needLibrary(t)
	detecttest.NeedFile(t, DefaultModelPath(), "make model (deploy/model)")
	recs := videoRecords(t, detecttest.NeedFile(t, filepath.Join(CacheDir(), "media", "vtest.avi"), "deploy/media/fetch.sh"), 10)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var chunks atomic.Int32
	op, err := NewOperator(context.Background(), OperatorConfig{MaxBatch: 4}, OperatorOptions{
		Name: "cancelled", Output: "detections", LibraryPath: lib, Logger: quiet(),
		Now: func() time.Time { // called once per chunk, by the preparing goroutines
			if chunks.Add(1) == 2 {
				cancel()
			}
			return time.Now()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	if _, err := op.Process(ctx, recs); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled call: %v, want context.Canceled", err)
	}
	got, err := op.Process(context.Background(), recs)
	if err != nil {
		t.Fatal(err)
	}
	want, err := newTestOperator(t, OperatorConfig{MaxBatch: 4}, time.Now(), nil).Process(context.Background(), recs)
	if err != nil {
		t.Fatal(err)
	}
	for i := range recs {
		var g, w schemas.Detections
		if err := schemas.Unmarshal(got[i].Outputs[0].Value, &g); err != nil {
			t.Fatal(err)
		}
		if err := schemas.Unmarshal(want[i].Outputs[0].Value, &w); err != nil {
			t.Fatal(err)
		}
		if g.FrameSeq != w.FrameSeq || !slices.Equal(g.Boxes, w.Boxes) {
			t.Errorf("frame %d: got seq %d %+v, want seq %d %+v", i, g.FrameSeq, g.Boxes, w.FrameSeq, w.Boxes)
		}
	}
}

func TestSizing(t *testing.T) {
	tests := []struct {
		name               string
		cfg                OperatorConfig
		cores              int
		instances, threads int
	}{
		{"cpu default: one single-threaded instance per core", OperatorConfig{}, 2, 2, 1},
		{"cpu default: up to DefaultMaxInstances", OperatorConfig{}, 4, 4, 1},
		{"cpu default on more cores: more threads each", OperatorConfig{}, 8, 4, 2},
		{"cpu default on many cores", OperatorConfig{}, 32, 4, 8},
		{"cpu default, cores not a multiple of 4", OperatorConfig{}, 6, 3, 2},
		{"cpu default, 7 cores", OperatorConfig{}, 7, 3, 2},
		{"cpu default, 3 cores", OperatorConfig{}, 3, 3, 1},
		{"threads set: instances share the cores", OperatorConfig{Threads: 2}, 8, 4, 2},
		{"threads beyond the cores", OperatorConfig{Threads: 16}, 8, 1, 16},
		{"instances set: threads share the cores", OperatorConfig{Instances: 2}, 8, 2, 4},
		{"more instances than cores", OperatorConfig{Instances: 4}, 2, 4, 1},
		{"both set", OperatorConfig{Instances: 3, Threads: 3}, 2, 3, 3},
		{"one core", OperatorConfig{}, 1, 1, 1},
		{"gpu: one instance", OperatorConfig{Provider: CUDA}, 8, 1, 8},
		{"tensorrt: one instance", OperatorConfig{Provider: TensorRT, Threads: 2}, 8, 1, 2},
		{"gpu, instances set", OperatorConfig{Provider: CUDA, Instances: 2}, 8, 2, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			i, th := sizing(tt.cfg, tt.cores)
			if i != tt.instances || th != tt.threads {
				t.Fatalf("sizing = %d instances × %d threads, want %d × %d", i, th, tt.instances, tt.threads)
			}
		})
	}
}

// TestOperatorInstancesAgree checks that instances running side by side
// give each frame the detections one instance gives it, in the records'
// order, bad records included.
func TestOperatorInstancesAgree(t *testing.T) {
	recs := videoRecords(t, detecttest.NeedFile(t, filepath.Join(CacheDir(), "media", "vtest.avi"), "deploy/media/fetch.sh"), 11)
	recs[5] = operators.Record{Topic: "frames", Value: []byte("garbage")}
	one := newTestOperator(t, OperatorConfig{MaxBatch: 2, Instances: 1, Threads: 1}, time.Now(), nil)
	three := newTestOperator(t, OperatorConfig{MaxBatch: 2, Instances: 3, Threads: 1}, time.Now(), nil)
	if n, _ := one.Instances(); n != 1 {
		t.Fatalf("%d instances, want 1", n)
	}
	if n, threads := three.Instances(); n != 3 || threads != 1 {
		t.Fatalf("%d instances × %d threads, want 3 × 1", n, threads)
	}
	want, err := one.Process(context.Background(), recs)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{len(recs), 2, 1, 0} { // calls of fewer records than instances too
		got, err := three.Process(context.Background(), recs[:n])
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != n {
			t.Fatalf("%d results for %d records", len(got), n)
		}
		for i := range got {
			if (got[i].Err == nil) != (want[i].Err == nil) {
				t.Fatalf("%d records, record %d: error %v, want %v", n, i, got[i].Err, want[i].Err)
			}
			if got[i].Err != nil {
				continue
			}
			if len(got[i].Outputs) != 1 {
				t.Fatalf("%d records, record %d: %d outputs, want 1", n, i, len(got[i].Outputs))
			}
			var g, w schemas.Detections
			if err := errors.Join(schemas.Unmarshal(got[i].Outputs[0].Value, &g), schemas.Unmarshal(want[i].Outputs[0].Value, &w)); err != nil {
				t.Fatal(err)
			}
			if g.FrameSeq != w.FrameSeq || !slices.Equal(g.Boxes, w.Boxes) {
				t.Fatalf("%d records, record %d: got seq %d %+v, want seq %d %+v", n, i, g.FrameSeq, g.Boxes, w.FrameSeq, w.Boxes)
			}
		}
	}
}

func TestOperatorBatchWait(t *testing.T) {
	for _, tt := range []struct{ cfg, want time.Duration }{
		{0, DefaultBatchWait}, {-time.Millisecond, 0}, {20 * time.Millisecond, 20 * time.Millisecond},
	} {
		if got := (&Operator{cfg: OperatorConfig{BatchWait: tt.cfg}}).BatchWait(); got != tt.want {
			t.Errorf("batch_wait %v: BatchWait() = %v, want %v", tt.cfg, got, tt.want)
		}
	}
}
