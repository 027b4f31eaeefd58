package schemas

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// zoneCountsV0 stands for an older, released version of corb.ZoneCounts that
// lacked max_score: it shows how a record written by an old version decodes
// and is upgraded in Go to the current struct.
const zoneCountsV0 = `{"type": "record", "name": "ZoneCounts", "namespace": "corb", "fields": [
  {"name": "zone_id", "type": "string"},
  {"name": "camera_id", "type": "string"},
  {"name": "frame_seq", "type": "long"},
  {"name": "capture_time", "type": {"type": "long", "logicalType": "timestamp-micros"}},
  {"name": "count", "type": "int"}
]}`

// zoneCountsFromV0 is the upgrade function: old fields to the current struct.
func zoneCountsFromV0(r *fieldReader) ZoneCounts {
	z := ZoneCounts{
		ZoneID:      r.str("zone_id"),
		CameraID:    r.str("camera_id"),
		FrameSeq:    r.i64("frame_seq"),
		CaptureTime: r.timestamp("capture_time"),
		Count:       r.i32("count"),
	}
	if z.Count > 0 {
		z.MaxScore = 1 // v0 only counted confident detections
	}
	return z
}

func testRegistry(t *testing.T, extra ...versionSpec) *registry {
	t.Helper()
	specs, err := releasedVersions()
	if err != nil {
		t.Fatal(err)
	}
	reg, err := newRegistry(append(specs, extra...))
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func TestUpgradeFromOlderVersion(t *testing.T) {
	old := spec[ZoneCounts]("corb.ZoneCounts", 0, zoneCountsFromV0, nil)
	old.schema = zoneCountsV0
	reg := testRegistry(t, old)

	v0 := reg.byNameVersion["corb.ZoneCounts.v0"]
	b, err := v0.codec.SingleFromNative(nil, map[string]any{
		"zone_id": "kitchen", "camera_id": "cam", "frame_seq": int64(7),
		"capture_time": ts("2025-01-01T00:00:00Z").UnixMicro(), "count": int32(2),
	})
	if err != nil {
		t.Fatal(err)
	}
	var z ZoneCounts
	if err := reg.unmarshal(b, &z); err != nil {
		t.Fatal(err)
	}
	want := ZoneCounts{ZoneID: "kitchen", CameraID: "cam", FrameSeq: 7, CaptureTime: ts("2025-01-01T00:00:00Z"), Count: 2, MaxScore: 1}
	if z != want {
		t.Fatalf("upgraded = %+v, want %+v", z, want)
	}
	// Fields of an old record have the current version's shape.
	f, err := reg.fields(b)
	if err != nil {
		t.Fatal(err)
	}
	if f["max_score"] != float32(1) {
		t.Fatalf("fields = %#v", f)
	}
	// Marshal writes the current version, v1, not v0.
	out, err := reg.marshal(&z)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := reg.lookup(out); v.version != 1 {
		t.Fatalf("marshal wrote v%d", v.version)
	}
}

func TestNewRegistryRejects(t *testing.T) {
	specs, err := releasedVersions()
	if err != nil {
		t.Fatal(err)
	}
	frame := specs[0]
	if frame.name != "corb.Frame" {
		t.Fatalf("first spec is %s", frame.name)
	}
	renamed := frame
	renamed.name, renamed.version = "corb.Frame", 2
	renamed.schema = strings.Replace(frame.schema, `"Frame"`, `"Picture"`, 1)
	sameFP := frame
	sameFP.version = 2
	oldWithEncoder := spec[ZoneCounts]("corb.ZoneCounts", 0, zoneCountsFromV0, zoneCountsToV1)
	oldWithEncoder.schema = zoneCountsV0
	newWithoutEncoder := spec[ZoneCounts]("corb.ZoneCounts", 2, zoneCountsFromV0, nil)
	newWithoutEncoder.schema = strings.Replace(zoneCountsV0, `"count"`, `"n"`, 1)
	badJSON := frame
	badJSON.version, badJSON.schema = 3, "{"
	wrongGoType := spec[Detections]("corb.Frame", 5, detectionsFromV1, nil)
	wrongGoType.schema = frame.schema
	commandV1, err := embeddedSchema("corb.Command", 1)
	if err != nil {
		t.Fatal(err)
	}
	commandV1WithEncoder := spec[Command]("corb.Command", 1, commandFromV1, commandToV2)
	commandV1WithEncoder.schema = commandV1

	for name, extra := range map[string]versionSpec{
		"schema declares another name": renamed,
		"duplicate fingerprint":        sameFP,
		"two encoders":                 oldWithEncoder,
		"encoder not on highest":       newWithoutEncoder,
		"bad json":                     badJSON,
		"go type of another record":    wrongGoType,
		"command v1 encodes beside v2": commandV1WithEncoder,
	} {
		t.Run(name, func(t *testing.T) {
			all := append([]versionSpec(nil), specs...)
			if extra.name == "corb.Command" && extra.version == 1 { // in place of the released v1
				all = slices.DeleteFunc(all, func(s versionSpec) bool { return s.name == extra.name && s.version == 1 })
			}
			_, err := newRegistry(append(all, extra))
			if err == nil {
				t.Fatal("newRegistry accepted it")
			}
			t.Log(err)
		})
	}
}

func TestDecodeIntoWrongType(t *testing.T) {
	specs, err := releasedVersions()
	if err != nil {
		t.Fatal(err)
	}
	if err := specs[0].decode(map[string]any{}, &Detections{}); !errors.Is(err, ErrWrongSchema) {
		t.Fatalf("err = %v", err)
	}
	if _, err := specs[0].encode(&Detections{}, goavroForm()); !errors.Is(err, ErrWrongSchema) {
		t.Fatalf("err = %v", err)
	}
	var f Frame
	if err := specs[0].decode(map[string]any{"camera_id": 5}, &f); !errors.Is(err, ErrInvalid) || !reflect.DeepEqual(f, Frame{}) {
		t.Fatalf("err = %v, f = %+v", err, f)
	}
}

// TestCommandVersions: v2 is what Marshal writes; v1 stays registered,
// decodable and readable as text, without an encoder.
func TestCommandVersions(t *testing.T) {
	r := reg(t)
	if v, err := CurrentVersion("corb.Command"); v != 2 || err != nil {
		t.Fatalf("CurrentVersion = %d, %v", v, err)
	}
	v1, ok := r.byNameVersion["corb.Command.v1"]
	if !ok || v1.encode != nil || v1.decode == nil {
		t.Fatalf("v1 registered %v, encoder %v", ok, ok && v1.encode != nil)
	}
	for _, version := range []int{1, 2} {
		s, err := Schema("corb.Command", version)
		if err != nil || !strings.Contains(s, fmt.Sprintf("Version %d", version)) {
			t.Errorf("Schema(corb.Command, %d) = %.80q, %v", version, s, err)
		}
	}
}
