package presence

import (
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/corb-dev/corb/schemas"
)

func TestViewsFoldAggregatorEvents(t *testing.T) {
	cfg := testConfig()
	c := &clock{now: t0}
	a := newAgg(t, cfg, c)
	// 2 people from 3s to 13s, then 1 person to 23s, then nobody.
	evs := feed(t, a, c, "room", "cam1", t0, frames(run{3 * time.Second, 0}, run{10 * time.Second, 2}, run{10 * time.Second, 1}, run{10 * time.Second, 0}))
	if got := types(evs); !reflect.DeepEqual(got, []schemas.PresenceType{schemas.Occupied, schemas.CountChanged, schemas.Vacated}) {
		t.Fatalf("events %v", got)
	}
	var o Occupancy
	var u Usage
	for i, e := range evs {
		o, u = o.Apply(e), u.Apply(e)
		if i == 1 {
			if o.State != StateOccupied || o.Count != 1 || o.Peak != 2 || !o.OccupiedSince.Equal(t0.Add(3*time.Second)) {
				t.Errorf("occupancy after COUNT_CHANGED = %+v", o)
			}
		}
	}
	if o.State != StateVacant || o.Count != 0 || !o.Since.Equal(t0.Add(23*time.Second)) || !o.OccupiedSince.IsZero() {
		t.Errorf("occupancy at the end = %+v", o)
	}
	// The count change is seen at the end of the first window with 1 person (14s):
	// 2 people × 11 s + 1 person × 9 s = 31 person-seconds.
	if u.Visits != 1 || u.Peak != 2 || math.Abs(u.PersonMinutes-31.0/60) > 1e-9 || !u.LastSeen.Equal(t0.Add(23*time.Second)) {
		t.Errorf("usage = %+v, want 1 visit, peak 2, %v person-minutes", u, 31.0/60)
	}
	// Duplicate delivery of the last event changes nothing.
	if again := u.Apply(evs[len(evs)-1]); !reflect.DeepEqual(again, u) {
		t.Errorf("duplicate changed usage: %+v", again)
	}
}

func TestUsageResetOnCleaning(t *testing.T) {
	ev := func(id string, typ schemas.PresenceType, at time.Duration, n int32, since time.Duration, dur time.Duration) schemas.PresenceEvent {
		e := schemas.PresenceEvent{EventID: id, ZoneID: "k", Type: typ, Count: n, EventTime: t0.Add(at), WindowEnd: t0.Add(at)}
		if since >= 0 {
			e.OccupiedSince = t0.Add(since)
		}
		e.Duration = dur
		return e
	}
	var u Usage
	u = u.Apply(ev("1", schemas.Occupied, 2*time.Minute, 3, 0, 0))
	u = u.Reset(t0.Add(10 * time.Minute)) // cleaned while 3 people were in
	if u.Visits != 0 || u.PersonMinutes != 0 || u.Peak != 3 || !u.Since.Equal(t0.Add(10*time.Minute)) {
		t.Fatalf("after reset: %+v", u)
	}
	u = u.Apply(ev("2", schemas.Vacated, 25*time.Minute, 0, 0, 20*time.Minute)) // left at 20 min
	if math.Abs(u.PersonMinutes-30) > 1e-9 || u.Count != 0 {
		t.Fatalf("3 people × 10 min after cleaning: %+v", u)
	}
	u = u.Apply(ev("3", schemas.Occupied, 31*time.Minute, 1, 30*time.Minute, 0))
	u = u.Apply(ev("4", schemas.Stale, 40*time.Minute, 1, 30*time.Minute, 0))
	if u.Visits != 1 || u.Count != 1 {
		t.Fatalf("after a new visit: %+v", u)
	}
	b, err := u.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var back Usage
	if err := back.UnmarshalBinary(b); err != nil || !reflect.DeepEqual(back, u) {
		t.Fatalf("round trip: %+v, %v\n%s", back, err, b)
	}
	if err := back.UnmarshalBinary([]byte(`{"zone_id":"k","extra":1}`)); err == nil {
		t.Error("unknown field accepted")
	}
}

func TestOccupancyEncodingStable(t *testing.T) {
	o := Occupancy{}.Apply(schemas.PresenceEvent{EventID: "x", ZoneID: "z", Type: schemas.Occupied, Count: 2, Peak: 2,
		OccupiedSince: t0.In(time.FixedZone("CET", 3600)), EventTime: t0.Add(time.Second)})
	o = o.Apply(schemas.PresenceEvent{EventID: "y", ZoneID: "z", Type: schemas.Stale, Count: 2, EventTime: t0.Add(time.Minute)})
	b, err := o.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"zone_id":"z","state":"OCCUPIED","stale":true,"count":2,"peak":2,"occupied_since":"2026-03-01T08:00:00Z","since":"2026-03-01T08:00:00Z","updated_at":"2026-03-01T08:01:00Z","last_event_id":"y"}`
	if string(b) != want {
		t.Errorf("encoding\n got %s\nwant %s", b, want)
	}
	var back Occupancy
	if err := back.UnmarshalBinary(b); err != nil || !reflect.DeepEqual(back, o) {
		t.Errorf("round trip %+v %v", back, err)
	}
}

func TestUsageCleaned(t *testing.T) {
	in := Usage{ZoneID: "k", Since: t0, Visits: 4, PersonMinutes: 12, Peak: 3, FirstSeen: t0.Add(time.Minute),
		LastSeen: t0.Add(time.Hour), Count: 1, CountSince: t0.Add(50 * time.Minute)}
	for _, tc := range []struct {
		name    string
		cleaned time.Time
		want    Usage
	}{
		{"older cleaning", t0.Add(-time.Hour), in},
		{"the period's own cleaning", t0, in},
		{"newer cleaning, somebody in", t0.Add(2 * time.Hour), Usage{ZoneID: "k", Since: t0.Add(2 * time.Hour), Peak: 1,
			FirstSeen: t0.Add(2 * time.Hour), LastSeen: t0.Add(time.Hour), Count: 1, CountSince: t0.Add(2 * time.Hour)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := in.Cleaned(tc.cleaned); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Cleaned(%v)\n got %+v\nwant %+v", tc.cleaned, got, tc.want)
			}
		})
	}
	empty := in
	empty.Count = 0
	if got := empty.Cleaned(t0.Add(2 * time.Hour)); !got.FirstSeen.IsZero() || got.Peak != 0 {
		t.Errorf("a zone cleaned empty has first seen %v, peak %d; want none, 0", got.FirstSeen, got.Peak)
	}
}

func TestUsageFirstSeenSinceCleaning(t *testing.T) {
	occupied := func(id string, since time.Duration) schemas.PresenceEvent {
		return schemas.PresenceEvent{EventID: id, ZoneID: "k", Type: schemas.Occupied, Count: 1,
			OccupiedSince: t0.Add(since), EventTime: t0.Add(since + 2*time.Second)}
	}
	u := Usage{}.Apply(occupied("1", time.Minute))
	if !u.FirstSeen.Equal(t0.Add(time.Minute)) {
		t.Fatalf("first seen %v, want the first occupancy's start", u.FirstSeen)
	}
	u = u.Apply(occupied("2", 5*time.Minute))
	if !u.FirstSeen.Equal(t0.Add(time.Minute)) {
		t.Fatalf("a later visit moved first seen to %v", u.FirstSeen)
	}
	// Occupied since before the cleaning (the event arrives late): first
	// seen is the cleaning, not before it.
	u = Usage{Since: t0.Add(10 * time.Minute)}.Apply(occupied("3", 8*time.Minute))
	if !u.FirstSeen.Equal(t0.Add(10 * time.Minute)) {
		t.Fatalf("first seen %v, want the cleaning's time", u.FirstSeen)
	}
}
