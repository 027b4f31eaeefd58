package cleaning_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/corb-dev/corb/operators"
	"github.com/corb-dev/corb/operators/cleaning"
	"github.com/corb-dev/corb/operators/cleaning/cleanings"
	"github.com/corb-dev/corb/operators/directory"
	"github.com/corb-dev/corb/operators/presence"
	"github.com/corb-dev/corb/operators/runtimetest"
	"github.com/corb-dev/corb/schemas"
)

const (
	commandsTopic  = "commands"
	usageTopic     = "usage"
	cleaningsTopic = "cleanings"
	dlqTopic       = "commands-dlq"
	ada, ben, cleo = "+15550001", "+15550002", "+15550003"
)

var (
	t0  = time.Date(2026, 6, 2, 9, 0, 0, 0, time.UTC)
	now = t0.Add(10 * time.Hour)
	// Kitchen has no cleaner.
	zoneNames = map[string]string{"lawn": "Lawn", "walkway": "Footpath", "kitchen": "Kitchen"}
)

const directoryYAML = `people:
  - {phone: "+15550001", name: Ada, roles: [staff]}
  - {phone: "+15550002", name: Ben, roles: [cleaner], zones: [lawn, walkway]}
  - {phone: "+15550003", name: Cleo, roles: [cleaner], zones: [walkway]}
`

func newOperator(t testing.TB) *cleaning.Operator {
	t.Helper()
	d, err := directory.Parse("directory.yaml", []byte(directoryYAML))
	if err != nil {
		t.Fatal(err)
	}
	o, err := cleaning.New(cleaning.Options{
		Name: "cleaning-report", Commands: commandsTopic, Cleanings: cleaningsTopic,
		UsageTable: usageTopic, CleaningsTable: cleaningsTopic,
		Directory: func() *directory.Directory { return d }, ZoneNames: zoneNames,
		Clock: func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// walkwayUsage is 23 visits since the cleaning at t0.
var walkwayUsage = presence.Usage{ZoneID: "walkway", Since: t0, Visits: 23, PersonMinutes: 411.6, Peak: 5,
	FirstSeen: t0.Add(14 * time.Minute), LastSeen: t0.Add(8*time.Hour + 40*time.Minute), CountSince: t0.Add(8*time.Hour + 40*time.Minute)}

var walkwayCleaned = cleanings.Record{ZoneID: "walkway", Cycle: 2, CleanedAt: t0, By: ben, Name: "Ben", CommandID: "done-2"}

func bytesOf(t testing.TB, m interface{ MarshalBinary() ([]byte, error) }) []byte {
	t.Helper()
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// personRequest is a staff member's CLEAN text, as corb sms serve makes it.
func personRequest(sid, zone, reason string) *schemas.Command {
	c := schemas.NewCommand(schemas.CommandRequestCleaning, schemas.Cause{Kind: schemas.CauseSMS, ID: sid})
	c.ZoneID, c.Channel, c.Sender, c.IssuedAt = zone, "sms", ada, t0.Add(9*time.Hour)
	c.RequestCleaning = &schemas.RequestCleaningArgs{Reason: reason}
	return c
}

// automaticRequest is the rules operator's request of zone's cycle, with its figures.
func automaticRequest(zone string, cycle int64) *schemas.Command {
	c := schemas.NewCommand(schemas.CommandRequestCleaning, schemas.Cause{Kind: schemas.CauseCycle, ID: schemas.CycleID(zone, cycle)})
	c.ZoneID, c.Channel, c.Sender, c.IssuedAt = zone, "rules", "rules", t0.Add(9*time.Hour)
	c.RequestCleaning = &schemas.RequestCleaningArgs{Reason: "usage", Policy: "visits >= 20", RequestedBy: "rules",
		Visits: 20, PersonMinutes: 300, Peak: 4, FirstUse: t0.Add(time.Hour), LastUse: t0.Add(2 * time.Hour), Cycle: cycle}
	return c
}

// done is a cleaner's DONE text.
func done(sid, zone, from string, at time.Time) *schemas.Command {
	c := schemas.NewCommand(schemas.CommandCleaningDone, schemas.Cause{Kind: schemas.CauseSMS, ID: sid})
	c.ZoneID, c.Channel, c.Sender, c.IssuedAt = zone, "sms", from, at
	c.CleaningDone = &schemas.CleaningDoneArgs{}
	return c
}

// sms is a send_sms the operator made.
type sms struct{ to, body string }

// sent reads the send_sms commands among recs by id, failing on one keyed
// otherwise or not caused by parent.
func sent(t testing.TB, recs []*kgo.Record) map[string]sms {
	t.Helper()
	out := map[string]sms{}
	for _, c := range runtimetest.Decode[schemas.Command](t, recs) {
		if c.CommandType != schemas.CommandSendSMS {
			continue
		}
		if _, dup := out[c.ID]; dup {
			t.Errorf("send_sms %s twice", c.ID)
		}
		out[c.ID] = sms{c.SendSMS.To, c.SendSMS.Body}
	}
	for _, r := range recs {
		var c schemas.Command
		if err := schemas.Unmarshal(r.Value, &c); err == nil && c.CommandType == schemas.CommandSendSMS && string(r.Key) != c.ID {
			t.Errorf("send_sms %s keyed %q, want its id", c.ID, r.Key)
		}
	}
	return out
}

func newTester(t *testing.T) *runtimetest.Tester {
	return runtimetest.New(t, runtimetest.Topics(3, commandsTopic, usageTopic, cleaningsTopic), runtimetest.Topics(1, dlqTopic),
		runtimetest.Timeout(30*time.Second))
}

func run(tt *runtimetest.Tester, op operators.Operator) *runtimetest.Instance {
	return tt.Run(runtimetest.Operator{
		Name: "cleaning-report", Inputs: []string{commandsTopic}, Outputs: []string{commandsTopic, cleaningsTopic},
		Tables: []string{usageTopic, cleaningsTopic}, DeadLetter: dlqTopic, Operator: op,
	})
}

// TestRuntimeRequest: a request texts one report to each of the zone's
// cleaners and acknowledges it to the person who asked, each send_sms with
// the id its cause gives it; the report carries the zone's figures.
func TestRuntimeRequest(t *testing.T) {
	id := func(c *schemas.Command, purpose string) string { return c.Child(schemas.CommandSendSMS, purpose).ID }
	walkwayReport := "Cleaning needed: Footpath.\n" +
		"Since the last cleaning (2 Jun 09:00): 23 visits, 412 person-minutes, peak 5 people, first use 2 Jun 09:14, last use 2 Jun 17:40.\n" +
		"Why: spilled coffee. Asked by Ada (+15550001).\n" +
		"Reply DONE Footpath when it is clean."
	for _, tc := range []struct {
		name string
		c    *schemas.Command
		want func(c *schemas.Command) map[string]sms
	}{
		{"a person asks: two cleaners, an acknowledgement", personRequest("SM1", "walkway", "spilled coffee"), func(c *schemas.Command) map[string]sms {
			return map[string]sms{
				id(c, "report "+ben):  {ben, walkwayReport},
				id(c, "report "+cleo): {cleo, walkwayReport},
				id(c, "reply"):        {ada, "Thanks - cleaning of Footpath requested; 2 cleaners notified."},
			}
		}},
		{"rules asks: the request's figures, nobody to acknowledge", automaticRequest("lawn", 4), func(c *schemas.Command) map[string]sms {
			return map[string]sms{id(c, "report "+ben): {ben, "Cleaning needed: Lawn.\n" +
				"Since records began: 20 visits, 300 person-minutes, peak 4 people, first use 2 Jun 10:00, last use 2 Jun 11:00.\n" +
				"Why: usage (visits >= 20). Asked by rules.\n" +
				"Reply DONE Lawn when it is clean."}}
		}},
		{"a person asks where nobody cleans: told so", personRequest("SM2", "kitchen", "spilled coffee"), func(c *schemas.Command) map[string]sms {
			return map[string]sms{id(c, "reply"): {ada, "Cleaning of Kitchen requested, but nobody in the directory cleans Kitchen: no one was told. Please tell an admin."}}
		}},
		{"rules asks where nobody cleans: nothing to text", automaticRequest("kitchen", 1), func(*schemas.Command) map[string]sms { return map[string]sms{} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tt := newTester(t)
			tt.Produce(usageTopic, "walkway", bytesOf(t, walkwayUsage))
			tt.Produce(cleaningsTopic, "walkway", bytesOf(t, walkwayCleaned))
			tt.ProduceAvro(commandsTopic, tc.c.ZoneID, tc.c)
			in := run(tt, newOperator(t))
			want := tc.want(tc.c)
			got := sent(t, tt.Expect(commandsTopic, 1+len(want)))
			if !maps.Equal(got, want) {
				t.Errorf("sent %d texts, want %d", len(got), len(want))
				for id, s := range got {
					if want[id] != s {
						t.Errorf("send_sms %s: to %s %q\nwant to %s %q", id, s.to, s.body, want[id].to, want[id].body)
					}
				}
				for id := range want {
					if _, ok := got[id]; !ok {
						t.Errorf("no send_sms %s to %s", id, want[id].to)
					}
				}
			}
			in.WaitConsumed()
			tt.Expect(dlqTopic, 0)
		})
	}
}

// TestRuntimeRequestTwice: the same request handled twice makes the same
// send_sms ids, so the SMS operator texts each report once.
func TestRuntimeRequestTwice(t *testing.T) {
	tt := newTester(t)
	tt.Produce(usageTopic, "walkway", bytesOf(t, walkwayUsage))
	c := personRequest("SM1", "walkway", "spilled coffee")
	tt.ProduceAvro(commandsTopic, c.ZoneID, c)
	tt.ProduceAvro(commandsTopic, c.ZoneID, c)
	run(tt, newOperator(t))
	recs := tt.Expect(commandsTopic, 2+2*3)
	counts := map[string]int{}
	for _, c := range runtimetest.Decode[schemas.Command](t, recs) {
		if c.CommandType == schemas.CommandSendSMS {
			counts[c.ID]++
		}
	}
	if len(counts) != 3 {
		t.Fatalf("%d send_sms ids, want 3 (two reports and an acknowledgement)", len(counts))
	}
	for id, n := range counts {
		if n != 2 {
			t.Errorf("send_sms %s made %d times, want once per handling (2)", id, n)
		}
	}
}

// TestRuntimeDone: a cleaner's DONE moves the zone's record to the next
// cycle, once even when the command comes twice; the next request reports
// the use since that cleaning although the usage view has not reset yet.
func TestRuntimeDone(t *testing.T) {
	tt := newTester(t)
	tt.Produce(usageTopic, "walkway", bytesOf(t, walkwayUsage))
	tt.Produce(cleaningsTopic, "walkway", bytesOf(t, walkwayCleaned))
	cleanedAt := t0.Add(9 * time.Hour)
	d := done("SM10", "walkway", cleo, cleanedAt)
	tt.ProduceAvro(commandsTopic, "walkway", d)
	tt.ProduceAvro(commandsTopic, "walkway", d) // Twilio's retry, say
	in := run(tt, newOperator(t))

	views := tt.Expect(cleaningsTopic, 2) // the one before, and one more
	var rec cleanings.Record
	if err := rec.UnmarshalBinary(views[len(views)-1].Value); err != nil {
		t.Fatal(err)
	}
	want := cleanings.Record{ZoneID: "walkway", Cycle: 3, CleanedAt: cleanedAt, By: cleo, Name: "Cleo", CommandID: d.ID}
	if rec != want || string(views[len(views)-1].Key) != "walkway" {
		t.Fatalf("cleanings %s = %+v, want %+v", views[len(views)-1].Key, rec, want)
	}
	got := sent(t, tt.Expect(commandsTopic, 2+1))
	reply := d.Child(schemas.CommandSendSMS, "reply").ID
	if got[reply] != (sms{cleo, "Thanks, Cleo: Footpath is marked clean (cleaning 3); its usage counts from zero again."}) {
		t.Fatalf("confirmations %+v, want one to Cleo", got)
	}
	in.WaitConsumed()

	r := personRequest("SM11", "walkway", "")
	tt.ProduceAvro(commandsTopic, "walkway", r)
	got = sent(t, tt.Expect(commandsTopic, 3+4))
	report := got[r.Child(schemas.CommandSendSMS, "report "+ben).ID].body
	if wantReport := "Cleaning needed: Footpath.\nNo use recorded since the last cleaning (2 Jun 18:00).\nAsked by Ada (+15550001).\nReply DONE Footpath when it is clean."; report != wantReport {
		t.Errorf("the report after the cleaning\n %q\nwant\n %q", report, wantReport)
	}
	tt.Expect(dlqTopic, 0)
}

// TestRuntimeBadCommands: what cannot be acted on goes to the dead-letter
// topic; commands of other types pass by.
func TestRuntimeBadCommands(t *testing.T) {
	tt := newTester(t)
	noZone := personRequest("SM1", "", "x")
	unknown := personRequest("SM2", "attic", "x")
	status := schemas.NewCommand(schemas.CommandStatus, schemas.Cause{Kind: schemas.CauseSMS, ID: "SM3"})
	status.Sender, status.IssuedAt = ada, t0
	tt.Produce(commandsTopic, "x", []byte("not a command"))
	tt.ProduceAvro(commandsTopic, ada, noZone)
	tt.ProduceAvro(commandsTopic, "attic", unknown)
	tt.ProduceAvro(commandsTopic, ada, status)
	run(tt, newOperator(t)).WaitConsumed()
	var errs []string
	for _, dl := range tt.DeadLetters(dlqTopic, 3) {
		if dl.Reason != "permanent" || dl.Operator != "cleaning-report" {
			t.Errorf("dead letter %q: reason %s, operator %s", dl.Error, dl.Reason, dl.Operator)
		}
		errs = append(errs, dl.Error)
	}
	slices.Sort(errs)
	for i, want := range []string{"invalid command", "no zone", "unknown zone: \"attic\""} {
		if i >= len(errs) || !strings.Contains(strings.Join(errs, "\n"), want) {
			t.Errorf("dead letters %q: none says %q", errs, want)
		}
	}
	tt.Expect(commandsTopic, 4) // nothing made
}

// table is a cleanings or usage table whose contents a test sets.
type table map[string][]byte

func (t table) Get(k string) ([]byte, bool) { v, ok := t[k]; return v, ok }
func (t table) Snapshot() map[string][]byte { return maps.Clone(t) }

// TestDoneOnce: what a cleaning_done comes to, given what the cleanings
// table and the instance's memory know.
func TestDoneOnce(t *testing.T) {
	at := t0.Add(9 * time.Hour)
	d := done("SM10", "walkway", cleo, at)
	record := func(t *testing.T, c *schemas.Command, offset int64) operators.Record {
		b, err := schemas.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		return operators.Record{Topic: commandsTopic, Partition: 1, Offset: offset, Key: []byte(c.ZoneID), Value: b, Timestamp: at}
	}
	type step struct {
		c      *schemas.Command
		offset int64
		cycle  int64  // of the cleanings record written; 0: none
		reply  string // the text's body prefix; "": none
		drop   string
	}
	cycle3 := cleanings.Record{ZoneID: "walkway", Cycle: 3, CleanedAt: at, By: cleo, CommandID: d.ID}
	for _, tc := range []struct {
		name  string
		table table
		steps []step
		err   error
	}{
		{"first time", table{"walkway": bytesOf(t, walkwayCleaned)}, []step{{d, 5, 3, "Thanks, Cleo", ""}}, nil},
		{"never cleaned before", table{}, []step{{d, 5, 1, "Thanks, Cleo", ""}}, nil},
		{"the same record run again before the table has it: the same outputs", table{"walkway": bytesOf(t, walkwayCleaned)},
			[]step{{d, 5, 3, "Thanks", ""}, {d, 5, 3, "Thanks", ""}}, nil},
		{"the command again, later on the topic", table{"walkway": bytesOf(t, walkwayCleaned)},
			[]step{{d, 5, 3, "Thanks", ""}, {d, 9, 0, "", cleaning.DroppedDuplicate}}, nil},
		{"the table has it", table{"walkway": bytesOf(t, cycle3)}, []step{{d, 5, 0, "", cleaning.DroppedDuplicate}}, nil},
		{"two cleanings before the table has the first", table{"walkway": bytesOf(t, walkwayCleaned)},
			[]step{{d, 5, 3, "Thanks", ""}, {done("SM11", "walkway", ben, at.Add(time.Hour)), 6, 4, "Thanks, Ben", ""}}, nil},
		{"an older DONE: told, nothing counted", table{"walkway": bytesOf(t, cycle3)},
			[]step{{done("SM12", "walkway", ben, at.Add(-time.Hour)), 5, 0, "Footpath was already marked clean at 2 Jun 18:00 by +15550003", ""}}, nil},
		{"an older DONE from the command line: nothing", table{"walkway": bytesOf(t, cycle3)},
			[]step{{done("SM12", "walkway", "cli", at.Add(-time.Hour)), 5, 0, "", cleaning.DroppedOlder}}, nil},
		{"the table's record is unreadable", table{"walkway": []byte("{")}, []step{{d, 5, 0, "", ""}}, cleanings.ErrRecord},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := newOperator(t)
			o.UseTables(map[string]operators.Table{cleaningsTopic: tc.table, usageTopic: table{}})
			for i, s := range tc.steps {
				res, err := o.Process(context.Background(), []operators.Record{record(t, s.c, s.offset)})
				if err != nil {
					t.Fatal(err)
				}
				r := res[0]
				if tc.err != nil {
					if !errors.Is(r.Err, tc.err) || !operators.IsPermanent(r.Err) {
						t.Fatalf("step %d: error %v, want a permanent %v", i, r.Err, tc.err)
					}
					return
				}
				if r.Err != nil || r.Dropped != s.drop {
					t.Fatalf("step %d: error %v, dropped %q; want dropped %q", i, r.Err, r.Dropped, s.drop)
				}
				var cycle int64
				var reply string
				for _, out := range r.Outputs {
					switch out.Topic {
					case cleaningsTopic:
						var rec cleanings.Record
						if err := rec.UnmarshalBinary(out.Value); err != nil {
							t.Fatal(err)
						}
						cycle = rec.Cycle
					case commandsTopic:
						var c schemas.Command
						if err := schemas.Unmarshal(out.Value, &c); err != nil {
							t.Fatal(err)
						}
						if want := s.c.Child(schemas.CommandSendSMS, "reply").ID; c.ID != want {
							t.Errorf("step %d: reply %s, want id %s", i, c.ID, want)
						}
						reply = c.SendSMS.Body
					}
				}
				if cycle != s.cycle || !strings.HasPrefix(reply, s.reply) || (s.reply == "") != (reply == "") {
					t.Errorf("step %d: cycle %d, reply %q; want cycle %d, a reply starting %q", i, cycle, reply, s.cycle, s.reply)
				}
			}
		})
	}
}

func TestNewRejects(t *testing.T) {
	_, err := cleaning.New(cleaning.Options{Commands: commandsTopic})
	if !errors.Is(err, cleaning.ErrConfig) {
		t.Fatalf("New without tables and directory = %v, want ErrConfig", err)
	}
	for _, want := range []string{"Cleanings", "UsageTable", "CleaningsTable", "directory"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%v does not mention %s", err, want)
		}
	}
}
