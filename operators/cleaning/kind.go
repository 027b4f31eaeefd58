package cleaning

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	// The IANA database compiled in: images built FROM scratch have no
	// /usr/share/zoneinfo, and timezone must load there too.
	_ "time/tzdata"

	"github.com/corb-dev/corb/operators"
	"github.com/corb-dev/corb/operators/directory"
	"github.com/corb-dev/corb/operators/kind"
	"github.com/corb-dev/corb/operators/zones"
	"github.com/corb-dev/corb/topology"
)

// Config is the cleaning kind's config, as written under an operator's
// `config:` in the topology. Every key is optional.
type Config struct {
	Directory string        `yaml:"directory" default:"$CORB_DIRECTORY, else deploy/directory.yaml" doc:"the directory file: the cleaners of each zone, and the names of people; reloaded when it changes"`
	ZonesFile string        `yaml:"zones_file" default:"$CORB_ZONES, else deploy/zones.yaml" doc:"the zones file: the zones commands may name, and the names texts give them"`
	Reload    time.Duration `yaml:"reload" doc:"how often the directory file is checked for changes"`
	Timezone  string        `yaml:"timezone" doc:"IANA time zone (Europe/Paris) of the times in texts; Local: the process's TZ"`
}

func defaults() Config { return Config{Reload: 10 * time.Second, Timezone: "Local"} }

// Validate checks the values that need no file.
func (c Config) Validate() error {
	var errs []error
	if c.Reload <= 0 {
		errs = append(errs, fmt.Errorf("reload %v: want a positive duration", c.Reload))
	}
	if _, err := time.LoadLocation(c.Timezone); err != nil {
		errs = append(errs, fmt.Errorf("timezone: %w", err))
	}
	return errors.Join(errs...)
}

// DirectoryPath is the directory file the config selects (directory.Path).
func (c Config) DirectoryPath(getenv func(string) string) string {
	return directory.Path(c.Directory, getenv)
}

func (c Config) zonesPath(getenv func(string) string) string {
	return zones.OperatorConfig{ZonesFile: c.ZonesFile}.Path(getenv)
}

// Kind is the cleaning kind: corb.Command records in (request_cleaning and
// cleaning_done); send_sms commands to its first output, the cleanings view
// to its second; the usage view and the cleanings view as tables. The
// directory and zones files are checked when the topology is validated.
func Kind() kind.Kind {
	return kind.Declare(kind.Decl[Config]{
		Name:    "cleaning",
		Summary: "request_cleaning → a cleaning report → send_sms to the cleaners; cleaning_done closes the cycle",
		Inputs:  []kind.Port{{Role: "commands", Schemas: []string{"corb.Command"}}},
		Outputs: []kind.Port{
			{Role: "commands", Schemas: []string{"corb.Command"}},
			{Role: "cleanings", Schemas: []string{topology.SchemaBytes}},
		},
		Tables: []kind.Port{
			{Role: "usage view", Schemas: []string{topology.SchemaBytes}},
			{Role: "cleanings", Schemas: []string{topology.SchemaBytes}},
		},
		Defaults: defaults,
		Check: func(env kind.Env, _ *topology.Operator, cfg *Config) error {
			_, _, err := cfg.load(env.Getenv)
			return err
		},
		Build: build,
	})
}

// load loads the zones file, as zone id → name, and the directory, whose
// cleaners must clean zones of that file: a misspelt zone would leave its
// reports with nobody.
func (c Config) load(getenv func(string) string) (map[string]string, *directory.Directory, error) {
	f, err := zones.Load(c.zonesPath(getenv))
	if err != nil {
		return nil, nil, err
	}
	names := make(map[string]string, len(f.Zones))
	for _, z := range f.Zones {
		names[z.ID] = z.Name
	}
	path := c.DirectoryPath(getenv)
	d, err := directory.Load(path)
	if err != nil {
		return nil, nil, err
	}
	var errs []error
	for _, p := range d.People() {
		for _, z := range p.Zones {
			if _, ok := names[z]; !ok {
				errs = append(errs, fmt.Errorf("%s: %s (%s) cleans zone %q, which %s does not have", path, p.Name, p.Phone, z, c.zonesPath(getenv)))
			}
		}
	}
	return names, d, errors.Join(errs...)
}

// build loads the files and starts the directory's watcher, which runs until
// ctx ends or the operator is closed.
func build(ctx context.Context, env kind.Env, op *topology.Operator, cfg Config) (operators.Operator, error) {
	log := env.Logger()
	names, _, err := cfg.load(env.Getenv)
	if err != nil {
		return nil, err
	}
	loc, err := time.LoadLocation(cfg.Timezone)
	if err != nil {
		return nil, err
	}
	dirPath := cfg.DirectoryPath(env.Getenv)
	w, err := directory.NewWatcher(dirPath, log)
	if err != nil {
		return nil, err
	}
	o, err := New(Options{
		Name: op.Name, Commands: op.Outputs[0], Cleanings: op.Outputs[1],
		UsageTable: op.Tables[0], CleaningsTable: op.Tables[1],
		Directory: w.Current, ZoneNames: names, Location: loc, Logger: log,
	})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { _ = w.Run(ctx, cfg.Reload) }) // Run returns nil when ctx ends
	o.close = func() error { cancel(); wg.Wait(); return nil }
	log.Info("cleaning configured", "operator", op.Name, "directory", dirPath, "people", len(w.Current().People()),
		"zones_file", cfg.zonesPath(env.Getenv), "zones", len(names))
	return o, nil
}
