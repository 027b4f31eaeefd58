//go:build integration

package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/corb-dev/corb/integration/kafkatest"
	"github.com/corb-dev/corb/operators/presence/presencetest"
	"github.com/corb-dev/corb/schemas"
)

// The counts of presencetest.Stream are timestamped in March 2026: the
// topics that hold them keep them (retention.ms -1), or the broker's
// retention check (every 5 minutes, 7 days by default) deletes them mid-test.
const presenceTopology = `namespace: %s
topics:
  - name: zone-counts
    partitions: 6
    schema: corb.ZoneCounts
    configs: {retention.ms: "-1"}
  - name: events
    partitions: 6
    schema: corb.PresenceEvent
    configs: {retention.ms: "-1"}
  - name: occupancy
    partitions: 6
    schema: corb.PresenceEvent
    configs: {cleanup.policy: compact}
  - name: presence-state
    partitions: 6
    schema: bytes
    configs: {cleanup.policy: compact}
  - name: zone-counts-dlq
    schema: bytes
    configs: {retention.ms: "-1"}
operators:
  - name: presence
    kind: presence
    inputs: [zone-counts]
    outputs: [events, occupancy]
    state: [presence-state]
    stateful: true
    on_failure: zone-counts-dlq
    replicas: 2
    config:
      zones_file: %s
      size: 1s
      grace: 500ms
      enter_after: 2s
      vacate_after: 3s
      stale_after: 1h   # no STALE: the wall clock must not make runs differ
`

const (
	presenceZones   = 48
	presenceSeconds = 60 // 48 zones × 600 frames = 28 800 records
)

// presenceEnv is one isolated presence pipeline on the real broker.
type presenceEnv struct {
	t        *testing.T
	brokers  []string
	ns       string
	topology string
	input    []schemas.ZoneCounts
	want     map[string][]string // zone → event ids of an uninterrupted run
	nEvents  int
}

func newPresenceEnv(t *testing.T) *presenceEnv {
	brokers := kafkatest.Brokers(t)
	ns := kafkatest.Unique(t, "presence")
	dir := t.TempDir()
	var zf strings.Builder
	zf.WriteString("zones:\n")
	for i := range presenceZones {
		id := presencetest.ZoneID(i)
		fmt.Fprintf(&zf, "  - id: %s\n    cameras:\n      - camera: cam-%s\n        polygon: [[0, 0], [1, 0], [1, 1], [0, 1]]\n", id, id)
	}
	zonesFile := filepath.Join(dir, "zones.yaml")
	if err := os.WriteFile(zonesFile, []byte(zf.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "topology.yaml")
	if err := os.WriteFile(file, []byte(fmt.Sprintf(presenceTopology, ns, zonesFile)), 0o644); err != nil {
		t.Fatal(err)
	}
	compact, keep := map[string]string{"cleanup.policy": "compact"}, map[string]string{"retention.ms": "-1"} // see presenceTopology
	kafkatest.CreateTopic(t, brokers, ns+".zone-counts", 6, keep)
	kafkatest.CreateTopic(t, brokers, ns+".events", 6, keep)
	kafkatest.CreateTopic(t, brokers, ns+".occupancy", 6, compact)
	kafkatest.CreateTopic(t, brokers, ns+".presence-state", 6, compact)
	kafkatest.CreateTopic(t, brokers, ns+".zone-counts-dlq", 1, keep)

	cfg := presencetest.Config(presenceZones)
	input := presencetest.Stream(presenceZones, presenceSeconds, 7)
	exp, err := presencetest.Expected(cfg, input)
	if err != nil {
		t.Fatal(err)
	}
	return &presenceEnv{t: t, brokers: brokers, ns: ns, topology: file, input: input,
		want: presencetest.IDs(exp), nEvents: presencetest.Count(exp)}
}

func (e *presenceEnv) run(instance string) *proc {
	return startCorb(e.t, "presence/"+instance, "run", "--topology", e.topology, "--brokers", e.brokers[0],
		"--instance", instance, "--admin-addr", "127.0.0.1:0", "--max-batch", "200", "--shutdown-timeout", "10s", "presence")
}

// produce writes the input in capture-time order, one second of frames
// (all zones) per chunk with short pauses, so operators see a stream.
func (e *presenceEnv) produce(ctx context.Context) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.brokers...))
	if err != nil {
		return err
	}
	defer cl.Close()
	chunk := presenceZones * presencetest.FPS
	for start := 0; start < len(e.input); start += chunk {
		var recs []*kgo.Record
		for _, zc := range e.input[start:min(start+chunk, len(e.input))] {
			v, err := schemas.Marshal(&zc)
			if err != nil {
				return err
			}
			recs = append(recs, &kgo.Record{Topic: e.ns + ".zone-counts", Key: []byte(zc.ZoneID), Value: v, Timestamp: zc.CaptureTime})
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(40 * time.Millisecond):
		}
	}
	return nil
}

// committed is how many input records the group has committed, over all partitions.
func (e *presenceEnv) committed() (int64, error) {
	adm := kadm.NewClient(kafkatest.NewClient(e.t, e.brokers))
	offs, err := adm.FetchOffsets(context.Background(), e.ns+".presence")
	if err != nil {
		return 0, err
	}
	var n int64
	offs.Each(func(o kadm.OffsetResponse) {
		if o.Topic == e.ns+".zone-counts" && o.Err == nil {
			n += o.At
		}
	})
	return n, nil
}

// waitCommitted waits until the group committed at least n input records.
func (e *presenceEnv) waitCommitted(n int64, timeout time.Duration, procs ...*proc) {
	kafkatest.WaitFor(e.t, timeout, func() (bool, error) {
		for _, p := range procs {
			if err := p.exited(); err != nil {
				return false, fmt.Errorf("%w: %v", kafkatest.ErrGiveUp, err)
			}
		}
		c, err := e.committed()
		return err == nil && c >= n, nil
	})
}

// check reads the events read_committed and requires, zone by zone, exactly the
// event ids of an uninterrupted run, in order.
func (e *presenceEnv) check() {
	t := e.t
	e.waitCommitted(int64(len(e.input)), 3*time.Minute)
	got := kafkatest.ConsumeAll(t, e.brokers, e.ns+".events", e.nEvents+1, 10*time.Second, true)
	byZone := map[string][]string{}
	for _, r := range got {
		var ev schemas.PresenceEvent
		if err := schemas.Unmarshal(r.Value, &ev); err != nil {
			t.Fatal(err)
		}
		if string(r.Key) != ev.ZoneID {
			t.Fatalf("event of %s keyed %q", ev.ZoneID, r.Key)
		}
		byZone[ev.ZoneID] = append(byZone[ev.ZoneID], ev.EventID)
	}
	if len(got) != e.nEvents || !reflect.DeepEqual(byZone, e.want) {
		bad := 0
		for z, w := range e.want {
			if !reflect.DeepEqual(byZone[z], w) {
				if bad++; bad <= 5 {
					t.Errorf("zone %s: %d events, want %d", z, len(byZone[z]), len(w))
				}
			}
		}
		t.Fatalf("read %d events, an uninterrupted run yields %d; %d zones differ", len(got), e.nEvents, bad)
	}
	t.Logf("%d input records, %d events over %d zones, identical to an uninterrupted run", len(e.input), len(got), len(byZone))
}

func (e *presenceEnv) produceInBackground() <-chan error {
	ctx, cancel := context.WithCancel(context.Background())
	e.t.Cleanup(cancel)
	done := make(chan error, 1)
	go func() { done <- e.produce(ctx) }()
	return done
}

func TestPresenceUninterrupted(t *testing.T) {
	e := newPresenceEnv(t)
	produced := e.produceInBackground()
	p := e.run("0")
	if err := <-produced; err != nil {
		t.Fatal(err)
	}
	e.check()
	p.stop(20 * time.Second)
}

func TestPresenceSurvivesSIGKILL(t *testing.T) {
	e := newPresenceEnv(t)
	produced := e.produceInBackground()
	p := e.run("0")
	total := int64(len(e.input))
	for round, frac := range []int64{4, 2} { // kill after a quarter, then after half the input
		e.waitCommitted(total/frac, 2*time.Minute, p)
		p.kill9()
		c, _ := e.committed()
		t.Logf("round %d: SIGKILL with %d of %d input records committed", round, c, total)
		p = e.run("0")
	}
	if err := <-produced; err != nil {
		t.Fatal(err)
	}
	e.check()
	if !strings.Contains(p.log.String(), "state restored") {
		t.Error("the restarted process logged no state restore")
	}
	p.stop(20 * time.Second)
}

func TestPresenceSecondInstanceTakesHalfThePartitions(t *testing.T) {
	e := newPresenceEnv(t)
	produced := e.produceInBackground()
	a := e.run("0")
	total := int64(len(e.input))
	e.waitCommitted(total/4, 2*time.Minute, a)
	b := e.run("1") // joins: takes half the partitions, restoring their state from the changelog
	if err := <-produced; err != nil {
		t.Fatal(err)
	}
	e.check()
	restored := strings.Count(b.log.String(), "state restored")
	if restored == 0 {
		t.Error("the second instance restored no partition: it never took any over")
	}
	t.Logf("the second instance restored %d partition(s)", restored)
	b.stop(20 * time.Second)
	a.stop(20 * time.Second)
}

const vtestTopology = `namespace: %s
topics:
  - name: frames
    partitions: 1
    schema: corb.Frame
    configs: {max.message.bytes: "4194304"}
  - name: detections
    partitions: 1
    schema: corb.Detections
  - name: zone-counts
    partitions: 3
    schema: corb.ZoneCounts
  - name: events
    partitions: 3
    schema: corb.PresenceEvent
  - name: occupancy
    partitions: 3
    schema: corb.PresenceEvent
    configs: {cleanup.policy: compact}
  - name: presence-state
    partitions: 3
    schema: bytes
    configs: {cleanup.policy: compact}
  - name: dlq
    schema: bytes
operators:
  - name: detect
    kind: detect
    inputs: [frames]
    outputs: [detections]
    on_failure: dlq
    config: {max_batch: 4, threads: 2}
  - name: zones
    kind: zones
    inputs: [detections]
    outputs: [zone-counts]
    on_failure: dlq
    config: {zones_file: %[2]s}
  - name: presence
    kind: presence
    inputs: [zone-counts]
    outputs: [events, occupancy]
    state: [presence-state]
    stateful: true
    on_failure: dlq
    config:
      zones_file: %[2]s
      vacate_after: 5s
      stale_after: 1h
`

// vtestPeaks are the labelled ranges of the peak occupancy (the highest count
// OCCUPIED and COUNT_CHANGED events report; windowed medians of the detector's
// counts) of each zone of deploy/zones.yaml over the first vtestFrames frames
// of vtest.avi. Labels from the frames with the polygons drawn on them:
// frame 30 has 5 people on the walkway (three in a group by the lamp post, two
// on its sweep to the right) and 0 on the crossing; frame 125 has 2 on the
// walkway and 5 on the crossing; frame 185 has 2 on the walkway and 4-5 on the
// crossing (one on its edge); nobody steps on the lawn. The ranges allow one
// occluded person less, or one more than the frames looked at.
var vtestPeaks = map[string][2]int32{
	"walkway":  {3, 6},
	"crossing": {3, 6},
	"lawn":     {0, 1},
}

const vtestFrames = 300 // 30 s at 10 fps

// TestPresenceOverVtest runs detect → zones → presence over the first 30 s
// of vtest.avi (camera "vtest" of deploy/zones.yaml) and checks the events
// against the labels above: the footpath, where people walk all the time,
// becomes OCCUPIED, and each zone's peak count is in its labelled range.
func TestPresenceOverVtest(t *testing.T) {
	path := needDetector(t)
	brokers := kafkatest.Brokers(t)
	ns := kafkatest.Unique(t, "vtest")
	zonesFile, err := filepath.Abs("../deploy/zones.yaml")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "topology.yaml")
	if err := os.WriteFile(file, []byte(fmt.Sprintf(vtestTopology, ns, zonesFile)), 0o644); err != nil {
		t.Fatal(err)
	}
	kafkatest.CreateTopic(t, brokers, ns+".frames", 1, map[string]string{"max.message.bytes": "4194304"})
	kafkatest.CreateTopic(t, brokers, ns+".detections", 1, nil)
	for _, tp := range []string{"zone-counts", "events"} {
		kafkatest.CreateTopic(t, brokers, ns+"."+tp, 3, nil)
	}
	for _, tp := range []string{"occupancy", "presence-state"} {
		kafkatest.CreateTopic(t, brokers, ns+"."+tp, 3, map[string]string{"cleanup.policy": "compact"})
	}
	kafkatest.CreateTopic(t, brokers, ns+".dlq", 1, nil)

	frames := videoFrames(t, path, vtestFrames, presencetest.Start)
	for _, f := range frames {
		f.CameraID = "vtest"
	}
	p := startCorb(t, "pipeline", "run", "--topology", file, "--brokers", brokers[0], "--instance", "0",
		"--admin-addr", "127.0.0.1:0", "--max-batch", "8", "--shutdown-timeout", "20s", "detect", "zones", "presence")
	cl := kafkatest.NewClient(t, brokers, kgo.ProducerBatchMaxBytes(4<<20))
	for _, f := range frames {
		v, err := schemas.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		cl.Produce(context.Background(), &kgo.Record{Topic: ns + ".frames", Key: []byte(f.CameraID), Value: v, Timestamp: f.CaptureTime}, nil)
	}
	if err := cl.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}

	// Every frame's zone counts (3 zones per frame) committed by presence.
	kafkatest.WaitFor(t, 5*time.Minute, func() (bool, error) {
		if err := p.exited(); err != nil {
			return false, fmt.Errorf("%w: %v", kafkatest.ErrGiveUp, err)
		}
		adm := kadm.NewClient(kafkatest.NewClient(t, brokers))
		offs, err := adm.FetchOffsets(context.Background(), ns+".presence")
		if err != nil {
			return false, nil
		}
		var n int64
		offs.Each(func(o kadm.OffsetResponse) { n += o.At })
		return n >= int64(len(frames)*len(vtestPeaks)), nil
	})
	recs := kafkatest.ConsumeAll(t, brokers, ns+".events", 1, 10*time.Second, true)
	recs = kafkatest.ConsumeAll(t, brokers, ns+".events", len(recs)+1, 5*time.Second, true)
	peak := map[string]int32{}
	occupied := map[string]int{}
	for _, r := range recs {
		var ev schemas.PresenceEvent
		if err := schemas.Unmarshal(r.Value, &ev); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s %-13s count %d peak %d window %s", ev.ZoneID, ev.Type, ev.Count, ev.Peak, ev.WindowStart.Sub(presencetest.Start))
		peak[ev.ZoneID] = max(peak[ev.ZoneID], ev.Peak, ev.Count)
		if ev.Type == schemas.Occupied {
			occupied[ev.ZoneID]++
		}
	}
	if occupied["walkway"] == 0 {
		t.Error("the walkway never became OCCUPIED")
	}
	for z, r := range vtestPeaks {
		if peak[z] < r[0] || peak[z] > r[1] {
			t.Errorf("zone %s: peak %d, labelled %d..%d", z, peak[z], r[0], r[1])
		}
	}
	p.stop(30 * time.Second)
}
