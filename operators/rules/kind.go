package rules

import (
	"context"
	"fmt"

	"github.com/corb-dev/corb/operators"
	"github.com/corb-dev/corb/operators/kind"
	"github.com/corb-dev/corb/operators/zones"
	"github.com/corb-dev/corb/topology"
)

// Kind is the rules kind: corb.PresenceEvent in (key zone id); commands out
// to its first output and, when declared, one-shot tombstones to its second
// (the subscriptions topic); its tables are the subscriptions, then the usage
// view and the cleanings (both needed by the cleaning policy); its state
// topic is the per-zone changelog. The zones file (for zone names) is
// checked when the topology is validated.
func Kind() kind.Kind {
	return kind.Declare(kind.Decl[Config]{
		Name:    "rules",
		Summary: "events ⋈ subscriptions and cleaning policy → notifications and cleaning requests",
		Inputs:  []kind.Port{{Role: "events", Schemas: []string{"corb.PresenceEvent"}}},
		Outputs: []kind.Port{
			{Role: "commands", Schemas: []string{"corb.Command"}},
			{Role: "subscriptions", Schemas: []string{"corb.Command"}, Optional: true},
		},
		Tables: []kind.Port{
			{Role: "subscriptions", Schemas: []string{"corb.Command"}},
			{Role: "usage view", Schemas: []string{topology.SchemaBytes}, Optional: true},
			{Role: "cleanings", Schemas: []string{topology.SchemaBytes}, Optional: true},
		},
		State:    []kind.Port{{Role: "rules state", Schemas: []string{topology.SchemaBytes}}},
		Stateful: true,
		Defaults: DefaultConfig,
		Check: func(env kind.Env, op *topology.Operator, cfg *Config) error {
			if cfg.Policy.Set() && len(op.Tables) < 3 {
				return fmt.Errorf("%w: visits, person_minutes and hours_occupied need the usage and cleanings tables: tables: [subscriptions, usage, cleanings]", ErrConfig)
			}
			_, err := zones.Load(cfg.zonesPath(env.Getenv))
			return err
		},
		Build: build,
	})
}

func build(_ context.Context, env kind.Env, op *topology.Operator, cfg Config) (operators.Operator, error) {
	path := cfg.zonesPath(env.Getenv)
	f, err := zones.Load(path)
	if err != nil {
		return nil, err
	}
	names := make(map[string]string, len(f.Zones))
	for _, z := range f.Zones {
		names[z.ID] = z.Name
	}
	opts := Options{Name: op.Name, Commands: op.Outputs[0], State: op.State[0], SubscriptionsTable: op.Tables[0],
		ZoneNames: names, Registry: env.Registry, Logger: env.Log}
	if len(op.Outputs) > 1 {
		opts.Subscriptions = op.Outputs[1]
	}
	if len(op.Tables) > 2 {
		opts.UsageTable, opts.CleaningsTable = op.Tables[1], op.Tables[2]
	}
	o, err := New(cfg, opts)
	if err != nil {
		return nil, err
	}
	env.Logger().Info("rules configured", "operator", op.Name, "zones_file", path, "zones", len(f.Zones),
		"cooldown", cfg.Cooldown, "quiet_hours", cfg.QuietHours, "timezone", o.loc.String(), "cleaning_policy", cfg.Policy.Set())
	return o, nil
}
