package commands_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/corb-dev/corb/operators/cleaning/cleanings"

	"github.com/corb-dev/corb/operators"
	"github.com/corb-dev/corb/operators/commands"
	"github.com/corb-dev/corb/schemas"
)

const (
	ann = "+15550001"
	bob = "+15550002"
)

// now is 15:00 in London (GMT in early March).
var now = time.Date(2026, 3, 10, 15, 0, 0, 0, time.UTC)

func at(hhmm string) time.Time {
	t, err := time.Parse("2006-01-02 15:04", now.Format(time.DateOnly)+" "+hhmm)
	if err != nil {
		panic(err)
	}
	return t
}

type fakeTable map[string][]byte

func (t fakeTable) Get(k string) ([]byte, bool) { v, ok := t[k]; return v, ok }
func (t fakeTable) Snapshot() map[string][]byte { return maps.Clone(t) }

var testZones = []commands.Zone{{ID: "kitchen", Name: "Kitchen"}, {ID: "lobby", Name: "Lobby"}, {ID: "room-2", Name: "Room 2"}}

func newOperator(t *testing.T, occupancy, cleanings, subscriptions fakeTable) *commands.Operator {
	t.Helper()
	london, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Fatal(err)
	}
	o, err := commands.New(commands.Options{
		Name: "command-handlers", Zones: testZones, Location: london, Now: func() time.Time { return now },
		Logger:   slog.New(slog.DiscardHandler),
		Commands: "commands", Subscriptions: "subscriptions", OptOuts: "opt-outs",
		OccupancyTable: "occupancy", CleaningsTable: "cleanings", SubscriptionsTable: "subscriptions",
	})
	if err != nil {
		t.Fatal(err)
	}
	tables := map[string]operators.Table{}
	for name, tab := range map[string]fakeTable{"occupancy": occupancy, "cleanings": cleanings, "subscriptions": subscriptions} {
		if tab != nil {
			tables[name] = tab
		}
	}
	o.UseTables(tables)
	return o
}

func marshal(t testing.TB, r schemas.Record) []byte {
	t.Helper()
	b, err := schemas.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// command is a command of typ from sender, caused by the SMS "SM"+sid.
func command(typ, zone, sender, sid string, edit func(*schemas.Command)) *schemas.Command {
	c := schemas.NewCommand(typ, schemas.Cause{Kind: schemas.CauseSMS, ID: "SM" + sid})
	c.ZoneID, c.Sender, c.Channel, c.IssuedAt = zone, sender, "sms", now.Add(-time.Minute)
	if edit != nil {
		edit(c)
	}
	return c
}

func subscribe(zone, phone string, once bool, ts ...schemas.PresenceType) func(*schemas.Command) {
	return func(c *schemas.Command) {
		c.Subscribe = &schemas.SubscribeArgs{AllZones: zone == "", Transitions: ts, Once: once, Subscriber: phone}
	}
}

func unsubscribe(zone, phone string) func(*schemas.Command) {
	return func(c *schemas.Command) {
		c.Unsubscribe = &schemas.UnsubscribeArgs{AllZones: zone == "", Subscriber: phone}
	}
}

func event(t testing.TB, ev schemas.PresenceEvent) []byte {
	ev.EventID = fmt.Sprintf("%s-%s-%d", ev.ZoneID, ev.Type, ev.EventTime.Unix())
	if ev.WindowEnd.IsZero() {
		ev.WindowStart, ev.WindowEnd = ev.EventTime.Add(-2*time.Second), ev.EventTime
	}
	return marshal(t, &ev)
}

func cleaned(zone string, when time.Time) []byte {
	b, err := cleanings.Record{ZoneID: zone, Cycle: 3, CleanedAt: when, By: bob, CommandID: "done-" + zone}.MarshalBinary()
	if err != nil {
		panic(err)
	}
	return b
}

// building is the state the tables hold in most cases.
func building(t testing.TB) (occupancy, cleanings fakeTable) {
	occupancy = fakeTable{
		"kitchen": event(t, schemas.PresenceEvent{ZoneID: "kitchen", Type: schemas.Occupied, Count: 2, Peak: 2,
			OccupiedSince: at("14:05"), EventTime: at("14:05").Add(4 * time.Second)}),
		"lobby": event(t, schemas.PresenceEvent{ZoneID: "lobby", Type: schemas.Vacated,
			OccupiedSince: at("12:00"), Duration: 90 * time.Minute, EventTime: at("13:30").Add(30 * time.Second)}),
	}
	cleanings = fakeTable{"kitchen": cleaned("kitchen", at("09:30"))}
	return occupancy, cleanings
}

// describe renders the outputs of one command as lines to compare, and
// checks that every reply is a send_sms child of in keyed by its id.
func describe(t *testing.T, in *schemas.Command, outs []operators.Output) []string {
	t.Helper()
	var lines []string
	tombstone := map[string]string{"subscriptions": "unsubscribed", "opt-outs": "opted in"}
	for _, o := range outs {
		if what, ok := tombstone[o.Topic]; ok && o.Value == nil {
			lines = append(lines, what+" "+string(o.Key))
			continue
		}
		switch o.Topic {
		case "commands":
			var c schemas.Command
			if err := schemas.Unmarshal(o.Value, &c); err != nil {
				t.Fatalf("reply: %v", err)
			}
			if c.CommandType != schemas.CommandSendSMS || c.Cause.Kind != schemas.CauseCommand || c.Cause.ID != in.ID ||
				string(o.Key) != c.ID || c.CorrelationID != in.ID || c.Sender != "command-handlers" {
				t.Errorf("reply %+v (key %s) is not a send_sms child of %s keyed by its id", c, o.Key, in.ID)
			}
			lines = append(lines, fmt.Sprintf("%s to %s: %s", c.Cause.Purpose, c.SendSMS.To, c.SendSMS.Body))
		case "subscriptions":
			var c schemas.Command
			if err := schemas.Unmarshal(o.Value, &c); err != nil {
				t.Fatalf("subscription: %v", err)
			}
			lines = append(lines, fmt.Sprintf("subscribed %s: %s %q %v once=%v", o.Key, c.CommandType, c.ZoneID, c.Subscribe.Transitions, c.Subscribe.Once))
		case "opt-outs":
			var v commands.OptOut
			if err := json.Unmarshal(o.Value, &v); err != nil {
				t.Fatalf("opt-out: %v", err)
			}
			if want := in.Child(schemas.CommandSendSMS, commands.PurposeOptOutConfirmation).ID; v.Confirmation != want {
				t.Errorf("opt-out confirmation id %q, want %q", v.Confirmation, want)
			}
			lines = append(lines, fmt.Sprintf("opted out %s: %s at %s", o.Key, v.Phone, v.At.Format(time.TimeOnly)))
		default:
			t.Errorf("output to %q", o.Topic)
		}
	}
	return lines
}

func process(t *testing.T, o *commands.Operator, cmds ...*schemas.Command) []operators.Result {
	t.Helper()
	batch := make([]operators.Record, len(cmds))
	for i, c := range cmds {
		batch[i] = operators.Record{Topic: "commands", Value: marshal(t, c)}
	}
	res, err := o.Process(context.Background(), batch)
	if err != nil || len(res) != len(batch) {
		t.Fatalf("Process: %d results, %v", len(res), err)
	}
	return res
}

func TestHandlers(t *testing.T) {
	occupancy, cleanings := building(t)
	subs := func(keys ...string) fakeTable {
		tab := fakeTable{}
		for _, k := range keys {
			zone, phone, _ := strings.Cut(k, " ")
			if zone == "*" {
				zone = ""
			}
			tab[k] = marshal(t, command(schemas.CommandSubscribe, zone, phone, k, subscribe(zone, phone, false, schemas.Vacated)))
		}
		return tab
	}
	tests := []struct {
		name          string
		subscriptions fakeTable
		cmd           *schemas.Command
		want          []string
		dropped       string
	}{
		{name: "status of a zone", cmd: command(schemas.CommandStatus, "kitchen", ann, "1", nil),
			want: []string{"reply to " + ann + ": Kitchen: occupied (2 people) since 14:05, cleaned 09:30"}},
		{name: "status by zone name", cmd: command(schemas.CommandStatus, "room 2", ann, "2", nil),
			want: []string{"reply to " + ann + ": Room 2: no data yet"}},
		{name: "status of every zone", cmd: command(schemas.CommandStatus, "", ann, "3", nil),
			want: []string{"reply to " + ann + ": Kitchen: occupied (2 people) since 14:05, cleaned 09:30\nLobby: free since 13:30\nRoom 2: no data yet"}},
		{name: "status of an unknown zone", cmd: command(schemas.CommandStatus, "kitchn", ann, "4", nil),
			want: []string{"reply to " + ann + `: No zone "kitchn". Zones: Kitchen, Lobby, Room 2.`}},
		{name: "subscribe", cmd: command(schemas.CommandSubscribe, "kitchen", ann, "5", subscribe("kitchen", ann, false, schemas.Vacated)),
			want: []string{
				"subscribed kitchen " + ann + `: subscribe "kitchen" [VACATED] once=false`,
				"reply to " + ann + ": You'll get a text when Kitchen is free. Reply UNSUBSCRIBE kitchen to stop.",
			}},
		{name: "subscribe by name keys the zone id", cmd: command(schemas.CommandSubscribe, "Room 2", ann, "6", subscribe("Room 2", ann, false, schemas.Occupied, schemas.Vacated)),
			want: []string{
				"subscribed room-2 " + ann + `: subscribe "room-2" [OCCUPIED VACATED] once=false`,
				"reply to " + ann + ": You'll get a text when Room 2 is occupied or free. Reply UNSUBSCRIBE room-2 to stop.",
			}},
		{name: "subscribe once to every zone", cmd: command(schemas.CommandSubscribe, "", ann, "7", subscribe("", ann, true, schemas.Vacated)),
			want: []string{
				"subscribed * " + ann + `: subscribe "" [VACATED] once=true`,
				"reply to " + ann + ": You'll get one text, the next time any zone is free. Reply UNSUBSCRIBE all to cancel.",
			}},
		{name: "subscribe from the command line texts the subscriber", cmd: command(schemas.CommandSubscribe, "lobby", "alice@cli", "8", subscribe("lobby", bob, false, schemas.Occupied, schemas.CountChanged)),
			want: []string{
				"subscribed lobby " + bob + `: subscribe "lobby" [OCCUPIED COUNT_CHANGED] once=false`,
				"reply to " + bob + ": You'll get a text when Lobby is occupied or changes count. Reply UNSUBSCRIBE lobby to stop.",
			}},
		{name: "subscribe to an unknown zone", cmd: command(schemas.CommandSubscribe, "attic", ann, "9", subscribe("attic", ann, false, schemas.Vacated)),
			want: []string{"reply to " + ann + `: No zone "attic". Zones: Kitchen, Lobby, Room 2.`}},
		{name: "unsubscribe", subscriptions: subs("kitchen " + ann), cmd: command(schemas.CommandUnsubscribe, "kitchen", ann, "10", unsubscribe("kitchen", ann)),
			want: []string{"unsubscribed kitchen " + ann, "reply to " + ann + ": You won't get texts about Kitchen any more."}},
		{name: "unsubscribe while subscribed to every zone", subscriptions: subs("kitchen "+ann, "* "+ann), cmd: command(schemas.CommandUnsubscribe, "kitchen", ann, "11", unsubscribe("kitchen", ann)),
			want: []string{"unsubscribed kitchen " + ann, "reply to " + ann + ": You won't get texts about Kitchen any more. You still get texts about every zone: reply UNSUBSCRIBE all to stop them."}},
		{name: "unsubscribe without a subscription", subscriptions: subs("lobby " + ann), cmd: command(schemas.CommandUnsubscribe, "kitchen", ann, "12", unsubscribe("kitchen", ann)),
			want: []string{"unsubscribed kitchen " + ann, "reply to " + ann + ": You had no subscription to Kitchen."}},
		{name: "unsubscribe from a zone gone from the zones file", subscriptions: subs("attic " + ann), cmd: command(schemas.CommandUnsubscribe, "attic", ann, "13", unsubscribe("attic", ann)),
			want: []string{"unsubscribed attic " + ann, "reply to " + ann + ": You won't get texts about attic any more."}},
		{name: "unsubscribe all", subscriptions: subs("kitchen "+ann, "* "+ann, "lobby "+bob, "room-2 "+ann), cmd: command(schemas.CommandUnsubscribe, "", ann, "14", unsubscribe("", ann)),
			want: []string{"unsubscribed * " + ann, "unsubscribed kitchen " + ann, "unsubscribed room-2 " + ann, "reply to " + ann + ": You won't get texts about any zone any more."}},
		{name: "unsubscribe all without subscriptions", subscriptions: subs("lobby " + bob), cmd: command(schemas.CommandUnsubscribe, "", ann, "15", unsubscribe("", ann)),
			want: []string{"reply to " + ann + ": You had no subscriptions."}},
		{name: "opt out", subscriptions: subs("kitchen "+ann, "lobby "+bob, "* "+ann), cmd: command(schemas.CommandOptOut, "", ann, "16", nil),
			want: []string{"unsubscribed * " + ann, "unsubscribed kitchen " + ann, "opted out " + ann + ": " + ann + " at 14:59:00",
				"opt-out confirmation to " + ann + ": You are unsubscribed from Corb and will receive no more messages. Reply START to resubscribe."}},
		{name: "opt in", cmd: command(schemas.CommandOptIn, "", ann, "17", nil),
			want: []string{"opted in " + ann, "opt-in confirmation to " + ann + ": You are resubscribed to Corb and will receive messages again. Text SUBSCRIBE zone for alerts, STOP to unsubscribe."}},
		{name: "help on one command", cmd: command(schemas.CommandHelp, "", ann, "18", func(c *schemas.Command) { c.Help = &schemas.HelpArgs{Topic: "Unsubscribe"} }),
			want: []string{"reply to " + ann + ": UNSUBSCRIBE zone, or UNSUBSCRIBE all: no more texts about it. STOP: no texts at all."}},
		{name: "help on stop", cmd: command(schemas.CommandHelp, "", ann, "19", func(c *schemas.Command) { c.Help = &schemas.HelpArgs{Topic: "stop"} }),
			want: []string{"reply to " + ann + ": STOP: no texts at all from Corb. START: texts again."}},
		{name: "an unknown command type", cmd: command("frobnicate", "", ann, "20", nil),
			want: []string{"reply to " + ann + ": Commands: STATUS, STATUS zone, SUBSCRIBE zone, NOTIFY zone when free, UNSUBSCRIBE zone/all, CLEAN zone reason, DONE zone, HELP command. STOP: no texts."}},
		{name: "subscribe without its arguments", cmd: command(schemas.CommandSubscribe, "kitchen", ann, "21", func(c *schemas.Command) { c.Text = &schemas.TextArgs{Raw: "subscribe kitchen"} }),
			want: []string{"reply to " + ann + ": SUBSCRIBE zone vacated/occupied/all: a text on each change (vacated if not said). SUBSCRIBE all: every zone. NOTIFY zone when free: one text."}},
		{name: "unsubscribe without its arguments", cmd: command(schemas.CommandUnsubscribe, "kitchen", ann, "22", nil),
			want: []string{"reply to " + ann + ": UNSUBSCRIBE zone, or UNSUBSCRIBE all: no more texts about it. STOP: no texts at all."}},
		{name: "status from the command line has nobody to text", cmd: command(schemas.CommandStatus, "kitchen", "alice@cli", "23", nil),
			dropped: "no phone to reply to"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			subscriptions := tc.subscriptions
			if subscriptions == nil {
				subscriptions = fakeTable{}
			}
			o := newOperator(t, occupancy, cleanings, subscriptions)
			res := process(t, o, tc.cmd)[0]
			if res.Err != nil {
				t.Fatal(res.Err)
			}
			got := describe(t, tc.cmd, res.Outputs)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("outputs:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			if res.Dropped != tc.dropped && len(res.Outputs) == 0 {
				t.Errorf("dropped %q, want %q", res.Dropped, tc.dropped)
			}
		})
	}
}

func TestHelpListsEveryCommandOnALine(t *testing.T) {
	o := newOperator(t, nil, nil, nil)
	for _, topic := range []string{"", "no such command"} {
		c := command(schemas.CommandHelp, "", ann, "help"+topic, func(c *schemas.Command) { c.Help = &schemas.HelpArgs{Topic: topic} })
		res := process(t, o, c)[0]
		lines := describe(t, c, res.Outputs)
		if len(lines) != 1 {
			t.Fatalf("help %q: %v", topic, lines)
		}
		body := strings.TrimPrefix(lines[0], "reply to "+ann+": ")
		var words []string
		for _, l := range strings.Split(body, "\n") {
			words = append(words, strings.Fields(l)[0])
		}
		if got := strings.Join(words, " "); got != "STATUS: SUBSCRIBE UNSUBSCRIBE CLEAN DONE STOP: HELP" {
			t.Errorf("help %q: lines start %s, want a line per command:\n%s", topic, got, body)
		}
	}
}

// The state a STATUS line reports, from each kind of latest event the
// occupancy view may hold.
func TestStatusLine(t *testing.T) {
	yesterday, lastWeek := now.AddDate(0, 0, -1), now.AddDate(0, 0, -4)
	tests := []struct {
		name    string
		ev      *schemas.PresenceEvent
		cleaned time.Time
		want    string
	}{
		{"no event", nil, time.Time{}, "Kitchen: no data yet"},
		{"occupied by one", &schemas.PresenceEvent{Type: schemas.Occupied, Count: 1, Peak: 1, OccupiedSince: at("14:05"), EventTime: at("14:06")}, time.Time{},
			"Kitchen: occupied (1 person) since 14:05"},
		{"count changed keeps the occupancy's start", &schemas.PresenceEvent{Type: schemas.CountChanged, Count: 3, Peak: 3, OccupiedSince: at("14:05"), EventTime: at("14:40")}, yesterday,
			"Kitchen: occupied (3 people) since 14:05, cleaned yesterday 15:00"},
		{"vacated", &schemas.PresenceEvent{Type: schemas.Vacated, OccupiedSince: at("12:00"), Duration: time.Hour, EventTime: at("13:01")}, lastWeek,
			"Kitchen: free since 13:00, cleaned Fri 15:00"},
		{"stale while occupied", &schemas.PresenceEvent{Type: schemas.Stale, Count: 2, Peak: 2, OccupiedSince: at("11:00"), EventTime: at("14:30")}, time.Time{},
			"Kitchen: cameras silent since 14:30 (was occupied (2 people))"},
		{"stale while free", &schemas.PresenceEvent{Type: schemas.Stale, EventTime: at("14:30")}, time.Time{},
			"Kitchen: cameras silent since 14:30 (was free)"},
		{"recovered while occupied", &schemas.PresenceEvent{Type: schemas.Recovered, Count: 2, Peak: 2, OccupiedSince: at("11:00"), EventTime: at("14:50")}, time.Time{},
			"Kitchen: occupied (2 people) since 11:00"},
		{"in summer time, a date of this year", &schemas.PresenceEvent{Type: schemas.Vacated, EventTime: time.Date(2026, 7, 1, 8, 0, 0, 0, time.UTC)}, time.Date(2025, 12, 24, 18, 0, 0, 0, time.UTC),
			"Kitchen: free since 1 Jul 09:00, cleaned 24 Dec 2025"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			occupancy, cleanings := fakeTable{}, fakeTable{}
			if tc.ev != nil {
				tc.ev.ZoneID = "kitchen"
				occupancy["kitchen"] = event(t, *tc.ev)
			}
			if !tc.cleaned.IsZero() {
				cleanings["kitchen"] = cleaned("kitchen", tc.cleaned)
			}
			o := newOperator(t, occupancy, cleanings, nil)
			c := command(schemas.CommandStatus, "kitchen", ann, tc.name, nil)
			got := describe(t, c, process(t, o, c)[0].Outputs)
			if want := "reply to " + ann + ": " + tc.want; len(got) != 1 || got[0] != want {
				t.Errorf("got %q, want %q", got, want)
			}
		})
	}
}

// A command delivered again yields the same reply id, so sms-out texts once.
func TestRedeliveryRepliesWithTheSameID(t *testing.T) {
	occupancy, cleanings := building(t)
	o := newOperator(t, occupancy, cleanings, fakeTable{})
	for _, c := range []*schemas.Command{
		command(schemas.CommandStatus, "kitchen", ann, "a", nil),
		command(schemas.CommandSubscribe, "kitchen", ann, "b", subscribe("kitchen", ann, false, schemas.Vacated)),
		command(schemas.CommandOptOut, "", ann, "c", nil),
	} {
		ids := map[string]int{}
		for range 2 {
			for _, r := range process(t, o, c) {
				for _, out := range r.Outputs {
					if out.Topic == "commands" {
						ids[string(out.Key)]++
					}
				}
			}
		}
		if len(ids) != 1 {
			t.Errorf("%s twice: reply ids %v, want one id twice", c.CommandType, ids)
		}
	}
}

// UNSUBSCRIBE all removes a subscription made earlier in the same batch,
// which the table cannot have seen yet, and not one removed before it.
func TestUnsubscribeAllSeesItsOwnBatch(t *testing.T) {
	o := newOperator(t, fakeTable{}, nil, fakeTable{})
	sub := func(zone, sid string) *schemas.Command {
		return command(schemas.CommandSubscribe, zone, ann, sid, subscribe(zone, ann, false, schemas.Vacated))
	}
	res := process(t, o, sub("kitchen", "x1"), sub("lobby", "x2"),
		command(schemas.CommandUnsubscribe, "lobby", ann, "x3", unsubscribe("lobby", ann)),
		command(schemas.CommandUnsubscribe, "", ann, "x4", unsubscribe("", ann)))
	last := res[3]
	got := describe(t, command(schemas.CommandUnsubscribe, "", ann, "x4", unsubscribe("", ann)), last.Outputs)
	want := []string{"unsubscribed kitchen " + ann, "reply to " + ann + ": You won't get texts about any zone any more."}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got %q, want %q", got, want)
	}
}

// Without a subscriptions table UNSUBSCRIBE all can only remove the
// subscription to every zone, and says nothing about what there was.
func TestUnsubscribeAllWithoutTheTable(t *testing.T) {
	o := newOperator(t, fakeTable{}, nil, nil)
	c := command(schemas.CommandUnsubscribe, "", ann, "u", unsubscribe("", ann))
	got := describe(t, c, process(t, o, c)[0].Outputs)
	want := []string{"unsubscribed * " + ann, "reply to " + ann + ": You won't get texts about any zone any more."}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestRecordsThatAreNoCommandFailPermanently(t *testing.T) {
	noID := command(schemas.CommandStatus, "", ann, "n", nil)
	noID.ID, noID.Cause = "", schemas.Cause{}
	tests := []struct {
		name  string
		value []byte
	}{
		{"garbage", []byte("STATUS kitchen")},
		{"tombstone", nil},
		{"another record", event(t, schemas.PresenceEvent{ZoneID: "kitchen", Type: schemas.Occupied, EventTime: now})},
		{"a command without an id", marshal(t, noID)},
	}
	o := newOperator(t, fakeTable{}, nil, nil)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := o.Process(context.Background(), []operators.Record{{Topic: "commands", Value: tc.value}})
			if err != nil {
				t.Fatal(err)
			}
			if !operators.IsPermanent(res[0].Err) || len(res[0].Outputs) != 0 {
				t.Errorf("got %+v, want a permanent error and no outputs", res[0])
			}
		})
	}
}

func TestSMSLengths(t *testing.T) {
	occupancy, cleanings := building(t)
	o := newOperator(t, occupancy, cleanings, fakeTable{"kitchen " + ann: []byte("x")})
	for _, c := range []*schemas.Command{
		command(schemas.CommandStatus, "kitchen", ann, "l1", nil),
		command(schemas.CommandSubscribe, "kitchen", ann, "l2", subscribe("kitchen", ann, true, schemas.Occupied, schemas.Vacated)),
		command(schemas.CommandUnsubscribe, "kitchen", ann, "l3", unsubscribe("kitchen", ann)),
		command(schemas.CommandOptOut, "", ann, "l4", nil),
		command(schemas.CommandOptIn, "", ann, "l5", nil),
	} {
		for _, line := range describe(t, c, process(t, o, c)[0].Outputs) {
			if _, body, ok := strings.Cut(line, ": "); ok && strings.Contains(line, " to "+ann) && len(body) > 160 {
				t.Errorf("%s: %d characters, more than one SMS: %q", c.CommandType, len(body), body)
			}
		}
	}
}
