package model

import (
	"encoding/binary"
	"math"
	"testing"
)

// floatsFrom turns fuzz bytes into float32s.
func floatsFrom(b []byte) []float32 {
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[i*4:]))
	}
	return out
}

// FuzzDecode feeds both decoders output tensors of arbitrary shape and
// content, as a broken or hostile model could produce: they must return
// candidates or an error, never panic, and every candidate must pass the
// threshold and the filter.
func FuzzDecode(f *testing.F) {
	f.Add(int64(1), int64(84), int64(2), []byte{1, 2, 3, 4}, 0, float32(0.5))
	f.Add(int64(1), int64(3), int64(84), make([]byte, 84*3*4), 0, float32(0))
	f.Add(int64(2), int64(169), int64(80), []byte{}, 1, float32(-1))
	f.Fuzz(func(t *testing.T, b0, b1, b2 int64, data []byte, item int, threshold float32) {
		if b0*b1*b2 > 1<<20 || b0 < -2 || b1 < -2 || b2 < -2 {
			return
		}
		vals := floatsFrom(data)
		shape := []int64{b0, b1, b2}
		persons, _ := ParseClasses(nil)
		yin, ydec, err := YOLOv8{}.Bind(TensorInfo{Shape: []int64{1, 3, 640, 640}}, []TensorInfo{{Shape: shape}})
		if err == nil {
			_ = yin
			cands, err := ydec.Decode([]Tensor{{Shape: shape, Data: vals}}, item, threshold, persons)
			for _, c := range cands {
				if err != nil || c.Class != 0 || !(c.Score >= threshold) {
					t.Fatalf("bad candidate %+v (err %v)", c, err)
				}
			}
		}
		infos := newNanodetOutputs(1, true).infos
		_, ndec, err := NanoDet{}.Bind(TensorInfo{Shape: []int64{1, 3, 416, 416}}, infos)
		if err != nil {
			t.Fatal(err)
		}
		tensors := []Tensor{{Shape: shape, Data: vals}, {Shape: shape, Data: vals}}
		cands, err := ndec.Decode(tensors, item, threshold, persons)
		for _, c := range cands {
			if err != nil || c.Class != 0 || !(c.Score >= threshold) {
				t.Fatalf("bad candidate %+v (err %v)", c, err)
			}
		}
		NMS(cands, 0.5)
	})
}
