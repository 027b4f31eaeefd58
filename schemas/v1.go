package schemas

import (
	"fmt"
	"maps"
	"time"
)

// releasedVersions lists every released schema version with its Go
// conversions. Append new versions; never remove one. Exactly one version per
// name, its highest, has an encoder.
func releasedVersions() ([]versionSpec, error) {
	specs := []versionSpec{
		spec[Frame]("corb.Frame", 1, frameFromV1, frameToV1),
		spec[Detections]("corb.Detections", 1, detectionsFromV1, detectionsToV1),
		spec[ZoneCounts]("corb.ZoneCounts", 1, zoneCountsFromV1, zoneCountsToV1),
		spec[PresenceEvent]("corb.PresenceEvent", 1, presenceFromV1, presenceToV1),
		spec[Command]("corb.Command", 1, commandFromV1, nil),
		spec[Command]("corb.Command", 2, commandFromV2, commandToV2),
	}
	for i := range specs {
		text, err := embeddedSchema(specs[i].name, specs[i].version)
		if err != nil {
			return nil, err
		}
		specs[i].schema = text
	}
	return specs, nil
}

// validatable is a pointer to one of the record structs.
type validatable[T any] interface {
	*T
	Record
	validate() error
}

// spec builds a versionSpec for struct T. from converts this version's decoded
// fields to the current T (an upgrade for old versions); to, nil for old
// versions, converts the current T to this version's native form.
func spec[T any, P validatable[T]](name string, version int,
	from func(r *fieldReader) T, to func(p P, form nativeForm) map[string]any) versionSpec {
	s := versionSpec{
		name:      name,
		version:   version,
		newRecord: func() Record { return P(new(T)) },
		decode: func(m map[string]any, dst Record) error {
			p, ok := dst.(P)
			if !ok {
				return fmt.Errorf("%w: %s cannot decode into %T", ErrWrongSchema, name, dst)
			}
			if p == nil {
				return fmt.Errorf("%w: nil %T", ErrInvalid, dst)
			}
			r := &fieldReader{rec: name, m: m}
			v := from(r)
			if r.err != nil {
				return r.err
			}
			if err := P(&v).validate(); err != nil {
				return err
			}
			*p = v
			return nil
		},
	}
	if to != nil {
		s.encode = func(rec Record, form nativeForm) (map[string]any, error) {
			p, ok := rec.(P)
			if !ok {
				return nil, fmt.Errorf("%w: %T is not a %s", ErrWrongSchema, rec, name)
			}
			if p == nil {
				return nil, fmt.Errorf("%w: nil %T", ErrInvalid, rec)
			}
			if err := p.validate(); err != nil {
				return nil, err
			}
			return to(p, form), nil
		}
	}
	return s
}

// ---- Frame ----

func (f *Frame) validate() error {
	c := check{rec: "corb.Frame"}
	c.utf8("camera_id", f.CameraID)
	c.utf8("source", f.Source)
	c.time("capture_time", f.CaptureTime)
	c.nonNegative("width", int64(f.Width))
	c.nonNegative("height", int64(f.Height))
	switch f.Encoding {
	case EncodingJPEG, EncodingPNG:
	case EncodingRawBGR:
		if want := int64(f.Width) * int64(f.Height) * 3; int64(len(f.Image)) != want {
			c.failf("RAW_BGR image of %dx%d needs %d bytes, has %d", f.Width, f.Height, want, len(f.Image))
		}
	default:
		c.failf("unknown encoding %q", f.Encoding)
	}
	return c.err
}

func frameFromV1(r *fieldReader) Frame {
	return Frame{
		CameraID:    r.str("camera_id"),
		Source:      r.str("source"),
		Seq:         r.i64("seq"),
		CaptureTime: r.timestamp("capture_time"),
		Width:       r.i32("width"),
		Height:      r.i32("height"),
		Encoding:    FrameEncoding(r.str("encoding")),
		Image:       r.bytes("image"),
	}
}

func frameToV1(f *Frame, form nativeForm) map[string]any {
	return map[string]any{
		"camera_id":    f.CameraID,
		"source":       f.Source,
		"seq":          f.Seq,
		"capture_time": form.time(f.CaptureTime),
		"width":        f.Width,
		"height":       f.Height,
		"encoding":     string(f.Encoding),
		"image":        f.Image,
	}
}

// ---- Detections ----

func (d *Detections) validate() error {
	c := check{rec: "corb.Detections"}
	c.utf8("camera_id", d.CameraID)
	c.utf8("model", d.Model)
	c.utf8("model_version", d.ModelVersion)
	c.time("capture_time", d.CaptureTime)
	c.nonNegative("frame_width", int64(d.FrameWidth))
	c.nonNegative("frame_height", int64(d.FrameHeight))
	c.nonNegative("inference_time_us", int64(d.InferenceTime))
	for i := range d.Boxes {
		c.utf8(fmt.Sprintf("boxes[%d].label", i), d.Boxes[i].Label)
	}
	return c.err
}

func detectionsFromV1(r *fieldReader) Detections {
	d := Detections{
		CameraID:      r.str("camera_id"),
		FrameSeq:      r.i64("frame_seq"),
		CaptureTime:   r.timestamp("capture_time"),
		Model:         r.str("model"),
		ModelVersion:  r.str("model_version"),
		FrameWidth:    r.i32("frame_width"),
		FrameHeight:   r.i32("frame_height"),
		InferenceTime: r.duration("inference_time_us", time.Microsecond),
	}
	items := r.array("boxes")
	if len(items) > 0 {
		d.Boxes = make([]Box, len(items))
	}
	for i, it := range items {
		m, ok := it.(map[string]any)
		if !ok {
			r.fail(fmt.Sprintf("boxes[%d]", i), "corb.Box", it)
			break
		}
		r.nested("corb.Box", m, func(br *fieldReader) {
			d.Boxes[i] = Box{
				ClassID: br.i32("class_id"),
				Label:   br.str("label"),
				Score:   br.f32("score"),
				X1:      br.f32("x1"),
				Y1:      br.f32("y1"),
				X2:      br.f32("x2"),
				Y2:      br.f32("y2"),
			}
		})
	}
	return d
}

func detectionsToV1(d *Detections, form nativeForm) map[string]any {
	boxes := make([]any, len(d.Boxes))
	for i, b := range d.Boxes {
		boxes[i] = map[string]any{
			"class_id": b.ClassID,
			"label":    b.Label,
			"score":    b.Score,
			"x1":       b.X1,
			"y1":       b.Y1,
			"x2":       b.X2,
			"y2":       b.Y2,
		}
	}
	return map[string]any{
		"camera_id":         d.CameraID,
		"frame_seq":         d.FrameSeq,
		"capture_time":      form.time(d.CaptureTime),
		"model":             d.Model,
		"model_version":     d.ModelVersion,
		"frame_width":       d.FrameWidth,
		"frame_height":      d.FrameHeight,
		"boxes":             boxes,
		"inference_time_us": int64(d.InferenceTime / time.Microsecond),
	}
}

// ---- ZoneCounts ----

func (z *ZoneCounts) validate() error {
	c := check{rec: "corb.ZoneCounts"}
	c.utf8("zone_id", z.ZoneID)
	c.utf8("camera_id", z.CameraID)
	c.time("capture_time", z.CaptureTime)
	c.nonNegative("count", int64(z.Count))
	return c.err
}

func zoneCountsFromV1(r *fieldReader) ZoneCounts {
	return ZoneCounts{
		ZoneID:      r.str("zone_id"),
		CameraID:    r.str("camera_id"),
		FrameSeq:    r.i64("frame_seq"),
		CaptureTime: r.timestamp("capture_time"),
		Count:       r.i32("count"),
		MaxScore:    r.f32("max_score"),
	}
}

func zoneCountsToV1(z *ZoneCounts, form nativeForm) map[string]any {
	return map[string]any{
		"zone_id":      z.ZoneID,
		"camera_id":    z.CameraID,
		"frame_seq":    z.FrameSeq,
		"capture_time": form.time(z.CaptureTime),
		"count":        z.Count,
		"max_score":    z.MaxScore,
	}
}

// ---- PresenceEvent ----

func (e *PresenceEvent) validate() error {
	c := check{rec: "corb.PresenceEvent"}
	c.utf8("event_id", e.EventID)
	c.utf8("zone_id", e.ZoneID)
	if !e.Type.known() {
		c.failf("unknown type %q", e.Type)
	}
	c.nonNegative("count", int64(e.Count))
	c.nonNegative("peak", int64(e.Peak))
	c.time("window_start", e.WindowStart)
	c.time("window_end", e.WindowEnd)
	c.time("occupied_since", e.OccupiedSince)
	c.time("event_time", e.EventTime)
	c.nonNegative("duration_ms", int64(e.Duration))
	return c.err
}

func (t PresenceType) known() bool {
	switch t {
	case Occupied, Vacated, CountChanged, Stale, Recovered:
		return true
	}
	return false
}

func presenceFromV1(r *fieldReader) PresenceEvent {
	return PresenceEvent{
		EventID:       r.str("event_id"),
		ZoneID:        r.str("zone_id"),
		Type:          PresenceType(r.str("type")),
		Count:         r.i32("count"),
		Peak:          r.i32("peak"),
		WindowStart:   r.timestamp("window_start"),
		WindowEnd:     r.timestamp("window_end"),
		OccupiedSince: r.optTimestamp("occupied_since"),
		Duration:      r.duration("duration_ms", time.Millisecond),
		EventTime:     r.timestamp("event_time"),
	}
}

func presenceToV1(e *PresenceEvent, form nativeForm) map[string]any {
	return map[string]any{
		"event_id":       e.EventID,
		"zone_id":        e.ZoneID,
		"type":           string(e.Type),
		"count":          e.Count,
		"peak":           e.Peak,
		"window_start":   form.time(e.WindowStart),
		"window_end":     form.time(e.WindowEnd),
		"occupied_since": form.optTime(e.OccupiedSince),
		"duration_ms":    int64(e.Duration / time.Millisecond),
		"event_time":     form.time(e.EventTime),
	}
}

// ---- Command ----

// commandFromV1 upgrades a v1 record as Avro schema resolution with v2 as the
// reader does: the fields v2 added take their defaults (no cause, no
// correlation, and zero usage figures beyond v1's three), then v2 reads it.
// interop_test.go checks this against Apache Avro for Java's resolution.
func commandFromV1(r *fieldReader) Command {
	m := maps.Clone(r.m)
	m["cause"] = nil
	m["correlation_id"] = ""
	if u, ok := m["args"].(map[string]any); ok && len(u) == 1 {
		if a, ok := u["corb.RequestCleaningArgs"].(map[string]any); ok {
			a = maps.Clone(a)
			a["requested_by"] = ""
			a["peak"] = int32(0)
			a["occupied_ms"] = int64(0)
			a["first_use"] = nil
			a["last_use"] = nil
			a["policy"] = ""
			a["cycle"] = int64(0)
			m["args"] = map[string]any{"corb.RequestCleaningArgs": a}
		}
	}
	r.m = m
	return commandFromV2(r)
}
