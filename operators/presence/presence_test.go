package presence

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/corb-dev/corb/operators"
	"github.com/corb-dev/corb/operators/zones"
	"github.com/corb-dev/corb/schemas"
)

var t0 = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)

const fps = 10

type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

func testConfig(zs ...ZoneSpec) Config {
	if len(zs) == 0 {
		zs = []ZoneSpec{{ID: "room", Cameras: []string{"cam1"}}}
	}
	return Config{
		Size: time.Second, Grace: 500 * time.Millisecond,
		EnterAfter: 2 * time.Second, VacateAfter: 5 * time.Second, StaleAfter: 10 * time.Second,
		Zones: zs,
	}
}

// frames turns runs like {3s, 0}, {10s, 1} into per-frame counts at fps.
type run struct {
	d time.Duration
	n int32
}

func frames(runs ...run) []int32 {
	var out []int32
	for _, r := range runs {
		for range int(r.d.Seconds() * fps) {
			out = append(out, r.n)
		}
	}
	return out
}

// feed sends per-frame counts of one camera from start at fps; the wall clock
// follows capture time. It fails the test on errors.
func feed(t testing.TB, a *Aggregator, c *clock, zone, cam string, start time.Time, counts []int32) []schemas.PresenceEvent {
	t.Helper()
	var evs []schemas.PresenceEvent
	for i, n := range counts {
		at := start.Add(time.Duration(i) * time.Second / fps)
		c.now = at
		e, err := a.Add(schemas.ZoneCounts{ZoneID: zone, CameraID: cam, FrameSeq: int64(i), CaptureTime: at, Count: n})
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, e...)
	}
	return evs
}

func types(evs []schemas.PresenceEvent) []schemas.PresenceType {
	out := []schemas.PresenceType{}
	for _, e := range evs {
		out = append(out, e.Type)
	}
	return out
}

func newAgg(t testing.TB, cfg Config, c *clock) *Aggregator {
	t.Helper()
	a, err := New(cfg, c.Now)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestOccupiedThenVacated(t *testing.T) {
	c := &clock{now: t0}
	a := newAgg(t, testConfig(), c)
	evs := feed(t, a, c, "room", "cam1", t0, frames(run{3 * time.Second, 0}, run{10 * time.Second, 2}, run{10 * time.Second, 0}))
	if got := types(evs); !reflect.DeepEqual(got, []schemas.PresenceType{schemas.Occupied, schemas.Vacated}) {
		t.Fatalf("events %v, want OCCUPIED VACATED: %+v", got, evs)
	}
	occ, vac := evs[0], evs[1]
	if !occ.OccupiedSince.Equal(t0.Add(3*time.Second)) || !occ.EventTime.Equal(t0.Add(5*time.Second)) || occ.Count != 2 || occ.Peak != 2 {
		t.Errorf("OCCUPIED = %+v", occ)
	}
	if !occ.WindowStart.Equal(t0.Add(4*time.Second)) || !occ.WindowEnd.Equal(occ.EventTime) {
		t.Errorf("OCCUPIED window = %v..%v", occ.WindowStart, occ.WindowEnd)
	}
	if vac.Count != 0 || vac.Peak != 2 || vac.Duration != 10*time.Second || !vac.OccupiedSince.Equal(occ.OccupiedSince) {
		t.Errorf("VACATED = %+v", vac)
	}
	left := t0.Add(13 * time.Second)
	if lat := vac.EventTime.Sub(left); lat < 5*time.Second || lat > 5*time.Second+time.Second {
		t.Errorf("vacancy reported %v after the room emptied, want within vacate_after+size", lat)
	}
}

func TestVacancyLatency(t *testing.T) {
	for _, tt := range []struct {
		name          string
		size, advance time.Duration
		vacate        time.Duration
		leaveAfter    time.Duration
	}{
		{"tumbling aligned", time.Second, 0, 5 * time.Second, 10 * time.Second},
		{"tumbling mid-window", time.Second, 0, 5 * time.Second, 10*time.Second + 300*time.Millisecond},
		{"tumbling late in window", 2 * time.Second, 0, 6 * time.Second, 10*time.Second + 1700*time.Millisecond},
		{"hopping", 2 * time.Second, 500 * time.Millisecond, 5 * time.Second, 10*time.Second + 900*time.Millisecond},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.Size, cfg.Advance, cfg.VacateAfter = tt.size, tt.advance, tt.vacate
			c := &clock{now: t0}
			a := newAgg(t, cfg, c)
			evs := feed(t, a, c, "room", "cam1", t0, frames(run{tt.leaveAfter, 1}, run{tt.vacate + 3*tt.size + time.Second, 0}))
			var vac *schemas.PresenceEvent
			for i := range evs {
				if evs[i].Type == schemas.Vacated {
					vac = &evs[i]
				}
			}
			if vac == nil {
				t.Fatalf("no VACATED in %v", types(evs))
			}
			lat := vac.EventTime.Sub(t0.Add(tt.leaveAfter))
			if lat > tt.vacate+tt.size || lat < tt.vacate-tt.size/2 {
				t.Errorf("VACATED %v after leaving, want within vacate_after (%v) + one window (%v)", lat, tt.vacate, tt.size)
			}
		})
	}
}

func TestFlickerDoesNotToggle(t *testing.T) {
	// steady returns n frames of count base, with count odd at every 10th frame (offset 4).
	flicker := func(d time.Duration, base, odd int32) []int32 {
		fs := frames(run{d, base})
		for i := 4; i < len(fs); i += fps {
			fs[i] = odd
		}
		return fs
	}
	cat := func(parts ...[]int32) []int32 {
		var out []int32
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	for _, tt := range []struct {
		name   string
		counts []int32
		want   []schemas.PresenceType
	}{
		{"false positive in every window while empty", flicker(20*time.Second, 0, 1), nil},
		{"false positive of three while empty", flicker(20*time.Second, 0, 3), nil},
		{"missed frame in every window while occupied", cat(frames(run{3 * time.Second, 0}), flicker(20*time.Second, 2, 0)), []schemas.PresenceType{schemas.Occupied}},
		{"extra person for one frame per window", cat(frames(run{3 * time.Second, 0}), flicker(20*time.Second, 2, 3)), []schemas.PresenceType{schemas.Occupied}},
		{"one person dropping to one frame", cat(frames(run{3 * time.Second, 0}), flicker(20*time.Second, 1, 0)), []schemas.PresenceType{schemas.Occupied}},
		{"a whole empty window is shorter than vacate_after", cat(frames(run{3 * time.Second, 1}), frames(run{time.Second, 0}), frames(run{10 * time.Second, 1})), []schemas.PresenceType{schemas.Occupied}},
		{"one present window is shorter than enter_after", cat(frames(run{3 * time.Second, 0}), frames(run{time.Second, 1}), frames(run{10 * time.Second, 0})), nil},
		{"real count change is reported once", cat(frames(run{3 * time.Second, 1}), flicker(5*time.Second, 3, 2)), []schemas.PresenceType{schemas.Occupied, schemas.CountChanged}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := &clock{now: t0}
			a := newAgg(t, testConfig(), c)
			evs := feed(t, a, c, "room", "cam1", t0, tt.counts)
			if got := types(evs); !reflect.DeepEqual(got, append([]schemas.PresenceType{}, tt.want...)) {
				t.Errorf("events %v, want %v", got, tt.want)
			}
		})
	}
}

func TestOutOfOrderAndLate(t *testing.T) {
	cfg := testConfig()
	cfg.EnterAfter = time.Second // occupied on the first present window
	c := &clock{now: t0}
	a := newAgg(t, cfg, c)
	add := func(offset time.Duration, n int32) []schemas.PresenceEvent {
		t.Helper()
		c.now = c.now.Add(100 * time.Millisecond)
		evs, err := a.Add(schemas.ZoneCounts{ZoneID: "room", CameraID: "cam1", CaptureTime: t0.Add(offset), Count: n})
		if err != nil {
			t.Fatal(err)
		}
		return evs
	}
	ms := time.Millisecond
	// Window [0,1s): 1, 1, 0, 0 in order; median 0 so far.
	add(0, 1)
	add(100*ms, 1)
	add(200*ms, 0)
	add(300*ms, 0)
	add(1200*ms, 0) // watermark 1.2s: window [0,1s) still open (grace 0.5s)
	add(900*ms, 1)  // out of order but inside grace: makes the median 1
	if s := a.Stats(); s.Late != 0 || s.Records != 6 {
		t.Fatalf("stats %+v", s)
	}
	evs := add(1600*ms, 0) // closes [0,1s)
	if len(evs) != 1 || evs[0].Type != schemas.Occupied || !evs[0].WindowStart.Equal(t0) || evs[0].Count != 1 {
		t.Fatalf("events %+v, want OCCUPIED for the first window with count 1", evs)
	}
	if evs := add(950*ms, 5); len(evs) != 0 { // beyond grace: dropped
		t.Fatalf("late record produced %+v", evs)
	}
	if s := a.Stats(); s.Late != 1 || s.Records != 8 || s.WindowsClosed != 1 {
		t.Fatalf("stats %+v, want 1 late of 8", s)
	}
	// The late 5 must not have reached any window: the next windows see 0 or 1.
	for i := 2; i < 12; i++ {
		for _, e := range add(time.Duration(i)*time.Second, 1) {
			if e.Count > 1 || e.Peak > 1 {
				t.Fatalf("late record merged: %+v", e)
			}
		}
	}
}

func TestStaleAndRecovered(t *testing.T) {
	cfg := testConfig(ZoneSpec{ID: "room", Cameras: []string{"cam1"}}, ZoneSpec{ID: "silent"})
	c := &clock{now: t0}
	a := newAgg(t, cfg, c)
	feed(t, a, c, "room", "cam1", t0, frames(run{5 * time.Second, 1}))
	last := c.now
	// "silent" never sent anything: stale 10s after start; "room" 10s after its last record.
	if evs := a.Tick(t0.Add(9 * time.Second)); len(evs) != 0 {
		t.Fatalf("early tick: %+v", evs)
	}
	evs := a.Tick(t0.Add(10 * time.Second))
	if len(evs) != 1 || evs[0].ZoneID != "silent" || evs[0].Type != schemas.Stale || !evs[0].EventTime.Equal(t0.Add(10*time.Second)) {
		t.Fatalf("tick at 10s: %+v", evs)
	}
	evs = a.Tick(last.Add(37 * time.Second)) // a late tick: the event time is still last+10s
	if len(evs) != 1 || evs[0].ZoneID != "room" || evs[0].Type != schemas.Stale || !evs[0].EventTime.Equal(last.Add(10*time.Second)) {
		t.Fatalf("tick for room: %+v", evs)
	}
	if evs[0].Count != 1 || evs[0].OccupiedSince.IsZero() {
		t.Errorf("STALE should carry the last known occupancy: %+v", evs[0])
	}
	if evs := a.Tick(last.Add(60 * time.Second)); len(evs) != 0 {
		t.Fatalf("STALE repeated: %+v", evs)
	}
	if s := a.Stats(); s.StaleZones != 2 {
		t.Errorf("stale zones = %d", s.StaleZones)
	}
	c.now = last.Add(60 * time.Second)
	evs, err := a.Add(schemas.ZoneCounts{ZoneID: "room", CameraID: "cam1", CaptureTime: c.now, Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) == 0 || evs[0].Type != schemas.Recovered || evs[0].Duration != 50*time.Second || !evs[0].EventTime.Equal(c.now) {
		t.Fatalf("after input came back: %+v", evs)
	}
	if evs := a.Tick(c.now.Add(time.Second)); len(evs) != 0 {
		t.Fatalf("tick after recovery: %+v", evs)
	}
}

func TestMultiCamera(t *testing.T) {
	for _, tt := range []struct {
		combine zones.Combine
		want    int32
	}{{zones.CombineMax, 2}, {zones.CombineSum, 3}, {"", 2}} {
		t.Run(string(tt.combine), func(t *testing.T) {
			cfg := testConfig(ZoneSpec{ID: "hall", Combine: tt.combine, Cameras: []string{"a", "b"}})
			c := &clock{now: t0}
			ag := newAgg(t, cfg, c)
			fa := frames(run{3 * time.Second, 1})
			fb := frames(run{3 * time.Second, 2})
			fa[3], fb[5] = 4, 0 // flicker in each camera
			var evs []schemas.PresenceEvent
			for i := range fa {
				at := t0.Add(time.Duration(i) * time.Second / fps)
				for cam, n := range map[string]int32{"a": fa[i], "b": fb[i]} {
					e, err := ag.Add(schemas.ZoneCounts{ZoneID: "hall", CameraID: cam, CaptureTime: at, Count: n})
					if err != nil {
						t.Fatal(err)
					}
					evs = append(evs, e...)
				}
			}
			if len(evs) != 1 || evs[0].Type != schemas.Occupied || evs[0].Count != tt.want {
				t.Fatalf("events %+v, want OCCUPIED with %d", evs, tt.want)
			}
			_, err := ag.Add(schemas.ZoneCounts{ZoneID: "hall", CameraID: "c", CaptureTime: t0, Count: 1})
			if !errors.Is(err, ErrUnknownZone) || !operators.IsPermanent(err) {
				t.Errorf("foreign camera: err = %v", err)
			}
		})
	}
}

func TestAddRejects(t *testing.T) {
	c := &clock{now: t0}
	a := newAgg(t, testConfig(), c)
	for _, tt := range []struct {
		name string
		zc   schemas.ZoneCounts
		want error
	}{
		{"unknown zone", schemas.ZoneCounts{ZoneID: "x", CameraID: "cam1", CaptureTime: t0}, ErrUnknownZone},
		{"empty camera", schemas.ZoneCounts{ZoneID: "room", CaptureTime: t0}, ErrInvalidRecord},
		{"negative count", schemas.ZoneCounts{ZoneID: "room", CameraID: "cam1", CaptureTime: t0, Count: -1}, ErrInvalidRecord},
		{"zero time", schemas.ZoneCounts{ZoneID: "room", CameraID: "cam1"}, ErrInvalidRecord},
		{"1970", schemas.ZoneCounts{ZoneID: "room", CameraID: "cam1", CaptureTime: time.Unix(5, 0)}, ErrInvalidRecord},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := a.Add(tt.zc)
			if !errors.Is(err, tt.want) || !operators.IsPermanent(err) {
				t.Errorf("err = %v, want permanent %v", err, tt.want)
			}
		})
	}
}

// op is one step of a scenario: a record (with the wall clock at its arrival) or a tick.
type op struct {
	wall time.Time
	zc   *schemas.ZoneCounts
}

// scenario builds a deterministic mixed input: three zones (one multi-camera
// sum zone), people coming and going, flicker, out-of-order and late records,
// and a camera outage long enough to go stale.
func scenario() ([]ZoneSpec, []op) {
	specs := []ZoneSpec{
		{ID: "kitchen", Cameras: []string{"k1"}},
		{ID: "hall", Combine: zones.CombineSum, Cameras: []string{"h1", "h2"}},
		{ID: "lobby", Combine: zones.CombineMax, Cameras: []string{"l1", "l2"}},
	}
	r := rand.New(rand.NewPCG(1, 2))
	people := map[string]int32{}
	var ops []op
	var held []schemas.ZoneCounts
	for i := range 70 * 5 { // 70 s at 5 fps
		at := t0.Add(time.Duration(i) * 200 * time.Millisecond)
		wall := at.Add(50 * time.Millisecond)
		for _, s := range specs {
			for _, cam := range s.Cameras {
				if cam == "k1" && i > 150 && i < 260 {
					continue // outage: kitchen goes stale
				}
				if r.IntN(40) == 0 {
					people[cam] = int32(r.IntN(3))
				}
				n := people[cam]
				if r.IntN(15) == 0 {
					n = int32(r.IntN(4)) // flicker
				}
				zc := schemas.ZoneCounts{ZoneID: s.ID, CameraID: cam, FrameSeq: int64(i), CaptureTime: at, Count: n}
				if r.IntN(20) == 0 {
					held = append(held, zc) // delivered later
					continue
				}
				ops = append(ops, op{wall: wall, zc: &zc})
			}
		}
		if i%7 == 0 && len(held) > 0 { // release held records: some in grace, some late
			for _, h := range held {
				ops = append(ops, op{wall: wall, zc: &h})
			}
			held = nil
		}
		if i%5 == 0 {
			ops = append(ops, op{wall: wall})
		}
	}
	return specs, ops
}

func run_(t testing.TB, a *Aggregator, c *clock, ops []op) []schemas.PresenceEvent {
	t.Helper()
	var evs []schemas.PresenceEvent
	for _, o := range ops {
		c.now = o.wall
		if o.zc == nil {
			evs = append(evs, a.Tick(o.wall)...)
			continue
		}
		e, err := a.Add(*o.zc)
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, e...)
	}
	return evs
}

func snapshot(t testing.TB, a *Aggregator) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, z := range a.Zones() {
		b, err := a.MarshalState(z)
		if err != nil {
			t.Fatal(err)
		}
		out[z] = b
	}
	return out
}

func TestSnapshotRestoreEquivalence(t *testing.T) {
	specs, ops := scenario()
	cfg := testConfig(specs...)
	c := &clock{now: t0}
	whole := newAgg(t, cfg, c)
	want := run_(t, whole, c, ops)
	wantState := snapshot(t, whole)
	seen := map[schemas.PresenceType]int{}
	for _, e := range want {
		seen[e.Type]++
	}
	for _, typ := range []schemas.PresenceType{schemas.Occupied, schemas.Vacated, schemas.CountChanged, schemas.Stale, schemas.Recovered} {
		if seen[typ] == 0 {
			t.Fatalf("scenario too tame: no %s in %v", typ, seen)
		}
	}
	if whole.Stats().Late == 0 {
		t.Fatal("scenario has no late records")
	}
	t.Logf("%d ops, events %v, stats %+v", len(ops), seen, whole.Stats())

	for split := 0; split <= len(ops); split++ {
		c := &clock{now: t0}
		first := newAgg(t, cfg, c)
		got := run_(t, first, c, ops[:split])
		state := snapshot(t, first)
		c2 := &clock{now: c.now.Add(time.Hour)} // a new process, started much later
		second := newAgg(t, cfg, c2)
		for z, b := range state {
			if err := second.UnmarshalState(z, b); err != nil {
				t.Fatalf("split %d: %v", split, err)
			}
		}
		got = append(got, run_(t, second, c2, ops[split:])...)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("split at %d: %d events differ from the uninterrupted %d", split, len(got), len(want))
		}
		for z, b := range snapshot(t, second) {
			if !bytes.Equal(b, wantState[z]) {
				t.Fatalf("split at %d: final state of %s differs:\n%s\n%s", split, z, b, wantState[z])
			}
		}
	}
}

func TestEventIDsDeterministicAndUnique(t *testing.T) {
	specs, ops := scenario()
	var runs [2][]schemas.PresenceEvent
	for i := range runs {
		c := &clock{now: t0}
		runs[i] = run_(t, newAgg(t, testConfig(specs...), c), c, ops)
	}
	ids := map[string]schemas.PresenceEvent{}
	for i, e := range runs[0] {
		if e.EventID != runs[1][i].EventID || len(e.EventID) != 32 {
			t.Fatalf("event %d: ids %q and %q", i, e.EventID, runs[1][i].EventID)
		}
		if prev, dup := ids[e.EventID]; dup {
			t.Fatalf("id %s shared by %+v and %+v", e.EventID, prev, e)
		}
		ids[e.EventID] = e
	}
	if eventID("a", schemas.Occupied, 1, 0) == eventID("a", schemas.Vacated, 1, 0) || eventID("a", schemas.Occupied, 1, 0) == eventID("b", schemas.Occupied, 1, 0) {
		t.Fatal("ids ignore type or zone")
	}
}

func TestUnmarshalStateRejects(t *testing.T) {
	a := newAgg(t, testConfig(), &clock{now: t0})
	for _, b := range []string{``, `{}`, `{"v":2}`, `{"v":1,"x":1}`, `{"v":1} {}`, `{"v":1,"win":[{"s":2},{"s":1}]}`,
		`{"v":1,"win":[{"s":1,"c":{"a":{"n":3,"h":{"0":1}}}}]}`, `{"v":1,"win":[null]}`} {
		if err := a.UnmarshalState("room", []byte(b)); !errors.Is(err, ErrState) {
			t.Errorf("UnmarshalState(%s) = %v, want ErrState", b, err)
		}
	}
	if err := a.UnmarshalState("nope", []byte(`{"v":1}`)); !errors.Is(err, ErrUnknownZone) {
		t.Errorf("unknown zone: %v", err)
	}
}

func TestConfigDefaultsAndValidate(t *testing.T) {
	c := Config{Size: 3 * time.Second, EnterAfter: 500 * time.Millisecond}.WithDefaults()
	want := Config{Size: 3 * time.Second, Advance: 3 * time.Second, Grace: DefaultGrace, EnterAfter: 500 * time.Millisecond, VacateAfter: DefaultVacateAfter, StaleAfter: DefaultStaleAfter}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got %+v, want %+v", c, want)
	}
	for _, bad := range []Config{
		{Size: time.Second, Advance: 2 * time.Second},
		{Grace: -time.Second},
		{Size: 64 * time.Second, Advance: 100 * time.Millisecond},
		{Zones: []ZoneSpec{{ID: "a"}, {ID: "a"}}},
	} {
		if err := bad.WithDefaults().Validate(); !errors.Is(err, ErrConfig) {
			t.Errorf("Validate(%+v) = %v, want ErrConfig", bad, err)
		}
	}
	if _, err := New(Config{Zones: []ZoneSpec{{ID: "a"}, {ID: "a"}}}, nil); !errors.Is(err, ErrConfig) {
		t.Errorf("duplicate zone: %v", err)
	}
}

func FuzzUnmarshalState(f *testing.F) {
	specs, ops := scenario()
	c := &clock{now: t0}
	a := newAgg(f, testConfig(specs...), c)
	run_(f, a, c, ops[:len(ops)/3])
	for _, b := range snapshot(f, a) {
		f.Add(b)
	}
	f.Add([]byte(`{"v":1,"win":[{"s":1,"c":{"a":{"n":1,"h":{"0":1}}}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c := &clock{now: t0}
		a := newAgg(t, testConfig(specs...), c)
		if err := a.UnmarshalState("hall", data); err != nil {
			if !errors.Is(err, ErrState) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		// Whatever was accepted must be usable.
		for i := range 30 {
			at := t0.Add(time.Duration(i) * 300 * time.Millisecond)
			c.now = at
			if _, err := a.Add(schemas.ZoneCounts{ZoneID: "hall", CameraID: "h1", CaptureTime: at, Count: 1}); err != nil {
				t.Fatal(err)
			}
		}
		a.Tick(t0.Add(time.Hour))
		if _, err := a.MarshalState("hall"); err != nil {
			t.Fatal(err)
		}
	})
}

func BenchmarkAdd(b *testing.B) {
	specs := make([]ZoneSpec, 20)
	for i := range specs {
		specs[i] = ZoneSpec{ID: fmt.Sprintf("z%d", i), Cameras: []string{"a", "b"}}
	}
	for _, hop := range []time.Duration{0, 500 * time.Millisecond} {
		b.Run(fmt.Sprintf("advance=%v", hop), func(b *testing.B) {
			cfg := Config{Size: 2 * time.Second, Advance: hop, Zones: specs}
			c := &clock{now: t0}
			a := newAgg(b, cfg, c)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				frame := i / (len(specs) * 2)
				at := t0.Add(time.Duration(frame) * 100 * time.Millisecond)
				c.now = at
				zc := schemas.ZoneCounts{ZoneID: specs[(i/2)%len(specs)].ID, CameraID: []string{"a", "b"}[i%2], CaptureTime: at, Count: int32(frame / 37 % 3)}
				if _, err := a.Add(zc); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
