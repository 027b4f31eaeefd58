package model

import (
	"fmt"
	"math"
	"slices"
)

const (
	nanodetBins    = 11 // regression bins per side (reg_max 10)
	nanodetRegDims = 4 * nanodetBins
	nanodetSize    = 416
)

// nanodetStrides are the strides of NanoDet-g's three heads, finest first.
var nanodetStrides = [3]int{8, 16, 32}

// NanoDet is the output layout of NanoDet-g (416×416, 80 COCO classes): per
// head of stride 8, 16 and 32 (grids 52², 26², 13²) a class-score output
// [B,N,80] with the sigmoid applied and a box-regression output [B,N,44], 4
// sides (left, top, right, bottom) × 11 bins. The expected bin under a softmax,
// times the stride, is the distance of that side from the cell centre
// ((col+0.5)·stride, (row+0.5)·stride). Outputs are matched by shape, not by
// name; the three heads may also come concatenated into one pair of outputs
// with N = 52²+26²+13² (finest head first). The input is BGR, plainly resized
// (stretched), normalised with mean (103.53, 116.28, 123.675) and std
// (57.375, 57.12, 58.395).
type NanoDet struct{}

// Name implements Format.
func (NanoDet) Name() string { return "nanodet" }

// Bind implements Format.
func (NanoDet) Bind(input TensorInfo, outputs []TensorInfo) (Input, Decoder, error) {
	n, h, w, err := checkImageInput("nanodet", input)
	if err != nil {
		return Input{}, nil, err
	}
	if h <= 0 {
		h = nanodetSize
	}
	if w <= 0 {
		w = nanodetSize
	}
	if h%32 != 0 || w%32 != 0 {
		return Input{}, nil, fmt.Errorf("%w: model has input %s; nanodet adapter expects height and width divisible by 32",
			ErrShapeMismatch, ShapeString(input.Shape))
	}
	in := Input{
		Width: int(w), Height: int(h), Resize: Stretch, RGB: false,
		Mean: [3]float32{103.53, 116.28, 123.675}, Std: [3]float32{57.375, 57.12, 58.395},
		Batch: n,
	}
	if n == 0 || n < -1 {
		in.Batch = -1
	}
	d := nanodetDecoder{inW: int(w), inH: int(h)}
	cls := map[int64]int{}
	reg := map[int64]int{}
	for i, o := range outputs {
		if len(o.Shape) != 3 {
			continue
		}
		switch o.Shape[2] {
		case NumCOCOClasses:
			cls[o.Shape[1]] = i
		case nanodetRegDims:
			reg[o.Shape[1]] = i
		}
	}
	// Pair class and regression outputs by anchor count, in the order of the
	// heads (finest first); a concatenated pair counts as all three heads.
	all := int64(0)
	for _, s := range nanodetStrides {
		all += d.cells(s)
	}
	if ci, ok := cls[all]; ok {
		if ri, ok := reg[all]; ok {
			d.heads = append(d.heads, nanodetHead{cls: ci, reg: ri, strides: nanodetStrides[:]})
		}
	}
	if len(d.heads) == 0 {
		for _, s := range nanodetStrides {
			ci, okc := cls[d.cells(s)]
			ri, okr := reg[d.cells(s)]
			if okc && okr {
				d.heads = append(d.heads, nanodetHead{cls: ci, reg: ri, strides: []int{s}})
			}
		}
	}
	if len(d.heads) != 3 && !(len(d.heads) == 1 && len(d.heads[0].strides) == 3) {
		got := make([]string, len(outputs))
		for i, o := range outputs {
			got[i] = ShapeString(o.Shape)
		}
		return Input{}, nil, fmt.Errorf("%w: model has outputs %v; nanodet adapter expects, for input %dx%d, "+
			"[1,N,%d] class scores and [1,N,%d] box regression with N = %d, %d and %d (or concatenated, N = %d)",
			ErrShapeMismatch, got, w, h, NumCOCOClasses, nanodetRegDims,
			d.cells(8), d.cells(16), d.cells(32), all)
	}
	return in, d, nil
}

type nanodetHead struct {
	cls, reg int   // output indexes
	strides  []int // the heads this pair holds, in order
}

type nanodetDecoder struct {
	inW, inH int
	heads    []nanodetHead
}

func (d nanodetDecoder) cells(stride int) int64 {
	return int64(d.inW/stride) * int64(d.inH/stride)
}

func (d nanodetDecoder) Decode(outputs []Tensor, b int, threshold float32, filter ClassFilter) ([]Candidate, error) {
	classes := filter.IDs()
	var out []Candidate
	var probs [nanodetBins]float64
	for _, h := range d.heads {
		if h.cls >= len(outputs) || h.reg >= len(outputs) {
			return nil, fmt.Errorf("%w: nanodet decoder wants outputs %d and %d, got %d outputs",
				ErrShapeMismatch, h.cls, h.reg, len(outputs))
		}
		var n int64
		for _, s := range h.strides {
			n += d.cells(s)
		}
		ct, rt := outputs[h.cls], outputs[h.reg]
		if err := checkNanodetTensor(ct, n, NumCOCOClasses, b); err != nil {
			return nil, err
		}
		if err := checkNanodetTensor(rt, n, nanodetRegDims, b); err != nil {
			return nil, err
		}
		scores := ct.Data[int64(b)*n*NumCOCOClasses : int64(b+1)*n*NumCOCOClasses]
		regs := rt.Data[int64(b)*n*nanodetRegDims : int64(b+1)*n*nanodetRegDims]
		base := 0
		for _, stride := range h.strides {
			cols := d.inW / stride
			cells := int(d.cells(stride))
			for i := range cells {
				a := base + i
				row := scores[a*NumCOCOClasses : (a+1)*NumCOCOClasses]
				best, bestScore := -1, float32(0)
				for _, k := range classes {
					if s := row[k]; s >= threshold && (best < 0 || s > bestScore) {
						best, bestScore = k, s
					}
				}
				if best < 0 {
					continue
				}
				cx := (float32(i%cols) + 0.5) * float32(stride)
				cy := (float32(i/cols) + 0.5) * float32(stride)
				var dist [4]float32
				for side := range 4 {
					dist[side] = expectedBin(regs[a*nanodetRegDims+side*nanodetBins:][:nanodetBins], &probs) * float32(stride)
				}
				out = append(out, Candidate{Class: best, Score: bestScore,
					X1: cx - dist[0], Y1: cy - dist[1], X2: cx + dist[2], Y2: cy + dist[3]})
			}
			base += cells
		}
	}
	return out, nil
}

func checkNanodetTensor(t Tensor, n, c int64, b int) error {
	if len(t.Shape) != 3 || t.Shape[1] != n || t.Shape[2] != c || b < 0 || int64(b) >= t.Shape[0] ||
		int64(len(t.Data)) != t.Shape[0]*n*c {
		return fmt.Errorf("%w: nanodet output %s with %d values, want [B,%d,%d] and batch item %d",
			ErrShapeMismatch, ShapeString(t.Shape), len(t.Data), n, c, b)
	}
	return nil
}

// expectedBin is the expectation of the bin index under softmax(logits).
func expectedBin(logits []float32, probs *[nanodetBins]float64) float32 {
	m := float64(slices.Max(logits))
	var sum, exp float64
	for i, l := range logits {
		p := math.Exp(float64(l) - m)
		probs[i] = p
		sum += p
	}
	for i := range logits {
		exp += float64(i) * probs[i]
	}
	if sum == 0 || math.IsNaN(exp) {
		return 0
	}
	return float32(exp / sum)
}
