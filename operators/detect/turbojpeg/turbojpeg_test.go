package turbojpeg

import (
	"errors"
	"testing"

	"gocv.io/x/gocv"
)

// testJPEG encodes a w×h BGR gradient with a few hard edges as a JPEG.
func testJPEG(t testing.TB, w, h int) []byte {
	t.Helper()
	m := gocv.NewMatWithSize(h, w, gocv.MatTypeCV8UC3)
	defer m.Close()
	pix, err := m.DataPtrUint8()
	if err != nil {
		t.Fatal(err)
	}
	for y := range h {
		for x := range w {
			i := (y*w + x) * 3
			pix[i], pix[i+1], pix[i+2] = byte(x*255/w), byte(y*255/h), byte((x/16+y/16)%2*200)
		}
	}
	buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, m, []int{gocv.IMWriteJpegQuality, 85})
	if err != nil {
		t.Fatal(err)
	}
	defer buf.Close()
	return append([]byte(nil), buf.GetBytes()...)
}

// atLeast is a need of a fixed least size.
func atLeast(w, h int) func(int, int) (int, int) {
	return func(int, int) (int, int) { return w, h }
}

func newDecoder(t testing.TB) *Decoder {
	t.Helper()
	d, err := NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func TestDecodeScale(t *testing.T) {
	d := newDecoder(t)
	for _, c := range []struct {
		name             string
		w, h, minW, minH int
		wantW, wantH     int
	}{
		{"no minimum: full size", 768, 576, 0, 0, 768, 576},
		{"vtest into a 416 letterbox: full size", 768, 576, 416, 312, 768, 576},
		{"exactly half fits: 1/2", 768, 576, 384, 288, 384, 288},
		{"just over half: full size", 768, 576, 385, 288, 768, 576},
		{"1080p into a 416 letterbox: 1/4", 1920, 1080, 416, 234, 480, 270},
		{"tiny minimum: 1/8", 1920, 1080, 1, 1, 240, 135},
		{"height decides", 640, 640, 100, 600, 640, 640},
		{"smaller than the minimum: full size", 320, 240, 416, 416, 320, 240},
		{"odd size rounds up", 101, 77, 13, 10, 13, 10},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, w, h, err := d.Decode(testJPEG(t, c.w, c.h), atLeast(c.minW, c.minH))
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if w != c.w || h != c.h {
				t.Errorf("full size %d×%d, want %d×%d", w, h, c.w, c.h)
			}
			if m.Cols() != c.wantW || m.Rows() != c.wantH || m.Type() != gocv.MatTypeCV8UC3 {
				t.Errorf("decoded %d×%d type %v, want %d×%d BGR", m.Cols(), m.Rows(), m.Type(), c.wantW, c.wantH)
			}
		})
	}
}

// At full size the decode must be OpenCV's (both are libjpeg-turbo with the
// same default DCT and upsampling), so switching decoders moves no pixel.
func TestFullSizeMatchesOpenCV(t *testing.T) {
	d := newDecoder(t)
	img := testJPEG(t, 200, 150)
	ours, _, _, err := d.Decode(img, atLeast(200, 150))
	if err != nil {
		t.Fatal(err)
	}
	defer ours.Close()
	cv, err := gocv.IMDecode(img, gocv.IMReadColor)
	if err != nil {
		t.Fatal(err)
	}
	defer cv.Close()
	diff := gocv.NewMat()
	defer diff.Close()
	gocv.AbsDiff(ours, cv, &diff)
	_, maxv, _, _ := gocv.MinMaxLoc(diff.Reshape(1, 0))
	if maxv > 1 {
		t.Errorf("largest pixel difference from OpenCV's decode is %v, want ≤ 1", maxv)
	}
}

func TestDecodeErrors(t *testing.T) {
	d := newDecoder(t)
	good := testJPEG(t, 64, 48)
	for _, c := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"not a JPEG", []byte("GIF89a not a jpeg at all")},
		{"header only", good[:20]},
		{"forged size", forgedSize(good, 65000, 65000)},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, _, _, err := d.Decode(c.b, nil)
			if err == nil {
				m.Close()
				t.Fatal("decoded")
			}
			if !errors.Is(err, ErrDecode) {
				t.Errorf("error %v does not wrap ErrDecode", err)
			}
		})
	}
	// The decoder is still usable after errors.
	m, _, _, err := d.Decode(good, atLeast(64, 48))
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
}

// forgedSize rewrites the SOF0 frame size of a baseline JPEG.
func forgedSize(b []byte, w, h int) []byte {
	out := append([]byte(nil), b...)
	for i := 2; i+9 < len(out); i++ {
		if out[i] == 0xff && out[i+1] == 0xc0 {
			out[i+5], out[i+6] = byte(h>>8), byte(h)
			out[i+7], out[i+8] = byte(w>>8), byte(w)
			return out
		}
	}
	panic("no SOF0")
}

func FuzzDecode(f *testing.F) {
	f.Add(testJPEG(f, 32, 24), 16, 12)
	f.Add(testJPEG(f, 17, 9), 0, 0)
	f.Add([]byte{0xff, 0xd8, 0xff, 0xd9}, 1, 1)
	d := newDecoder(f)
	f.Fuzz(func(t *testing.T, b []byte, minW, minH int) {
		m, w, h, err := d.Decode(b, atLeast(minW, minH))
		if err != nil {
			if !errors.Is(err, ErrDecode) {
				t.Fatalf("error %v does not wrap ErrDecode", err)
			}
			return
		}
		defer m.Close()
		if w <= 0 || h <= 0 || w*h > MaxPixels || m.Cols() > w || m.Rows() > h || m.Cols() <= 0 || m.Rows() <= 0 {
			t.Fatalf("full %d×%d, decoded %d×%d", w, h, m.Cols(), m.Rows())
		}
	})
}

// BenchmarkDecode compares, on the same 768×576 JPEG (quality 85), OpenCV's
// full-size imdecode (the baseline) with Decode at full size and at 1/2.
//
//	go test -run '^$' -bench Decode ./operators/detect/turbojpeg/
func BenchmarkDecode(b *testing.B) {
	img := testJPEG(b, 768, 576)
	d := newDecoder(b)
	b.Run("opencv_full", func(b *testing.B) {
		for range b.N {
			m, err := gocv.IMDecode(img, gocv.IMReadColor)
			if err != nil {
				b.Fatal(err)
			}
			m.Close()
		}
	})
	for _, c := range []struct {
		name       string
		minW, minH int
	}{{"turbojpeg_full", 0, 0}, {"turbojpeg_half", 384, 288}} {
		b.Run(c.name, func(b *testing.B) {
			for range b.N {
				m, _, _, err := d.Decode(img, atLeast(c.minW, c.minH))
				if err != nil {
					b.Fatal(err)
				}
				m.Close()
			}
		})
	}
}
