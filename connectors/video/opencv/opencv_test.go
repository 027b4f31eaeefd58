package opencv

import (
	"bytes"
	"context"
	"errors"
	"image/jpeg"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/corb-dev/corb/connectors/video"
	"github.com/corb-dev/corb/schemas"
)

// need skips (or, under CI=true, fails) when a tool or file is missing.
func need(tb testing.TB, what string, ok bool) {
	tb.Helper()
	if ok {
		return
	}
	if os.Getenv("CI") == "true" {
		tb.Fatalf("%s is required in CI", what)
	}
	tb.Skipf("%s not available", what)
}

// makeClip writes a testsrc clip of n frames with ffmpeg.
func makeClip(tb testing.TB, name string, w, h, fps, n int) string {
	tb.Helper()
	ff, err := exec.LookPath("ffmpeg")
	need(tb, "ffmpeg", err == nil)
	out := filepath.Join(tb.TempDir(), name)
	cmd := exec.Command(ff, "-v", "error", "-f", "lavfi", "-i",
		"testsrc=size="+itoa(w)+"x"+itoa(h)+":rate="+itoa(fps), "-frames:v", itoa(n), "-c:v", "mpeg4", "-q:v", "4", "-y", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	return out
}

func itoa(i int) string { return strconv.Itoa(i) }

// vtestPath is the sample video from deploy/media/fetch.sh, or a copy in /tmp.
func vtestPath() string {
	cache := os.Getenv("CORB_CACHE")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache", "corb")
	}
	for _, p := range []string{filepath.Join(cache, "media", "vtest.avi"), "/tmp/vtest.avi"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

func TestIngestIntoKafka(t *testing.T) {
	clip := makeClip(t, "clip.mkv", 320, 240, 25, 50)
	start := time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name          string
		path          string
		cfg           video.CameraConfig
		limit         int64
		want          int
		gap           time.Duration // mean spacing of capture times
		jitter        time.Duration // allowed deviation of one spacing: sampling picks whole source frames
		width, height int
	}{
		{name: "testsrc every frame", path: clip, cfg: video.CameraConfig{CameraID: "cam-1", StartTime: start}, want: 50, gap: 40 * time.Millisecond, width: 320, height: 240},
		{name: "testsrc 10fps resized", path: clip, cfg: video.CameraConfig{CameraID: "cam-1", StartTime: start, MaxFPS: 10, MaxWidth: 160, Quality: 60}, want: 20, gap: 100 * time.Millisecond, jitter: 40 * time.Millisecond, width: 160, height: 120},
		{name: "vtest first 50", path: vtestPath(), cfg: video.CameraConfig{CameraID: "carpark", StartTime: start, MaxWidth: 384}, limit: 50, want: 50, gap: 100 * time.Millisecond, width: 384, height: 288},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			need(t, "vtest.avi (deploy/media/fetch.sh)", tt.path != "")
			cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "frames"))
			if err != nil {
				t.Fatal(err)
			}
			defer cluster.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			sink, err := video.NewKafkaSink(video.KafkaSinkConfig{Brokers: cluster.ListenAddrs(), Topic: "frames"})
			if err != nil {
				t.Fatal(err)
			}
			defer sink.Close(ctx)
			src, err := video.ParseSource(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			in := &video.Ingester{Opener: Opener{}, Limit: tt.limit, Logger: slog.New(slog.DiscardHandler)}
			st, err := in.Ingest(ctx, src, tt.cfg, sink)
			if err != nil {
				t.Fatal(err)
			}
			if st.FramesSent != int64(tt.want) {
				t.Fatalf("stats %+v, want %d sent", st, tt.want)
			}
			cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.ConsumeTopics("frames"))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			var frames []schemas.Frame
			for len(frames) < tt.want && ctx.Err() == nil {
				fs := cl.PollFetches(ctx)
				for _, r := range fs.Records() {
					if string(r.Key) != tt.cfg.CameraID {
						t.Fatalf("key %q", r.Key)
					}
					var f schemas.Frame
					if err := schemas.Unmarshal(r.Value, &f); err != nil {
						t.Fatal(err)
					}
					frames = append(frames, f)
				}
			}
			if len(frames) != tt.want {
				t.Fatalf("consumed %d frames, want %d", len(frames), tt.want)
			}
			for i, f := range frames {
				if f.Seq != int64(i) || f.Source != src.String() || f.Encoding != schemas.EncodingJPEG {
					t.Fatalf("frame %d: seq %d source %q encoding %s", i, f.Seq, f.Source, f.Encoding)
				}
				if i == 0 && !f.CaptureTime.Equal(start) {
					t.Fatalf("first capture time %v, want %v", f.CaptureTime, start)
				}
				if i > 0 {
					d := f.CaptureTime.Sub(frames[i-1].CaptureTime)
					if slack := tt.jitter + 2*time.Millisecond; d < tt.gap-slack || d > tt.gap+slack {
						t.Fatalf("frames %d,%d are %v apart, want %v ± %v", i-1, i, d, tt.gap, slack)
					}
				}
				cfg, err := jpeg.DecodeConfig(bytes.NewReader(f.Image))
				if err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				if cfg.Width != tt.width || cfg.Height != tt.height || int(f.Width) != tt.width || int(f.Height) != tt.height {
					t.Fatalf("frame %d: jpeg %dx%d, record %dx%d, want %dx%d", i, cfg.Width, cfg.Height, f.Width, f.Height, tt.width, tt.height)
				}
			}
			mean := frames[len(frames)-1].CaptureTime.Sub(frames[0].CaptureTime) / time.Duration(len(frames)-1)
			if d := mean - tt.gap; d < -5*time.Millisecond || d > 5*time.Millisecond {
				t.Fatalf("mean spacing %v, want %v", mean, tt.gap)
			}
			if i := len(frames) / 2; i > 0 {
				if _, err := jpeg.Decode(bytes.NewReader(frames[i].Image)); err != nil {
					t.Fatalf("full decode of frame %d: %v", i, err)
				}
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	bogus := filepath.Join(t.TempDir(), "not-a-video.mp4")
	os.WriteFile(bogus, []byte("this is not a video"), 0o644)
	for _, spec := range []string{bogus, bogus + ".missing", "rtsp://admin:hunter2@127.0.0.1:1/stream"} {
		src, err := video.ParseSource(spec)
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = Opener{}.Open(ctx, src)
		if !errors.Is(err, ErrOpen) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Open(%s) = %v, want ErrOpen without credentials", src, err)
		}
	}
	if _, _, err := (Opener{}).Open(ctx, video.Source{Kind: video.KindDir, Location: "/tmp"}); !errors.Is(err, video.ErrPermanent) {
		t.Errorf("dir source: %v, want ErrPermanent", err)
	}
}

func TestEncodeTooLargeForTopic(t *testing.T) {
	clip := makeClip(t, "big.mp4", 640, 480, 10, 3)
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "frames"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	ctx := context.Background()
	sink, err := video.NewKafkaSink(video.KafkaSinkConfig{Brokers: cluster.ListenAddrs(), Topic: "frames", MaxMessageBytes: 2048})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close(ctx)
	src, _ := video.ParseSource(clip)
	st, err := Ingest(ctx, src, video.CameraConfig{CameraID: "c", Quality: 95}, sink)
	var tl *video.FrameTooLargeError
	if !errors.As(err, &tl) || tl.Seq != 0 || tl.Width != 640 || st.FramesSent != 0 {
		t.Fatalf("err = %v, stats %+v; want FrameTooLargeError for frame 0", err, st)
	}
}
