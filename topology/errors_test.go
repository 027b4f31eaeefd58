package topology_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/corb-dev/corb/topology"
)

// base is a small valid topology; cases below break it one way at a time.
const base = `namespace: t
topics:
  - name: frames
    partitions: 4
    schema: corb.Frame
  - name: detections
    partitions: 4
    schema: corb.Detections
  - name: dlq
    schema: bytes
operators:
  - name: detect
    kind: detect
    inputs: [frames]
    outputs: [detections]
    on_failure: dlq
    replicas: 2
`

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		kind error
		want []string // every line of the error, in order
	}{
		{"unknown topic", strings.Replace(base, "inputs: [frames]", "inputs: [framez]", 1), topology.ErrUnknownTopic,
			[]string{`topology.yaml:14:14: operators[0].inputs[0]: unknown topic "framez"`}},
		{"unknown field", strings.Replace(base, "    replicas: 2", "    replica: 2", 1), topology.ErrUnknownField,
			[]string{`topology.yaml:17:5: operators[0].replica: unknown field "replica" (known: config, emits, guarantee, inputs, kind, match, name, on_failure, outputs, replicas, state, stateful, tables, timeout)`}},
		{"wrong type", strings.Replace(base, "partitions: 4\n    schema: corb.Frame", "partitions: four\n    schema: corb.Frame", 1), topology.ErrType,
			[]string{`topology.yaml:4:17: topics[0].partitions: must be an integer, got string "four"`}},
		{"inputs not a list", strings.Replace(base, "inputs: [frames]", "inputs: frames", 1), topology.ErrType,
			[]string{`topology.yaml:14:13: operators[0].inputs: must be a list, got string "frames"`}},
		{"missing name", strings.Replace(base, "  - name: dlq\n", "  - partitions: 1\n", 1), topology.ErrMissing,
			[]string{`topology.yaml:9:5: topics[2]: missing required field "name"`}},
		{"duplicate topic", strings.Replace(base, "name: dlq", "name: frames", 1), topology.ErrDuplicate,
			[]string{
				`topology.yaml:9:11: topics[2].name: topic "frames" declared twice (first at topology.yaml:3:5)`,
				`topology.yaml:16:17: operators[0].on_failure: unknown topic "dlq"`,
			}},
		{"duplicate key", strings.Replace(base, "    replicas: 2", "    replicas: 2\n    replicas: 1", 1), topology.ErrDuplicate,
			[]string{`topology.yaml:18:5: operators[0].replicas: field "replicas" given twice`}},
		{"partitions below one", strings.Replace(base, "partitions: 4\n    schema: corb.Detections", "partitions: 0\n    schema: corb.Detections", 1), topology.ErrInvalid,
			[]string{`topology.yaml:7:17: topics[1].partitions: partitions must be at least 1, got 0`}},
		{"bad timeout", base + "    timeout: soon\n", topology.ErrInvalid,
			[]string{`topology.yaml:18:14: operators[0].timeout: timeout "soon" is not a duration like 30s or 2m`}},
		{"negative timeout", base + "    timeout: -1s\n", topology.ErrInvalid,
			[]string{`topology.yaml:18:14: operators[0].timeout: timeout must be positive, got -1s`}},
		{"file too large", base + "#" + strings.Repeat("x", topology.MaxFileSize) + "\n", topology.ErrInvalid,
			[]string{fmt.Sprintf(`topology.yaml: file is %d bytes, larger than the %d allowed`, len(base)+topology.MaxFileSize+2, topology.MaxFileSize)}},
		{"bad guarantee", base + "    guarantee: twice\n", topology.ErrInvalid,
			[]string{`topology.yaml:18:16: operators[0].guarantee: guarantee must be "exactly_once" or "at_least_once", got "twice"`}},
		{"missing on_failure topic", strings.Replace(base, "on_failure: dlq", "on_failure: dead", 1), topology.ErrUnknownTopic,
			[]string{`topology.yaml:16:17: operators[0].on_failure: unknown topic "dead"`}},
		{"replicas above partitions", strings.Replace(base, "replicas: 2", "replicas: 5", 1), topology.ErrPartitions,
			[]string{`topology.yaml:17:15: operators[0].replicas: 5 replicas but input "frames" has 4 partitions: 1 replicas would idle`}},
		{"bad pattern", base + "    match: {camera_id: [\"a*b\"]}\n", topology.ErrInvalid,
			[]string{`topology.yaml:18:25: operators[0].match.camera_id[0]: pattern "a*b": '*' is only allowed at the end`}},
		{"match on bytes", strings.Replace(base, "inputs: [frames]", "inputs: [dlq]", 1) + "    match: {camera_id: [c1]}\n", topology.ErrSchema,
			[]string{
				`topology.yaml:16:17: operators[0].on_failure: dead-letter topic "dlq" is also an input: failures would come back forever`,
				`topology.yaml:17:15: operators[0].replicas: 2 replicas but input "dlq" has 1 partitions: 1 replicas would idle`,
				`topology.yaml:18:24: operators[0].match.camera_id: field "camera_id": input "dlq" carries opaque bytes`,
				`topology.yaml:12:5: operators[0]: operators form a cycle: detect → dlq → detect (declare disjoint match/emits to route a shared topic)`,
			}},
		{"cycle", base + `  - name: back
    kind: passthrough
    inputs: [detections]
    outputs: [frames]
`, topology.ErrCycle,
			[]string{`topology.yaml:12:5: operators[0]: operators form a cycle: detect → detections → back → frames → detect (declare disjoint match/emits to route a shared topic)`}},
		{"co-partitioning", strings.Replace(base, "  - name: dlq\n    schema: bytes\n", "  - name: dlq\n    schema: bytes\n  - name: other\n    partitions: 2\n    schema: corb.Frame\n", 1) +
			"  - name: join\n    kind: passthrough\n    inputs: [frames, other]\n    stateful: true\n", topology.ErrPartitions,
			[]string{`topology.yaml:23:22: operators[1].inputs[1]: stateful operator's inputs must be co-partitioned: "frames" has 4 partitions, "other" has 2`}},
		{"syntax", "topics:\n  - name: [\n", topology.ErrSyntax,
			[]string{`topology.yaml:2: did not find expected node content`}},
		{"empty", "", topology.ErrMissing, []string{`topology.yaml: empty topology document`}},
		{"two documents", base + "---\nnamespace: x\n", topology.ErrSyntax,
			[]string{`topology.yaml:18:1: more than one YAML document; a topology is one document`}},
		{"several at once", strings.NewReplacer("inputs: [frames]", "inputs: [framez]", "on_failure: dlq", "on_failure: dead", "replicas: 2", "replicas: 0").Replace(base), topology.ErrUnknownTopic,
			[]string{
				`topology.yaml:17:15: operators[0].replicas: replicas must be at least 1, got 0`,
				`topology.yaml:14:14: operators[0].inputs[0]: unknown topic "framez"`,
				`topology.yaml:16:17: operators[0].on_failure: unknown topic "dead"`,
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := topology.Parse("topology.yaml", []byte(tt.yaml))
			if err == nil {
				t.Fatalf("Parse succeeded: %+v", s)
			}
			if s != nil {
				t.Errorf("Parse returned a spec with its error")
			}
			if !errors.Is(err, tt.kind) {
				t.Errorf("errors.Is(err, %v) = false; err:\n%v", tt.kind, err)
			}
			var es topology.Errors
			if !errors.As(err, &es) {
				t.Fatalf("error is %T, want topology.Errors", err)
			}
			if got := strings.Split(err.Error(), "\n"); !equal(got, tt.want) {
				t.Errorf("got errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestValidateKindErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		kind error
		want []string
	}{
		{"unknown kind", strings.Replace(base, "kind: detect", "kind: detector", 1), topology.ErrUnknownKind,
			[]string{`topology.yaml:13:11: operators[0].kind: unknown kind "detector" (known: cleaning, commands, detect, passthrough, presence, rules, sms, zones)`}},
		{"schema mismatch", strings.Replace(base, "kind: detect", "kind: zones", 1), topology.ErrSchema,
			[]string{
				`topology.yaml:14:14: operators[0].inputs[0]: topic "frames" carries corb.Frame but kind "zones" reads corb.Detections`,
				`topology.yaml:15:15: operators[0].outputs[0]: topic "detections" carries corb.Detections but kind "zones" writes corb.ZoneCounts`,
			}},
		{"sink with outputs", strings.Replace(base, "kind: detect", "kind: sms", 1), topology.ErrInvalid,
			[]string{
				`topology.yaml:15:14: operators[0].outputs: kind "sms" takes no outputs`,
				`topology.yaml:14:14: operators[0].inputs[0]: topic "frames" carries corb.Frame but kind "sms" reads corb.Command`,
			}},
		{"no such field", base + "    match: {zone_id: [lobby]}\n", topology.ErrSchema,
			[]string{`topology.yaml:18:22: operators[0].match.zone_id: input "frames" (schema corb.Frame) has no field "zone_id"`}},
		{"unknown schema", strings.Replace(base, "schema: corb.Frame", "schema: corb.Frames", 1), topology.ErrSchema,
			[]string{
				`topology.yaml:5:13: topics[0].schema: unknown schema "corb.Frames" (known: corb.Command, corb.Detections, corb.Frame, corb.PresenceEvent, corb.ZoneCounts, bytes)`,
				`topology.yaml:14:14: operators[0].inputs[0]: topic "frames" carries corb.Frames but kind "detect" reads corb.Frame`,
			}},
		{"stateful kind", strings.NewReplacer("schema: corb.Frame", "schema: corb.ZoneCounts", "schema: corb.Detections", "schema: corb.PresenceEvent", "kind: detect", "kind: presence").Replace(base), topology.ErrInvalid,
			[]string{`topology.yaml:12:5: operators[0]: kind "presence" keeps per-key state: set stateful: true`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := topology.Parse("topology.yaml", []byte(tt.yaml))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			err = s.Validate(testKinds(), topology.WithSchemaFields(testFields()))
			if err == nil {
				t.Fatal("Validate succeeded")
			}
			if !errors.Is(err, tt.kind) {
				t.Errorf("errors.Is(err, %v) = false; err:\n%v", tt.kind, err)
			}
			if got := strings.Split(err.Error(), "\n"); !equal(got, tt.want) {
				t.Errorf("got errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}
