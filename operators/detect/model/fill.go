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
	// For each BGR byte of a pixel: the tensor plane it goes to, and a table
	// of what each of its 256 values becomes there — one lookup per byte in
	// a single pass instead of a conversion, a subtraction and a
	// multiplication in three strided passes (BENCHMARKS.md, FillCHW).
	var planes [3][]float32
	var tables [3]*[256]float32
	for c := range 3 {
		b := c // the BGR byte offset of tensor channel c
		if in.RGB {
			b = 2 - c
		}
		planes[b] = dst[c*plane : (c+1)*plane]
		t := new([256]float32)
		scale, mean := 1/in.Std[c], in.Mean[c]
		for v := range t {
			t[v] = (float32(v) - mean) * scale
		}
		tables[b] = t
	}
	p0, t0 := planes[0], tables[0]
	p1, t1 := planes[1][:len(p0)], tables[1]
	p2, t2 := planes[2][:len(p0)], tables[2]
	for i := range p0 {
		px := pix[3*i : 3*i+3 : 3*i+3]
		p0[i], p1[i], p2[i] = t0[px[0]], t1[px[1]], t2[px[2]]
	}
	return nil
}
