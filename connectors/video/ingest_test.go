package video

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestIngestFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "clip.mp4")
	if err := os.WriteFile(path, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	mtime := time.Date(2025, 2, 3, 4, 5, 6, 0, time.UTC)
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	start := time.Date(2024, 1, 1, 8, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		cfg       CameraConfig
		limit     int64
		frames    int
		wantSent  int
		wantBase  time.Time
		wantWidth int32
		wantGap   time.Duration
		sleeps    int // pacer sleeps with positive duration
	}{
		{name: "all frames from mtime", cfg: CameraConfig{CameraID: "c1"}, frames: 30, wantSent: 30, wantBase: mtime, wantWidth: 640, wantGap: 100 * ms},
		{name: "max fps, resize, start time", cfg: CameraConfig{CameraID: "c1", MaxFPS: 2, MaxWidth: 320, StartTime: start}, frames: 30, wantSent: 6, wantBase: start, wantWidth: 320, wantGap: 500 * ms},
		{name: "limit", cfg: CameraConfig{CameraID: "c1"}, limit: 7, frames: 30, wantSent: 7, wantBase: mtime, wantWidth: 640, wantGap: 100 * ms},
		{name: "realtime", cfg: CameraConfig{CameraID: "c1", Realtime: true}, frames: 5, wantSent: 5, wantBase: mtime, wantWidth: 640, wantGap: 100 * ms, sleeps: 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			capt := &fakeCapture{pos: msList(tt.frames, 100), end: io.EOF, width: 640, height: 480}
			in := &Ingester{Logger: quiet(), Opener: &fakeOpener{results: []openResult{{capt: capt, info: CaptureInfo{FrameCount: int64(tt.frames), FPS: 10}}}},
				Clock: clock, Limit: tt.limit}
			var bar fakeBar
			in.NewProgress = func(src Source, total int64) ProgressBar { bar.total = total; return &bar }
			sink := &memSink{}
			st, err := in.Ingest(context.Background(), Source{Kind: KindFile, Location: path, Device: -1}, tt.cfg, sink)
			if err != nil {
				t.Fatal(err)
			}
			if len(sink.frames) != tt.wantSent || st.FramesSent != int64(tt.wantSent) {
				t.Fatalf("sent %d (stats %d), want %d", len(sink.frames), st.FramesSent, tt.wantSent)
			}
			if st.FramesRead != st.FramesSent+st.FramesDropped {
				t.Fatalf("stats don't add up: %+v", st)
			}
			if !capt.closed || sink.flushes == 0 {
				t.Fatalf("capture closed %v, flushes %d", capt.closed, sink.flushes)
			}
			if !bar.finished || bar.total != int64(tt.frames) || bar.n != int(st.FramesRead) {
				t.Fatalf("progress = %+v, want total %d, %d frames, finished", bar, tt.frames, st.FramesRead)
			}
			for i, f := range sink.frames {
				if f.Seq != int64(i) || f.CameraID != "c1" || f.Source != path || f.Width != tt.wantWidth {
					t.Fatalf("frame %d = seq %d cam %q src %q width %d", i, f.Seq, f.CameraID, f.Source, f.Width)
				}
				if want := tt.wantBase.Add(time.Duration(i) * tt.wantGap); !f.CaptureTime.Equal(want) {
					t.Fatalf("frame %d capture time %v, want %v", i, f.CaptureTime, want)
				}
			}
			pos := 0
			for _, d := range clock.sleeps {
				if d > 0 {
					pos++
				}
			}
			if pos != tt.sleeps {
				t.Fatalf("pacing sleeps = %v, want %d positive", clock.sleeps, tt.sleeps)
			}
		})
	}
}

type fakeBar struct {
	total    int64
	n        int
	finished bool
}

func (b *fakeBar) Add(n int) { b.n += n }
func (b *fakeBar) Finish()   { b.finished = true }

func TestIngestErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "clip.mp4")
	os.WriteFile(path, []byte("x"), 0o644)
	file := Source{Kind: KindFile, Location: path, Device: -1}
	sinkErr := errors.New("broker gone")
	tests := []struct {
		name  string
		src   Source
		cfg   CameraConfig
		open  openResult
		sink  *memSink
		check func(error) bool
	}{
		{"no camera", file, CameraConfig{}, openResult{}, &memSink{}, func(e error) bool { return errors.Is(e, ErrConfig) }},
		{"bad quality", file, CameraConfig{CameraID: "c", Quality: 101}, openResult{}, &memSink{}, func(e error) bool { return errors.Is(e, ErrConfig) }},
		{"open fails", file, CameraConfig{CameraID: "c"}, openResult{err: errRefused}, &memSink{},
			func(e error) bool {
				var ce *CaptureError
				return errors.As(e, &ce) && ce.Op == "open" && errors.Is(e, errRefused)
			}},
		{"missing file", Source{Kind: KindFile, Location: path + ".nope"}, CameraConfig{CameraID: "c"}, openResult{}, &memSink{},
			func(e error) bool { return errors.Is(e, os.ErrNotExist) }},
		{"decode fails", file, CameraConfig{CameraID: "c"}, openResult{capt: &fakeCapture{pos: msList(3, 10), end: errors.New("corrupt")}}, &memSink{},
			func(e error) bool { var ce *CaptureError; return errors.As(e, &ce) && ce.Op == "read" }},
		{"sink fails", file, CameraConfig{CameraID: "c"}, openResult{capt: &fakeCapture{pos: msList(3, 10), end: io.EOF}}, &memSink{sendErr: sinkErr},
			func(e error) bool { return errors.Is(e, sinkErr) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := &Ingester{Logger: quiet(), Opener: &fakeOpener{results: []openResult{tt.open}}, Clock: newFakeClock()}
			_, err := in.Ingest(context.Background(), tt.src, tt.cfg, tt.sink)
			if err == nil || !tt.check(err) {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

// TestLiveReconnect scripts a camera that refuses twice, streams 4 frames,
// drops, refuses once, streams again; the ingester must back off 0.5s, 1s,
// then (after streaming) start again from 0.5s, keep seq running across
// reconnects, stamp wall-clock times, and stop when ctx ends.
func TestLiveReconnect(t *testing.T) {
	clock := newFakeClock()
	dropped := errors.New("rtsp: connection reset")
	stream := func(n int) Capture {
		return &fakeCapture{pos: msList(n, 0), end: dropped, width: 320, height: 240, clock: clock, step: 100 * ms}
	}
	opener := &fakeOpener{results: []openResult{
		{err: errRefused}, {err: errRefused},
		{capt: stream(4)},
		{err: errRefused},
		{capt: stream(3)},
	}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var err error
	var states []State
	in := &Ingester{Logger: quiet(), Opener: opener, Clock: clock, OnState: func(c StateChange) {
		states = append(states, c.State)
		if c.Source.Location != "rtsp://cam/s" || c.Camera != "lobby" {
			t.Errorf("state change for %+v / %q", c.Source, c.Camera)
		}
		if c.State == StateBackoff && c.Err == nil {
			t.Error("backoff without a cause")
		}
	}}
	// After the script runs out every open is refused; stop after 8 sleeps.
	clock.onSleep = func(n int) {
		if n == 8 {
			cancel()
		}
	}
	reg := prometheus.NewRegistry()
	if in.Metrics, err = NewMetrics(reg); err != nil {
		t.Fatal(err)
	}
	sink := &memSink{}
	src := Source{Kind: KindStream, Location: "rtsp://cam/s", Device: -1}
	st, err := in.Ingest(ctx, src, CameraConfig{CameraID: "lobby"}, sink)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	wantSleeps := []time.Duration{500 * ms, 1000 * ms, 500 * ms, 1000 * ms, 500 * ms, 1000 * ms, 2000 * ms, 4000 * ms}
	if len(clock.sleeps) != len(wantSleeps) {
		t.Fatalf("sleeps = %v, want %v", clock.sleeps, wantSleeps)
	}
	for i := range wantSleeps {
		if clock.sleeps[i] != wantSleeps[i] {
			t.Fatalf("sleeps = %v, want %v", clock.sleeps, wantSleeps)
		}
	}
	C, S, B := StateConnecting, StateStreaming, StateBackoff
	wantStates := []State{C, B, C, B, C, S, B, C, B, C, S, B, C, B, C, B, C, B, StateStopped}
	if len(states) != len(wantStates) {
		t.Fatalf("states = %v, want %v", states, wantStates)
	}
	for i := range wantStates {
		if states[i] != wantStates[i] {
			t.Fatalf("states = %v, want %v", states, wantStates)
		}
	}
	if got := testutil.ToFloat64(in.Metrics.frames.WithLabelValues("lobby", "sent")); got != 7 {
		t.Fatalf("frames metric %v, want 7", got)
	}
	if got := testutil.ToFloat64(in.Metrics.reconnects.WithLabelValues("lobby")); got != 8 {
		t.Fatalf("reconnects metric %v, want 8 backoffs", got)
	}
	if got := testutil.ToFloat64(in.Metrics.state.WithLabelValues("lobby", "rtsp://cam/s", "stopped")); got != 1 {
		t.Fatalf("state metric stopped = %v, want 1", got)
	}
	if got := testutil.ToFloat64(in.Metrics.state.WithLabelValues("lobby", "rtsp://cam/s", "backoff")); got != 0 {
		t.Fatalf("state metric backoff = %v, want 0", got)
	}
	if len(sink.frames) != 7 || st.Reconnects != 7 {
		t.Fatalf("frames %d reconnects %d, want 7 and 7 (the 8th retry was cancelled)", len(sink.frames), st.Reconnects)
	}
	for i, f := range sink.frames {
		if f.Seq != int64(i) {
			t.Fatalf("frame %d has seq %d", i, f.Seq)
		}
		if i > 0 && !f.CaptureTime.After(sink.frames[i-1].CaptureTime) {
			t.Fatalf("capture times not increasing at %d", i)
		}
	}
}

func TestLiveSinkErrorStops(t *testing.T) {
	clock := newFakeClock()
	opener := &fakeOpener{results: []openResult{{capt: &fakeCapture{pos: msList(5, 0), end: io.EOF, clock: clock, step: ms}}}}
	boom := errors.New("boom")
	in := &Ingester{Logger: quiet(), Opener: opener, Clock: clock}
	_, err := in.Ingest(context.Background(), Source{Kind: KindDevice, Location: "/dev/video0"}, CameraConfig{CameraID: "c"}, &memSink{sendErr: boom})
	if !errors.Is(err, boom) || opener.opens != 1 {
		t.Fatalf("err = %v after %d opens, want boom after 1", err, opener.opens)
	}
}

func TestLiveMaxFPSByWallClock(t *testing.T) {
	clock := newFakeClock()
	opener := &fakeOpener{results: []openResult{{capt: &fakeCapture{pos: msList(60, 0), end: io.EOF, clock: clock, step: 1000 * ms / 30}}}}
	in := &Ingester{Logger: quiet(), Opener: opener, Clock: clock, Limit: 10}
	sink := &memSink{}
	st, err := in.Ingest(context.Background(), Source{Kind: KindDevice, Location: "/dev/video0"}, CameraConfig{CameraID: "c", MaxFPS: 5}, sink)
	if err != nil {
		t.Fatal(err)
	}
	if len(sink.frames) != 10 || st.FramesDropped < 40 {
		t.Fatalf("sent %d dropped %d, want 10 sent and ~5 of 6 dropped", len(sink.frames), st.FramesDropped)
	}
	for i := 1; i < len(sink.frames); i++ {
		d := sink.frames[i].CaptureTime.Sub(sink.frames[i-1].CaptureTime)
		if d < 190*ms || d > 240*ms {
			t.Fatalf("frames %d,%d are %v apart, want ~200ms", i-1, i, d)
		}
	}
}
