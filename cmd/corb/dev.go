package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/urfave/cli/v3"

	"github.com/corb-dev/corb/connectors/console"
	"github.com/corb-dev/corb/connectors/video"
	"github.com/corb-dev/corb/connectors/video/opencv"
	"github.com/corb-dev/corb/operators/detect"
	"github.com/corb-dev/corb/operators/zones"
	"github.com/corb-dev/corb/schemas"
	"github.com/corb-dev/corb/topology"
)

// demoSettings are corb dev's demo timings: over the 80 s sample a zone is
// free for only about 9 s, and the building's defaults (VACATED after 30 s of
// absence, a cleaning after 20 visits, one text per 10 minutes) would show
// none of it.
var demoSettings = []string{"presence.vacate_after=5s", "rules.visits=2", "rules.cooldown=0s"}

func devCommand() *cli.Command {
	return &cli.Command{
		Name:  "dev",
		Usage: "run the whole pipeline in one process on an embedded broker and show what flows",
		Description: `Starts an in-process Kafka broker (or uses --brokers), creates the topology's
topics, runs every operator of the topology (each with its replicas) and the
SMS webhook connector, and ingests the sample video (the car park in
vtest.avi) as camera vtest. Texts go to the console driver, never to Twilio.

The story it tells: a staff member (--staff, Ada in deploy/directory.yaml)
texts SUBSCRIBE path-west before the video starts; people walk through the
zones; each zone turns OCCUPIED, and the West path turns VACATED when it
empties and OCCUPIED again, which texts Ada; she texts STATUS when a zone is
first vacated; the second visit of the West path asks for a cleaning, whose
report is texted to its cleaner. The demo timings (--set) make that happen
within the 80 s video.

While it runs it prints a line every 2 s (frames and detections per second,
people per frame, each zone's state, events, commands and texts so far) and,
as they happen, every change of a zone, every command and every text. It
stops when the video has been ingested and every operator has caught up (or
runs on with --follow until Ctrl-C), and prints a summary with the whole
conversation. Logs go to --log-file.

Needs the model, the ONNX Runtime library and the sample media: 'make dev'
fetches them first.`,
		Flags: append([]cli.Flag{
			topologyFlag(), namespaceFlag(), brokersFlag(), adminFlag("127.0.0.1:9464"), settingsFlag(demoSettings...),
			&cli.StringFlag{Name: "video", Usage: "video file to ingest (default: the cached vtest.avi)", Sources: cli.EnvVars("CORB_DEV_VIDEO")},
			&cli.StringFlag{Name: "camera", Usage: "camera id of the ingested video", Value: "vtest"},
			&cli.BoolFlag{Name: "realtime", Usage: "pace the video to its own frame rate instead of as fast as possible"},
			&cli.FloatFlag{Name: "max-fps", Usage: "sample the video down to this many frames per second (0: every frame)"},
			&cli.IntFlag{Name: "max-frames", Usage: "stop ingesting after this many frames (0: the whole video)"},
			&cli.BoolFlag{Name: "follow", Usage: "keep running after the video is done, until Ctrl-C"},
			&cli.StringFlag{Name: "dashboard", Usage: "address of the live web page (loopback; a free port if taken; empty: none)", Value: defaultDashboardAddr},
			&cli.StringFlag{Name: "sms-listen", Usage: "address of the SMS webhook, to text the demo with 'corb sms simulate' (loopback; a free port if taken; empty: none, and no staff member)", Value: "127.0.0.1:8080"},
			&cli.StringFlag{Name: "staff", Usage: "`PHONE` of the simulated staff member, from the directory (empty: nobody texts)", Value: "+15550001"},
			&cli.StringFlag{Name: "subscribe", Usage: "the `ZONE` the staff member subscribes to", Value: "path-west"},
			&cli.StringFlag{Name: "log-file", Usage: "where the logs go (-: stderr)", Value: filepath.Join(os.TempDir(), "corb-dev.log")},
			&cli.BoolFlag{Name: "verbose", Usage: "print every presence event, count changes too"},
		}, logFlags()...),
		Action: runDev,
	}
}

func runDev(ctx context.Context, cmd *cli.Command) error {
	logOut, closeLog, err := devLogFile(cmd.String("log-file"))
	if err != nil {
		return err
	}
	defer closeLog()
	log, err := newLoggerTo(cmd, logOut)
	if err != nil {
		return err
	}
	spec, err := loadTopology(cmd)
	if err != nil {
		return err
	}
	out := cmd.Root().Writer

	bs := brokers(cmd)
	if len(bs) == 0 {
		cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
		if err != nil {
			return fmt.Errorf("embedded broker: %w", err)
		}
		defer cluster.Close()
		bs = cluster.ListenAddrs()
		fmt.Fprintf(out, "embedded Kafka broker (in memory) at %s — point other tools at it with --brokers %s\n", bs[0], bs[0])
	}

	// Topics.
	cl, err := kgo.NewClient(kgo.SeedBrokers(bs...))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	plan, err := topology.MakePlan(ctx, adm, spec)
	if err != nil {
		return fmt.Errorf("planning topics: %w", err)
	}
	if err := topology.Apply(ctx, adm, plan, topology.ApplyOptions{}); err != nil {
		return fmt.Errorf("creating topics: %w", err)
	}
	created, drifted, inSync := plan.Counts()
	fmt.Fprintf(out, "topology %s: namespace %q, %d topics created, %d already there (%d drifted)\n",
		spec.File, spec.Namespace, created, inSync+drifted, drifted)
	if set := cmd.StringSlice("set"); len(set) > 0 {
		fmt.Fprintf(out, "settings: %s (--set)\n", strings.Join(set, " "))
	}

	// Operators: every one this build provides, with its replicas.
	var planned []plannedOperator
	var missing []string
	for i := range spec.Operators {
		op := &spec.Operators[i]
		if !buildable(op.Kind) {
			missing = append(missing, op.Name)
			continue
		}
		for _, id := range replicaIDs(op.Replicas) {
			planned = append(planned, plannedOperator{op: op, instance: id})
		}
	}
	fmt.Fprintf(out, "running %d operator instances of %d operators", len(planned), len(spec.Operators)-len(missing))
	if len(missing) > 0 {
		fmt.Fprintf(out, "; not in this build: %s", strings.Join(missing, ", "))
	}
	fmt.Fprintf(out, "; logs in %s\n", cmd.String("log-file"))

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopDashboard, err := devDashboard(ctx, cmd.String("dashboard"), spec, bs, log, out)
	if err != nil {
		return err
	}
	defer stopDashboard()
	var texts *devTexts
	if addr := cmd.String("sms-listen"); addr != "" {
		if texts, err = startDevTexts(ctx, addr, spec, bs, devEnv, log); err != nil {
			return err
		}
		defer texts.stop()
		fmt.Fprintf(out, "SMS webhook at %s — text the demo: %s=%s corb sms simulate --url %s --brokers %s --from +15550001 STATUS\n",
			texts.url, envAuthToken, texts.token, texts.url, strings.Join(bs, ","))
	}
	tap, err := console.NewTap(bs, tapTopics(spec), out, console.Options{
		Interval: 2 * time.Second, Names: texts.names(), Zones: zoneOrder(), Verbose: cmd.Bool("verbose")})
	if err != nil {
		return err
	}
	tapDone := make(chan error, 1)
	go func() { tapDone <- tap.Run(ctx) }()
	ops := &outcome{done: make(chan struct{})}
	go func() {
		defer close(ops.done)
		ops.err = runOperators(ctx, runSettings{
			spec: spec, brokers: bs, log: log, registry: newRegistry(), adminAddr: cmd.String("admin-addr"),
			maxBatch: 16, shutdownTimeout: 10 * time.Second, noProgress: true, getenv: devEnv, stdout: logOut,
		}, planned)
	}()

	staff := devStaff{texts: texts, phone: cmd.String("staff"), zone: cmd.String("subscribe"), tap: tap, log: log}
	ingestErr := staff.subscribe(ctx, ops)
	ingested := make(chan int64, 1)
	go staff.askStatus(ctx, ingested)
	var stats video.Stats
	if ingestErr == nil {
		stats, ingestErr = ingestVideo(ctx, cmd, spec, bs, log)
	}
	ingested <- stats.FramesSent
	if ingestErr == nil {
		fmt.Fprintf(out, "ingested %d frames of %s; waiting for the operators to catch up\n", stats.FramesSent, videoPath(cmd))
		ingestErr = waitCaughtUp(ctx, tap, spec, stats.FramesSent, ops)
	}
	if ingestErr == nil && cmd.Bool("follow") {
		fmt.Fprintln(out, "following; Ctrl-C to stop")
		select {
		case <-ctx.Done():
		case <-ops.done:
		}
	}
	cancel()
	<-ops.done
	<-tapDone
	fmt.Fprintf(out, "\nsummary\nvideo       %d frames of %s as camera %s\n", stats.FramesSent, videoPath(cmd), cmd.String("camera"))
	tap.Summary(out)
	if ingestErr != nil && !errors.Is(ingestErr, context.Canceled) {
		return ingestErr
	}
	return ops.err
}

// devLogFile opens where corb dev's logs go: path, or stderr for "-".
func devLogFile(path string) (io.Writer, func(), error) {
	if path == "-" {
		return os.Stderr, func() {}, nil
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("--log-file: %w", err)
	}
	return f, func() { f.Close() }, nil
}

// zoneOrder is the zones file's order of zones, for the live account.
func zoneOrder() []string {
	zf, err := zones.Load(zones.OperatorConfig{}.Path(devEnv))
	if err != nil {
		return nil // the operators report it
	}
	var ids []string
	for _, z := range zf.Zones {
		ids = append(ids, z.ID)
	}
	return ids
}

// devStaff is corb dev's simulated staff member, who texts through the
// webhook as a phone would.
type devStaff struct {
	texts       *devTexts
	phone, zone string
	tap         *console.Tap
	log         *slog.Logger
}

// subscribe texts SUBSCRIBE zone and waits until the subscription is on its
// topic, so that the video's first events find it.
func (s devStaff) subscribe(ctx context.Context, ops *outcome) error {
	if s.texts == nil || s.phone == "" {
		return nil
	}
	if err := s.texts.text(ctx, s.phone, "SUBSCRIBE "+s.zone); err != nil {
		return fmt.Errorf("the staff member's SUBSCRIBE: %w", err)
	}
	deadline := time.After(60 * time.Second)
	for s.tap.Stats("subscriptions").Records == 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ops.done:
			return ops.err
		case <-deadline:
			return fmt.Errorf("%s texted SUBSCRIBE %s, and no subscription came in a minute (see the log)", s.phone, s.zone)
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

// askStatus texts STATUS once a zone has been vacated, or once the
// detector is half-way through the frames ingested (a video where no zone
// empties).
func (s devStaff) askStatus(ctx context.Context, ingested <-chan int64) {
	if s.texts == nil || s.phone == "" {
		return
	}
	frames := int64(-1)
	for s.tap.Stats("events").Events[schemas.Vacated] == 0 && (frames < 0 || 2*s.tap.Stats("detections").Records < frames) {
		select {
		case <-ctx.Done():
			return
		case n, ok := <-ingested:
			if ok {
				frames = n
			}
			ingested = nil
		case <-time.After(100 * time.Millisecond):
		}
	}
	if err := s.texts.text(ctx, s.phone, "STATUS"); err != nil && ctx.Err() == nil {
		s.log.Error("the staff member's STATUS", "err", err)
	}
}

// outcome is the result of a goroutine: err is set before done is closed.
type outcome struct {
	done chan struct{}
	err  error
}

// tapTopics are the topics the console reads: every topic but the
// operators' state, except the sms operator's sent log (texts sent).
func tapTopics(spec *topology.Spec) []console.Topic {
	state, dlq := map[string]bool{}, map[string]bool{}
	sentLog := ""
	for _, op := range spec.Operators {
		for _, s := range op.State {
			state[s] = true
		}
		if op.Kind == "sms" && len(op.State) > 0 {
			sentLog = op.State[0]
		}
		if op.OnFailure != "" {
			dlq[op.OnFailure] = true
		}
	}
	var ts []console.Topic
	for _, t := range spec.Topics {
		role := console.Count
		switch {
		case t.Name == sentLog:
			role = console.SentLog
		case state[t.Name]:
			continue
		case dlq[t.Name]:
			role = console.DeadLetter
		case t.Compacted():
			role = console.Count // views repeat another topic
		case t.Schema == (*schemas.Frame)(nil).SchemaName():
			role = console.Frames
		case t.Schema == (*schemas.Detections)(nil).SchemaName():
			role = console.Detections
		case t.Schema == (*schemas.PresenceEvent)(nil).SchemaName():
			role = console.Events
		case t.Schema == (*schemas.Command)(nil).SchemaName():
			role = console.Commands
		}
		ts = append(ts, console.Topic{Logical: t.Name, Physical: spec.PhysicalName(t.Name), Role: role})
	}
	return ts
}

func videoPath(cmd *cli.Command) string {
	if v := cmd.String("video"); v != "" {
		return v
	}
	return filepath.Join(detect.CacheDir(), "media", "vtest.avi")
}

// ingestVideo sends the video's frames to the frames topic.
func ingestVideo(ctx context.Context, cmd *cli.Command, spec *topology.Spec, bs []string, log *slog.Logger) (video.Stats, error) {
	path := videoPath(cmd)
	if _, err := os.Stat(path); err != nil {
		return video.Stats{}, fmt.Errorf("sample video: %w (run 'make sample', or pass --video)", err)
	}
	src, err := video.ParseSource(path)
	if err != nil {
		return video.Stats{}, err
	}
	frames, ok := spec.Topic("frames")
	if !ok {
		return video.Stats{}, fmt.Errorf("topology %s has no frames topic to ingest into", spec.File)
	}
	limit := 0
	if v, ok := frames.Configs["max.message.bytes"]; ok {
		if limit, err = strconv.Atoi(v); err != nil {
			return video.Stats{}, fmt.Errorf("topic frames: max.message.bytes %q: %w", v, err)
		}
	}
	sink, err := video.NewKafkaSink(video.KafkaSinkConfig{Brokers: bs, Topic: spec.PhysicalName("frames"), MaxMessageBytes: limit})
	if err != nil {
		return video.Stats{}, err
	}
	defer sink.Close(context.WithoutCancel(ctx))
	in := &video.Ingester{Opener: opencv.Opener{}, Logger: log, Limit: int64(cmd.Int("max-frames"))}
	return in.Ingest(ctx, src, video.CameraConfig{
		CameraID: cmd.String("camera"), MaxFPS: cmd.Float("max-fps"), Realtime: cmd.Bool("realtime"),
		StartTime: time.Now().Truncate(time.Second),
	}, sink)
}

// waitCaughtUp returns once the operators have caught up with the ingested
// frames: every frame has its detections (when detect runs) and nothing has
// moved on any topic for a few seconds. (Consumer-group lag cannot tell: on
// topics written in transactions the commit markers keep it at one or more.)
func waitCaughtUp(ctx context.Context, tap *console.Tap, spec *topology.Spec, frames int64, ops *outcome) error {
	detecting := false
	for _, op := range spec.Operators {
		if op.Kind == "detect" && buildable(op.Kind) {
			detecting = true
		}
	}
	const quietFor = 5 * time.Second
	last, since := int64(-1), time.Now()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ops.done:
			if ops.err == nil {
				return errors.New("operators stopped")
			}
			return ops.err
		case <-tick.C:
		}
		total := tap.Total()
		if total != last {
			last, since = total, time.Now()
			continue
		}
		if time.Since(since) >= quietFor && (!detecting || tap.Stats("detections").Records >= frames) {
			return nil
		}
	}
}

// devEnv is the environment of corb dev's operators: texts go to the console
// (CORB_SMS_DRIVER=console) unless the caller chose a driver, so the demo
// needs no Twilio account.
func devEnv(key string) string {
	if v := os.Getenv(key); v != "" || key != "CORB_SMS_DRIVER" {
		return v
	}
	return "console"
}
