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

// BenchmarkPrepareVsInfer is what the operator does to a real frame besides
// inference — unmarshal, JPEG decoding (libjpeg-turbo), resize, letterbox,
// normalise — against ONNX Runtime's inference of the same frames on one
// thread (each CPU instance's default), interleaved chunk by chunk on 32
// frames of vtest.avi at corb ingest's default quality 85. It reports
// milliseconds per frame of each and their ratio.
//
//	go test -run '^$' -bench PrepareVsInfer -benchtime 10x ./operators/detect/
func BenchmarkPrepareVsInfer(b *testing.B) {
	const frames, batch = 32, 4
	op := newTestOperator(b, OperatorConfig{MaxBatch: batch, Instances: 1, Threads: 1}, time.Now(), nil)
	recs := videoRecordsAt(b, detecttest.NeedFile(b, filepath.Join(CacheDir(), "media", "vtest.avi"), "deploy/media/fetch.sh"), frames, 85)
	l := op.lanes[0]
	dec, err := NewFrameDecoder()
	if err != nil {
		b.Fatal(err)
	}
	defer dec.Close()
	bt := l.det.NewBatch()
	defer bt.Close()
	var prep, infer time.Duration
	b.ResetTimer()
	for range b.N {
		for lo := 0; lo < frames; lo += batch {
			start := time.Now()
			for _, r := range recs[lo : lo+batch] {
				if f, _, _, err := l.prepareOne(dec, r, time.Now(), bt); err != nil || f == nil {
					b.Fatalf("prepare: %v", err)
				}
			}
			prep += time.Since(start)
			start = time.Now()
			if _, _, err := l.det.Infer(context.Background(), bt); err != nil {
				b.Fatal(err)
			}
			infer += time.Since(start)
		}
	}
	n := float64(b.N * frames)
	b.ReportMetric(float64(prep.Microseconds())/1000/n, "prepare-ms/frame")
	b.ReportMetric(float64(infer.Microseconds())/1000/n, "infer-ms/frame")
	b.ReportMetric(prep.Seconds()/infer.Seconds(), "prepare/infer")
}

// videoRecords are the first n frames of a video as JPEG corb.Frame records
// (quality 95, OpenCV's default).
func videoRecords(b testing.TB, path string, n int) []operators.Record {
	return videoRecordsAt(b, path, n, 95)
}

// videoRecordsAt is videoRecords at a JPEG quality.
func videoRecordsAt(b testing.TB, path string, n, quality int) []operators.Record {
	var recs []operators.Record
	detecttest.VideoFrames(b, path, n, func(i int, m gocv.Mat) {
		buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, m, []int{gocv.IMWriteJpegQuality, quality})
		if err != nil {
			b.Fatal(err)
		}
		recs = append(recs, frameRecord(b, &schemas.Frame{CameraID: "vtest", Seq: int64(i), CaptureTime: time.Now(),
			Encoding: schemas.EncodingJPEG, Image: append([]byte(nil), buf.GetBytes()...)}))
		buf.Close()
	})
	if len(recs) < n {
		b.Fatalf("cannot decode frame %d of %s", len(recs), path)
	}
	return recs
}
