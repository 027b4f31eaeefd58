package main

import (
	"context"
	"fmt"
	"os"

	"github.com/corb-dev/corb/operators"
	"github.com/corb-dev/corb/operators/presence"
	"github.com/corb-dev/corb/operators/zones"
	"github.com/corb-dev/corb/topology"
)

// buildPresence builds a presence operator: corb.ZoneCounts in, corb.PresenceEvent
// out. Its first output gets every event; a second output, when declared, is the
// occupancy view (the latest event of each zone). Its one state topic is the
// per-zone changelog. Its config is presence.OperatorConfig, decoded strictly;
// the zones file is zones_file, else $CORB_ZONES, else deploy/zones.yaml.
func buildPresence(_ context.Context, env buildEnv, op *topology.Operator) (operators.Operator, error) {
	if len(op.Outputs) < 1 || len(op.Outputs) > 2 {
		return nil, fmt.Errorf("%s: operator %q: presence needs one or two outputs (events[, occupancy]), has %d", op.Pos, op.Name, len(op.Outputs))
	}
	if len(op.State) < 1 || len(op.State) > 2 {
		return nil, fmt.Errorf("%s: operator %q: presence needs one or two state topics (state[, usage]), has %d", op.Pos, op.Name, len(op.State))
	}
	var cfg presence.OperatorConfig
	if err := op.Config.Decode(&cfg); err != nil {
		return nil, err
	}
	path := zones.OperatorConfig{ZonesFile: cfg.ZonesFile}.Path(os.Getenv)
	f, err := zones.Load(path)
	if err != nil {
		return nil, fmt.Errorf("operator %q: %w", op.Name, err)
	}
	c := cfg.Config
	c.Zones = presence.ZoneSpecs(f)
	opts := presence.OperatorOptions{Name: op.Name, Events: op.Outputs[0], State: op.State[0], Registry: env.Registry, Logger: env.Log}
	if len(op.State) == 2 {
		opts.Usage = op.State[1]
	}
	if in, ok := topicOf(env.Spec, op.Inputs[0]); ok {
		opts.InputPartitions = in.Partitions
	}
	if len(op.Outputs) == 2 {
		opts.Occupancy = op.Outputs[1]
	}
	p, err := presence.NewOperator(c, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: operator %q: %w", op.Config.Pos(), op.Name, err)
	}
	if env.Log != nil {
		env.Log.Info("presence configured", "operator", op.Name, "zones_file", path, "zones", len(c.Zones))
	}
	return p, nil
}
