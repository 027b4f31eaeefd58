package video

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/corb-dev/corb/operators/runtimetest"
	"github.com/corb-dev/corb/schemas"
)

func TestKafkaSink(t *testing.T) {
	tt := runtimetest.New(t, runtimetest.Namespace("ns"), runtimetest.Topics(2, "frames"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	sink, err := NewKafkaSink(KafkaSinkConfig{Brokers: tt.Brokers(), Topic: TopicName("ns", "frames"), MaxMessageBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close(ctx)
	t0 := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := range 5 {
		f := &schemas.Frame{CameraID: "cam-a", Source: "a.mp4", Seq: int64(i), CaptureTime: t0.Add(time.Duration(i) * 100 * time.Millisecond),
			Width: 4, Height: 2, Encoding: schemas.EncodingJPEG, Image: bytes.Repeat([]byte{byte(i)}, 100)}
		if err := sink.Send(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	big := &schemas.Frame{CameraID: "cam-a", Source: "a.mp4", Seq: 5, CaptureTime: t0, Width: 1920, Height: 1080,
		Encoding: schemas.EncodingJPEG, Image: make([]byte, 5000)}
	err = sink.Send(ctx, big)
	var tooLarge *FrameTooLargeError
	if !errors.As(err, &tooLarge) || tooLarge.Seq != 5 || tooLarge.Limit != 4096 || tooLarge.Size <= 5000 {
		t.Fatalf("oversized frame: err = %v", err)
	}
	for _, want := range []string{"frame 5", "a.mp4", "4096", "--max-width", "--quality"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if err := sink.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	recs := tt.Expect("frames", 5) // one camera: one partition, in offset order
	for i, r := range recs {
		if string(r.Key) != "cam-a" {
			t.Fatalf("record %d key %q", i, r.Key)
		}
		var f schemas.Frame
		if err := schemas.Unmarshal(r.Value, &f); err != nil {
			t.Fatal(err)
		}
		if f.Seq != int64(i) || !f.CaptureTime.Equal(t0.Add(time.Duration(i)*100*time.Millisecond)) || !r.Timestamp.Equal(f.CaptureTime) {
			t.Fatalf("record %d: seq %d time %v (record ts %v)", i, f.Seq, f.CaptureTime, r.Timestamp)
		}
		if len(f.Image) != 100 || f.Image[0] != byte(i) {
			t.Fatalf("record %d: image %d bytes", i, len(f.Image))
		}
	}
}

func TestNewKafkaSinkConfig(t *testing.T) {
	for name, cfg := range map[string]KafkaSinkConfig{
		"no topic":   {Brokers: []string{"127.0.0.1:1"}},
		"no brokers": {Topic: "frames"},
		"tiny limit": {Brokers: []string{"127.0.0.1:1"}, Topic: "frames", MaxMessageBytes: 10},
	} {
		if _, err := NewKafkaSink(cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: err = %v, want ErrConfig", name, err)
		}
	}
}

func TestTopicMaxMessageBytes(t *testing.T) {
	tt := runtimetest.New(t, runtimetest.Topics(1, "frames"))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	set := "4194304"
	if _, err := kadm.NewClient(tt.Client()).AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "max.message.bytes", Value: &set}}, "frames"); err != nil {
		t.Fatal(err)
	}
	n, err := TopicMaxMessageBytes(ctx, tt.Brokers(), "frames")
	if err != nil || n != 4194304 {
		t.Fatalf("TopicMaxMessageBytes = %d, %v; want 4194304", n, err)
	}
	if _, err := TopicMaxMessageBytes(ctx, tt.Brokers(), "nope"); !errors.Is(err, ErrTopicLimit) {
		t.Fatalf("unknown topic: err = %v, want ErrTopicLimit", err)
	}
}
