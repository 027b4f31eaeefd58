package dashboard

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/corb-dev/corb/operators/zones"
	"github.com/corb-dev/corb/schemas"
)

const testZones = `zones:
  - id: lawn
    name: Lawn
    cameras:
      - camera: vtest
        polygon: [[0.0, 0.43], [0.30, 0.47], [1.0, 1.0], [0.0, 1.0]]
  - id: hall
    cameras:
      - camera: vtest
        polygon: [[0.5, 0.0], [1.0, 0.0], [1.0, 0.4]]
      - camera: door
        polygon: [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9], [0.1, 0.9]]
`

func parseZones(t *testing.T) *zones.File {
	t.Helper()
	zf, err := zones.Parse("zones.yaml", []byte(testZones))
	if err != nil {
		t.Fatal(err)
	}
	return zf
}

// The page draws each camera's zones from the outlines it is sent: every
// polygon of the zones file, on its own camera, in normalised coordinates.
func TestGeometryIsTheZonesFilesPolygonsPerCamera(t *testing.T) {
	names, cams := geometry(parseZones(t))
	wantNames := []zoneName{{"lawn", "Lawn"}, {"hall", "hall"}}
	if !reflect.DeepEqual(names, wantNames) {
		t.Errorf("zones %+v, want %+v", names, wantNames)
	}
	want := []cameraGeometry{
		{Camera: "vtest", Zones: []outline{
			{Zone: "lawn", Name: "Lawn", Points: [][2]float64{{0, 0.43}, {0.30, 0.47}, {1, 1}, {0, 1}}},
			{Zone: "hall", Name: "hall", Points: [][2]float64{{0.5, 0}, {1, 0}, {1, 0.4}}},
		}},
		{Camera: "door", Zones: []outline{
			{Zone: "hall", Name: "hall", Points: [][2]float64{{0.1, 0.1}, {0.9, 0.1}, {0.9, 0.9}, {0.1, 0.9}}},
		}},
	}
	if !reflect.DeepEqual(cams, want) {
		t.Errorf("cameras\n%+v\nwant\n%+v", cams, want)
	}
	// The JSON the page reads: points as [x, y] pairs.
	b, err := json.Marshal(cams[1])
	if err != nil {
		t.Fatal(err)
	}
	if got := string(b); got != `{"camera":"door","zones":[{"zone":"hall","name":"hall","points":[[0.1,0.1],[0.9,0.1],[0.9,0.9],[0.1,0.9]]}]}` {
		t.Errorf("JSON %s", got)
	}
}

func TestBoxesAreClampedToTheFrame(t *testing.T) {
	nan := float32(math.NaN())
	for _, c := range []struct {
		name string
		in   schemas.Box
		want []boxMsg
	}{
		{"inside", schemas.Box{Label: "person", Score: 0.876, X1: 0.1, Y1: 0.2, X2: 0.3, Y2: 0.9},
			[]boxMsg{{X1: 0.1, Y1: 0.2, X2: 0.3, Y2: 0.9, Score: 0.88, Label: "person"}}},
		{"over the edges", schemas.Box{Score: 0.5, X1: -0.1, Y1: 0.5, X2: 1.2, Y2: 1.01},
			[]boxMsg{{X1: 0, Y1: 0.5, X2: 1, Y2: 1, Score: 0.5}}},
		{"not finite", schemas.Box{Score: 0.5, X1: nan, Y1: 0, X2: 1, Y2: 1}, []boxMsg{}},
		{"inverted", schemas.Box{Score: 0.5, X1: 0.6, Y1: 0, X2: 0.5, Y2: 1}, []boxMsg{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := boxes([]schemas.Box{c.in})
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %+v, want %+v", got, c.want)
			}
		})
	}
}

var t0 = time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)

func testFrame(camera string, seq int64) *schemas.Frame {
	return &schemas.Frame{CameraID: camera, Seq: seq, CaptureTime: t0.Add(time.Duration(seq) * 100 * time.Millisecond),
		Width: 768, Height: 576, Encoding: schemas.EncodingJPEG, Image: []byte{0xff, 0xd8, byte(seq)}}
}

func testDetections(camera string, seq int64, n int) *schemas.Detections {
	d := &schemas.Detections{CameraID: camera, FrameSeq: seq, CaptureTime: t0.Add(time.Duration(seq) * 100 * time.Millisecond)}
	for range n {
		d.Boxes = append(d.Boxes, schemas.Box{Label: "person", Score: 0.9, X1: 0.1, Y1: 0.1, X2: 0.2, Y2: 0.4})
	}
	return d
}

// A frame is shown with its own boxes: once detections run, frames wait for
// theirs (which may come before the frame is read), and older frames that
// will never get theirs are dropped.
func TestFramesAreShownWithTheirOwnDetections(t *testing.T) {
	m := newModel(configMsg{})
	now := t0
	if got := m.frame(testFrame("a", 0), now); len(got) != 1 || got[0].Detected || len(got[0].Boxes) != 0 {
		t.Fatalf("before any detections a frame is shown bare at once, got %+v", got)
	}
	if got := m.detections(testDetections("a", 0, 2), now); len(got) != 1 || !got[0].Detected || len(got[0].Boxes) != 2 || got[0].Seq != 0 {
		t.Fatalf("detections of a held frame show it with its boxes, got %+v", got)
	}
	for seq := int64(1); seq <= 3; seq++ {
		if got := m.frame(testFrame("a", seq), now); got != nil {
			t.Fatalf("frame %d was shown before its detections: %+v", seq, got)
		}
	}
	got := m.detections(testDetections("a", 2, 1), now)
	if len(got) != 1 || got[0].Seq != 2 || len(got[0].Boxes) != 1 {
		t.Fatalf("detections of frame 2: got %+v", got)
	}
	if _, _, ok := m.image("a", got[0].V); !ok {
		t.Error("the frame shown cannot be fetched")
	}
	if len(m.cameras["a"].waiting) != 1 || m.cameras["a"].waiting[0].msg.Seq != 3 {
		t.Errorf("frames 1 and 2 should be dropped, 3 still waiting: %d waiting", len(m.cameras["a"].waiting))
	}
	// Detections read before their frame.
	if got := m.detections(testDetections("a", 4, 3), now); got != nil {
		t.Fatalf("detections without their frame showed %+v", got)
	}
	if got := m.frame(testFrame("a", 4), now); len(got) != 1 || got[0].Seq != 4 || len(got[0].Boxes) != 3 {
		t.Fatalf("frame 4 should be shown with the detections that came first, got %+v", got)
	}
	// The detector stops: after DetectWait frames are shown bare again.
	if got := m.frame(testFrame("a", 5), now.Add(DetectWait)); len(got) != 1 || got[0].Detected {
		t.Fatalf("a frame DetectWait after the last detections should be shown bare, got %+v", got)
	}
	// A re-ingest repeats sequence numbers: the capture time tells them apart.
	again := testDetections("a", 3, 1)
	again.CaptureTime = again.CaptureTime.Add(time.Hour)
	if got := m.detections(again, now); got != nil {
		t.Errorf("detections of another frame 3 showed %+v", got)
	}
}

// A detector far behind still finds frames: the waiting frames are thinned,
// not cut at the newest MaxWaitingFrames.
func TestWaitingFramesAreThinnedNotCut(t *testing.T) {
	m := newModel(configMsg{})
	m.frame(testFrame("a", 0), t0)
	m.detections(testDetections("a", 0, 1), t0)
	const n = 10 * MaxWaitingFrames
	for seq := int64(1); seq <= n; seq++ {
		m.frame(testFrame("a", seq), t0)
	}
	c := m.cameras["a"]
	if len(c.waiting) > MaxWaitingFrames {
		t.Fatalf("%d frames waiting, want at most %d", len(c.waiting), MaxWaitingFrames)
	}
	if oldest := c.waiting[0].msg.Seq; oldest > n/4 {
		t.Errorf("the oldest waiting frame is %d of %d: the detector's frames were cut, not thinned", oldest, n)
	}
	if newest := c.waiting[len(c.waiting)-1].msg.Seq; newest != n {
		t.Errorf("the newest waiting frame is %d, want %d", newest, n)
	}
}

// Raw pixels are not shown (no browser decodes them), JPEG and PNG are.
func TestFrameEncodings(t *testing.T) {
	for _, c := range []struct {
		enc  schemas.FrameEncoding
		want string
	}{{schemas.EncodingJPEG, "image/jpeg"}, {schemas.EncodingPNG, "image/png"}, {schemas.EncodingRawBGR, ""}} {
		m := newModel(configMsg{})
		f := testFrame("a", 0)
		f.Encoding = c.enc
		got := m.frame(f, t0)
		ct, img, ok := m.image("a", 1)
		if c.want == "" {
			if got != nil || ok {
				t.Errorf("%s: shown %+v", c.enc, got)
			}
			continue
		}
		if len(got) != 1 || !ok || ct != c.want || string(img) != string(f.Image) {
			t.Errorf("%s: shown %+v, served %q %v", c.enc, got, ct, ok)
		}
	}
}

func TestZoneStateAndTimeline(t *testing.T) {
	m := newModel(configMsg{Zones: []zoneName{{"lawn", "Lawn"}}})
	if z := m.zones["lawn"].msg("lawn"); z.State != "unknown" || z.Name != "Lawn" {
		t.Fatalf("a zone without events: %+v", z)
	}
	ev := func(typ schemas.PresenceType, count int32, s int) *schemas.PresenceEvent {
		at := t0.Add(time.Duration(s) * time.Second)
		e := &schemas.PresenceEvent{EventID: string(typ) + at.String(), ZoneID: "lawn", Type: typ, Count: count, Peak: count, EventTime: at}
		if typ == schemas.Occupied {
			e.OccupiedSince = at
		}
		return e
	}
	steps := []struct {
		e        *schemas.PresenceEvent
		timeline bool
		state    string
		count    int32
	}{
		{ev(schemas.Occupied, 2, 10), true, "occupied", 2},
		{ev(schemas.CountChanged, 3, 20), true, "occupied", 3},
		{ev(schemas.Occupied, 2, 10), false, "occupied", 3}, // the occupancy view, older: the state stays
		{ev(schemas.Vacated, 0, 40), true, "free", 0},
		{ev(schemas.CountChanged, 1, 5), true, "free", 0}, // late: on the timeline, not the state
	}
	for i, s := range steps {
		z, point := m.event(s.e, s.timeline)
		if z.State != s.state || z.Count != s.count {
			t.Errorf("step %d (%s): zone %+v, want %s with %d", i, s.e.Type, z, s.state, s.count)
		}
		if (point != nil) != s.timeline {
			t.Errorf("step %d: timeline point %v, want one: %v", i, point, s.timeline)
		}
	}
	var got []string
	for _, e := range m.snapshot().Events {
		got = append(got, e.Type+"@"+e.Time.Sub(t0).String())
	}
	if want := []string{"COUNT_CHANGED@5s", "OCCUPIED@10s", "COUNT_CHANGED@20s", "VACATED@40s"}; !reflect.DeepEqual(got, want) {
		t.Errorf("timeline %v, want %v (by event time)", got, want)
	}
}

// The conversation: texts in, replies out, and each reply's status moves
// forward only, whichever of the sent log and the receipts comes first.
func TestConversation(t *testing.T) {
	m := newModel(configMsg{})
	in := schemas.NewCommand(schemas.CommandStatus, schemas.Cause{Kind: schemas.CauseSMS, ID: "SM1"})
	in.Channel, in.Sender, in.ZoneID, in.IssuedAt = "sms", "+15550001", "lawn", t0
	if s := m.command(in); s == nil || s.Dir != "in" || s.Text != "STATUS lawn" || s.Phone != "+15550001" {
		t.Fatalf("text in: %+v", s)
	}
	reply := in.Child(schemas.CommandSendSMS, "reply")
	reply.SendSMS = &schemas.SendSMSArgs{To: "+15550001", Body: "Lawn: free"}
	notify := schemas.NewCommand(schemas.CommandSendSMS, schemas.Cause{Kind: schemas.CauseEvent, ID: "e1", Purpose: "notify +15550001"})
	notify.SendSMS = &schemas.SendSMSArgs{To: "+15550001", Body: "Lawn is free again"}

	if s := m.command(reply); s.Status != "queued" || s.Kind != "reply" || s.Text != "Lawn: free" {
		t.Fatalf("reply: %+v", s)
	}
	steps := []struct {
		name   string
		do     func() *smsMsg
		id     string
		status string
	}{
		{"attempt journaled", func() *smsMsg { return m.sent(reply.ID, "attempt", "") }, reply.ID, "sending"},
		{"receipt before the sent log", func() *smsMsg { return m.receipt("SMr", "delivered", 0) }, "", ""},
		{"sent with its sid", func() *smsMsg { return m.sent(reply.ID, "sent", "SMr") }, reply.ID, "delivered"},
		{"a late, earlier receipt", func() *smsMsg { return m.receipt("SMr", "sent", 0) }, "", ""},
		{"sent log before the command", func() *smsMsg { return m.sent(notify.ID, "sent", "SMn") }, "", ""},
		{"the command", func() *smsMsg { return m.command(notify) }, notify.ID, "sent"},
		{"undelivered", func() *smsMsg { return m.receipt("SMn", "undelivered", 30003) }, notify.ID, "undelivered"},
	}
	for _, s := range steps {
		got := s.do()
		if s.id == "" {
			if got != nil {
				t.Errorf("%s: told the page %+v, want nothing", s.name, got)
			}
			continue
		}
		if got == nil || got.ID != s.id || got.Status != s.status {
			t.Errorf("%s: %+v, want %s %s", s.name, got, s.id, s.status)
		}
	}
	conv := m.snapshot().Conversation
	if len(conv) != 3 || conv[2].Kind != "notification" || conv[2].ErrorCode != 30003 || conv[1].Status != "delivered" {
		t.Errorf("conversation %+v", conv)
	}
	if m.command(reply) != m.smsByID[reply.ID] || len(m.sms) != 3 {
		t.Error("a redelivered send_sms was added twice")
	}
}
