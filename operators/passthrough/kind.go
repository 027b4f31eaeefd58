package passthrough

import (
	"context"

	"github.com/corb-dev/corb/operators"
	"github.com/corb-dev/corb/operators/kind"
	"github.com/corb-dev/corb/topology"
)

// Kind is the passthrough kind: every record of its inputs copied to its one output.
func Kind() kind.Kind {
	return kind.Declare(kind.Decl[Config]{
		Name:    "passthrough",
		Summary: "copies every record, key, value and headers, to its output (mirroring, re-partitioning, tests)",
		Inputs:  []kind.Port{{Role: "records", Schemas: []string{topology.SchemaAny}, Repeated: true}},
		Outputs: []kind.Port{{Role: "copies", Schemas: []string{topology.SchemaAny}}},
		Build: func(_ context.Context, _ kind.Env, op *topology.Operator, cfg Config) (operators.Operator, error) {
			return New(op.Outputs[0], cfg), nil
		},
	})
}
