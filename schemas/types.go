package schemas

import "time"

// Record is implemented by every typed record that travels on a Corb topic.
// SchemaName is the Avro full name of the record's current schema, e.g. "corb.Frame".
type Record interface {
	SchemaName() string
}

// FrameEncoding says how Frame.Image is encoded.
type FrameEncoding string

const (
	EncodingJPEG   FrameEncoding = "JPEG"
	EncodingPNG    FrameEncoding = "PNG"
	EncodingRawBGR FrameEncoding = "RAW_BGR" // width*height*3 bytes, row-major BGR
)

// Frame is one picture from a camera (topic frames, key = CameraID).
type Frame struct {
	CameraID    string
	Source      string    // where it came from: file path, stream URL, device
	Seq         int64     // per-source sequence number, from 0; a re-ingest repeats them
	CaptureTime time.Time // event time (container timestamp for files, wall clock for live sources)
	Width       int32
	Height      int32
	Encoding    FrameEncoding
	Image       []byte
}

func (*Frame) SchemaName() string { return "corb.Frame" }

// Box is one detected object. Coordinates are normalised to 0..1 of the original frame.
type Box struct {
	ClassID int32
	Label   string
	Score   float32
	X1, Y1  float32 // top-left
	X2, Y2  float32 // bottom-right
}

// Detections are the objects found in one frame (topic detections, key = CameraID).
type Detections struct {
	CameraID      string
	FrameSeq      int64
	CaptureTime   time.Time
	Model         string // e.g. "nanodet-g-416"
	ModelVersion  string
	FrameWidth    int32
	FrameHeight   int32
	Boxes         []Box
	InferenceTime time.Duration // microsecond precision on the wire
}

func (*Detections) SchemaName() string { return "corb.Detections" }

// ZoneCounts is the number of people one camera saw in one zone in one frame
// (topic zone-counts, key = ZoneID). Zero is information: an empty room.
type ZoneCounts struct {
	ZoneID      string
	CameraID    string
	FrameSeq    int64
	CaptureTime time.Time
	Count       int32
	MaxScore    float32
}

func (*ZoneCounts) SchemaName() string { return "corb.ZoneCounts" }

// PresenceType is the kind of a PresenceEvent.
type PresenceType string

const (
	Occupied     PresenceType = "OCCUPIED"
	Vacated      PresenceType = "VACATED"
	CountChanged PresenceType = "COUNT_CHANGED"
	Stale        PresenceType = "STALE"
	Recovered    PresenceType = "RECOVERED"
)

// PresenceEvent is a change in a zone's occupancy (topic events, key = ZoneID).
type PresenceEvent struct {
	EventID       string // deterministic: same input, same id (downstream de-duplication)
	ZoneID        string
	Type          PresenceType
	Count         int32
	Peak          int32
	WindowStart   time.Time
	WindowEnd     time.Time
	OccupiedSince time.Time     // zero when not occupied (null on the wire)
	Duration      time.Duration // how long the previous state lasted; millisecond precision on the wire
	EventTime     time.Time
}

func (*PresenceEvent) SchemaName() string { return "corb.PresenceEvent" }
