package video

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/corb-dev/corb/schemas"
)

// gateSink blocks every Send until open is closed: a sink whose broker is away.
type gateSink struct {
	memSink
	open chan struct{}
}

func (s *gateSink) Send(ctx context.Context, f *schemas.Frame) error {
	select {
	case <-s.open:
	case <-ctx.Done():
		return ctx.Err()
	}
	return s.memSink.Send(ctx, f)
}

func frame(seq int64) *schemas.Frame {
	return &schemas.Frame{CameraID: "c", Source: "s", Seq: seq, Encoding: schemas.EncodingJPEG, Image: []byte{byte(seq)}}
}

func TestShedderDropsTheOldestWhileTheSinkBlocks(t *testing.T) {
	sink := &gateSink{open: make(chan struct{})}
	var mu sync.Mutex
	var shed []int64
	s := newShedder(sink, 10, func(f *schemas.Frame) { mu.Lock(); shed = append(shed, f.Seq); mu.Unlock() }, nil)
	ctx := context.Background()
	if err := s.Send(ctx, frame(0)); err != nil {
		t.Fatal(err)
	}
	waitBusy(t, s) // the pump holds frame 0, blocked in the sink
	start := time.Now()
	for i := int64(1); i <= 50; i++ {
		if err := s.Send(ctx, frame(i)); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("50 sends took %v while the sink blocked: Send must not block", d)
	}
	close(sink.open)
	if err := s.close(ctx); err != nil {
		t.Fatal(err)
	}
	var got []int64
	for _, f := range sink.frames {
		got = append(got, f.Seq)
	}
	want := []int64{0, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50} // the one in flight, then the newest ten
	if len(got) != len(want) {
		t.Fatalf("sink got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("sink got %v, want %v", got, want)
		}
	}
	if s.shed.Load() != 40 || len(shed) != 40 || shed[0] != 1 || shed[39] != 40 {
		t.Fatalf("shed %d frames (%v), want 1..40", s.shed.Load(), shed)
	}
}

func waitBusy(t *testing.T, s *shedder) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.mu.Lock()
		busy := s.busy
		s.mu.Unlock()
		if busy {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the pump never took a frame")
		}
		time.Sleep(time.Millisecond)
	}
}

// A live camera whose sink blocks is read on: its oldest frames are shed
// and counted; a file's frames wait for the sink, and none is lost.
func TestBlockedSinkShedsLiveFramesAndHoldsFileFrames(t *testing.T) {
	t.Run("live", func(t *testing.T) {
		clock := newFakeClock()
		opener := &fakeOpener{results: []openResult{{capt: &fakeCapture{pos: msList(200, 0), end: io.EOF, clock: clock, step: 100 * ms}}}}
		reg := prometheus.NewRegistry()
		m, err := NewMetrics(reg)
		if err != nil {
			t.Fatal(err)
		}
		in := &Ingester{Logger: quiet(), Opener: opener, Clock: clock, Metrics: m, LiveBuffer: 16, Limit: 200, FlushTimeout: time.Second}
		sink := &gateSink{open: make(chan struct{})}
		done := make(chan Stats, 1)
		go func() {
			st, _ := in.Ingest(context.Background(), Source{Kind: KindDevice, Location: "/dev/video0"}, CameraConfig{CameraID: "c"}, sink)
			done <- st
		}()
		var st Stats
		select {
		case st = <-done: // every frame read although the sink took none: the source never blocked
		case <-time.After(10 * time.Second):
			t.Fatal("the live source blocked on the sink")
		}
		close(sink.open)
		if st.FramesRead != 200 || st.FramesShed < 200-16-1 {
			t.Fatalf("read %d, shed %d; want 200 read and all but the last %d (and the one in flight) shed", st.FramesRead, st.FramesShed, 16)
		}
		if got := testutil.ToFloat64(m.frames.WithLabelValues("c", "shed")); got != float64(st.FramesShed) {
			t.Fatalf("shed metric %v, Stats %d", got, st.FramesShed)
		}
	})
	t.Run("file", func(t *testing.T) {
		opener := &fakeOpener{results: []openResult{{capt: &fakeCapture{pos: msList(100, 40), end: io.EOF, width: 4, height: 2},
			info: CaptureInfo{FPS: 25}}}}
		in := &Ingester{Logger: quiet(), Opener: opener}
		sink := &gateSink{open: make(chan struct{})}
		path := filepath.Join(t.TempDir(), "a.mp4")
		if err := os.WriteFile(path, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		done := make(chan Stats, 1)
		go func() {
			st, err := in.Ingest(context.Background(), Source{Kind: KindFile, Location: path, Device: -1}, CameraConfig{CameraID: "c"}, sink)
			if err != nil {
				t.Error(err)
			}
			done <- st
		}()
		select {
		case <-done:
			t.Fatal("the file ingest finished while its sink took nothing")
		case <-time.After(300 * time.Millisecond): // blocked on the sink, as it should be
		}
		close(sink.open)
		st := <-done
		if st.FramesShed != 0 || len(sink.frames) != 100 {
			t.Fatalf("sink got %d of 100 frames, %d shed", len(sink.frames), st.FramesShed)
		}
		for i, f := range sink.frames {
			if f.Seq != int64(i) {
				t.Fatalf("frame %d has seq %d", i, f.Seq)
			}
		}
	})
}

// The Kafka sink rides out a broker restart: a file's frames sent while the
// broker is away wait in the producer (Send blocks beyond MaxBuffered) and
// are all delivered, once and in order, when it is back.
func TestKafkaSinkRidesOutABrokerRestart(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir := t.TempDir()
	start := func(extra ...kfake.Opt) *kfake.Cluster {
		t.Helper()
		var c *kfake.Cluster
		var err error
		for range 50 {
			if c, err = kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1), kfake.Ports(port), kfake.DataDir(dir)}, extra...)...); err == nil {
				return c
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatal(err)
		return nil
	}
	c := start(kfake.SeedTopics(1, "frames"))
	defer func() { c.Close() }()
	brokers := c.ListenAddrs()
	sink, err := NewKafkaSink(KafkaSinkConfig{Brokers: brokers, Topic: "frames", MaxBuffered: 8})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	defer sink.Close(ctx)
	const n = 60
	sent := make(chan error, 1)
	go func() {
		for i := range int64(n) {
			if err := sink.Send(ctx, frame(i)); err != nil {
				sent <- err
				return
			}
			if i == 20 {
				c.Close() // the broker goes away mid-file
				go func() {
					time.Sleep(2 * time.Second)
					c = start()
				}()
			}
		}
		sent <- sink.Flush(ctx)
	}()
	if err := <-sent; err != nil {
		t.Fatalf("the sink gave up while the broker was away: %v", err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics("frames"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var seqs []string
	for len(seqs) < n && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			var f schemas.Frame
			if err := schemas.Unmarshal(r.Value, &f); err != nil {
				t.Fatal(err)
			}
			seqs = append(seqs, strconv.FormatInt(f.Seq, 10))
		})
	}
	for i := range n {
		if i >= len(seqs) || seqs[i] != strconv.Itoa(i) {
			t.Fatalf("frames topic holds seqs %v, want 0..%d once, in order", seqs, n-1)
		}
	}
}
