package model

import (
	"errors"
	"fmt"
	"strings"

	"github.com/corb-dev/corb/schemas"
)

// ErrShapeMismatch is returned when a model's inputs or outputs do not have the
// shapes a format expects, at load time or on an output tensor at run time.
var ErrShapeMismatch = errors.New("model shape mismatch")

// ErrUnknownFormat is returned by Lookup for a format name it does not know.
var ErrUnknownFormat = errors.New("unknown model format")

// TensorInfo describes one model input or output as the runtime reports it.
// A dimension of -1 (or any negative value) is dynamic.
type TensorInfo struct {
	Name  string
	Shape []int64
}

func (t TensorInfo) String() string { return fmt.Sprintf("%q %s", t.Name, ShapeString(t.Shape)) }

// ShapeString formats a shape like [1,84,8400], dynamic dimensions as -1.
func ShapeString(shape []int64) string {
	parts := make([]string, len(shape))
	for i, d := range shape {
		parts[i] = fmt.Sprint(d)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// Tensor is one output of one Run: a float32 row-major array and its actual shape.
type Tensor struct {
	Shape []int64
	Data  []float32
}

// Input says how a frame becomes the model's input tensor [N,3,Height,Width]:
// resized by Resize (padded with Pad in every channel for Letterbox), channels
// in BGR or RGB order, and each value v (0..255) written as (v-Mean[c])/Std[c]
// with c the channel in tensor order.
type Input struct {
	Width, Height int
	Resize        ResizeMode
	RGB           bool
	Mean, Std     [3]float32
	Pad           uint8
	// Batch is the model's batch dimension: > 0 when fixed, -1 when dynamic.
	Batch int64
}

// Decoder turns the outputs of one Run into candidates.
type Decoder interface {
	// Decode returns the candidates of batch item b (0-based) whose score is at
	// least threshold and whose class the filter keeps, in model-input pixels.
	// outputs are in the order of the outputs given to Format.Bind. An output
	// whose shape does not fit gives an error wrapping ErrShapeMismatch.
	Decode(outputs []Tensor, b int, threshold float32, filter ClassFilter) ([]Candidate, error)
}

// Format is a family of detection models sharing an input convention and an
// output layout.
type Format interface {
	// Name is the name users configure: "nanodet" or "yolov8".
	Name() string
	// Bind checks a model's single input and its outputs, as the runtime reports
	// them, and returns how to feed it and how to decode it. A model that does
	// not fit gives an error wrapping ErrShapeMismatch that names the shapes.
	Bind(input TensorInfo, outputs []TensorInfo) (Input, Decoder, error)
}

// Formats lists the names Lookup knows.
func Formats() []string { return []string{"nanodet", "yolov8"} }

// Lookup returns the format called name ("yolo11" is an alias of "yolov8").
func Lookup(name string) (Format, error) {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "nanodet", "nanodet-g", "":
		return NanoDet{}, nil
	case "yolov8", "yolo11", "yolo":
		return YOLOv8{}, nil
	}
	return nil, fmt.Errorf("%w %q (known: %s)", ErrUnknownFormat, name, strings.Join(Formats(), ", "))
}

// checkImageInput checks an input of shape [N,3,H,W] and returns N, H and W
// (-1 for dynamic dimensions).
func checkImageInput(format string, in TensorInfo) (n, h, w int64, err error) {
	s := in.Shape
	if len(s) != 4 || s[1] != 3 {
		return 0, 0, 0, fmt.Errorf("%w: model has input %s; %s adapter expects [N,3,H,W]",
			ErrShapeMismatch, ShapeString(s), format)
	}
	return s[0], s[2], s[3], nil
}

// ToBoxes maps candidates to the original frame and drops any that end up
// with zero area after clamping.
func ToBoxes(cands []Candidate, g Geometry) []schemas.Box {
	out := make([]schemas.Box, 0, len(cands))
	for _, c := range cands {
		x1, y1 := g.Normalize(c.X1, c.Y1)
		x2, y2 := g.Normalize(c.X2, c.Y2)
		if x2 <= x1 || y2 <= y1 {
			continue
		}
		out = append(out, schemas.Box{ClassID: int32(c.Class), Label: COCOLabel(c.Class), Score: c.Score, X1: x1, Y1: y1, X2: x2, Y2: y2})
	}
	return out
}
