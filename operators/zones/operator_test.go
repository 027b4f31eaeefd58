package zones

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/corb-dev/corb/operators"
	"github.com/corb-dev/corb/operators/runtime"
	"github.com/corb-dev/corb/operators/runtimetest"
	"github.com/corb-dev/corb/schemas"
)

func newTestOperator(t *testing.T, reg prometheus.Registerer) *Operator {
	t.Helper()
	f, err := Parse("square.yaml", []byte(square))
	if err != nil {
		t.Fatal(err)
	}
	op, err := NewOperator(f, OperatorOptions{Name: "zones", Output: "zone-counts", Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	return op
}

func detectionsRecord(t *testing.T, d *schemas.Detections) operators.Record {
	t.Helper()
	v, err := schemas.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return operators.Record{Topic: "detections", Key: []byte(d.CameraID), Value: v, Timestamp: time.Unix(1, 0)}
}

func TestOperatorProcess(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	frame := func(camera string, boxes ...schemas.Box) *schemas.Detections {
		return &schemas.Detections{CameraID: camera, FrameSeq: 7, CaptureTime: at, Model: "m", Boxes: boxes}
	}
	frameValue := func(t *testing.T) []byte {
		v, err := schemas.Marshal(&schemas.Frame{CameraID: "cam1", CaptureTime: at, Encoding: schemas.EncodingJPEG, Image: []byte{1}})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		name      string
		value     func(t *testing.T) []byte
		want      map[string]int32 // zone → count, in any order; nil: no outputs
		dropped   string           // the Result's Dropped reason
		permanent bool
	}{
		{
			name:  "camera with two zones yields two records",
			value: func(t *testing.T) []byte { return detectionsRecord(t, frame("cam1", person(0.4, 0.5, 0.3, 0.9))).Value },
			want:  map[string]int32{"room": 1, "hall": 0},
		},
		{
			name:  "empty frame yields zero counts",
			value: func(t *testing.T) []byte { return detectionsRecord(t, frame("cam1")).Value },
			want:  map[string]int32{"room": 0, "hall": 0},
		},
		{
			name: "second camera of a shared zone",
			value: func(t *testing.T) []byte {
				return detectionsRecord(t, frame("cam2", person(0.5, 0.5, 0.3, 0.9), person(0.2, 0.9, 0.3, 0.9))).Value
			},
			want: map[string]int32{"hall": 2},
		},
		{
			name:    "camera in no zone yields nothing, dropped for its reason",
			value:   func(t *testing.T) []byte { return detectionsRecord(t, frame("cam9", person(0.4, 0.5, 0.3, 0.9))).Value },
			dropped: DroppedNoZone,
		},
		{name: "garbage is dead-lettered", value: func(*testing.T) []byte { return []byte("not avro") }, permanent: true},
		{name: "empty value is dead-lettered", value: func(*testing.T) []byte { return nil }, permanent: true},
		{name: "wrong schema is dead-lettered", value: frameValue, permanent: true},
		{
			name: "truncated detections are dead-lettered",
			value: func(t *testing.T) []byte {
				v := detectionsRecord(t, frame("cam1", person(0.4, 0.5, 0.3, 0.9))).Value
				return v[:len(v)-3]
			},
			permanent: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op := newTestOperator(t, nil)
			res, err := op.Process(context.Background(), []operators.Record{{Topic: "detections", Value: tt.value(t)}})
			if err != nil {
				t.Fatalf("Process: %v", err)
			}
			if len(res) != 1 {
				t.Fatalf("%d results for 1 record", len(res))
			}
			r := res[0]
			if tt.permanent {
				if !operators.IsPermanent(r.Err) {
					t.Fatalf("err = %v, want a permanent error", r.Err)
				}
				if len(r.Outputs) != 0 {
					t.Fatalf("a failed record has %d outputs", len(r.Outputs))
				}
				return
			}
			if r.Err != nil {
				t.Fatalf("err = %v", r.Err)
			}
			if r.Dropped != tt.dropped {
				t.Errorf("dropped %q, want %q", r.Dropped, tt.dropped)
			}
			if len(r.Outputs) != len(tt.want) {
				t.Fatalf("%d outputs, want %d", len(r.Outputs), len(tt.want))
			}
			for _, out := range r.Outputs {
				var zc schemas.ZoneCounts
				if err := schemas.Unmarshal(out.Value, &zc); err != nil {
					t.Fatalf("output is not a ZoneCounts: %v", err)
				}
				want, ok := tt.want[zc.ZoneID]
				if !ok {
					t.Errorf("unexpected zone %q", zc.ZoneID)
					continue
				}
				if zc.Count != want {
					t.Errorf("zone %s: count %d, want %d", zc.ZoneID, zc.Count, want)
				}
				if out.Topic != "zone-counts" {
					t.Errorf("topic %q", out.Topic)
				}
				if string(out.Key) != zc.ZoneID {
					t.Errorf("key %q, want the zone id %q", out.Key, zc.ZoneID)
				}
				if !out.Timestamp.Equal(at) || !zc.CaptureTime.Equal(at) {
					t.Errorf("timestamp %v / capture time %v, want %v", out.Timestamp, zc.CaptureTime, at)
				}
				if zc.FrameSeq != 7 {
					t.Errorf("frame seq %d", zc.FrameSeq)
				}
			}
		})
	}
}

// A bad record in the middle of a batch fails alone, in its place.
func TestOperatorBatchKeepsOrder(t *testing.T) {
	op := newTestOperator(t, nil)
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	good := func(camera string) operators.Record {
		return detectionsRecord(t, &schemas.Detections{CameraID: camera, CaptureTime: at})
	}
	batch := []operators.Record{good("cam1"), {Value: []byte{0xc3, 0x01, 0, 0}}, good("cam2"), good("nowhere")}
	res, err := op.Process(context.Background(), batch)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != len(batch) {
		t.Fatalf("%d results for %d records", len(res), len(batch))
	}
	wantOuts := []int{2, 0, 1, 0}
	wantDropped := []string{"", "", "", DroppedNoZone}
	for i, r := range res {
		if r.Dropped != wantDropped[i] {
			t.Errorf("record %d: dropped %q, want %q", i, r.Dropped, wantDropped[i])
		}
		if (i == 1) != operators.IsPermanent(r.Err) {
			t.Errorf("record %d: err %v", i, r.Err)
		}
		if len(r.Outputs) != wantOuts[i] {
			t.Errorf("record %d: %d outputs, want %d", i, len(r.Outputs), wantOuts[i])
		}
	}
}

func TestOperatorMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	a := newTestOperator(t, reg)
	b := newTestOperator(t, reg) // a second operator shares the vector
	if _, err := NewOperator(&File{}, OperatorOptions{Name: "other", Output: "x", Registry: reg}); err != nil {
		t.Fatal(err)
	}
	rec := detectionsRecord(t, &schemas.Detections{CameraID: "cam1", CaptureTime: time.Unix(5, 0)})
	for _, op := range []*Operator{a, b, a} {
		if _, err := op.Process(context.Background(), []operators.Record{rec}); err != nil {
			t.Fatal(err)
		}
	}
	want := `
# HELP corb_zones_records_total ZoneCounts records produced, by operator and zone.
# TYPE corb_zones_records_total counter
corb_zones_records_total{operator="zones",zone="hall"} 3
corb_zones_records_total{operator="zones",zone="room"} 3
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "corb_zones_records_total"); err != nil {
		t.Error(err)
	}
}

func TestNewOperatorErrors(t *testing.T) {
	if _, err := NewOperator(&File{}, OperatorOptions{}); err != ErrNoOutput {
		t.Errorf("no output: err = %v", err)
	}
	if _, err := NewOperator(nil, OperatorOptions{Output: "x"}); err == nil {
		t.Error("nil file accepted")
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "corb_zones_records_total", Help: "x"}, []string{"operator", "zone"}))
	if _, err := NewOperator(&File{}, OperatorOptions{Output: "x", Registry: reg}); err == nil {
		t.Error("clashing metric accepted")
	}
}

func TestOperatorConfigPath(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == FileEnv {
				return v
			}
			return ""
		}
	}
	tests := []struct {
		name   string
		cfg    OperatorConfig
		getenv func(string) string
		want   string
	}{
		{"default", OperatorConfig{}, nil, DefaultFile},
		{"env when config is empty", OperatorConfig{}, env("/etc/corb/zones.yaml"), "/etc/corb/zones.yaml"},
		{"config wins over env", OperatorConfig{ZonesFile: "a.yaml"}, env("b.yaml"), "a.yaml"},
		{"blank env ignored", OperatorConfig{}, env("  "), DefaultFile},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.cfg.Path(tt.getenv); got != tt.want {
				t.Errorf("Path = %q, want %q", got, tt.want)
			}
		})
	}
}

// The shipped zones file loads and counts the sample camera.
func TestOperatorDeployZonesFile(t *testing.T) {
	f, err := Load("../../" + DefaultFile)
	if err != nil {
		t.Fatal(err)
	}
	op, err := NewOperator(f, OperatorOptions{Output: "zone-counts"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := op.Process(context.Background(), []operators.Record{detectionsRecord(t, &schemas.Detections{CameraID: "vtest"})})
	if err != nil || res[0].Err != nil {
		t.Fatal(err, res[0].Err)
	}
	if len(res[0].Outputs) != len(f.Zones) || len(f.Zones) == 0 {
		t.Errorf("%d outputs for %d zones", len(res[0].Outputs), len(f.Zones))
	}
}

// Through the runtime, the counts come out keyed by zone — each zone's on
// one partition, whichever camera saw it — and a record that is not
// Detections is dead-lettered, the rest of its batch going on.
func TestOperatorThroughTheRuntime(t *testing.T) {
	tt := runtimetest.New(t, runtimetest.Topics(3, "detections", "zone-counts"), runtimetest.Topics(1, "detections-dlq"))
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tt.ProduceAvro("detections", "cam1", &schemas.Detections{CameraID: "cam1", CaptureTime: at, Boxes: []schemas.Box{person(0.4, 0.5, 0.3, 0.9)}})
	tt.Produce("detections", "cam1", []byte("not avro"))
	tt.ProduceAvro("detections", "cam2", &schemas.Detections{CameraID: "cam2", CaptureTime: at})
	tt.Run(runtimetest.Operator{Name: "zones", Inputs: []string{"detections"}, Outputs: []string{"zone-counts"},
		DeadLetter: "detections-dlq", Operator: newTestOperator(t, nil)})

	counts := map[string][]int32{}
	partitions := map[string]map[int32]bool{}
	recs := tt.Expect("zone-counts", 3)
	for i, zc := range runtimetest.Decode[schemas.ZoneCounts](t, recs) {
		r := recs[i]
		if string(r.Key) != zc.ZoneID {
			t.Errorf("count of %s keyed %q", zc.ZoneID, r.Key)
		}
		counts[zc.ZoneID] = append(counts[zc.ZoneID], zc.Count)
		if partitions[zc.ZoneID] == nil {
			partitions[zc.ZoneID] = map[int32]bool{}
		}
		partitions[zc.ZoneID][r.Partition] = true
	}
	slices.Sort(counts["hall"])
	if fmt.Sprint(counts) != "map[hall:[0 0] room:[1]]" {
		t.Errorf("counts %v, want room [1] and hall [0 0]", counts)
	}
	if len(partitions["hall"]) != 1 {
		t.Errorf("hall's counts are on partitions %v, want one", partitions["hall"])
	}
	dl := tt.DeadLetters("detections-dlq", 1)[0]
	if string(dl.Value) != "not avro" || dl.Reason != "permanent" || dl.Operator != "zones" || dl.Topic != "detections" {
		t.Errorf("dead letter %q: %s from %s of %s, want the garbage, permanent, from zones of detections",
			dl.Value, dl.Reason, dl.Operator, dl.Topic)
	}
}

// The detections of a camera that no zone names become no counts, and the
// runtime counts them under their reason: a user who sees detections and
// never an event finds out why.
func TestZonelessCameraIsCountedAsDropped(t *testing.T) {
	tt := runtimetest.New(t, runtimetest.Topics(1, "detections", "zone-counts", "detections-dlq"))
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for range 3 {
		tt.ProduceAvro("detections", "cam9", &schemas.Detections{CameraID: "cam9", CaptureTime: at, Boxes: []schemas.Box{person(0.4, 0.5, 0.3, 0.9)}})
	}
	tt.ProduceAvro("detections", "cam2", &schemas.Detections{CameraID: "cam2", CaptureTime: at})
	reg := prometheus.NewRegistry()
	hooks, err := runtime.NewPrometheus(reg)
	if err != nil {
		t.Fatal(err)
	}
	op := tt.Run(runtimetest.Operator{Name: "zones", Inputs: []string{"detections"}, Outputs: []string{"zone-counts"},
		DeadLetter: "detections-dlq", Operator: newTestOperator(t, nil), Config: func(c *runtime.Config) { c.Hooks = hooks }})
	tt.Expect("zone-counts", 1) // cam2's hall
	op.WaitConsumed()
	op.Stop()
	want := `
# HELP corb_records_dropped_total Records consumed on purpose with nothing following, by reason ("match": left out by the match pattern).
# TYPE corb_records_dropped_total counter
corb_records_dropped_total{operator="zones",reason="camera-without-zones"} 3
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "corb_records_dropped_total"); err != nil {
		t.Error(err)
	}
}
