package s3

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func TestStateRoundTrip(t *testing.T) {
	dir := t.TempDir()
	loc := Location{Bucket: "uploads", Prefix: "cams/"}
	path := StateFileName(dir, "127.0.0.1:9000", loc, "corb.frames")
	s, err := LoadState(path, "127.0.0.1:9000", loc, "corb.frames")
	if err != nil || len(s.Objects) != 0 {
		t.Fatalf("a missing file: %+v, %v; want an empty state", s, err)
	}
	when := time.Date(2026, 2, 1, 9, 0, 0, 0, time.UTC)
	a := ObjectState{ObjectKey: ObjectKey{"uploads", "cams/b/x.mkv", "e1"}, Status: InProgress, Camera: "b", StartTime: when,
		Next: 150, Offsets: map[int32]int64{0: 12, 1: 7}, Updated: when}
	done := ObjectState{ObjectKey: ObjectKey{"uploads", "cams/a/y.avi", "e2"}, Status: Done, Camera: "a", StartTime: when, Next: 795, Frames: 795, Updated: when}
	s.Put(a)
	s.Put(done)
	a.Next = 200
	s.Put(a) // replaces, does not add
	if err := s.Save(path); err != nil {
		t.Fatal(err)
	}
	back, err := LoadState(path, "127.0.0.1:9000", loc, "corb.frames")
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := back.Get(a.ObjectKey); !ok || !reflect.DeepEqual(got, a) {
		t.Errorf("in progress entry back as %+v, %v; want %+v", got, ok, a)
	}
	if ip := back.InProgress(); len(back.Objects) != 2 || len(ip) != 1 || ip[0].Key != a.Key {
		t.Errorf("objects %+v, in progress %+v", back.Objects, ip)
	}
	// Another version of the key is another object.
	if _, ok := back.Get(ObjectKey{"uploads", "cams/b/x.mkv", "e9"}); ok {
		t.Error("another ETag found the old version's entry")
	}
	// The file belongs to one store, location and topic.
	if _, err := LoadState(path, "127.0.0.1:9000", loc, "other.frames"); !errors.Is(err, ErrBadState) {
		t.Errorf("loaded for another topic: %v, want ErrBadState", err)
	}
	if StateFileName(dir, "127.0.0.1:9000", loc, "other.frames") == path {
		t.Error("two topics share a state file name")
	}
}

func TestParseStateRefuses(t *testing.T) {
	for _, c := range []struct{ name, body string }{
		{"not JSON", `{`},
		{"another version", `{"version":2,"store":"x","objects":[]}`},
		{"an unknown field", `{"version":1,"store":"x","objects":[],"extra":1}`},
		{"trailing data", `{"version":1,"store":"x","objects":[]} {}`},
		{"an unknown status", `{"version":1,"store":"x","objects":[{"bucket":"b","key":"k","etag":"e","status":"maybe","camera":"c","start_time":"2026-01-01T00:00:00Z","next_seq":0,"frames":0,"updated":"2026-01-01T00:00:00Z"}]}`},
		{"in progress without a camera", `{"version":1,"store":"x","objects":[{"bucket":"b","key":"k","etag":"e","status":"in_progress","camera":"","start_time":"2026-01-01T00:00:00Z","next_seq":0,"frames":0,"updated":"2026-01-01T00:00:00Z"}]}`},
		{"a negative seq", `{"version":1,"store":"x","objects":[{"bucket":"b","key":"k","etag":"e","status":"done","camera":"c","start_time":"2026-01-01T00:00:00Z","next_seq":-1,"frames":0,"updated":"2026-01-01T00:00:00Z"}]}`},
		{"a duplicate", `{"version":1,"store":"x","objects":[` +
			`{"bucket":"b","key":"k","etag":"e","status":"done","camera":"c","start_time":"2026-01-01T00:00:00Z","next_seq":1,"frames":1,"updated":"2026-01-01T00:00:00Z"},` +
			`{"bucket":"b","key":"k","etag":"e","status":"done","camera":"c","start_time":"2026-01-01T00:00:00Z","next_seq":1,"frames":1,"updated":"2026-01-01T00:00:00Z"}]}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := ParseState([]byte(c.body)); !errors.Is(err, ErrBadState) {
				t.Errorf("ParseState: %v, want ErrBadState", err)
			}
			p := filepath.Join(t.TempDir(), "s.json")
			if err := os.WriteFile(p, []byte(c.body), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := LoadState(p, "", Location{Bucket: "b"}, ""); !errors.Is(err, ErrBadState) {
				t.Errorf("LoadState: %v, want ErrBadState", err)
			}
		})
	}
}
