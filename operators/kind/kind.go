// Package kind declares operator kinds: each kind says once what it reads and
// writes, how many topics of each it takes, its config type with defaults and
// documentation, whether it keeps state, and how to build it. From that one
// declaration come the topology's checks (corb topology validate decodes and
// checks every operator's config), the documentation (corb kinds, the README's
// table) and the operator itself (corb run).
//
// Adding a kind is a change in the kind's own package — a function returning
// Declare(Decl[C]{...}) — and one line in the binary's registry.
package kind

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"reflect"
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/corb-dev/corb/operators"
	"github.com/corb-dev/corb/topology"
)

// Port is one role a topic plays for a kind, in the order the operator lists
// its topics: the presence kind's outputs are "events", then optionally
// "occupancy".
type Port struct {
	// Role says what the topic is to the kind, for messages and docs.
	Role string
	// Schemas are the Avro full names the topic may carry; topology.SchemaAny
	// accepts every schema, topology.SchemaBytes opaque records.
	Schemas []string
	// Optional ports may be left out; only trailing ports may be optional.
	Optional bool
	// Repeated takes any number of topics (at least one unless Optional);
	// only the last port may repeat.
	Repeated bool
}

// Env is what a kind may use to check and build an operator.
type Env struct {
	// Spec is the topology the operator belongs to; nil when a test builds
	// an operator on its own.
	Spec *topology.Spec
	// Log receives the kind's start-up lines; nil means slog.Default().
	Log *slog.Logger
	// Registry receives the operator's own metrics; nil registers none.
	Registry prometheus.Registerer
	// Getenv reads the environment (CORB_ZONES, ...); nil reads none.
	Getenv func(string) string
	// Stdout receives what a kind prints for people (the SMS console
	// driver's texts); nil means os.Stdout. corb dev sends it to its log file.
	Stdout io.Writer
}

// Out is e.Stdout, or os.Stdout when unset.
func (e Env) Out() io.Writer {
	if e.Stdout == nil {
		return os.Stdout
	}
	return e.Stdout
}

// Logger is e.Log, or slog.Default() when unset.
func (e Env) Logger() *slog.Logger {
	if e.Log == nil {
		return slog.Default()
	}
	return e.Log
}

// Env is e.Getenv(key), or "" when unset.
func (e Env) Env(key string) string {
	if e.Getenv == nil {
		return ""
	}
	return e.Getenv(key)
}

// Decl is the declaration of a kind whose config block decodes into C.
//
// C's exported fields are its config keys (by their yaml tag); a field's
// `doc` tag is its meaning and its `default` tag the default to show when the
// zero value is not it ("0.35", "cores ÷ instances"). Decoding is strict:
// unknown keys and wrong types are errors with their file:line:col. When *C
// or C has a `Validate() error` method it runs after decoding.
type Decl[C any] struct {
	Name    string // the `kind:` value in the topology
	Summary string // one line: what an operator of the kind does
	// Inputs, Outputs, Tables and State are the topics the kind takes, in order.
	Inputs, Outputs, Tables, State []Port
	// Stateful kinds keep per-key state: their operators must say stateful: true.
	Stateful bool
	// Defaults is the config before the block is decoded over it; nil: zero C.
	Defaults func() C
	// Check checks what a valid config names (a zones file that must exist and
	// parse); it runs in validation and before Build. Nil: nothing to check.
	Check func(env Env, op *topology.Operator, cfg *C) error
	// Build makes the operator. Nil declares a kind whose topologies validate
	// but that this build cannot run yet.
	Build func(ctx context.Context, env Env, op *topology.Operator, cfg C) (operators.Operator, error)
}

// Kind is a declared kind. Make one with Declare.
type Kind struct {
	Name, Summary                  string
	Inputs, Outputs, Tables, State []Port
	Stateful                       bool
	// Keys document the config block; Config() has the defaults.
	Keys []Key

	config func() any // a pointer to a fresh C with the defaults
	check  func(env Env, op *topology.Operator) (any, error)
	build  func(ctx context.Context, env Env, op *topology.Operator, cfg any) (operators.Operator, error)
}

// Declare turns a declaration into a Kind. It panics on a malformed
// declaration (an optional port before a required one, a repeated port that
// is not last): that is a programming error caught by any test of the kind.
func Declare[C any](d Decl[C]) Kind {
	for _, ports := range [][]Port{d.Inputs, d.Outputs, d.Tables, d.State} {
		if err := checkPorts(ports); err != nil {
			panic(fmt.Sprintf("kind %q: %v", d.Name, err))
		}
	}
	fresh := func() *C {
		c := new(C)
		if d.Defaults != nil {
			*c = d.Defaults()
		}
		return c
	}
	k := Kind{
		Name: d.Name, Summary: d.Summary, Stateful: d.Stateful,
		Inputs: d.Inputs, Outputs: d.Outputs, Tables: d.Tables, State: d.State,
		Keys:   keysOf(reflect.TypeFor[C]()),
		config: func() any { return fresh() },
	}
	k.check = func(env Env, op *topology.Operator) (any, error) {
		cfg := fresh()
		if err := op.Config.Decode(cfg); err != nil {
			return nil, err
		}
		if err := validate(cfg); err != nil {
			return nil, err
		}
		if d.Check != nil {
			if err := d.Check(env, op, cfg); err != nil {
				return nil, err
			}
		}
		return cfg, nil
	}
	if d.Build != nil {
		k.build = func(ctx context.Context, env Env, op *topology.Operator, cfg any) (operators.Operator, error) {
			return d.Build(ctx, env, op, *cfg.(*C))
		}
	}
	return k
}

// validate runs cfg's Validate method, if it has one.
func validate(cfg any) error {
	if v, ok := cfg.(interface{ Validate() error }); ok {
		return v.Validate()
	}
	if v, ok := reflect.ValueOf(cfg).Elem().Interface().(interface{ Validate() error }); ok {
		return v.Validate()
	}
	return nil
}

func checkPorts(ports []Port) error {
	for i, p := range ports {
		last := i == len(ports)-1
		if p.Repeated && !last {
			return fmt.Errorf("port %q repeats but is not the last", p.Role)
		}
		if !p.Optional && i > 0 && ports[i-1].Optional {
			return fmt.Errorf("required port %q follows an optional one", p.Role)
		}
		if len(p.Schemas) == 0 {
			return fmt.Errorf("port %q accepts no schema", p.Role)
		}
	}
	return nil
}

// Buildable reports whether this build can run operators of the kind.
func (k Kind) Buildable() bool { return k.build != nil }

// Config returns a fresh config of the kind with its defaults, as a pointer.
func (k Kind) Config() any { return k.config() }

// Topology is the kind as the topology's validation sees it; its CheckConfig
// decodes and checks an operator's config in env.
func (k Kind) Topology(env Env) topology.KindSpec {
	return topology.KindSpec{
		Inputs: schemasOf(k.Inputs), Outputs: schemasOf(k.Outputs),
		Tables: schemasOf(k.Tables), State: schemasOf(k.State),
		Stateful:   k.Stateful,
		InputCount: countOf(k.Inputs), OutputCount: countOf(k.Outputs),
		TableCount: countOf(k.Tables), StateCount: countOf(k.State),
		CheckConfig: func(op *topology.Operator) error {
			_, err := k.check(env, op)
			return err
		},
	}
}

// Build checks op against the kind (the number of its topics, its config and
// what the config names) and builds its operator.
func (k Kind) Build(ctx context.Context, env Env, op *topology.Operator) (operators.Operator, error) {
	if k.build == nil {
		return nil, fmt.Errorf("%soperator %q: kind %q is not part of this build yet", where(op), op.Name, k.Name)
	}
	for _, c := range []struct {
		field string
		n     int
		ports []Port
	}{{"inputs", len(op.Inputs), k.Inputs}, {"outputs", len(op.Outputs), k.Outputs},
		{"tables", len(op.Tables), k.Tables}, {"state topics", len(op.State), k.State}} {
		want := countOf(c.ports)
		switch {
		case len(c.ports) == 0 && c.n > 0:
			return nil, fmt.Errorf("%soperator %q: kind %q takes no %s, got %d", where(op), op.Name, k.Name, c.field, c.n)
		case c.n < want.Min || (want.Max > 0 && c.n > want.Max):
			return nil, fmt.Errorf("%soperator %q: kind %q takes %s %s (%s), got %d",
				where(op), op.Name, k.Name, want, c.field, portsText(c.ports), c.n)
		}
	}
	cfg, err := k.check(env, op)
	if err != nil {
		return nil, k.located(op, err)
	}
	o, err := k.build(ctx, env, op, cfg)
	if err != nil {
		return nil, fmt.Errorf("operator %q: %w", op.Name, err)
	}
	return o, nil
}

// located gives an error without a position the operator's config position.
func (k Kind) located(op *topology.Operator, err error) error {
	if err == nil {
		return nil
	}
	var te *topology.Error
	var tes topology.Errors
	if errors.As(err, &te) || errors.As(err, &tes) {
		return err
	}
	at := op.Config.Pos()
	if !at.IsValid() {
		at = op.Pos
	}
	return &topology.Error{Pos: at, Kind: topology.ErrInvalid, Msg: fmt.Sprintf("operator %q: config: %v", op.Name, err)}
}

// where is "FILE:LINE:COL: " of op, or "" when it was not loaded from a file.
func where(op *topology.Operator) string {
	if !op.Pos.IsValid() {
		return ""
	}
	return op.Pos.String() + ": "
}

func schemasOf(ports []Port) []string {
	var out []string
	for _, p := range ports {
		for _, s := range p.Schemas {
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out
}

func countOf(ports []Port) topology.Count {
	var c topology.Count
	for _, p := range ports {
		if !p.Optional {
			c.Min++
		}
		c.Max++
	}
	if len(ports) > 0 && ports[len(ports)-1].Repeated {
		c.Max = 0
	}
	if len(ports) == 0 {
		c.Max = 0 // "none" is the schema list's business (an empty list takes no topics)
	}
	return c
}
