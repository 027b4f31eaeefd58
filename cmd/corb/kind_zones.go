package main

import (
	"context"
	"fmt"
	"os"

	"github.com/corb-dev/corb/operators"
	"github.com/corb-dev/corb/operators/zones"
	"github.com/corb-dev/corb/topology"
)

// buildZones builds a zones operator: corb.Detections in, one corb.ZoneCounts
// per zone of the frame's camera out, keyed by zone id, to its one output.
// Its config is zones.OperatorConfig, decoded strictly; the zones file is
// zones_file, else $CORB_ZONES, else deploy/zones.yaml (relative to the
// working directory). The file is loaded and validated here, so a bad zones
// file stops the operator from starting.
func buildZones(_ context.Context, env buildEnv, op *topology.Operator) (operators.Operator, error) {
	var cfg zones.OperatorConfig
	if err := oneOutput(op, &cfg); err != nil {
		return nil, err
	}
	path := cfg.Path(os.Getenv)
	f, err := zones.Load(path)
	if err != nil {
		return nil, fmt.Errorf("operator %q: %w", op.Name, err)
	}
	z, err := zones.NewOperator(f, zones.OperatorOptions{Name: op.Name, Output: op.Outputs[0], Registry: env.Registry})
	if err != nil {
		return nil, fmt.Errorf("operator %q: %w", op.Name, err)
	}
	if env.Log != nil {
		env.Log.Info("zones loaded", "operator", op.Name, "file", path, "zones", len(f.Zones), "cameras", z.Zoner().Cameras())
	}
	return z, nil
}
