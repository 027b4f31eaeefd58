package topology_test

import (
	"errors"
	"os"
	"testing"

	"github.com/corb-dev/corb/topology"
)

// FuzzParse: Parse never panics, and either returns a spec or only *Error
// values classified by a sentinel; a spec it returns validates without panic
// and round-trips through WithNamespace.
func FuzzParse(f *testing.F) {
	if data, err := os.ReadFile(defaultTopology); err == nil {
		f.Add(data)
	}
	f.Add([]byte(base))
	f.Add([]byte("topics: [{name: a}]\noperators: [{name: o, kind: passthrough, inputs: [a], outputs: [a]}]\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Add([]byte("topics:\n  - &t {name: a, partitions: 2}\n  - *t\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := topology.Parse("fuzz.yaml", data)
		if err != nil {
			if s != nil {
				t.Fatal("spec returned with an error")
			}
			var es topology.Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("error is %T, want non-empty Errors: %v", err, err)
			}
			for _, e := range es {
				if e.Kind == nil || e.Msg == "" {
					t.Fatalf("unclassified error %#v", e)
				}
			}
			return
		}
		_ = s.Validate(testKinds(), topology.WithSchemaFields(testFields()))
		c := s.WithNamespace("other")
		if len(c.Topics) != len(s.Topics) || len(c.Operators) != len(s.Operators) {
			t.Fatal("WithNamespace lost elements")
		}
		_ = s.Mermaid()
		_ = s.DOT()
	})
}
