package detect

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gocv.io/x/gocv"

	"github.com/corb-dev/corb/operators/detect/model"
)

// needLibrary returns the ONNX Runtime library, or skips (fails under CI=true)
// with the command that fetches it.
func needLibrary(t testing.TB) string {
	t.Helper()
	lib, err := LibraryPath("")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skipf("%v\n  fetch it with: deploy/ort/fetch.sh (or set CORB_ORT_LIB)", err)
	}
	return lib
}

// yoloOutput builds a constant [1,84,k] (or [1,k,84]) output with the given
// anchors (cx, cy, w, h in input pixels, class, score).
type anchor struct {
	cx, cy, w, h float32
	class        int
	score        float32
}

func yoloOutput(k int, transposed bool, anchors ...anchor) ([]int64, []float32) {
	data := make([]float32, 84*k)
	set := func(a, ch int, v float32) {
		if transposed {
			data[a*84+ch] = v
		} else {
			data[ch*k+a] = v
		}
	}
	for i, an := range anchors {
		set(i, 0, an.cx)
		set(i, 1, an.cy)
		set(i, 2, an.w)
		set(i, 3, an.h)
		set(i, 4+an.class, an.score)
	}
	if transposed {
		return []int64{1, int64(k), 84}, data
	}
	return []int64{1, 84, int64(k)}, data
}

func writeModel(t testing.TB, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "model.onnx")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func frame(t testing.TB, w, h int) gocv.Mat {
	t.Helper()
	m := gocv.NewMatWithSize(h, w, gocv.MatTypeCV8UC3)
	t.Cleanup(func() { m.Close() })
	return m
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestDetectYOLOv8EndToEnd(t *testing.T) {
	lib := needLibrary(t)
	anchors := []anchor{
		{32, 32, 32, 16, 0, 0.9}, // person: input (16,24)-(48,40)
		{33, 32, 32, 16, 0, 0.8}, // its duplicate, suppressed
		{10, 10, 8, 8, 16, 0.95}, // a dog, filtered out
		{60, 60, 4, 4, 0, 0.2},   // a weak person, below threshold
		{32, 8, 64, 10, 0, 0.7},  // a person in the top padding of wide frames
	}
	tests := []struct {
		name       string
		batch      int64
		transposed bool
		maxBatch   int
		wantRuns   int
	}{
		{"dynamic batch [N,84,K]", 0, false, 2, 2},
		{"fixed batch 1 [1,K,84]", 1, true, 8, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dims, data := yoloOutput(10, tt.transposed, anchors...)
			path := writeModel(t, constantOutputModel(tt.batch, 64, 64, dims, data))
			d, err := New(context.Background(), Config{ModelPath: path, Format: "yolov8", LibraryPath: lib,
				MaxBatch: tt.maxBatch, IntraOpThreads: 1, Logger: quiet()})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			if in := d.Info().Input; in.Width != 64 || in.Height != 64 || in.Resize != model.Letterbox {
				t.Fatalf("input %+v", in)
			}
			frames := []gocv.Mat{frame(t, 128, 64), frame(t, 64, 128), frame(t, 640, 640)}
			boxes, timings, err := d.Detect(context.Background(), frames)
			if err != nil {
				t.Fatal(err)
			}
			if timings.Frames != 3 || timings.Runs != tt.wantRuns || timings.Inference <= 0 {
				t.Fatalf("timings %+v, want 3 frames in %d runs", timings, tt.wantRuns)
			}
			if len(boxes) != 3 {
				t.Fatalf("%d results for 3 frames", len(boxes))
			}
			// wide frame: resized to 64×32 with 16 rows of padding above.
			type rect struct{ x1, y1, x2, y2 float32 }
			want := [][]rect{
				{{0.25, 0.25, 0.75, 0.75}}, // the top-padding person has no area in the frame
				{{0, 0.375, 1, 0.625}, {0, 3.0 / 64, 1, 13.0 / 64}},
				{{0.25, 0.375, 0.75, 0.625}, {0, 3.0 / 64, 1, 13.0 / 64}},
			}
			for i, fb := range boxes {
				if len(fb) != len(want[i]) {
					t.Fatalf("frame %d: boxes %+v, want %v", i, fb, want[i])
				}
				for j, b := range fb {
					w := want[i][j]
					if b.Label != "person" || !near(b.X1, w.x1) || !near(b.Y1, w.y1) || !near(b.X2, w.x2) || !near(b.Y2, w.y2) {
						t.Fatalf("frame %d box %d = %+v, want %v", i, j, b, w)
					}
				}
			}
			// all classes and a low threshold: the dog and the weak person appear.
			d2, err := New(context.Background(), Config{ModelPath: path, Format: "yolo11", LibraryPath: lib,
				Classes: []string{"person", "dog"}, Threshold: 0.1, Logger: quiet()})
			if err != nil {
				t.Fatal(err)
			}
			defer d2.Close()
			boxes, _, err = d2.Detect(context.Background(), frames[2:])
			if err != nil {
				t.Fatal(err)
			}
			if len(boxes[0]) != 4 || boxes[0][0].Label != "dog" || boxes[0][3].Score != 0.2 {
				t.Fatalf("person+dog boxes %+v", boxes[0])
			}
		})
	}
}

func near(a, b float32) bool { return a-b < 1e-4 && b-a < 1e-4 }

func TestNewErrors(t *testing.T) {
	lib := needLibrary(t)
	dims, data := yoloOutput(10, false, anchor{32, 32, 8, 8, 0, 0.9})
	good := writeModel(t, constantOutputModel(0, 64, 64, dims, data))
	bad := writeModel(t, constantOutputModel(1, 64, 64, []int64{1, 85, 10}, make([]float32, 850)))
	tests := []struct {
		name    string
		cfg     Config
		is      error
		message string
	}{
		{"objectness layout", Config{ModelPath: bad, Format: "yolov8"}, model.ErrShapeMismatch,
			"model has output [1,85,10]; yolov8 adapter expects [1,84,N] or [1,N,84]"},
		{"yolo model as nanodet", Config{ModelPath: good}, model.ErrShapeMismatch, "nanodet adapter expects"},
		{"missing model", Config{ModelPath: filepath.Join(t.TempDir(), "nope.onnx"), Format: "yolov8"}, ErrModelNotFound, "nope.onnx"},
		{"missing library", Config{ModelPath: good, Format: "yolov8", LibraryPath: "/nonexistent/libonnxruntime.so.1"},
			ErrLibraryNotFound, "deploy/ort/fetch.sh"},
		{"unknown format", Config{ModelPath: good, Format: "ssd"}, model.ErrUnknownFormat, "ssd"},
		{"unknown class", Config{ModelPath: good, Format: "yolov8", Classes: []string{"unicorn"}}, model.ErrUnknownClass, "unicorn"},
		{"cuda without gpu", Config{ModelPath: good, Format: "yolov8", Provider: CUDA}, ErrProviderUnavailable, "cuda"},
		{"tensorrt without gpu", Config{ModelPath: good, Format: "yolov8", Provider: TensorRT}, ErrProviderUnavailable, "tensorrt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.cfg.LibraryPath == "" {
				tt.cfg.LibraryPath = lib
			}
			tt.cfg.Logger = quiet()
			d, err := New(context.Background(), tt.cfg)
			if err == nil {
				d.Close()
				t.Fatal("New succeeded")
			}
			if !errors.Is(err, tt.is) || !strings.Contains(err.Error(), tt.message) {
				t.Fatalf("err = %v\nwant errors.Is %v and %q", err, tt.is, tt.message)
			}
		})
	}
}

func TestProviderFallback(t *testing.T) {
	lib := needLibrary(t)
	dims, data := yoloOutput(10, false, anchor{32, 32, 8, 8, 0, 0.9})
	path := writeModel(t, constantOutputModel(0, 64, 64, dims, data))
	for _, p := range []Provider{CUDA, TensorRT} {
		t.Run(string(p), func(t *testing.T) {
			var logs bytes.Buffer
			d, err := New(context.Background(), Config{ModelPath: path, Format: "yolov8", LibraryPath: lib,
				Provider: p, Fallback: CPU, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			if d.Info().Provider != CPU {
				t.Fatalf("provider %s after fallback", d.Info().Provider)
			}
			if !strings.Contains(logs.String(), "falling back to cpu") || !strings.Contains(logs.String(), "provider="+string(p)) {
				t.Fatalf("fallback not logged:\n%s", logs.String())
			}
			boxes, _, err := d.Detect(context.Background(), []gocv.Mat{frame(t, 64, 64)})
			if err != nil || len(boxes[0]) != 1 {
				t.Fatalf("detect after fallback: %v %v", boxes, err)
			}
		})
	}
}

func TestDetectBadFramesAndConflicts(t *testing.T) {
	lib := needLibrary(t)
	dims, data := yoloOutput(10, false, anchor{32, 32, 8, 8, 0, 0.9})
	path := writeModel(t, constantOutputModel(0, 64, 64, dims, data))
	d, err := New(context.Background(), Config{ModelPath: path, Format: "yolov8", LibraryPath: lib, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	empty := gocv.NewMat()
	defer empty.Close()
	if _, _, err := d.Detect(context.Background(), []gocv.Mat{frame(t, 10, 10), empty}); !errors.Is(err, ErrBadFrame) {
		t.Fatalf("empty frame: err = %v", err)
	}
	float := gocv.NewMatWithSize(10, 10, gocv.MatTypeCV32FC3)
	defer float.Close()
	if _, _, err := d.Detect(context.Background(), []gocv.Mat{float}); !errors.Is(err, ErrBadFrame) {
		t.Fatalf("float frame: err = %v", err)
	}
	grey := gocv.NewMatWithSize(20, 40, gocv.MatTypeCV8UC1)
	defer grey.Close()
	bgra := gocv.NewMatWithSize(40, 20, gocv.MatTypeCV8UC4)
	defer bgra.Close()
	if boxes, _, err := d.Detect(context.Background(), []gocv.Mat{grey, bgra}); err != nil || len(boxes) != 2 {
		t.Fatalf("grey and bgra frames: %v %v", boxes, err)
	}
	if boxes, tm, err := d.Detect(context.Background(), nil); err != nil || len(boxes) != 0 || tm.Runs != 0 {
		t.Fatalf("no frames: %v %+v %v", boxes, tm, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := d.Detect(ctx, []gocv.Mat{grey}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: err = %v", err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := d.Detect(context.Background(), []gocv.Mat{grey}); err == nil {
		t.Fatal("Detect after Close succeeded")
	}
	// Another library than the one loaded is refused, not silently ignored.
	other := filepath.Join(t.TempDir(), "libonnxruntime.so.1")
	if err := os.Symlink(lib, other); err != nil {
		t.Fatal(err)
	}
	if _, err := New(context.Background(), Config{ModelPath: path, Format: "yolov8", LibraryPath: other, Logger: quiet()}); !errors.Is(err, ErrLibraryConflict) {
		t.Fatalf("other library: err = %v", err)
	}
}

// Prepare fills a Batch a frame at a time, refuses a bad frame without
// disturbing the others, and Infer returns one result per prepared frame in
// order, leaving the Batch empty for reuse.
func TestPrepareInfer(t *testing.T) {
	lib := needLibrary(t)
	dims, data := yoloOutput(10, false, anchor{32, 32, 8, 8, 0, 0.9})
	path := writeModel(t, constantOutputModel(0, 64, 64, dims, data))
	d, err := New(context.Background(), Config{ModelPath: path, Format: "yolov8", MaxBatch: 2, LibraryPath: lib, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	b := d.NewBatch()
	defer b.Close()
	wide, tall, empty := frame(t, 64, 32), frame(t, 32, 64), gocv.NewMat() // frame's are closed by t
	defer empty.Close()
	for round := range 2 { // the second round reuses the emptied Batch
		if err := d.Prepare(b, wide); err != nil {
			t.Fatal(err)
		}
		if err := d.Prepare(b, empty); !errors.Is(err, ErrBadFrame) {
			t.Fatalf("empty frame: err = %v", err)
		}
		if err := d.Prepare(b, tall); err != nil {
			t.Fatal(err)
		}
		if err := d.Prepare(b, wide); err == nil {
			t.Fatal("a third frame went into a batch of 2")
		}
		boxes, tm, err := d.Infer(context.Background(), b)
		if err != nil || len(boxes) != 2 || tm.Frames != 2 || tm.Runs != 1 {
			t.Fatalf("round %d: %v %+v %v", round, boxes, tm, err)
		}
		// The same model box lands differently on the wide and the tall frame:
		// each result was mapped with its own frame's geometry.
		if len(boxes[0]) != 1 || len(boxes[1]) != 1 || boxes[0][0] == boxes[1][0] {
			t.Fatalf("round %d: boxes %+v", round, boxes)
		}
	}
	if boxes, _, err := d.Infer(context.Background(), b); err != nil || len(boxes) != 0 {
		t.Fatalf("empty batch: %v %v", boxes, err)
	}
}

func TestNeeds(t *testing.T) {
	lib := needLibrary(t)
	dims, data := yoloOutput(10, false, anchor{32, 32, 8, 8, 0, 0.9})
	d, err := New(context.Background(), Config{ModelPath: writeModel(t, constantOutputModel(0, 64, 64, dims, data)),
		Format: "yolov8", LibraryPath: lib, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, c := range []struct{ w, h, wantW, wantH int }{
		{640, 480, 64, 48}, // letterboxed into 64×64
		{480, 640, 48, 64},
		{32, 32, 64, 64},
	} {
		if w, h := d.Needs(c.w, c.h); w != c.wantW || h != c.wantH {
			t.Errorf("Needs(%d, %d) = %d×%d, want %d×%d", c.w, c.h, w, h, c.wantW, c.wantH)
		}
	}
}
