package presence

import (
	"context"

	"github.com/corb-dev/corb/operators"
	"github.com/corb-dev/corb/operators/kind"
	"github.com/corb-dev/corb/operators/zones"
	"github.com/corb-dev/corb/topology"
)

// Kind is the presence kind: corb.ZoneCounts in, corb.PresenceEvent out. Its
// first output gets every event; a second, when declared, is the occupancy
// view (the latest event of each zone). Its first state topic is the per-zone
// changelog; a second, when declared, is the usage view. Its table, when
// declared, is the cleanings view, which resets a zone's usage. The zones file
// is checked when the topology is validated.
func Kind() kind.Kind {
	return kind.Declare(kind.Decl[OperatorConfig]{
		Name:    "presence",
		Summary: "turns zone counts into OCCUPIED / VACATED / COUNT_CHANGED / STALE events: event-time windows, hysteresis, wall-clock staleness",
		Inputs:  []kind.Port{{Role: "zone counts", Schemas: []string{"corb.ZoneCounts"}}},
		Outputs: []kind.Port{
			{Role: "events", Schemas: []string{"corb.PresenceEvent"}},
			{Role: "occupancy view", Schemas: []string{"corb.PresenceEvent"}, Optional: true},
		},
		State: []kind.Port{
			{Role: "windows changelog", Schemas: []string{topology.SchemaBytes}},
			{Role: "usage view", Schemas: []string{topology.SchemaBytes}, Optional: true},
		},
		Tables:   []kind.Port{{Role: "cleanings", Schemas: []string{topology.SchemaBytes}, Optional: true}},
		Stateful: true,
		Check: func(env kind.Env, _ *topology.Operator, cfg *OperatorConfig) error {
			_, err := zones.Load(cfg.zonesPath(env.Getenv))
			return err
		},
		Build: buildOperator,
	})
}

func (c OperatorConfig) zonesPath(getenv func(string) string) string {
	return zones.OperatorConfig{ZonesFile: c.ZonesFile}.Path(getenv)
}

func buildOperator(_ context.Context, env kind.Env, op *topology.Operator, cfg OperatorConfig) (operators.Operator, error) {
	path := cfg.zonesPath(env.Getenv)
	f, err := zones.Load(path)
	if err != nil {
		return nil, err
	}
	c := cfg.Config
	c.Zones = ZoneSpecs(f)
	opts := OperatorOptions{Name: op.Name, Events: op.Outputs[0], State: op.State[0], Registry: env.Registry, Logger: env.Log}
	if len(op.Outputs) == 2 {
		opts.Occupancy = op.Outputs[1]
	}
	if len(op.State) == 2 {
		opts.Usage = op.State[1]
	}
	if len(op.Tables) == 1 {
		opts.Cleanings = op.Tables[0]
	}
	if env.Spec != nil {
		if in, ok := env.Spec.Topic(op.Inputs[0]); ok {
			opts.InputPartitions = in.Partitions
		}
	}
	p, err := NewOperator(c, opts)
	if err != nil {
		return nil, err
	}
	env.Logger().Info("presence configured", "operator", op.Name, "zones_file", path, "zones", len(c.Zones))
	return p, nil
}
