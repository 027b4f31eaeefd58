package detect

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	ort "github.com/yalue/onnxruntime_go"
	"gocv.io/x/gocv"

	"github.com/corb-dev/corb/operators"
	"github.com/corb-dev/corb/operators/detect/detecttest"
	"github.com/corb-dev/corb/schemas"
)

// BenchmarkOperatorVsRawORT runs, interleaved, the detect operator's Process
// on 32 JPEG frames of vtest.avi (unmarshal, JPEG decode, preprocess, ONNX
// Runtime, postprocess, marshal) and a bare ONNX Runtime Run loop over the
// same number of frames in batches of the same size, same model and threads
// (input filled once, outputs preallocated: the floor). No broker: this is
// the operator's own overhead; integration/detect_bench_test.go adds Kafka.
//
//	go test -run '^$' -bench OperatorVsRawORT -benchtime 5x ./operators/detect/
func BenchmarkOperatorVsRawORT(b *testing.B) {
	const threads, frames = 2, 32
	for _, batch := range []int{1, 4} {
		b.Run(fmt.Sprintf("max_batch=%d", batch), func(b *testing.B) {
			op := newTestOperator(b, OperatorConfig{MaxBatch: batch, Threads: threads}, time.Now(), nil)
			video := detecttest.NeedFile(b, filepath.Join(CacheDir(), "media", "vtest.avi"), "deploy/media/fetch.sh")
			recs := videoRecords(b, video, frames)
			raw, input, outputs := detecttest.RawSession(b, op.Detector().Info().ModelPath, threads, batch)

			ctx := context.Background()
			if _, err := op.Process(ctx, recs[:batch]); err != nil { // warm up
				b.Fatal(err)
			}
			if err := raw.Run([]ort.Value{input}, outputs); err != nil {
				b.Fatal(err)
			}
			var opTime, rawTime time.Duration
			b.ResetTimer()
			for range b.N {
				start := time.Now()
				res, err := op.Process(ctx, recs)
				if err != nil {
					b.Fatal(err)
				}
				opTime += time.Since(start)
				for _, r := range res {
					if r.Err != nil || len(r.Outputs) != 1 {
						b.Fatalf("result %+v", r)
					}
				}
				start = time.Now()
				for range frames / batch {
					if err := raw.Run([]ort.Value{input}, outputs); err != nil {
						b.Fatal(err)
					}
				}
				rawTime += time.Since(start)
			}
			n := float64(b.N * frames)
			b.ReportMetric(n/opTime.Seconds(), "operator-frames/s")
			b.ReportMetric(n/rawTime.Seconds(), "raw-frames/s")
			b.ReportMetric(rawTime.Seconds()/opTime.Seconds(), "operator/raw")
		})
	}
}

// videoRecords are the first n frames of a video as JPEG corb.Frame records.
func videoRecords(b testing.TB, path string, n int) []operators.Record {
	vc, err := gocv.VideoCaptureFileWithAPI(path, gocv.VideoCaptureFFmpeg)
	if err != nil {
		b.Fatal(err)
	}
	defer vc.Close()
	m := gocv.NewMat()
	defer m.Close()
	var recs []operators.Record
	for i := range n {
		if !vc.Read(&m) || m.Empty() {
			b.Fatalf("cannot decode frame %d of %s", i, path)
		}
		buf, err := gocv.IMEncode(gocv.JPEGFileExt, m)
		if err != nil {
			b.Fatal(err)
		}
		recs = append(recs, frameRecord(b, &schemas.Frame{CameraID: "vtest", Seq: int64(i), CaptureTime: time.Now(),
			Encoding: schemas.EncodingJPEG, Image: append([]byte(nil), buf.GetBytes()...)}))
		buf.Close()
	}
	return recs
}
