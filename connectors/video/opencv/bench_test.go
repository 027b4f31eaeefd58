package opencv

import (
	"context"
	"log/slog"
	"os/exec"
	"testing"
	"time"

	"github.com/corb-dev/corb/connectors/video"
	"github.com/corb-dev/corb/schemas"
)

// countSink encodes each frame as the Kafka sink would and discards it.
type countSink struct{ frames, bytes int64 }

func (s *countSink) Send(_ context.Context, f *schemas.Frame) error {
	b, err := schemas.Marshal(f)
	if err != nil {
		return err
	}
	s.frames++
	s.bytes += int64(len(b))
	return nil
}
func (s *countSink) Flush(context.Context) error { return nil }

// BenchmarkIngestVsFFmpeg decodes and JPEG-encodes every frame of vtest.avi
// (768x576, 795 frames) and compares the frame rate with `ffmpeg -f null`
// decoding the same file, measured in the same run. Metrics:
// ingest-fps, ffmpeg-fps and ratio (ingest/ffmpeg; ffmpeg only decodes).
// Sub-benchmarks vary max_width (0 = full size); decode-only samples at
// 1e-6 fps so only the first frame is encoded (OpenCV's decode cost alone).
func BenchmarkIngestVsFFmpeg(b *testing.B) {
	path := vtestPath()
	need(b, "vtest.avi (deploy/media/fetch.sh)", path != "")
	ff, err := exec.LookPath("ffmpeg")
	need(b, "ffmpeg", err == nil)
	src, err := video.ParseSource(path)
	if err != nil {
		b.Fatal(err)
	}
	// Baseline: best of 3 ffmpeg decodes.
	var ffBest time.Duration
	for range 3 {
		t0 := time.Now()
		if out, err := exec.Command(ff, "-v", "error", "-nostdin", "-i", path, "-f", "null", "-").CombinedOutput(); err != nil {
			b.Fatalf("ffmpeg: %v\n%s", err, out)
		}
		if d := time.Since(t0); ffBest == 0 || d < ffBest {
			ffBest = d
		}
	}
	for _, bc := range []struct {
		name     string
		maxWidth int
		maxFPS   float64
	}{{"full", 0, 0}, {"w416", 416, 0}, {"w384", 384, 0}, {"decode-only", 0, 1e-6}} {
		b.Run(bc.name, func(b *testing.B) {
			in := &video.Ingester{Opener: Opener{}, Logger: slog.New(slog.DiscardHandler)}
			cfg := video.CameraConfig{CameraID: "bench", MaxWidth: bc.maxWidth, MaxFPS: bc.maxFPS}
			var frames int64
			b.ResetTimer()
			for b.Loop() {
				sink := &countSink{}
				st, err := in.Ingest(context.Background(), src, cfg, sink)
				if err != nil {
					b.Fatal(err)
				}
				frames += st.FramesRead
			}
			elapsed := b.Elapsed()
			ingestFPS := float64(frames) / elapsed.Seconds()
			ffFPS := float64(frames/int64(b.N)) / ffBest.Seconds()
			b.ReportMetric(ingestFPS, "ingest-fps")
			b.ReportMetric(ffFPS, "ffmpeg-fps")
			b.ReportMetric(ingestFPS/ffFPS, "ratio")
		})
	}
}
