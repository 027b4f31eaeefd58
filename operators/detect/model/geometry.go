package model

import (
	"fmt"
	"math"
)

// ResizeMode is how a frame is fitted into the model's input.
type ResizeMode int

const (
	// Stretch resizes the frame to the input size, ignoring its aspect ratio (NanoDet).
	Stretch ResizeMode = iota
	// Letterbox scales the frame to fit, keeping its aspect ratio, and pads the
	// rest evenly on both sides with a constant colour (YOLOv8).
	Letterbox
)

func (m ResizeMode) String() string {
	switch m {
	case Stretch:
		return "stretch"
	case Letterbox:
		return "letterbox"
	}
	return fmt.Sprintf("ResizeMode(%d)", int(m))
}

// Geometry maps a frame of SrcW×SrcH pixels into a model input of InW×InH
// pixels and back. The frame, resized to ResizedW×ResizedH, sits at
// (PadLeft, PadTop) in the input; the rest of the input is padding.
type Geometry struct {
	SrcW, SrcH         int
	InW, InH           int
	ResizedW, ResizedH int
	PadLeft, PadTop    int
}

// NewGeometry computes the placement of a srcW×srcH frame in an inW×inH input.
// All sizes must be positive.
func NewGeometry(mode ResizeMode, srcW, srcH, inW, inH int) (Geometry, error) {
	if srcW <= 0 || srcH <= 0 || inW <= 0 || inH <= 0 {
		return Geometry{}, fmt.Errorf("geometry: sizes must be positive, got frame %dx%d, input %dx%d", srcW, srcH, inW, inH)
	}
	g := Geometry{SrcW: srcW, SrcH: srcH, InW: inW, InH: inH}
	switch mode {
	case Stretch:
		g.ResizedW, g.ResizedH = inW, inH
	case Letterbox:
		scale := math.Min(float64(inW)/float64(srcW), float64(inH)/float64(srcH))
		g.ResizedW = max(1, min(inW, int(math.Round(float64(srcW)*scale))))
		g.ResizedH = max(1, min(inH, int(math.Round(float64(srcH)*scale))))
		g.PadLeft = (inW - g.ResizedW) / 2
		g.PadTop = (inH - g.ResizedH) / 2
	default:
		return Geometry{}, fmt.Errorf("geometry: unknown resize mode %v", mode)
	}
	return g, nil
}

// Normalize maps a point in input pixels to the original frame, as fractions
// 0..1 of its width and height, clamped (points in the padding land on the edge).
func (g Geometry) Normalize(x, y float32) (nx, ny float32) {
	nx = (x - float32(g.PadLeft)) / float32(g.ResizedW)
	ny = (y - float32(g.PadTop)) / float32(g.ResizedH)
	return clamp01(nx), clamp01(ny)
}

func clamp01(v float32) float32 {
	if v != v { // NaN
		return 0
	}
	return min(max(v, 0), 1)
}
