package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/corb-dev/corb/schemas"
	"github.com/corb-dev/corb/topology"
)

// A topology with a problem in every operator's config: validate reports each
// of them at once, at its line, config files included.
func TestValidateChecksEveryConfig(t *testing.T) {
	dir := t.TempDir()
	badZones := filepath.Join(dir, "zones.yaml")
	if err := os.WriteFile(badZones, []byte("zones:\n  - id: hall\n    cameras: []\n    colour: red\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	src := `topics:
  - {name: frames, partitions: 2, schema: corb.Frame}
  - {name: detections, partitions: 2, schema: corb.Detections}
  - {name: counts, partitions: 2, schema: corb.ZoneCounts}
  - {name: events, partitions: 2, schema: corb.PresenceEvent}
  - {name: state, partitions: 2, schema: bytes, configs: {cleanup.policy: compact}}
  - {name: copy, partitions: 2, schema: corb.Frame}
  - {name: dlq, schema: bytes}
operators:
  - name: detect
    kind: detect
    inputs: [frames]
    outputs: [detections]
    on_failure: dlq
    config: {treshold: 7}
  - name: zones
    kind: zones
    inputs: [detections]
    outputs: [counts]
    on_failure: dlq
    config: {zones_file: ` + filepath.Join(dir, "missing.yaml") + `}
  - name: presence
    kind: presence
    inputs: [counts]
    outputs: [events]
    state: [state]
    stateful: true
    on_failure: dlq
    config:
      size: 1s
      advance: 5s
      zones_file: ` + badZones + `
  - name: mirror
    kind: passthrough
    inputs: [frames]
    outputs: [copy]
    on_failure: dlq
    config: {schema: corb.Frames}
`
	s, err := topology.Parse("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	err = s.Validate(builtinKinds(), topology.WithSchemaFields(schemas.KnownFields()))
	if err == nil {
		t.Fatal("validate passed a topology with four bad configs")
	}
	msg := err.Error()
	for _, want := range []string{
		`t.yaml:15:14: operators[0].config.treshold: unknown field "treshold"`,
		`missing.yaml: no such file`,
		`t.yaml:30:7: operators[2].config: `, `advance (5s) must not exceed size (1s)`,
		`t.yaml:38:13: operators[3].config: schema "corb.Frames" is not a known schema`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("validate's report lacks %q:\n%s", want, msg)
		}
	}
	if !errors.Is(err, topology.ErrUnknownField) || !errors.Is(err, topology.ErrInvalid) {
		t.Errorf("errors are not classified: %v", err)
	}
}

// A zones file that parses but is wrong is reported with its own file and line.
func TestValidateReportsZonesFileProblems(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "zones.yaml")
	if err := os.WriteFile(bad, []byte("zones:\n  - id: hall\n    colour: red\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	src := "topics:\n  - {name: d, schema: corb.Detections}\n  - {name: c, schema: corb.ZoneCounts}\n  - {name: dlq, schema: bytes}\n" +
		"operators:\n  - {name: z, kind: zones, inputs: [d], outputs: [c], on_failure: dlq, config: {zones_file: " + bad + "}}\n"
	s, err := topology.Parse("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	err = s.Validate(builtinKinds())
	if err == nil || !strings.Contains(err.Error(), bad+":3:5") || !strings.Contains(err.Error(), "colour") {
		t.Fatalf("want the zones file's line 3 and the unknown field, got %v", err)
	}
}

func TestBuildRefusesWrongTopicCounts(t *testing.T) {
	tests := []struct {
		op   topology.Operator
		want string
	}{
		{topology.Operator{Name: "z", Kind: "zones", Inputs: []string{"d"}}, `kind "zones" takes 1 outputs`},
		{topology.Operator{Name: "p", Kind: "passthrough", Inputs: []string{"a"}, Outputs: []string{"b"}, State: []string{"s"}}, `takes no state topics`},
		{topology.Operator{Name: "s", Kind: "sms", Inputs: []string{"commands"}}, `kind "sms" takes 1 state topics (sent log (bytes)), got 0`},
		{topology.Operator{Name: "x", Kind: "nope"}, `unknown kind "nope" (known: cleaning, commands, detect, passthrough, presence, rules, sms, zones)`},
	}
	for _, tt := range tests {
		t.Run(tt.op.Name, func(t *testing.T) {
			_, err := buildOperator(context.Background(), buildEnv{}, &tt.op)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
		})
	}
}

// The README's kind table is `corb kinds --format markdown`.
func TestReadmeKindsTableIsCurrent(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	if err := builtins().WriteMarkdown(&want); err != nil {
		t.Fatal(err)
	}
	const begin, end = "<!-- corb kinds --format markdown -->\n", "<!-- end corb kinds -->"
	_, table, ok := strings.Cut(string(readme), begin)
	table, _, ok2 := strings.Cut(table, end)
	if !ok || !ok2 {
		t.Fatalf("README has no block between %q and %q", begin, end)
	}
	if table != want.String() {
		t.Fatalf("README's kind table differs from `corb kinds --format markdown`:\n%s", want.String())
	}
}

func TestKindsCommand(t *testing.T) {
	var out bytes.Buffer
	app := newApp()
	app.Writer = &out
	if err := app.Run(context.Background(), []string{"corb", "kinds"}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"detect — ", "threshold      number, default 0.35", "presence — ", "stateful: true", "vacate_after   duration, default 30s"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("corb kinds lacks %q:\n%s", want, out.String())
		}
	}
	if err := newApp().Run(context.Background(), []string{"corb", "kinds", "extra"}); err == nil {
		t.Error("corb kinds took an argument it does not use")
	}
}

func TestTopologyMatch(t *testing.T) {
	tests := []struct {
		args    []string
		want    string
		wantErr bool
	}{
		{[]string{"sms-out", `{"command_type": "send_sms"}`}, `match: command_type: "send_sms" matches send_sms`, false},
		{[]string{"sms-out", `{"command_type": "status"}`}, `no match: command_type: "status" matches none of send_sms`, true},
		{[]string{"detect", `{}`}, `takes every record`, false},
		{[]string{"sms-out", `[1]`}, ``, true},
		{[]string{"nope", `{}`}, ``, true},
	}
	t.Chdir("../..")
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out bytes.Buffer
			app := newApp()
			app.Writer = &out
			err := app.Run(context.Background(), append([]string{"corb", "topology", "match"}, tt.args...))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want an error: %v", err, tt.wantErr)
			}
			if !strings.Contains(out.String(), tt.want) {
				t.Errorf("output %q lacks %q", out.String(), tt.want)
			}
		})
	}
}
