package main

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/corb-dev/corb/connectors/dlq"
	"github.com/corb-dev/corb/operators/runtime"
	"github.com/corb-dev/corb/schemas"
	"github.com/corb-dev/corb/topology"
)

// newDLQFixture is testTopology on kfake, namespace "site", with three dead
// letters of operator copy on frames-dlq[0]: @0 from frames[0]@0 and @1
// from frames[1]@4 (permanent), @2 from frames[0]@1 (exhausted).
func newDLQFixture(t *testing.T) (brokers, file string) {
	t.Helper()
	ctx := context.Background()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	brokers, file = cluster.ListenAddrs()[0], testTopology(t, "site")
	spec, err := topology.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	adm := kadm.NewClient(cl)
	plan, err := topology.MakePlan(ctx, adm, spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := topology.Apply(ctx, adm, plan, topology.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	letter := func(camera, partition, offset, reason, msg string) *kgo.Record {
		v, err := schemas.Marshal(&schemas.Frame{CameraID: camera, Source: "/media/" + camera + ".mp4",
			CaptureTime: time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC), Width: 2, Height: 1,
			Encoding: schemas.EncodingJPEG, Image: []byte{0xff, 0xd8, 0xff, 0xd9}})
		if err != nil {
			t.Fatal(err)
		}
		h := []kgo.RecordHeader{{Key: "trace", Value: []byte("t-" + camera)}}
		for _, kv := range [][2]string{{runtime.HeaderError, msg}, {runtime.HeaderReason, reason}, {runtime.HeaderOperator, "copy"},
			{runtime.HeaderTopic, "site.frames"}, {runtime.HeaderPartition, partition}, {runtime.HeaderOffset, offset},
			{runtime.HeaderTime, "2026-05-01T10:00:0" + offset + "Z"}} {
			h = append(h, kgo.RecordHeader{Key: kv[0], Value: []byte(kv[1])})
		}
		return &kgo.Record{Topic: "site.frames-dlq", Key: []byte(camera), Value: v, Headers: h}
	}
	if err := cl.ProduceSync(ctx,
		letter("lobby", "0", "0", "permanent", "copy: invalid corb.Command record"),
		letter("hall", "1", "4", "permanent", "copy: invalid corb.Command record"),
		letter("gate", "0", "1", "exhausted", "timeout after 3 attempts"),
	).FirstErr(); err != nil {
		t.Fatal(err)
	}
	return brokers, file
}

// runDLQ runs `corb dlq args...` on the fixture.
func runDLQ(t *testing.T, brokers, file string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sub, rest := args[0], args[1:]
	out, err := runApp(ctx, append([]string{"dlq", sub, "--topology", file, "--brokers", brokers}, rest...)...)
	if ctx.Err() != nil {
		t.Fatalf("corb dlq %s did not stop; printed:\n%s", strings.Join(args, " "), out)
	}
	return out, err
}

func mustDLQ(t *testing.T, brokers, file string, args ...string) string {
	t.Helper()
	out, err := runDLQ(t, brokers, file, args...)
	if err != nil {
		t.Fatalf("corb dlq %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func wantLines(t *testing.T, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
}

func TestDLQListShowReplay(t *testing.T) {
	brokers, file := newDLQFixture(t)

	var listed dlqListed
	if err := json.Unmarshal([]byte(mustDLQ(t, brokers, file, "list", "--format", "json")), &listed); err != nil {
		t.Fatal(err)
	}
	if listed.Topic != "frames-dlq" || listed.Physical != "site.frames-dlq" || listed.Letters != 3 || listed.Replayed != 0 ||
		listed.ByOperator["copy"] != 3 || listed.ByReason["permanent"] != 2 || len(listed.Groups) != 2 ||
		listed.Groups[0].Error != "copy: invalid corb.Command record" || !slices.Equal(listed.Operators, []string{"copy"}) {
		t.Fatalf("list: %+v", listed)
	}
	wantLines(t, mustDLQ(t, brokers, file, "list"),
		"frames-dlq  3        0         0[0..2]  2026-05-01T10:00:00Z  2026-05-01T10:00:04Z  copy",
		"  copy      permanent  2        0", "copy: invalid corb.Command record", "exhausted")

	out := mustDLQ(t, brokers, file, "show", "--format", "line", "--reason", "EXHAUSTED", "frames-dlq")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 1 ||
		!strings.Contains(lines[0], "frames-dlq[0]@2 ") || !strings.Contains(lines[0], "✗ exhausted in copy: timeout after 3 attempts; from frames[0]@1") ||
		!strings.Contains(lines[0], "corb.Frame v") || !strings.Contains(lines[0], "headers: trace=t-gate") {
		t.Fatalf("show --reason exhausted:\n%s", out)
	}

	out = mustDLQ(t, brokers, file, "replay", "--dry-run", "frames-dlq")
	wantLines(t, out, "would replay frames-dlq[0]@0 → frames[0] (copy, permanent)", "would replay frames-dlq[0]@1 → frames[1]",
		"frames-dlq: dry run: would replay 3 of 3 letters chosen to frames; skipped 0 already replayed; refused 0")

	wantLines(t, mustDLQ(t, brokers, file, "replay", "--offset", "1", "frames-dlq"),
		"frames-dlq: replayed 1 of 1 letters chosen to frames in 1 transaction; skipped 0", "replay log site.frames-dlq.replayed, transactional id site.dlq-replay-frames-dlq")

	var rep dlq.Report
	if err := json.Unmarshal([]byte(mustDLQ(t, brokers, file, "replay", "--format", "json", "frames-dlq")), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Replayed) != 2 || len(rep.Skipped) != 1 || rep.Skipped[0].From.Offset != 1 || rep.Replayed[1].To != (dlq.Ref{Topic: "site.frames", Partition: 0, Offset: 1}) {
		t.Fatalf("replay: %+v", rep)
	}
	wantLines(t, mustDLQ(t, brokers, file, "replay", "-v", "frames-dlq"),
		"skipped frames-dlq[0]@0: replayed ", "frames-dlq: replayed 0 of 3 letters chosen to frames in 0 transactions; skipped 3 already replayed; refused 0")

	// The frames came back once each, as they were, with where from.
	recs := readTopic(t, brokers, "site.frames", 3)
	var got []string
	for _, r := range recs {
		from, _ := runtime.Header(r, dlq.HeaderReplayedFrom)
		trace, _ := runtime.Header(r, "trace")
		_, dead := runtime.Header(r, runtime.HeaderReason)
		if dead {
			t.Errorf("%s: the dead-letter headers came along", r.Key)
		}
		got = append(got, string(r.Key)+" "+trace+" "+from)
	}
	slices.Sort(got)
	if want := []string{"gate t-gate site.frames-dlq/0/2", "hall t-hall site.frames-dlq/0/1", "lobby t-lobby site.frames-dlq/0/0"}; !slices.Equal(got, want) {
		t.Fatalf("frames holds %q, want %q", got, want)
	}

	out = mustDLQ(t, brokers, file, "show", "--format", "json", "--from", "1", "--to", "1", "frames-dlq")
	var shown map[string]any
	if err := json.Unmarshal([]byte(out), &shown); err != nil {
		t.Fatalf("show --format json: %v\n%s", err, out)
	}
	if get(shown, "replayed", "to", "topic") != "site.frames" || get(shown, "dead_letter", "source", "offset") != 4.0 || get(shown, "value", "camera_id") != "hall" {
		t.Fatalf("show --format json: %s", out)
	}
	wantLines(t, mustDLQ(t, brokers, file, "show", "--format", "line", "--limit", "1", "frames-dlq"), "↺ replayed ", " to frames[0]@0")
	wantLines(t, mustDLQ(t, brokers, file, "list"), "frames-dlq  3        3 ")
}

func TestDLQRefusesWhatIsNotADeadLetterTopic(t *testing.T) {
	brokers, file := newDLQFixture(t)
	for _, c := range []struct {
		args  []string
		want  string
		usage bool
	}{
		{[]string{"show", "frames"}, "frames is not a dead-letter topic", false},
		{[]string{"show", "nope"}, `has no topic "nope"`, false},
		{[]string{"replay", "--operator", "nobody", "frames-dlq"}, "no such operator dead-letters to frames-dlq (those that do: copy)", false},
		{[]string{"replay", "--offset", "1", "--from", "0", "frames-dlq"}, "--offset and --from/--to", true},
		{[]string{"show", "--from", "3", "--to", "2", "frames-dlq"}, "--to 2 is before --from 3", true},
		{[]string{"show", "--partition", "4", "frames-dlq"}, "has no partition 4", false},
	} {
		out, err := runDLQ(t, brokers, file, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) || errors.Is(err, errUsage) != c.usage {
			t.Errorf("corb dlq %s: %v (usage %v); want %q\n%s", strings.Join(c.args, " "), err, errors.Is(err, errUsage), c.want, out)
		}
	}
}

// readTopic reads n committed records of a physical topic.
func readTopic(t *testing.T, brokers, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers), kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("%s: %d of %d records", topic, len(out), n)
		}
		out = append(out, fs.Records()...)
	}
	if len(out) != n {
		t.Fatalf("%s holds %d records, want %d", topic, len(out), n)
	}
	return out
}
