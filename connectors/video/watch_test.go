package video

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"
)

func TestWatchDir(t *testing.T) {
	dir, stateDir := t.TempDir(), t.TempDir()
	write := func(name, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.mp4", "aaaa")
	write("b.AVI", "bbbb")
	write("notes.txt", "n")
	write(".tmp.mp4", "t")
	write("bad.mp4", "corrupt")
	clip := func() (Capture, CaptureInfo, error) {
		return &fakeCapture{pos: msList(3, 100), end: io.EOF, width: 64, height: 48}, CaptureInfo{FrameCount: 3, FPS: 10}, nil
	}
	opener := &fakeOpener{byPath: map[string]func() (Capture, CaptureInfo, error){
		filepath.Join(dir, "a.mp4"):    clip,
		filepath.Join(dir, "b.AVI"):    clip,
		filepath.Join(dir, "late.mp4"): clip,
		filepath.Join(dir, "bad.mp4"): func() (Capture, CaptureInfo, error) {
			return nil, CaptureInfo{}, errors.New("invalid data found when processing input")
		},
	}}
	rules, err := ParseSuffixRules("*.mp4,*.avi")
	if err != nil {
		t.Fatal(err)
	}
	run := func(sleeps int, onSleep func(n int)) (*memSink, Stats, error) {
		t.Helper()
		clock := newFakeClock()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		clock.onSleep = func(n int) {
			if onSleep != nil {
				onSleep(n)
			}
			if n == sleeps {
				cancel()
			}
		}
		in := &Ingester{Logger: quiet(), Opener: opener, Clock: clock,
			Watch: WatchOptions{Suffixes: rules, StateDir: stateDir, Poll: time.Second, Settle: 2 * time.Second}}
		sink := &memSink{}
		st, err := in.Ingest(ctx, Source{Kind: KindDir, Location: dir, Device: -1}, CameraConfig{CameraID: "cam"}, sink)
		return sink, st, err
	}
	// late.mp4 appears after the first poll and keeps growing for two polls.
	sink, st, err := run(10, func(n int) {
		switch n {
		case 1:
			write("late.mp4", "l")
		case 2:
			write("late.mp4", "ll")
		case 3:
			write("late.mp4", "lll")
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if st.FilesIngested != 3 || st.FilesFailed != 1 || len(sink.frames) != 9 {
		t.Fatalf("stats %+v, %d frames; want 3 files, 1 failed, 9 frames", st, len(sink.frames))
	}
	bySource := map[string][]int64{}
	for _, f := range sink.frames {
		bySource[filepath.Base(f.Source)] = append(bySource[filepath.Base(f.Source)], f.Seq)
	}
	var names []string
	for n, seqs := range bySource {
		names = append(names, n)
		if len(seqs) != 3 || seqs[0] != 0 || seqs[2] != 2 {
			t.Fatalf("%s: seqs %v, want 0,1,2", n, seqs)
		}
	}
	sort.Strings(names)
	if want := []string{"a.mp4", "b.AVI", "late.mp4"}; len(names) != 3 || names[0] != want[0] || names[1] != want[1] || names[2] != want[2] {
		t.Fatalf("ingested %v, want %v", names, want)
	}
	// late.mp4 must have been taken only after it stopped growing.
	state, err := LoadDirState(StateFileName(stateDir, "cam", dir), dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range state.Files {
		if f.Name == "late.mp4" && f.Size != 3 {
			t.Fatalf("late.mp4 ingested at size %d, want 3 (complete)", f.Size)
		}
		if f.Name == "bad.mp4" && f.Error == "" {
			t.Fatal("bad.mp4 not recorded as failed")
		}
	}

	// A restart ingests nothing again (not even the failed file) ...
	opens := opener.opens
	sink, st, _ = run(5, nil)
	if len(sink.frames) != 0 || st.FilesIngested != 0 || opener.opens != opens {
		t.Fatalf("restart re-ingested: %d frames, %+v, %d opens", len(sink.frames), st, opener.opens-opens)
	}
	// ... but a replaced file is new.
	write("a.mp4", "a new, longer recording")
	sink, st, _ = run(5, nil)
	if len(sink.frames) != 3 || st.FilesIngested != 1 || sink.frames[0].Seq != 0 {
		t.Fatalf("replaced file: %d frames, %+v", len(sink.frames), st)
	}
}

func TestWatchDirNeedsStateDir(t *testing.T) {
	in := &Ingester{Logger: quiet(), Opener: &fakeOpener{}, Clock: newFakeClock()}
	_, err := in.Ingest(context.Background(), Source{Kind: KindDir, Location: t.TempDir()}, CameraConfig{CameraID: "c"}, &memSink{})
	if !errors.Is(err, ErrConfig) {
		t.Fatalf("err = %v, want ErrConfig", err)
	}
}
