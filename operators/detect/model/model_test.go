package model

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func near(a, b, tol float32) bool { return float32(math.Abs(float64(a-b))) <= tol }

func TestGeometry(t *testing.T) {
	tests := []struct {
		name                 string
		mode                 ResizeMode
		srcW, srcH, inW, inH int
		want                 Geometry
		// a point in input pixels and where it lands in the frame (normalised)
		x, y, nx, ny float32
	}{
		{"stretch", Stretch, 768, 576, 416, 416,
			Geometry{768, 576, 416, 416, 416, 416, 0, 0}, 208, 104, 0.5, 0.25},
		{"letterbox wide", Letterbox, 1280, 720, 640, 640,
			Geometry{1280, 720, 640, 640, 640, 360, 0, 140}, 320, 140 + 90, 0.5, 0.25},
		{"letterbox tall", Letterbox, 720, 1280, 640, 640,
			Geometry{720, 1280, 640, 640, 360, 640, 140, 0}, 140 + 360, 0, 1, 0},
		{"letterbox square", Letterbox, 100, 100, 640, 640,
			Geometry{100, 100, 640, 640, 640, 640, 0, 0}, 64, 576, 0.1, 0.9},
		{"letterbox odd padding", Letterbox, 1000, 999, 64, 64,
			Geometry{1000, 999, 64, 64, 64, 64, 0, 0}, 32, 32, 0.5, 0.5},
		{"letterbox very wide", Letterbox, 10000, 10, 640, 640,
			Geometry{10000, 10, 640, 640, 640, 1, 0, 319}, 0, 319, 0, 0},
		{"point in top padding clamps to edge", Letterbox, 1280, 720, 640, 640,
			Geometry{1280, 720, 640, 640, 640, 360, 0, 140}, -5, 10, 0, 0},
		{"point in bottom padding clamps to edge", Letterbox, 1280, 720, 640, 640,
			Geometry{1280, 720, 640, 640, 640, 360, 0, 140}, 700, 630, 1, 1},
		{"nan clamps to 0", Stretch, 10, 10, 10, 10,
			Geometry{10, 10, 10, 10, 10, 10, 0, 0}, float32(math.NaN()), 10, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := NewGeometry(tt.mode, tt.srcW, tt.srcH, tt.inW, tt.inH)
			if err != nil {
				t.Fatal(err)
			}
			if g != tt.want {
				t.Fatalf("geometry = %+v, want %+v", g, tt.want)
			}
			nx, ny := g.Normalize(tt.x, tt.y)
			if !near(nx, tt.nx, 1e-6) || !near(ny, tt.ny, 1e-6) {
				t.Fatalf("Normalize(%v,%v) = %v,%v, want %v,%v", tt.x, tt.y, nx, ny, tt.nx, tt.ny)
			}
		})
	}
	if _, err := NewGeometry(Letterbox, 0, 10, 640, 640); err == nil {
		t.Fatal("zero-width frame accepted")
	}
	if _, err := NewGeometry(ResizeMode(7), 10, 10, 640, 640); err == nil {
		t.Fatal("unknown mode accepted")
	}
}

func TestNMS(t *testing.T) {
	box := func(class int, score, x1, y1, x2, y2 float32) Candidate {
		return Candidate{Class: class, Score: score, X1: x1, Y1: y1, X2: x2, Y2: y2}
	}
	tests := []struct {
		name string
		in   []Candidate
		iou  float32
		want []Candidate
	}{
		{"empty", nil, 0.5, []Candidate{}},
		{"overlap same class keeps best", []Candidate{
			box(0, 0.6, 0, 0, 10, 10), box(0, 0.9, 1, 1, 11, 11)}, 0.5,
			[]Candidate{box(0, 0.9, 1, 1, 11, 11)}},
		{"overlap other class kept", []Candidate{
			box(0, 0.6, 0, 0, 10, 10), box(16, 0.9, 1, 1, 11, 11)}, 0.5,
			[]Candidate{box(16, 0.9, 1, 1, 11, 11), box(0, 0.6, 0, 0, 10, 10)}},
		{"iou below threshold kept", []Candidate{
			box(0, 0.9, 0, 0, 10, 10), box(0, 0.8, 5, 0, 15, 10)}, 0.5, // IoU 1/3
			[]Candidate{box(0, 0.9, 0, 0, 10, 10), box(0, 0.8, 5, 0, 15, 10)}},
		{"iou above a low threshold suppressed", []Candidate{
			box(0, 0.9, 0, 0, 10, 10), box(0, 0.8, 5, 0, 15, 10)}, 0.3,
			[]Candidate{box(0, 0.9, 0, 0, 10, 10)}},
		{"zero-area and inverted dropped", []Candidate{
			box(0, 0.99, 5, 5, 5, 9), box(0, 0.98, 9, 9, 3, 3), box(0, 0.5, 0, 0, 1, 1)}, 0.5,
			[]Candidate{box(0, 0.5, 0, 0, 1, 1)}},
		{"touching boxes kept", []Candidate{
			box(0, 0.9, 0, 0, 10, 10), box(0, 0.8, 10, 0, 20, 10)}, 0,
			[]Candidate{box(0, 0.9, 0, 0, 10, 10), box(0, 0.8, 10, 0, 20, 10)}},
		{"chain: suppressed box does not suppress", []Candidate{
			box(0, 0.9, 0, 0, 10, 10), box(0, 0.8, 4, 0, 14, 10), box(0, 0.7, 8, 0, 18, 10)}, 0.4,
			[]Candidate{box(0, 0.9, 0, 0, 10, 10), box(0, 0.7, 8, 0, 18, 10)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := NMS(tt.in, tt.iou)
			if len(got) != len(tt.want) {
				t.Fatalf("NMS = %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("NMS = %v, want %v", got, tt.want)
				}
			}
		})
	}
}

func TestToBoxes(t *testing.T) {
	g, _ := NewGeometry(Letterbox, 1280, 720, 640, 640)
	cands := []Candidate{
		{Class: 0, Score: 0.9, X1: 160, Y1: 140, X2: 480, Y2: 500}, // the whole frame height, middle half
		{Class: 16, Score: 0.8, X1: -20, Y1: 0, X2: 64, Y2: 200},   // runs into the padding: clamped
		{Class: 0, Score: 0.7, X1: 10, Y1: 0, X2: 600, Y2: 130},    // entirely in the top padding: dropped
		{Class: 99, Score: 0.6, X1: 0, Y1: 500, X2: 640, Y2: 640},  // bottom padding only: dropped
		{Class: 5, Score: 0.5, X1: 320, Y1: 320, X2: 320, Y2: 330}, // zero width: dropped
	}
	got := ToBoxes(cands, g)
	if len(got) != 2 {
		t.Fatalf("got %d boxes %+v, want 2", len(got), got)
	}
	b := got[0]
	if b.Label != "person" || b.ClassID != 0 || !near(b.X1, 0.25, 1e-6) || !near(b.Y1, 0, 1e-6) || !near(b.X2, 0.75, 1e-6) || !near(b.Y2, 1, 1e-6) {
		t.Fatalf("box 0 = %+v", b)
	}
	b = got[1]
	if b.Label != "dog" || b.X1 != 0 || !near(b.X2, 0.1, 1e-6) || b.Y1 != 0 || !near(b.Y2, 60.0/360, 1e-6) {
		t.Fatalf("box 1 = %+v", b)
	}
	if len(ToBoxes(nil, g)) != 0 {
		t.Fatal("boxes from nothing")
	}
}

func TestParseClasses(t *testing.T) {
	tests := []struct {
		in      []string
		want    []int
		wantErr bool
	}{
		{nil, []int{0}, false},
		{[]string{"person"}, []int{0}, false},
		{[]string{"Person", " dog ", "2"}, []int{0, 2, 16}, false},
		{[]string{"traffic light"}, []int{9}, false},
		{[]string{"unicorn"}, nil, true},
		{[]string{"80"}, nil, true},
		{[]string{"-1"}, nil, true},
	}
	for _, tt := range tests {
		f, err := ParseClasses(tt.in)
		if tt.wantErr {
			if !errors.Is(err, ErrUnknownClass) {
				t.Errorf("ParseClasses(%q) err = %v, want ErrUnknownClass", tt.in, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("ParseClasses(%q): %v", tt.in, err)
		}
		if got := f.IDs(); !equalInts(got, tt.want) {
			t.Errorf("ParseClasses(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
	all, _ := ParseClasses([]string{"all"})
	if len(all.IDs()) != 80 || !all.Keeps(79) {
		t.Fatal("all does not keep all")
	}
	if (ClassFilter{}).Keeps(0) {
		t.Fatal("zero filter keeps person")
	}
	if COCOLabel(0) != "person" || COCOLabel(79) != "toothbrush" || COCOLabel(80) != "class_80" {
		t.Fatal("labels")
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestFillCHW(t *testing.T) {
	// 2×1 picture: a blue pixel then a red one (BGR bytes).
	pix := []byte{255, 0, 0, 0, 0, 255}
	in := Input{Width: 2, Height: 1, RGB: true, Std: [3]float32{255, 255, 255}}
	dst := make([]float32, 6)
	if err := FillCHW(dst, pix, in); err != nil {
		t.Fatal(err)
	}
	// RGB planes: R = [0,1], G = [0,0], B = [1,0]
	want := []float32{0, 1, 0, 0, 1, 0}
	for i := range want {
		if dst[i] != want[i] {
			t.Fatalf("rgb fill = %v, want %v", dst, want)
		}
	}
	in = Input{Width: 2, Height: 1, Mean: [3]float32{100, 0, 55}, Std: [3]float32{5, 1, 2}}
	if err := FillCHW(dst, pix, in); err != nil {
		t.Fatal(err)
	}
	want = []float32{31, -20, 0, 0, -27.5, 100} // B plane, G plane, R plane
	for i := range want {
		if !near(dst[i], want[i], 1e-4) {
			t.Fatalf("bgr fill = %v, want %v", dst, want)
		}
	}
	if err := FillCHW(dst[:5], pix, in); err == nil {
		t.Fatal("short dst accepted")
	}
}

func TestLookup(t *testing.T) {
	for name, want := range map[string]string{"nanodet": "nanodet", "YOLO11": "yolov8", "yolov8": "yolov8"} {
		f, err := Lookup(name)
		if err != nil || f.Name() != want {
			t.Errorf("Lookup(%q) = %v, %v", name, f, err)
		}
	}
	if _, err := Lookup("ssd"); !errors.Is(err, ErrUnknownFormat) || !strings.Contains(err.Error(), "nanodet, yolov8") {
		t.Errorf("Lookup(ssd) err = %v", err)
	}
}

// BenchmarkFillCHW fills NanoDet-g's 416×416 input from interleaved BGR bytes.
//
//	go test -run '^$' -bench FillCHW ./operators/detect/model/
func BenchmarkFillCHW(b *testing.B) {
	in := Input{Width: 416, Height: 416, Mean: [3]float32{103.53, 116.28, 123.675}, Std: [3]float32{57.375, 57.12, 58.395}}
	pix := make([]byte, 416*416*3)
	for i := range pix {
		pix[i] = byte(i * 7)
	}
	dst := make([]float32, len(pix))
	b.SetBytes(int64(len(pix)))
	for b.Loop() {
		if err := FillCHW(dst, pix, in); err != nil {
			b.Fatal(err)
		}
	}
}
