package intent_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/corb-dev/corb/connectors/sms/intent"
)

// zoneSpec is the fuzzer's zone list: one zone a line, "id|name|alias,alias".
func zoneSpec(zs []intent.Zone) string {
	lines := make([]string, len(zs))
	for i, z := range zs {
		lines[i] = z.ID + "|" + z.Name + "|" + strings.Join(z.Aliases, ",")
	}
	return strings.Join(lines, "\n")
}

func parseZoneSpec(spec string) []intent.Zone {
	var zs []intent.Zone
	for line := range strings.Lines(spec) {
		f := strings.SplitN(strings.TrimSuffix(line, "\n"), "|", 3)
		z := intent.Zone{ID: f[0]}
		if len(f) > 1 {
			z.Name = f[1]
		}
		if len(f) > 2 && f[2] != "" {
			z.Aliases = strings.Split(f[2], ",")
		}
		zs = append(zs, z)
	}
	return zs
}

// FuzzParse: Parse never panics and is deterministic; every zone ID it
// returns is one of the zones given, once; an intent is Unknown exactly when
// it has a Problem; the fields each kind promises are there; and for ASCII
// text, case changes nothing but how words are echoed.
func FuzzParse(f *testing.F) {
	spec := zoneSpec(testZones())
	for _, text := range []string{
		"STATUS", "status lobbby", "SUBSCRIBE kitchen vacated", "NOTIFY room-2 when free",
		"UNSUBSCRIBE all", "UNSUBSCRIBE kitchen", "CLEAN kitchen spilled coffee", "DONE kitchen",
		"HELP", "help subscribe", "STOP", "stop texting me", "START", "status room 4", "subscribe kitchen vacatd",
		"clean the break room: sticky", "tell me when the kitchen is empty", "Café status", "",
	} {
		f.Add(spec, text)
	}
	f.Add("a|A|b\na||", "status a b")
	f.Add("room2|Room 2|\nroom3|Room 3|", "status room 4")
	f.Fuzz(func(t *testing.T, spec, text string) {
		zs := parseZoneSpec(spec)
		p, err := intent.NewParser(zs)
		if err != nil {
			return
		}
		got := p.Parse(text)
		if again := p.Parse(text); !reflect.DeepEqual(got, again) {
			t.Fatalf("Parse(%q) not deterministic:\n%+v\n%+v", text, got, again)
		}
		ids := make([]string, len(zs))
		names := map[string]bool{}
		for i, z := range zs {
			ids[i] = z.ID
			names[z.Name], names[z.ID] = true, true
		}
		for i, id := range got.Zones {
			if !slices.Contains(ids, id) || slices.Contains(got.Zones[:i], id) {
				t.Fatalf("Parse(%q) returned zone %q (zones %q)", text, id, got.Zones)
			}
		}
		if (got.Kind == intent.Unknown) != (got.Problem != intent.NoProblem) {
			t.Fatalf("Parse(%q): kind %s with problem %q", text, got.Kind, got.Problem)
		}
		switch got.Kind {
		case intent.Unknown:
			if got.Usage == "" || len(got.Zones) > 0 || got.Problem == intent.UnknownZone && got.Suggestion != "" && !names[got.Suggestion] {
				t.Fatalf("Parse(%q) = %+v", text, got)
			}
		case intent.Subscribe:
			if len(got.Transitions) == 0 || got.AllZones == (len(got.Zones) > 0) {
				t.Fatalf("Parse(%q) = %+v", text, got)
			}
		case intent.RequestCleaning:
			if len(got.Zones) != 1 || !utf8.ValidString(got.Reason) && utf8.ValidString(text) {
				t.Fatalf("Parse(%q) = %+v", text, got)
			}
		case intent.Unsubscribe, intent.CleaningDone:
			if got.AllZones == (len(got.Zones) > 0) {
				t.Fatalf("Parse(%q) = %+v", text, got)
			}
		}
		if got.Word != "" && !strings.Contains(text, got.Word) {
			t.Fatalf("Parse(%q): word %q is not in the text", text, got.Word)
		}
		if isASCII(text) && isASCII(spec) {
			up := p.Parse(strings.ToUpper(text))
			up.Word, up.Reason = got.Word, got.Reason
			if !reflect.DeepEqual(got, up) {
				t.Fatalf("case matters:\n%q: %+v\n%q: %+v", text, got, strings.ToUpper(text), up)
			}
		}
	})
}

func isASCII(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool { return r >= utf8.RuneSelf })
}
