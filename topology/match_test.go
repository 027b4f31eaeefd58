package topology_test

import (
	"testing"

	"github.com/corb-dev/corb/topology"
)

type typed string

func TestMatchMatches(t *testing.T) {
	m := topology.Match{"command_type": {"send_sms", "request_*"}, "zone_id": {"*"}}
	tests := []struct {
		name   string
		fields map[string]any
		want   bool
	}{
		{"exact", map[string]any{"command_type": "send_sms", "zone_id": "lobby"}, true},
		{"prefix", map[string]any{"command_type": "request_cleaning", "zone_id": "k"}, true},
		{"prefix alone", map[string]any{"command_type": "request_", "zone_id": "k"}, true},
		{"other value", map[string]any{"command_type": "status", "zone_id": "k"}, false},
		{"missing field", map[string]any{"command_type": "send_sms"}, false},
		{"nil value", map[string]any{"command_type": "send_sms", "zone_id": nil}, false},
		{"avro union", map[string]any{"command_type": "send_sms", "zone_id": map[string]any{"string": "k"}}, true},
		{"typed string", map[string]any{"command_type": typed("send_sms"), "zone_id": "k"}, true},
		{"empty string is a value", map[string]any{"command_type": "send_sms", "zone_id": ""}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := m.Matches(tt.fields); got != tt.want {
				t.Errorf("Matches(%v) = %v, want %v", tt.fields, got, tt.want)
			}
		})
	}
	if !(topology.Match{}).Matches(nil) {
		t.Error("empty match must accept everything")
	}
	if (topology.Match{"n": {"1"}}).Matches(map[string]any{"n": 2}) || !(topology.Match{"n": {"2"}}).Matches(map[string]any{"n": 2}) {
		t.Error("numbers compare in their string form")
	}
}

// Routes on a shared topic are told apart by emits and match: a handler that
// reads status and writes send_sms to the same topic is no cycle, one that
// could write status again is.
func TestCycleThroughBusRespectsEmits(t *testing.T) {
	const src = `topics:
  - {name: bus, schema: corb.Command}
operators:
  - name: handler
    kind: commands
    inputs: [bus]
    outputs: [bus]
    match: {command_type: [status]}
    emits: {bus: {command_type: [%s]}}
`
	for _, tt := range []struct {
		emits string
		cycle bool
	}{{"send_sms", false}, {"stat*", true}, {"send_sms, status", true}} {
		_, err := topology.Parse("t.yaml", []byte(sprintf(src, tt.emits)))
		if got := err != nil; got != tt.cycle {
			t.Errorf("emits %s: cycle reported = %v, want %v (err: %v)", tt.emits, got, tt.cycle, err)
		}
	}
}
