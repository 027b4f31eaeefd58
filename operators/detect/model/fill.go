package model

import "fmt"

// FillCHW writes one preprocessed picture into dst, a [3,Height,Width] plane
// of the input tensor, from pix: Width×Height interleaved BGR bytes (OpenCV's
// layout) already resized and padded to the input size. Channels are written
// in the order in.RGB asks for, normalised with in.Mean and in.Std.
func FillCHW(dst []float32, pix []byte, in Input) error {
	plane := in.Width * in.Height
	if len(pix) != plane*3 || len(dst) != plane*3 {
		return fmt.Errorf("fill: want %d pixels × 3 bytes into %d floats, got %d bytes into %d floats",
			plane, plane*3, len(pix), len(dst))
	}
	// src[c] is the BGR byte offset of tensor channel c.
	src := [3]int{0, 1, 2}
	if in.RGB {
		src = [3]int{2, 1, 0}
	}
	for c := range 3 {
		scale := 1 / in.Std[c]
		mean := in.Mean[c]
		out := dst[c*plane : (c+1)*plane]
		o := src[c]
		for i := range out {
			out[i] = (float32(pix[i*3+o]) - mean) * scale
		}
	}
	return nil
}
