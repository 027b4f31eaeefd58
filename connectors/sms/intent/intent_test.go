package intent_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/corb-dev/corb/connectors/sms/intent"
)

func testZones() []intent.Zone {
	return []intent.Zone{
		{ID: "lobby", Name: "Lobby"},
		{ID: "kitchen", Name: "Kitchen", Aliases: []string{"break room", "kitchenette"}},
		{ID: "room-2", Name: "Room 2"},
		{ID: "room-3", Name: "Room 3"},
		{ID: "conf-a", Name: "Conference A", Aliases: []string{"boardroom"}},
		{ID: "cafe", Name: "Café"},
		{ID: "free"}, // a zone named like a transition
	}
}

func newParser(t testing.TB) *intent.Parser {
	t.Helper()
	p, err := intent.NewParser(testZones())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var (
	vac  = []intent.Transition{intent.Vacated}
	occ  = []intent.Transition{intent.Occupied}
	both = []intent.Transition{intent.Vacated, intent.Occupied}
)

func zones(ids ...string) []string { return ids }

func TestParse(t *testing.T) {
	p := newParser(t)
	status := func(ids ...string) intent.Intent { return intent.Intent{Kind: intent.Status, Zones: ids} }
	sub := func(tr []intent.Transition, ids ...string) intent.Intent {
		return intent.Intent{Kind: intent.Subscribe, Zones: ids, Transitions: tr}
	}
	once := func(tr []intent.Transition, ids ...string) intent.Intent {
		return intent.Intent{Kind: intent.Subscribe, Zones: ids, Transitions: tr, Once: true}
	}
	unsub := func(ids ...string) intent.Intent { return intent.Intent{Kind: intent.Unsubscribe, Zones: ids} }
	clean := func(id, reason string) intent.Intent {
		return intent.Intent{Kind: intent.RequestCleaning, Zones: zones(id), Reason: reason}
	}
	done := func(ids ...string) intent.Intent { return intent.Intent{Kind: intent.CleaningDone, Zones: ids} }
	unknown := func(cmd intent.Kind, problem intent.Problem, word, suggestion string) intent.Intent {
		usage := cmd
		if problem == intent.UnknownCommand || problem == intent.Empty {
			usage = ""
		}
		return intent.Intent{Kind: intent.Unknown, Command: cmd, Problem: problem, Word: word, Suggestion: suggestion, Usage: intent.Usage(usage)}
	}
	every := intent.Intent{Kind: intent.Status, AllZones: true}
	optOut := func(kw string) intent.Intent { return intent.Intent{Kind: intent.OptOut, Keyword: kw} }
	optIn := func(kw string) intent.Intent { return intent.Intent{Kind: intent.OptIn, Keyword: kw} }
	help := func(kw string, topic intent.Kind) intent.Intent {
		return intent.Intent{Kind: intent.Help, Keyword: kw, Topic: topic, Usage: intent.Usage(topic)}
	}

	tests := []struct {
		text string
		want intent.Intent
	}{
		// STATUS
		{"STATUS", every},
		{"  status!! ", every},
		{"STATUS all", every},
		{"status all zones", every},
		{"STATUS lobby", status("lobby")},
		{"Status: LOBBY?", status("lobby")},
		{"status the lobby please", status("lobby")},
		{"STATUS room 2", status("room-2")},
		{"status room-2", status("room-2")},
		{"status ROOM2", status("room-2")},
		{"status room_2", status("room-2")},
		{"status break room", status("kitchen")},
		{"status kitchenette", status("kitchen")},
		{"status conference a", status("conf-a")},
		{"status CAFÉ", status("cafe")},
		{"status kitchen and lobby", status("kitchen", "lobby")},
		{"status kitchen, kitchen", status("kitchen")},
		{"state lobby", status("lobby")},
		{"status lobbby", unknown(intent.Status, intent.UnknownZone, "lobbby", "Lobby")},
		{"status lobyb", unknown(intent.Status, intent.UnknownZone, "lobyb", "Lobby")},
		{"status Kitchn", unknown(intent.Status, intent.UnknownZone, "Kitchn", "Kitchen")},
		{"status room 22", unknown(intent.Status, intent.UnknownZone, "room 22", "Room 2")},
		{"status room 4", unknown(intent.Status, intent.UnknownZone, "room 4", "")}, // room 2 and room 3 are as close
		{"status garage", unknown(intent.Status, intent.UnknownZone, "garage", "")},
		{"status lobby garage", unknown(intent.Status, intent.UnknownZone, "garage", "")},
		{"status boardrom", unknown(intent.Status, intent.UnknownZone, "boardrom", "Conference A")},
		{"status lo", unknown(intent.Status, intent.UnknownZone, "lo", "")}, // too short to guess

		// SUBSCRIBE and NOTIFY
		{"SUBSCRIBE kitchen vacated", sub(vac, "kitchen")},
		{"SUBSCRIBE kitchen", sub(vac, "kitchen")},
		{"subscribe kitchen occupied", sub(occ, "kitchen")},
		{"subscribe kitchen busy", sub(occ, "kitchen")},
		{"subscribe kitchen all", sub(both, "kitchen")},
		{"subscribe kitchen both", sub(both, "kitchen")},
		{"subscribe kitchen vacated occupied", sub(both, "kitchen")},
		{"subscribe kitchen, lobby busy", sub(occ, "kitchen", "lobby")},
		{"subscribe to the kitchen when free", sub(vac, "kitchen")},
		{"subscribe free", sub(vac, "free")},
		{"subscribe kitchen free", sub(vac, "kitchen")}, // after a zone, free is a transition
		{"sub room 2", sub(vac, "room-2")},
		{"SUBSCRIBE all", intent.Intent{Kind: intent.Subscribe, AllZones: true, Transitions: vac}},
		{"subscribe all occupied", intent.Intent{Kind: intent.Subscribe, AllZones: true, Transitions: occ}},
		{"subscribe", unknown(intent.Subscribe, intent.MissingZone, "", "")},
		{"subscribe vacated", unknown(intent.Subscribe, intent.MissingZone, "", "")},
		{"subscribe kitchen vacatd", unknown(intent.Subscribe, intent.UnexpectedWord, "vacatd", "vacated")},
		{"subscribe kitchen lobbby", unknown(intent.Subscribe, intent.UnknownZone, "lobbby", "Lobby")},
		{"subscribe kitchn", unknown(intent.Subscribe, intent.UnknownZone, "kitchn", "Kitchen")},
		{"subscribe kitchen xyzzy", unknown(intent.Subscribe, intent.UnknownZone, "xyzzy", "")},
		{"NOTIFY room-2 when free", once(vac, "room-2")},
		{"notify me when room 2 is free", once(vac, "room-2")},
		{"Notify room 2 when occupied", once(occ, "room-2")},
		{"notify room 2", once(vac, "room-2")},
		{"tell me when the kitchen is empty", once(vac, "kitchen")},
		{"notify", unknown(intent.Subscribe, intent.MissingZone, "", "")},
		{"notify me when it is free", once(vac, "free")}, // before a zone, a zone's name wins
		{"notify me when it is empty", unknown(intent.Subscribe, intent.MissingZone, "", "")},

		// UNSUBSCRIBE
		{"UNSUBSCRIBE all", intent.Intent{Kind: intent.Unsubscribe, AllZones: true}},
		{"UNSUBSCRIBE kitchen", unsub("kitchen")},
		{"unsubscribe from kitchen and lobby", unsub("kitchen", "lobby")},
		{"unsubscribe kitchen all", intent.Intent{Kind: intent.Unsubscribe, AllZones: true}},
		{"unsub room 3", unsub("room-3")},
		{"unsub", unknown(intent.Unsubscribe, intent.MissingZone, "", "")},
		{"unsubscribe me", unknown(intent.Unsubscribe, intent.MissingZone, "", "")},
		{"unsubscribe lobbby", unknown(intent.Unsubscribe, intent.UnknownZone, "lobbby", "Lobby")},
		{"stop kitchen", unsub("kitchen")},
		{"Cancel room 2", unsub("room-2")},
		{"cancel lobbby", unknown(intent.Unsubscribe, intent.UnknownZone, "lobbby", "Lobby")},
		{"stop texting me", intent.Intent{Kind: intent.OptOut}},
		{"STOP ALL", intent.Intent{Kind: intent.OptOut}},
		{"please stop", unknown("", intent.UnknownCommand, "please", "")},

		// CLEAN and DONE
		{"CLEAN kitchen spilled coffee", clean("kitchen", "spilled coffee")},
		{"clean the kitchen: Spilled COFFEE!", clean("kitchen", "Spilled COFFEE!")},
		{"clean break room  sticky  floor ", clean("kitchen", "sticky  floor")},
		{"CLEAN kitchen", clean("kitchen", "")},
		{"cleaning room 2 please", clean("room-2", "please")},
		{"clean", unknown(intent.RequestCleaning, intent.MissingZone, "", "")},
		{"clean kitchn spilled coffee", unknown(intent.RequestCleaning, intent.UnknownZone, "kitchn", "Kitchen")},
		{"clean spilled coffee", unknown(intent.RequestCleaning, intent.UnknownZone, "spilled", "")},
		{"clean all", unknown(intent.RequestCleaning, intent.UnexpectedWord, "all", "")},
		{"DONE kitchen", done("kitchen")},
		{"done kitchen lobby", done("kitchen", "lobby")},
		{"Cleaned the kitchen.", done("kitchen")},
		{"done", unknown(intent.CleaningDone, intent.MissingZone, "", "")},
		{"done all", unknown(intent.CleaningDone, intent.UnexpectedWord, "all", "")},
		{"done lobbby", unknown(intent.CleaningDone, intent.UnknownZone, "lobbby", "Lobby")},

		// HELP
		{"HELP", help("HELP", "")},
		{"help.", help("HELP", "")},
		{"INFO", help("INFO", "")},
		{"help subscribe", help("", intent.Subscribe)},
		{"help notify", help("", intent.Subscribe)},
		{"HELP clean", help("", intent.RequestCleaning)},
		{"help me", help("", "")},

		// Carrier keywords: the whole message, any case.
		{"STOP", optOut("STOP")},
		{"stop", optOut("STOP")},
		{" Stop. ", optOut("STOP")},
		{"UNSUBSCRIBE", optOut("UNSUBSCRIBE")},
		{"end", optOut("END")},
		{"Quit", optOut("QUIT")},
		{"STOPALL", optOut("STOPALL")},
		{"revoke", optOut("REVOKE")},
		{"OPTOUT", optOut("OPTOUT")},
		{"cancel", optOut("CANCEL")},
		{"START", optIn("START")},
		{"yes", optIn("YES")},
		{"Unstop!", optIn("UNSTOP")},

		// Anything else.
		{"", unknown("", intent.Empty, "", "")},
		{"  ?! ", unknown("", intent.Empty, "", "")},
		{"staus lobby", unknown("", intent.UnknownCommand, "staus", "STATUS")},
		{"subscibe kitchen", unknown("", intent.UnknownCommand, "subscibe", "SUBSCRIBE")},
		{"hello", unknown("", intent.UnknownCommand, "hello", "")},
		{"yes please", unknown("", intent.UnknownCommand, "yes", "")},
		{"🙂 status", every}, // an emoji is no word
	}
	for _, tt := range tests {
		got := p.Parse(tt.text)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Parse(%q) =\n %+v\nwant\n %+v", tt.text, got, tt.want)
		}
	}
}

func TestParseWithoutZones(t *testing.T) {
	p, err := intent.NewParser(nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Parse("STATUS lobby"); got.Kind != intent.Unknown || got.Problem != intent.UnknownZone || got.Suggestion != "" {
		t.Errorf("Parse = %+v", got)
	}
	if got := p.Parse("STATUS"); got.Kind != intent.Status || !got.AllZones {
		t.Errorf("Parse = %+v", got)
	}
}

// Long texts are read only as far as a command needs, and a long word costs
// no more than a short one.
func TestParseLongText(t *testing.T) {
	p := newParser(t)
	long := "CLEAN kitchen " + strings.Repeat("very ", 400) + "sticky"
	if got := p.Parse(long); got.Kind != intent.RequestCleaning || !strings.HasSuffix(got.Reason, "sticky") {
		t.Errorf("Parse(long) = %v %q…", got.Kind, got.Reason[:20])
	}
	if got := p.Parse("status " + strings.Repeat("lobby ", 400)); got.Kind != intent.Status || !reflect.DeepEqual(got.Zones, zones("lobby")) {
		t.Errorf("Parse(many zones) = %+v", got)
	}
	if got := p.Parse("status " + strings.Repeat("x", 1600)); got.Problem != intent.UnknownZone || got.Suggestion != "" {
		t.Errorf("Parse(long word) = %+v", got)
	}
}

func TestNewParserErrors(t *testing.T) {
	tests := []struct {
		zones []intent.Zone
		want  string
	}{
		{[]intent.Zone{{Name: "Lobby"}}, `intent: bad zone list: zone 0 has no ID`},
		{[]intent.Zone{{ID: "a"}, {ID: "a"}}, `intent: bad zone list: zone ID "a" given twice`},
		{[]intent.Zone{{ID: "room2"}, {ID: "r2", Name: "Room 2"}}, `intent: bad zone list: zone "r2": name "Room 2" also names zone "room2"`},
		{[]intent.Zone{{ID: "a", Aliases: []string{"lobby"}}, {ID: "lobby"}}, `intent: bad zone list: zone "lobby": name "lobby" also names zone "a"`},
		{[]intent.Zone{{ID: "everything", Name: "All"}}, `intent: bad zone list: zone "everything": "All" means every zone`},
		{[]intent.Zone{{ID: "x", Name: "--"}}, `intent: bad zone list: zone "x": name "--" has no letters or digits`},
	}
	for _, tt := range tests {
		_, err := intent.NewParser(tt.zones)
		if err == nil || err.Error() != tt.want || !errors.Is(err, intent.ErrZones) {
			t.Errorf("NewParser(%v) = %v, want %s", tt.zones, err, tt.want)
		}
	}
	// One zone named alike by its ID and its name is fine.
	if _, err := intent.NewParser([]intent.Zone{{ID: "room-2", Name: "Room 2", Aliases: []string{"ROOM2"}}}); err != nil {
		t.Error(err)
	}
}

// The parser keeps its own copy of the zones.
func TestNewParserCopiesZones(t *testing.T) {
	zs := testZones()
	p, err := intent.NewParser(zs)
	if err != nil {
		t.Fatal(err)
	}
	zs[0].ID, zs[0].Name = "changed", "Changed"
	zs[1].Aliases[0] = "pantry"
	if got := p.Parse("status lobby break room"); !reflect.DeepEqual(got.Zones, zones("lobby", "kitchen")) {
		t.Errorf("Parse = %+v", got)
	}
}

// Every usage text fits one GSM-7 segment without the extension table
// (which costs two characters each) and names no zone.
func TestUsage(t *testing.T) {
	for _, k := range []intent.Kind{"", intent.Unknown, intent.Status, intent.Subscribe, intent.Unsubscribe, intent.RequestCleaning, intent.CleaningDone, intent.Help, intent.OptOut} {
		u := intent.Usage(k)
		if len(u) > 160 || u == "" {
			t.Errorf("Usage(%q) is %d characters: %s", k, len(u), u)
		}
		if i := strings.IndexFunc(u, func(r rune) bool { return r > 0x7e || strings.ContainsRune("[]{}\\^~|`", r) }); i >= 0 {
			t.Errorf("Usage(%q) has %q, outside GSM-7's basic set", k, u[i:i+1])
		}
		for _, z := range testZones() {
			if strings.Contains(strings.ToLower(u), strings.ToLower(z.Name)) && z.Name != "" {
				t.Errorf("Usage(%q) names %s", k, z.Name)
			}
		}
	}
	if intent.Usage(intent.Subscribe) == intent.Usage("") {
		t.Error("Usage(Subscribe) is the general usage")
	}
}

func ExampleParser_Parse() {
	p, err := intent.NewParser([]intent.Zone{
		{ID: "lobby", Name: "Lobby"},
		{ID: "kitchen", Name: "Kitchen", Aliases: []string{"break room"}},
		{ID: "room-2", Name: "Room 2"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	show := func(text string) {
		in := p.Parse(text)
		switch in.Kind {
		case intent.Subscribe:
			fmt.Println(in.Kind, in.Zones, in.Transitions, "once:", in.Once)
		case intent.RequestCleaning:
			fmt.Printf("%s %v %q\n", in.Kind, in.Zones, in.Reason)
		case intent.Unknown:
			fmt.Printf("%s %s %q, did you mean %q?\n", in.Kind, in.Problem, in.Word, in.Suggestion)
		case intent.OptOut:
			fmt.Println(in.Kind, in.Keyword)
		default:
			fmt.Println(in.Kind, in.Zones, in.AllZones)
		}
	}
	show("STATUS")
	show("status Room-2")
	show("status lobbby")
	show("SUBSCRIBE kitchen vacated")
	show("notify me when room 2 is free")
	show("clean the break room: spilled coffee")
	show("Stop")
	show("UNSUBSCRIBE kitchen")
	// Output:
	// status [] true
	// status [room-2] false
	// unknown unknown_zone "lobbby", did you mean "Lobby"?
	// subscribe [kitchen] [VACATED] once: false
	// subscribe [room-2] [VACATED] once: true
	// request_cleaning [kitchen] "spilled coffee"
	// opt_out STOP
	// unsubscribe [kitchen] false
}
