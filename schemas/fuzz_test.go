package schemas

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

var typedErrors = []error{ErrShort, ErrBadMagic, ErrUnknownFingerprint, ErrTrailingBytes, ErrWrongSchema, ErrInvalid}

func isTyped(err error) bool {
	for _, e := range typedErrors {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// seed adds every golden vector, every sample record (written as the current
// versions) and v1 commands to the corpus.
func seed(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.bin"))
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, r := range sampleRecords() {
		b, err := Marshal(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, c := range v1Commands() {
		f.Add(encodeV1(f, c.native))
	}
	f.Add([]byte{})
	f.Add([]byte{0xC3, 0x01})
}

// fuzzDecode checks that decoding b into a fresh *T never panics, only returns
// the typed errors, and that what decodes marshals again to a fixed point.
func fuzzDecode[T any, P interface {
	*T
	Record
}](t *testing.T, b []byte) {
	dst := P(new(T))
	err := Unmarshal(b, dst)
	if err != nil {
		if !isTyped(err) {
			t.Fatalf("untyped error: %v", err)
		}
		if !reflect.DeepEqual(dst, P(new(T))) {
			t.Fatalf("destination modified on error %v: %+v", err, dst)
		}
		return
	}
	if _, err := Fields(b); err != nil {
		t.Fatalf("Unmarshal succeeded but Fields failed: %v", err)
	}
	b2, err := Marshal(dst)
	if err != nil {
		t.Fatalf("decoded record does not marshal: %v\n%+v", err, dst)
	}
	again := P(new(T))
	if err := Unmarshal(b2, again); err != nil {
		t.Fatalf("re-encoded record does not decode: %v", err)
	}
	b3, err := Marshal(again)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b2, b3) {
		t.Fatalf("not a fixed point:\n% x\n% x", b2, b3)
	}
}

func FuzzUnmarshalFrame(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, b []byte) { fuzzDecode[Frame](t, b) })
}

func FuzzUnmarshalDetections(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, b []byte) { fuzzDecode[Detections](t, b) })
}

func FuzzUnmarshalZoneCounts(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, b []byte) { fuzzDecode[ZoneCounts](t, b) })
}

func FuzzUnmarshalPresenceEvent(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, b []byte) { fuzzDecode[PresenceEvent](t, b) })
}

// FuzzUnmarshalCommand decodes v1 (upgraded) and v2 commands.
func FuzzUnmarshalCommand(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, b []byte) { fuzzDecode[Command](t, b) })
}

// FuzzFields covers Fields and NameOf on any record type.
func FuzzFields(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		name, nerr := NameOf(b)
		if nerr != nil && !isTyped(nerr) {
			t.Fatalf("NameOf: untyped error: %v", nerr)
		}
		m, err := Fields(b)
		if err != nil {
			if !isTyped(err) {
				t.Fatalf("Fields: untyped error: %v", err)
			}
			return
		}
		if nerr != nil || name == "" || m == nil {
			t.Fatalf("Fields ok but NameOf = %q, %v", name, nerr)
		}
	})
}
