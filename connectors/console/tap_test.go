package console_test

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/corb-dev/corb/connectors/console"
	"github.com/corb-dev/corb/operators/runtimetest"
	"github.com/corb-dev/corb/schemas"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestTapReportsWhatFlows(t *testing.T) {
	tt := runtimetest.New(t, runtimetest.Topics(1, "d", "e", "dlq"))
	ts := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	tt.ProduceAvro("d", "", &schemas.Detections{CameraID: "c", CaptureTime: ts, Boxes: make([]schemas.Box, 3)})
	tt.ProduceAvro("d", "", &schemas.Detections{CameraID: "c", CaptureTime: ts, Boxes: make([]schemas.Box, 1)})
	tt.Produce("d", "", []byte("junk"))
	tt.ProduceAvro("e", "", &schemas.PresenceEvent{EventID: "x", ZoneID: "lawn", Type: schemas.Occupied, Count: 2, Peak: 2,
		WindowStart: ts, WindowEnd: ts.Add(2 * time.Second), EventTime: ts})
	tt.ProduceRecords(&kgo.Record{Topic: "dlq", Value: []byte("bad"), Headers: []kgo.RecordHeader{
		{Key: "corb.reason", Value: []byte("permanent")}, {Key: "corb.error", Value: []byte("cannot decode JPEG")}}})

	out := &lockedBuffer{}
	tap, err := console.NewTap(tt.Brokers(), []console.Topic{
		{Logical: "detections", Physical: "d", Schema: "corb.Detections"},
		{Logical: "events", Physical: "e", Schema: "corb.PresenceEvent"},
		{Logical: "frames-dlq", Physical: "dlq", Schema: "bytes", DeadLetter: true},
	}, out, 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	run := tt.Go("tap", tap.Run)
	deadline := time.Now().Add(10 * time.Second)
	for tap.Stats("detections").Records < 3 || tap.Stats("frames-dlq").Records < 1 || tap.Stats("events").Records < 1 {
		if time.Now().After(deadline) {
			t.Fatalf("tap saw too little:\n%s", out)
		}
		time.Sleep(10 * time.Millisecond)
	}
	run.Stop()
	d := tap.Stats("detections")
	if d.People != 4 || d.MaxPeople != 3 || d.Undecodable != 1 {
		t.Errorf("detections stats %+v, want 4 people, max 3, 1 undecodable", d)
	}
	if got := tap.Stats("events").Events[schemas.Occupied]; got != 1 {
		t.Errorf("OCCUPIED events = %d, want 1", got)
	}
	text := out.String()
	for _, want := range []string{"lawn", "OCCUPIED", "dead letter in frames-dlq: permanent", "cannot decode JPEG"} {
		if !strings.Contains(text, want) {
			t.Errorf("account lacks %q:\n%s", want, text)
		}
	}
	var sum bytes.Buffer
	tap.Summary(&sum)
	if !strings.Contains(sum.String(), "1.33 people/frame on average, at most 3") ||
		!strings.Contains(sum.String(), "lawn       now OCCUPIED, 2 people (peak 2)") {
		t.Errorf("summary:\n%s", sum.String())
	}
}
