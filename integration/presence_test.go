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

const presenceTopology = `namespace: %s
topics:
  - name: zone-counts
    partitions: 6
    schema: corb.ZoneCounts
  - name: events
    partitions: 6
    schema: corb.PresenceEvent
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
	compact := map[string]string{"cleanup.policy": "compact"}
	kafkatest.CreateTopic(t, brokers, ns+".zone-counts", 6, nil)
	kafkatest.CreateTopic(t, brokers, ns+".events", 6, nil)
	kafkatest.CreateTopic(t, brokers, ns+".occupancy", 6, compact)
	kafkatest.CreateTopic(t, brokers, ns+".presence-state", 6, compact)
	kafkatest.CreateTopic(t, brokers, ns+".zone-counts-dlq", 1, nil)

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
