package topology_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/corb-dev/corb/topology"
)

type typed string

type stringer struct{}

func (stringer) String() string { return "from-stringer" }

// m builds a Match from one field's patterns, for the tables below.
func m(field string, ps ...topology.Pattern) topology.Match {
	return topology.Match{field: ps}
}

func TestMatchMatches(t *testing.T) {
	type f = map[string]any
	cmd := topology.Match{"command_type": {topology.Exact("send_sms"), topology.Prefix("request_")}, "zone_id": {topology.Prefix("")}}
	num := func(cs ...any) topology.Match {
		var n topology.Numeric
		for i := 0; i+1 < len(cs); i += 2 {
			n = append(n, topology.Comparison{Op: cs[i].(string), Value: float64(cs[i+1].(int))})
		}
		return m("n", n)
	}
	either := topology.Match{
		"command_type": {topology.Exact("status")},
		topology.OrKey: {m("zone_id", topology.Exact("lobby")), m("sender", topology.Exists(false))},
	}
	tests := []struct {
		name   string
		match  topology.Match
		fields f
		want   bool
	}{
		// Exact values and "prefix*", as before the grammar grew.
		{"exact", cmd, f{"command_type": "send_sms", "zone_id": "lobby"}, true},
		{"exact is case-sensitive", cmd, f{"command_type": "SEND_SMS", "zone_id": "lobby"}, false},
		{"prefix", cmd, f{"command_type": "request_cleaning", "zone_id": "k"}, true},
		{"prefix alone", cmd, f{"command_type": "request_", "zone_id": "k"}, true},
		{"other value", cmd, f{"command_type": "status", "zone_id": "k"}, false},
		{"missing field", cmd, f{"command_type": "send_sms"}, false},
		{"* refuses null", cmd, f{"command_type": "send_sms", "zone_id": nil}, false},
		{"avro union", cmd, f{"command_type": "send_sms", "zone_id": f{"string": "k"}}, true},
		{"avro null union", cmd, f{"command_type": f{"string": "send_sms"}, "zone_id": nil}, false},
		{"record is not a value", cmd, f{"command_type": "send_sms", "zone_id": f{"a": "1", "b": "2"}}, false},
		{"typed string", cmd, f{"command_type": typed("send_sms"), "zone_id": "k"}, true},
		{"stringer", m("x", topology.Exact("from-stringer")), f{"x": stringer{}}, true},
		{"bytes", m("x", topology.Exact("abc")), f{"x": []byte("abc")}, true},
		{"empty string is a value", cmd, f{"command_type": "send_sms", "zone_id": ""}, true},
		{"exact empty string", m("x", topology.Exact("")), f{"x": ""}, true},
		{"number by string form", m("n", topology.Exact("2")), f{"n": 2}, true},
		{"number by string form, other", m("n", topology.Exact("1")), f{"n": 2}, false},
		{"boolean by string form", m("b", topology.Exact("true")), f{"b": true}, true},

		{"suffix", m("file", topology.Suffix(".mkv")), f{"file": "cam1/2026.mkv"}, true},
		{"suffix, other", m("file", topology.Suffix(".mkv")), f{"file": "cam1.mkv.part"}, false},
		{"equals-ignore-case", m("zone", topology.EqualsIgnoreCase("Lobby")), f{"zone": "LOBBY"}, true},
		{"equals-ignore-case folds Unicode", m("zone", topology.EqualsIgnoreCase("ΣΟΦΙΑ")), f{"zone": "σοφια"}, true},
		{"equals-ignore-case, other", m("zone", topology.EqualsIgnoreCase("Lobby")), f{"zone": "lobby2"}, false},

		{"anything-but value", m("zone", topology.AnythingBut{topology.Exact("lobby")}), f{"zone": "kitchen"}, true},
		{"anything-but value, same", m("zone", topology.AnythingBut{topology.Exact("lobby")}), f{"zone": "lobby"}, false},
		{"anything-but list", m("zone", topology.AnythingBut{topology.Exact("a"), topology.Exact("b")}), f{"zone": "b"}, false},
		{"anything-but prefix", m("zone", topology.AnythingBut{topology.Prefix("test-")}), f{"zone": "test-1"}, false},
		{"anything-but prefix, other", m("zone", topology.AnythingBut{topology.Prefix("test-")}), f{"zone": "prod-1"}, true},
		{"anything-but needs the field", m("zone", topology.AnythingBut{topology.Exact("lobby")}), f{}, false},
		{"anything-but refuses null", m("zone", topology.AnythingBut{topology.Exact("lobby")}), f{"zone": nil}, false},
		{"anything-but number", m("n", topology.AnythingBut{topology.Exact("5")}), f{"n": int64(5)}, false},

		{"exists: present", m("r", topology.Exists(true)), f{"r": "x"}, true},
		{"exists: null is present", m("r", topology.Exists(true)), f{"r": nil}, true},
		{"exists: record is present", m("r", topology.Exists(true)), f{"r": f{"a": 1, "b": 2}}, true},
		{"exists: absent", m("r", topology.Exists(true)), f{}, false},
		{"exists false: absent", m("r", topology.Exists(false)), f{}, true},
		{"exists false: null", m("r", topology.Exists(false)), f{"r": nil}, false},
		{"exists false or a value", m("r", topology.Exists(false), topology.Exact("x")), f{"r": "x"}, true},

		{"numeric int in range", num(">", 0, "<=", 5), f{"n": 5}, true},
		{"numeric int above", num(">", 0, "<=", 5), f{"n": 6}, false},
		{"numeric lower bound is open", num(">", 0, "<=", 5), f{"n": 0}, false},
		{"numeric int32", num(">=", 1), f{"n": int32(1)}, true},
		{"numeric int64", num("<", 0), f{"n": int64(-1)}, true},
		{"numeric uint8", num("=", 7), f{"n": uint8(7)}, true},
		{"numeric double", num("<", 1), f{"n": 0.5}, true},
		{"numeric float as printed", m("n", topology.Numeric{{Op: "<=", Value: 0.1}}), f{"n": float32(0.1)}, true},
		{"numeric json number", num(">", 10), f{"n": json.Number("12.5")}, true},
		{"numeric refuses a numeric string", num(">", 0), f{"n": "3"}, false},
		{"numeric refuses a boolean", num(">", 0), f{"n": true}, false},
		{"numeric refuses NaN", num("<", 1), f{"n": math.NaN()}, false},
		{"numeric equals", num("=", 3), f{"n": 3.0}, true},
		{"numeric union", num(">", 0), f{"n": f{"long": int64(3)}}, true},
		{"numeric missing", num(">", 0), f{}, false},

		{"array: one element", m("tags", topology.Exact("b")), f{"tags": []any{"a", "b"}}, true},
		{"array: none", m("tags", topology.Exact("c")), f{"tags": []any{"a", "b"}}, false},
		{"array of strings", m("tags", topology.Prefix("b")), f{"tags": []string{"a", "bc"}}, true},
		{"array of unions", m("tags", topology.Exact("b")), f{"tags": []any{f{"string": "b"}}}, true},
		{"array of numbers", num(">", 2), f{"tags": nil, "n": []any{int64(1), int64(3)}}, true},
		{"array: anything-but any element", m("tags", topology.AnythingBut{topology.Exact("a")}), f{"tags": []any{"a", "b"}}, true},
		{"array: anything-but every element excluded", m("tags", topology.AnythingBut{topology.Exact("a")}), f{"tags": []any{"a", "a"}}, false},
		{"empty array: no value", m("tags", topology.Prefix("")), f{"tags": []any{}}, false},
		{"empty array exists", m("tags", topology.Exists(true)), f{"tags": []any{}}, true},
		{"array with null", m("tags", topology.Exact("x")), f{"tags": []any{nil, "x"}}, true},

		{"$or: first", either, f{"command_type": "status", "zone_id": "lobby", "sender": "+1"}, true},
		{"$or: second", either, f{"command_type": "status", "zone_id": "hall"}, true},
		{"$or: none", either, f{"command_type": "status", "zone_id": "hall", "sender": "+1"}, false},
		{"$or and the rest", either, f{"command_type": "help", "zone_id": "lobby"}, false},

		{"empty match", topology.Match{}, nil, true},
		{"nil match", nil, f{"x": 1}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.match.Matches(tt.fields); got != tt.want {
				t.Errorf("%v Matches(%v) = %v, want %v", tt.match, tt.fields, got, tt.want)
			}
			if got, why := tt.match.Explain(tt.fields); got != tt.want || why == "" {
				t.Errorf("Explain = %v, %q; want %v and a reason", got, why, tt.want)
			}
		})
	}
}

// A value that contains itself ends the search instead of recursing forever.
func TestMatchSelfContainingValue(t *testing.T) {
	loop := []any{nil}
	loop[0] = loop
	mt := m("x", topology.Exact("y"))
	if mt.Matches(map[string]any{"x": loop}) {
		t.Error("matched")
	}
	if ok, why := mt.Explain(map[string]any{"x": loop}); ok || why == "" {
		t.Errorf("Explain = %v, %q", ok, why)
	}
}

func TestParseMatch(t *testing.T) {
	tests := []struct {
		yaml string
		want topology.Match
	}{
		{`{command_type: [send_sms, "req*", "*"]}`, m("command_type", topology.Exact("send_sms"), topology.Prefix("req"), topology.Prefix(""))},
		{`{n: [5, 2.5, true]}`, m("n", topology.Exact("5"), topology.Exact("2.5"), topology.Exact("true"))},
		{`{f: [{prefix: "a*"}, {suffix: .mkv}, {equals-ignore-case: Lobby}]}`, m("f", topology.Prefix("a*"), topology.Suffix(".mkv"), topology.EqualsIgnoreCase("Lobby"))},
		{`{f: [{anything-but: lobby}]}`, m("f", topology.AnythingBut{topology.Exact("lobby")})},
		{`{f: [{anything-but: [a, "b*", {suffix: z}]}]}`, m("f", topology.AnythingBut{topology.Exact("a"), topology.Prefix("b"), topology.Suffix("z")})},
		{`{f: [{anything-but: {prefix: test-}}]}`, m("f", topology.AnythingBut{topology.Prefix("test-")})},
		{`{f: [{exists: true}], g: [{exists: false}]}`, topology.Match{"f": {topology.Exists(true)}, "g": {topology.Exists(false)}}},
		{`{n: [{numeric: [">", 0, "<=", 5]}, {numeric: ["=", 0x10]}]}`, m("n", topology.Numeric{{">", 0}, {"<=", 5}}, topology.Numeric{{"=", 16}})},
		{"command_type: [status]\n$or:\n  - {zone_id: [lobby]}\n  - {sender: [{exists: false}]}\n",
			topology.Match{"command_type": {topology.Exact("status")}, "$or": {m("zone_id", topology.Exact("lobby")), m("sender", topology.Exists(false))}}},
		{`{"detail-type": ["a"], "n": [{"numeric": [">=", 1.5]}]}`, topology.Match{"detail-type": {topology.Exact("a")}, "n": {topology.Numeric{{">=", 1.5}}}}}, // EventBridge JSON
		{"{}", topology.Match{}},
	}
	for _, tt := range tests {
		got, err := topology.ParseMatch("m.yaml", []byte(tt.yaml))
		if err != nil {
			t.Errorf("ParseMatch(%s): %v", tt.yaml, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseMatch(%s) = %#v, want %#v", tt.yaml, got, tt.want)
		}
	}
}

func TestParseMatchErrors(t *testing.T) {
	tests := []struct {
		yaml string
		kind error
		want string // every line of the error
	}{
		{`{f: ["a*b"]}`, topology.ErrInvalid, `m.yaml:1:6: f[0]: pattern "a*b": '*' is only allowed at the end`},
		{`{f: ["**"]}`, topology.ErrInvalid, `m.yaml:1:6: f[0]: pattern "**": '*' is only allowed at the end`},
		{`{f: a}`, topology.ErrType, `m.yaml:1:5: f: must be a list of patterns, got string "a"`},
		{`[a]`, topology.ErrType, `m.yaml:1:1: must be a mapping of field: [patterns], got a list`},
		{`{f: [null]}`, topology.ErrType, `m.yaml:1:6: f[0]: must be a value or {operator: argument}, got null (a null value passes {exists: true})`},
		{`{f: [[a]]}`, topology.ErrType, `m.yaml:1:6: f[0]: must be a value or {operator: argument}, got a list`},
		{`{f: [{prefx: a}]}`, topology.ErrUnknownField, `m.yaml:1:7: f[0].prefx: unknown pattern "prefx" (known: anything-but, equals-ignore-case, exists, numeric, prefix, suffix)`},
		{`{f: [{prefix: a, suffix: b}]}`, topology.ErrInvalid, `m.yaml:1:6: f[0]: a pattern is a mapping with one key (anything-but, equals-ignore-case, exists, numeric, prefix, suffix), got 2 keys`},
		{`{f: [{prefix: [a]}]}`, topology.ErrType, `m.yaml:1:15: f[0].prefix: must be a scalar value, got a list`},
		{`{f: [{exists: yes}]}`, topology.ErrType, `m.yaml:1:15: f[0].exists: must be true or false, got string "yes"`},
		{`{f: [{numeric: [">"]}]}`, topology.ErrType, `m.yaml:1:16: f[0].numeric: must be [op, number] or [op, number, op, number], got a list`},
		{`{f: [{numeric: [">", "5"]}]}`, topology.ErrType, `m.yaml:1:22: f[0].numeric[1]: must be a number, got string "5"`},
		{`{f: [{numeric: [5, 5]}]}`, topology.ErrType, `m.yaml:1:17: f[0].numeric[0]: must be a string, got int 5`},
		{`{f: [{numeric: [">", .inf]}]}`, topology.ErrInvalid, `m.yaml:1:22: f[0].numeric[1]: must be a finite number, got .inf`},
		{`{f: [{numeric: ["~", 5]}]}`, topology.ErrInvalid, `m.yaml:1:6: f[0]: numeric: unknown comparison "~" (known: <, <=, =, >=, >)`},
		{`{f: [{numeric: [">", 5, "<", 5]}]}`, topology.ErrInvalid, `m.yaml:1:6: f[0]: numeric: {numeric: [>, 5, <, 5]} accepts no number`},
		{`{f: [{numeric: [">", 1, ">", 2]}]}`, topology.ErrInvalid, `m.yaml:1:6: f[0]: numeric: two lower bounds`},
		{`{f: [{numeric: ["=", 1, "<", 2]}]}`, topology.ErrInvalid, `m.yaml:1:6: f[0]: numeric: "=" stands alone`},
		{`{f: [{numeric: [">", 1, "<", 2, "<", 3]}]}`, topology.ErrInvalid, `m.yaml:1:6: f[0]: numeric takes one comparison or a lower and an upper bound, got 3 comparisons`},
		{`{f: [{anything-but: []}]}`, topology.ErrInvalid, `m.yaml:1:6: f[0]: anything-but needs at least one value`},
		{`{f: [{anything-but: {exists: true}}]}`, topology.ErrInvalid, `m.yaml:1:6: f[0]: anything-but takes values, prefixes, suffixes and equals-ignore-case, got {exists: true}`},
		{`{f: []}`, topology.ErrInvalid, `m.yaml:1:5: f: no patterns for field "f"`},
		{`{f: [a], f: [b]}`, topology.ErrDuplicate, `m.yaml:1:10: f: field "f" given twice`},
		{`{$and: [a]}`, topology.ErrInvalid, `m.yaml:1:8: $and: unknown operator "$and": the only one is $or`},
		{`{$or: {f: [a]}}`, topology.ErrType, `m.yaml:1:7: $or: must be a list of alternatives ({field: [patterns]}), got a mapping`},
		{`{$or: []}`, topology.ErrInvalid, `m.yaml:1:7: $or: $or needs at least one alternative`},
		{`{$or: [{}]}`, topology.ErrInvalid, `m.yaml:1:8: $or[0]: empty alternative: it would pass every record`},
		{`{$or: [a]}`, topology.ErrType, `m.yaml:1:8: $or[0]: must be a mapping of field: [patterns], got string "a"`},
		{`{$or: [{g: [{suffix: x}, {anything-but: []}]}]}`, topology.ErrInvalid, `m.yaml:1:26: $or[0].g[1]: anything-but needs at least one value`},
		{"{f: [" + strings.Repeat("{anything-but: ", 9) + "a" + strings.Repeat("}", 9) + "]}", topology.ErrInvalid,
			`m.yaml:1:141: f[0]` + strings.Repeat(".anything-but", 9) + `: patterns nest more than 8 deep`},
		{"{f: [" + strings.Repeat("{anything-but: ", 8) + "{exists: true}" + strings.Repeat("}", 8) + "]}", topology.ErrInvalid, // 8 deep parses
			`m.yaml:1:6: f[0]: anything-but takes values, prefixes, suffixes and equals-ignore-case, got {anything-but: {anything-but: {anything-but: {anything-but: {anything-but: {anything-but: {anything-but: {exists: true}}}}}}}}`},
		{strings.Repeat("{$or: [", 9) + "{f: [a]}" + strings.Repeat("]}", 9), topology.ErrInvalid,
			`m.yaml:1:63: $or[0]` + strings.Repeat(`["$or"][0]`, 7) + `["$or"]: patterns nest more than 8 deep`},
		{``, topology.ErrMissing, `m.yaml: empty match pattern document`},
		{`{f: [a]`, topology.ErrSyntax, `m.yaml:1: did not find expected ',' or '}'`},
	}
	for _, tt := range tests {
		got, err := topology.ParseMatch("m.yaml", []byte(tt.yaml))
		if err == nil {
			t.Errorf("ParseMatch(%s) = %v, want an error", tt.yaml, got)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("ParseMatch(%s):\n got %s\nwant %s", tt.yaml, err, tt.want)
		}
		if !errors.Is(err, tt.kind) {
			t.Errorf("ParseMatch(%s): %v is not %v", tt.yaml, err, tt.kind)
		}
	}
}

// In a topology file the same errors carry the operator's path, and emits
// accept exact values and prefixes only.
func TestMatchErrorsInTopology(t *testing.T) {
	const src = `topics:
  - {name: bus, schema: corb.Command}
  - {name: out, schema: corb.Command}
operators:
  - name: handler
    kind: commands
    inputs: [bus]
    outputs: [out]
%s`
	tests := []struct {
		yaml string
		want []string
	}{
		{"    match: {zone_id: [{numeric: [\">\", 2, \"<\", 1]}]}\n",
			[]string{`t.yaml:9:23: operators[0].match.zone_id[0]: numeric: {numeric: [>, 2, <, 1]} accepts no number`}},
		{"    match:\n      $or:\n        - {zone_id: [{prefx: a}]}\n",
			[]string{`t.yaml:11:23: operators[0].match["$or"][0].zone_id[0].prefx: unknown pattern "prefx" (known: anything-but, equals-ignore-case, exists, numeric, prefix, suffix)`}},
		{"    emits: {out: {command_type: [send_sms, {suffix: _sms}]}}\n",
			[]string{`t.yaml:9:44: operators[0].emits.out.command_type[1]: emits declares the values written: exact values and prefixes only, got {suffix: _sms}`}},
		{"    emits: {out: {command_type: [{anything-but: status}]}}\n",
			[]string{`t.yaml:9:34: operators[0].emits.out.command_type[0]: emits declares the values written: exact values and prefixes only, got {anything-but: status}`}},
		{"    emits: {out: {$or: [{command_type: [a]}]}}\n",
			[]string{`t.yaml:9:24: operators[0].emits.out["$or"]: emits declares the values written, not alternatives: $or is for match`}},
	}
	for _, tt := range tests {
		_, err := topology.Parse("t.yaml", []byte(fmt.Sprintf(src, tt.yaml)))
		if err == nil {
			t.Errorf("%s: no error", tt.yaml)
			continue
		}
		if got := strings.Split(err.Error(), "\n"); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s:\n got %q\nwant %q", tt.yaml, got, tt.want)
		}
	}
	// Every field, also inside $or, must be in the input's schema.
	s, err := topology.Parse("t.yaml", []byte(fmt.Sprintf(src, "    match: {$or: [{zone_id: [a]}, {zone: [b]}]}\n")))
	if err != nil {
		t.Fatal(err)
	}
	err = s.Validate(testKinds(), topology.WithSchemaFields(testFields()))
	if want := `t.yaml:9:42: operators[0].match["$or"][1].zone: input "bus" (schema corb.Command) has no field "zone"`; err == nil || err.Error() != want {
		t.Errorf("Validate = %v, want %s", err, want)
	}
}

func TestMatchString(t *testing.T) {
	tests := []struct {
		match topology.Match
		want  string
	}{
		{topology.Match{"command_type": {topology.Exact("status"), topology.Exact("help")}, "a": {topology.Prefix("req")}}, "a: req*, command_type: status|help"},
		{m("f", topology.Prefix("")), "f: *"},
		{m("f", topology.Exact("a*"), topology.Exact(""), topology.Exact("a|b"), topology.Exact(" a"), topology.Exact(`a"b`)), `f: "a*"|""|"a|b"|" a"|a"b`},
		{m("f", topology.Suffix(".mkv"), topology.EqualsIgnoreCase("Lobby")), "f: {suffix: .mkv}|{equals-ignore-case: Lobby}"},
		{m("f", topology.AnythingBut{topology.Exact("a"), topology.Prefix("t-")}), "f: {anything-but: a|t-*}"},
		{m("f", topology.Exists(false)), "f: {exists: false}"},
		{m("n", topology.Numeric{{">", 0}, {"<=", 2.5}}), "n: {numeric: [>, 0, <=, 2.5]}"},
		{topology.Match{"c": {topology.Exact("x")}, "$or": {m("a", topology.Exact("1")), topology.Match{"b": {topology.Exact("2")}, "d": {topology.Exact("3")}}}}, "$or: {a: 1}|{b: 2, d: 3}, c: x"},
		{topology.Match{}, ""},
	}
	for _, tt := range tests {
		for range 3 { // map order must not show
			if got := tt.match.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		}
	}
}

func TestMatchExplain(t *testing.T) {
	mt, err := topology.ParseMatch("m.yaml", []byte(`{command_type: [send_sms, "req*"], zone_id: [{exists: true}], n: [{numeric: [">", 0]}], $or: [{a: [x]}, {b: [y]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		fields map[string]any
		ok     bool
		want   string
	}{
		{map[string]any{"command_type": "request_cleaning", "zone_id": nil, "n": 3, "b": "y"}, true,
			`$or: alternative 2 matches (b: "y" matches y); command_type: "request_cleaning" matches req*; n: 3 matches {numeric: [>, 0]}; zone_id: null matches {exists: true}`},
		{map[string]any{"command_type": "status", "n": "3", "a": []any{"z"}}, false,
			`$or: no alternative matches ([1] a: ["z"] matches none of x; [2] b: (missing) matches none of y); command_type: "status" matches none of send_sms|req*; n: "3" matches none of {numeric: [>, 0]}; zone_id: (missing) matches none of {exists: true}`},
	}
	for _, tt := range tests {
		ok, why := mt.Explain(tt.fields)
		if ok != tt.ok || why != tt.want {
			t.Errorf("Explain(%v) =\n %v, %s\nwant\n %v, %s", tt.fields, ok, why, tt.ok, tt.want)
		}
	}
}

// Routes on a shared topic are told apart by emits and match: a handler that
// reads status and writes send_sms to the same topic is no cycle, one that
// could write status again is. When in doubt a cycle is reported.
func TestCycleThroughBusRespectsEmits(t *testing.T) {
	const src = `topics:
  - {name: bus, schema: corb.Command}
operators:
  - name: handler
    kind: commands
    inputs: [bus]
    outputs: [bus]
    match: {%s}
    emits: {bus: {%s}}
`
	const status = "command_type: [status]"
	for _, tt := range []struct {
		match, emits string
		cycle        bool
	}{
		{status, "command_type: [send_sms]", false},
		{status, `command_type: ["stat*"]`, true},
		{status, "command_type: [send_sms, status]", true},
		{status, "command_type: [{prefix: send_}]", false},
		{status, "zone_id: [lobby]", true}, // emits says nothing of command_type
		{`command_type: ["stat*"]`, "command_type: [status_reply]", true},
		{`command_type: ["stat*"]`, `command_type: ["st*"]`, true},
		{`command_type: ["stat*"]`, `command_type: ["sms*"]`, false},
		{"command_type: [{suffix: _reply}]", "command_type: [status_reply]", true},
		{"command_type: [{suffix: _reply}]", "command_type: [status]", false},
		{"command_type: [{suffix: _reply}]", `command_type: ["status*"]`, true},
		{"command_type: [{equals-ignore-case: STATUS}]", "command_type: [Status]", true},
		{"command_type: [{equals-ignore-case: STATUS}]", "command_type: [send_sms]", false},
		{"command_type: [{equals-ignore-case: STATUS}]", `command_type: ["sta*"]`, true},
		{"command_type: [{equals-ignore-case: STATUS}]", `command_type: ["send*"]`, false},
		{"command_type: [{anything-but: send_sms}]", "command_type: [send_sms]", false},
		{"command_type: [{anything-but: send_sms}]", "command_type: [send_sms, status]", true},
		{"command_type: [{anything-but: send_sms}]", `command_type: ["send_sms*"]`, true}, // send_sms_2
		{"command_type: [{anything-but: {prefix: send}}]", `command_type: ["send_sms*"]`, false},
		{"command_type: [{exists: true}]", "command_type: [send_sms]", true},
		{"command_type: [{exists: false}]", "command_type: [send_sms]", false},
		{"zone_id: [{numeric: ['>', 3]}]", "zone_id: [5]", true},
		{"zone_id: [{numeric: ['>', 3]}]", "zone_id: [2]", false},
		{"zone_id: [{numeric: ['>', 3]}]", "zone_id: [lobby]", false},
		{"zone_id: [{numeric: ['>', 3]}]", `zone_id: ["1*"]`, true}, // 10
		{"$or: [{command_type: [status]}, {command_type: [help]}]", "command_type: [send_sms]", false},
		{"$or: [{command_type: [status]}, {zone_id: [lobby]}]", "command_type: [send_sms]", true},
		{"command_type: [status], $or: [{zone_id: [a]}, {zone_id: [b]}]", "command_type: [status], zone_id: [c]", false},
	} {
		_, err := topology.Parse("t.yaml", []byte(fmt.Sprintf(src, tt.match, tt.emits)))
		if got := err != nil; got != tt.cycle {
			t.Errorf("match {%s} emits {%s}: cycle reported = %v, want %v (err: %v)", tt.match, tt.emits, got, tt.cycle, err)
		}
		if err != nil && !errors.Is(err, topology.ErrCycle) {
			t.Errorf("match {%s} emits {%s}: %v", tt.match, tt.emits, err)
		}
	}
}

// A dead letter passed its producer's match; only a field one needs absent
// and the other present proves it cannot pass its consumer's, since a field
// may be an array whose elements meet both.
func TestCycleThroughDeadLetters(t *testing.T) {
	const src = `topics:
  - {name: bus, schema: corb.Command}
  - {name: failed, schema: corb.Command}
operators:
  - name: a
    kind: passthrough
    inputs: [bus]
    match: {%s}
    on_failure: failed
  - name: b
    kind: passthrough
    inputs: [failed]
    outputs: [bus]
    match: {%s}
`
	for _, tt := range []struct {
		a, b  string
		cycle bool
	}{
		{"zone_id: [{exists: false}]", "zone_id: [lobby]", false},
		{"zone_id: [lobby]", "zone_id: [{exists: false}]", false},
		{"zone_id: [{exists: false}]", "zone_id: [{exists: true}]", false},
		{"zone_id: [{exists: false}]", "zone_id: [{exists: false}, lobby]", true},
		{"zone_id: [kitchen]", "zone_id: [lobby]", true}, // zone_id: [kitchen, lobby] passes both
		{"zone_id: [kitchen]", "command_type: [x]", true},
	} {
		_, err := topology.Parse("t.yaml", []byte(fmt.Sprintf(src, tt.a, tt.b)))
		if got := err != nil; got != tt.cycle {
			t.Errorf("a {%s} b {%s}: cycle reported = %v, want %v (err: %v)", tt.a, tt.b, got, tt.cycle, err)
		}
	}
}

// WithNamespace copies a spec; changing the copy's patterns leaves the original's.
func TestMatchCloneIsDeep(t *testing.T) {
	s, err := topology.Parse("t.yaml", []byte(`topics: [{name: bus, schema: corb.Command}]
operators:
  - {name: h, kind: passthrough, inputs: [bus], match: {z: [{anything-but: [a]}], $or: [{y: [{numeric: [">", 1]}]}]}}
`))
	if err != nil {
		t.Fatal(err)
	}
	before := s.Operators[0].Match.String()
	c := s.WithNamespace("x")
	c.Operators[0].Match["z"][0].(topology.AnythingBut)[0] = topology.Exact("b")
	c.Operators[0].Match["$or"][0].(topology.Match)["y"][0].(topology.Numeric)[0].Value = 9
	if after := s.Operators[0].Match.String(); after != before {
		t.Errorf("original changed: %s → %s", before, after)
	}
}

func ExampleMatch_Explain() {
	m, err := topology.ParseMatch("pattern.yaml", []byte(`{command_type: [send_sms], to: [{prefix: "+44"}]}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(m.Explain(map[string]any{"command_type": "send_sms", "to": "+447700900123"}))
	fmt.Println(m.Explain(map[string]any{"command_type": "send_sms", "to": "+15005550006"}))
	// Output:
	// true command_type: "send_sms" matches send_sms; to: "+447700900123" matches +44*
	// false to: "+15005550006" matches none of +44*
}

func ExampleParseMatch() {
	_, err := topology.ParseMatch("pattern.yaml", []byte(`{count: [{numeric: [">", 5, "<", 1]}], zone_id: [{anything-but: {prefix: test-}}]}`))
	fmt.Println(err)
	m, _ := topology.ParseMatch("pattern.yaml", []byte(`{count: [{numeric: [">", 0, "<=", 5]}], zone_id: [{anything-but: {prefix: test-}}]}`))
	fmt.Println(m)
	fmt.Println(m.Matches(map[string]any{"count": int64(2), "zone_id": "lobby"}), m.Matches(map[string]any{"count": int64(2), "zone_id": "test-1"}))
	// Output:
	// pattern.yaml:1:10: count[0]: numeric: {numeric: [>, 5, <, 1]} accepts no number
	// count: {numeric: [>, 0, <=, 5]}, zone_id: {anything-but: test-*}
	// true false
}
