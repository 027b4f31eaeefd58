// Package opencv decodes video with OpenCV (through gocv and its FFmpeg and
// V4L2 backends) for the video ingest connector. It is the only cgo part of
// ingest: package video defines what a capture does, this package does it.
//
// Files and network streams are opened with the FFmpeg backend explicitly
// (never OpenCV's automatic backend choice), devices with V4L2. Every Mat is
// closed, and JPEG bytes are copied out of OpenCV's buffer before it is freed,
// so an Image never aliases C memory.
package opencv

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"math"
	"time"

	"gocv.io/x/gocv"

	"github.com/corb-dev/corb/connectors/video"
	"github.com/corb-dev/corb/schemas"
)

// ErrOpen is wrapped when OpenCV cannot open a source (missing file,
// unsupported codec, unreachable stream, busy device).
var ErrOpen = errors.New("opencv: cannot open source")

// Opener opens video.Sources with OpenCV. The zero value is ready to use.
type Opener struct{}

// Open opens src: files and streams with the FFmpeg backend, devices with V4L2.
// OpenCV's own error text is not passed on, because it repeats the URL with
// its credentials.
func (Opener) Open(ctx context.Context, src video.Source) (video.Capture, video.CaptureInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, video.CaptureInfo{}, err
	}
	var (
		vc  *gocv.VideoCapture
		err error
	)
	switch src.Kind {
	case video.KindFile, video.KindStream:
		vc, err = gocv.VideoCaptureFileWithAPI(src.Location, gocv.VideoCaptureFFmpeg)
	case video.KindDevice:
		if src.Device >= 0 {
			vc, err = gocv.VideoCaptureDeviceWithAPI(src.Device, gocv.VideoCaptureV4L2)
		} else {
			vc, err = gocv.VideoCaptureFileWithAPI(src.Location, gocv.VideoCaptureV4L2)
		}
	default:
		return nil, video.CaptureInfo{}, fmt.Errorf("%w: opencv cannot open a %v source", video.ErrPermanent, src.Kind)
	}
	if err != nil || vc == nil || !vc.IsOpened() {
		if vc != nil {
			vc.Close()
		}
		return nil, video.CaptureInfo{}, fmt.Errorf("%w: %s (%v)", ErrOpen, src.String(), src.Kind)
	}
	info := video.CaptureInfo{
		FrameCount: nonNeg(vc.Get(gocv.VideoCaptureFrameCount)),
		FPS:        finite(vc.Get(gocv.VideoCaptureFPS)),
		Width:      int(nonNeg(vc.Get(gocv.VideoCaptureFrameWidth))),
		Height:     int(nonNeg(vc.Get(gocv.VideoCaptureFrameHeight))),
	}
	return &Capture{vc: vc, frame: gocv.NewMat(), small: gocv.NewMat(), live: src.Kind.Live()}, info, nil
}

func nonNeg(v float64) int64 {
	if v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) || v > math.MaxInt32 {
		return 0
	}
	return int64(v)
}

func finite(v float64) float64 {
	if v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) || v > 1000 {
		return 0
	}
	return v
}

// ErrEmptyFrame is returned by Encode when no frame was read.
var ErrEmptyFrame = errors.New("opencv: no frame to encode")

// Capture is an open OpenCV source; it implements video.Capture.
type Capture struct {
	vc    *gocv.VideoCapture
	frame gocv.Mat // last decoded frame, reused
	small gocv.Mat // resize target, reused
	live  bool
}

// Read decodes the next frame. For files the end is io.EOF; for live
// sources a failed read is an error (the ingester reconnects).
func (c *Capture) Read() (time.Duration, error) {
	if !c.vc.Read(&c.frame) || c.frame.Empty() {
		if c.live {
			return 0, errors.New("opencv: read failed (stream lost)")
		}
		return 0, io.EOF
	}
	ms := c.vc.Get(gocv.VideoCapturePosMsec)
	if math.IsNaN(ms) || math.IsInf(ms, 0) || ms < 0 {
		return -1, nil
	}
	return time.Duration(ms * float64(time.Millisecond)), nil
}

// Encode shrinks the last frame to maxWidth (keeping aspect; bilinear below
// a 2x shrink, area averaging from 2x) and JPEG-encodes it at quality.
func (c *Capture) Encode(maxWidth, quality int) (video.Image, error) {
	if c.frame.Empty() {
		return video.Image{}, ErrEmptyFrame
	}
	src := c.frame
	w, h := src.Cols(), src.Rows()
	if maxWidth > 0 && w > maxWidth {
		nh := int(math.Round(float64(h) * float64(maxWidth) / float64(w)))
		if nh < 1 {
			nh = 1
		}
		// Bilinear is much faster than area averaging for mild shrinks and
		// looks the same (BENCHMARKS.md); from 2x down, area averaging avoids
		// aliasing.
		interp := gocv.InterpolationLinear
		if w >= 2*maxWidth {
			interp = gocv.InterpolationArea
		}
		gocv.Resize(c.frame, &c.small, image.Pt(maxWidth, nh), 0, 0, interp)
		src, w, h = c.small, maxWidth, nh
	}
	buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, src, []int{gocv.IMWriteJpegQuality, quality})
	if err != nil {
		return video.Image{}, fmt.Errorf("opencv: jpeg encode: %w", err)
	}
	data := append([]byte(nil), buf.GetBytes()...) // copy out before the C buffer is freed
	buf.Close()
	return video.Image{Data: data, Width: w, Height: h, Encoding: schemas.EncodingJPEG}, nil
}

// Close releases the capture and its Mats.
func (c *Capture) Close() error {
	err := c.vc.Close()
	if e := c.frame.Close(); err == nil {
		err = e
	}
	if e := c.small.Close(); err == nil {
		err = e
	}
	return err
}

// Ingest reads src with OpenCV and sends its frames to sink; see
// video.Ingester.Ingest for what it returns. It is the one-call entry point
// for `corb ingest` and `corb dev`; build a video.Ingester with Opener{} to
// set watch options, a state callback, progress or a limit.
func Ingest(ctx context.Context, src video.Source, cfg video.CameraConfig, sink video.Sink) (video.Stats, error) {
	in := &video.Ingester{Opener: Opener{}}
	return in.Ingest(ctx, src, cfg, sink)
}
