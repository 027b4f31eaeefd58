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
	tt := runtimetest.New(t, runtimetest.Topics(1, "f", "d", "e", "c", "sent", "dlq"))
	ts := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	tt.Produce("f", "", []byte("frame"))
	tt.ProduceAvro("d", "", &schemas.Detections{CameraID: "c", CaptureTime: ts, Boxes: make([]schemas.Box, 3)})
	tt.ProduceAvro("d", "", &schemas.Detections{CameraID: "c", CaptureTime: ts, Boxes: make([]schemas.Box, 1)})
	tt.Produce("d", "", []byte("junk"))
	ev := func(typ schemas.PresenceType, count int32, at time.Duration) *schemas.PresenceEvent {
		return &schemas.PresenceEvent{EventID: string(typ), ZoneID: "lawn", Type: typ, Count: count, Peak: 2,
			WindowStart: ts.Add(at), WindowEnd: ts.Add(at + 2*time.Second), EventTime: ts.Add(at)}
	}
	tt.ProduceAvro("e", "lawn", ev(schemas.Occupied, 2, 0))
	tt.ProduceAvro("e", "lawn", ev(schemas.CountChanged, 1, 2*time.Second))
	tt.ProduceAvro("e", "lawn", ev(schemas.Vacated, 0, 10*time.Second))
	status := schemas.NewCommand(schemas.CommandStatus, schemas.Cause{Kind: schemas.CauseSMS, ID: "SM1"})
	status.Channel, status.Sender, status.ZoneID = "sms", "+15550001", "lawn"
	reply := status.Child(schemas.CommandSendSMS, "reply")
	reply.SendSMS = &schemas.SendSMSArgs{To: "+15550001", Body: "Lawn:\nfree"}
	clean := schemas.NewCommand(schemas.CommandRequestCleaning, schemas.Cause{Kind: schemas.CauseEvent, ID: "lawn/VACATED/1"})
	clean.Channel, clean.ZoneID = "rules", "lawn"
	clean.RequestCleaning = &schemas.RequestCleaningArgs{Reason: "20 visits"}
	for _, c := range []*schemas.Command{status, reply, reply, clean} { // reply twice: one text
		tt.ProduceAvro("c", c.Key(), c)
	}
	tt.Produce("sent", reply.ID, []byte(`{"id":"`+reply.ID+`","state":"attempt"}`))
	tt.Produce("sent", reply.ID, []byte(`{"id":"`+reply.ID+`","state":"sent","sid":"SMx"}`))
	tt.ProduceRecords(&kgo.Record{Topic: "dlq", Value: []byte("bad"), Headers: []kgo.RecordHeader{
		{Key: "corb.reason", Value: []byte("permanent")}, {Key: "corb.error", Value: []byte("cannot decode JPEG")}}})

	out := &lockedBuffer{}
	tap, err := console.NewTap(tt.Brokers(), []console.Topic{
		{Logical: "frames", Physical: "f", Role: console.Frames},
		{Logical: "detections", Physical: "d", Role: console.Detections},
		{Logical: "events", Physical: "e", Role: console.Events},
		{Logical: "commands", Physical: "c", Role: console.Commands},
		{Logical: "sms-sent", Physical: "sent", Role: console.SentLog},
		{Logical: "frames-dlq", Physical: "dlq", Role: console.DeadLetter},
	}, out, console.Options{Interval: 20 * time.Millisecond, Names: map[string]string{"+15550001": "Ada"}})
	if err != nil {
		t.Fatal(err)
	}
	run := tt.Go("tap", tap.Run)
	deadline := time.Now().Add(10 * time.Second)
	for tap.Total() < 14 {
		if time.Now().After(deadline) {
			t.Fatalf("tap saw too little:\n%s", out)
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // a report line
	run.Stop()
	d := tap.Stats("detections")
	if d.People != 4 || d.MaxPeople != 3 || d.Undecodable != 1 {
		t.Errorf("detections stats %+v, want 4 people, max 3, 1 undecodable", d)
	}
	if got := tap.Stats("events").Events; got[schemas.Occupied] != 1 || got[schemas.Vacated] != 1 {
		t.Errorf("events %v, want one OCCUPIED and one VACATED", got)
	}
	if n := tap.TextsSent(); n != 1 {
		t.Errorf("texts sent %d, want 1 (the sent log has one sid)", n)
	}
	if conv := tap.Conversation(); len(conv) != 2 || !conv[0].Incoming || conv[0].Body != "STATUS lawn" || conv[1].Kind != "reply" {
		t.Errorf("conversation %+v, want STATUS in and one reply out", conv)
	}
	text := out.String()
	for _, want := range []string{"▲ lawn OCCUPIED, 2 people", "▽ lawn VACATED (peak 2 people)",
		"← Ada +15550001    STATUS lawn", "→ Ada +15550001    Lawn: free (reply)", "⚑ request_cleaning lawn (from rules): 20 visits",
		"dead letter in frames-dlq: permanent", "cannot decode JPEG", "1 frames (", "zones: lawn free"} {
		if !strings.Contains(text, want) {
			t.Errorf("account lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "lawn 1 person") {
		t.Errorf("account prints count changes without Verbose:\n%s", text)
	}
	var sum bytes.Buffer
	tap.Summary(&sum)
	for _, want := range []string{
		"detections  3, 1.33 people a frame on average, at most 3",
		"lawn         free           0     2         1        1",
		"events      3: COUNT_CHANGED 1, OCCUPIED 1, VACATED 1",
		"commands    3: request_cleaning 1, send_sms 1, status 1",
		"texts       1 sent, 1 received",
		"dead letters frames-dlq 1",
		"detections 3 (1 undecodable)",
	} {
		if !strings.Contains(sum.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, sum.String())
		}
	}
}
