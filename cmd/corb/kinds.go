package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/corb-dev/corb/operators"
	"github.com/corb-dev/corb/operators/passthrough"
	"github.com/corb-dev/corb/topology"
)

// buildEnv is what a kind may use to build an operator.
type buildEnv struct {
	Spec     *topology.Spec
	Log      *slog.Logger
	Registry prometheus.Registerer // for kind-specific metrics
}

// kind is a built-in operator kind: what the topology knows of it, and how to build one.
type kind struct {
	spec topology.KindSpec
	// build makes the operator for op; nil when the kind is declared (so topologies
	// using it validate) but not part of this build yet.
	build func(ctx context.Context, env buildEnv, op *topology.Operator) (operators.Operator, error)
}

func builtins() map[string]kind {
	cmd := []string{"corb.Command"}
	return map[string]kind{
		"passthrough": {
			spec:  topology.KindSpec{Inputs: []string{topology.SchemaAny}, Outputs: []string{topology.SchemaAny}},
			build: buildPassthrough,
		},
		"detect":   {spec: topology.KindSpec{Inputs: []string{"corb.Frame"}, Outputs: []string{"corb.Detections"}}, build: buildDetect},
		"zones":    {spec: topology.KindSpec{Inputs: []string{"corb.Detections"}, Outputs: []string{"corb.ZoneCounts"}}, build: buildZones},
		"presence": {spec: topology.KindSpec{Inputs: []string{"corb.ZoneCounts"}, Outputs: []string{"corb.PresenceEvent"}, Stateful: true}, build: buildPresence},
		"rules":    {spec: topology.KindSpec{Inputs: []string{"corb.PresenceEvent"}, Outputs: cmd, Tables: []string{"corb.Command", topology.SchemaBytes}, Stateful: true}},
		"cleaning": {spec: topology.KindSpec{Inputs: cmd, Outputs: cmd}},
		"commands": {spec: topology.KindSpec{Inputs: cmd, Outputs: cmd, Tables: []string{"corb.PresenceEvent"}}},
		"sms":      {spec: topology.KindSpec{Inputs: cmd}},
	}
}

// builtinKinds is the topology's view of the built-in kinds.
func builtinKinds() topology.Kinds {
	ks := topology.Kinds{}
	for name, k := range builtins() {
		ks[name] = k.spec
	}
	return ks
}

// buildOperator builds the operator op of the topology.
func buildOperator(ctx context.Context, env buildEnv, op *topology.Operator) (operators.Operator, error) {
	k, ok := builtins()[op.Kind]
	if !ok {
		return nil, fmt.Errorf("%s: operator %q: unknown kind %q", op.Pos, op.Name, op.Kind)
	}
	if k.build == nil {
		return nil, fmt.Errorf("operator %q: kind %q is not part of this build yet", op.Name, op.Kind)
	}
	return k.build(ctx, env, op)
}

func buildPassthrough(_ context.Context, _ buildEnv, op *topology.Operator) (operators.Operator, error) {
	var cfg passthrough.Config
	if err := oneOutput(op, &cfg); err != nil {
		return nil, err
	}
	return passthrough.New(op.Outputs[0], cfg), nil
}

// topicOf is spec's topic name, if there is a spec (tests build kinds without one).
func topicOf(spec *topology.Spec, name string) (*topology.Topic, bool) {
	if spec == nil {
		return nil, false
	}
	return spec.Topic(name)
}

// oneOutput checks that op, of a kind that writes one topic, has exactly one
// output, and decodes its config into cfg (strictly; an absent config leaves
// cfg as it is).
func oneOutput(op *topology.Operator, cfg any) error {
	if len(op.Outputs) != 1 {
		return fmt.Errorf("%s: operator %q: %s needs exactly one output, has %d", op.Pos, op.Name, op.Kind, len(op.Outputs))
	}
	return op.Config.Decode(cfg)
}
