package detect

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gocv.io/x/gocv"

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

// needFile returns path if it exists, else skips (fails under CI=true) with
// the command that makes it.
func needFile(t testing.TB, path, fix string) string {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		msg := fmt.Sprintf("%s is missing: run %s", path, fix)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return path
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
	vc, err := gocv.VideoCaptureFileWithAPI(path, gocv.VideoCaptureFFmpeg)
	if err != nil {
		t.Fatal(err)
	}
	defer vc.Close()
	m := gocv.NewMat()
	for i := 0; i <= n; i++ {
		if !vc.Read(&m) || m.Empty() {
			m.Close()
			t.Fatalf("cannot decode frame %d of %s", i, path)
		}
	}
	return m
}

func pixelIoU(b schemas.Box, w, h int, l [4]float32) float32 {
	return model.IoU(
		model.Candidate{X1: b.X1 * float32(w), Y1: b.Y1 * float32(h), X2: b.X2 * float32(w), Y2: b.Y2 * float32(h)},
		model.Candidate{X1: l[0], Y1: l[1], X2: l[2], Y2: l[3]})
}

// TestAccuracy runs NanoDet-g on the sample media and checks its people
// against the hand labels in testdata/labels.json.
func TestAccuracy(t *testing.T) {
	lib := needLibrary(t)
	modelPath := needFile(t, DefaultModelPath(), "make model (deploy/model)")
	media := filepath.Join(CacheDir(), "media")
	raw, err := os.ReadFile("testdata/labels.json")
	if err != nil {
		t.Fatal(err)
	}
	var labels labelFile
	if err := json.Unmarshal(raw, &labels); err != nil {
		t.Fatal(err)
	}
	d, err := New(context.Background(), Config{ModelPath: modelPath, LibraryPath: lib, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	drawDir := os.Getenv("CORB_DRAW_LABELS")
	for _, s := range labels.Samples {
		t.Run(s.File, func(t *testing.T) {
			f := readFrame(t, needFile(t, filepath.Join(media, s.File), "deploy/media/fetch.sh"), s.Frame)
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
			if len(boxes) < s.MinCount || len(boxes) > s.MaxCount {
				t.Errorf("%d people, want %d..%d: %+v", len(boxes), s.MinCount, s.MaxCount, boxes)
			}
			used := make([]bool, len(boxes))
			for _, l := range s.Boxes {
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
	modelPath := needFile(t, DefaultModelPath(), "make model (deploy/model)")
	media := filepath.Join(CacheDir(), "media")
	var frames []gocv.Mat
	for _, f := range []string{"vtest.avi", "person.jpg", "kite.jpg"} {
		m := readFrame(t, needFile(t, filepath.Join(media, f), "deploy/media/fetch.sh"), 0)
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
