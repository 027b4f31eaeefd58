package main

import (
	"context"
	"fmt"

	"github.com/corb-dev/corb/operators"
	"github.com/corb-dev/corb/operators/detect"
	"github.com/corb-dev/corb/topology"
)

// buildDetect builds a detect operator: the person detector (ONNX Runtime)
// over corb.Frame records, one corb.Detections per frame to its one output.
// Its config is detect.OperatorConfig, decoded strictly.
func buildDetect(ctx context.Context, env buildEnv, op *topology.Operator) (operators.Operator, error) {
	var cfg detect.OperatorConfig
	if err := oneOutput(op, &cfg); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%s: operator %q: %w", op.Config.Pos(), op.Name, err)
	}
	d, err := detect.NewOperator(ctx, cfg, detect.OperatorOptions{
		Name: op.Name, Output: op.Outputs[0], Registry: env.Registry, Logger: env.Log,
	})
	if err != nil {
		return nil, fmt.Errorf("operator %q: %w", op.Name, err)
	}
	return d, nil
}
