package topology_test

import (
	"strings"
	"testing"
	"time"

	"github.com/corb-dev/corb/topology"
)

func TestParseSetting(t *testing.T) {
	tests := []struct {
		in   string
		want topology.Setting
		err  string
	}{
		{"presence.vacate_after=5s", topology.Setting{Operator: "presence", Key: "vacate_after", Value: "5s"}, ""},
		{"detect.classes=[{id: 0}]", topology.Setting{Operator: "detect", Key: "classes", Value: "[{id: 0}]"}, ""},
		{"a.b.c=x=y", topology.Setting{Operator: "a", Key: "b.c", Value: "x=y"}, ""},
		{"rules.visits=", topology.Setting{Operator: "rules", Key: "visits", Value: ""}, ""},
		{"vacate_after=5s", topology.Setting{}, "want OPERATOR.KEY=VALUE"},
		{"presence.vacate_after", topology.Setting{}, "want OPERATOR.KEY=VALUE"},
		{".x=1", topology.Setting{}, "want OPERATOR.KEY=VALUE"},
		{"a..b=1", topology.Setting{}, "want OPERATOR.KEY=VALUE"},
		{"a.b.=1", topology.Setting{}, "want OPERATOR.KEY=VALUE"},
	}
	for _, tt := range tests {
		got, err := topology.ParseSetting(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseSetting(%q) = %v, want an error with %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseSetting(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestWithSettings(t *testing.T) {
	spec, err := topology.Parse("topology.yaml", []byte(configSpec("      model: nanodet\n      threshold: 0.4\n")))
	if err != nil {
		t.Fatal(err)
	}
	set := func(ss ...string) (*topology.Spec, error) {
		var settings []topology.Setting
		for _, s := range ss {
			st, err := topology.ParseSetting(s)
			if err != nil {
				t.Fatal(err)
			}
			settings = append(settings, st)
		}
		return spec.WithSettings(settings)
	}
	decode := func(s *topology.Spec) (detectConfig, error) {
		op, _ := s.Operator("detect")
		var c detectConfig
		return c, op.Config.Decode(&c)
	}

	got, err := set("detect.threshold=0.6", "detect.max_wait=20ms", "detect.classes=[{id: 0, label: person}]", "detect.threshold=0.7")
	if err != nil {
		t.Fatal(err)
	}
	c, err := decode(got)
	if err != nil {
		t.Fatal(err)
	}
	if c.Model != "nanodet" || c.Threshold != 0.7 || c.MaxWait != 20*time.Millisecond || len(c.Classes) != 1 {
		t.Errorf("decoded %+v: want the file's model, the last threshold, the new max_wait and classes", c)
	}
	if orig, _ := decode(spec); orig.Threshold != 0.4 || orig.MaxWait != 0 {
		t.Errorf("the original spec changed: %+v", orig)
	}

	// A key the kind does not know is found by decoding, at the config in the file.
	typo, err := set("detect.treshold=0.6")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decode(typo); err == nil || !strings.Contains(err.Error(), `topology.yaml:19:7: operators[0].config.treshold: unknown field "treshold"`) {
		t.Errorf("typo: %v", err)
	}

	for _, tt := range []struct{ set, want string }{
		{"ingest.x=1", `no operator "ingest"`},
		{"detect.threshold=[1", "not YAML"},
		{"detect.model.path=x", "model: !!str is not a mapping"},
	} {
		if _, err := set(tt.set); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want an error with %q", tt.set, err, tt.want)
		}
	}

	// An operator without a config gets one.
	bare, err := topology.Parse("topology.yaml", []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	st, _ := topology.ParseSetting("detect.batch=4")
	withBatch, err := bare.WithSettings([]topology.Setting{st})
	if err != nil {
		t.Fatal(err)
	}
	if c, err := decode(withBatch); err != nil || c.Batch != 4 {
		t.Errorf("no config before: %+v, %v", c, err)
	}
}
