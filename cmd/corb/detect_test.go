package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/corb-dev/corb/operators/detect"
	"github.com/corb-dev/corb/operators/detect/detecttest"
)

// `corb detect` goes on past bad files, says what is wrong with each, exits
// non-zero at the end, and lets no warning of OpenCV, FFmpeg or libjpeg
// through to the terminal. It runs as its own process: OpenCV reads its log
// level once, and the libraries write to the process's stderr directly.
func TestDetectGoesOnPastBadFiles(t *testing.T) {
	if _, err := detect.LibraryPath(""); err != nil {
		detecttest.NeedFile(t, detect.DefaultLibraryPath(), "deploy/ort/fetch.sh (or set CORB_ORT_LIB)")
	}
	detecttest.NeedFile(t, detect.DefaultModelPath(), "make model (deploy/model/fetch.sh)")
	media := filepath.Join(detect.CacheDir(), "media")
	kite := detecttest.NeedFile(t, filepath.Join(media, "kite.jpg"), "deploy/media/fetch.sh")
	vtest := detecttest.NeedFile(t, filepath.Join(media, "vtest.avi"), "deploy/media/fetch.sh")

	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	read := func(p string, n int) []byte {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b[:n]
	}
	missing := filepath.Join(dir, "missing.jpg")
	truncated := write("truncated.jpg", read(kite, 20000)) // libjpeg: "Premature end of JPEG file"
	text := write("notes.jpg", []byte("not a picture\n"))
	damaged := write("damaged.avi", read(vtest, 20000)) // FFmpeg: "[msmpeg4 @ …] Error at MB: …"
	empty := write("empty.mp4", nil)
	junk := write("junk.avi", []byte("not a video\n"))

	stdout, stderr, code := runMain(t, "detect", "--max-frames", "1", missing, truncated, text, damaged, kite, empty, junk)
	if code != 1 {
		t.Errorf("exit status %d, want 1", code)
	}
	// Every line on stderr is corb's own.
	for _, l := range strings.Split(strings.TrimSpace(stderr), "\n") {
		if !strings.HasPrefix(l, "corb") {
			t.Errorf("a library's message reached the terminal: %q", l)
		}
	}
	for _, want := range []string{
		missing + ": missing (no such file)",
		truncated + ": not a decodable image or video: a truncated JPEG",
		text + ": not a decodable image or video: named like an image, but its content is text/plain",
		empty + ": not a decodable image or video: empty",
		junk + ": not a decodable image or video: FFmpeg cannot open it as a video",
		"corb: detect: 5 of 7 files failed: " + strings.Join([]string{missing, truncated, text, empty, junk}, ", "),
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	// The good files were detected, the damaged video as far as it decodes.
	var files []string
	for _, l := range strings.Split(strings.TrimSpace(stdout), "\n") {
		var line detectLine
		if err := json.Unmarshal([]byte(l), &line); err != nil {
			t.Fatalf("stdout line %q: %v", l, err)
		}
		files = append(files, line.File)
	}
	if strings.Join(files, " ") != damaged+" "+kite {
		t.Errorf("detected %v, want %s and %s", files, damaged, kite)
	}
}

// A file the user may not read is said to be unreadable, not missing.
func TestDetectUnreadableFile(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads every file")
	}
	p := filepath.Join(t.TempDir(), "secret.jpg")
	if err := os.WriteFile(p, []byte{0xff, 0xd8}, 0o000); err != nil {
		t.Fatal(err)
	}
	_, err := sniffFile(p)
	if err == nil || !strings.Contains(err.Error(), "unreadable (permission denied)") {
		t.Fatalf("got %v, want unreadable (permission denied)", err)
	}
}
