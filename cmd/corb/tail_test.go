package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/corb-dev/corb/operators/runtime"
	"github.com/corb-dev/corb/schemas"
	"github.com/corb-dev/corb/topology"
)

// tailFixture is a kfake cluster with the topics of testTopology applied and
// records on them, at timestamps relative to now.
type tailFixture struct {
	brokers, file string
	now           time.Time
}

// newTailFixture writes, in namespace "site":
//
//	frames[0]: @0 lobby-0 (now-3h), @1 aborted (now-1h), @2 abort marker,
//	           @3 lobby-1 in a committed transaction (now-1h), @4 commit marker
//	frames[1]: @0 hall-0 (now-30m), @1 commit marker
//	copies[0]: @0 "not avro" (an Avro topic's undecodable value)
//	frames-dlq[0]: @0 the dead letter of frames[0]@0, by operator copy
//	usage[0]: @0 JSON, @1 text, @2 binary, @3 a tombstone
//
// Every partition but frames[0]'s ends in a transaction marker, which tail
// must see past to stop.
func newTailFixture(t *testing.T) *tailFixture {
	t.Helper()
	ctx := context.Background()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	f := &tailFixture{brokers: cluster.ListenAddrs()[0], file: testTopology(t, "site"), now: time.Now().Truncate(time.Millisecond)}
	spec, err := topology.Load(f.file)
	if err != nil {
		t.Fatal(err)
	}
	client := func(opts ...kgo.Opt) *kgo.Client {
		cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(f.brokers), kgo.RecordPartitioner(kgo.ManualPartitioner())}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		return cl
	}
	plain, txn := client(), client(kgo.TransactionalID("tail-test"))
	adm := kadm.NewClient(plain)
	plan, err := topology.MakePlan(ctx, adm, spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := topology.Apply(ctx, adm, plan, topology.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	frame := func(camera string, seq int64) []byte {
		b, err := schemas.Marshal(&schemas.Frame{CameraID: camera, Source: "/media/" + camera + ".mp4", Seq: seq,
			CaptureTime: time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC), Width: 2, Height: 1,
			Encoding: schemas.EncodingJPEG, Image: []byte{0xff, 0xd8, 0xff, 0xd9}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	rec := func(topic string, p int32, key string, value []byte, ago time.Duration, headers ...string) *kgo.Record {
		r := &kgo.Record{Topic: spec.Names().Topic(topic), Partition: p, Value: value, Timestamp: f.now.Add(-ago)}
		if key != "" {
			r.Key = []byte(key)
		}
		for i := 0; i+1 < len(headers); i += 2 {
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: headers[i], Value: []byte(headers[i+1])})
		}
		return r
	}
	produce := func(cl *kgo.Client, rs ...*kgo.Record) {
		t.Helper()
		if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	inTxn := func(commit kgo.TransactionEndTry, rs ...*kgo.Record) {
		t.Helper()
		if err := txn.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		produce(txn, rs...)
		if err := txn.EndTransaction(ctx, commit); err != nil {
			t.Fatal(err)
		}
	}
	produce(plain, rec("frames", 0, "lobby", frame("lobby", 0), 3*time.Hour))
	inTxn(kgo.TryAbort, rec("frames", 0, "lobby", frame("aborted", 9), time.Hour))
	inTxn(kgo.TryCommit, rec("frames", 0, "lobby", frame("lobby", 1), time.Hour))
	inTxn(kgo.TryCommit,
		rec("frames", 1, "hall", frame("hall", 0), 30*time.Minute),
		rec("copies", 0, "x", []byte("not avro"), time.Minute),
		rec("frames-dlq", 0, "lobby", frame("lobby", 0), 2*time.Minute, "trace", "t-1",
			runtime.HeaderError, "decode: boom", runtime.HeaderReason, "permanent", runtime.HeaderOperator, "copy",
			runtime.HeaderTopic, "site.frames", runtime.HeaderPartition, "0", runtime.HeaderOffset, "0",
			runtime.HeaderTime, "2026-05-01T10:00:01Z"),
		rec("usage", 0, "kitchen", []byte(`{"visits": 3, "person_minutes": 1.5}`), time.Minute),
		rec("usage", 0, "hall", []byte("plain text"), time.Minute),
		rec("usage", 0, "bin", []byte{0xff, 0xfe, 0x00}, time.Minute),
		rec("usage", 0, "gone", nil, time.Minute),
	)
	return f
}

// run runs `corb tail` on the fixture and returns its output lines. It fails
// the test if tail did not stop by itself.
func (f *tailFixture) run(t *testing.T, args ...string) ([]string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := runApp(ctx, append([]string{"tail", "--topology", f.file, "--brokers", f.brokers}, args...)...)
	if ctx.Err() != nil {
		t.Fatalf("corb tail %s did not stop at the end offsets; printed:\n%s", strings.Join(args, " "), out)
	}
	return strings.Split(strings.TrimSuffix(out, "\n"), "\n"), err
}

// jsonLines decodes tail's JSON lines.
func jsonLines(t *testing.T, lines []string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range lines {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not a JSON line: %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

// where is "partition@offset" of each record.
func where(recs []map[string]any) []string {
	var out []string
	for _, r := range recs {
		out = append(out, jsonString(r["partition"])+"@"+jsonString(r["offset"]))
	}
	return out
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return strings.Trim(string(b), `"`)
}

// get follows a path of keys through decoded JSON.
func get(v any, path ...string) any {
	for _, k := range path {
		m, _ := v.(map[string]any)
		v = m[k]
	}
	return v
}

func TestTailSelectsRecords(t *testing.T) {
	f := newTailFixture(t)
	for _, c := range []struct {
		name string
		args []string
		want []string // partition@offset, in partition order
	}{
		{"committed by default, stops past trailing markers", []string{"frames"}, []string{"0@0", "0@3", "1@0"}},
		{"uncommitted shows the aborted record", []string{"--uncommitted", "frames"}, []string{"0@0", "0@1", "0@3", "1@0"}},
		{"one partition", []string{"--partition", "1", "frames"}, []string{"1@0"}},
		{"from the end: nothing yet", []string{"--from", "end", "frames"}, nil},
		{"from a duration ago", []string{"--from", "2h", "frames"}, []string{"0@3", "1@0"}},
		// By time, per partition: the first offset at or after it (a marker
		// written now, in frames[0], would let older records after it in).
		{"from a time", []string{"--partition", "1", "--from", f.now.Add(-45 * time.Minute).Format(time.RFC3339Nano), "frames"}, []string{"1@0"}},
		{"from a later time", []string{"--partition", "1", "--from", f.now.Add(-20 * time.Minute).Format(time.RFC3339Nano), "frames"}, nil},
		{"at most one", []string{"--max", "1", "--partition", "0", "frames"}, []string{"0@0"}},
		{"by physical name", []string{"site.frames"}, []string{"0@0", "0@3", "1@0"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			lines, err := f.run(t, c.args...)
			if err != nil {
				t.Fatal(err)
			}
			recs := jsonLines(t, lines)
			got := where(recs)
			slices.Sort(got)
			if !slices.Equal(got, c.want) {
				t.Fatalf("got records %v, want %v\n%s", got, c.want, strings.Join(lines, "\n"))
			}
			for _, r := range recs {
				if r["topic"] != "frames" || r["encoding"] != "avro" || r["schema"] != "corb.Frame" {
					t.Errorf("record not decoded as a corb.Frame of frames: %v", r)
				}
			}
		})
	}
}

// The offsets above assume the layout documented on newTailFixture; this
// checks it against the broker.
func TestTailFixtureOffsets(t *testing.T) {
	f := newTailFixture(t)
	lines, err := f.run(t, "--uncommitted", "--partition", "0", "frames")
	if err != nil {
		t.Fatal(err)
	}
	var cams []string
	for _, r := range jsonLines(t, lines) {
		cams = append(cams, jsonString(r["offset"])+":"+jsonString(get(r, "value", "camera_id")))
	}
	if want := []string{"0:lobby", "1:aborted", "3:lobby"}; !slices.Equal(cams, want) {
		t.Fatalf("frames[0] holds %v, want %v", cams, want)
	}
}

func TestTailDecodes(t *testing.T) {
	f := newTailFixture(t)

	lines, err := f.run(t, "frames-dlq")
	if err != nil {
		t.Fatal(err)
	}
	recs := jsonLines(t, lines)
	if len(recs) != 1 {
		t.Fatalf("want one dead letter, got %v", lines)
	}
	d := recs[0]
	for path, want := range map[string]any{
		"dead_letter.reason": "permanent", "dead_letter.error": "decode: boom", "dead_letter.operator": "copy",
		"dead_letter.source.topic": "frames", "dead_letter.source.partition": 0.0, "dead_letter.source.offset": 0.0,
		"dead_letter.time": "2026-05-01T10:00:01Z", "key": "lobby",
		"encoding": "avro", "schema": "corb.Frame", "value.camera_id": "lobby", "value.encoding": "JPEG",
		"value.image": "/9j/2Q==", "value.capture_time": "2026-05-01T10:00:00Z",
	} {
		if got := get(d, strings.Split(path, ".")...); got != want {
			t.Errorf("%s = %#v, want %#v", path, got, want)
		}
	}
	if !strings.Contains(lines[0], `"value":{"camera_id":"lobby","source":`) {
		t.Errorf("fields are not in schema order: %s", lines[0])
	}

	lines, err = f.run(t, "usage")
	if err != nil {
		t.Fatal(err)
	}
	recs = jsonLines(t, lines)
	want := []struct {
		key, encoding string
		value         any
	}{
		{"kitchen", "json", map[string]any{"visits": 3.0, "person_minutes": 1.5}},
		{"hall", "text", "plain text"},
		{"bin", "base64", "//4A"},
		{"gone", "null", nil},
	}
	if len(recs) != len(want) {
		t.Fatalf("got %d usage records, want %d:\n%s", len(recs), len(want), strings.Join(lines, "\n"))
	}
	for i, w := range want {
		r := recs[i]
		if r["key"] != w.key || r["encoding"] != w.encoding || jsonString(r["value"]) != jsonString(w.value) {
			t.Errorf("usage record %d: key %v, encoding %v, value %v; want %s, %s, %v", i, r["key"], r["encoding"], r["value"], w.key, w.encoding, w.value)
		}
	}

	lines, err = f.run(t, "copies")
	if err != nil {
		t.Fatal(err)
	}
	if recs = jsonLines(t, lines); len(recs) != 1 || recs[0]["value"] != "not avro" ||
		!strings.Contains(jsonString(recs[0]["error"]), "not a corb.Frame record") {
		t.Errorf("an undecodable Avro value should be shown as text with the error: %v", lines)
	}
}

func TestTailLineFormat(t *testing.T) {
	f := newTailFixture(t)
	for _, c := range []struct {
		topic string
		want  []string // substrings of the lines, in order
	}{
		{"frames-dlq", []string{
			"frames-dlq[0]@0 ", " key=lobby ✗ permanent in copy: decode: boom; from frames[0]@0 at 2026-05-01T10:00:01Z; ",
			"corb.Frame v1 {camera_id=lobby source=/media/lobby.mp4 seq=0 capture_time=2026-05-01T10:00:00Z",
			"image=<4 bytes>", " headers: trace=t-1"}},
		{"usage", []string{`usage[0]@0 `, ` key=kitchen {"visits":3,"person_minutes":1.5}`,
			` key=hall "plain text"`, ` key=bin base64://4A`, ` key=gone null`}},
	} {
		t.Run(c.topic, func(t *testing.T) {
			lines, err := f.run(t, "--format", "line", c.topic)
			if err != nil {
				t.Fatal(err)
			}
			out := strings.Join(lines, "\n")
			rest := out
			for _, w := range c.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("output lacks %q (in order):\n%s", w, out)
				}
				rest = rest[i+len(w):]
			}
			if strings.Contains(out, "corb.error") {
				t.Errorf("a dead letter's corb.* headers should be shown once, as its reason:\n%s", out)
			}
		})
	}
}

func TestTailRefuses(t *testing.T) {
	f := newTailFixture(t)
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown topic", []string{"framez"}, `no topic "framez"; its topics: frames, copies, usage, frames-dlq`},
		{"bad --from", []string{"--from", "yesterday", "frames"}, `--from "yesterday": want start, end`},
		{"bad --format", []string{"--format", "xml", "frames"}, `--format "xml"`},
		{"no such partition", []string{"--partition", "7", "frames"}, "--partition 7: site.frames has partitions 0 to 1"},
		{"topic not on the cluster", []string{"--namespace", "elsewhere", "frames"}, "elsewhere.frames"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := f.run(t, c.args...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error with %q", err, c.want)
			}
		})
	}
}

// --follow prints records produced after it started, and stops cleanly when
// interrupted.
func TestTailFollow(t *testing.T) {
	f := newTailFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, w := io.Pipe()
	lines := make(chan string)
	go func() {
		defer close(lines)
		for sc := bufio.NewScanner(out); sc.Scan(); {
			lines <- sc.Text()
		}
	}()
	done := make(chan error, 1)
	go func() {
		app := newApp()
		app.Writer = w
		done <- app.Run(ctx, []string{"corb", "tail", "-F", "--from", "end", "--topology", f.file, "--brokers", f.brokers, "usage"})
		w.Close()
	}()
	cl, err := kgo.NewClient(kgo.SeedBrokers(f.brokers))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	// Produced until seen: tail may not have listed its end offsets yet.
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(20 * time.Second)
	for seen := false; !seen; {
		select {
		case l := <-lines:
			if strings.Contains(l, `"key":"kitchen"`) {
				t.Errorf("--from end printed an older record: %s", l)
			}
			seen = strings.Contains(l, `"key":"new"`)
		case <-tick.C:
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "site.usage", Key: []byte("new"), Value: []byte("1")}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		case <-deadline:
			t.Fatal("the record produced while following was not printed")
		}
	}
	go func() {
		for range lines { // what tail still prints
		}
	}()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("interrupted tail -F: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("tail -F did not stop when interrupted")
	}
}
