package video

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestDirStateRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := StateFileName(dir, "cam/1", "/incoming")
	if filepath.Dir(path) != dir {
		t.Fatalf("state file %s outside %s", path, dir)
	}
	s, err := LoadDirState(path, "/incoming")
	if err != nil || len(s.Files) != 0 {
		t.Fatalf("missing state file: %+v, %v", s, err)
	}
	k1 := FileKey{Name: "b.mp4", Size: 10, ModTime: 1}
	k2 := FileKey{Name: "a.mp4", Size: 20, ModTime: 2}
	s.Add(FileOutcome{FileKey: k1, Frames: 5, IngestedAt: time.Unix(10, 0).UTC()})
	s.Add(FileOutcome{FileKey: k2, Error: "corrupt"})
	s.Add(FileOutcome{FileKey: k1, Frames: 6, IngestedAt: time.Unix(11, 0).UTC()}) // replaces
	if err := s.Save(path); err != nil {
		t.Fatal(err)
	}
	got, err := LoadDirState(path, "/incoming")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Files) != 2 || !got.Has(k1) || !got.Has(k2) || got.Has(FileKey{Name: "b.mp4", Size: 11, ModTime: 1}) {
		t.Fatalf("reloaded state = %+v", got.Files)
	}
	if got.Files[0].Name != "a.mp4" || got.Files[1].Frames != 6 {
		t.Fatalf("want sorted entries with the replacement, got %+v", got.Files)
	}
	// No temporary files left behind.
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("state dir holds %d entries, want 1", len(ents))
	}
	if StateFileName(dir, "cam/1", "/incoming") == StateFileName(dir, "cam/2", "/incoming") ||
		StateFileName(dir, "cam/1", "/a") == StateFileName(dir, "cam/1", "/b") {
		t.Fatal("state file names collide")
	}
}

func TestParseDirStateErrors(t *testing.T) {
	for name, in := range map[string]string{
		"not json":  "nope",
		"version":   `{"version":2,"dir":"/x","files":[]}`,
		"unknown":   `{"version":1,"dir":"/x","files":[],"extra":1}`,
		"trailing":  `{"version":1,"dir":"/x","files":[]} {}`,
		"duplicate": `{"version":1,"dir":"/x","files":[{"name":"a","size":1,"mtime_ns":1,"ingested_at":"2025-01-01T00:00:00Z","frames":1},{"name":"a","size":1,"mtime_ns":1,"ingested_at":"2025-01-01T00:00:00Z","frames":1}]}`,
		"slash":     `{"version":1,"dir":"/x","files":[{"name":"../a","size":1,"mtime_ns":1,"ingested_at":"2025-01-01T00:00:00Z","frames":1}]}`,
		"negative":  `{"version":1,"dir":"/x","files":[{"name":"a","size":-1,"mtime_ns":1,"ingested_at":"2025-01-01T00:00:00Z","frames":1}]}`,
	} {
		if _, err := ParseDirState([]byte(in)); !errors.Is(err, ErrBadState) {
			t.Errorf("%s: err = %v, want ErrBadState", name, err)
		}
	}
}

func FuzzParseDirState(f *testing.F) {
	s := &DirState{Version: stateVersion, Dir: "/x"}
	s.Add(FileOutcome{FileKey: FileKey{Name: "a.mp4", Size: 3, ModTime: 4}, Frames: 2})
	b, _ := s.Marshal()
	f.Add(b)
	f.Add([]byte(`{"version":1,"dir":"","files":null}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseDirState(b)
		if err != nil {
			return
		}
		out, err := s.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseDirState(out)
		if err != nil {
			t.Fatalf("re-parse of marshalled state: %v", err)
		}
		if len(again.Files) != len(s.Files) {
			t.Fatalf("round trip lost entries: %d != %d", len(again.Files), len(s.Files))
		}
		for _, o := range s.Files {
			if !again.Has(o.FileKey) {
				t.Fatalf("round trip lost %+v", o.FileKey)
			}
		}
	})
}
