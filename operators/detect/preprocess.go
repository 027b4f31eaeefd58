package detect

import (
	"fmt"
	"image"
	"image/color"

	"gocv.io/x/gocv"

	"github.com/corb-dev/corb/operators/detect/model"
)

// preprocess fits frame into the model input and writes it, normalised, into
// dst ([3,H,W]), using scratch for the intermediate images. It returns the
// geometry that maps boxes back to the frame.
func (d *Detector) preprocess(frame gocv.Mat, dst []float32, scratch *[3]gocv.Mat) (model.Geometry, error) {
	in := d.info.Input
	if frame.Empty() {
		return model.Geometry{}, fmt.Errorf("%w: empty frame", ErrBadFrame)
	}
	if frame.Type() != gocv.MatTypeCV8UC3 {
		conv := &scratch[2]
		switch frame.Type() {
		case gocv.MatTypeCV8UC1:
			gocv.CvtColor(frame, conv, gocv.ColorGrayToBGR)
		case gocv.MatTypeCV8UC4:
			gocv.CvtColor(frame, conv, gocv.ColorBGRAToBGR)
		default:
			return model.Geometry{}, fmt.Errorf("%w: Mat type %v, want 8-bit BGR, grey or BGRA", ErrBadFrame, frame.Type())
		}
		frame = *conv
	}
	g, err := model.NewGeometry(in.Resize, frame.Cols(), frame.Rows(), in.Width, in.Height)
	if err != nil {
		return g, fmt.Errorf("%w: %w", ErrBadFrame, err)
	}
	resized := &scratch[0]
	gocv.Resize(frame, resized, image.Pt(g.ResizedW, g.ResizedH), 0, 0, gocv.InterpolationLinear)
	if g.ResizedW != in.Width || g.ResizedH != in.Height {
		padded := &scratch[1]
		c := color.RGBA{in.Pad, in.Pad, in.Pad, 0}
		gocv.CopyMakeBorder(*resized, padded, g.PadTop, in.Height-g.ResizedH-g.PadTop,
			g.PadLeft, in.Width-g.ResizedW-g.PadLeft, gocv.BorderConstant, c)
		resized = padded
	}
	pix, err := resized.DataPtrUint8()
	if err != nil || !resized.IsContinuous() {
		return g, fmt.Errorf("detect: resized frame not readable: %v", err)
	}
	return g, model.FillCHW(dst, pix, in)
}
