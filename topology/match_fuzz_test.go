package topology

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
)

var matchSeeds = []string{
	`{command_type: [send_sms, "req*", "*"]}`,
	`{n: [5, 2.5, true, {numeric: [">", 0, "<=", 5]}, {numeric: ["=", 0x10]}]}`,
	`{f: [{prefix: "a*"}, {suffix: .mkv}, {equals-ignore-case: Lobby}, {exists: false}]}`,
	`{f: [{anything-but: [a, "b*", {suffix: z}]}], g: [{anything-but: {prefix: t}}]}`,
	"command_type: [status]\n$or:\n  - {zone_id: [lobby]}\n  - {sender: [{exists: false}], $or: [{a: [b]}]}\n",
	`{"detail-type": ["a"], "n": [{"numeric": [">=", 1.5, "<", 9]}]}`,
	`{f: [{anything-but: {anything-but: a}}], a: &x [b], c: *x}`,
	`{f: ["a*b"], g: [null], h: [[a]], i: [{numeric: [">", .nan]}]}`,
}

var recordSeeds = []string{
	`{"command_type": "send_sms", "zone_id": "lobby", "n": 3}`,
	`{"f": ["a", "b.mkv"], "n": 2.5, "g": null, "zone_id": {"string": "lobby"}}`,
	`{"sender": null, "a": "b", "command_type": "status", "detail-type": "a"}`,
}

// FuzzParseMatch: ParseMatch never panics and reports only classified
// Errors; a Match it returns renders deterministically, and on any record
// Matches never panics, Explain agrees with it and a clone behaves the same.
func FuzzParseMatch(f *testing.F) {
	for _, m := range matchSeeds {
		for _, r := range recordSeeds {
			f.Add(m, r)
		}
	}
	f.Fuzz(func(t *testing.T, src, record string) {
		m, err := ParseMatch("f.yaml", []byte(src))
		if err != nil {
			var es Errors
			if m != nil || !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("ParseMatch = %v, %T %v", m, err, err)
			}
			for _, e := range es {
				if e.Kind == nil || e.Msg == "" || e.Pos.File != "f.yaml" {
					t.Fatalf("unclassified error %#v", e)
				}
			}
			return
		}
		s := m.String()
		c := m.clone()
		if m.String() != s || c.String() != s {
			t.Fatalf("String not deterministic: %q, %q, %q", s, m.String(), c.String())
		}
		for _, fields := range decodeRecords(record) {
			got := m.Matches(fields)
			ok, why := m.Explain(fields)
			if ok != got || why == "" {
				t.Fatalf("%s on %v: Matches %v, Explain %v %q", s, fields, got, ok, why)
			}
			if c.Matches(fields) != got {
				t.Fatalf("clone of %s disagrees on %v", s, fields)
			}
			if got && !mayBoth(m, m) {
				t.Fatalf("%s passes %v yet mayBoth(m, m) is false", s, fields)
			}
		}
	})
}

// decodeRecords decodes a JSON object as encoding/json does by default and
// with numbers kept as json.Number.
func decodeRecords(src string) []map[string]any {
	var out []map[string]any
	var plain map[string]any
	if json.Unmarshal([]byte(src), &plain) == nil {
		out = append(out, plain)
	}
	var numbers map[string]any
	dec := json.NewDecoder(strings.NewReader(src))
	dec.UseNumber()
	if dec.Decode(&numbers) == nil {
		out = append(out, numbers)
	}
	return append(out, map[string]any{})
}

// FuzzMayReach: cycle detection may only err towards a cycle. A record that
// conforms to a valid emits declaration and passes a match proves
// mayReach(emits, match); a record that passes two filters proves mayBoth.
func FuzzMayReach(f *testing.F) {
	f.Add(`{command_type: [send_sms, "req*"]}`, `{command_type: [{anything-but: send_sms}]}`, `{"zone_id": "k"}`, "x", uint8(0))
	f.Add(`{command_type: ["status*"]}`, `{command_type: [{suffix: _reply}]}`, `{}`, "_reply", uint8(1))
	f.Add(`{n: ["1*"], m: ["5"]}`, `{n: [{numeric: [">", 3]}], m: [{numeric: ["=", 5]}]}`, `{}`, "0", uint8(0x81))
	f.Add(`{t: [STA]}`, `{$or: [{t: [{equals-ignore-case: sta}]}, {u: [{exists: false}]}]}`, `{"u": 1}`, "", uint8(2))
	f.Add(`{z: [a, b]}`, `{z: [{anything-but: {prefix: a}}], y: [{exists: true}]}`, `{"y": null}`, "", uint8(0x80))
	f.Fuzz(func(t *testing.T, emitsSrc, matchSrc, recordSrc, tail string, pick uint8) {
		emits, err := ParseMatch("e.yaml", []byte(emitsSrc))
		if err != nil {
			return
		}
		var l errorList
		emits.check(&l, "", true, nil)
		if len(l.errs) > 0 {
			return
		}
		match, err := ParseMatch("m.yaml", []byte(matchSrc))
		if err != nil {
			return
		}
		record := map[string]any{}
		_ = json.Unmarshal([]byte(recordSrc), &record)
		for i, field := range slices.Sorted(maps.Keys(emits)) {
			ps := emits[field]
			v := conforming(ps[(int(pick)+i)%len(ps)], tail, pick)
			if pick&0x80 != 0 { // an array: every element conforms
				v = []any{v, conforming(ps[(int(pick)+i+1)%len(ps)], tail, pick>>1)}
			}
			record[field] = v
		}
		if !emits.Matches(record) {
			t.Fatalf("record %v does not conform to %s", record, emits)
		}
		if match.Matches(record) && !mayReach(emits, match) {
			t.Fatalf("%v conforms to emits {%s} and passes {%s}, yet mayReach is false", record, emits, match)
		}
		if match.Matches(record) && !mayBoth(emits, match) {
			t.Fatalf("%v passes {%s} and {%s}, yet mayBoth is false", record, emits, match)
		}
	})
}

// conforming returns a value that declaration p describes: the exact value
// (as a number when it prints the same), or the prefix followed by tail.
func conforming(p Pattern, tail string, pick uint8) any {
	switch p := p.(type) {
	case Exact:
		if f, err := strconv.ParseFloat(string(p), 64); err == nil && pick&1 != 0 && fmt.Sprint(f) == string(p) {
			return f
		}
		return string(p)
	case Prefix:
		return string(p) + tail
	}
	panic(fmt.Sprintf("emits holds %T", p))
}
