package model_test

import (
	"fmt"

	"github.com/corb-dev/corb/operators/detect/model"
)

// A YOLOv8 output with one person, decoded, suppressed and mapped back to a
// 1280×720 frame that was letterboxed into the 640×640 input.
func Example() {
	format, _ := model.Lookup("yolov8")
	in, dec, err := format.Bind(
		model.TensorInfo{Name: "images", Shape: []int64{1, 3, 640, 640}},
		[]model.TensorInfo{{Name: "output0", Shape: []int64{1, 84, 2}}})
	if err != nil {
		fmt.Println(err)
		return
	}
	out := make([]float32, 84*2)
	set := func(anchor, ch int, v float32) { out[ch*2+anchor] = v }
	// anchor 0: a person centred in the input, 320×180 input pixels
	set(0, 0, 320)
	set(0, 1, 320)
	set(0, 2, 320)
	set(0, 3, 180)
	set(0, 4, 0.9)
	persons, _ := model.ParseClasses([]string{"person"})
	cands, _ := dec.Decode([]model.Tensor{{Shape: []int64{1, 84, 2}, Data: out}}, 0, 0.5, persons)
	g, _ := model.NewGeometry(in.Resize, 1280, 720, in.Width, in.Height)
	for _, b := range model.ToBoxes(model.NMS(cands, 0.5), g) {
		fmt.Printf("%s %.2f (%.2f,%.2f)-(%.2f,%.2f)\n", b.Label, b.Score, b.X1, b.Y1, b.X2, b.Y2)
	}
	// Output: person 0.90 (0.25,0.25)-(0.75,0.75)
}
