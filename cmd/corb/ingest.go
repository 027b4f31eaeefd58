package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/corb-dev/corb/connectors/video"
	"github.com/corb-dev/corb/connectors/video/opencv"
	"github.com/corb-dev/corb/connectors/video/s3"
	"github.com/corb-dev/corb/operators/admin"
	"github.com/corb-dev/corb/schemas"
	"github.com/corb-dev/corb/topology"
)

// ingestCommand is `corb ingest`: video sources → the frames topic.
func ingestCommand() *cli.Command {
	return &cli.Command{
		Name:      "ingest",
		Usage:     "read video files, watched directories, object storage, streams or cameras into the frames topic",
		ArgsUsage: "[SOURCE...]",
		Description: `Decodes video with OpenCV (FFmpeg backend) and produces one JPEG frame record
(corb.Frame, key = camera id) per sampled frame to the topology's frames topic
(--topic: another topic of schema corb.Frame), whose Kafka name is
"<namespace>.frames" (--namespace overrides the topology's namespace).

Sources:
  FILE              a video file (mp4, mkv, avi, mov, webm, ...), read once, as fast as
                    possible (or at its own speed with --realtime). Event time is the
                    container's timestamp plus the file's modification time (or --start-time).
                    Also file:///abs/path.
  DIR, dir:DIR      a watched directory (also --watch DIR): every file matching --suffix
                    that appears there is ingested once, after its size stopped changing.
                    What was ingested is remembered in --state-dir, so a restart does not
                    ingest it again; a file that cannot be decoded is recorded and skipped.
  s3://BUCKET/PREFIX
                    every video object under the prefix of an S3-compatible store (AWS S3,
                    MinIO, Ceph), once, in key order. With --watch s3://BUCKET/PREFIX: each
                    new upload once, from S3 event notifications on a Kafka topic (--events
                    TOPIC: what MinIO's notify_kafka or EventBridge write) or by listing the
                    bucket every --list-interval. What was ingested is remembered in
                    --state-dir per object version (bucket, key, ETag): done, failed, or in
                    progress at a frame; a restarted watcher resumes a half-ingested object
                    at its next frame (seq numbers kept) and never repeats a done one.
                    The camera id comes from the key (--camera-from): key-dir (default) is
                    the first folder after the prefix (cams/lobby/0612.mkv under s3://b/cams/
                    is camera lobby; a key with no folder gives its base name), key-base
                    the base name without extension, fixed is --camera.
                    Endpoint, region and credentials as AWS tools find them: --endpoint-url,
                    AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL; --region, AWS_REGION,
                    AWS_DEFAULT_REGION; AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
                    AWS_SESSION_TOKEN; the shared files (~/.aws/credentials, ~/.aws/config,
                    --profile or AWS_PROFILE); the instance role; else unsigned requests.
  rtsp://, rtsps://, rtmp://, http://, https://
                    a live network stream; event time is the wall clock. Reconnects forever
                    with capped exponential backoff (0.5s doubling to 30s).
  /dev/videoN, N, device:N
                    a V4L2 camera; live, like a stream.

Each source numbers its frames from 0 (seq), so a file ingested twice is recognisable
downstream by the same source and seq. Frames larger than the topic's max.message.bytes
stop the ingest with an error naming the frame: lower --max-width or --quality.

Examples:
  corb ingest --camera lobby --max-fps 5 --max-width 960 lobby.mp4
  corb ingest --camera lobby --realtime lobby.mp4
  corb ingest --camera dock --watch /srv/uploads --suffix '*.mp4,*.mkv'
  corb ingest --watch s3://uploads/cams/ --events minio-uploads --suffix .mkv,.avi,.mp4
  corb ingest --camera gate 'rtsp://user:pass@10.0.0.7/stream1'
  corb ingest --topology site.yaml --namespace bldg-2 --camera lobby lobby.mp4`,
		Flags: append([]cli.Flag{
			topologyFlag(), namespaceFlag(), brokersFlag(), adminFlag(""),
			&cli.StringFlag{Name: "camera", Usage: "camera id, the Kafka key (default: derived from the source's name)", Sources: cli.EnvVars("CORB_CAMERA")},
			&cli.StringFlag{Name: "topic", Usage: "topic of the topology to send to, of schema corb.Frame", Value: "frames"},
			&cli.FloatFlag{Name: "max-fps", Usage: "send at most this many frames per second, by timestamp (0: every frame)"},
			&cli.IntFlag{Name: "max-width", Usage: "shrink wider frames to this width, keeping aspect (0: original size)"},
			&cli.IntFlag{Name: "quality", Usage: "JPEG quality 1..100", Value: video.DefaultQuality},
			&cli.BoolFlag{Name: "realtime", Usage: "pace files to their own frame rate (default for files: as fast as possible)"},
			&cli.StringFlag{Name: "start-time", Usage: "capture time of a file's first frame, RFC 3339 or 'now' (default: the file's modification time; old files get old record timestamps, which short retention.ms may delete at once)"},
			&cli.StringSliceFlag{Name: "watch", Usage: "watch this directory, or s3://bucket/prefix, for new video files (repeatable)"},
			&cli.StringFlag{Name: "suffix", Usage: "file patterns a watched directory or bucket ingests, comma-separated", Value: video.DefaultSuffixes},
			&cli.StringFlag{Name: "state-dir", Usage: "where watched directories and buckets remember what they ingested (default: $CORB_CACHE/ingest or ~/.cache/corb/ingest)", Sources: cli.EnvVars("CORB_INGEST_STATE_DIR")},
			&cli.StringFlag{Name: "camera-from", Usage: "s3: where an object's camera id comes from: key-dir, key-base or fixed (default: fixed with --camera, else key-dir)"},
			&cli.StringFlag{Name: "events", Usage: "s3 --watch: the Kafka topic of the bucket's event notifications (S3 event JSON); none: list the bucket", Sources: cli.EnvVars("CORB_S3_EVENTS")},
			&cli.StringFlag{Name: "events-group", Usage: "s3 --watch --events: the consumer group (default: <namespace>.ingest-s3-<bucket>-<hash of store, prefix and topic>)"},
			&cli.DurationFlag{Name: "list-interval", Usage: "s3 --watch without --events: how often the bucket is listed", Value: 30 * time.Second},
			&cli.StringFlag{Name: "endpoint-url", Usage: "s3: the store's URL, e.g. http://127.0.0.1:9000 (default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, the profile's endpoint_url, else AWS S3)"},
			&cli.StringFlag{Name: "region", Usage: "s3: the region (default: AWS_REGION, AWS_DEFAULT_REGION, the profile's region, else the bucket's)"},
			&cli.StringFlag{Name: "profile", Usage: "s3: the shared-files profile to take credentials from, over the environment's (default: AWS_PROFILE, else default)"},
			&cli.DurationFlag{Name: "poll", Usage: "how often watched directories are listed", Value: time.Second},
			&cli.DurationFlag{Name: "settle", Usage: "how long a dropped file must stay unchanged before it is ingested", Value: 2 * time.Second},
			&cli.IntFlag{Name: "max-message-bytes", Usage: "the topic's max.message.bytes (0: ask the broker)"},
			&cli.IntFlag{Name: "limit", Usage: "stop each source after this many frames (0: no limit)"},
		}, logFlags()...),
		Action: runIngest,
	}
}

func runIngest(ctx context.Context, cmd *cli.Command) error {
	log, err := newLogger(cmd)
	if err != nil {
		return err
	}
	spec, err := loadTopology(cmd)
	if err != nil {
		return err
	}
	topic, err := frameTopic(spec, cmd.String("topic"))
	if err != nil {
		return err
	}
	srcs, buckets, err := ingestSources(cmd)
	if err != nil {
		return err
	}
	rules, err := video.ParseSuffixRules(cmd.String("suffix"))
	if err != nil {
		return fmt.Errorf("--suffix: %w", err)
	}
	base := video.CameraConfig{
		CameraID: cmd.String("camera"),
		MaxFPS:   cmd.Float("max-fps"),
		MaxWidth: cmd.Int("max-width"),
		Quality:  cmd.Int("quality"),
		Realtime: cmd.Bool("realtime"),
	}
	switch s := cmd.String("start-time"); s {
	case "":
	case "now":
		base.StartTime = time.Now()
	default:
		if base.StartTime, err = time.Parse(time.RFC3339Nano, s); err != nil {
			return fmt.Errorf("--start-time: want RFC 3339 or now: %w", err)
		}
	}
	checkCfg := base
	if checkCfg.CameraID == "" {
		checkCfg.CameraID = "x"
	}
	if err := checkCfg.Validate(); err != nil {
		return err
	}
	stateDir := cmd.String("state-dir")
	if stateDir == "" {
		stateDir = defaultStateDir()
	}
	bks := brokers(cmd)
	if len(bks) == 0 {
		return errors.New("no brokers: pass --brokers or set CORB_BROKERS")
	}
	limit := cmd.Int("max-message-bytes")
	if limit == 0 {
		lctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		limit, err = video.TopicMaxMessageBytes(lctx, bks, topic)
		cancel()
		if err != nil {
			return fmt.Errorf("%w (create the topics first with 'corb topology apply', or pass --max-message-bytes)", err)
		}
	}
	sink, err := video.NewKafkaSink(video.KafkaSinkConfig{Brokers: bks, Topic: topic, MaxMessageBytes: limit})
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = sink.Close(cctx) // every Ingest already flushed and reported its delivery errors
	}()

	reg := newRegistry()
	metrics, err := video.NewMetrics(reg)
	if err != nil {
		return err
	}
	in := &video.Ingester{
		Opener:  opencv.Opener{},
		Metrics: metrics,
		Logger:  log,
		Watch:   video.WatchOptions{Suffixes: rules, StateDir: stateDir, Poll: cmd.Duration("poll"), Settle: cmd.Duration("settle")},
		Limit:   int64(cmd.Int("limit")),
	}
	if len(srcs) == 1 && len(buckets) == 0 && srcs[0].Kind == video.KindFile {
		in.NewProgress = video.TerminalProgress(os.Stderr) // one bar only: several would garble the terminal
	}
	jobs := make([]ingestJob, 0, len(srcs)+len(buckets))
	for _, src := range srcs {
		cfg := base
		if cfg.CameraID == "" {
			cfg.CameraID = cameraIDFor(src)
		}
		jobs = append(jobs, ingestJob{name: fmt.Sprintf("%s (camera %s)", src, cfg.CameraID),
			run: func(ctx context.Context) (video.Stats, error) { return in.Ingest(ctx, src, cfg, sink) }})
	}
	if len(buckets) > 0 {
		bjobs, closeAll, err := bucketJobs(ctx, cmd, log, spec, topic, bks, buckets, in, base, rules, stateDir, sink)
		if err != nil {
			return err
		}
		defer closeAll()
		jobs = append(jobs, bjobs...)
	}
	log.Info("ingest", "sources", len(jobs), "topic", topic, "max_message_bytes", limit)

	// Sources run concurrently; the first failure stops the others.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if addr := cmd.String("admin-addr"); addr != "" {
		adminDone := make(chan error, 1)
		go func() { adminDone <- admin.New(reg, nil).Serve(ctx, addr, log) }()
		defer func() { cancel(nil); <-adminDone }()
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, job := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := job.run(ctx)
			fmt.Fprintf(cmd.Root().Writer, "%s: %d frames sent, %d dropped by max-fps, %d read, %.1f MB, %d reconnects, %d files (%d failed) in %s\n",
				job.name, st.FramesSent, st.FramesDropped, st.FramesRead, float64(st.BytesSent)/1e6,
				st.Reconnects, st.FilesIngested, st.FilesFailed, st.Elapsed.Round(time.Millisecond))
			if err != nil && !(errors.Is(err, context.Canceled) && context.Cause(ctx) == context.Canceled) {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
				cancel(err)
			}
		}()
	}
	wg.Wait()
	var real []error
	for _, e := range errs {
		if !errors.Is(e, context.Canceled) { // stopped because another source failed
			real = append(real, e)
		}
	}
	return errors.Join(real...)
}

// frameTopic is the Kafka name of the topology's topic that ingest sends to:
// it must exist and carry corb.Frame records.
func frameTopic(spec *topology.Spec, name string) (string, error) {
	want := (*schemas.Frame)(nil).SchemaName()
	var frames []string
	for _, t := range spec.Topics {
		if t.Schema == want {
			frames = append(frames, t.Name)
		}
	}
	t, ok := spec.Topic(name)
	switch {
	case !ok:
		return "", fmt.Errorf("--topic %q: topology %s has no such topic (its topics of %s: %s)", name, spec.File, want, strings.Join(frames, ", "))
	case t.Schema != want:
		return "", fmt.Errorf("--topic %q: topology %s declares it %s, ingest writes %s (its topics of %s: %s)", name, spec.File, t.Schema, want, want, strings.Join(frames, ", "))
	}
	return spec.Names().Topic(t.Name), nil
}

// ingestJob is one source of an ingest run.
type ingestJob struct {
	name string // for the summary line
	run  func(context.Context) (video.Stats, error)
}

// bucket is an s3:// source: read once, or watched.
type bucket struct {
	loc   s3.Location
	watch bool
}

// ingestSources parses the SOURCE arguments and --watch directories and
// buckets; a plain path naming a directory is watched.
func ingestSources(cmd *cli.Command) ([]video.Source, []bucket, error) {
	var (
		out     []video.Source
		buckets []bucket
	)
	for _, spec := range cmd.Args().Slice() {
		if s3.IsURL(spec) {
			loc, err := s3.ParseURL(spec)
			if err != nil {
				return nil, nil, err
			}
			buckets = append(buckets, bucket{loc: loc})
			continue
		}
		src, err := video.ParseSource(spec)
		if err != nil {
			return nil, nil, err
		}
		if src.Kind == video.KindFile {
			if fi, err := os.Stat(src.Location); err == nil && fi.IsDir() {
				src.Kind = video.KindDir
			}
		}
		out = append(out, absolute(src))
	}
	for _, dir := range cmd.StringSlice("watch") {
		if s3.IsURL(dir) {
			loc, err := s3.ParseURL(dir)
			if err != nil {
				return nil, nil, fmt.Errorf("--watch: %w", err)
			}
			buckets = append(buckets, bucket{loc: loc, watch: true})
			continue
		}
		src, err := video.ParseSource("dir:" + dir)
		if err != nil {
			return nil, nil, fmt.Errorf("--watch: %w", err)
		}
		out = append(out, absolute(src))
	}
	if len(out) == 0 && len(buckets) == 0 {
		return nil, nil, errors.New("no sources: give a file, directory, s3:// bucket, stream URL or device (see corb ingest --help)")
	}
	return out, buckets, nil
}

// bucketJobs connects to the object store (and, to watch, to the frames
// topic and the events topic) and returns a job per bucket source, and what
// closes the connections.
func bucketJobs(ctx context.Context, cmd *cli.Command, log *slog.Logger, spec *topology.Spec, topic string, bks []string,
	buckets []bucket, in *video.Ingester, base video.CameraConfig, rules video.SuffixRules, stateDir string, sink video.Sink,
) (jobs []ingestJob, closeAll func(), err error) {
	var closers []func()
	closeAll = func() {
		for _, c := range closers {
			c()
		}
	}
	defer func() {
		if err != nil {
			closeAll()
		}
	}()
	rule := s3.CameraRule{From: s3.CameraKeyDir, Fixed: base.CameraID}
	if base.CameraID != "" {
		rule.From = s3.CameraFixed
	}
	if f := cmd.String("camera-from"); f != "" {
		if rule.From, err = s3.ParseCameraFrom(f); err != nil {
			return nil, nil, fmt.Errorf("--camera-from: %w", err)
		}
	}
	if err := rule.Validate(); err != nil {
		return nil, nil, err
	}
	ccfg, err := s3.Resolve(ctx, s3.Overrides{EndpointURL: cmd.String("endpoint-url"), Region: cmd.String("region"), Profile: cmd.String("profile")})
	if err != nil {
		return nil, nil, err
	}
	client, err := s3.NewClient(ccfg)
	if err != nil {
		return nil, nil, err
	}
	log.Info("object store", "endpoint", ccfg.Endpoint, "tls", ccfg.Secure, "region", ccfg.Region, "credentials", ccfg.CredsFrom)
	var frames *s3.KafkaFrameLog
	for _, b := range buckets {
		w := &s3.Watcher{Store: s3.MinioStore{Client: client}, Location: b.loc, Endpoint: ccfg.Endpoint, Topic: topic,
			Camera: rule, Suffixes: rules, Ingester: in, Config: base, StateDir: stateDir,
			ListEvery: cmd.Duration("list-interval"), Logger: log}
		name := fmt.Sprintf("%s (cameras by %s)", b.loc, rule.From)
		if !b.watch {
			jobs = append(jobs, ingestJob{name: name, run: func(ctx context.Context) (video.Stats, error) { return timed(ctx, w.IngestAll, sink) }})
			continue
		}
		if frames == nil {
			if frames, err = s3.NewKafkaFrameLog(bks, topic); err != nil {
				return nil, nil, err
			}
			closers = append(closers, frames.Close)
		}
		w.Frames = frames
		if t := cmd.String("events"); t != "" {
			group := cmd.String("events-group")
			if group == "" {
				sp := strings.TrimSuffix(filepath.Base(w.StatePath()), ".json") // s3-<bucket>-<hash>
				group = spec.Names().Group("ingest-" + sp)
			}
			ev, err := s3.NewKafkaEvents(bks, t, group, log)
			if err != nil {
				return nil, nil, err
			}
			closers = append(closers, ev.Close)
			w.Events = ev
			name += ", events from " + t
		}
		jobs = append(jobs, ingestJob{name: name, run: func(ctx context.Context) (video.Stats, error) { return timed(ctx, w.Watch, sink) }})
	}
	return jobs, closeAll, nil
}

// timed runs an object-store job and sets its Stats.Elapsed.
func timed(ctx context.Context, run func(context.Context, video.Sink) (video.Stats, error), sink video.Sink) (video.Stats, error) {
	start := time.Now()
	st, err := run(ctx, sink)
	st.Elapsed = time.Since(start)
	return st, err
}

// absolute makes file and directory paths absolute, so Frame.Source (and with
// it re-ingest detection) does not depend on the working directory.
func absolute(src video.Source) video.Source {
	if src.Kind == video.KindFile || src.Kind == video.KindDir {
		if abs, err := filepath.Abs(src.Location); err == nil {
			src.Location = abs
		}
	}
	return src
}

// cameraIDFor derives a camera id from a source when --camera is not given:
// the file name without extension, the directory name, the stream host and
// path, or videoN.
func cameraIDFor(src video.Source) string {
	switch src.Kind {
	case video.KindFile:
		b := filepath.Base(src.Location)
		return strings.TrimSuffix(b, filepath.Ext(b))
	case video.KindStream:
		s := src.String()
		if i := strings.Index(s, "://"); i >= 0 {
			s = s[i+3:]
		}
		if i := strings.LastIndexByte(s, '@'); i >= 0 {
			s = s[i+1:]
		}
		return strings.Trim(strings.NewReplacer("/", "-", ":", "-").Replace(s), "-")
	}
	return filepath.Base(src.Location)
}

func defaultStateDir() string {
	if c := os.Getenv("CORB_CACHE"); c != "" {
		return filepath.Join(c, "ingest")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".cache", "corb", "ingest")
	}
	return filepath.Join(os.TempDir(), "corb-ingest")
}
