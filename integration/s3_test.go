//go:build integration

package integration

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/notification"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/corb-dev/corb/connectors/video/s3"
	"github.com/corb-dev/corb/integration/kafkatest"
	"github.com/corb-dev/corb/operators/detect"
	"github.com/corb-dev/corb/operators/detect/detecttest"
	"github.com/corb-dev/corb/schemas"
)

// vtestAllFrames is what OpenCV decodes from vtest.avi (and from its remux to Matroska).
const vtestAllFrames = 795

const (
	minioUser     = "corb-test"
	minioPassword = "corb-test-secret"
)

// minioBinary is the MinIO server deploy/minio/fetch.sh builds from the Go
// module proxy (pinned there) into the cache. Built already: used at once. Not
// built: under CI it is built now (about 5 minutes, with progress), elsewhere
// the test is skipped with the command that builds it.
func minioBinary(t *testing.T) string {
	t.Helper()
	script := filepath.Join("..", "deploy", "minio", "fetch.sh")
	if os.Getenv("CI") != "true" {
		check := exec.Command("bash", "-c", `grep -m1 '^version=' "$0" | cut -d= -f2`, script)
		out, err := check.Output()
		if err != nil {
			t.Fatalf("reading the MinIO version from %s: %v", script, err)
		}
		bin := filepath.Join(detect.CacheDir(), "minio", strings.TrimSpace(string(out)), "minio")
		if _, err := os.Stat(bin); err != nil {
			t.Skipf("MinIO is not built (%s): run deploy/setup.sh minio (about 5 minutes, once)", bin)
		}
	}
	cmd := exec.Command("bash", script)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	for sc.Scan() { // the build's progress, as it happens
		fmt.Fprintln(os.Stderr, sc.Text())
		t.Log(sc.Text())
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%s: %v", script, err)
	}
	return strings.TrimSpace(stdout.String())
}

// minioServer is a MinIO server of one test, on a free loopback port, with
// its data in a temporary directory.
type minioServer struct {
	endpoint string // http://127.0.0.1:PORT
	client   *minio.Client
}

func startMinio(t *testing.T, env ...string) *minioServer {
	t.Helper()
	bin := minioBinary(t)
	addr := e2eFreeAddr(t)
	cmd := exec.Command(bin, "server", t.TempDir(), "--address", addr, "--console-address", e2eFreeAddr(t), "--quiet")
	cmd.Env = append(os.Environ(), append([]string{"MINIO_ROOT_USER=" + minioUser, "MINIO_ROOT_PASSWORD=" + minioPassword,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off"}, env...)...)
	log := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start minio: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("--- minio output ---\n%s", tail(log.String(), 40))
		}
	})
	s := &minioServer{endpoint: "http://" + addr}
	kafkatest.WaitFor(t, time.Minute, func() (bool, error) {
		select {
		case err := <-done:
			done <- err
			return false, fmt.Errorf("%w: minio exited: %v\n%s", kafkatest.ErrGiveUp, err, tail(log.String(), 20))
		default:
		}
		resp, err := http.Get(s.endpoint + "/minio/health/live")
		if err != nil {
			return false, err
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
	c, err := minio.New(addr, &minio.Options{Creds: credentials.NewStaticV4(minioUser, minioPassword, "")})
	if err != nil {
		t.Fatal(err)
	}
	s.client = c
	return s
}

// useStore points corb's AWS settings at the server, as a user would.
func (s *minioServer) useStore(t *testing.T) {
	t.Setenv("HOME", t.TempDir()) // no shared files but the test's
	t.Setenv("AWS_ACCESS_KEY_ID", minioUser)
	t.Setenv("AWS_SECRET_ACCESS_KEY", minioPassword)
	t.Setenv("AWS_ENDPOINT_URL_S3", s.endpoint)
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_PROFILE", "")
}

func (s *minioServer) upload(t *testing.T, bucket, key, file string) minio.UploadInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	info, err := s.client.FPutObject(ctx, bucket, key, file, minio.PutObjectOptions{})
	if err != nil {
		t.Fatalf("upload %s to %s/%s: %v", file, bucket, key, err)
	}
	return info
}

func (s *minioServer) makeBucket(t *testing.T, bucket string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.client.MakeBucket(ctx, bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
}

// sampleVideos are vtest.avi and the same video remuxed into Matroska
// (ffmpeg -c copy: MS-MPEG4v3 fits Matroska as it is), made once into the
// media cache.
func sampleVideos(t *testing.T) (avi, mkv string) {
	t.Helper()
	media := filepath.Join(detect.CacheDir(), "media")
	avi = detecttest.NeedFile(t, filepath.Join(media, "vtest.avi"), "deploy/media/fetch.sh")
	mkv = filepath.Join(media, "vtest.mkv")
	if _, err := os.Stat(mkv); err == nil {
		return avi, mkv
	}
	part := fmt.Sprintf("%s.%d.part.mkv", mkv, os.Getpid())
	out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-y", "-i", avi, "-c", "copy", part).CombinedOutput()
	if err != nil {
		os.Remove(part)
		t.Fatalf("ffmpeg -c copy vtest.avi → mkv: %v\n%s", err, out)
	}
	if err := os.Rename(part, mkv); err != nil {
		t.Fatal(err)
	}
	return avi, mkv
}

// frameLog follows a frames topic and counts every frame by camera, source and seq.
type frameLog struct {
	mu     sync.Mutex
	seen   map[string]map[int64]int // "camera source" → seq → times
	total  int
	errs   []error
	cancel context.CancelFunc
	done   chan struct{}
}

func followFrames(t *testing.T, brokers []string, topic string) *frameLog {
	t.Helper()
	cl := kafkatest.NewClient(t, brokers, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithCancel(context.Background())
	l := &frameLog{seen: map[string]map[int64]int{}, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			l.mu.Lock()
			fs.EachRecord(func(r *kgo.Record) {
				var f schemas.Frame
				if err := schemas.Unmarshal(r.Value, &f); err != nil || string(r.Key) != f.CameraID {
					l.errs = append(l.errs, fmt.Errorf("%d/%d: key %q, %v", r.Partition, r.Offset, r.Key, err))
					return
				}
				id := f.CameraID + " " + f.Source
				if l.seen[id] == nil {
					l.seen[id] = map[int64]int{}
				}
				l.seen[id][f.Seq]++
				l.total++
			})
			l.mu.Unlock()
		}
	}()
	t.Cleanup(func() { cancel(); <-l.done })
	return l
}

func (l *frameLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

// complete reports whether every object has all its frames (want: "camera
// source" → frames), duplicates or not.
func (l *frameLog) complete(want map[string]int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for id, n := range want {
		if len(l.seen[id]) < n {
			return false
		}
	}
	return true
}

// exactlyOnce fails the test unless the topic holds frames 0..n-1 of each
// object once, and nothing else.
func (l *frameLog) exactlyOnce(t *testing.T, want map[string]int) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, err := range l.errs {
		t.Errorf("a record that is not a frame keyed by its camera: %v", err)
	}
	total := 0
	for id, n := range want {
		var dups, missing []int64
		for s := int64(0); s < int64(n); s++ {
			switch c := l.seen[id][s]; {
			case c == 0:
				missing = append(missing, s)
			case c > 1:
				dups = append(dups, s)
			}
		}
		if len(dups)+len(missing) > 0 || len(l.seen[id]) != n {
			t.Errorf("%s: %d distinct seqs, want %d; sent more than once: %v; missing: %v", id, len(l.seen[id]), n, head(dups), head(missing))
		}
		total += n
	}
	var other []string
	for id := range l.seen {
		if _, ok := want[id]; !ok {
			other = append(other, id)
		}
	}
	sort.Strings(other)
	if len(other) > 0 || l.total != total {
		t.Errorf("%d frames on the topic, want %d; frames of other objects: %v", l.total, total, other)
	}
}

func head(s []int64) []int64 {
	if len(s) > 10 {
		return s[:10]
	}
	return s
}

// s3Namespace applies a topology with a frames topic for one test and
// returns its topology file and the frames topic's Kafka name.
func s3Namespace(t *testing.T, brokers []string) (file, framesTopic string) {
	t.Helper()
	ns := kafkatest.Unique(t, "s3")
	file = filepath.Join(t.TempDir(), "topology.yaml")
	if err := os.WriteFile(file, []byte(fmt.Sprintf(cliTopology, ns)), 0o644); err != nil {
		t.Fatal(err)
	}
	applyTopology(t, brokers, file, "")
	return file, ns + ".frames"
}

// Uploading vtest.avi and vtest.mkv to a real S3-compatible server (MinIO)
// gives exactly one frames run per object, with the watcher SIGKILLed in the
// middle of each object and restarted: every seq of every object once, none
// skipped, and nothing more once both are done.
func TestS3WatchListingExactlyOnceAcrossKills(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	avi, mkv := sampleVideos(t)
	srv := startMinio(t)
	srv.useStore(t)
	file, framesTopic := s3Namespace(t, brokers)
	srv.makeBucket(t, "uploads")
	srv.upload(t, "uploads", "cams/lot-a/vtest.avi", avi)
	srv.upload(t, "uploads", "cams/lot-b/vtest.mkv", mkv)
	srv.upload(t, "uploads", "cams/lot-b/notes.txt", file) // not a video suffix
	srv.upload(t, "uploads", "other/lot-c/vtest.mkv", mkv) // outside the prefix
	want := map[string]int{
		"lot-a s3://uploads/cams/lot-a/vtest.avi": vtestAllFrames,
		"lot-b s3://uploads/cams/lot-b/vtest.mkv": vtestAllFrames,
	}

	frames := followFrames(t, brokers, framesTopic)
	stateDir := t.TempDir()
	args := []string{"ingest", "--topology", file, "--brokers", brokers[0], "--watch", "s3://uploads/cams/",
		"--suffix", ".mkv,.avi,.mp4", "--list-interval", "1s", "--state-dir", stateDir, "--max-width", "384"}
	// Killed part-way through the first object, then through the second,
	// half-way between two checkpoints (every 50 frames), so that a killed
	// run has sent frames it did not record; each restart must resume the
	// object it was killed in, after those frames.
	unrecorded := 0
	for i, at := range []int{225, vtestAllFrames + 225} {
		w := startCorb(t, fmt.Sprintf("watcher-%d", i), args...)
		deadline := time.Now().Add(3 * time.Minute)
		for frames.count() < at { // a tight loop: the ingest sends hundreds of frames a second
			if err := w.exited(); err != nil || time.Now().After(deadline) {
				t.Fatalf("%d frames, waiting for %d: %v", frames.count(), at, err)
			}
			time.Sleep(5 * time.Millisecond)
		}
		if i > 0 {
			unrecorded += logResumes(t, w)
		}
		w.kill9()
		n := frames.count()
		t.Logf("watcher %d SIGKILLed with %d frames on the topic", i, n)
		if n >= (i+1)*vtestAllFrames {
			t.Fatalf("killed only after %d frames (asked at %d): not mid-object", n, at)
		}
	}
	w := startCorb(t, "watcher-last", args...)
	kafkatest.WaitFor(t, 3*time.Minute, func() (bool, error) {
		if err := w.exited(); err != nil {
			return false, fmt.Errorf("%w: %v", kafkatest.ErrGiveUp, err)
		}
		return frames.complete(want), nil
	})
	if unrecorded += logResumes(t, w); unrecorded == 0 {
		t.Error("no restart found frames its killed predecessor sent past its last checkpoint: the kills did not test that")
	}
	// A few more listings find both done: nothing is sent again.
	time.Sleep(4 * time.Second)
	w.stop(30 * time.Second)
	time.Sleep(time.Second) // the follower reads what is on the topic
	frames.exactlyOnce(t, want)

	state, err := os.ReadFile(stateFile(t, stateDir))
	if err != nil {
		t.Fatal(err)
	}
	if c := strings.Count(string(state), `"status": "done"`); c != 2 || strings.Contains(string(state), "in_progress") {
		t.Errorf("state file: %d objects done, want 2 and none in progress:\n%s", c, state)
	}

	// Without --watch: every object once, in key order, and the command ends.
	once := startCorb(t, "ingest-once", "ingest", "--topology", file, "--brokers", brokers[0], "--topic", "frames-hd",
		"--limit", "5", "--camera-from", "key-base", "s3://uploads/cams/")
	if err := once.wait(2 * time.Minute); err != nil {
		t.Fatal(err)
	}
	hd := followFrames(t, brokers, strings.TrimSuffix(framesTopic, ".frames")+".frames-hd")
	kafkatest.WaitFor(t, time.Minute, func() (bool, error) { return hd.count() >= 10, nil })
	time.Sleep(time.Second)
	hd.exactlyOnce(t, map[string]int{"vtest s3://uploads/cams/lot-a/vtest.avi": 5, "vtest s3://uploads/cams/lot-b/vtest.mkv": 5})
}

// logResumes requires a restarted watcher to have resumed an object, logs
// where, and returns how many times it found frames sent past the last
// checkpoint.
func logResumes(t *testing.T, p *proc) (unrecorded int) {
	t.Helper()
	var resumed bool
	for _, l := range strings.Split(p.log.String(), "\n") {
		switch {
		case strings.Contains(l, "resuming object"):
			resumed = true
		case strings.Contains(l, "frames past the last checkpoint"):
			unrecorded++
		default:
			continue
		}
		t.Logf("%s: %s", p.name, l)
	}
	if !resumed {
		t.Errorf("%s resumed no object", p.name)
	}
	return unrecorded
}

// stateFile is the one state file a watcher wrote in dir.
func stateFile(t *testing.T, dir string) string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "s3-*.json"))
	if err != nil || len(m) != 1 {
		t.Fatalf("state files in %s: %v, %v; want one", dir, m, err)
	}
	return m[0]
}

// MinIO's own Kafka notifications (notify_kafka) trigger the watcher in
// --events mode: an upload is ingested once, also when it is uploaded twice
// (two events, one version) and after the watcher is restarted.
func TestS3WatchEventsFromMinIONotifyKafka(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	_, mkv := sampleVideos(t)
	eventsTopic := kafkatest.Unique(t, "minio-events")
	kafkatest.CreateTopic(t, brokers, eventsTopic, 1, nil)
	srv := startMinio(t,
		"MINIO_NOTIFY_KAFKA_ENABLE_CORB=on",
		"MINIO_NOTIFY_KAFKA_BROKERS_CORB="+strings.Join(brokers, ","),
		"MINIO_NOTIFY_KAFKA_TOPIC_CORB="+eventsTopic)
	srv.useStore(t)
	file, framesTopic := s3Namespace(t, brokers)
	srv.makeBucket(t, "uploads")
	cfg := notification.Configuration{}
	q := notification.NewConfig(notification.NewArn("minio", "sqs", "", "CORB", "kafka"))
	q.AddEvents(notification.ObjectCreatedAll)
	q.AddFilterSuffix(".mkv")
	cfg.AddQueue(q)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := srv.client.SetBucketNotification(ctx, "uploads", cfg); err != nil {
		t.Fatalf("SetBucketNotification: %v", err)
	}

	frames := followFrames(t, brokers, framesTopic)
	group := kafkatest.Unique(t, "ingest-s3")
	args := []string{"ingest", "--topology", file, "--brokers", brokers[0], "--watch", "s3://uploads/",
		"--events", eventsTopic, "--events-group", group, "--state-dir", t.TempDir(), "--max-width", "384"}
	w := startCorb(t, "watcher", args...)
	up := srv.upload(t, "uploads", "dock/clip.mkv", mkv)
	srv.upload(t, "uploads", "dock/readme.txt", file) // MinIO's suffix rule: no event
	want := map[string]int{"dock s3://uploads/dock/clip.mkv": vtestAllFrames}
	kafkatest.WaitFor(t, 3*time.Minute, func() (bool, error) {
		if err := w.exited(); err != nil {
			return false, fmt.Errorf("%w: %v", kafkatest.ErrGiveUp, err)
		}
		return frames.complete(want), nil
	})

	// The same bytes again: a second event, the same version.
	srv.upload(t, "uploads", "dock/clip.mkv", mkv)
	adm := kadm.NewClient(kafkatest.NewClient(t, brokers))
	waitCommitted := func(events int64) {
		t.Helper()
		kafkatest.WaitFor(t, time.Minute, func() (bool, error) {
			if err := w.exited(); err != nil {
				return false, fmt.Errorf("%w: %v", kafkatest.ErrGiveUp, err)
			}
			off, err := adm.FetchOffsets(ctx, group)
			if err != nil {
				return false, err
			}
			o, ok := off.Lookup(eventsTopic, 0)
			return ok && o.At >= events, nil
		})
	}
	waitCommitted(2)
	w.stop(30 * time.Second)

	// The events MinIO wrote are what ParseEvents reads.
	recs := kafkatest.ConsumeAll(t, brokers, eventsTopic, 2, 30*time.Second, false)
	if len(recs) != 2 {
		t.Fatalf("%d notifications on %s, want 2 (the .txt is filtered by MinIO)", len(recs), eventsTopic)
	}
	for _, r := range recs {
		evs, err := s3.ParseEvents(r.Value)
		if err != nil || len(evs) != 1 || evs[0].Bucket != "uploads" || evs[0].Key != "dock/clip.mkv" || evs[0].ETag != up.ETag ||
			evs[0].Size != up.Size || !strings.HasPrefix(evs[0].Name, "s3:ObjectCreated:") {
			t.Errorf("notification %s: %+v, %v; want one created event of uploads/dock/clip.mkv, etag %s, %d bytes", r.Value, evs, err, up.ETag, up.Size)
		}
	}

	// A restarted watcher resumes the group after the committed events, and an
	// upload while it was down is ingested on its return.
	srv.upload(t, "uploads", "gate/late.mkv", mkv)
	want["gate s3://uploads/gate/late.mkv"] = vtestAllFrames
	w = startCorb(t, "watcher-again", args...)
	kafkatest.WaitFor(t, 3*time.Minute, func() (bool, error) {
		if err := w.exited(); err != nil {
			return false, fmt.Errorf("%w: %v", kafkatest.ErrGiveUp, err)
		}
		return frames.complete(want), nil
	})
	waitCommitted(3)
	w.stop(30 * time.Second)
	time.Sleep(time.Second)
	frames.exactlyOnce(t, want)
}
