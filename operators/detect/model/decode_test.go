package model

import (
	"errors"
	"strings"
	"testing"
)

// yoloTensor builds a [batch,84,n] (or [batch,n,84]) output with set(b, a, ch, v) helpers.
type yoloTensor struct {
	Tensor
	transposed bool
}

func newYOLOTensor(batch, n int, transposed bool) *yoloTensor {
	t := &yoloTensor{transposed: transposed}
	t.Shape = []int64{int64(batch), 84, int64(n)}
	if transposed {
		t.Shape = []int64{int64(batch), int64(n), 84}
	}
	t.Data = make([]float32, batch*84*n)
	return t
}

func (t *yoloTensor) set(b, a, ch int, v float32) {
	n := len(t.Data) / int(t.Shape[0]) / 84
	if t.transposed {
		t.Data[b*84*n+a*84+ch] = v
	} else {
		t.Data[b*84*n+ch*n+a] = v
	}
}

func (t *yoloTensor) place(b, a, class int, score, cx, cy, w, h float32) {
	t.set(b, a, 0, cx)
	t.set(b, a, 1, cy)
	t.set(b, a, 2, w)
	t.set(b, a, 3, h)
	t.set(b, a, 4+class, score)
}

func TestYOLOv8Decode(t *testing.T) {
	for _, transposed := range []bool{false, true} {
		name := "[B,84,N]"
		outShape := []int64{-1, 84, -1}
		if transposed {
			name, outShape = "[B,N,84]", []int64{-1, -1, 84}
		}
		t.Run(name, func(t *testing.T) {
			in, dec, err := YOLOv8{}.Bind(TensorInfo{"images", []int64{-1, 3, 640, 640}}, []TensorInfo{{"output0", outShape}})
			if err != nil {
				t.Fatal(err)
			}
			if in.Width != 640 || in.Height != 640 || in.Resize != Letterbox || !in.RGB || in.Pad != 114 || in.Batch != -1 {
				t.Fatalf("input = %+v", in)
			}
			out := newYOLOTensor(2, 100, transposed)
			out.place(0, 7, 0, 0.9, 320, 240, 100, 200) // person
			out.set(0, 7, 4+16, 0.95)                   // same anchor scores higher as dog
			out.place(0, 50, 16, 0.8, 100, 100, 20, 20) // dog
			out.place(0, 60, 0, 0.2, 500, 500, 20, 20)  // weak person
			out.place(1, 99, 0, 0.7, 10, 20, 4, 8)      // person in item 1
			persons, _ := ParseClasses(nil)
			got, err := dec.Decode([]Tensor{out.Tensor}, 0, 0.5, persons)
			if err != nil {
				t.Fatal(err)
			}
			want := Candidate{Class: 0, Score: 0.9, X1: 270, Y1: 140, X2: 370, Y2: 340}
			if len(got) != 1 || got[0] != want {
				t.Fatalf("item 0 persons = %+v, want [%+v]", got, want)
			}
			got, _ = dec.Decode([]Tensor{out.Tensor}, 0, 0.5, AllClasses())
			if len(got) != 2 || got[0].Class != 16 || got[0].Score != 0.95 || got[1].Class != 16 {
				t.Fatalf("item 0 all classes = %+v", got)
			}
			got, _ = dec.Decode([]Tensor{out.Tensor}, 0, 0.1, persons)
			if len(got) != 2 {
				t.Fatalf("item 0 low threshold = %+v", got)
			}
			got, _ = dec.Decode([]Tensor{out.Tensor}, 1, 0.5, persons)
			want = Candidate{Class: 0, Score: 0.7, X1: 8, Y1: 16, X2: 12, Y2: 24}
			if len(got) != 1 || got[0] != want {
				t.Fatalf("item 1 = %+v, want [%+v]", got, want)
			}
			if _, err := dec.Decode([]Tensor{out.Tensor}, 2, 0.5, persons); !errors.Is(err, ErrShapeMismatch) {
				t.Fatalf("batch item out of range: err = %v", err)
			}
			bad := out.Tensor
			bad.Data = bad.Data[1:]
			if _, err := dec.Decode([]Tensor{bad}, 0, 0.5, persons); !errors.Is(err, ErrShapeMismatch) {
				t.Fatalf("short data: err = %v", err)
			}
			empty := newYOLOTensor(1, 0, transposed)
			if got, err := dec.Decode([]Tensor{empty.Tensor}, 0, 0.5, persons); err != nil || len(got) != 0 {
				t.Fatalf("empty output = %v, %v", got, err)
			}
		})
	}
}

func TestYOLOv8Bind(t *testing.T) {
	tests := []struct {
		name    string
		in      []int64
		outs    [][]int64
		wantErr string
	}{
		{"static", []int64{1, 3, 640, 640}, [][]int64{{1, 84, 8400}}, ""},
		{"dynamic size", []int64{-1, 3, -1, -1}, [][]int64{{-1, 84, -1}}, ""},
		{"extra outputs", []int64{1, 3, 320, 320}, [][]int64{{1, 32, 80, 80}, {1, 2100, 84}}, ""},
		{"objectness layout", []int64{1, 3, 640, 640}, [][]int64{{1, 85, 8400}},
			"model has output [1,85,8400]; yolov8 adapter expects [1,84,N] or [1,N,84]"},
		{"no outputs", []int64{1, 3, 640, 640}, nil, "model has output none"},
		{"hwc input", []int64{1, 640, 640, 3}, [][]int64{{1, 84, 8400}}, "model has input [1,640,640,3]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var outs []TensorInfo
			for _, s := range tt.outs {
				outs = append(outs, TensorInfo{Shape: s})
			}
			in, _, err := YOLOv8{}.Bind(TensorInfo{Shape: tt.in}, outs)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if in.Width <= 0 || in.Height <= 0 {
					t.Fatalf("input %+v", in)
				}
				return
			}
			if !errors.Is(err, ErrShapeMismatch) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// nanodetOutputs builds zeroed NanoDet outputs for a 416 input, either per
// head (cls8, reg8, cls16, reg16, cls32, reg32 — deliberately shuffled) or
// concatenated, and a function to place a box.
type nanodetOutputs struct {
	tensors []Tensor
	infos   []TensorInfo
	concat  bool
}

var nanodetCells = map[int]int{8: 2704, 16: 676, 32: 169}

func newNanodetOutputs(batch int, concat bool) *nanodetOutputs {
	o := &nanodetOutputs{concat: concat}
	add := func(name string, n, c int) {
		s := []int64{int64(batch), int64(n), int64(c)}
		o.tensors = append(o.tensors, Tensor{Shape: s, Data: make([]float32, batch*n*c)})
		o.infos = append(o.infos, TensorInfo{Name: name, Shape: []int64{1, int64(n), int64(c)}})
	}
	if concat {
		add("reg", 3549, 44)
		add("cls", 3549, 80)
		return o
	}
	// order: reg32, cls8, cls32, reg16, reg8, cls16
	add("reg32", 169, 44)
	add("cls8", 2704, 80)
	add("cls32", 169, 80)
	add("reg16", 676, 44)
	add("reg8", 2704, 44)
	add("cls16", 676, 80)
	return o
}

// place puts a box of class with score at cell (row, col) of the head of
// stride, with side distances (in bins) l, t, r, b as one-hot logits.
func (o *nanodetOutputs) place(b, stride, row, col, class int, score float32, bins [4]int) {
	cols := 416 / stride
	var clsT, regT Tensor
	a := row*cols + col
	if o.concat {
		regT, clsT = o.tensors[0], o.tensors[1]
		for _, s := range []int{8, 16, 32} {
			if s == stride {
				break
			}
			a += nanodetCells[s]
		}
	} else {
		idx := map[int][2]int{8: {1, 4}, 16: {5, 3}, 32: {2, 0}}[stride]
		clsT, regT = o.tensors[idx[0]], o.tensors[idx[1]]
	}
	n := int(clsT.Shape[1])
	clsT.Data[(b*n+a)*80+class] = score
	for side, bin := range bins {
		for k := range 11 {
			v := float32(-20)
			if k == bin {
				v = 20
			}
			regT.Data[(b*n+a)*44+side*11+k] = v
		}
	}
}

func TestNanoDetDecode(t *testing.T) {
	for _, concat := range []bool{false, true} {
		name := "per head"
		if concat {
			name = "concatenated"
		}
		t.Run(name, func(t *testing.T) {
			o := newNanodetOutputs(2, concat)
			in, dec, err := NanoDet{}.Bind(TensorInfo{"data", []int64{1, 3, 416, 416}}, o.infos)
			if err != nil {
				t.Fatal(err)
			}
			if in.Width != 416 || in.Height != 416 || in.Resize != Stretch || in.RGB || in.Batch != 1 || in.Mean[0] != 103.53 || in.Std[2] != 58.395 {
				t.Fatalf("input = %+v", in)
			}
			// stride 16, row 5, col 7: centre (120, 88); sides 2,3,4,10 bins × 16.
			o.place(0, 16, 5, 7, 0, 0.8, [4]int{2, 3, 4, 10})
			// stride 8, last cell: centre (412, 412); sides 1 bin each.
			o.place(0, 8, 51, 51, 0, 0.6, [4]int{1, 1, 1, 1})
			// stride 32, first cell, a dog.
			o.place(0, 32, 0, 0, 16, 0.9, [4]int{0, 0, 5, 5})
			// item 1: stride 32, row 12, col 0.
			o.place(1, 32, 12, 0, 0, 0.7, [4]int{0, 1, 2, 0})
			persons, _ := ParseClasses(nil)
			got, err := dec.Decode(o.tensors, 0, 0.5, persons)
			if err != nil {
				t.Fatal(err)
			}
			want := map[float32]Candidate{
				0.8: {Class: 0, Score: 0.8, X1: 120 - 32, Y1: 88 - 48, X2: 120 + 64, Y2: 88 + 160},
				0.6: {Class: 0, Score: 0.6, X1: 404, Y1: 404, X2: 420, Y2: 420},
			}
			if len(got) != len(want) {
				t.Fatalf("got %+v, want %+v", got, want)
			}
			for _, c := range got {
				w := want[c.Score]
				if c.Class != w.Class || !near(c.X1, w.X1, 1e-3) || !near(c.Y1, w.Y1, 1e-3) || !near(c.X2, w.X2, 1e-3) || !near(c.Y2, w.Y2, 1e-3) {
					t.Fatalf("got %+v, want %+v", c, w)
				}
			}
			got, _ = dec.Decode(o.tensors, 0, 0.5, AllClasses())
			if len(got) != 3 {
				t.Fatalf("all classes: %+v", got)
			}
			got, _ = dec.Decode(o.tensors, 0, 0.85, AllClasses())
			if len(got) != 1 || got[0].Class != 16 || !near(got[0].X2, 16+160, 1e-3) {
				t.Fatalf("dog: %+v", got)
			}
			got, _ = dec.Decode(o.tensors, 1, 0.5, persons)
			if len(got) != 1 || !near(got[0].X1, 16, 1e-3) || !near(got[0].Y1, 400-32, 1e-3) || !near(got[0].X2, 16+64, 1e-3) || !near(got[0].Y2, 400, 1e-3) {
				t.Fatalf("item 1: %+v", got)
			}
			if _, err := dec.Decode(o.tensors[:1], 0, 0.5, persons); !errors.Is(err, ErrShapeMismatch) {
				t.Fatalf("missing outputs: err = %v", err)
			}
		})
	}
}

func TestNanoDetSoftBins(t *testing.T) {
	// Equal logits on bins 2 and 3 give an expected distance of 2.5 bins.
	var probs [nanodetBins]float64
	logits := make([]float32, 11)
	for i := range logits {
		logits[i] = -50
	}
	logits[2], logits[3] = 5, 5
	if got := expectedBin(logits, &probs); !near(got, 2.5, 1e-4) {
		t.Fatalf("expected bin = %v, want 2.5", got)
	}
	for i := range logits {
		logits[i] = 0
	}
	if got := expectedBin(logits, &probs); !near(got, 5, 1e-4) {
		t.Fatalf("uniform expected bin = %v, want 5", got)
	}
}

func TestNanoDetBind(t *testing.T) {
	good := newNanodetOutputs(1, false).infos
	tests := []struct {
		name    string
		in      []int64
		outs    []TensorInfo
		wantErr string
	}{
		{"per head", []int64{1, 3, 416, 416}, good, ""},
		{"concatenated", []int64{1, 3, 416, 416}, newNanodetOutputs(1, true).infos, ""},
		{"missing a head", []int64{1, 3, 416, 416}, good[:5], "N = 2704, 676 and 169 (or concatenated, N = 3549)"},
		{"yolo model", []int64{1, 3, 640, 640}, []TensorInfo{{Shape: []int64{1, 84, 8400}}}, "model has outputs [[1,84,8400]]"},
		{"wrong input size", []int64{1, 3, 320, 320}, good, "for input 320x320"},
		{"not divisible", []int64{1, 3, 410, 416}, good, "divisible by 32"},
		{"grey input", []int64{1, 1, 416, 416}, good, "expects [N,3,H,W]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := NanoDet{}.Bind(TensorInfo{Shape: tt.in}, tt.outs)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrShapeMismatch) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}
