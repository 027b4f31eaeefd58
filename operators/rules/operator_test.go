package rules_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/corb-dev/corb/operators"
	"github.com/corb-dev/corb/operators/cleaning/cleanings"
	"github.com/corb-dev/corb/operators/presence"
	"github.com/corb-dev/corb/operators/rules"
	"github.com/corb-dev/corb/schemas"
)

// t0 is a Monday, 14:00 UTC (15:00 in Paris).
var t0 = time.Date(2026, 3, 2, 14, 0, 0, 0, time.UTC)

const (
	alice = "+15550001"
	bob   = "+15550002"
)

// memTable is an operators.Table over a map the test changes between batches.
type memTable map[string][]byte

func (m memTable) Get(k string) ([]byte, bool) { v, ok := m[k]; return v, ok }
func (m memTable) Snapshot() map[string][]byte { return maps.Clone(m) }

type fixture struct {
	t                      *testing.T
	op                     *rules.Operator
	subs, usage, cleanings memTable
	now                    time.Time
	reg                    *prometheus.Registry
}

func newFixture(t *testing.T, cfg rules.Config) *fixture {
	t.Helper()
	f := &fixture{t: t, subs: memTable{}, usage: memTable{}, cleanings: memTable{}, now: t0, reg: prometheus.NewRegistry()}
	op, err := rules.New(cfg, rules.Options{Name: "rules", Commands: "commands", Subscriptions: "subscriptions", State: "rules-state",
		SubscriptionsTable: "subscriptions", UsageTable: "usage", CleaningsTable: "cleanings",
		ZoneNames: map[string]string{"kitchen": "Kitchen", "lobby": "Lobby"}, Clock: func() time.Time { return f.now }, Registry: f.reg})
	if err != nil {
		t.Fatal(err)
	}
	op.UseTables(map[string]operators.Table{"subscriptions": f.subs, "usage": f.usage, "cleanings": f.cleanings})
	f.op = op
	return f
}

// config is the default config with a time zone that makes test times plain.
func config(edit func(*rules.Config)) rules.Config {
	c := rules.DefaultConfig()
	c.Timezone = "UTC"
	if edit != nil {
		edit(&c)
	}
	return c
}

// subscribe puts a subscription into the table, keyed as command-handlers key it.
func (f *fixture) subscribe(zone, phone string, once bool, types ...schemas.PresenceType) string {
	f.t.Helper()
	key := zone + " " + phone
	cmd := schemas.NewCommand(schemas.CommandSubscribe, schemas.Cause{Kind: schemas.CauseSMS, ID: "SM" + key + fmt.Sprint(once)})
	cmd.Subscribe = &schemas.SubscribeArgs{Transitions: types, Once: once, Subscriber: phone, AllZones: zone == "*"}
	if zone != "*" {
		cmd.ZoneID = zone
	}
	f.subs[key] = marshal(f.t, cmd)
	return key
}

func marshal(t testing.TB, r schemas.Record) []byte {
	t.Helper()
	b, err := schemas.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func vacated(id, zone string, occupiedAt time.Time, d time.Duration) schemas.PresenceEvent {
	end := occupiedAt.Add(d)
	return schemas.PresenceEvent{EventID: id, ZoneID: zone, Type: schemas.Vacated, OccupiedSince: occupiedAt, Duration: d,
		WindowStart: end, WindowEnd: end.Add(30 * time.Second), EventTime: end.Add(30 * time.Second)}
}

func occupied(id, zone string, at time.Time, count int32) schemas.PresenceEvent {
	return schemas.PresenceEvent{EventID: id, ZoneID: zone, Type: schemas.Occupied, Count: count, Peak: count, OccupiedSince: at,
		WindowStart: at, WindowEnd: at.Add(2 * time.Second), EventTime: at.Add(4 * time.Second)}
}

func record(t testing.TB, ev schemas.PresenceEvent) operators.Record {
	return operators.Record{Topic: "events", Key: []byte(ev.ZoneID), Value: marshal(t, &ev), Timestamp: ev.EventTime}
}

// process runs one batch of evs and fails the test on any error.
func (f *fixture) process(evs ...schemas.PresenceEvent) []operators.Result {
	f.t.Helper()
	batch := make([]operators.Record, len(evs))
	for i, ev := range evs {
		batch[i] = record(f.t, ev)
	}
	res, err := f.op.Process(context.Background(), batch)
	if err != nil {
		f.t.Fatal(err)
	}
	for i, r := range res {
		if r.Err != nil {
			f.t.Fatalf("event %s: %v", evs[i].EventID, r.Err)
		}
	}
	return res
}

// outputs is what the results produced, commands decoded, by topic.
type outputs struct {
	sms        []string // "to: body"
	requests   []schemas.Command
	tombstones []string
	state      map[string][]byte
}

func collect(t testing.TB, res []operators.Result) outputs {
	t.Helper()
	o := outputs{state: map[string][]byte{}}
	for _, r := range res {
		for _, out := range r.Outputs {
			switch out.Topic {
			case "commands":
				var c schemas.Command
				if err := schemas.Unmarshal(out.Value, &c); err != nil {
					t.Fatal(err)
				}
				switch c.CommandType {
				case schemas.CommandSendSMS:
					if string(out.Key) != c.ID {
						t.Errorf("send_sms keyed %q, want its id %q", out.Key, c.ID)
					}
					o.sms = append(o.sms, c.SendSMS.To+": "+c.SendSMS.Body)
				case schemas.CommandRequestCleaning:
					if string(out.Key) != c.ZoneID {
						t.Errorf("request_cleaning keyed %q, want its zone %q", out.Key, c.ZoneID)
					}
					o.requests = append(o.requests, c)
				default:
					t.Errorf("unexpected command %s", c.CommandType)
				}
			case "subscriptions":
				if out.Value != nil {
					t.Errorf("subscriptions output %q is not a tombstone", out.Key)
				}
				o.tombstones = append(o.tombstones, string(out.Key))
			case "rules-state":
				o.state[string(out.Key)] = out.Value
			default:
				t.Errorf("output to undeclared topic %q", out.Topic)
			}
		}
	}
	return o
}

// step is one batch, processed at a wall-clock time.
type step struct {
	at     time.Time // zero: t0
	events []schemas.PresenceEvent
}

func TestNotifications(t *testing.T) {
	both := []schemas.PresenceType{schemas.Occupied, schemas.Vacated}
	v1 := vacated("v1", "kitchen", t0.Add(-time.Hour), time.Hour-5*time.Minute) // vacated 13:55
	tests := []struct {
		name       string
		cfg        func(*rules.Config)
		subs       func(f *fixture)
		steps      []step
		sms        []string
		tombstones []string
	}{
		{
			name:  "vacated to its subscriber",
			subs:  func(f *fixture) { f.subscribe("kitchen", alice, false, schemas.Vacated) },
			steps: []step{{events: []schemas.PresenceEvent{v1}}},
			sms:   []string{alice + ": Kitchen is free again (vacated 13:55)."},
		},
		{
			name:  "occupied-only subscriber gets nothing on VACATED",
			subs:  func(f *fixture) { f.subscribe("kitchen", alice, false, schemas.Occupied) },
			steps: []step{{events: []schemas.PresenceEvent{v1}}},
		},
		{
			name: "all transitions: both",
			cfg:  func(c *rules.Config) { c.Cooldown = 0 },
			subs: func(f *fixture) { f.subscribe("kitchen", alice, false, both...) },
			steps: []step{{events: []schemas.PresenceEvent{
				occupied("o1", "kitchen", t0, 2), vacated("v2", "kitchen", t0, 20*time.Minute)}}},
			sms: []string{alice + ": Kitchen is in use (occupied 14:00).", alice + ": Kitchen is free again (vacated 14:20)."},
		},
		{
			name: "other zones' subscribers get nothing",
			subs: func(f *fixture) { f.subscribe("lobby", alice, false, both...) },
			steps: []step{{events: []schemas.PresenceEvent{
				v1, occupied("o1", "kitchen", t0, 1), {EventID: "c1", ZoneID: "kitchen", Type: schemas.CountChanged, Count: 3, EventTime: t0}}}},
		},
		{
			name: "* subscriber gets every zone",
			subs: func(f *fixture) { f.subscribe("*", alice, false, schemas.Vacated) },
			steps: []step{{events: []schemas.PresenceEvent{
				v1, vacated("v2", "lobby", t0, time.Minute), vacated("v3", "garage", t0, time.Minute)}}},
			sms: []string{alice + ": Kitchen is free again (vacated 13:55).", alice + ": Lobby is free again (vacated 14:01).",
				alice + ": garage is free again (vacated 14:01)."},
		},
		{
			name: "a phone subscribed twice gets one text",
			subs: func(f *fixture) {
				f.subscribe("*", alice, false, schemas.Vacated)
				f.subscribe("kitchen", alice, false, both...)
			},
			steps: []step{{events: []schemas.PresenceEvent{v1}}},
			sms:   []string{alice + ": Kitchen is free again (vacated 13:55)."},
		},
		{
			name: "each subscriber, in phone order",
			subs: func(f *fixture) {
				f.subscribe("kitchen", bob, false, schemas.Vacated)
				f.subscribe("kitchen", alice, false, schemas.Vacated)
			},
			steps: []step{{events: []schemas.PresenceEvent{v1}}},
			sms:   []string{alice + ": Kitchen is free again (vacated 13:55).", bob + ": Kitchen is free again (vacated 13:55)."},
		},
		{
			name:  "the same event twice in a batch and again later: one text",
			cfg:   func(c *rules.Config) { c.Cooldown = 0 },
			subs:  func(f *fixture) { f.subscribe("kitchen", alice, false, schemas.Vacated) },
			steps: []step{{events: []schemas.PresenceEvent{v1, v1}}, {events: []schemas.PresenceEvent{v1}}},
			sms:   []string{alice + ": Kitchen is free again (vacated 13:55)."},
		},
		{
			name: "within the cooldown, in event time: one text",
			subs: func(f *fixture) { f.subscribe("kitchen", alice, false, schemas.Vacated) },
			steps: []step{
				{events: []schemas.PresenceEvent{vacated("v1", "kitchen", t0, time.Minute)}},
				// Processed an hour later on the wall clock, but 9m later in event time.
				{at: t0.Add(time.Hour), events: []schemas.PresenceEvent{vacated("v2", "kitchen", t0.Add(5*time.Minute), 5*time.Minute)}},
			},
			sms: []string{alice + ": Kitchen is free again (vacated 14:01)."},
		},
		{
			name: "after the cooldown: two texts",
			subs: func(f *fixture) { f.subscribe("kitchen", alice, false, schemas.Vacated) },
			steps: []step{
				{events: []schemas.PresenceEvent{vacated("v1", "kitchen", t0, time.Minute)}},
				{events: []schemas.PresenceEvent{vacated("v2", "kitchen", t0.Add(5*time.Minute), 6*time.Minute)}},
			},
			sms: []string{alice + ": Kitchen is free again (vacated 14:01).", alice + ": Kitchen is free again (vacated 14:11)."},
		},
		{
			name: "a replayed older event is within the cooldown",
			subs: func(f *fixture) { f.subscribe("kitchen", alice, false, schemas.Vacated) },
			steps: []step{
				{events: []schemas.PresenceEvent{vacated("v2", "kitchen", t0.Add(time.Hour), time.Minute)}},
				{events: []schemas.PresenceEvent{vacated("v1", "kitchen", t0, time.Minute)}},
			},
			sms: []string{alice + ": Kitchen is free again (vacated 15:01)."},
		},
		{
			name: "cooldowns are per zone and per subscriber",
			subs: func(f *fixture) {
				f.subscribe("*", alice, false, schemas.Vacated)
				f.subscribe("kitchen", bob, false, schemas.Vacated)
			},
			steps: []step{
				{events: []schemas.PresenceEvent{vacated("v1", "kitchen", t0, time.Minute), vacated("v2", "lobby", t0, 2*time.Minute)}},
				{events: []schemas.PresenceEvent{vacated("v3", "kitchen", t0.Add(2*time.Minute), time.Minute)}},
			},
			sms: []string{alice + ": Kitchen is free again (vacated 14:01).", bob + ": Kitchen is free again (vacated 14:01).",
				alice + ": Lobby is free again (vacated 14:02)."},
		},
		{
			name: "quiet hours on the wall clock, in the configured time zone",
			cfg:  func(c *rules.Config) { c.QuietHours, c.Timezone = "22:00-07:00", "Europe/Paris" },
			subs: func(f *fixture) { f.subscribe("kitchen", alice, false, schemas.Vacated) },
			steps: []step{
				// 21:30 UTC is 22:30 in Paris (UTC+1 in March): quiet.
				{at: time.Date(2026, 3, 2, 21, 30, 0, 0, time.UTC), events: []schemas.PresenceEvent{vacated("v1", "kitchen", t0, time.Minute)}},
				// 05:59 UTC is 06:59: still quiet, though the event is of the afternoon.
				{at: time.Date(2026, 3, 3, 5, 59, 0, 0, time.UTC), events: []schemas.PresenceEvent{vacated("v2", "kitchen", t0.Add(time.Hour), time.Minute)}},
				// 06:00 UTC is 07:00: texts again, in Paris time.
				{at: time.Date(2026, 3, 3, 6, 0, 0, 0, time.UTC), events: []schemas.PresenceEvent{vacated("v3", "kitchen", t0.Add(2*time.Hour), time.Minute)}},
			},
			sms: []string{alice + ": Kitchen is free again (vacated 17:01)."},
		},
		{
			name: "a one-shot fires once and is tombstoned",
			cfg:  func(c *rules.Config) { c.Cooldown = 0 },
			subs: func(f *fixture) { f.subscribe("kitchen", alice, true, schemas.Vacated) },
			steps: []step{
				{events: []schemas.PresenceEvent{vacated("v1", "kitchen", t0, time.Minute), vacated("v2", "kitchen", t0.Add(time.Hour), time.Minute)}},
				// The tombstone has not reached the table yet: still nothing.
				{events: []schemas.PresenceEvent{vacated("v3", "kitchen", t0.Add(2*time.Hour), time.Minute)}},
			},
			sms:        []string{alice + ": Kitchen is free again (vacated 14:01). That was your one-time alert."},
			tombstones: []string{"kitchen " + alice},
		},
		{
			name: "a one-shot ignores the cooldown",
			subs: func(f *fixture) {
				f.subscribe("*", alice, false, schemas.Vacated)
				f.subscribe("kitchen", alice, true, schemas.Vacated)
			},
			steps: []step{
				{events: []schemas.PresenceEvent{vacated("v1", "lobby", t0, time.Minute)}},
				{events: []schemas.PresenceEvent{vacated("v2", "kitchen", t0, 2*time.Minute)}},
				{events: []schemas.PresenceEvent{vacated("v3", "kitchen", t0.Add(3*time.Minute), time.Minute)}},
			},
			sms:        []string{alice + ": Lobby is free again (vacated 14:01).", alice + ": Kitchen is free again (vacated 14:02)."},
			tombstones: []string{"kitchen " + alice},
		},
		{
			name: "a one-shot waits out the quiet hours",
			cfg:  func(c *rules.Config) { c.QuietHours = "22:00-07:00" },
			subs: func(f *fixture) { f.subscribe("kitchen", alice, true, schemas.Vacated) },
			steps: []step{
				{at: time.Date(2026, 3, 2, 23, 0, 0, 0, time.UTC), events: []schemas.PresenceEvent{vacated("v1", "kitchen", t0, time.Minute)}},
				{at: time.Date(2026, 3, 3, 8, 0, 0, 0, time.UTC), events: []schemas.PresenceEvent{vacated("v2", "kitchen", t0.Add(time.Hour), time.Minute)}},
			},
			sms:        []string{alice + ": Kitchen is free again (vacated 15:01). That was your one-time alert."},
			tombstones: []string{"kitchen " + alice},
		},
		{
			name: "a one-shot to every zone",
			subs: func(f *fixture) { f.subscribe("*", alice, true, schemas.Occupied) },
			steps: []step{{events: []schemas.PresenceEvent{
				vacated("v1", "kitchen", t0, time.Minute), occupied("o1", "lobby", t0, 1), occupied("o2", "lobby", t0.Add(time.Hour), 1)}}},
			sms:        []string{alice + ": Lobby is in use (occupied 14:00). That was your one-time alert."},
			tombstones: []string{"* " + alice},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, config(tt.cfg))
			tt.subs(f)
			var got outputs
			for _, s := range tt.steps {
				f.now = t0
				if !s.at.IsZero() {
					f.now = s.at
				}
				o := collect(t, f.process(s.events...))
				got.sms = append(got.sms, o.sms...)
				got.tombstones = append(got.tombstones, o.tombstones...)
			}
			if !slices.Equal(got.sms, tt.sms) {
				t.Errorf("texts:\n got %q\nwant %q", got.sms, tt.sms)
			}
			if !slices.Equal(got.tombstones, tt.tombstones) {
				t.Errorf("tombstones: got %q, want %q", got.tombstones, tt.tombstones)
			}
		})
	}
}

// A notification's id is derived from the event and the phone, whatever
// else happened in between: a redelivery makes the same command.
func TestNotificationIsDerivedFromItsCause(t *testing.T) {
	f := newFixture(t, config(nil))
	f.subscribe("kitchen", alice, false, schemas.Vacated)
	ev := vacated("v1", "kitchen", t0, time.Minute)
	res := f.process(ev)
	var c schemas.Command
	if err := schemas.Unmarshal(res[0].Outputs[0].Value, &c); err != nil {
		t.Fatal(err)
	}
	want := schemas.Cause{Kind: schemas.CauseEvent, ID: "v1", Purpose: "notify " + alice}
	if c.Cause != want || c.ID != want.CommandID() || c.ZoneID != "kitchen" || c.Channel != rules.Channel || c.Sender != "rules" ||
		!c.IssuedAt.Equal(ev.EventTime) || !res[0].Outputs[0].Timestamp.Equal(ev.EventTime) {
		t.Fatalf("send_sms %+v: want cause %+v, zone kitchen, from rules, issued at the event time", c, want)
	}
	for _, r := range []rune(c.SendSMS.Body) {
		if r > 0x7e || r < 0x20 {
			t.Fatalf("body %q has %q: not plain GSM-7", c.SendSMS.Body, r)
		}
	}
}

// A record with no outputs says why, when a notification was due.
func TestDroppedSaysWhy(t *testing.T) {
	f := newFixture(t, config(func(c *rules.Config) { c.QuietHours = "13:00-15:00" }))
	f.subscribe("kitchen", alice, false, schemas.Vacated)
	// effective is each result's Dropped, or "outputs" when it has some
	// (Dropped is then ignored).
	effective := func(res []operators.Result) []string {
		out := make([]string, len(res))
		for i, r := range res {
			out[i] = r.Dropped
			if len(r.Outputs) > 0 {
				out[i] = "outputs"
			}
		}
		return out
	}
	ev := vacated("v1", "kitchen", t0, time.Minute)
	// The zone's last record carries its state.
	got := effective(f.process(ev, ev, occupied("o1", "kitchen", t0, 1), vacated("v2", "kitchen", t0, 2*time.Minute), occupied("o2", "kitchen", t0, 1)))
	if want := []string{"quiet-hours", "duplicate-event", "", "quiet-hours", "outputs"}; !slices.Equal(got, want) {
		t.Errorf("in quiet hours: %q, want %q", got, want)
	}
	f.now = t0.Add(-2 * time.Hour)
	got = effective(f.process(vacated("v3", "kitchen", t0, 3*time.Minute), vacated("v4", "kitchen", t0, 4*time.Minute), occupied("o3", "kitchen", t0, 1)))
	if want := []string{"outputs", "cooldown", "outputs"}; !slices.Equal(got, want) {
		t.Errorf("out of quiet hours: %q, want %q", got, want)
	}
}

func TestMetricsCountOutcomes(t *testing.T) {
	f := newFixture(t, config(func(c *rules.Config) { c.QuietHours, c.Visits = "13:00-15:00", 1 }))
	f.subscribe("kitchen", alice, false, schemas.Vacated)
	f.usage["kitchen"] = usage(t, presence.Usage{ZoneID: "kitchen", Visits: 1})
	f.process(vacated("v1", "kitchen", t0, time.Minute))
	f.now = t0.Add(-2 * time.Hour)
	f.process(vacated("v2", "kitchen", t0, 2*time.Minute), vacated("v3", "kitchen", t0, 3*time.Minute))
	got := map[string]float64{}
	mfs, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			name := mf.GetName()
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" {
					name += "/" + l.GetValue()
				}
			}
			got[name] = m.GetCounter().GetValue()
		}
	}
	want := map[string]float64{"corb_rules_notifications_total/quiet-hours": 1, "corb_rules_notifications_total/sent": 1,
		"corb_rules_notifications_total/cooldown": 1, "corb_rules_cleaning_requests_total": 1}
	if !maps.Equal(got, want) {
		t.Fatalf("metrics %v, want %v", got, want)
	}
}

func TestBadInputFailsPermanently(t *testing.T) {
	f := newFixture(t, config(nil))
	f.subscribe("kitchen", alice, false, schemas.Vacated)
	cmd := schemas.NewCommand(schemas.CommandStatus, schemas.Cause{Kind: schemas.CauseSMS, ID: "SM1"})
	noID := vacated("", "kitchen", t0, time.Minute)
	good := vacated("v1", "kitchen", t0, time.Minute)
	batch := []operators.Record{
		{Key: []byte("kitchen"), Value: []byte("not avro")},
		{Key: []byte("kitchen"), Value: marshal(t, cmd)},
		{Key: []byte("lobby"), Value: marshal(t, &good)},
		record(t, noID),
		record(t, good),
	}
	res, err := f.op.Process(context.Background(), batch)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res[:4] {
		if !operators.IsPermanent(r.Err) || !errors.Is(r.Err, rules.ErrInvalidRecord) || len(r.Outputs) != 0 {
			t.Errorf("record %d: %v, %d outputs; want a permanent ErrInvalidRecord", i, r.Err, len(r.Outputs))
		}
	}
	if o := collect(t, res[4:]); res[4].Err != nil || len(o.sms) != 1 || o.state["kitchen"] == nil {
		t.Errorf("the good record after them: %v, %+v", res[4].Err, o)
	}
}

// A subscription row that is not a subscribe command is left out: the
// others still get their texts.
func TestBadSubscriptionRowIsLeftOut(t *testing.T) {
	f := newFixture(t, config(nil))
	f.subscribe("kitchen", alice, false, schemas.Vacated)
	f.subs["kitchen +15559999"] = []byte("junk")
	status := schemas.NewCommand(schemas.CommandStatus, schemas.Cause{Kind: schemas.CauseSMS, ID: "SM2"})
	f.subs["kitchen +15559998"] = marshal(t, status)
	if o := collect(t, f.process(vacated("v1", "kitchen", t0, time.Minute))); len(o.sms) != 1 {
		t.Fatalf("texts %q, want alice's alone", o.sms)
	}
}

// The state the operator writes, restored into a new operator, carries on:
// nothing applied is applied again.
func TestRestoreCarriesOn(t *testing.T) {
	cfg := config(func(c *rules.Config) { c.Cooldown = 0; c.Visits = 2 })
	f := newFixture(t, cfg)
	f.subscribe("kitchen", alice, true, schemas.Vacated)
	f.usage["kitchen"] = usage(t, presence.Usage{ZoneID: "kitchen", Visits: 3})
	ev := vacated("v1", "kitchen", t0, time.Minute)
	first := collect(t, f.process(ev))
	if len(first.sms) != 1 || len(first.requests) != 1 {
		t.Fatalf("first run: %+v", first)
	}

	g := newFixture(t, cfg)
	g.subs, g.usage = f.subs, f.usage
	g.op.UseTables(map[string]operators.Table{"subscriptions": g.subs, "usage": g.usage, "cleanings": g.cleanings})
	if err := g.op.Restore(context.Background(), "rules-state", 0, first.state); err != nil {
		t.Fatal(err)
	}
	// The same event, and a new one: the one-shot and cycle 1 are spent.
	again := collect(t, g.process(ev, vacated("v2", "kitchen", t0.Add(time.Hour), time.Minute)))
	if len(again.sms) != 0 || len(again.requests) != 0 {
		t.Fatalf("after restore: %+v, want nothing", again)
	}
	// Revoked, the partition's zones are forgotten: the event is new again.
	g.op.Revoke(0)
	if o := collect(t, g.process(ev)); len(o.sms) != 1 {
		t.Fatalf("after revoke: %q, want a text", o.sms)
	}
}

func TestRestoreRefusesBadState(t *testing.T) {
	f := newFixture(t, config(nil))
	if err := f.op.Restore(context.Background(), "other-state", 0, nil); !errors.Is(err, rules.ErrStateTopic) {
		t.Errorf("other topic: %v", err)
	}
	err := f.op.Restore(context.Background(), "rules-state", 0, map[string][]byte{"kitchen": []byte(`{"v":9}`)})
	if !errors.Is(err, rules.ErrState) || !strings.Contains(err.Error(), "kitchen") {
		t.Errorf("bad state: %v", err)
	}
}

func TestNewRefusesIncompleteOptions(t *testing.T) {
	tests := []struct {
		name string
		cfg  rules.Config
		opts rules.Options
		want string
	}{
		{"no commands", config(nil), rules.Options{State: "s", SubscriptionsTable: "t"}, "commands"},
		{"no state", config(nil), rules.Options{Commands: "c", SubscriptionsTable: "t"}, "state"},
		{"no subscriptions table", config(nil), rules.Options{Commands: "c", State: "s"}, "subscriptions table"},
		{"policy without tables", config(func(c *rules.Config) { c.Visits = 3 }), rules.Options{Commands: "c", State: "s", SubscriptionsTable: "t"}, "usage and cleanings"},
		{"bad config", config(func(c *rules.Config) { c.QuietHours = "x" }), rules.Options{Commands: "c", State: "s", SubscriptionsTable: "t"}, "quiet_hours"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := rules.New(tt.cfg, tt.opts)
			if !errors.Is(err, rules.ErrConfig) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an ErrConfig about %s", err, tt.want)
			}
		})
	}
	op, err := rules.New(config(nil), rules.Options{Commands: "c", State: "s", SubscriptionsTable: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := op.Process(context.Background(), []operators.Record{record(t, vacated("v1", "kitchen", t0, time.Minute))}); !errors.Is(err, rules.ErrNoTable) {
		t.Fatalf("Process without tables: %v, want ErrNoTable", err)
	}
}

func usage(t testing.TB, u presence.Usage) []byte {
	t.Helper()
	b, err := u.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func cleaned(t testing.TB, zone string, cycle int64, at time.Time) []byte {
	t.Helper()
	b, err := cleanings.Record{ZoneID: zone, Cycle: cycle, CleanedAt: at, By: bob, CommandID: fmt.Sprintf("done-%s-%d", zone, cycle)}.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCleaningPolicy(t *testing.T) {
	type tables struct {
		usage    *presence.Usage
		cleaning []byte // nil: none
	}
	// policyStep is one batch, with the tables as they are when it runs.
	type policyStep struct {
		tables tables
		events []schemas.PresenceEvent
		want   []int64 // cycles requested by this step
	}
	u := func(visits int32, pm float64, since time.Time) *presence.Usage {
		return &presence.Usage{ZoneID: "kitchen", Visits: visits, PersonMinutes: pm, Peak: 4, Since: since, LastSeen: t0}
	}
	ev := func(i int) schemas.PresenceEvent {
		return vacated(fmt.Sprintf("v%d", i), "kitchen", t0.Add(time.Duration(i)*time.Hour), time.Minute)
	}
	cleanedAt := t0.Add(10 * time.Hour)
	tests := []struct {
		name   string
		policy rules.Policy
		steps  []policyStep
	}{
		{
			name:   "no policy: never",
			policy: rules.Policy{},
			steps:  []policyStep{{tables{usage: u(100, 1e6, time.Time{})}, []schemas.PresenceEvent{ev(1)}, nil}},
		},
		{
			name:   "visits: once per cycle",
			policy: rules.Policy{Visits: 10},
			steps: []policyStep{
				{tables{usage: u(9, 0, time.Time{})}, []schemas.PresenceEvent{ev(1)}, nil},
				{tables{usage: u(10, 0, time.Time{})}, []schemas.PresenceEvent{ev(2), ev(3)}, []int64{1}},
				{tables{usage: u(12, 0, time.Time{})}, []schemas.PresenceEvent{ev(4)}, nil},
				// Cleaned; presence has not reset the usage yet: it counts as zero.
				{tables{usage: u(12, 0, time.Time{}), cleaning: cleaned(t, "kitchen", 1, cleanedAt)}, []schemas.PresenceEvent{ev(11)}, nil},
				{tables{usage: u(3, 0, cleanedAt), cleaning: cleaned(t, "kitchen", 1, cleanedAt)}, []schemas.PresenceEvent{ev(12)}, nil},
				{tables{usage: u(10, 0, cleanedAt), cleaning: cleaned(t, "kitchen", 1, cleanedAt)}, []schemas.PresenceEvent{ev(13)}, []int64{2}},
				{tables{usage: u(20, 0, cleanedAt), cleaning: cleaned(t, "kitchen", 1, cleanedAt)}, []schemas.PresenceEvent{ev(14)}, nil},
			},
		},
		{
			name:   "person-minutes",
			policy: rules.Policy{PersonMinutes: 120},
			steps: []policyStep{
				{tables{usage: u(1, 119.5, time.Time{})}, []schemas.PresenceEvent{ev(1)}, nil},
				{tables{usage: u(1, 120, time.Time{})}, []schemas.PresenceEvent{ev(2)}, []int64{1}},
			},
		},
		{
			name:   "no usage yet: nothing",
			policy: rules.Policy{Visits: 1},
			steps:  []policyStep{{tables{}, []schemas.PresenceEvent{ev(1)}, nil}},
		},
		{
			name:   "a cleanings row that does not decode: no request, the event goes on",
			policy: rules.Policy{Visits: 1},
			steps:  []policyStep{{tables{usage: u(5, 0, time.Time{}), cleaning: []byte("{")}, []schemas.PresenceEvent{ev(1)}, nil}},
		},
		{
			name:   "hours occupied, counted from the events",
			policy: rules.Policy{HoursOccupied: 2},
			steps: []policyStep{
				{tables{}, []schemas.PresenceEvent{vacated("v1", "kitchen", t0, 90*time.Minute)}, nil},
				// Occupied again from 16:00: at 16:29 the zone has 1h59m.
				{tables{}, []schemas.PresenceEvent{occupied("o1", "kitchen", t0.Add(2*time.Hour), 1),
					{EventID: "c1", ZoneID: "kitchen", Type: schemas.CountChanged, Count: 2, OccupiedSince: t0.Add(2 * time.Hour), EventTime: t0.Add(2*time.Hour + 29*time.Minute)}}, nil},
				{tables{}, []schemas.PresenceEvent{vacated("v2", "kitchen", t0.Add(2*time.Hour), 30*time.Minute)}, []int64{1}},
				// Cleaned at 17:00, while occupied since 16:50: 10 minutes count.
				{tables{cleaning: cleaned(t, "kitchen", 1, t0.Add(3*time.Hour))}, []schemas.PresenceEvent{
					vacated("v3", "kitchen", t0.Add(2*time.Hour+50*time.Minute), 20*time.Minute),
					vacated("v4", "kitchen", t0.Add(4*time.Hour), 109*time.Minute)}, nil},
				{tables{cleaning: cleaned(t, "kitchen", 1, t0.Add(3*time.Hour))}, []schemas.PresenceEvent{
					vacated("v5", "kitchen", t0.Add(6*time.Hour), time.Minute)}, []int64{2}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, config(func(c *rules.Config) { c.Policy = tt.policy }))
			for i, s := range tt.steps {
				clear(f.usage)
				clear(f.cleanings)
				if s.tables.usage != nil {
					f.usage["kitchen"] = usage(t, *s.tables.usage)
				}
				if s.tables.cleaning != nil {
					f.cleanings["kitchen"] = s.tables.cleaning
				}
				var got []int64
				for _, c := range collect(t, f.process(s.events...)).requests {
					got = append(got, c.RequestCleaning.Cycle)
					want := schemas.Cause{Kind: schemas.CauseCycle, ID: schemas.CycleID("kitchen", c.RequestCleaning.Cycle)}
					if c.Cause != want || c.RequestCleaning.Policy == "" || c.Sender != "rules" {
						t.Errorf("step %d: request %+v %+v: want cause %+v, a policy, from rules", i, c, c.RequestCleaning, want)
					}
				}
				if !slices.Equal(got, s.want) {
					t.Errorf("step %d: requested cycles %v, want %v", i, got, s.want)
				}
			}
		})
	}
}

// A request carries the usage figures and says which threshold it passed.
func TestCleaningRequestArgs(t *testing.T) {
	f := newFixture(t, config(func(c *rules.Config) { c.Visits, c.HoursOccupied = 3, 10 }))
	f.usage["kitchen"] = usage(t, presence.Usage{ZoneID: "kitchen", Visits: 3, PersonMinutes: 42.5, Peak: 4, LastSeen: t0.Add(time.Hour)})
	o := collect(t, f.process(vacated("v1", "kitchen", t0, time.Hour)))
	if len(o.requests) != 1 {
		t.Fatalf("requests: %+v", o.requests)
	}
	got := *o.requests[0].RequestCleaning
	want := schemas.RequestCleaningArgs{Reason: got.Reason, Policy: "visits >= 3", Visits: 3, PersonMinutes: 42.5, Peak: 4,
		Occupied: time.Hour, FirstUse: t0, LastUse: t0.Add(time.Hour), Cycle: 1}
	if got.Reason == "" || got.Policy != want.Policy || got.Visits != want.Visits || got.PersonMinutes != want.PersonMinutes ||
		got.Peak != want.Peak || got.Occupied != want.Occupied || !got.FirstUse.Equal(want.FirstUse) || !got.LastUse.Equal(want.LastUse) || got.Cycle != 1 {
		t.Fatalf("args %+v, want %+v", got, want)
	}
}
