package video

import (
	"context"
	"errors"
	"io"
	"slices"
	"testing"
	"time"
)

// A resumed file sends exactly the frames an interrupted run had not sent,
// with the seq numbers and capture times the whole run gives them, and
// checkpoints only frames the sink has flushed.
func TestIngestFileResume(t *testing.T) {
	start := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	// 10 frames at 10 fps; max_fps 5 keeps frames 0, 2, 4, 6, 8 as seq 0..4.
	open := func() *fakeOpener {
		return &fakeOpener{results: []openResult{{
			capt: &fakeCapture{pos: msList(10, 100), end: io.EOF, width: 64, height: 48},
			info: CaptureInfo{FrameCount: 10, FPS: 10}}}}
	}
	cfg := CameraConfig{CameraID: "lot", MaxFPS: 5, StartTime: start}
	for _, c := range []struct {
		name        string
		from, every int64
		wantSeqs    []int64
		wantChecks  []int64 // next seq at each checkpoint
		wantSkipped int64
	}{
		{"from the start", 0, 2, []int64{0, 1, 2, 3, 4}, []int64{2, 4}, 0},
		{"mid-file", 2, 2, []int64{2, 3, 4}, []int64{4}, 2},
		{"checkpoint every frame", 3, 1, []int64{3, 4}, []int64{4, 5}, 3},
		{"every frame already sent", 5, 2, nil, nil, 5},
		{"past the end", 9, 2, nil, nil, 5},
	} {
		t.Run(c.name, func(t *testing.T) {
			sink := &memSink{}
			var checks []int64
			res := Resume{From: c.from, Every: c.every, Checkpoint: func(_ context.Context, next int64) error {
				// Every frame below next must have been flushed before it is reported.
				if sink.flushes == 0 {
					t.Errorf("checkpoint %d before any flush", next)
				}
				checks = append(checks, next)
				return nil
			}}
			in := &Ingester{Logger: quiet(), Opener: open(), Clock: newFakeClock()}
			st, err := in.IngestFile(context.Background(), Source{Kind: KindFile, Location: "/x/lot.mkv", Name: "s3://b/lot.mkv"}, cfg, sink, res)
			if err != nil {
				t.Fatal(err)
			}
			var seqs []int64
			for _, f := range sink.frames {
				seqs = append(seqs, f.Seq)
				// seq n is container frame 2n: 200 ms apart, whatever the run.
				if want := start.Add(time.Duration(f.Seq) * 200 * time.Millisecond); !f.CaptureTime.Equal(want) {
					t.Errorf("seq %d captured at %v, want %v", f.Seq, f.CaptureTime, want)
				}
				if f.Source != "s3://b/lot.mkv" {
					t.Errorf("seq %d: source %q, want the object's name", f.Seq, f.Source)
				}
			}
			if !slices.Equal(seqs, c.wantSeqs) || !slices.Equal(checks, c.wantChecks) {
				t.Errorf("sent %v, checkpoints %v; want %v, %v", seqs, checks, c.wantSeqs, c.wantChecks)
			}
			if st.FramesSkipped != c.wantSkipped || st.FramesSent != int64(len(c.wantSeqs)) || st.FramesRead != 10 {
				t.Errorf("stats %+v: want %d skipped, %d sent, 10 read", st, c.wantSkipped, len(c.wantSeqs))
			}
		})
	}
}

func TestIngestFileResumeErrors(t *testing.T) {
	errFull := errors.New("disk full")
	clip := func() *fakeOpener {
		return &fakeOpener{results: []openResult{{capt: &fakeCapture{pos: msList(6, 100), end: io.EOF}, info: CaptureInfo{FPS: 10}}}}
	}
	cfg := CameraConfig{CameraID: "lot", StartTime: time.Unix(0, 0)}
	for _, c := range []struct {
		name     string
		src      Source
		res      Resume
		wantErr  error
		wantSent int
	}{
		{"a failed checkpoint stops the file", Source{Kind: KindFile, Location: "/a.mkv"},
			Resume{Every: 2, Checkpoint: func(context.Context, int64) error { return errFull }}, errFull, 2},
		{"negative start", Source{Kind: KindFile, Location: "/a.mkv"}, Resume{From: -1}, ErrConfig, 0},
		{"not a file", Source{Kind: KindDir, Location: "/in"}, Resume{}, ErrConfig, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			sink := &memSink{}
			in := &Ingester{Logger: quiet(), Opener: clip(), Clock: newFakeClock()}
			_, err := in.IngestFile(context.Background(), c.src, cfg, sink, c.res)
			if !errors.Is(err, c.wantErr) || len(sink.frames) != c.wantSent {
				t.Errorf("err %v after %d frames; want %v after %d", err, len(sink.frames), c.wantErr, c.wantSent)
			}
		})
	}
}
