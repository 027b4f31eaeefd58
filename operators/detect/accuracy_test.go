package detect

import (
	"context"
	"encoding/json"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/corb-dev/corb/operators"
	"github.com/corb-dev/corb/operators/detect/detecttest"
	"github.com/corb-dev/corb/operators/detect/model"
	"github.com/corb-dev/corb/schemas"
)

type labelFile struct {
	Samples []struct {
		File     string       `json:"file"`
		Frame    int          `json:"frame"`
		MinCount int          `json:"min_count"`
		MaxCount int          `json:"max_count"`
		Boxes    [][4]float32 `json:"boxes"`
	} `json:"samples"`
}

// readFrame reads an image, or frame n of a video decoded with FFmpeg.
func readFrame(t testing.TB, path string, n int) gocv.Mat {
	t.Helper()
	if !strings.HasSuffix(path, ".avi") {
		m := gocv.IMRead(path, gocv.IMReadColor)
		if m.Empty() {
			t.Fatalf("cannot read %s", path)
		}
		return m
	}
	var m gocv.Mat
	if read := detecttest.VideoFrames(t, path, n+1, func(i int, f gocv.Mat) {
		if i == n {
			m = f.Clone()
		}
	}); read <= n {
		t.Fatalf("cannot decode frame %d of %s", read, path)
	}
	return m
}

func pixelIoU(b schemas.Box, w, h int, l [4]float32) float32 {
	return model.IoU(
		model.Candidate{X1: b.X1 * float32(w), Y1: b.Y1 * float32(h), X2: b.X2 * float32(w), Y2: b.Y2 * float32(h)},
		model.Candidate{X1: l[0], Y1: l[1], X2: l[2], Y2: l[3]})
}

// readLabels reads the hand labels of the sample media.
func readLabels(t *testing.T) labelFile {
	t.Helper()
	raw, err := os.ReadFile("testdata/labels.json")
	if err != nil {
		t.Fatal(err)
	}
	var labels labelFile
	if err := json.Unmarshal(raw, &labels); err != nil {
		t.Fatal(err)
	}
	return labels
}

// TestAccuracy runs NanoDet-g on the sample media and checks its people
// against the hand labels in testdata/labels.json.
func TestAccuracy(t *testing.T) {
	lib := needLibrary(t)
	modelPath := detecttest.NeedFile(t, DefaultModelPath(), "make model (deploy/model)")
	media := filepath.Join(CacheDir(), "media")
	labels := readLabels(t)
	d, err := New(context.Background(), Config{ModelPath: modelPath, LibraryPath: lib, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	drawDir := os.Getenv("CORB_DRAW_LABELS")
	for _, s := range labels.Samples {
		t.Run(s.File, func(t *testing.T) {
			f := readFrame(t, detecttest.NeedFile(t, filepath.Join(media, s.File), "deploy/media/fetch.sh"), s.Frame)
			defer f.Close()
			res, _, err := d.Detect(context.Background(), []gocv.Mat{f})
			if err != nil {
				t.Fatal(err)
			}
			boxes := res[0]
			w, h := f.Cols(), f.Rows()
			if drawDir != "" {
				drawLabels(t, drawDir, s.File, f, boxes, s.Boxes)
			}
			checkLabels(t, boxes, w, h, s.MinCount, s.MaxCount, s.Boxes)
		})
	}
}

// checkLabels checks the boxes found in a w×h frame against its hand labels:
// a count within min..max, and each labelled person matched by its own box
// with an IoU of at least 0.5.
func checkLabels(t *testing.T, boxes []schemas.Box, w, h, minCount, maxCount int, labels [][4]float32) {
	t.Helper()
	if len(boxes) < minCount || len(boxes) > maxCount {
		t.Errorf("%d people, want %d..%d: %+v", len(boxes), minCount, maxCount, boxes)
	}
	used := make([]bool, len(boxes))
	for _, l := range labels {
		best, bestIoU := -1, float32(0)
		for i, b := range boxes {
			if iou := pixelIoU(b, w, h, l); !used[i] && iou > bestIoU {
				best, bestIoU = i, iou
			}
		}
		if bestIoU < 0.5 {
			t.Errorf("labelled person %v: best IoU %.2f < 0.5", l, bestIoU)
			continue
		}
		used[best] = true
		t.Logf("labelled person %v: IoU %.2f, score %.2f", l, bestIoU, boxes[best].Score)
	}
}

// TestReducedDecodeAccuracy sends the labelled samples, enlarged 3× as JPEG
// frames, through the operator, which decodes them at 1/4 or 1/2 size
// (turbojpeg's DCT scaling) since the model needs no more: the people found
// must still match the labels, and the confident boxes of a full-size decode.
func TestReducedDecodeAccuracy(t *testing.T) {
	labels := readLabels(t)
	op := newTestOperator(t, OperatorConfig{}, time.Now(), nil)
	dec := newFrameDecoder(t)
	media := filepath.Join(CacheDir(), "media")
	for _, s := range labels.Samples {
		t.Run(s.File, func(t *testing.T) {
			f := readFrame(t, detecttest.NeedFile(t, filepath.Join(media, s.File), "deploy/media/fetch.sh"), s.Frame)
			defer f.Close()
			w, h := f.Cols(), f.Rows()
			gocv.Resize(f, &f, image.Pt(3*w, 3*h), 0, 0, gocv.InterpolationCubic)
			buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, f, []int{gocv.IMWriteJpegQuality, 90})
			if err != nil {
				t.Fatal(err)
			}
			frame := &schemas.Frame{CameraID: "big", Encoding: schemas.EncodingJPEG, Image: append([]byte(nil), buf.GetBytes()...)}
			buf.Close()

			// The operator's decode is reduced, and by how much.
			m, _, _, err := dec.Decode(frame, op.Detector().Needs)
			if err != nil {
				t.Fatal(err)
			}
			if m.Cols() > 3*w/2 {
				t.Errorf("decoded %d×%d of %d×%d: want a reduced decode", m.Cols(), m.Rows(), 3*w, 3*h)
			}
			m.Close()

			res, err := op.Process(context.Background(), []operators.Record{frameRecord(t, frame)})
			if err != nil || res[0].Err != nil {
				t.Fatal(err, res[0].Err)
			}
			var got schemas.Detections
			if err := schemas.Unmarshal(res[0].Outputs[0].Value, &got); err != nil {
				t.Fatal(err)
			}
			if got.FrameWidth != int32(3*w) || got.FrameHeight != int32(3*h) {
				t.Errorf("frame size %d×%d, want the full %d×%d", got.FrameWidth, got.FrameHeight, 3*w, 3*h)
			}
			checkLabels(t, got.Boxes, w, h, s.MinCount, s.MaxCount, s.Boxes)

			full, _, err := op.Detector().Detect(context.Background(), []gocv.Mat{f})
			if err != nil {
				t.Fatal(err)
			}
			// Boxes near the threshold come and go with any change of
			// pixels; the confident ones must be the same.
			const confident = 0.5
			match := func(what string, a, b []schemas.Box) {
				for i, x := range a {
					if x.Score < confident {
						continue
					}
					best := float32(0)
					for _, y := range b {
						best = max(best, pixelIoU(x, w, h, [4]float32{y.X1 * float32(w), y.Y1 * float32(h), y.X2 * float32(w), y.Y2 * float32(h)}))
					}
					if best < 0.85 {
						t.Errorf("%s box %d %+v: best IoU with the other decode's boxes %.2f < 0.85", what, i, x, best)
					}
				}
			}
			match("reduced", got.Boxes, full[0])
			match("full", full[0], got.Boxes)
		})
	}
}

// drawLabels writes the frame with its labels (blue) and detections (green)
// as a PNG, to check the hand labels by eye.
func drawLabels(t *testing.T, dir, name string, f gocv.Mat, boxes []schemas.Box, labels [][4]float32) {
	img := f.Clone()
	defer img.Close()
	for _, l := range labels {
		gocv.Rectangle(&img, image.Rect(int(l[0]), int(l[1]), int(l[2]), int(l[3])), color.RGBA{0, 0, 255, 0}, 1)
	}
	for _, b := range boxes {
		r := image.Rect(int(b.X1*float32(img.Cols())), int(b.Y1*float32(img.Rows())), int(b.X2*float32(img.Cols())), int(b.Y2*float32(img.Rows())))
		gocv.Rectangle(&img, r, color.RGBA{0, 255, 0, 0}, 1)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if !gocv.IMWrite(filepath.Join(dir, strings.TrimSuffix(name, filepath.Ext(name))+".png"), img) {
		t.Fatal("cannot write drawing")
	}
}

// TestBatchMatchesSingle checks that NanoDet-g's dynamic batch dimension is
// used (one run for three frames of different sizes) and gives the boxes
// that one frame at a time gives.
func TestBatchMatchesSingle(t *testing.T) {
	lib := needLibrary(t)
	modelPath := detecttest.NeedFile(t, DefaultModelPath(), "make model (deploy/model)")
	media := filepath.Join(CacheDir(), "media")
	var frames []gocv.Mat
	for _, f := range []string{"vtest.avi", "person.jpg", "kite.jpg"} {
		m := readFrame(t, detecttest.NeedFile(t, filepath.Join(media, f), "deploy/media/fetch.sh"), 0)
		defer m.Close()
		frames = append(frames, m)
	}
	d, err := New(context.Background(), Config{ModelPath: modelPath, LibraryPath: lib, MaxBatch: 4, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	batched, tm, err := d.Detect(context.Background(), frames)
	if err != nil {
		t.Fatal(err)
	}
	if tm.Runs != 1 || tm.Frames != 3 {
		t.Fatalf("timings %+v, want 3 frames in 1 run", tm)
	}
	for i, f := range frames {
		single, _, err := d.Detect(context.Background(), []gocv.Mat{f})
		if err != nil {
			t.Fatal(err)
		}
		if len(single[0]) == 0 || len(single[0]) != len(batched[i]) {
			t.Fatalf("frame %d: batched %+v, single %+v", i, batched[i], single[0])
		}
		for j, b := range single[0] {
			c := batched[i][j]
			if b.ClassID != c.ClassID || !near(b.Score, c.Score) || !near(b.X1, c.X1) || !near(b.Y2, c.Y2) {
				t.Fatalf("frame %d box %d: batched %+v, single %+v", i, j, c, b)
			}
		}
	}
}
