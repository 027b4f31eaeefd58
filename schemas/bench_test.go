package schemas

import (
	"math/rand/v2"
	"testing"
)

func frame100KB() *Frame {
	img := make([]byte, 100*1024)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range img {
		img[i] = byte(rng.Uint32())
	}
	return &Frame{
		CameraID: "lobby-1", Source: "rtsp://10.0.0.7/stream1", Seq: 1,
		CaptureTime: ts("2025-03-14T09:26:53.589793Z"), Width: 768, Height: 576,
		Encoding: EncodingJPEG, Image: img,
	}
}

func BenchmarkMarshalFrame100KB(b *testing.B) {
	f := frame100KB()
	b.SetBytes(int64(len(f.Image)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Marshal(f); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnmarshalFrame100KB(b *testing.B) {
	buf, err := Marshal(frame100KB())
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		var f Frame
		if err := Unmarshal(buf, &f); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCopy100KB is the baseline: one allocation and copy of the image,
// the least any decoder that does not alias its input must do.
func BenchmarkCopy100KB(b *testing.B) {
	img := frame100KB().Image
	b.SetBytes(int64(len(img)))
	b.ReportAllocs()
	for b.Loop() {
		out := make([]byte, len(img))
		copy(out, img)
		if out[0] != img[0] {
			b.Fatal("copy")
		}
	}
}
