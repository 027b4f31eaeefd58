package dashboard

import (
	"bytes"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/corb-dev/corb/operators/presence"
	"github.com/corb-dev/corb/operators/zones"
	"github.com/corb-dev/corb/schemas"
)

// Bounds of what the model keeps. Each is what one page can show, with room.
const (
	// MaxWaitingFrames is how many frames of one camera wait for their
	// detections; past it the older half is thinned to every other frame, so
	// a detector far behind still finds some of its frames.
	MaxWaitingFrames = 64
	shownFrames      = 4   // frames kept servable after they were shown: a page fetches the one it was told of
	pendingBoxes     = 32  // detections of one camera that came before their frame
	eventsPerZone    = 500 // timeline points per zone
	maxConversation  = 200 // SMS log entries
	maxReceipts      = 1000
)

// DetectWait is how long after a camera's last detections its frames are
// still held back for boxes; after it they are shown bare.
const DetectWait = 3 * time.Second

// The messages the page receives, as JSON. Times are RFC 3339 in UTC.

type configMsg struct {
	Namespace   string           `json:"namespace"`
	Brokers     string           `json:"brokers"`
	Zones       []zoneName       `json:"zones"`
	Cameras     []cameraGeometry `json:"cameras"`
	DeadLetters []string         `json:"dead_letters"` // logical names of the dead-letter topics
}

type zoneName struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// cameraGeometry is what is drawn over one camera's frames: the outline of
// each zone it sees, in normalised coordinates (0..1 of width and height).
type cameraGeometry struct {
	Camera string    `json:"camera"`
	Zones  []outline `json:"zones"`
}

type outline struct {
	Zone   string       `json:"zone"`
	Name   string       `json:"name"`
	Points [][2]float64 `json:"points"`
}

type frameMsg struct {
	Camera   string    `json:"camera"`
	V        int64     `json:"v"` // fetch /frames/{camera}?v=V
	Seq      int64     `json:"seq"`
	Time     time.Time `json:"time"`
	Width    int32     `json:"width"`
	Height   int32     `json:"height"`
	Detected bool      `json:"detected"` // Boxes are this frame's detections (none: no detector ran on it)
	Boxes    []boxMsg  `json:"boxes"`
}

// boxMsg is a box in normalised coordinates, clamped to the frame.
type boxMsg struct {
	X1    float64 `json:"x1"`
	Y1    float64 `json:"y1"`
	X2    float64 `json:"x2"`
	Y2    float64 `json:"y2"`
	Score float64 `json:"score"`
	Label string  `json:"label"`
}

type zoneMsg struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	State string `json:"state"` // occupied, free, unknown (no event yet)
	Stale bool   `json:"stale"` // its cameras are silent: State is the last known one
	Count int32  `json:"count"`
	Peak  int32  `json:"peak"`
	// Since is when State began and Updated the last event, in event time.
	Since   time.Time `json:"since,omitzero"`
	Updated time.Time `json:"updated,omitzero"`
}

type eventMsg struct {
	Zone  string    `json:"zone"`
	Type  string    `json:"type"`
	Count int32     `json:"count"`
	Time  time.Time `json:"time"`
}

type dlqMsg struct {
	Topic    string    `json:"topic"`
	Count    int64     `json:"count"`
	Reason   string    `json:"reason,omitempty"` // of the last dead letter
	Operator string    `json:"operator,omitempty"`
	Error    string    `json:"error,omitempty"`
	Last     time.Time `json:"last,omitzero"`
}

// smsMsg is one line of the conversation: a text in, or a text out with its
// delivery status.
type smsMsg struct {
	ID        string    `json:"id"`
	Time      time.Time `json:"time"`
	Dir       string    `json:"dir"`   // in or out
	Phone     string    `json:"phone"` // the sender of a text in, the recipient of one out
	Text      string    `json:"text"`
	Kind      string    `json:"kind"`             // in: the command; out: reply, notification or report
	Status    string    `json:"status,omitempty"` // out: queued, sending, sent, delivered, undelivered, failed...
	ErrorCode int       `json:"error_code,omitempty"`
}

type statusMsg struct {
	OK      bool      `json:"ok"`
	Brokers string    `json:"brokers"`
	Since   time.Time `json:"since"`
	Message string    `json:"message"` // what the banner says; "" when OK
	Missing []string  `json:"missing,omitempty"`
	err     error     // the last ping's, while not OK
}

type snapshotMsg struct {
	Config       configMsg  `json:"config"`
	Status       statusMsg  `json:"status"`
	Frames       []frameMsg `json:"frames"`
	Zones        []zoneMsg  `json:"zones"`
	Events       []eventMsg `json:"events"`
	DeadLetters  []dlqMsg   `json:"dead_letters"`
	Conversation []smsMsg   `json:"conversation"`
}

// frameEntry is one frame the model holds, with its picture.
type frameEntry struct {
	msg         frameMsg
	contentType string
	image       []byte
}

type camera struct {
	id       string
	next     int64         // the next frame's version
	waiting  []*frameEntry // not yet shown with boxes, oldest first
	shown    []*frameEntry // the last frames shown, oldest first
	pending  []schemas.Detections
	detected time.Time // wall clock of the last detections
	view     *frameMsg // what the page shows now
}

type zoneEntry struct {
	name   string
	occ    presence.Occupancy
	seen   bool
	events []eventMsg
}

// model is the dashboard's state: what the page shows, folded from records.
// It is not safe for concurrent use; the hub serialises access. Each apply
// method returns the messages that tell a page of the change.
type model struct {
	config    configMsg
	status    statusMsg
	cameras   map[string]*camera
	zones     map[string]*zoneEntry
	zoneOrder []string
	dlq       map[string]*dlqMsg
	sms       []*smsMsg                 // oldest first
	smsByID   map[string]*smsMsg        // out: by send_sms command id
	sidOf     *fifoMap[string, string]  // send_sms command id → Twilio's MessageSid (the sent log)
	idOf      *fifoMap[string, string]  // MessageSid → send_sms command id
	receipts  *fifoMap[string, receipt] // MessageSid → the furthest delivery receipt
}

// fifoMap is a map that forgets its oldest keys past max.
type fifoMap[K comparable, V any] struct {
	max   int
	m     map[K]V
	order []K
}

func newFIFOMap[K comparable, V any](max int) *fifoMap[K, V] {
	return &fifoMap[K, V]{max: max, m: map[K]V{}}
}

func (f *fifoMap[K, V]) get(k K) (V, bool) { v, ok := f.m[k]; return v, ok }

func (f *fifoMap[K, V]) put(k K, v V) {
	if _, ok := f.m[k]; !ok {
		f.order = append(f.order, k)
		if len(f.order) > f.max {
			delete(f.m, f.order[0])
			f.order = f.order[1:]
		}
	}
	f.m[k] = v
}

type receipt struct {
	status string
	code   int
}

func newModel(cfg configMsg) *model {
	m := &model{config: cfg, cameras: map[string]*camera{}, zones: map[string]*zoneEntry{}, dlq: map[string]*dlqMsg{},
		smsByID: map[string]*smsMsg{}, sidOf: newFIFOMap[string, string](maxReceipts),
		idOf: newFIFOMap[string, string](maxReceipts), receipts: newFIFOMap[string, receipt](maxReceipts)}
	for _, z := range cfg.Zones {
		m.zoneEntry(z.ID).name = z.Name
	}
	for _, t := range cfg.DeadLetters {
		m.dlq[t] = &dlqMsg{Topic: t}
	}
	return m
}

// geometry is what the page draws over each camera of zf: the zones it sees.
func geometry(zf *zones.File) ([]zoneName, []cameraGeometry) {
	if zf == nil {
		return nil, nil
	}
	var names []zoneName
	byCamera := map[string]*cameraGeometry{}
	var order []string
	for _, z := range zf.Zones {
		names = append(names, zoneName{ID: z.ID, Name: z.Name})
		for _, v := range z.Views {
			g, ok := byCamera[v.Camera]
			if !ok {
				g = &cameraGeometry{Camera: v.Camera}
				byCamera[v.Camera] = g
				order = append(order, v.Camera)
			}
			o := outline{Zone: z.ID, Name: z.Name}
			for _, p := range v.Polygon {
				o.Points = append(o.Points, [2]float64{p.X, p.Y})
			}
			g.Zones = append(g.Zones, o)
		}
	}
	cams := make([]cameraGeometry, 0, len(order))
	for _, c := range order {
		cams = append(cams, *byCamera[c])
	}
	return names, cams
}

// boxes converts detected boxes for the page: clamped to the frame; boxes
// with non-finite or inverted corners (which no outline can hold) dropped.
func boxes(bs []schemas.Box) []boxMsg {
	out := make([]boxMsg, 0, len(bs))
	unit := func(v float32) float64 { return math.Round(min(max(float64(v), 0), 1)*1e4) / 1e4 }
	for _, b := range bs {
		if !finite(b.X1, b.Y1, b.X2, b.Y2, b.Score) || b.X2 < b.X1 || b.Y2 < b.Y1 {
			continue
		}
		out = append(out, boxMsg{X1: unit(b.X1), Y1: unit(b.Y1), X2: unit(b.X2), Y2: unit(b.Y2),
			Score: math.Round(float64(b.Score)*100) / 100, Label: b.Label})
	}
	return out
}

func finite(vs ...float32) bool {
	for _, v := range vs {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return false
		}
	}
	return true
}

func (m *model) camera(id string) *camera {
	c, ok := m.cameras[id]
	if !ok {
		c = &camera{id: id, next: 1}
		m.cameras[id] = c
	}
	return c
}

// frame takes in a frame; it is shown at once unless the camera's detector
// is running, in which case it waits for its detections.
func (m *model) frame(f *schemas.Frame, now time.Time) []frameMsg {
	var ct string
	switch f.Encoding {
	case schemas.EncodingJPEG:
		ct = "image/jpeg"
	case schemas.EncodingPNG:
		ct = "image/png"
	default:
		return nil // raw pixels: no browser draws them, and encoding them here costs more than the page is worth
	}
	c := m.camera(f.CameraID)
	e := &frameEntry{contentType: ct, image: bytes.Clone(f.Image), // the record's buffer holds its whole batch
		msg: frameMsg{Camera: f.CameraID, V: c.next, Seq: f.Seq, Time: f.CaptureTime.UTC(), Width: f.Width, Height: f.Height}}
	c.next++
	c.waiting = append(c.waiting, e)
	if len(c.waiting) > MaxWaitingFrames {
		c.waiting = thin(c.waiting)
	}
	for i, d := range c.pending {
		if matches(e, &d) {
			c.pending = slices.Delete(c.pending, i, i+1)
			return m.show(c, e, &d, now)
		}
	}
	if !c.detected.IsZero() && now.Sub(c.detected) < DetectWait {
		return nil
	}
	return m.show(c, e, nil, now)
}

// thin keeps the newer half of frames and every other frame of the older half.
func thin(frames []*frameEntry) []*frameEntry {
	half := len(frames) / 2
	out := make([]*frameEntry, 0, len(frames))
	for i := 0; i < half; i += 2 {
		out = append(out, frames[i])
	}
	return append(out, frames[half:]...)
}

func matches(e *frameEntry, d *schemas.Detections) bool {
	return e.msg.Seq == d.FrameSeq && e.msg.Time.Equal(d.CaptureTime)
}

// detections shows the frame they were found in, with its boxes; those of a
// frame not read yet wait for it.
func (m *model) detections(d *schemas.Detections, now time.Time) []frameMsg {
	c := m.camera(d.CameraID)
	c.detected = now
	for i := len(c.waiting) - 1; i >= 0; i-- {
		if e := c.waiting[i]; matches(e, d) {
			return m.show(c, e, d, now)
		}
	}
	if len(c.pending) == pendingBoxes {
		c.pending = c.pending[1:]
	}
	c.pending = append(c.pending, *d)
	return nil
}

// show makes e the camera's view, with d's boxes when d is not nil. Frames
// older than a frame shown with boxes will not get theirs any more (a
// camera's detections come in order): they are dropped.
func (m *model) show(c *camera, e *frameEntry, d *schemas.Detections, now time.Time) []frameMsg {
	msg := e.msg
	if d != nil {
		msg.Detected, msg.Boxes = true, boxes(d.Boxes)
		c.waiting = slices.DeleteFunc(c.waiting, func(w *frameEntry) bool { return w.msg.V <= e.msg.V })
	}
	if msg.Boxes == nil {
		msg.Boxes = []boxMsg{}
	}
	c.view = &msg
	if !slices.Contains(c.shown, e) {
		c.shown = append(c.shown, e)
		if len(c.shown) > shownFrames {
			c.shown = c.shown[1:]
		}
	}
	return []frameMsg{msg}
}

// image returns the picture of version v of camera's frames, if still held.
func (m *model) image(cameraID string, v int64) (contentType string, image []byte, ok bool) {
	c, found := m.cameras[cameraID]
	if !found {
		return "", nil, false
	}
	for _, list := range [][]*frameEntry{c.shown, c.waiting} {
		for _, e := range list {
			if e.msg.V == v {
				return e.contentType, e.image, true
			}
		}
	}
	return "", nil, false
}

func (m *model) zoneEntry(id string) *zoneEntry {
	z, ok := m.zones[id]
	if !ok {
		z = &zoneEntry{name: id}
		m.zones[id] = z
		m.zoneOrder = append(m.zoneOrder, id)
	}
	return z
}

func (z *zoneEntry) msg(id string) zoneMsg {
	out := zoneMsg{ID: id, Name: z.name, State: "unknown", Stale: z.occ.Stale, Count: z.occ.Count, Peak: z.occ.Peak,
		Since: z.occ.Since, Updated: z.occ.UpdatedAt}
	if z.seen {
		out.State = "free"
		if z.occ.State == presence.StateOccupied {
			out.State = "occupied"
		}
	}
	return out
}

// event folds a presence event into its zone; timeline says whether it is a
// point of the timeline (an event) or only the zone's current state (the
// occupancy view repeats the events).
func (m *model) event(e *schemas.PresenceEvent, timeline bool) (zoneMsg, *eventMsg) {
	z := m.zoneEntry(e.ZoneID)
	if !z.seen || !e.EventTime.Before(z.occ.UpdatedAt) { // the view and the events meet out of order
		z.occ = z.occ.Apply(*e)
		z.seen = true
	}
	if !timeline {
		return z.msg(e.ZoneID), nil
	}
	ev := eventMsg{Zone: e.ZoneID, Type: string(e.Type), Count: e.Count, Time: e.EventTime.UTC()}
	i := sort.Search(len(z.events), func(i int) bool { return z.events[i].Time.After(ev.Time) })
	z.events = slices.Insert(z.events, i, ev)
	if len(z.events) > eventsPerZone {
		z.events = z.events[1:]
	}
	return z.msg(e.ZoneID), &ev
}

// deadLetter counts one dead letter of topic.
func (m *model) deadLetter(topic, reason, operator, errText string, at time.Time) dlqMsg {
	d, ok := m.dlq[topic]
	if !ok {
		d = &dlqMsg{Topic: topic}
		m.dlq[topic] = d
	}
	d.Count++
	d.Reason, d.Operator, d.Error, d.Last = reason, operator, errText, at.UTC()
	return *d
}

func (m *model) addSMS(s *smsMsg) {
	m.sms = append(m.sms, s)
	if s.Dir == "out" {
		m.smsByID[s.ID] = s
	}
	if len(m.sms) > maxConversation {
		old := m.sms[0]
		m.sms = m.sms[1:]
		if m.smsByID[old.ID] == old {
			delete(m.smsByID, old.ID)
		}
	}
}

// command adds a text in (a command from the sms channel) or a text out (a
// send_sms) to the conversation.
func (m *model) command(c *schemas.Command) *smsMsg {
	switch {
	case c.CommandType == schemas.CommandSendSMS && c.SendSMS != nil:
		if s, ok := m.smsByID[c.ID]; ok { // a redelivery: the same id
			return s
		}
		s := &smsMsg{ID: c.ID, Time: c.IssuedAt.UTC(), Dir: "out", Phone: c.SendSMS.To, Text: c.SendSMS.Body,
			Kind: c.Cause.TextKind(), Status: "queued"}
		if sid, ok := m.sidOf.get(c.ID); ok {
			m.deliver(s, sid)
		}
		m.addSMS(s)
		return s
	case c.Channel == "sms":
		for _, s := range m.sms {
			if s.ID == c.ID {
				return nil
			}
		}
		s := &smsMsg{ID: c.ID, Time: c.IssuedAt.UTC(), Dir: "in", Phone: c.Sender, Text: c.AsText(), Kind: c.CommandType}
		m.addSMS(s)
		return s
	}
	return nil
}

// sent records the sms operator's sent log entry of send_sms id.
func (m *model) sent(id, state, sid string) *smsMsg {
	if sid != "" {
		m.sidOf.put(id, sid)
		m.idOf.put(sid, id)
	}
	s, ok := m.smsByID[id]
	if !ok {
		return nil
	}
	switch {
	case sid != "":
		m.deliver(s, sid)
	case rank(s.Status) < rank("sending") && state == "attempt":
		s.Status = "sending"
	}
	return s
}

// receipt records Twilio's delivery receipt of MessageSid sid.
func (m *model) receipt(sid, status string, code int) *smsMsg {
	if old, ok := m.receipts.get(sid); ok && rank(old.status) >= rank(status) {
		return nil // receipts come out of order: keep the furthest
	}
	m.receipts.put(sid, receipt{status: status, code: code})
	id, _ := m.idOf.get(sid)
	if s, ok := m.smsByID[id]; ok {
		m.deliver(s, sid)
		return s
	}
	return nil
}

// deliver moves s to the status its sent log and receipts say.
func (m *model) deliver(s *smsMsg, sid string) {
	if rank(s.Status) < rank("sent") {
		s.Status = "sent"
	}
	if r, ok := m.receipts.get(sid); ok && rank(r.status) > rank(s.Status) {
		s.Status, s.ErrorCode = r.status, r.code
	}
}

// rank orders delivery statuses: a later one never gives way to an earlier.
func rank(status string) int {
	switch status {
	case "queued":
		return 1
	case "sending":
		return 2
	case "accepted", "scheduled":
		return 3
	case "sent":
		return 4
	case "delivered", "read":
		return 5
	case "undelivered", "failed", "canceled":
		return 6
	}
	return 0
}

// snapshot is the whole state, as a page that connects gets it first.
func (m *model) snapshot() snapshotMsg {
	s := snapshotMsg{Config: m.config, Status: m.status, Frames: []frameMsg{}, Zones: []zoneMsg{}, Events: []eventMsg{},
		DeadLetters: []dlqMsg{}, Conversation: []smsMsg{}}
	ids := make([]string, 0, len(m.cameras))
	for id := range m.cameras {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if v := m.cameras[id].view; v != nil {
			s.Frames = append(s.Frames, *v)
		}
	}
	for _, id := range m.zoneOrder {
		z := m.zones[id]
		s.Zones = append(s.Zones, z.msg(id))
		s.Events = append(s.Events, z.events...)
	}
	topics := make([]string, 0, len(m.dlq))
	for t := range m.dlq {
		topics = append(topics, t)
	}
	sort.Strings(topics)
	for _, t := range topics {
		s.DeadLetters = append(s.DeadLetters, *m.dlq[t])
	}
	for _, c := range m.sms {
		s.Conversation = append(s.Conversation, *c)
	}
	return s
}
