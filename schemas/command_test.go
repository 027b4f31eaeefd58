package schemas

import (
	"errors"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestCommandIDPinned: ids computed independently (Python's hashlib over the
// same length-prefixed parts); a change to the derivation changes every id on
// the bus and breaks idempotency across a deploy, so it must fail here.
func TestCommandIDPinned(t *testing.T) {
	for _, tc := range []struct {
		parts []string
		want  string
	}{
		{nil, "e3b0c44298fc1c149afbf4c8996fb924"}, // SHA-256 of nothing
		{[]string{"SMS", "SM0123456789abcdef0123456789abcdef", ""}, "9064f8e8773f660f4314a76da90a1bb2"},
		{[]string{"EVENT", "kitchen/VACATED/1741944413589793", "notify +15550001"}, "75ce275880e6e23b9bd56538ada54959"},
		{[]string{"CYCLE", "kitchen#3", ""}, "572dd83c3e3618fecee14df9e3ceefee"},
		{[]string{strings.Repeat("x", 200)}, "948cdefb43779b0b015ecba112d64d8b"}, // a two-byte length prefix
	} {
		if got := CommandID(tc.parts...); got != tc.want {
			t.Errorf("CommandID(%q) = %s, want %s", tc.parts, got, tc.want)
		}
	}
}

func TestCommandIDDistinguishes(t *testing.T) {
	for _, tc := range []struct {
		name string
		a, b []string
	}{
		{"split point", []string{"ab", "c"}, []string{"a", "bc"}},
		{"trailing empty part", []string{"a"}, []string{"a", ""}},
		{"no parts and one empty part", nil, []string{""}},
		{"kind", []string{"SMS", "x", ""}, []string{"EVENT", "x", ""}},
		{"purpose", []string{"COMMAND", "p", "reply"}, []string{"COMMAND", "p", "notify +1"}},
		{"a length byte inside a part", []string{"\x01a"}, []string{"a"}},
		{"order", []string{"a", "b"}, []string{"b", "a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if CommandID(tc.a...) == CommandID(tc.b...) {
				t.Fatalf("CommandID(%q) == CommandID(%q)", tc.a, tc.b)
			}
		})
	}
	hex32 := regexp.MustCompile(`^[0-9a-f]{32}$`)
	if id := CommandID("SMS", "SM1", ""); !hex32.MatchString(id) || id != CommandID("SMS", "SM1", "") {
		t.Fatalf("CommandID = %q: want the same 32 lowercase hex digits every time", id)
	}
}

func TestCycleID(t *testing.T) {
	if got := CycleID("kitchen", 3); got != "kitchen#3" {
		t.Fatalf("CycleID = %q", got)
	}
	// A '#' in a zone id cannot make two cycles share an id.
	ids := map[string][2]any{}
	for _, zc := range []struct {
		zone  string
		cycle int64
	}{{"a", 12}, {"a#1", 2}, {"a#", 12}, {"a", 1}, {"a#12", 0}, {"", 12}} {
		id := CycleID(zc.zone, zc.cycle)
		if prev, dup := ids[id]; dup {
			t.Errorf("CycleID(%q, %d) = CycleID(%q, %d) = %q", zc.zone, zc.cycle, prev[0], prev[1], id)
		}
		ids[id] = [2]any{zc.zone, zc.cycle}
	}
}

func TestNewCommandAndChild(t *testing.T) {
	cause := Cause{Kind: CauseSMS, ID: "SM42"}
	in := NewCommand(CommandStatus, cause)
	in.ZoneID = "lobby"
	if in.ID != CommandID("SMS", "SM42", "") || in.Cause != cause || in.CommandType != CommandStatus {
		t.Fatalf("NewCommand = %+v", in)
	}
	if again := NewCommand(CommandStatus, cause); again.ID != in.ID {
		t.Fatalf("a redelivered cause gave id %s, then %s", in.ID, again.ID)
	}

	reply := in.Child(CommandSendSMS, "reply")
	want := &Command{
		ID:            CommandID("COMMAND", in.ID, "reply"),
		CommandType:   CommandSendSMS,
		ZoneID:        "lobby",
		Cause:         Cause{Kind: CauseCommand, ID: in.ID, Purpose: "reply"},
		CorrelationID: in.ID, // in is the first of its chain
	}
	if !reflect.DeepEqual(reply, want) {
		t.Fatalf("Child =\n %+v\nwant\n %+v", reply, want)
	}
	if other := in.Child(CommandSendSMS, "notify +15550001"); other.ID == reply.ID {
		t.Fatal("two purposes of one cause share an id")
	}
	grandchild := reply.Child(CommandSendSMS, "retry")
	if grandchild.CorrelationID != in.ID || grandchild.Cause.ID != reply.ID {
		t.Fatalf("grandchild = %+v: want correlation %s, cause %s", grandchild, in.ID, reply.ID)
	}
	reply.SendSMS = &SendSMSArgs{To: "+15550001", Body: "lobby: free"}
	b, err := Marshal(reply)
	if err != nil {
		t.Fatal(err)
	}
	var got Command
	if err := Unmarshal(b, &got); err != nil || !reflect.DeepEqual(&got, reply) {
		t.Fatalf("round trip = %+v, %v", got, err)
	}
}

func TestMarshalInvalidCommand(t *testing.T) {
	sub := func(a SubscribeArgs) *SubscribeArgs {
		if a.Subscriber == "" {
			a.Subscriber = "+15550001"
		}
		if a.Transitions == nil {
			a.Transitions = []PresenceType{Vacated}
		}
		return &a
	}
	farFuture := time.Date(300000, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		c    Command
		want string // in the error: the rule it breaks, not some other
	}{
		{"id not derived from cause", Command{ID: "cmd-1", CommandType: CommandStatus, Cause: Cause{Kind: CauseSMS, ID: "SM1"}}, "not derived from its cause"},
		{"unknown cause kind", *derived(Command{CommandType: CommandStatus, Cause: Cause{Kind: "WEBHOOK", ID: "x"}}), `unknown cause kind "WEBHOOK"`},
		{"cause without kind", *derived(Command{CommandType: CommandStatus, Cause: Cause{ID: "x"}}), `unknown cause kind ""`},
		{"cause without id", *derived(Command{CommandType: CommandStatus, Cause: Cause{Kind: CauseSMS}}), "cause.id is empty"},
		{"cause purpose not utf8", *derived(Command{CommandType: CommandStatus, Cause: Cause{Kind: CauseSMS, ID: "x", Purpose: "\xff"}}), "cause.purpose is not UTF-8"},
		{"correlation not utf8", Command{CommandType: CommandStatus, CorrelationID: "\xc0"}, "correlation_id is not UTF-8"},
		{"subscribe args on status", Command{CommandType: CommandStatus, ZoneID: "k", Subscribe: sub(SubscribeArgs{})}, `Subscribe arguments on command_type "status"`},
		{"unsubscribe args on subscribe", Command{CommandType: CommandSubscribe, ZoneID: "k", Unsubscribe: &UnsubscribeArgs{Subscriber: "+1"}}, `Unsubscribe arguments on command_type "subscribe"`},
		{"help args on status", Command{CommandType: CommandStatus, Help: &HelpArgs{}}, `Help arguments on command_type "status"`},
		{"cleaning done args on request_cleaning", Command{CommandType: CommandRequestCleaning, CleaningDone: &CleaningDoneArgs{}}, `CleaningDone arguments on command_type "request_cleaning"`},
		{"sms args on help", Command{CommandType: CommandHelp, SendSMS: &SendSMSArgs{}}, `SendSMS arguments on command_type "help"`},
		{"text and typed args", Command{CommandType: CommandHelp, Help: &HelpArgs{}, Text: &TextArgs{Raw: "HELP"}}, "2 argument records set"},
		{"subscribe to no zone", Command{CommandType: CommandSubscribe, Subscribe: sub(SubscribeArgs{})}, "no zone"},
		{"subscribe to all zones and one", Command{CommandType: CommandSubscribe, ZoneID: "k", Subscribe: sub(SubscribeArgs{AllZones: true})}, `all_zones with zone_id "k"`},
		{"subscribe to no transition", Command{CommandType: CommandSubscribe, ZoneID: "k", Subscribe: sub(SubscribeArgs{Transitions: []PresenceType{}})}, "transitions is empty"},
		{"subscribe to unknown transition", Command{CommandType: CommandSubscribe, ZoneID: "k", Subscribe: sub(SubscribeArgs{Transitions: []PresenceType{"FREE"}})}, `unknown type "FREE"`},
		{"subscribe to a transition twice", Command{CommandType: CommandSubscribe, ZoneID: "k", Subscribe: sub(SubscribeArgs{Transitions: []PresenceType{Vacated, Occupied, Vacated}})}, "VACATED twice"},
		{"subscribe nobody", Command{CommandType: CommandSubscribe, ZoneID: "k", Subscribe: &SubscribeArgs{Transitions: []PresenceType{Vacated}}}, "subscriber is empty"},
		{"unsubscribe from no zone", Command{CommandType: CommandUnsubscribe, Unsubscribe: &UnsubscribeArgs{Subscriber: "+1"}}, "no zone"},
		{"unsubscribe from all zones and one", Command{CommandType: CommandUnsubscribe, ZoneID: "k", Unsubscribe: &UnsubscribeArgs{AllZones: true, Subscriber: "+1"}}, `all_zones with zone_id "k"`},
		{"unsubscribe nobody", Command{CommandType: CommandUnsubscribe, ZoneID: "k", Unsubscribe: &UnsubscribeArgs{}}, "subscriber is empty"},
		{"negative peak", Command{CommandType: CommandRequestCleaning, RequestCleaning: &RequestCleaningArgs{Peak: -1}}, "args.peak is negative"},
		{"negative occupied", Command{CommandType: CommandRequestCleaning, RequestCleaning: &RequestCleaningArgs{Occupied: -time.Millisecond}}, "args.occupied_ms is negative"},
		{"negative cycle", Command{CommandType: CommandRequestCleaning, RequestCleaning: &RequestCleaningArgs{Cycle: -1}}, "args.cycle is negative"},
		{"first use out of range", Command{CommandType: CommandRequestCleaning, RequestCleaning: &RequestCleaningArgs{FirstUse: farFuture}}, "args.first_use"},
		{"policy not utf8", Command{CommandType: CommandRequestCleaning, RequestCleaning: &RequestCleaningArgs{Policy: "visits \xff 20"}}, "args.policy is not UTF-8"},
		{"help topic not utf8", Command{CommandType: CommandHelp, Help: &HelpArgs{Topic: "\xff"}}, "args.topic is not UTF-8"},
		{"cleaned by not utf8", Command{CommandType: CommandCleaningDone, CleaningDone: &CleaningDoneArgs{By: "\xff"}}, "args.by is not UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Marshal(&tc.c)
			if !errors.Is(err, ErrInvalid) || b != nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Marshal = % x, %v; want ErrInvalid saying %q", b, err, tc.want)
			}
		})
	}
}

// TestUnmarshalRefusesUnderivedID: the id rule holds for what is read too,
// whoever wrote it.
func TestUnmarshalRefusesUnderivedID(t *testing.T) {
	b, err := reg(t).current["corb.Command"].codec.SingleFromNative(nil, map[string]any{
		"id": "random-id", "command_type": "status", "zone_id": "", "channel": "", "sender": "", "issued_at": int64(0),
		"cause":          map[string]any{"corb.Cause": map[string]any{"kind": "SMS", "id": "SM1", "purpose": ""}},
		"correlation_id": "", "args": nil,
	})
	if err != nil {
		t.Fatal(err)
	}
	var c Command
	if err := Unmarshal(b, &c); !errors.Is(err, ErrInvalid) || !reflect.DeepEqual(c, Command{}) {
		t.Fatalf("Unmarshal = %v, %+v; want ErrInvalid and no change", err, c)
	}
}

func reg(t testing.TB) *registry {
	t.Helper()
	r, err := registryOrErr()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// v1Command is a corb.Command v1 record in goavro's native form, written by
// hand from the v1 schema, with the struct it upgrades to.
type v1Command struct {
	name   string
	native map[string]any
	want   *Command
}

func v1Commands() []v1Command {
	envelope := func(commandType string, args any) map[string]any {
		return map[string]any{
			"id": "cmd-7", "command_type": commandType, "zone_id": "kitchen", "channel": "sms",
			"sender": "+15550001", "issued_at": int64(1741944600000000), "args": args,
		}
	}
	upgraded := func(commandType string) Command {
		return Command{ID: "cmd-7", CommandType: commandType, ZoneID: "kitchen", Channel: "sms",
			Sender: "+15550001", IssuedAt: ts("2025-03-14T09:30:00Z")}
	}
	with := func(c Command, set func(*Command)) *Command { set(&c); return &c }
	return []v1Command{
		{"no args", envelope("status", nil), with(upgraded("status"), func(*Command) {})},
		{"send_sms", envelope("send_sms", map[string]any{"corb.SendSMSArgs": map[string]any{"to": "+15550002", "body": "free ☕"}}),
			with(upgraded("send_sms"), func(c *Command) { c.SendSMS = &SendSMSArgs{To: "+15550002", Body: "free ☕"} })},
		{"request_cleaning", envelope("request_cleaning", map[string]any{"corb.RequestCleaningArgs": map[string]any{
			"reason": "42 visits", "visits": int32(42), "person_minutes": 311.5}}),
			with(upgraded("request_cleaning"), func(c *Command) {
				c.RequestCleaning = &RequestCleaningArgs{Reason: "42 visits", Visits: 42, PersonMinutes: 311.5}
			})},
		{"text on subscribe", envelope("subscribe", map[string]any{"corb.TextArgs": map[string]any{"raw": "SUBSCRIBE kitchen"}}),
			with(upgraded("subscribe"), func(c *Command) { c.Text = &TextArgs{Raw: "SUBSCRIBE kitchen"} })},
	}
}

func encodeV1(t testing.TB, native map[string]any) []byte {
	t.Helper()
	b, err := reg(t).byNameVersion["corb.Command.v1"].codec.SingleFromNative(nil, native)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCommandV1Upgrade(t *testing.T) {
	for _, tc := range v1Commands() {
		t.Run(tc.name, func(t *testing.T) {
			b := encodeV1(t, tc.native)
			if _, v, _ := VersionOf(b); v != 1 {
				t.Fatalf("written as v%d", v)
			}
			var got Command
			if err := Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(&got, tc.want) {
				t.Fatalf("upgraded\n %+v\nwant\n %+v", got, tc.want)
			}
			// Fields has v2's shape, so match patterns see one shape on both versions.
			f, err := Fields(b)
			if err != nil {
				t.Fatal(err)
			}
			if keys := slices.Sorted(maps.Keys(f)); !slices.Equal(keys, slices.Sorted(slices.Values(KnownFields()["corb.Command"]))) {
				t.Fatalf("Fields keys %v", keys)
			}
			if f["command_type"] != tc.want.CommandType || f["cause"] != nil || f["correlation_id"] != "" {
				t.Fatalf("Fields = %#v", f)
			}
			// Marshal writes v2, which reads back as the same struct.
			out, err := Marshal(&got)
			if err != nil {
				t.Fatal(err)
			}
			var again Command
			if _, v, _ := VersionOf(out); v != 2 || Unmarshal(out, &again) != nil || !reflect.DeepEqual(again, got) {
				t.Fatalf("re-marshalled as v%d: %+v", v, again)
			}
		})
	}
	// v1's rule that arguments belong to their command type still holds.
	bad := encodeV1(t, map[string]any{"id": "x", "command_type": "status", "zone_id": "", "channel": "", "sender": "",
		"issued_at": int64(0), "args": map[string]any{"corb.SendSMSArgs": map[string]any{"to": "+1", "body": "b"}}})
	if err := Unmarshal(bad, &Command{}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("v1 send_sms args on status: %v", err)
	}
}

func TestCommandFieldsV2(t *testing.T) {
	c := derived(Command{CommandType: CommandSubscribe, ZoneID: "kitchen", CorrelationID: "root",
		Cause:     Cause{Kind: CauseSMS, ID: "SM9"},
		Subscribe: &SubscribeArgs{Transitions: []PresenceType{Vacated, Occupied}, Once: true, Subscriber: "+15550001"}})
	f := fieldsOf(t, c)
	want := map[string]any{
		"id": c.ID, "command_type": "subscribe", "zone_id": "kitchen", "channel": "", "sender": "",
		"issued_at": time.Time{}, "correlation_id": "root",
		"cause": map[string]any{"kind": "SMS", "id": "SM9", "purpose": ""},
		"args": map[string]any{"all_zones": false, "transitions": []any{"VACATED", "OCCUPIED"}, "once": true,
			"subscriber": "+15550001"},
	}
	if !reflect.DeepEqual(f, want) {
		t.Fatalf("Fields =\n%#v\nwant\n%#v", f, want)
	}
	args := fieldsOf(t, goldenRecords()["corb.Command.v2"])["args"].(map[string]any)
	if args["first_use"] != ts("2025-03-14T06:58:12.000001Z") || args["occupied_ms"] != int64(12301500) || args["cycle"] != int64(3) {
		t.Fatalf("request_cleaning args = %#v", args)
	}
}
