package detect

import (
	"context"
	"fmt"
	"os"

	"github.com/corb-dev/corb/operators"
	"github.com/corb-dev/corb/operators/kind"
	"github.com/corb-dev/corb/topology"
)

// Kind is the detect kind: the person detector (ONNX Runtime) over
// corb.Frame records, one corb.Detections per frame to its one output.
func Kind() kind.Kind {
	return kind.Declare(kind.Decl[OperatorConfig]{
		Name:    "detect",
		Summary: "finds people in camera frames with an ONNX detector (NanoDet-g or YOLOv8/YOLO11) on the CPU, CUDA or TensorRT",
		Inputs:  []kind.Port{{Role: "frames", Schemas: []string{"corb.Frame"}, Repeated: true}},
		Outputs: []kind.Port{{Role: "detections", Schemas: []string{"corb.Detections"}}},
		Check: func(_ kind.Env, _ *topology.Operator, cfg *OperatorConfig) error {
			// The default model may not be fetched yet where a topology is only
			// validated; a model named on purpose must exist.
			if cfg.Model != "" {
				if _, err := os.Stat(cfg.Model); err != nil {
					return fmt.Errorf("model: %w", err)
				}
			}
			return nil
		},
		Build: func(ctx context.Context, env kind.Env, op *topology.Operator, cfg OperatorConfig) (operators.Operator, error) {
			return NewOperator(ctx, cfg, OperatorOptions{
				Name: op.Name, Output: op.Outputs[0], Registry: env.Registry, Logger: env.Log,
			})
		},
	})
}
