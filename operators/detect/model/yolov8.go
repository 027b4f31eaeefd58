package model

import "fmt"

// yoloChannels is 4 box values (cx, cy, w, h) plus the 80 COCO class scores.
const yoloChannels = 4 + NumCOCOClasses

// YOLOv8 is the output layout of Ultralytics YOLOv8 and YOLO11 detection
// exports: one output [B,84,N] (or transposed [B,N,84]) holding, per anchor,
// the box centre, width and height in input pixels and 80 class scores (no
// objectness). The input is letterboxed RGB scaled to 0..1, padded with 114;
// a dynamic input size defaults to 640×640.
type YOLOv8 struct{}

// Name implements Format.
func (YOLOv8) Name() string { return "yolov8" }

// Bind implements Format.
func (YOLOv8) Bind(input TensorInfo, outputs []TensorInfo) (Input, Decoder, error) {
	n, h, w, err := checkImageInput("yolov8", input)
	if err != nil {
		return Input{}, nil, err
	}
	if h <= 0 {
		h = 640
	}
	if w <= 0 {
		w = 640
	}
	in := Input{
		Width: int(w), Height: int(h), Resize: Letterbox, RGB: true,
		Std: [3]float32{255, 255, 255}, Pad: 114, Batch: n,
	}
	if n == 0 || n < -1 {
		in.Batch = -1
	}
	for i, o := range outputs {
		if len(o.Shape) != 3 {
			continue
		}
		switch {
		case o.Shape[1] == yoloChannels:
			return in, yoloDecoder{output: i, transposed: false}, nil
		case o.Shape[2] == yoloChannels:
			return in, yoloDecoder{output: i, transposed: true}, nil
		}
	}
	shapes := ""
	for i, o := range outputs {
		if i > 0 {
			shapes += ", "
		}
		shapes += ShapeString(o.Shape)
	}
	if len(outputs) == 0 {
		shapes = "none"
	}
	return Input{}, nil, fmt.Errorf("%w: model has output %s; yolov8 adapter expects [1,%d,N] or [1,N,%d]",
		ErrShapeMismatch, shapes, yoloChannels, yoloChannels)
}

type yoloDecoder struct {
	output     int
	transposed bool // [B,N,84] instead of [B,84,N]
}

func (d yoloDecoder) Decode(outputs []Tensor, b int, threshold float32, filter ClassFilter) ([]Candidate, error) {
	if d.output >= len(outputs) {
		return nil, fmt.Errorf("%w: yolov8 decoder wants output %d, got %d outputs", ErrShapeMismatch, d.output, len(outputs))
	}
	t := outputs[d.output]
	if len(t.Shape) != 3 {
		return nil, fmt.Errorf("%w: yolov8 output has shape %s", ErrShapeMismatch, ShapeString(t.Shape))
	}
	batch, c, n := t.Shape[0], t.Shape[1], t.Shape[2]
	if d.transposed {
		n, c = c, n
	}
	if c != yoloChannels || n < 0 || b < 0 || int64(b) >= batch || int64(len(t.Data)) != batch*c*n {
		return nil, fmt.Errorf("%w: yolov8 output %s with %d values, batch item %d",
			ErrShapeMismatch, ShapeString(t.Shape), len(t.Data), b)
	}
	data := t.Data[int64(b)*c*n : int64(b+1)*c*n]
	// at returns channel ch of anchor a.
	at := func(a, ch int) float32 { return data[ch*int(n)+a] }
	if d.transposed {
		at = func(a, ch int) float32 { return data[a*yoloChannels+ch] }
	}
	classes := filter.IDs()
	var out []Candidate
	for a := range int(n) {
		best, bestScore := -1, float32(0)
		for _, k := range classes {
			if s := at(a, 4+k); s >= threshold && (best < 0 || s > bestScore) {
				best, bestScore = k, s
			}
		}
		if best < 0 {
			continue
		}
		cx, cy, w, h := at(a, 0), at(a, 1), at(a, 2), at(a, 3)
		out = append(out, Candidate{Class: best, Score: bestScore,
			X1: cx - w/2, Y1: cy - h/2, X2: cx + w/2, Y2: cy + h/2})
	}
	return out, nil
}
