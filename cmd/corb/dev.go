package main

import (
	"context"
	"errors"
	"fmt"
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
	"github.com/corb-dev/corb/topology"
)

func devCommand() *cli.Command {
	return &cli.Command{
		Name:  "dev",
		Usage: "run the whole pipeline in one process on an embedded broker and show what flows",
		Description: `Starts an in-process Kafka broker (or uses --brokers), creates the topology's
topics, runs every operator the topology names that this build provides (each
with its replicas), ingests the sample video (the car park in vtest.avi) and
shows what flows: frames and detections per second, people per frame, presence
events and dead letters as they happen, and a summary at the end.

It stops when the video has been ingested and every operator has caught up,
or runs on with --follow until Ctrl-C. Needs the model, the ONNX Runtime
library and the sample media: 'make dev' fetches them first.`,
		Flags: append([]cli.Flag{
			topologyFlag(), namespaceFlag(), brokersFlag(), adminFlag("127.0.0.1:9464"),
			&cli.StringFlag{Name: "video", Usage: "video file to ingest (default: the cached vtest.avi)", Sources: cli.EnvVars("CORB_DEV_VIDEO")},
			&cli.StringFlag{Name: "camera", Usage: "camera id of the ingested video", Value: "vtest"},
			&cli.BoolFlag{Name: "realtime", Usage: "pace the video to its own frame rate instead of as fast as possible"},
			&cli.FloatFlag{Name: "max-fps", Usage: "sample the video down to this many frames per second (0: every frame)"},
			&cli.IntFlag{Name: "max-frames", Usage: "stop ingesting after this many frames (0: the whole video)"},
			&cli.BoolFlag{Name: "follow", Usage: "keep running after the video is done, until Ctrl-C"},
			&cli.StringFlag{Name: "dashboard", Usage: "address of the live web page (loopback; a free port if taken; empty: none)", Value: defaultDashboardAddr},
		}, logFlags()...),
		Action: runDev,
	}
}

func runDev(ctx context.Context, cmd *cli.Command) error {
	log, err := newLogger(cmd)
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
	fmt.Fprintf(out, "running %d operator instances", len(planned))
	if len(missing) > 0 {
		fmt.Fprintf(out, "; not in this build yet: %s", strings.Join(missing, ", "))
	}
	fmt.Fprintln(out)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopDashboard, err := devDashboard(ctx, cmd.String("dashboard"), spec, bs, log, out)
	if err != nil {
		return err
	}
	defer stopDashboard()
	tap, err := console.NewTap(bs, tapTopics(spec), out, 2*time.Second)
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
			maxBatch: 16, shutdownTimeout: 10 * time.Second, noProgress: true, getenv: devEnv,
		}, planned)
	}()

	ingested, ingestErr := ingestVideo(ctx, cmd, spec, bs, log)
	if ingestErr == nil {
		fmt.Fprintf(out, "ingested %d frames of %s; waiting for the operators to catch up\n", ingested.FramesSent, videoPath(cmd))
		ingestErr = waitCaughtUp(ctx, tap, spec, ingested.FramesSent, ops)
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
	tap.Summary(out)
	if ingestErr != nil && !errors.Is(ingestErr, context.Canceled) {
		return ingestErr
	}
	return ops.err
}

// outcome is the result of a goroutine: err is set before done is closed.
type outcome struct {
	done chan struct{}
	err  error
}

// tapTopics are the topics the console shows: everything but the state
// topics; compacted views are counted but not printed record by record.
func tapTopics(spec *topology.Spec) []console.Topic {
	state := map[string]bool{}
	for _, op := range spec.Operators {
		for _, s := range op.State {
			state[s] = true
		}
	}
	dlq := map[string]bool{}
	for _, op := range spec.Operators {
		if op.OnFailure != "" {
			dlq[op.OnFailure] = true
		}
	}
	var ts []console.Topic
	for _, t := range spec.Topics {
		if state[t.Name] {
			continue
		}
		ts = append(ts, console.Topic{Logical: t.Name, Physical: spec.PhysicalName(t.Name), Schema: t.Schema,
			DeadLetter: dlq[t.Name], Quiet: t.Compacted()})
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
