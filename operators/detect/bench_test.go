package detect

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	ort "github.com/yalue/onnxruntime_go"
	"gocv.io/x/gocv"

	"github.com/corb-dev/corb/operators/detect/detecttest"
)

// BenchmarkDetectVsRawORT runs, interleaved on the same frame, a bare ONNX
// Runtime Run of NanoDet-g (input tensor filled once, outputs preallocated:
// the floor) and Detector.Detect (preprocess + run + decode), with the same
// model and threads. It reports milliseconds per frame of each, their ratio,
// and the Detector's preprocessing and postprocessing per frame.
//
//	go test -run '^$' -bench DetectVsRawORT -benchtime 20x ./operators/detect/
func BenchmarkDetectVsRawORT(b *testing.B) {
	lib := needLibrary(b)
	modelPath := detecttest.NeedFile(b, DefaultModelPath(), "make model (deploy/model)")
	frame := readFrame(b, detecttest.NeedFile(b, filepath.Join(CacheDir(), "media", "vtest.avi"), "deploy/media/fetch.sh"), 0)
	defer frame.Close()
	const threads = 2
	d, err := New(context.Background(), Config{ModelPath: modelPath, LibraryPath: lib, IntraOpThreads: threads, Logger: quiet()})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()

	// The raw baseline: same model, same thread count, no Go work per frame.
	raw, input, outputs := detecttest.RawSession(b, modelPath, threads, 1)

	frames := []gocv.Mat{frame}
	var rawTime, detTime time.Duration
	var timings Timings
	// warm up both
	if err := raw.Run([]ort.Value{input}, outputs); err != nil {
		b.Fatal(err)
	}
	if _, _, err := d.Detect(context.Background(), frames); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		if err := raw.Run([]ort.Value{input}, outputs); err != nil {
			b.Fatal(err)
		}
		rawTime += time.Since(start)
		start = time.Now()
		_, t, err := d.Detect(context.Background(), frames)
		if err != nil {
			b.Fatal(err)
		}
		detTime += time.Since(start)
		timings = timings.Add(t)
	}
	n := float64(b.N)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / n }
	b.ReportMetric(ms(rawTime), "raw-ms/frame")
	b.ReportMetric(ms(detTime), "detect-ms/frame")
	b.ReportMetric(float64(detTime)/float64(rawTime), "detect/raw")
	b.ReportMetric(ms(timings.Preprocess), "pre-ms/frame")
	b.ReportMetric(ms(timings.Inference), "infer-ms/frame")
	b.ReportMetric(ms(timings.Postprocess), "post-ms/frame")
}

// BenchmarkPreprocess is the cost of fitting one 768×576 frame into the
// NanoDet input tensor (resize + normalise), without inference.
func BenchmarkPreprocess(b *testing.B) {
	lib := needLibrary(b)
	modelPath := detecttest.NeedFile(b, DefaultModelPath(), "make model (deploy/model)")
	frame := readFrame(b, detecttest.NeedFile(b, filepath.Join(CacheDir(), "media", "vtest.avi"), "deploy/media/fetch.sh"), 0)
	defer frame.Close()
	d, err := New(context.Background(), Config{ModelPath: modelPath, LibraryPath: lib, Logger: quiet()})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	batch := d.NewBatch()
	defer batch.Close()
	b.ResetTimer()
	for range b.N {
		if err := d.Prepare(batch, frame); err != nil {
			b.Fatal(err)
		}
		batch.Reset()
	}
}
