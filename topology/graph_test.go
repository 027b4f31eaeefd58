package topology_test

import (
	"strings"
	"testing"

	"github.com/corb-dev/corb/topology"
)

func TestGraphGolden(t *testing.T) {
	s, err := topology.Load(defaultTopology)
	if err != nil {
		t.Fatal(err)
	}
	mermaid, dot := s.Mermaid(), s.DOT()
	golden(t, "default.mmd", mermaid)
	golden(t, "default.dot", dot)

	// Every operator and topic is drawn, and each dead-letter edge is dashed.
	for _, o := range s.Operators {
		if !strings.Contains(mermaid, `("`+o.Name+`<br/>`) || !strings.Contains(dot, `label="`+o.Name+`\n`) {
			t.Errorf("operator %q not drawn", o.Name)
		}
	}
	for _, tp := range s.Topics {
		if !strings.Contains(mermaid, `[("`+tp.Name+`<br/>`) || !strings.Contains(dot, `label="`+tp.Name+`\n`) {
			t.Errorf("topic %q not drawn", tp.Name)
		}
	}
	var dashed int
	for _, o := range s.Operators {
		if o.OnFailure != "" {
			dashed++
		}
	}
	if got := strings.Count(dot, "style=dashed"); got != dashed {
		t.Errorf("DOT has %d dashed edges, want %d (one per dead-letter topic)", got, dashed)
	}
	if got := strings.Count(mermaid, "-.->"); got != dashed {
		t.Errorf("Mermaid has %d dashed edges, want %d", got, dashed)
	}
}

func TestGraphEscapes(t *testing.T) {
	s := &topology.Spec{
		Topics:    []topology.Topic{{Name: "in", Partitions: 1, Schema: "bytes"}},
		Operators: []topology.Operator{{Name: "op", Kind: "passthrough", Inputs: []string{"in"}, Replicas: 1, Guarantee: topology.ExactlyOnce, Match: topology.Match{"f": {topology.Exact(`a"b`)}}}},
	}
	if m := s.Mermaid(); !strings.Contains(m, `|"f: a#quot;b"|`) {
		t.Errorf("Mermaid label not escaped:\n%s", m)
	}
	if d := s.DOT(); !strings.Contains(d, `label="f: a\"b"`) {
		t.Errorf("DOT label not escaped:\n%s", d)
	}
}
