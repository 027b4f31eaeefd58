package dashboard

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/corb-dev/corb/operators/runtime"
	"github.com/corb-dev/corb/schemas"
)

func testTopics(ns string) Topics {
	t := func(name string) Topic { return Topic{Logical: name, Physical: ns + "." + name} }
	return Topics{Frames: t("frames"), Detections: t("detections"), Events: t("events"), Occupancy: t("occupancy"),
		Commands: t("commands"), SMSSent: t("sms-sent"), SMSStatus: t("sms-status"),
		DeadLetters: []Topic{t("frames-dlq"), t("commands-dlq")}}
}

func record(t *testing.T, topic string, r schemas.Record) *kgo.Record {
	t.Helper()
	v, err := schemas.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return &kgo.Record{Topic: topic, Value: v}
}

// runDashboard runs d until the test ends.
func runDashboard(t *testing.T, d *Dashboard) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// waitState polls the dashboard's state until cond holds.
func waitState(t *testing.T, d *Dashboard, what string, cond func(snapshotMsg) bool) snapshotMsg {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var s snapshotMsg
		d.hub.view(func(m *model) { s = m.snapshot() })
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			b, _ := json.MarshalIndent(s, "", " ")
			t.Fatalf("no %s; state:\n%s", what, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The dashboard reads every kind of topic of the topology from Kafka, and a
// topic not on the cluster is said and read once it is created.
func TestDashboardReadsTheTopics(t *testing.T) {
	topics := testTopics("t")
	var names []string
	for _, tp := range append([]Topic{topics.Frames, topics.Detections, topics.Events, topics.Occupancy, topics.Commands, topics.SMSSent},
		topics.DeadLetters...) {
		names = append(names, tp.Physical)
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, names...)) // not sms-status, yet
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.MetadataMinAge(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()

	in := schemas.NewCommand(schemas.CommandStatus, schemas.Cause{Kind: schemas.CauseSMS, ID: "SMin"})
	in.Channel, in.Sender, in.IssuedAt = "sms", "+15550001", t0
	reply := in.Child(schemas.CommandSendSMS, "reply")
	reply.SendSMS = &schemas.SendSMSArgs{To: "+15550001", Body: "Lawn: occupied (2 people)"}
	sent, _ := json.Marshal(map[string]any{"id": reply.ID, "state": "sent", "to": "+15550001", "sid": "SMout", "at": t0})
	occupied := &schemas.PresenceEvent{EventID: "e1", ZoneID: "lawn", Type: schemas.Occupied, Count: 2, Peak: 2, OccupiedSince: t0, EventTime: t0}
	recs := []*kgo.Record{
		record(t, topics.Frames.Physical, testFrame("vtest", 0)),
		record(t, topics.Detections.Physical, testDetections("vtest", 0, 2)),
		record(t, topics.Events.Physical, occupied),
		record(t, topics.Commands.Physical, in),
		record(t, topics.Commands.Physical, reply),
		{Topic: topics.SMSSent.Physical, Value: sent},
		{Topic: topics.DeadLetters[0].Physical, Value: []byte("not a frame"), Headers: []kgo.RecordHeader{
			{Key: runtime.HeaderReason, Value: []byte("permanent")}, {Key: runtime.HeaderOperator, Value: []byte("detect")},
			{Key: runtime.HeaderError, Value: []byte("not a JPEG")}}},
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	d, err := New(Config{Brokers: c.ListenAddrs(), Namespace: "t", Topics: topics, Zones: parseZones(t),
		// A created topic is seen at once, and joins the fetches at once.
		KafkaOptions: []kgo.Opt{kgo.MetadataMinAge(50 * time.Millisecond), kgo.FetchMaxWait(100 * time.Millisecond)}})
	if err != nil {
		t.Fatal(err)
	}
	runDashboard(t, d)
	s := waitState(t, d, "every record", func(s snapshotMsg) bool {
		return len(s.Frames) == 1 && len(s.Events) == 1 && len(s.Conversation) == 2 && s.Conversation[1].Status == "sent" &&
			len(s.DeadLetters) == 2 && s.DeadLetters[1].Count == 1 && len(s.Status.Missing) == 1
	})
	if f := s.Frames[0]; f.Camera != "vtest" || !f.Detected || len(f.Boxes) != 2 {
		t.Errorf("frame %+v, want vtest's frame 0 with its 2 boxes", f)
	}
	if z := s.Zones[0]; z.ID != "lawn" || z.State != "occupied" || z.Count != 2 {
		t.Errorf("zone %+v", z)
	}
	if dl := s.DeadLetters[1]; dl.Topic != "frames-dlq" || dl.Reason != "permanent" || dl.Operator != "detect" {
		t.Errorf("dead letters %+v", s.DeadLetters)
	}
	if !s.Status.OK || s.Status.Missing[0] != "sms-status" || !strings.Contains(s.Status.Message, "sms-status") {
		t.Errorf("status %+v, want up with sms-status missing", s.Status)
	}
	if err := d.Ready(); err != nil {
		t.Errorf("Ready: %v", err)
	}

	// The missing topic appears; the receipt on it is read.
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, topics.SMSStatus.Physical); err != nil {
		t.Fatal(err)
	}
	receipt, _ := json.Marshal(map[string]any{"sid": "SMout", "status": "delivered", "to": "+15550001", "at": t0})
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topics.SMSStatus.Physical, Value: receipt}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	s = waitState(t, d, "the receipt", func(s snapshotMsg) bool {
		return len(s.Conversation) == 2 && s.Conversation[1].Status == "delivered"
	})
	if len(s.Status.Missing) != 0 || s.Status.Message != "" {
		t.Errorf("status %+v, want nothing missing", s.Status)
	}
}

// A broker that does not answer is said on the page, in the first load and
// on the stream, and readiness fails.
func TestUnreachableBrokerIsSaid(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	d, err := New(Config{Brokers: []string{addr}, Topics: testTopics("t")})
	if err != nil {
		t.Fatal(err)
	}
	runDashboard(t, d)
	s := waitState(t, d, "unreachable status", func(s snapshotMsg) bool { return strings.Contains(s.Status.Message, "unreachable") })
	if s.Status.OK || !strings.HasPrefix(s.Status.Message, "Kafka at "+addr+" is unreachable since ") || !strings.Contains(s.Status.Message, "retrying") {
		t.Errorf("status %+v", s.Status)
	}
	if err := d.Ready(); err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Errorf("Ready = %v, want unreachable", err)
	}
	srv := httptest.NewServer(d.Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "Kafka at "+addr+" is unreachable since") ||
		!strings.Contains(string(body), `class="banner down"`) {
		t.Errorf("the page does not carry the banner: %s\n%s", resp.Status, body)
	}
}
