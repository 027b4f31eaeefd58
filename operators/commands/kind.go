package commands

import (
	"context"
	"fmt"
	"slices"
	"time"
	_ "time/tzdata" // the timezone key must work in a CGO_ENABLED=0 image without /usr/share/zoneinfo

	"github.com/corb-dev/corb/operators"
	"github.com/corb-dev/corb/operators/kind"
	"github.com/corb-dev/corb/operators/zones"
	"github.com/corb-dev/corb/topology"
)

// Config is the commands kind's config block.
type Config struct {
	// ZonesFile is the zones file; "" means $CORB_ZONES, then deploy/zones.yaml.
	ZonesFile string `yaml:"zones_file" default:"$CORB_ZONES, else deploy/zones.yaml" doc:"the zones file: the zones STATUS lists, by their names"`
	// Timezone is an IANA time zone name; "" means the process's local zone.
	Timezone string `yaml:"timezone" default:"$TZ, else the host's zone" doc:"IANA time zone of the times in replies, e.g. Europe/London"`
}

// Validate implements the kind's config check.
func (c Config) Validate() error {
	_, err := c.location()
	return err
}

func (c Config) location() (*time.Location, error) {
	if c.Timezone == "" {
		return time.Local, nil
	}
	loc, err := time.LoadLocation(c.Timezone)
	if err != nil {
		return nil, fmt.Errorf("timezone: %w", err)
	}
	return loc, nil
}

func (c Config) zonesPath(getenv func(string) string) string {
	return zones.OperatorConfig{ZonesFile: c.ZonesFile}.Path(getenv)
}

// outputPorts and tablePorts are the kind's ports, in the order an operator
// lists its topics.
func outputPorts() []kind.Port {
	return []kind.Port{
		{Role: "commands", Schemas: []string{"corb.Command"}},
		{Role: "subscriptions", Schemas: []string{"corb.Command"}},
		{Role: "opt-outs", Schemas: []string{topology.SchemaBytes}, Optional: true},
	}
}

func tablePorts() []kind.Port {
	return []kind.Port{
		{Role: "occupancy view", Schemas: []string{"corb.PresenceEvent"}},
		{Role: "cleanings", Schemas: []string{topology.SchemaBytes}, Optional: true},
		{Role: "subscriptions", Schemas: []string{"corb.Command"}, Optional: true},
	}
}

// Kind is the commands kind: commands in (match them to status, subscribe,
// unsubscribe, help, opt_out, opt_in); replies (send_sms) to its first
// output, subscriptions to its second, opt-outs to an optional third. Its
// tables are the occupancy view, then optionally the cleanings and the
// subscriptions.
func Kind() kind.Kind {
	return kind.Declare(kind.Decl[Config]{
		Name:    "commands",
		Summary: "status / subscribe / unsubscribe / help / opt_out / opt_in → replies, subscriptions and opt-outs",
		Inputs:  []kind.Port{{Role: "commands", Schemas: []string{"corb.Command"}}},
		Outputs: outputPorts(),
		Tables:  tablePorts(),
		Check: func(env kind.Env, _ *topology.Operator, cfg *Config) error {
			_, err := zones.Load(cfg.zonesPath(env.Getenv))
			return err
		},
		Build: build,
	})
}

func build(_ context.Context, env kind.Env, op *topology.Operator, cfg Config) (operators.Operator, error) {
	if err := checkSchemas(env.Spec, "outputs", op.Outputs, outputPorts()); err != nil {
		return nil, err
	}
	if err := checkSchemas(env.Spec, "tables", op.Tables, tablePorts()); err != nil {
		return nil, err
	}
	path := cfg.zonesPath(env.Getenv)
	f, err := zones.Load(path)
	if err != nil {
		return nil, err
	}
	loc, err := cfg.location()
	if err != nil {
		return nil, err
	}
	opts := Options{Name: op.Name, Location: loc, Logger: env.Log,
		Commands: op.Outputs[0], Subscriptions: op.Outputs[1], OccupancyTable: op.Tables[0]}
	for _, z := range f.Zones {
		opts.Zones = append(opts.Zones, Zone{ID: z.ID, Name: z.Name})
	}
	at := func(topics []string, i int) string {
		if i < len(topics) {
			return topics[i]
		}
		return ""
	}
	opts.OptOuts, opts.CleaningsTable, opts.SubscriptionsTable = at(op.Outputs, 2), at(op.Tables, 1), at(op.Tables, 2)
	o, err := New(opts)
	if err != nil {
		return nil, err
	}
	env.Logger().Info("commands configured", "operator", op.Name, "zones_file", path, "zones", len(opts.Zones), "timezone", loc.String())
	return o, nil
}

// checkSchemas: the operator's topics are told apart by their place, and
// topology validation checks only that each schema is one the kind takes
// somewhere, so a table list out of order (cleanings where subscriptions
// belong) would be read wrong without a word.
func checkSchemas(spec *topology.Spec, field string, topics []string, ports []kind.Port) error {
	if spec == nil {
		return nil
	}
	for i, name := range topics {
		t, ok := spec.Topic(name)
		if !ok || i >= len(ports) {
			continue // the topology's and the kind's own checks report these
		}
		if p := ports[i]; !slices.Contains(p.Schemas, t.Schema) {
			return fmt.Errorf("%s[%d] %q is the %s and must carry %v, not %s", field, i, name, p.Role, p.Schemas, t.Schema)
		}
	}
	return nil
}
