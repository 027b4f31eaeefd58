package topology_test

import (
	"testing"
	"time"

	"github.com/corb-dev/corb/topology"
)

func TestOperatorTimeout(t *testing.T) {
	src := "topics:\n  - {name: a}\n  - {name: b}\n  - {name: c}\n  - {name: dlq}\noperators:\n" +
		"  - {name: slow, kind: passthrough, inputs: [a], outputs: [b], on_failure: dlq, timeout: 90s}\n" +
		"  - {name: free, kind: passthrough, inputs: [b], outputs: [c], on_failure: dlq}\n"
	s, err := topology.Parse("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]time.Duration{"slow": 90 * time.Second, "free": 0} {
		if op, _ := s.Operator(name); op.Timeout != want {
			t.Errorf("%s: timeout %v, want %v", name, op.Timeout, want)
		}
	}
}
