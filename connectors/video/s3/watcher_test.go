package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/corb-dev/corb/connectors/video"
	"github.com/corb-dev/corb/schemas"
)

// memStore is an object store in memory; an object's body is
// "frames:N" (a video of N frames for clipOpener) or anything else (not a video).
type memStore struct {
	mu      sync.Mutex
	objects map[string]memObject // by key
	gets    int
}

type memObject struct {
	body string
	etag string
	mod  time.Time
}

func (s *memStore) put(key, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.objects == nil {
		s.objects = map[string]memObject{}
	}
	s.objects[key] = memObject{body: body, etag: fmt.Sprintf("etag-%d-%s", len(body), body), mod: time.Date(2026, 2, 1, 9, 0, 0, 0, time.UTC)}
}

func (s *memStore) info(key string, o memObject) ObjectInfo {
	return ObjectInfo{Key: key, ETag: o.etag, Size: int64(len(o.body)), LastModified: o.mod}
}

func (s *memStore) List(ctx context.Context, bucket, prefix string, fn func(ObjectInfo) error) error {
	s.mu.Lock()
	var infos []ObjectInfo
	for k, o := range s.objects {
		if strings.HasPrefix(k, prefix) {
			infos = append(infos, s.info(k, o))
		}
	}
	s.mu.Unlock()
	sort.Slice(infos, func(i, j int) bool { return infos[i].Key < infos[j].Key })
	for _, o := range infos {
		if err := fn(o); err != nil {
			return err
		}
	}
	return nil
}

func (s *memStore) Stat(ctx context.Context, bucket, key string) (ObjectInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.objects[key]
	if !ok {
		return ObjectInfo{}, fmt.Errorf("stat %s: %w", key, ErrNotFound)
	}
	return s.info(key, o), nil
}

func (s *memStore) Download(ctx context.Context, bucket, key, etag string, w io.Writer) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gets++
	o, ok := s.objects[key]
	switch {
	case !ok:
		return ErrNotFound
	case o.etag != etag:
		return ErrChanged
	}
	_, err := io.WriteString(w, o.body)
	return err
}

// topic is the frames topic in memory: frames in offset order.
type topic struct {
	mu     sync.Mutex
	frames []*schemas.Frame
}

func (t *topic) Mark(context.Context) (map[int32]int64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return map[int32]int64{0: int64(len(t.frames))}, nil
}

func (t *topic) LastSeq(_ context.Context, mark map[int32]int64, camera, source string) (int64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	last := int64(-1)
	for _, f := range t.frames[mark[0]:] {
		if f.CameraID == camera && f.Source == source && f.Seq > last {
			last = f.Seq
		}
	}
	return last, nil
}

// sink delivers to the topic at once; after killAfter frames (when > 0) it
// fails, as a process killed there sends nothing more.
type sink struct {
	t         *topic
	sent      int
	killAfter int
}

var errKilled = errors.New("killed")

func (s *sink) Send(_ context.Context, f *schemas.Frame) error {
	if s.killAfter > 0 && s.sent >= s.killAfter {
		return errKilled
	}
	s.sent++
	s.t.mu.Lock()
	s.t.frames = append(s.t.frames, f)
	s.t.mu.Unlock()
	return nil
}

func (s *sink) Flush(context.Context) error { return nil }

// clipOpener decodes the downloaded "frames:N" files: N frames, 100 ms apart.
type clipOpener struct{}

func (clipOpener) Open(_ context.Context, src video.Source) (video.Capture, video.CaptureInfo, error) {
	b, err := os.ReadFile(src.Location)
	if err != nil {
		return nil, video.CaptureInfo{}, err
	}
	var n int
	if _, err := fmt.Sscanf(string(b), "frames:%d", &n); err != nil {
		return nil, video.CaptureInfo{}, fmt.Errorf("invalid data found when processing input")
	}
	return &clip{n: n}, video.CaptureInfo{FrameCount: int64(n), FPS: 10}, nil
}

type clip struct{ i, n int }

func (c *clip) Read() (time.Duration, error) {
	if c.i >= c.n {
		return 0, io.EOF
	}
	c.i++
	return time.Duration(c.i-1) * 100 * time.Millisecond, nil
}

func (c *clip) Encode(int, int) (video.Image, error) {
	return video.Image{Data: []byte{byte(c.i)}, Width: 4, Height: 3}, nil
}

func (c *clip) Close() error { return nil }

// stopAfter is a clock whose n-th sleep cancels the watch.
type stopAfter struct {
	video.SystemClock
	n      int
	cancel context.CancelFunc
}

func (c *stopAfter) Sleep(ctx context.Context, d time.Duration) error {
	if c.n--; c.n <= 0 {
		c.cancel()
	}
	return ctx.Err()
}

// exactlyOnce checks that the topic holds every frame of every object once:
// seq 0..frames-1 of camera and source, no more, no less.
func exactlyOnce(t *testing.T, tp *topic, want map[string]int) {
	t.Helper()
	seen := map[string]map[int64]int{}
	for _, f := range tp.frames {
		id := f.CameraID + " " + f.Source
		if seen[id] == nil {
			seen[id] = map[int64]int{}
		}
		seen[id][f.Seq]++
	}
	for id, n := range want {
		for s := int64(0); s < int64(n); s++ {
			if seen[id][s] != 1 {
				t.Errorf("%s seq %d sent %d times, want once", id, s, seen[id][s])
			}
		}
		if len(seen[id]) != n {
			t.Errorf("%s: %d distinct seqs, want %d", id, len(seen[id]), n)
		}
	}
	for id := range seen {
		if _, ok := want[id]; !ok {
			t.Errorf("unexpected frames of %s", id)
		}
	}
}

func newWatcher(store Store, tp *topic, stateDir string) *Watcher {
	rules, _ := video.ParseSuffixRules(".mkv,.avi,.mp4")
	quiet := slog.New(slog.DiscardHandler)
	return &Watcher{Store: store, Location: Location{Bucket: "uploads", Prefix: "cams/"}, Endpoint: "mem", Topic: "frames",
		Suffixes: rules, Ingester: &video.Ingester{Opener: clipOpener{}, Logger: quiet},
		StateDir: stateDir, Frames: tp, Checkpoint: 4, Logger: quiet}
}

// watch runs one watcher until its n-th listing is done (or it fails).
func watch(t *testing.T, w *Watcher, s video.Sink, lists int) (video.Stats, error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w.Clock = &stopAfter{n: lists, cancel: cancel}
	st, err := w.Watch(ctx, s)
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return st, err
}

func TestWatchListing(t *testing.T) {
	store, tp, dir := &memStore{}, &topic{}, t.TempDir()
	store.put("cams/lot-a/vtest.avi", "frames:10")
	store.put("cams/lot-b/vtest.mkv", "frames:7")
	store.put("cams/lot-b/notes.txt", "frames:3")  // not a video suffix
	store.put("other/lot-c/vtest.mkv", "frames:3") // outside the prefix
	store.put("cams/lot-d/broken.mp4", "garbage")  // not a video: recorded, not retried
	w := newWatcher(store, tp, dir)
	st, err := watch(t, w, &sink{t: tp}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if st.FilesIngested != 2 || st.FilesFailed != 1 || st.FramesSent != 17 {
		t.Errorf("stats %+v: want 2 objects, 1 failed, 17 frames", st)
	}
	// An upload while it watches, and a second listing that finds the old ones done.
	store.put("cams/lot-a/second.mp4", "frames:5")
	getsBefore := store.gets
	st, err = watch(t, newWatcher(store, tp, dir), &sink{t: tp}, 2)
	if err != nil {
		t.Fatal(err)
	}
	if st.FilesIngested != 1 || st.FilesFailed != 0 || store.gets-getsBefore != 1 {
		t.Errorf("restart: stats %+v, %d downloads; want only the new upload", st, store.gets-getsBefore)
	}
	exactlyOnce(t, tp, map[string]int{
		"lot-a s3://uploads/cams/lot-a/vtest.avi":  10,
		"lot-b s3://uploads/cams/lot-b/vtest.mkv":  7,
		"lot-a s3://uploads/cams/lot-a/second.mp4": 5,
	})
	// Capture times come from the object, not from the download.
	want := time.Date(2026, 2, 1, 9, 0, 0, 300_000_000, time.UTC)
	for _, f := range tp.frames {
		if f.Source == "s3://uploads/cams/lot-a/vtest.avi" && f.Seq == 3 && !f.CaptureTime.Equal(want) {
			t.Errorf("seq 3 captured at %v, want %v", f.CaptureTime, want)
		}
	}
}

// A watcher killed mid-object (after frames it sent past its last
// checkpoint) resumes at the next frame: every frame once, none skipped,
// whatever the moment of the kill.
func TestWatchResumesAfterAKill(t *testing.T) {
	for _, kill := range []int{1, 3, 4, 5, 11, 16} { // checkpoints every 4 frames: before, at and after them, and in the second object
		t.Run(fmt.Sprintf("killed after %d frames", kill), func(t *testing.T) {
			store, tp, dir := &memStore{}, &topic{}, t.TempDir()
			store.put("cams/lot-a/vtest.avi", "frames:10")
			store.put("cams/lot-b/vtest.mkv", "frames:7")
			_, err := watch(t, newWatcher(store, tp, dir), &sink{t: tp, killAfter: kill}, 1)
			if !errors.Is(err, errKilled) {
				t.Fatalf("first run: %v, want it killed", err)
			}
			st, err := watch(t, newWatcher(store, tp, dir), &sink{t: tp}, 1)
			if err != nil {
				t.Fatal(err)
			}
			if st.FramesSent != int64(17-kill) {
				t.Errorf("the restart sent %d frames, want %d", st.FramesSent, 17-kill)
			}
			exactlyOnce(t, tp, map[string]int{
				"lot-a s3://uploads/cams/lot-a/vtest.avi": 10,
				"lot-b s3://uploads/cams/lot-b/vtest.mkv": 7,
			})
			s, err := LoadState(newWatcher(store, tp, dir).StatePath(), "mem", Location{Bucket: "uploads", Prefix: "cams/"}, "frames")
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range s.Objects {
				if o.Status != Done || o.Frames != map[string]int64{"cams/lot-a/vtest.avi": 10, "cams/lot-b/vtest.mkv": 7}[o.Key] {
					t.Errorf("state %+v: want done with all its frames", o)
				}
			}
		})
	}
}

// An object replaced while half ingested: the old version is recorded as
// failed (its other frames no longer exist), the new one is ingested whole.
func TestWatchObjectReplacedMidway(t *testing.T) {
	store, tp, dir := &memStore{}, &topic{}, t.TempDir()
	store.put("cams/lot-a/vtest.avi", "frames:10")
	if _, err := watch(t, newWatcher(store, tp, dir), &sink{t: tp, killAfter: 5}, 1); !errors.Is(err, errKilled) {
		t.Fatalf("first run: %v", err)
	}
	store.put("cams/lot-a/vtest.avi", "frames:6")
	st, err := watch(t, newWatcher(store, tp, dir), &sink{t: tp}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if st.FilesFailed != 1 || st.FilesIngested != 1 || st.FramesSent != 6 {
		t.Errorf("stats %+v: want the old version failed, the new one's 6 frames sent", st)
	}
}

// events is a scripted EventSource.
type events struct {
	batches [][]ObjectEvent
	commits int
	cancel  context.CancelFunc
}

func (e *events) Next(ctx context.Context) ([]ObjectEvent, error) {
	if len(e.batches) == 0 {
		e.cancel()
		return nil, ctx.Err()
	}
	b := e.batches[0]
	e.batches = e.batches[1:]
	return b, nil
}

func (e *events) Commit(context.Context) error { e.commits++; return nil }

func TestWatchEvents(t *testing.T) {
	store, tp, dir := &memStore{}, &topic{}, t.TempDir()
	store.put("cams/lot-a/vtest.avi", "frames:10")
	store.put("cams/lot-b/vtest.mkv", "frames:7")
	store.put("cams/lot-c/never-announced.mkv", "frames:3") // no event: not ingested in this mode
	created := func(bucket, key string) ObjectEvent {
		return ObjectEvent{Name: "s3:ObjectCreated:Put", Bucket: bucket, Key: key}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ev := &events{cancel: cancel, batches: [][]ObjectEvent{
		{created("uploads", "cams/lot-a/vtest.avi"), created("other", "cams/lot-a/vtest.avi")},
		{},
		{created("uploads", "cams/lot-a/vtest.avi"), created("uploads", "cams/lot-b/vtest.mkv"), // a repeat, delivered at least once
			created("uploads", "cams/lot-b/deleted.mkv"), created("uploads", "cams/lot-b/readme.txt")},
	}}
	w := newWatcher(store, tp, dir)
	w.Events = ev
	st, err := w.Watch(ctx, &sink{t: tp})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Watch: %v, want canceled", err)
	}
	if ev.commits != 3 || st.FilesIngested != 2 || store.gets != 2 {
		t.Errorf("%d commits, stats %+v, %d downloads; want 3 commits, 2 objects downloaded once", ev.commits, st, store.gets)
	}
	exactlyOnce(t, tp, map[string]int{
		"lot-a s3://uploads/cams/lot-a/vtest.avi": 10,
		"lot-b s3://uploads/cams/lot-b/vtest.mkv": 7,
	})
}

func TestIngestAll(t *testing.T) {
	store, tp := &memStore{}, &topic{}
	store.put("cams/lot-a/vtest.avi", "frames:10")
	store.put("cams/vtest.mkv", "frames:7") // no folder: the base name
	store.put("cams/lot-d/broken.mp4", "garbage")
	w := newWatcher(store, tp, "")
	w.Frames = nil // no state, no frames log: one pass
	st, err := w.IngestAll(context.Background(), &sink{t: tp})
	if err != nil {
		t.Fatal(err)
	}
	if st.FilesIngested != 2 || st.FilesFailed != 1 {
		t.Errorf("stats %+v: want 2 ingested, 1 failed", st)
	}
	exactlyOnce(t, tp, map[string]int{
		"lot-a s3://uploads/cams/lot-a/vtest.avi": 10,
		"vtest s3://uploads/cams/vtest.mkv":       7,
	})
	if _, err := w.Watch(context.Background(), &sink{t: tp}); !errors.Is(err, ErrConfig) {
		t.Errorf("Watch without a state dir: %v, want ErrConfig", err)
	}
}
