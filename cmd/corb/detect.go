package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v3"
	"gocv.io/x/gocv"

	"github.com/corb-dev/corb/operators/detect"
	"github.com/corb-dev/corb/operators/detect/turbojpeg"
	"github.com/corb-dev/corb/schemas"
)

// detectImageExts are read as still images; anything else is opened as video.
var detectImageExts = map[string]bool{".jpg": true, ".jpeg": true, ".png": true, ".bmp": true, ".webp": true, ".tif": true, ".tiff": true}

func detectCommand() *cli.Command {
	return &cli.Command{
		Name:      "detect",
		Usage:     "run the person detector on image and video files and print the boxes as JSON lines",
		ArgsUsage: "FILE...",
		Description: `Runs the detection model on each FILE — images (.jpg, .png, ...) or videos (anything
else, decoded with FFmpeg) — and prints one JSON object per frame on stdout:

  {"file":"kite.jpg","frame":0,"width":640,"height":480,"inference_ms":98.1,
   "boxes":[{"label":"person","class_id":0,"score":0.81,
             "box":{"x1":0.41,"y1":0.63,"x2":0.45,"y2":0.78},      normalised 0..1
             "pixels":{"x1":262,"y1":302,"x2":288,"y2":374}}]}

With no flags it uses NanoDet-g from the cache (${CORB_CACHE:-~/.cache/corb}/models,
made by 'make model') and the ONNX Runtime library from $CORB_ORT_LIB or the cache
(deploy/ort/fetch.sh), and keeps people only.

Examples:
  corb detect ~/.cache/corb/media/kite.jpg
  corb detect --classes person,dog --threshold 0.3 --draw /tmp/out photo.jpg
  corb detect --every 10 --max-frames 20 vtest.avi
  corb detect --model yolo11n.onnx --format yolov8 street.mp4`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "model", Usage: "ONNX model `PATH` (default: the cached NanoDet-g)"},
			&cli.StringFlag{Name: "format", Value: "nanodet", Usage: "model layout: nanodet, or yolov8 (also YOLO11 exports)"},
			&cli.FloatFlag{Name: "threshold", Value: 0.35, Usage: "minimum score of a box, 0..1"},
			&cli.FloatFlag{Name: "iou", Value: 0.5, Usage: "overlap above which the weaker of two boxes of one class is dropped"},
			&cli.StringSliceFlag{Name: "classes", Value: []string{"person"}, Usage: "COCO labels or class ids to keep (comma-separated; \"all\" keeps every class)"},
			&cli.StringFlag{Name: "draw", Usage: "write each frame with its boxes drawn as a PNG into `OUTDIR`"},
			&cli.IntFlag{Name: "every", Value: 1, Usage: "videos: detect every Nth frame"},
			&cli.IntFlag{Name: "max-frames", Usage: "videos: stop after this many detected frames (0: no limit)"},
			&cli.IntFlag{Name: "threads", Usage: "ONNX Runtime intra-op threads (0: one per core)"},
			&cli.IntFlag{Name: "batch", Value: 8, Usage: "frames per run when the model's batch dimension is dynamic"},
			&cli.StringFlag{Name: "provider", Value: "cpu", Usage: "execution provider: cpu, cuda or tensorrt"},
			&cli.BoolFlag{Name: "fallback-cpu", Usage: "run on the CPU, with a warning, when the GPU provider is unavailable"},
			&cli.StringFlag{Name: "ort-lib", Usage: "ONNX Runtime shared library `PATH` (default: $CORB_ORT_LIB, then the cache)"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			quietVideoLibraries()
			files := cmd.Args().Slice() // at least one: checkArgs
			if cmd.Int("every") < 1 {
				return errors.New("detect: --every must be at least 1")
			}
			var classes []string
			for _, c := range cmd.StringSlice("classes") {
				for _, s := range strings.Split(c, ",") {
					if s = strings.TrimSpace(s); s != "" {
						classes = append(classes, s)
					}
				}
			}
			cfg := detect.Config{
				ModelPath: cmd.String("model"), Format: cmd.String("format"),
				Classes: classes, Threshold: float32(cmd.Float("threshold")), IoU: float32(cmd.Float("iou")),
				MaxBatch: cmd.Int("batch"), Provider: detect.Provider(cmd.String("provider")),
				IntraOpThreads: cmd.Int("threads"), LibraryPath: cmd.String("ort-lib"),
				Logger: slog.New(slog.NewTextHandler(cmd.Root().ErrWriter, &slog.HandlerOptions{Level: slog.LevelWarn})),
			}
			if cmd.Bool("fallback-cpu") {
				cfg.Fallback = detect.CPU
			}
			d, err := detect.New(ctx, cfg)
			if err != nil {
				return err
			}
			defer d.Close()
			jpeg, err := turbojpeg.NewDecoder()
			if err != nil {
				return err
			}
			defer jpeg.Close()
			r := detectRun{d: d, jpeg: jpeg, out: json.NewEncoder(cmd.Root().Writer), draw: cmd.String("draw"),
				every: cmd.Int("every"), maxFrames: cmd.Int("max-frames"), batch: max(1, cmd.Int("batch"))}
			if r.draw != "" {
				if err := os.MkdirAll(r.draw, 0o755); err != nil {
					return err
				}
			}
			// A bad file is reported and the others are still detected; the
			// exit status says that one failed.
			var failed []string
			for _, f := range files {
				if err := r.file(ctx, f); err != nil {
					if ctx.Err() != nil {
						return err
					}
					fmt.Fprintf(cmd.Root().ErrWriter, "corb detect: %v\n", err)
					failed = append(failed, f)
				}
			}
			if len(failed) > 0 {
				return fmt.Errorf("detect: %d of %d files failed: %s", len(failed), len(files), strings.Join(failed, ", "))
			}
			return nil
		},
	}
}

type detectRun struct {
	d                       *detect.Detector
	jpeg                    *turbojpeg.Decoder
	out                     *json.Encoder
	draw                    string
	every, maxFrames, batch int
}

// detectFrame is one frame waiting for detection.
type detectFrame struct {
	mat   gocv.Mat
	index int
}

type detectRect struct {
	X1 float32 `json:"x1"`
	Y1 float32 `json:"y1"`
	X2 float32 `json:"x2"`
	Y2 float32 `json:"y2"`
}

type detectPixels struct {
	X1 int `json:"x1"`
	Y1 int `json:"y1"`
	X2 int `json:"x2"`
	Y2 int `json:"y2"`
}

type detectBox struct {
	Label   string       `json:"label"`
	ClassID int32        `json:"class_id"`
	Score   float32      `json:"score"`
	Box     detectRect   `json:"box"`
	Pixels  detectPixels `json:"pixels"`
}

type detectLine struct {
	File        string      `json:"file"`
	Frame       int         `json:"frame"`
	Width       int         `json:"width"`
	Height      int         `json:"height"`
	InferenceMS float64     `json:"inference_ms"`
	Boxes       []detectBox `json:"boxes"`
}

// quietVideoLibraries keeps OpenCV's and FFmpeg's own warnings about a bad
// file off the terminal: detect says what is wrong with each file itself.
// Both libraries read their level from the environment when they first log or
// open a video, so this runs before any file is touched. A level the user set
// is kept (OPENCV_FFMPEG_LOGLEVEL=-8 is FFmpeg's AV_LOG_QUIET).
func quietVideoLibraries() {
	for k, v := range map[string]string{"OPENCV_LOG_LEVEL": "ERROR", "OPENCV_FFMPEG_LOGLEVEL": "-8"} {
		if _, set := os.LookupEnv(k); !set {
			_ = os.Setenv(k, v) // cannot fail for these names and values
		}
	}
}

// errNotMedia is wrapped by the error for a file that is neither an image
// nor a video that can be decoded.
var errNotMedia = errors.New("not a decodable image or video")

// sniffFile opens path before any library does, so that a missing or
// unreadable file is said to be so, and returns its first bytes.
func sniffFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%s: missing (no such file)", path)
	case errors.Is(err, fs.ErrPermission):
		return nil, fmt.Errorf("%s: unreadable (permission denied)", path)
	case err != nil:
		return nil, fmt.Errorf("%s: cannot open: %w", path, err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		return nil, fmt.Errorf("%s: %w: a directory", path, errNotMedia)
	}
	head := make([]byte, 512)
	n, err := io.ReadFull(f, head)
	switch {
	case errors.Is(err, io.EOF): // nothing read
		return nil, fmt.Errorf("%s: %w: empty", path, errNotMedia)
	case err != nil && !errors.Is(err, io.ErrUnexpectedEOF):
		return nil, fmt.Errorf("%s: unreadable: %w", path, err)
	}
	return head[:n], nil
}

// imageKind is the image format of a file's first bytes, "" if none OpenCV reads.
func imageKind(head []byte) string {
	if bytes.HasPrefix(head, []byte("II*\x00")) || bytes.HasPrefix(head, []byte("MM\x00*")) {
		return "image/tiff"
	}
	switch k := http.DetectContentType(head); k {
	case "image/jpeg", "image/png", "image/bmp", "image/webp":
		return k
	}
	return ""
}

// readImage decodes an image file. JPEGs go through libjpeg-turbo's TurboJPEG
// API, which keeps libjpeg's warnings to itself (OpenCV lets them print), and
// must be complete: libjpeg would fill a truncated one in with grey.
func (r *detectRun) readImage(path, kind string) (gocv.Mat, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return gocv.Mat{}, fmt.Errorf("%s: unreadable: %w", path, err)
	}
	if kind == "image/jpeg" {
		if !bytes.HasSuffix(bytes.TrimRight(b, "\x00"), []byte{0xff, 0xd9}) {
			return gocv.Mat{}, fmt.Errorf("%s: %w: a truncated JPEG (no end-of-image marker)", path, errNotMedia)
		}
		m, _, _, err := r.jpeg.Decode(b, nil)
		if err != nil {
			return gocv.Mat{}, fmt.Errorf("%s: %w: a damaged JPEG: %v", path, errNotMedia, err)
		}
		return m, nil
	}
	m, err := gocv.IMDecode(b, gocv.IMReadColor)
	if err == nil && m.Empty() {
		m.Close()
		err = errors.New("OpenCV cannot decode it")
	}
	if err != nil {
		return gocv.Mat{}, fmt.Errorf("%s: %w: a damaged %s: %v", path, errNotMedia, kind, err)
	}
	return m, nil
}

// file detects every frame (by --every, up to --max-frames) of the image or
// video at path. Images are told by their content, so a photo named .avi is
// still read as one; a file with an image's extension and other content is an
// error, anything else is handed to FFmpeg as a video.
func (r *detectRun) file(ctx context.Context, path string) error {
	head, err := sniffFile(path)
	if err != nil {
		return err
	}
	if kind := imageKind(head); kind != "" {
		m, err := r.readImage(path, kind)
		if err != nil {
			return err
		}
		return r.flush(ctx, path, []detectFrame{{mat: m, index: 0}})
	}
	if detectImageExts[strings.ToLower(filepath.Ext(path))] {
		return fmt.Errorf("%s: %w: named like an image, but its content is %s", path, errNotMedia, http.DetectContentType(head))
	}
	// gocv's error says no more than "cannot open" with a backend number; its
	// capture is allocated even then.
	vc, err := gocv.VideoCaptureFileWithAPI(path, gocv.VideoCaptureFFmpeg)
	if err != nil || !vc.IsOpened() {
		vc.Close()
		return fmt.Errorf("%s: %w: FFmpeg cannot open it as a video", path, errNotMedia)
	}
	defer vc.Close()
	var pending []detectFrame
	done := 0
	for i := 0; r.maxFrames == 0 || done < r.maxFrames; i++ {
		m := gocv.NewMat()
		if !vc.Read(&m) || m.Empty() {
			m.Close()
			break
		}
		if i%r.every != 0 {
			m.Close()
			continue
		}
		pending = append(pending, detectFrame{mat: m, index: i})
		done++
		if len(pending) == r.batch {
			if err := r.flush(ctx, path, pending); err != nil {
				return err
			}
			pending = pending[:0]
		}
	}
	if done == 0 {
		return fmt.Errorf("%s: %w: FFmpeg opened it but decoded no frame", path, errNotMedia)
	}
	return r.flush(ctx, path, pending)
}

// flush detects, prints and draws frames, and closes them.
func (r *detectRun) flush(ctx context.Context, path string, frames []detectFrame) error {
	defer func() {
		for _, f := range frames {
			f.mat.Close()
		}
	}()
	if len(frames) == 0 {
		return nil
	}
	mats := make([]gocv.Mat, len(frames))
	for i, f := range frames {
		mats[i] = f.mat
	}
	boxes, t, err := r.d.Detect(ctx, mats)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	perFrame := float64(t.Inference.Microseconds()) / 1000 / float64(len(frames))
	for i, f := range frames {
		w, h := f.mat.Cols(), f.mat.Rows()
		line := detectLine{File: path, Frame: f.index, Width: w, Height: h, InferenceMS: perFrame, Boxes: []detectBox{}}
		for _, b := range boxes[i] {
			line.Boxes = append(line.Boxes, detectBox{Label: b.Label, ClassID: b.ClassID, Score: b.Score,
				Box:    detectRect{b.X1, b.Y1, b.X2, b.Y2},
				Pixels: detectToPixels(b, w, h)})
		}
		if err := r.out.Encode(line); err != nil {
			return err
		}
		if r.draw != "" {
			if err := detectDraw(r.draw, path, f, boxes[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

func detectToPixels(b schemas.Box, w, h int) detectPixels {
	return detectPixels{int(b.X1*float32(w) + 0.5), int(b.Y1*float32(h) + 0.5), int(b.X2*float32(w) + 0.5), int(b.Y2*float32(h) + 0.5)}
}

func detectDraw(dir, path string, f detectFrame, boxes []schemas.Box) error {
	img := f.mat.Clone()
	defer img.Close()
	green := color.RGBA{0, 255, 0, 0}
	for _, b := range boxes {
		p := detectToPixels(b, img.Cols(), img.Rows())
		gocv.Rectangle(&img, image.Rect(p.X1, p.Y1, p.X2, p.Y2), green, 2)
		gocv.PutText(&img, fmt.Sprintf("%s %.2f", b.Label, b.Score), image.Pt(p.X1+2, max(p.Y1-4, 12)),
			gocv.FontHersheySimplex, 0.45, green, 1)
	}
	base := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	name := filepath.Join(dir, fmt.Sprintf("%s-%06d.png", base, f.index))
	if !gocv.IMWrite(name, img) {
		return fmt.Errorf("%s: cannot write %s", path, name)
	}
	return nil
}
