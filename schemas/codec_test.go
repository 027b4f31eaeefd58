package schemas

import (
	"bytes"
	"encoding/binary"
	"errors"
	"maps"
	"reflect"
	"slices"
	"testing"
	"time"
)

func newOf(r Record) Record {
	return reflect.New(reflect.TypeOf(r).Elem()).Interface().(Record)
}

func TestRoundTrip(t *testing.T) {
	for _, want := range sampleRecords() {
		t.Run(want.SchemaName(), func(t *testing.T) {
			b, err := Marshal(want)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			if b[0] != 0xC3 || b[1] != 0x01 {
				t.Fatalf("header % x", b[:2])
			}
			cur, _ := CurrentVersion(want.SchemaName())
			s, _ := Schema(want.SchemaName(), cur)
			if name, err := NameOf(b); err != nil || name != want.SchemaName() {
				t.Fatalf("NameOf = %q, %v", name, err)
			}
			_ = s
			got := newOf(want)
			if err := Unmarshal(b, got); err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestUnmarshalDoesNotAlias(t *testing.T) {
	b, err := Marshal(&Frame{CameraID: "c", Encoding: EncodingJPEG, Image: []byte("jpegbytes")})
	if err != nil {
		t.Fatal(err)
	}
	var f Frame
	if err := Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = 'X'
	}
	if string(f.Image) != "jpegbytes" || f.CameraID != "c" {
		t.Fatalf("decoded record changed with the input buffer: %q %q", f.CameraID, f.Image)
	}
}

func TestTimesTruncatedToMicrosInUTC(t *testing.T) {
	loc := time.FixedZone("CET", 3600)
	in := time.Date(2025, 3, 14, 10, 0, 0, 123456789, loc)
	b, err := Marshal(&ZoneCounts{CaptureTime: in})
	if err != nil {
		t.Fatal(err)
	}
	var z ZoneCounts
	if err := Unmarshal(b, &z); err != nil {
		t.Fatal(err)
	}
	want := in.Truncate(time.Microsecond).UTC()
	if z.CaptureTime != want {
		t.Fatalf("got %v, want %v", z.CaptureTime, want)
	}
}

func TestMicros(t *testing.T) {
	for _, tc := range []struct {
		t    time.Time
		want int64
		ok   bool
	}{
		{time.Unix(0, 0), 0, true},
		{time.Unix(-1, 999_999_000), -1, true},
		{time.Unix(1, 1500), 1_000_001, true},
		{time.Time{}, -62135596800_000_000, true},
		{time.UnixMicro(1<<63 - 1), 1<<63 - 1, true},
		{time.UnixMicro(-1 << 63), -1 << 63, true},
		{time.UnixMicro(1<<63 - 1).Add(time.Microsecond), 0, false},
		{time.UnixMicro(-1 << 63).Add(-time.Nanosecond), 0, false},
		{time.Date(300000, 1, 1, 0, 0, 0, 0, time.UTC), 0, false},
	} {
		got, ok := micros(tc.t)
		if got != tc.want || ok != tc.ok {
			t.Errorf("micros(%v) = %d, %v; want %d, %v", tc.t, got, ok, tc.want, tc.ok)
		}
	}
}

func TestMarshalInvalid(t *testing.T) {
	farFuture := time.Date(300000, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		r    Record
		want error
	}{
		{"nil interface", nil, ErrInvalid},
		{"nil pointer", (*Frame)(nil), ErrInvalid},
		{"unknown encoding", &Frame{Encoding: "GIF"}, ErrInvalid},
		{"empty encoding", &Frame{}, ErrInvalid},
		{"negative width", &Frame{Encoding: EncodingJPEG, Width: -1}, ErrInvalid},
		{"raw length", &Frame{Encoding: EncodingRawBGR, Width: 2, Height: 2, Image: make([]byte, 11)}, ErrInvalid},
		{"time out of range", &Frame{Encoding: EncodingJPEG, CaptureTime: farFuture}, ErrInvalid},
		{"bad utf8", &Frame{Encoding: EncodingJPEG, CameraID: "\xff"}, ErrInvalid},
		{"bad utf8 label", &Detections{Boxes: []Box{{Label: "a\xc0"}}}, ErrInvalid},
		{"negative inference", &Detections{InferenceTime: -time.Microsecond}, ErrInvalid},
		{"negative count", &ZoneCounts{Count: -1}, ErrInvalid},
		{"unknown presence type", &PresenceEvent{Type: "MAYBE"}, ErrInvalid},
		{"negative duration", &PresenceEvent{Type: Occupied, Duration: -time.Second}, ErrInvalid},
		{"empty command type", &Command{}, ErrInvalid},
		{"two args", &Command{CommandType: "status", Text: &TextArgs{}, SendSMS: &SendSMSArgs{}}, ErrInvalid},
		{"sms args on other type", &Command{CommandType: "status", SendSMS: &SendSMSArgs{}}, ErrInvalid},
		{"cleaning args on other type", &Command{CommandType: "send_sms", RequestCleaning: &RequestCleaningArgs{}}, ErrInvalid},
		{"negative visits", &Command{CommandType: CommandRequestCleaning, RequestCleaning: &RequestCleaningArgs{Visits: -2}}, ErrInvalid},
		{"unknown record type", foreign{}, ErrUnknownSchema},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Marshal(tc.r)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Marshal = % x, %v; want %v", b, err, tc.want)
			}
			if b != nil {
				t.Fatalf("bytes returned with error: % x", b)
			}
		})
	}
}

type foreign struct{}

func (foreign) SchemaName() string { return "corb.Foreign" }

// body returns the Avro binary body (no header) of r, written by the current codec.
func body(t *testing.T, r Record) []byte {
	t.Helper()
	b, err := Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return b[10:]
}

func header(t *testing.T, name string) []byte {
	t.Helper()
	reg, err := registryOrErr()
	if err != nil {
		t.Fatal(err)
	}
	h := []byte{0xC3, 0x01}
	return binary.LittleEndian.AppendUint64(h, reg.current[name].codec.Rabin)
}

func TestUnmarshalBadBytes(t *testing.T) {
	frame, err := Marshal(goldenRecords()["corb.Frame.v1"])
	if err != nil {
		t.Fatal(err)
	}
	event, err := Marshal(&PresenceEvent{Type: Occupied})
	if err != nil {
		t.Fatal(err)
	}
	// In the PresenceEvent body the enum index follows two empty strings (one
	// zero byte each); index 5 (zig-zag 10) is one past RECOVERED.
	badEnum := slices.Clone(event)
	if badEnum[12] != 0 { // OCCUPIED is index 0
		t.Fatalf("unexpected layout % x", event)
	}
	badEnum[12] = 10
	badUnion := append(header(t, "corb.Command"), body(t, &Command{CommandType: "help"})...)
	badUnion[len(badUnion)-1] = 16 // args union index 8: v2 has 0..7
	badUTF8 := append(header(t, "corb.ZoneCounts"), 2, 0xff)
	badUTF8 = append(badUTF8, body(t, &ZoneCounts{})[1:]...)
	negLen := append(header(t, "corb.ZoneCounts"), 3) // zig-zag -2
	unknownFP := slices.Clone(frame)
	unknownFP[2] ^= 0xFF

	for _, tc := range []struct {
		name string
		b    []byte
		dst  Record
		want error
	}{
		{"nil", nil, &Frame{}, ErrShort},
		{"empty", []byte{}, &Frame{}, ErrShort},
		{"header only partly", frame[:9], &Frame{}, ErrShort},
		{"header without body", frame[:10], &Frame{}, ErrShort},
		{"body cut short", frame[:len(frame)-1], &Frame{}, ErrShort},
		{"wrong magic", append([]byte{0xC3, 0x02}, frame[2:]...), &Frame{}, ErrBadMagic},
		{"plain avro", frame[10:], &Frame{}, ErrBadMagic},
		{"unknown fingerprint", unknownFP, &Frame{}, ErrUnknownFingerprint},
		{"trailing bytes", append(slices.Clone(frame), 0), &Frame{}, ErrTrailingBytes},
		{"invalid enum", badEnum, &PresenceEvent{}, ErrInvalid},
		{"invalid union index", badUnion, &Command{}, ErrInvalid},
		{"invalid utf8", badUTF8, &ZoneCounts{}, ErrInvalid},
		{"negative length", negLen, &ZoneCounts{}, ErrInvalid},
		{"wrong type", frame, &Detections{}, ErrWrongSchema},
		{"foreign type", frame, foreign{}, ErrWrongSchema},
		{"nil destination", frame, nil, ErrInvalid},                   // bytes fine, destination bad
		{"nil pointer destination", frame, (*Frame)(nil), ErrInvalid}, // bytes fine, destination bad
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before Record
			if reflect.ValueOf(tc.dst).Kind() == reflect.Pointer && !isNil(tc.dst) {
				before = newOf(tc.dst)
			}
			err := Unmarshal(tc.b, tc.dst)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Unmarshal = %v; want %v", err, tc.want)
			}
			if before != nil && !reflect.DeepEqual(before, tc.dst) {
				t.Fatalf("destination modified on error: %+v", tc.dst)
			}
			if bytesBad := tc.want != ErrWrongSchema && !bytes.Equal(tc.b, frame); bytesBad {
				if _, ferr := Fields(tc.b); !errors.Is(ferr, tc.want) {
					t.Fatalf("Fields = %v; want %v", ferr, tc.want)
				}
			}
		})
	}
}

func isNil(r Record) bool {
	v := reflect.ValueOf(r)
	return v.Kind() == reflect.Pointer && v.IsNil()
}

func TestNameOf(t *testing.T) {
	for key, r := range goldenRecords() {
		b, err := Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		cur, _ := CurrentVersion(r.SchemaName()) // Marshal writes it, whatever version the golden record is of
		name, version, err := VersionOf(b)
		if err != nil || name != r.SchemaName() || version != cur {
			t.Errorf("VersionOf(Marshal(%s)) = %q, %d, %v; want v%d", key, name, version, err, cur)
		}
		// NameOf reads only the header.
		if n, err := NameOf(b[:10]); err != nil || n != r.SchemaName() {
			t.Errorf("NameOf(header of %s) = %q, %v", key, n, err)
		}
	}
	for _, tc := range []struct {
		b    []byte
		want error
	}{
		{[]byte{0xC3, 0x01, 1, 2, 3}, ErrShort},
		{bytes.Repeat([]byte{0}, 10), ErrBadMagic},
		{[]byte{0xC3, 0x01, 1, 2, 3, 4, 5, 6, 7, 8}, ErrUnknownFingerprint},
	} {
		if _, err := NameOf(tc.b); !errors.Is(err, tc.want) {
			t.Errorf("NameOf(% x) = %v, want %v", tc.b, err, tc.want)
		}
	}
}

// fieldsOf is Fields of r as Marshal writes it.
func fieldsOf(t *testing.T, r Record) map[string]any {
	t.Helper()
	b, err := Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Fields(b)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestFields(t *testing.T) {
	f := fieldsOf(t, &Command{ID: "x", CommandType: CommandSendSMS, SendSMS: &SendSMSArgs{To: "+1", Body: "hi"},
		IssuedAt: ts("2025-01-02T03:04:05.000006Z")})
	want := map[string]any{
		"id": "x", "command_type": "send_sms", "zone_id": "", "channel": "", "sender": "",
		"issued_at": ts("2025-01-02T03:04:05.000006Z"), "cause": nil, "correlation_id": "",
		"args": map[string]any{"to": "+1", "body": "hi"},
	}
	if !reflect.DeepEqual(f, want) {
		t.Fatalf("Fields =\n%#v\nwant\n%#v", f, want)
	}

	f = fieldsOf(t, &PresenceEvent{Type: Vacated, Count: 2, Duration: 1500 * time.Millisecond})
	if f["type"] != "VACATED" || f["occupied_since"] != nil || f["count"] != int32(2) || f["duration_ms"] != int64(1500) {
		t.Fatalf("Fields = %#v", f)
	}
	f = fieldsOf(t, goldenRecords()["corb.Detections.v1"])
	boxes, _ := f["boxes"].([]any)
	if len(boxes) != 2 || boxes[0].(map[string]any)["label"] != "person" {
		t.Fatalf("boxes = %#v", f["boxes"])
	}
}

func TestKnownFieldsMatchFields(t *testing.T) {
	kf := KnownFields()
	if got := kf["corb.Command"]; !slices.Equal(got, []string{"id", "command_type", "zone_id", "channel", "sender", "issued_at", "cause", "correlation_id", "args"}) {
		t.Fatalf("corb.Command fields = %v", got)
	}
	for _, r := range sampleRecords() {
		b, err := Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		f, err := Fields(b)
		if err != nil {
			t.Fatal(err)
		}
		names := slices.Sorted(maps.Keys(f))
		want := slices.Sorted(slices.Values(kf[r.SchemaName()]))
		if !slices.Equal(names, want) {
			t.Fatalf("%s: Fields keys %v, KnownFields %v", r.SchemaName(), names, want)
		}
	}
}

func TestKnownAndSchema(t *testing.T) {
	want := []string{"corb.Command", "corb.Detections", "corb.Frame", "corb.PresenceEvent", "corb.ZoneCounts"}
	got := Known()
	if !slices.Equal(got, want) {
		t.Fatalf("Known = %v, want %v", got, want)
	}
	got[0] = "mutated"
	if Known()[0] != want[0] {
		t.Fatal("Known shares its slice")
	}
	for _, name := range want {
		v, err := CurrentVersion(name)
		if err != nil || v < 1 {
			t.Fatalf("CurrentVersion(%s) = %d, %v", name, v, err)
		}
		s, err := Schema(name, v)
		if err != nil || !bytes.Contains([]byte(s), []byte(`"namespace": "corb"`)) {
			t.Fatalf("Schema(%s, %d) = %.60q, %v", name, v, s, err)
		}
	}
	if _, err := Schema("corb.Frame", 99); !errors.Is(err, ErrUnknownSchema) {
		t.Fatalf("Schema(v99) err = %v", err)
	}
	if _, err := Schema("corb.Nope", 1); !errors.Is(err, ErrUnknownSchema) {
		t.Fatalf("Schema(corb.Nope) err = %v", err)
	}
}

// TestHugeArrayCount: a block count of 2^31-1 in 20 bytes must be refused
// before goavro allocates for it (it would size a 34 GB slice and the process
// would die of a fatal out-of-memory error).
func TestHugeArrayCount(t *testing.T) {
	for _, count := range []int64{1<<31 - 1, 3, -(1<<31 - 1)} {
		b := append(header(t, "corb.Detections"), 0, 0, 0, 0, 0, 0, 0) // camera_id..frame_height
		b = binary.AppendVarint(b, count)
		if count < 0 {
			b = binary.AppendVarint(b, 2) // block size
		}
		b = append(b, 0, 0, 0, 0)
		var d Detections
		if err := Unmarshal(b, &d); !errors.Is(err, ErrInvalid) {
			t.Errorf("count %d: err = %v, want ErrInvalid", count, err)
		}
	}
}

func TestPrescanAcceptsEverythingValid(t *testing.T) {
	reg, err := registryOrErr()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range sampleRecords() {
		b, err := Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		v, err := reg.lookup(b)
		if err != nil {
			t.Fatal(err)
		}
		if err := prescan(v.shape, b[10:]); err != nil {
			t.Errorf("%s: %v", r.SchemaName(), err)
		}
		// Every strict prefix is short.
		for n := 10; n < len(b); n++ {
			if err := prescan(v.shape, b[10:n]); !errors.Is(err, ErrShort) && !errors.Is(err, ErrInvalid) {
				t.Fatalf("%s cut at %d: %v", r.SchemaName(), n, err)
			}
		}
	}
}
