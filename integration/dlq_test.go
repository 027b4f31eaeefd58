//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/corb-dev/corb/connectors/dlq"
	"github.com/corb-dev/corb/integration/kafkatest"
	"github.com/corb-dev/corb/operators/presence/presencetest"
	"github.com/corb-dev/corb/operators/runtime"
	"github.com/corb-dev/corb/schemas"
)

// writeZones writes a zones file of the first n synthetic zones, each seen
// whole by its own camera.
func writeZones(t *testing.T, file string, n int) {
	t.Helper()
	var zf strings.Builder
	zf.WriteString("zones:\n")
	for i := range n {
		id := presencetest.ZoneID(i)
		fmt.Fprintf(&zf, "  - id: %s\n    cameras:\n      - camera: cam-%s\n        polygon: [[0, 0], [1, 0], [1, 1], [0, 1]]\n", id, id)
	}
	if err := os.WriteFile(file, []byte(zf.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// corbDLQ runs `corb dlq args...` against the test's topology and returns
// its output.
func (e *presenceEnv) corbDLQ(args ...string) string {
	e.t.Helper()
	p := startCorb(e.t, "dlq-"+args[0], append([]string{"dlq", args[0], "--topology", e.topology, "--brokers", e.brokers[0]}, args[1:]...)...)
	if err := p.wait(2 * time.Minute); err != nil {
		e.t.Fatalf("corb dlq %s: %v", strings.Join(args, " "), err)
	}
	return p.log.String()
}

func (e *presenceEnv) replay(args ...string) (dlq.Report, time.Duration) {
	e.t.Helper()
	start := time.Now()
	out := e.corbDLQ(append([]string{"replay", "--format", "json", "--reason", "unknown zone"}, append(args, "zone-counts-dlq")...)...)
	var rep dlq.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		e.t.Fatalf("corb dlq replay %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return rep, time.Since(start)
}

// crashedReplay leaves what a replay killed in its transaction leaves: n
// letters after offset mid re-driven to zone-counts, and their markers,
// in a transaction of the replay's transactional id that never ends (its
// timeout is longer than the test). The next replay must abort it as it
// takes the id, so that presence never reads these copies.
func (e *presenceEnv) crashedReplay(mid int64, n int) {
	t := e.t
	t.Helper()
	cl := kafkatest.NewClient(t, e.brokers, kgo.TransactionalID(e.ns+".dlq-replay-zone-counts-dlq"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.TransactionTimeout(10*time.Minute))
	var recs []*kgo.Record
	for _, r := range kafkatest.ConsumeAll(t, e.brokers, e.ns+".zone-counts-dlq", len(e.input), 10*time.Second, true) {
		if r.Offset <= mid || len(recs) >= 2*n {
			continue
		}
		l := dlq.Parse(r)
		m, err := json.Marshal(dlq.Marker{From: l.Ref(), To: l.Source, At: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, l.Replay(), &kgo.Record{Topic: e.ns + ".zone-counts-dlq.replayed", Key: []byte(l.Ref().String()), Value: m})
	}
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(t.Context(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	t.Logf("a crashed replay: %d letters and their markers in a transaction left open", len(recs)/2)
}

// The Must-show of issue 12, on the real broker with the real operator: a
// zone's counts reach presence before its zones file knows the zone, so
// every one is dead-lettered (unknown zone, permanent); the zones file is
// fixed and presence restarted; `corb dlq replay` sends the letters back to
// zone-counts: the zone's events are then exactly those of an uninterrupted
// run with the right zones file — each count processed once — and replaying
// the same range again, or everything again, sends nothing.
func TestDLQReplayAfterTheZonesFileIsFixed(t *testing.T) {
	const zones, seconds = 4, 20 // z003 is the zone the first zones file lacks
	brokers := kafkatest.Brokers(t)
	ns := kafkatest.Unique(t, "dlq")
	dir := t.TempDir()
	zonesFile, file := filepath.Join(dir, "zones.yaml"), filepath.Join(dir, "topology.yaml")
	writeZones(t, zonesFile, zones-1)
	if err := os.WriteFile(file, []byte(fmt.Sprintf(presenceTopology, ns, zonesFile)), 0o644); err != nil {
		t.Fatal(err)
	}
	applyTopology(t, brokers, file, "")

	input := presencetest.Stream(zones, seconds, 11)
	late := presencetest.ZoneID(zones - 1)
	var known []schemas.ZoneCounts
	for _, zc := range input {
		if zc.ZoneID != late {
			known = append(known, zc)
		}
	}
	poison := len(input) - len(known)
	before, err := presencetest.Expected(presencetest.Config(zones-1), known)
	if err != nil {
		t.Fatal(err)
	}
	after, err := presencetest.Expected(presencetest.Config(zones), input)
	if err != nil {
		t.Fatal(err)
	}
	e := &presenceEnv{t: t, brokers: brokers, ns: ns, topology: file, input: input,
		want: presencetest.IDs(before), nEvents: presencetest.Count(before)}

	// 1. The zones file lacks z003: its counts are dead-lettered.
	p := e.run("0")
	if err := e.produce(t.Context()); err != nil {
		t.Fatal(err)
	}
	e.check() // the known zones' events, exactly
	var listed struct {
		Letters, Replayed int
		ByOperator        map[string]int `json:"by_operator"`
		ByReason          map[string]int `json:"by_reason"`
		Groups            []dlq.Group
	}
	out := e.corbDLQ("list", "--format", "json", "zone-counts-dlq")
	if err := json.Unmarshal([]byte(out), &listed); err != nil {
		t.Fatalf("corb dlq list: %v\n%s", err, out)
	}
	if listed.Letters != poison || listed.Replayed != 0 || listed.ByOperator["presence"] != poison || listed.ByReason["permanent"] != poison ||
		len(listed.Groups) != 1 || !strings.Contains(listed.Groups[0].Error, "unknown zone") || !strings.Contains(listed.Groups[0].Error, late) {
		t.Fatalf("corb dlq list: %d letters (want %d of %s), %+v\n%s", listed.Letters, poison, late, listed, out)
	}
	t.Logf("%d input records, %d of zone %s dead-lettered: %q", len(input), poison, late, listed.Groups[0].Error)
	var offsets []int64 // of the letters, in order
	for _, l := range strings.Split(strings.TrimSpace(e.corbDLQ("show", "--format", "json", "zone-counts-dlq")), "\n") {
		var rec struct {
			Offset     int64
			DeadLetter struct{ Source struct{ Topic string } } `json:"dead_letter"`
			Value      struct {
				ZoneID string `json:"zone_id"`
			}
		}
		if err := json.Unmarshal([]byte(l), &rec); err != nil || rec.Value.ZoneID != late || rec.DeadLetter.Source.Topic != "zone-counts" {
			t.Fatalf("corb dlq show: %q (%v): want a count of %s from zone-counts", l, err, late)
		}
		offsets = append(offsets, rec.Offset)
	}
	if len(offsets) != poison {
		t.Fatalf("corb dlq show printed %d letters, want %d", len(offsets), poison)
	}

	// 2. The fix: the zones file gets z003, presence restarts on it.
	p.stop(20 * time.Second)
	writeZones(t, zonesFile, zones)
	p = e.run("0")
	e.want, e.nEvents = presencetest.IDs(after), presencetest.Count(after)

	// 3. Replay the first half, the same half again, then (after a replay
	// that died in its transaction) everything, twice.
	mid := offsets[poison/2-1]
	half := fmt.Sprint(mid)
	rep, took := e.replay("--to", half)
	if len(rep.Replayed) != poison/2 || len(rep.Skipped) != 0 || len(rep.Refused) != 0 {
		t.Fatalf("replay --to %s: replayed %d, skipped %d, refused %v; want %d, 0, none", half, len(rep.Replayed), len(rep.Skipped), rep.Refused, poison/2)
	}
	t.Logf("replay --to %s: %d letters in %d transaction(s), %v", half, len(rep.Replayed), rep.Transactions, took.Round(time.Millisecond))
	rep, took = e.replay("--to", half)
	if len(rep.Replayed) != 0 || len(rep.Skipped) != poison/2 {
		t.Fatalf("replay --to %s again: replayed %d, skipped %d; want 0, %d", half, len(rep.Replayed), len(rep.Skipped), poison/2)
	}
	t.Logf("replay --to %s again: 0 replayed, %d skipped, %v", half, len(rep.Skipped), took.Round(time.Millisecond))
	e.crashedReplay(mid, 10)
	rep, took = e.replay()
	if len(rep.Replayed) != poison-poison/2 || len(rep.Skipped) != poison/2 || rep.Replayed[0].From.Offset <= mid {
		t.Fatalf("replay everything: replayed %d, skipped %d; want %d, %d", len(rep.Replayed), len(rep.Skipped), poison-poison/2, poison/2)
	}
	t.Logf("replay everything: %d replayed, %d skipped, %v", len(rep.Replayed), len(rep.Skipped), took.Round(time.Millisecond))

	e.waitCommitted(int64(len(input)+poison), 2*time.Minute, p)
	if rep, _ := e.replay(); len(rep.Replayed) != 0 || len(rep.Skipped) != poison {
		t.Fatalf("replay everything again: replayed %d, skipped %d; want 0, %d", len(rep.Replayed), len(rep.Skipped), poison)
	}
	e.check() // every zone's events, z003's included, exactly once: as an uninterrupted run with the fixed file
	// Everything on zone-counts was consumed: its records, and the markers
	// of the replay's transactions (which take offsets too).
	ends, err := kadm.NewClient(kafkatest.NewClient(t, brokers)).ListEndOffsets(context.Background(), ns+".zone-counts")
	if err != nil {
		t.Fatal(err)
	}
	var end int64
	ends.Each(func(o kadm.ListedOffset) { end += o.Offset })
	if c, err := e.committed(); err != nil || c != end {
		t.Fatalf("presence committed offsets summing to %d (%v), want the end offsets' %d", c, err, end)
	}

	// The replayed counts are the originals, saying where they came from.
	recs := kafkatest.ConsumeAll(t, brokers, ns+".zone-counts", len(input)+poison, 30*time.Second, true)
	replayed := 0
	for _, r := range recs {
		if from, ok := runtime.Header(r, dlq.HeaderReplayedFrom); ok {
			if string(r.Key) != late || !strings.HasPrefix(from, ns+".zone-counts-dlq/0/") {
				t.Fatalf("replayed record keyed %q from %q", r.Key, from)
			}
			if _, dead := runtime.Header(r, runtime.HeaderError); dead {
				t.Fatalf("replayed record %s kept corb.error", from)
			}
			replayed++
		}
	}
	if len(recs) != len(input)+poison || replayed != poison {
		t.Fatalf("zone-counts holds %d records, %d of them replayed; want %d and %d", len(recs), replayed, len(input)+poison, poison)
	}
	out = e.corbDLQ("list", "zone-counts-dlq")
	if !strings.Contains(out, fmt.Sprintf("zone-counts-dlq  %d", poison)) {
		t.Errorf("corb dlq list:\n%s", out)
	}
	t.Logf("after the replays:\n%s", out)
	p.stop(20 * time.Second)
}
