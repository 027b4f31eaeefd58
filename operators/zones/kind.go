package zones

import (
	"context"

	"github.com/corb-dev/corb/operators"
	"github.com/corb-dev/corb/operators/kind"
	"github.com/corb-dev/corb/topology"
)

// Kind is the zones kind: corb.Detections in, one corb.ZoneCounts per zone of
// the frame's camera out, keyed by zone id, to its one output. The zones file
// is checked when the topology is validated, and loaded when the operator is
// built (relative to the working directory).
func Kind() kind.Kind {
	return kind.Declare(kind.Decl[OperatorConfig]{
		Name:    "zones",
		Summary: "counts the people of each frame per zone (polygons per camera) and re-keys the counts by zone",
		Inputs:  []kind.Port{{Role: "detections", Schemas: []string{"corb.Detections"}, Repeated: true}},
		Outputs: []kind.Port{{Role: "zone counts", Schemas: []string{"corb.ZoneCounts"}}},
		Check: func(env kind.Env, _ *topology.Operator, cfg *OperatorConfig) error {
			_, err := Load(cfg.Path(env.Getenv))
			return err
		},
		Build: func(_ context.Context, env kind.Env, op *topology.Operator, cfg OperatorConfig) (operators.Operator, error) {
			path := cfg.Path(env.Getenv)
			f, err := Load(path)
			if err != nil {
				return nil, err
			}
			z, err := NewOperator(f, OperatorOptions{Name: op.Name, Output: op.Outputs[0], Registry: env.Registry})
			if err != nil {
				return nil, err
			}
			env.Logger().Info("zones loaded", "operator", op.Name, "file", path, "zones", len(f.Zones), "cameras", z.Zoner().Cameras())
			return z, nil
		},
	})
}
