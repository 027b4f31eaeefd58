// Package detecttest holds what the detect tests and benchmarks share: the
// check for the cached files they need, the reading of a video's frames, and
// the bare ONNX Runtime session they measure the detector and the detect
// operator against.
package detecttest

import (
	"fmt"
	"math/rand/v2"
	"os"
	"testing"

	ort "github.com/yalue/onnxruntime_go"
	"gocv.io/x/gocv"
)

// NeedFile returns path if it exists; otherwise it skips tb, or fails it
// under CI=true, naming the command that makes the file.
func NeedFile(tb testing.TB, path, fix string) string {
	tb.Helper()
	if _, err := os.Stat(path); err != nil {
		msg := fmt.Sprintf("%s is missing: run %s", path, fix)
		if os.Getenv("CI") == "true" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	return path
}

// VideoFrames calls fn with each of the first n frames of the video at path
// (every frame when n ≤ 0), decoded with FFmpeg through OpenCV, and returns
// how many it read: fewer than n when the video ends first. m is reused from
// one call to the next; clone it to keep it.
func VideoFrames(tb testing.TB, path string, n int, fn func(i int, m gocv.Mat)) int {
	tb.Helper()
	vc, err := gocv.VideoCaptureFileWithAPI(path, gocv.VideoCaptureFFmpeg)
	if err != nil {
		tb.Fatal(err)
	}
	defer vc.Close()
	m := gocv.NewMat()
	defer m.Close()
	i := 0
	for ; (n <= 0 || i < n) && vc.Read(&m) && !m.Empty(); i++ {
		fn(i, m)
	}
	return i
}

// RawSession opens the model at path in a bare ONNX Runtime session — the
// given intra-op threads, spinning off as in the Detector — with a
// [batch,3,H,W] input of noise and preallocated outputs: the floor the
// benchmarks compare with. The ONNX Runtime environment must be initialised
// (create a detector first). Everything is released when tb ends.
func RawSession(tb testing.TB, path string, threads, batch int) (*ort.DynamicAdvancedSession, ort.Value, []ort.Value) {
	tb.Helper()
	ins, outs, err := ort.GetInputOutputInfo(path)
	if err != nil {
		tb.Fatal(err)
	}
	opts, err := ort.NewSessionOptions()
	if err != nil {
		tb.Fatal(err)
	}
	defer opts.Destroy()
	if err := opts.SetIntraOpNumThreads(threads); err != nil {
		tb.Fatal(err)
	}
	if err := opts.AddSessionConfigEntry("session.intra_op.allow_spinning", "0"); err != nil {
		tb.Fatal(err)
	}
	shape := ort.NewShape(ins[0].Dimensions...)
	shape[0] = int64(batch)
	input, err := ort.NewEmptyTensor[float32](shape)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { input.Destroy() })
	data := input.GetData()
	for i := range data {
		data[i] = float32(rand.NormFloat64())
	}
	names := make([]string, len(outs))
	outputs := make([]ort.Value, len(outs))
	for i, o := range outs {
		names[i] = o.Name
		s := ort.NewShape(o.Dimensions...)
		s[0] = int64(batch)
		t, err := ort.NewEmptyTensor[float32](s)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { t.Destroy() })
		outputs[i] = t
	}
	s, err := ort.NewDynamicAdvancedSession(path, []string{ins[0].Name}, names, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Destroy() })
	return s, input, outputs
}
