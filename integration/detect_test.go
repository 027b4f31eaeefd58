//go:build integration

package integration

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"gocv.io/x/gocv"

	"github.com/corb-dev/corb/connectors/video"
	"github.com/corb-dev/corb/integration/kafkatest"
	"github.com/corb-dev/corb/operators/detect"
	"github.com/corb-dev/corb/operators/detect/detecttest"
	"github.com/corb-dev/corb/operators/runtime"
	"github.com/corb-dev/corb/schemas"
)

// The detect tests run the real person detector (NanoDet-g on ONNX Runtime)
// over the frames of vtest.avi (768×576, 795 frames of pedestrians), on the
// real broker. They need the model, the ONNX Runtime library and the media in
// the cache (make model; deploy/ort/fetch.sh; deploy/media/fetch.sh) and take
// minutes: run them with a long -timeout, e.g.
//
//	go test -tags integration -timeout 30m -run Detect ./integration/

const detectTopology = `namespace: %s
topics:
  - name: frames
    partitions: %d
    schema: corb.Frame
  - name: detections
    partitions: %d
    schema: corb.Detections
  - name: frames-dlq
    schema: bytes
operators:
  - name: detect
    kind: detect
    inputs: [frames]
    outputs: [detections]
    on_failure: frames-dlq
    replicas: 2
    config:
      max_batch: 4
      threads: 2
`

// detectCameras is how many cameras the video's frames are dealt to: camera k
// owns partition k of frames, so replicas share the work evenly.
const detectCameras = 4

// needDetector skips (fails under CI=true) unless the model, the ONNX Runtime
// library and vtest.avi are cached, and returns the path of vtest.avi.
func needDetector(t testing.TB) string {
	t.Helper()
	if _, err := detect.LibraryPath(""); err != nil {
		detecttest.NeedFile(t, detect.DefaultLibraryPath(), "deploy/ort/fetch.sh (or set CORB_ORT_LIB)")
	}
	detecttest.NeedFile(t, detect.DefaultModelPath(), "make model (deploy/model/fetch.sh)")
	return detecttest.NeedFile(t, filepath.Join(detect.CacheDir(), "media", "vtest.avi"), "deploy/media/fetch.sh")
}

// videoFrames decodes the first n frames of a video (all with n ≤ 0) with
// FFmpeg and returns them as JPEG corb.Frame records (at corb ingest's default
// quality), 10 fps from base, dealt round-robin to detectCameras cameras. Seq
// is the frame's index in the video.
func videoFrames(t testing.TB, path string, n int, base time.Time) []*schemas.Frame {
	return videoFramesWidth(t, path, n, base, 0)
}

// videoFramesWidth is videoFrames with frames wider than width shrunk to it
// (keeping the aspect), as `corb ingest --max-width` sends them; 0 keeps the size.
func videoFramesWidth(t testing.TB, path string, n int, base time.Time, width int) []*schemas.Frame {
	t.Helper()
	var frames []*schemas.Frame
	detecttest.VideoFrames(t, path, n, func(i int, m gocv.Mat) {
		if width > 0 && m.Cols() > width {
			gocv.Resize(m, &m, image.Pt(width, m.Rows()*width/m.Cols()), 0, 0, gocv.InterpolationArea)
		}
		buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, m, []int{gocv.IMWriteJpegQuality, video.DefaultQuality})
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, &schemas.Frame{
			CameraID: fmt.Sprintf("vtest-%d", i%detectCameras), Source: path, Seq: int64(i),
			CaptureTime: base.Add(time.Duration(i) * 100 * time.Millisecond),
			Width:       int32(m.Cols()), Height: int32(m.Rows()), Encoding: schemas.EncodingJPEG,
			Image: append([]byte(nil), buf.GetBytes()...),
		})
		buf.Close()
	})
	if len(frames) == 0 {
		t.Fatalf("no frames decoded from %s (is ffmpeg support in OpenCV installed?)", path)
	}
	return frames
}

// frameRecord is f as a record of topic, camera k on partition k.
func frameRecord(t testing.TB, topic string, f *schemas.Frame) *kgo.Record {
	t.Helper()
	v, err := schemas.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	return &kgo.Record{Topic: topic, Partition: int32(f.Seq % detectCameras), Key: []byte(f.CameraID), Value: v}
}

// produceFrames writes frames to topic, camera k to partition k.
func produceFrames(ctx context.Context, t testing.TB, brokers []string, topic string, frames []*schemas.Frame) {
	t.Helper()
	cl := kafkatest.NewClient(t, brokers, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	const chunk = 50
	for start := 0; start < len(frames); start += chunk {
		var recs []*kgo.Record
		for _, f := range frames[start:min(start+chunk, len(frames))] {
			recs = append(recs, frameRecord(t, topic, f))
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatalf("produce frames: %v", err)
		}
	}
}

// detectEnv is one isolated detect pipeline on the real broker.
type detectEnv struct {
	t        *testing.T
	brokers  []string
	ns       string
	topology string
}

func newDetectEnv(t *testing.T) *detectEnv {
	brokers := kafkatest.Brokers(t)
	ns := kafkatest.Unique(t, "detect")
	file := filepath.Join(t.TempDir(), "topology.yaml")
	if err := os.WriteFile(file, []byte(fmt.Sprintf(detectTopology, ns, detectCameras, detectCameras)), 0o644); err != nil {
		t.Fatal(err)
	}
	kafkatest.CreateTopic(t, brokers, ns+".frames", detectCameras, nil)
	kafkatest.CreateTopic(t, brokers, ns+".detections", detectCameras, nil)
	kafkatest.CreateTopic(t, brokers, ns+".frames-dlq", 1, nil)
	return &detectEnv{t: t, brokers: brokers, ns: ns, topology: file}
}

// run starts one replica of the detect operator.
func (e *detectEnv) run(instance string) *proc {
	return startCorb(e.t, "detect/"+instance, "run", "--topology", e.topology, "--brokers", e.brokers[0],
		"--instance", instance, "--admin-addr", "127.0.0.1:0", "--max-batch", "8", "--shutdown-timeout", "20s", "detect")
}

// collect reads topic read_committed until it holds want records, failing
// early when a process exits, then keeps reading a few seconds more so that a
// duplicate would show.
func (e *detectEnv) collect(topic string, want int, timeout time.Duration, procs ...*proc) []*kgo.Record {
	t := e.t
	t.Helper()
	cl := kafkatest.NewClient(t, e.brokers, kgo.ConsumeTopics(e.ns+"."+topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	deadline := time.Now().Add(timeout)
	var recs []*kgo.Record
	var extra time.Time
	for {
		now := time.Now()
		if len(recs) >= want && extra.IsZero() {
			extra = now.Add(5 * time.Second)
		}
		if (!extra.IsZero() && now.After(extra)) || now.After(deadline) {
			return recs
		}
		for _, p := range procs {
			if err := p.exited(); err != nil {
				t.Fatal(err)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		fetches := cl.PollFetches(ctx)
		cancel()
		for _, fe := range fetches.Errors() {
			if !errors.Is(fe.Err, context.DeadlineExceeded) {
				t.Fatalf("consume %s[%d]: %v", fe.Topic, fe.Partition, fe.Err)
			}
		}
		recs = append(recs, fetches.Records()...)
	}
}

// checkOnePerFrame requires exactly one Detections per frame, matching it.
// It returns how many frames have at least one person.
func checkOnePerFrame(t *testing.T, frames []*schemas.Frame, got []*kgo.Record) int {
	t.Helper()
	bySeq := map[int64]*schemas.Frame{}
	for _, f := range frames {
		bySeq[f.Seq] = f
	}
	seen := map[int64]int{}
	withPeople := 0
	for _, r := range got {
		var d schemas.Detections
		if err := schemas.Unmarshal(r.Value, &d); err != nil {
			t.Fatalf("output at %s[%d]@%d is not corb.Detections: %v", r.Topic, r.Partition, r.Offset, err)
		}
		f, ok := bySeq[d.FrameSeq]
		if !ok {
			t.Fatalf("detections for unknown frame %d", d.FrameSeq)
		}
		seen[d.FrameSeq]++
		if string(r.Key) != f.CameraID || d.CameraID != f.CameraID || (!f.CaptureTime.IsZero() && !d.CaptureTime.Equal(f.CaptureTime)) ||
			d.FrameWidth != f.Width || d.FrameHeight != f.Height || d.Model != "nanodet-g-416" || d.ModelVersion == "" {
			t.Fatalf("detections %+v (key %q) do not match frame %s/%d", d, r.Key, f.CameraID, f.Seq)
		}
		for _, b := range d.Boxes {
			if b.Label != "person" {
				t.Fatalf("frame %d: box %+v is not a person", f.Seq, b)
			}
		}
		if len(d.Boxes) > 0 {
			withPeople++
		}
	}
	var missing, dups []string
	for _, f := range frames {
		switch seen[f.Seq] {
		case 0:
			missing = append(missing, strconv.FormatInt(f.Seq, 10))
		case 1:
		default:
			dups = append(dups, strconv.FormatInt(f.Seq, 10))
		}
	}
	if len(got) != len(frames) || len(missing) > 0 || len(dups) > 0 {
		t.Fatalf("read %d detections for %d frames: %d missing (e.g. %v), %d duplicated (e.g. %v)",
			len(got), len(frames), len(missing), first(missing, 5), len(dups), first(dups, 5))
	}
	return withPeople
}

var adminAddr = regexp.MustCompile(`serving metrics and health.*addr=(http://[0-9.:]+)`)

// adminURL waits for the process to log its admin address.
func (p *proc) adminURL() string {
	p.t.Helper()
	var url string
	kafkatest.WaitFor(p.t, time.Minute, func() (bool, error) {
		if err := p.exited(); err != nil {
			return false, fmt.Errorf("%w: %v", kafkatest.ErrGiveUp, err)
		}
		if m := adminAddr.FindStringSubmatch(p.log.String()); m != nil {
			url = m[1]
			return true, nil
		}
		return false, nil
	})
	return url
}

// metric sums the samples of a metric (all label sets) at a /metrics endpoint.
func metric(t testing.TB, url, name string) float64 {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		fields := strings.Fields(line)
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		sum += v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return sum
}

// ready reports whether the process's /readyz answers 200.
func ready(url string) (bool, error) {
	resp, err := http.Get(url + "/readyz")
	if err != nil {
		return false, nil
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode == http.StatusOK, nil
}

// corruptFrames are inputs the detector must dead-letter: a JPEG that is not
// one, a truncated JPEG, and a record that is not a corb.Frame at all.
func corruptFrames(t testing.TB, good *schemas.Frame) map[string][]byte {
	t.Helper()
	garbage := *good
	garbage.Seq, garbage.Image = 100001, []byte("this is not a JPEG image")
	truncated := *good
	truncated.Seq, truncated.Image = 100002, good.Image[:len(good.Image)/8]
	out := map[string][]byte{"not-avro": []byte("\xc3\x01 not a frame")}
	for name, f := range map[string]*schemas.Frame{"garbage-jpeg": &garbage, "truncated-jpeg": &truncated} {
		v, err := schemas.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = v
	}
	return out
}

func TestDetectVideoExactlyOnePerFrameAndDeadLetters(t *testing.T) {
	video := needDetector(t)
	e := newDetectEnv(t)
	ctx := context.Background()
	// The real ingest connector sends the whole video to the frames topic.
	ingest := startCorb(t, "ingest", "ingest", "--topology", e.topology, "--brokers", e.brokers[0], "--namespace", e.ns, "--camera", "vtest",
		"--start-time", "now", video)
	if err := ingest.wait(5 * time.Minute); err != nil {
		t.Fatalf("corb ingest: %v", err)
	}
	// What it must have sent: every frame, in order, numbered from 0.
	frames := make([]*schemas.Frame, 795)
	for i := range frames {
		frames[i] = &schemas.Frame{CameraID: "vtest", Seq: int64(i), Width: 768, Height: 576}
	}
	// Corrupt records after the video, on partition 0.
	bad := corruptFrames(t, videoFrames(t, video, 1, time.Now())[0])
	cl := kafkatest.NewClient(t, e.brokers, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for name, v := range bad {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: e.ns + ".frames", Partition: 0, Key: []byte(name), Value: v}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	start := time.Now()
	p := e.run("0")
	got := e.collect("detections", len(frames), 15*time.Minute, p)
	elapsed := time.Since(start)
	withPeople := checkOnePerFrame(t, frames, got)
	t.Logf("%d frames detected exactly once in %v (%.2f frames/s, process start included); %d with people",
		len(frames), elapsed.Round(time.Second), float64(len(frames))/elapsed.Seconds(), withPeople)
	// vtest.avi shows pedestrians in nearly every frame.
	if withPeople < len(frames)*3/4 {
		t.Fatalf("only %d of %d frames have a person", withPeople, len(frames))
	}

	dlq := kafkatest.ConsumeAll(t, e.brokers, e.ns+".frames-dlq", len(bad)+1, 10*time.Second, true)
	if len(dlq) != len(bad) {
		t.Fatalf("dead-letter topic holds %d records, want %d", len(dlq), len(bad))
	}
	for _, r := range dlq {
		want, ok := bad[string(r.Key)]
		if !ok || string(r.Value) != string(want) {
			t.Fatalf("dead letter %q does not keep a corrupt input's bytes", r.Key)
		}
		reason, _ := runtime.Header(r, runtime.HeaderReason)
		why, _ := runtime.Header(r, runtime.HeaderError)
		if reason != "permanent" || !(strings.Contains(why, "not a corb.Frame") || strings.Contains(why, "undecodable frame")) {
			t.Fatalf("dead letter %q: reason %q, error %q", r.Key, reason, why)
		}
	}
	p.stop(30 * time.Second)
}

func TestDetectTwoReplicasShareFrames(t *testing.T) {
	video := needDetector(t)
	e := newDetectEnv(t)
	// A subset keeps CI time sane: two replicas on two shared cores are no faster than one.
	frames := videoFrames(t, video, 200, time.Now().Truncate(time.Millisecond))
	a, b := e.run("0"), e.run("1")
	urls := []string{a.adminURL(), b.adminURL()}
	kafkatest.WaitFor(t, 2*time.Minute, func() (bool, error) {
		for _, p := range []*proc{a, b} {
			if err := p.exited(); err != nil {
				return false, fmt.Errorf("%w: %v", kafkatest.ErrGiveUp, err)
			}
		}
		for _, u := range urls {
			if ok, _ := ready(u); !ok {
				return false, nil
			}
		}
		// Both joined; wait until the group settled with every partition assigned.
		return metric(t, urls[0], "corb_assigned_partitions")+metric(t, urls[1], "corb_assigned_partitions") == detectCameras, nil
	})
	produceFrames(context.Background(), t, e.brokers, e.ns+".frames", frames)
	got := e.collect("detections", len(frames), 10*time.Minute, a, b)
	checkOnePerFrame(t, frames, got)
	var total float64
	for i, u := range urls {
		parts := metric(t, u, "corb_assigned_partitions")
		in := metric(t, u, "corb_records_in_total")
		batches := metric(t, u, "corb_detect_batch_size_count")
		t.Logf("replica %d: %v partitions, %v records in, %v detect batches", i, parts, in, batches)
		if parts == 0 || in == 0 || batches == 0 {
			t.Fatalf("replica %d did no work: %v partitions, %v records in, %v detect batches", i, parts, in, batches)
		}
		total += in
	}
	if total < float64(len(frames)) {
		t.Fatalf("replicas consumed %v records in all, want at least %d", total, len(frames))
	}
	a.stop(30 * time.Second)
	b.stop(30 * time.Second)
}
