package kind_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/corb-dev/corb/operators"
	"github.com/corb-dev/corb/operators/kind"
	"github.com/corb-dev/corb/topology"
)

type inner struct {
	Window time.Duration `yaml:"window" doc:"window length"`
}

type testConfig struct {
	inner   `yaml:",inline"`
	Label   string   `yaml:"label" doc:"what to call it"`
	Limit   int      `yaml:"limit" default:"all" doc:"how many at most"`
	Tags    []string `yaml:"tags"`
	Skipped string   `yaml:"-"`
}

func (c testConfig) Validate() error {
	if c.Limit < 0 {
		return errors.New("limit must not be negative")
	}
	return nil
}

func testKind(build bool) kind.Kind {
	d := kind.Decl[testConfig]{
		Name: "test", Summary: "a kind for tests",
		Inputs:   []kind.Port{{Role: "in", Schemas: []string{"corb.Frame"}}},
		Outputs:  []kind.Port{{Role: "out", Schemas: []string{"corb.Detections"}}, {Role: "extra", Schemas: []string{topology.SchemaAny}, Optional: true, Repeated: true}},
		Defaults: func() testConfig { return testConfig{inner: inner{Window: 2 * time.Second}, Label: "x"} },
		Check: func(_ kind.Env, _ *topology.Operator, c *testConfig) error {
			if c.Label == "missing" {
				return errors.New("label names nothing")
			}
			return nil
		},
	}
	if build {
		d.Build = func(_ context.Context, _ kind.Env, op *topology.Operator, c testConfig) (operators.Operator, error) {
			return operators.OperatorFunc(func(context.Context, operators.Record) ([]operators.Output, error) {
				return []operators.Output{{Topic: op.Outputs[0], Value: []byte(c.Label)}}, nil
			}), nil
		}
	}
	return kind.Declare(d)
}

func TestKeys(t *testing.T) {
	got := testKind(true).Keys
	want := []kind.Key{
		{Name: "window", Type: "duration", Doc: "window length"},
		{Name: "label", Type: "string", Doc: "what to call it"},
		{Name: "limit", Type: "integer", Default: "all", Doc: "how many at most"},
		{Name: "tags", Type: "list of strings"},
	}
	if len(got) != len(want) {
		t.Fatalf("keys %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("key %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestTopologyCounts(t *testing.T) {
	ks := testKind(true).Topology(kind.Env{})
	if ks.InputCount != (topology.Count{Min: 1, Max: 1}) || ks.OutputCount != (topology.Count{Min: 1}) {
		t.Errorf("counts in %v, out %v", ks.InputCount, ks.OutputCount)
	}
	if strings.Join(ks.Outputs, ",") != "corb.Detections,any" {
		t.Errorf("output schemas %v", ks.Outputs)
	}
}

func TestBuildChecksConfig(t *testing.T) {
	src := `topics:
  - {name: f, schema: corb.Frame}
  - {name: d, schema: corb.Detections}
  - {name: dlq, schema: bytes}
operators:
  - {name: a, kind: test, inputs: [f], outputs: [d], on_failure: dlq, config: {label: ok, window: 5s}}
  - {name: b, kind: test, inputs: [f], outputs: [d], on_failure: dlq, config: {limit: -1}}
  - {name: c, kind: test, inputs: [f], outputs: [d], on_failure: dlq, config: {label: missing}}
  - {name: e, kind: test, inputs: [f], outputs: [d], on_failure: dlq, config: {lable: typo}}
`
	s, err := topology.Parse("k.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	k := testKind(true)
	err = s.Validate(topology.Kinds{"test": k.Topology(kind.Env{})})
	for _, want := range []string{
		"k.yaml:7:79: operators[1].config: limit must not be negative",
		"k.yaml:8:79: operators[2].config: label names nothing",
		`k.yaml:9:80: operators[3].config.lable: unknown field "lable"`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("validate: want %q in\n%v", want, err)
		}
	}
	if err != nil && strings.Contains(err.Error(), "operators[0]") {
		t.Errorf("a good operator was reported: %v", err)
	}
	op, _ := s.Operator("a")
	o, err := k.Build(context.Background(), kind.Env{}, op)
	if err != nil {
		t.Fatal(err)
	}
	res, _ := o.Process(context.Background(), []operators.Record{{}})
	if got := string(res[0].Outputs[0].Value); got != "ok" {
		t.Errorf("built with label %q, want the decoded %q", got, "ok")
	}
	bad, _ := s.Operator("b")
	if _, err := k.Build(context.Background(), kind.Env{}, bad); err == nil || !strings.Contains(err.Error(), "limit must not be negative") {
		t.Errorf("Build of a bad config: %v", err)
	}
	if _, err := testKind(false).Build(context.Background(), kind.Env{}, op); err == nil || !strings.Contains(err.Error(), "not part of this build") {
		t.Errorf("Build of an unbuildable kind: %v", err)
	}
}

func TestDeclareRefusesMalformedPorts(t *testing.T) {
	for name, ports := range map[string][]kind.Port{
		"optional first":  {{Role: "a", Schemas: []string{"x"}, Optional: true}, {Role: "b", Schemas: []string{"x"}}},
		"repeated middle": {{Role: "a", Schemas: []string{"x"}, Repeated: true}, {Role: "b", Schemas: []string{"x"}}},
		"no schema":       {{Role: "a"}},
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("Declare accepted it")
				}
			}()
			kind.Declare(kind.Decl[struct{}]{Name: "bad", Inputs: ports})
		})
	}
}

func TestRegistry(t *testing.T) {
	if _, err := kind.NewRegistry(testKind(true), testKind(false)); err == nil {
		t.Error("two kinds with one name were registered")
	}
	r, err := kind.NewRegistry(testKind(true))
	if err != nil {
		t.Fatal(err)
	}
	var text, md bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"test — a kind for tests", "outputs: out (corb.Detections), [extra (any)…]", "window         duration, default 2s", "limit          integer, default all"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}
	if !strings.Contains(md.String(), "| `test` | a kind for tests | in: in (corb.Frame); out: out (corb.Detections), [extra (any)…] | `window` (2s): window length; `label` (x): what to call it; `limit` (all): how many at most; `tags` |") {
		t.Errorf("markdown:\n%s", md.String())
	}
}

// A config block is outside input: whatever it holds, checking it reports
// an error or a config, never a panic, and a config it accepts is valid.
func FuzzConfigCheck(f *testing.F) {
	f.Add("window: 2s\nlabel: ok\nlimit: 3\ntags: [a, b]\n")
	f.Add("limit: -1\n")
	f.Add("window: soon\nlable: typo\n")
	f.Add("[1, 2]")
	f.Add("label: &a [*a]")
	k := testKind(true)
	check := k.Topology(kind.Env{}).CheckConfig
	f.Fuzz(func(t *testing.T, src string) {
		s, err := topology.Parse("f.yaml", []byte("topics:\n  - {name: f, schema: corb.Frame}\n  - {name: d, schema: corb.Detections}\n  - {name: dlq}\n"+
			"operators:\n  - name: a\n    kind: test\n    inputs: [f]\n    outputs: [d]\n    on_failure: dlq\n    config:\n"+indent(src)))
		if err != nil {
			return // not a config block at all
		}
		op, _ := s.Operator("a")
		if err := check(op); err != nil {
			return
		}
		cfg := k.Config().(*testConfig)
		if err := op.Config.Decode(cfg); err != nil {
			t.Fatalf("check passed but decode failed: %v", err)
		}
		if cfg.Limit < 0 || cfg.Label == "missing" {
			t.Fatalf("check accepted an invalid config %+v", cfg)
		}
	})
}

func indent(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = "      " + l
	}
	return strings.Join(lines, "\n")
}
