package presence_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/corb-dev/corb/operators"
	"github.com/corb-dev/corb/operators/presence"
	"github.com/corb-dev/corb/operators/presence/presencetest"
	"github.com/corb-dev/corb/operators/runtime"
	"github.com/corb-dev/corb/operators/runtimetest"
	"github.com/corb-dev/corb/schemas"
)

const (
	inTopic    = "zone-counts"
	evTopic    = "events"
	occTopic   = "occupancy"
	stateTopic = "presence-state"
	dlqTopic   = "zone-counts-dlq"
)

func newOperator(t testing.TB, cfg presence.Config, reg prometheus.Registerer, clock func() time.Time) *presence.Operator {
	t.Helper()
	op, err := presence.NewOperator(cfg, presence.OperatorOptions{
		Name: "presence", Events: evTopic, Occupancy: occTopic, State: stateTopic, Registry: reg, Clock: clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	return op
}

func encode(t testing.TB, zc schemas.ZoneCounts) []byte {
	t.Helper()
	b, err := schemas.Marshal(&zc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// partitionOf spreads synthetic zones over partitions (direct tests only; through
// Kafka the producer's key hash decides).
func partitionOf(zone string, n int32) int32 {
	var h int32
	for _, c := range zone {
		h = h*31 + c
	}
	return (h & 0x7fffffff) % n
}

func records(t testing.TB, recs []schemas.ZoneCounts) []operators.Record {
	out := make([]operators.Record, len(recs))
	for i, zc := range recs {
		out[i] = operators.Record{Topic: inTopic, Partition: partitionOf(zc.ZoneID, 3), Offset: int64(i),
			Key: []byte(zc.ZoneID), Value: encode(t, zc), Timestamp: zc.CaptureTime}
	}
	return out
}

func decodeEvent(t testing.TB, b []byte) schemas.PresenceEvent {
	t.Helper()
	var ev schemas.PresenceEvent
	if err := schemas.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

// collector keeps what a direct (no Kafka) run produced: events by zone, the
// latest occupancy and state value by zone.
type collector struct {
	events    map[string][]string
	occupancy map[string]schemas.PresenceEvent
	state     map[string][]byte
}

func newCollector() *collector {
	return &collector{events: map[string][]string{}, occupancy: map[string]schemas.PresenceEvent{}, state: map[string][]byte{}}
}

func (c *collector) add(t testing.TB, outs []operators.Output) {
	t.Helper()
	for _, o := range outs {
		switch o.Topic {
		case evTopic:
			ev := decodeEvent(t, o.Value)
			if string(o.Key) != ev.ZoneID {
				t.Fatalf("event of %s keyed %q", ev.ZoneID, o.Key)
			}
			c.events[ev.ZoneID] = append(c.events[ev.ZoneID], ev.EventID)
		case occTopic:
			c.occupancy[string(o.Key)] = decodeEvent(t, o.Value)
		case stateTopic:
			c.state[string(o.Key)] = o.Value
		default:
			t.Fatalf("output to undeclared topic %q", o.Topic)
		}
	}
}

func process(t testing.TB, op *presence.Operator, c *collector, batch []operators.Record) {
	t.Helper()
	res, err := op.Process(context.Background(), batch)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != len(batch) {
		t.Fatalf("%d results for %d records", len(res), len(batch))
	}
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("record %d: %v", i, r.Err)
		}
		c.add(t, r.Outputs)
	}
}

func TestOperatorEmitsOccupiedAndVacated(t *testing.T) {
	cfg := presencetest.Config(1)
	zone := presencetest.ZoneID(0)
	var recs []schemas.ZoneCounts
	// 3 s empty, 5 s with 2 people (one frame missed), 5 s empty, then 1 s to close the windows.
	for f := range 140 {
		n := int32(0)
		if f >= 30 && f < 80 {
			n = 2
		}
		if f == 50 {
			n = 0
		}
		recs = append(recs, schemas.ZoneCounts{ZoneID: zone, CameraID: "cam-" + zone, FrameSeq: int64(f),
			CaptureTime: presencetest.Start.Add(time.Duration(f) * 100 * time.Millisecond), Count: n})
	}
	reg := prometheus.NewRegistry()
	op := newOperator(t, cfg, reg, time.Now)
	c := newCollector()
	for b := range slices.Chunk(records(t, recs), 7) {
		process(t, op, c, b)
	}
	var got []schemas.PresenceType
	want, err := presencetest.Expected(cfg, recs)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range want[zone] {
		got = append(got, ev.Type)
	}
	if !reflect.DeepEqual(got, []schemas.PresenceType{schemas.Occupied, schemas.Vacated}) {
		t.Fatalf("aggregator events %v, want OCCUPIED, VACATED", got)
	}
	if !reflect.DeepEqual(c.events[zone], presencetest.IDs(want)[zone]) {
		t.Errorf("operator events %v, want %v", c.events[zone], presencetest.IDs(want)[zone])
	}
	if occ := c.occupancy[zone]; occ.Type != schemas.Vacated {
		t.Errorf("occupancy view holds %s, want the VACATED event", occ.Type)
	}
	if len(c.state[zone]) == 0 {
		t.Error("no state written")
	}
	for typ, want := range map[string]float64{"OCCUPIED": 1, "VACATED": 1} {
		if got := counterValue(t, reg, "corb_presence_events_total", typ); got != want {
			t.Errorf("events_total{type=%s} = %v, want %v", typ, got, want)
		}
	}
}

func counterValue(t testing.TB, g prometheus.Gatherer, name, typ string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := typ == ""
			for _, l := range m.GetLabel() {
				if l.GetName() == "type" && l.GetValue() == typ {
					match = true
				}
			}
			if match {
				if m.GetCounter() != nil {
					return m.GetCounter().GetValue()
				}
				return m.GetGauge().GetValue()
			}
		}
	}
	return 0
}

func TestOperatorRejectsBadRecordsPermanently(t *testing.T) {
	cfg := presencetest.Config(2)
	good := schemas.ZoneCounts{ZoneID: "z000", CameraID: "cam-z000", CaptureTime: presencetest.Start, Count: 1}
	mk := func(f func(*schemas.ZoneCounts)) []byte {
		zc := good
		f(&zc)
		return encode(t, zc)
	}
	for _, tc := range []struct {
		name  string
		key   string
		value []byte
		want  error
	}{
		{"garbage", "z000", []byte("not avro"), presence.ErrInvalidRecord},
		{"another schema", "z000", encode(t, schemas.ZoneCounts{}), presence.ErrInvalidRecord},
		{"key is not the zone", "z001", mk(func(*schemas.ZoneCounts) {}), presence.ErrInvalidRecord},
		{"unknown zone", "nowhere", mk(func(z *schemas.ZoneCounts) { z.ZoneID = "nowhere" }), presence.ErrUnknownZone},
		{"wrong camera", "z000", mk(func(z *schemas.ZoneCounts) { z.CameraID = "cam-z001" }), presence.ErrUnknownZone},
		{"capture time before 2000", "z000", mk(func(z *schemas.ZoneCounts) { z.CaptureTime = time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC) }), presence.ErrInvalidRecord},
	} {
		t.Run(tc.name, func(t *testing.T) {
			op := newOperator(t, cfg, nil, time.Now)
			res, err := op.Process(context.Background(), []operators.Record{
				{Topic: inTopic, Key: []byte(tc.key), Value: tc.value},
				{Topic: inTopic, Key: []byte("z000"), Value: mk(func(*schemas.ZoneCounts) {})},
			})
			if err != nil {
				t.Fatal(err)
			}
			if !operators.IsPermanent(res[0].Err) || !errors.Is(res[0].Err, tc.want) {
				t.Errorf("err = %v, want permanent %v", res[0].Err, tc.want)
			}
			if len(res[0].Outputs) != 0 {
				t.Errorf("failed record has %d outputs", len(res[0].Outputs))
			}
			if res[1].Err != nil || len(res[1].Outputs) == 0 {
				t.Errorf("the good record after it: err %v, %d outputs (want its state)", res[1].Err, len(res[1].Outputs))
			}
		})
	}
}

// TestOperatorRestoreContinuesLikeUninterrupted stops after each of several
// prefixes, builds a new operator from the state written so far (the
// changelog's latest value per key) and checks the events of the whole run.
func TestOperatorRestoreContinuesLikeUninterrupted(t *testing.T) {
	cfg := presencetest.Config(12)
	recs := presencetest.Stream(12, 40, 1)
	exp, err := presencetest.Expected(cfg, recs)
	if err != nil {
		t.Fatal(err)
	}
	want := presencetest.IDs(exp)
	if presencetest.Count(exp) < 24 {
		t.Fatalf("synthetic stream yields only %d events", presencetest.Count(exp))
	}
	in := records(t, recs)
	for _, cut := range []int{1, len(in) / 3, len(in) / 2, len(in) - 5} {
		t.Run(fmt.Sprint(cut), func(t *testing.T) {
			c := newCollector()
			first := newOperator(t, cfg, nil, time.Now)
			for b := range slices.Chunk(in[:cut], 50) {
				process(t, first, c, b)
			}
			second := newOperator(t, cfg, nil, time.Now)
			for p := range int32(3) {
				st := map[string][]byte{}
				for k, v := range c.state {
					if partitionOf(k, 3) == p {
						st[k] = v
					}
				}
				if err := second.Restore(context.Background(), stateTopic, p, st); err != nil {
					t.Fatal(err)
				}
			}
			for b := range slices.Chunk(in[cut:], 50) {
				process(t, second, c, b)
			}
			if !reflect.DeepEqual(c.events, want) {
				t.Errorf("events after a restart at %d differ from an uninterrupted run", cut)
			}
		})
	}
}

func TestOperatorRevokeAndRestoreTouchOnlyTheirPartition(t *testing.T) {
	cfg := presencetest.Config(9)
	op := newOperator(t, cfg, nil, time.Now)
	c := newCollector()
	process(t, op, c, records(t, presencetest.Stream(9, 3, 2)))
	byPart := map[int32][]string{}
	for i := range 9 {
		z := presencetest.ZoneID(i)
		byPart[partitionOf(z, 3)] = append(byPart[partitionOf(z, 3)], z)
	}
	if len(byPart) < 2 {
		t.Fatal("synthetic zones all on one partition")
	}
	if got := op.Owned(); len(got) != 9 {
		t.Fatalf("owns %v, want all 9 zones", got)
	}
	op.Revoke(0)
	var want []string
	for _, p := range []int32{1, 2} {
		want = append(want, byPart[p]...)
	}
	slices.Sort(want)
	if got := op.Owned(); !reflect.DeepEqual(got, want) {
		t.Fatalf("after Revoke(0) owns %v, want %v", got, want)
	}

	// Restore(1) with one zone replaces partition 1's zones by exactly it.
	keep := byPart[1][0]
	if err := op.Restore(context.Background(), stateTopic, 1, map[string][]byte{keep: c.state[keep], "gone-zone": c.state[keep]}); err != nil {
		t.Fatal(err)
	}
	want = append([]string{keep}, byPart[2]...)
	slices.Sort(want)
	if got := op.Owned(); !reflect.DeepEqual(got, want) {
		t.Fatalf("after Restore(1) owns %v, want %v", got, want)
	}

	// Bad state stops the restore and leaves the partition as it was.
	if err := op.Restore(context.Background(), stateTopic, 1, map[string][]byte{keep: []byte("{")}); !errors.Is(err, presence.ErrState) {
		t.Errorf("corrupt state: err %v, want ErrState", err)
	}
	if err := op.Restore(context.Background(), "other", 1, nil); !errors.Is(err, presence.ErrStateTopic) {
		t.Errorf("foreign topic: err %v, want ErrStateTopic", err)
	}
	if got := op.Owned(); !reflect.DeepEqual(got, want) {
		t.Fatalf("after failed restores owns %v, want %v", got, want)
	}
}

func TestNewOperatorRejects(t *testing.T) {
	cfg := presencetest.Config(1)
	for _, tc := range []struct {
		name string
		cfg  presence.Config
		opts presence.OperatorOptions
	}{
		{"no zones", presence.Config{}, presence.OperatorOptions{Events: "e", State: "s"}},
		{"no events topic", cfg, presence.OperatorOptions{State: "s"}},
		{"no state topic", cfg, presence.OperatorOptions{Events: "e"}},
		{"bad durations", presence.Config{Size: time.Second, Advance: 2 * time.Second, Zones: cfg.Zones}, presence.OperatorOptions{Events: "e", State: "s"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := presence.NewOperator(tc.cfg, tc.opts); !errors.Is(err, presence.ErrConfig) {
				t.Errorf("err = %v, want ErrConfig", err)
			}
		})
	}
}

// --- through the runtime, on kfake -------------------------------------------

const partitions = 3

func newTester(t *testing.T) *runtimetest.Tester {
	return runtimetest.New(t, runtimetest.Topics(partitions, inTopic, evTopic, occTopic, stateTopic, dlqTopic),
		runtimetest.Timeout(60*time.Second))
}

func produce(t *testing.T, tt *runtimetest.Tester, recs []schemas.ZoneCounts) {
	t.Helper()
	out := make([]*kgo.Record, len(recs))
	for i, zc := range recs {
		out[i] = &kgo.Record{Topic: inTopic, Key: []byte(zc.ZoneID), Value: encode(t, zc), Timestamp: zc.CaptureTime}
	}
	tt.ProduceRecords(out...)
}

func presenceOperator(instance string, op operators.Operator) runtimetest.Operator {
	return runtimetest.Operator{
		Name: "presence", Instance: instance, Inputs: []string{inTopic},
		Outputs: []string{evTopic, occTopic}, State: []string{stateTopic}, DeadLetter: dlqTopic, Operator: op,
		Config: func(c *runtime.Config) { c.MaxBatch = 64 },
	}
}

func byZone(evs []schemas.PresenceEvent) map[string][]string {
	out := map[string][]string{}
	for _, e := range evs {
		out[e.ZoneID] = append(out[e.ZoneID], e.EventID)
	}
	return out
}

func TestRuntimeRestartContinuesFromTheChangelog(t *testing.T) {
	const nz = 15
	cfg := presencetest.Config(nz)
	recs := presencetest.Stream(nz, 30, 3)
	exp, err := presencetest.Expected(cfg, recs)
	if err != nil {
		t.Fatal(err)
	}
	want := presencetest.IDs(exp)
	n := presencetest.Count(exp)

	tt := newTester(t)
	half := len(recs) / 2
	produce(t, tt, recs[:half])
	first := tt.Run(presenceOperator("a", newOperator(t, cfg, nil, time.Now)))
	first.WaitConsumed()
	first.Stop()
	produce(t, tt, recs[half:])
	second := &restoreCounter{Operator: newOperator(t, cfg, nil, time.Now)}
	first.Restart(second).WaitConsumed()
	if second.keys.Load() != nz {
		t.Errorf("the second instance restored %d zones, want %d", second.keys.Load(), nz)
	}
	got := byZone(runtimetest.Decode[schemas.PresenceEvent](t, tt.Expect(evTopic, n)))
	if !reflect.DeepEqual(got, want) {
		t.Errorf("events (%d zones) differ from an uninterrupted run (%d zones, %d events)", len(got), len(want), n)
		for z, w := range want {
			if !reflect.DeepEqual(got[z], w) {
				t.Logf("zone %s: got %d events, want %d", z, len(got[z]), len(w))
			}
		}
	}
}

func TestRuntimeTickReportsStaleWithoutInput(t *testing.T) {
	cfg := presencetest.Config(2)
	cfg.StaleAfter = 300 * time.Millisecond
	tt := newTester(t)
	produce(t, tt, presencetest.Stream(2, 1, 4))
	tt.Run(presenceOperator("a", newOperator(t, cfg, nil, time.Now)))

	stale := func(evs []schemas.PresenceEvent) map[string]bool {
		m := map[string]bool{}
		for _, e := range evs {
			if e.Type == schemas.Stale {
				m[e.ZoneID] = true
			}
		}
		return m
	}
	var evs []schemas.PresenceEvent
	tt.Eventually("STALE for both zones", func() bool {
		evs = runtimetest.Decode[schemas.PresenceEvent](t, tt.Records(evTopic))
		return len(stale(evs)) == 2
	})
	for _, e := range evs {
		if e.Type == schemas.Stale && !e.EventTime.After(presencetest.Start) {
			t.Errorf("STALE of %s at %v: want wall-clock time", e.ZoneID, e.EventTime)
		}
	}

	// One more record for z000: RECOVERED.
	produce(t, tt, []schemas.ZoneCounts{{ZoneID: "z000", CameraID: "cam-z000", CaptureTime: presencetest.Start.Add(time.Minute)}})
	tt.Eventually("RECOVERED for z000", func() bool {
		for _, e := range runtimetest.Decode[schemas.PresenceEvent](t, tt.Records(evTopic)) {
			if e.Type == schemas.Recovered && e.ZoneID == "z000" {
				return true
			}
		}
		return false
	})
}

// restoreCounter counts the keys restored (read after the runner's Run returned
// or while it runs: atomic).
type restoreCounter struct {
	*presence.Operator
	keys atomic.Int64
}

func (r *restoreCounter) Restore(ctx context.Context, topic string, p int32, state map[string][]byte) error {
	r.keys.Add(int64(len(state)))
	return r.Operator.Restore(ctx, topic, p, state)
}

// FuzzOperatorProcess feeds arbitrary record bytes: Process must never fail the
// batch, and a record it rejects must be rejected permanently with no outputs.
func FuzzOperatorProcess(f *testing.F) {
	good, err := schemas.Marshal(&schemas.ZoneCounts{ZoneID: "z000", CameraID: "cam-z000", CaptureTime: presencetest.Start, Count: 2})
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte("z000"), good)
	f.Add([]byte("z000"), good[:len(good)-1])
	f.Add([]byte("z001"), []byte{0xc3, 0x01, 0, 0, 0, 0, 0, 0, 0, 0})
	cfg := presencetest.Config(2)
	f.Fuzz(func(t *testing.T, key, value []byte) {
		op := newOperator(t, cfg, nil, time.Now)
		res, err := op.Process(context.Background(), []operators.Record{{Topic: inTopic, Key: key, Value: value}})
		if err != nil {
			t.Fatalf("batch error: %v", err)
		}
		if res[0].Err != nil && (!operators.IsPermanent(res[0].Err) || len(res[0].Outputs) > 0) {
			t.Fatalf("rejection not permanent or with outputs: %v", res[0].Err)
		}
	})
}

// TestOperatorUsageViewSurvivesRestore: the usage view counts visits and
// person-minutes, and an operator restored from the state and usage
// changelogs halfway ends with the usage of an uninterrupted run.
func TestOperatorUsageViewSurvivesRestore(t *testing.T) {
	cfg := presencetest.Config(1)
	zone := presencetest.ZoneID(0)
	var recs []schemas.ZoneCounts
	for f := range 260 { // two visits of 2 people: frames 30–79 and 130–179
		n := int32(0)
		if (f >= 30 && f < 80) || (f >= 130 && f < 180) {
			n = 2
		}
		recs = append(recs, schemas.ZoneCounts{ZoneID: zone, CameraID: "cam-" + zone, FrameSeq: int64(f),
			CaptureTime: presencetest.Start.Add(time.Duration(f) * 100 * time.Millisecond), Count: n})
	}
	newOp := func() *presence.Operator {
		op, err := presence.NewOperator(cfg, presence.OperatorOptions{
			Name: "presence", Events: evTopic, Occupancy: occTopic, State: stateTopic, Usage: "usage", Clock: time.Now,
		})
		if err != nil {
			t.Fatal(err)
		}
		return op
	}
	// run feeds batch to op and returns the latest state and usage records it wrote.
	run := func(op *presence.Operator, batch []operators.Record, state, usage map[string][]byte) {
		for b := range slices.Chunk(batch, 5) {
			res, err := op.Process(context.Background(), b)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range res {
				if r.Err != nil {
					t.Fatal(r.Err)
				}
				for _, o := range r.Outputs {
					switch o.Topic {
					case stateTopic:
						state[string(o.Key)] = o.Value
					case "usage":
						usage[string(o.Key)] = o.Value
					}
				}
			}
		}
	}
	decode := func(b []byte) presence.Usage {
		var u presence.Usage
		if err := u.UnmarshalBinary(b); err != nil {
			t.Fatal(err)
		}
		return u
	}
	all := records(t, recs)
	p := all[0].Partition

	whole, wholeUsage := map[string][]byte{}, map[string][]byte{}
	run(newOp(), all, whole, wholeUsage)
	want := decode(wholeUsage[zone])
	if want.Visits != 2 || want.Peak != 2 || want.PersonMinutes <= 0 {
		t.Fatalf("uninterrupted usage %+v: want 2 visits, peak 2, some person-minutes", want)
	}

	state, usage := map[string][]byte{}, map[string][]byte{}
	first := newOp()
	run(first, all[:110], state, usage)
	if got := decode(usage[zone]).Visits; got != 1 {
		t.Fatalf("after the first visit usage has %d visits, want 1", got)
	}
	second := newOp()
	if err := second.Restore(context.Background(), stateTopic, p, state); err != nil {
		t.Fatal(err)
	}
	if err := second.Restore(context.Background(), "usage", p, usage); err != nil {
		t.Fatal(err)
	}
	run(second, all[110:], state, usage)
	if got := decode(usage[zone]); !reflect.DeepEqual(got, want) {
		t.Fatalf("restored run ends with usage %+v, uninterrupted with %+v", got, want)
	}
}

// TestOperatorWatchesZonesThatNeverSpoke: with the input's partition count
// known, an instance assigned partition p takes on every configured zone that
// hashes to p, and reports it STALE after StaleAfter of silence — even a zone
// that has not sent a single record since the restart.
func TestOperatorWatchesZonesThatNeverSpoke(t *testing.T) {
	const partitions = 3
	cfg := presencetest.Config(9)
	cfg.StaleAfter = time.Minute
	now := presencetest.Start
	op, err := presence.NewOperator(cfg, presence.OperatorOptions{
		Name: "presence", Events: evTopic, Occupancy: occTopic, State: stateTopic,
		InputPartitions: partitions, Clock: func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	// Which zones Kafka's producers put on partition 1, computed independently.
	var want []string
	for _, z := range cfg.Zones {
		if kgo.StickyKeyPartitioner(nil).ForTopic("x").Partition(&kgo.Record{Key: []byte(z.ID)}, partitions) == 1 {
			want = append(want, z.ID)
		}
	}
	slices.Sort(want)
	if len(want) == 0 || len(want) == len(cfg.Zones) {
		t.Fatalf("the test needs some but not all zones on partition 1, got %v", want)
	}
	if err := op.Restore(context.Background(), stateTopic, 1, nil); err != nil {
		t.Fatal(err)
	}
	if got := op.Owned(); !slices.Equal(got, want) {
		t.Fatalf("owned after assignment %v, want the zones of partition 1 %v", got, want)
	}
	if outs, _ := op.Tick(context.Background(), now.Add(59*time.Second)); len(outs) != 0 {
		t.Fatalf("%d outputs before stale_after", len(outs))
	}
	outs, err := op.Tick(context.Background(), now.Add(61*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var stale []string
	for _, o := range outs {
		if o.Topic == evTopic {
			if ev := decodeEvent(t, o.Value); ev.Type == schemas.Stale {
				stale = append(stale, ev.ZoneID)
			}
		}
	}
	slices.Sort(stale)
	if !slices.Equal(stale, want) {
		t.Fatalf("STALE for %v, want every zone of partition 1 %v", stale, want)
	}
}
