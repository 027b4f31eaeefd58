package s3

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/corb-dev/corb/connectors/video"
	"github.com/corb-dev/corb/operators/runtimetest"
	"github.com/corb-dev/corb/schemas"
)

// A killed run's frames past its last checkpoint are found on the topic by
// camera and source, whatever else was written around them.
func TestKafkaFrameLog(t *testing.T) {
	tt := runtimetest.New(t, runtimetest.Topics(3, "frames"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sink, err := video.NewKafkaSink(video.KafkaSinkConfig{Brokers: tt.Brokers(), Topic: "frames"})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close(ctx)
	send := func(camera, source string, seqs ...int64) {
		t.Helper()
		for _, s := range seqs {
			f := &schemas.Frame{CameraID: camera, Source: source, Seq: s, CaptureTime: time.Unix(s, 0),
				Width: 2, Height: 2, Encoding: schemas.EncodingJPEG, Image: []byte{1}}
			if err := sink.Send(ctx, f); err != nil {
				t.Fatal(err)
			}
		}
		if err := sink.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	log, err := NewKafkaFrameLog(tt.Brokers(), "frames")
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	const obj = "s3://uploads/lot-a/vtest.mkv"

	send("lot-a", obj, 0, 1, 2, 3)
	mark, err := log.Mark(ctx)
	if err != nil || len(mark) != 3 {
		t.Fatalf("Mark = %v, %v; want 3 partitions", mark, err)
	}
	if last, err := log.LastSeq(ctx, mark, "lot-a", obj); err != nil || last != -1 {
		t.Fatalf("nothing after the mark: LastSeq = %d, %v; want -1", last, err)
	}
	send("lot-a", obj, 4, 5, 6)
	send("lot-a", "s3://uploads/lot-a/other.mkv", 40) // the camera's next upload
	send("lot-b", obj, 90)                            // another camera
	// A transaction of someone else ends a partition with a commit marker.
	tx, err := kgo.NewClient(kgo.SeedBrokers(tt.Brokers()...), kgo.TransactionalID("other"), kgo.DefaultProduceTopic("frames"))
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	if err := tx.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for p := range int32(3) {
		if err := tx.ProduceSync(ctx, &kgo.Record{Partition: p, Key: []byte("lot-a"), Value: []byte("not a frame")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		camera, source string
		mark           map[int32]int64
		want           int64
	}{
		{"lot-a", obj, mark, 6},
		{"lot-a", "s3://uploads/lot-a/other.mkv", mark, 40},
		{"lot-b", obj, mark, 90},
		{"lot-c", obj, mark, -1},
		{"lot-a", obj, map[int32]int64{}, 6}, // partitions the mark does not know are read from the start
	} {
		last, err := log.LastSeq(ctx, c.mark, c.camera, c.source)
		if err != nil || last != c.want {
			t.Errorf("LastSeq(%s, %s) = %d, %v; want %d", c.camera, c.source, last, err, c.want)
		}
	}
}

func TestKafkaEvents(t *testing.T) {
	tt := runtimetest.New(t, runtimetest.Topics(2, "uploads"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pr, err := kgo.NewClient(kgo.SeedBrokers(tt.Brokers()...), kgo.DefaultProduceTopic("uploads"))
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	for _, m := range []string{minioMessage, "not json", awsMessage} {
		if err := pr.ProduceSync(ctx, &kgo.Record{Key: []byte("k"), Value: []byte(m)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	quiet := slog.New(slog.DiscardHandler)
	ev, err := NewKafkaEvents(tt.Brokers(), "uploads", "g", quiet)
	if err != nil {
		t.Fatal(err)
	}
	var got []ObjectEvent
	for len(got) < 2 {
		evs, err := ev.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, evs...)
	}
	if got[0].Key != "lot a/vtest+1.avi" || got[1].Key != "lobby/2026-06-01T09:00.mkv" || len(got) != 2 || ev.Rejected != 1 {
		t.Fatalf("events %+v, %d rejected; want the MinIO and AWS uploads, 1 rejected", got, ev.Rejected)
	}
	if err := ev.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	ev.Close()

	// The group resumes after what was committed.
	if err := pr.ProduceSync(ctx, &kgo.Record{Key: []byte("k"), Value: []byte(eventBridgeMessage)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	again, err := NewKafkaEvents(tt.Brokers(), "uploads", "g", quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	var next []ObjectEvent
	for len(next) == 0 {
		if next, err = again.Next(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if len(next) != 1 || next[0].Key != "dock/a b.mp4" {
		t.Fatalf("after a restart: %+v; want only the EventBridge upload", next)
	}
}
