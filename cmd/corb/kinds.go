package main

import (
	"context"
	"fmt"
	"os"

	"github.com/urfave/cli/v3"

	"github.com/corb-dev/corb/operators"
	"github.com/corb-dev/corb/operators/cleaning"
	handlers "github.com/corb-dev/corb/operators/commands" // not "commands": cli_test.go has a func of that name
	"github.com/corb-dev/corb/operators/detect"
	"github.com/corb-dev/corb/operators/kind"
	"github.com/corb-dev/corb/operators/passthrough"
	"github.com/corb-dev/corb/operators/presence"
	"github.com/corb-dev/corb/operators/rules"
	"github.com/corb-dev/corb/operators/smsout"
	"github.com/corb-dev/corb/operators/zones"
	"github.com/corb-dev/corb/topology"
)

// builtins is every kind this binary knows: one line per kind, declared in
// its own package (see CONTRIBUTING.md, "Adding an operator kind").
func builtins() *kind.Registry {
	r, err := kind.NewRegistry(
		passthrough.Kind(),
		detect.Kind(),
		zones.Kind(),
		presence.Kind(),
		rules.Kind(),
		cleaning.Kind(),
		handlers.Kind(),
		smsout.Kind(),
	)
	if err != nil {
		panic(err) // the list above is fixed: any test of this package catches it
	}
	return r
}

// buildEnv is what a kind may use to build an operator; an unset Getenv
// reads this process's environment.
type buildEnv = kind.Env

// builtinKinds is the topology's view of the built-in kinds; config checks
// read this process's environment.
func builtinKinds() topology.Kinds { return builtins().Topology(kind.Env{Getenv: os.Getenv}) }

// buildOperator builds the operator op of the topology.
func buildOperator(ctx context.Context, env buildEnv, op *topology.Operator) (operators.Operator, error) {
	if env.Getenv == nil {
		env.Getenv = os.Getenv
	}
	return builtins().Build(ctx, env, op)
}

// buildable reports whether this build can run operators of the named kind.
func buildable(name string) bool {
	k, ok := builtins().Lookup(name)
	return ok && k.Buildable()
}

// kindsCommand is `corb kinds`: every operator kind with its topics and config keys.
func kindsCommand() *cli.Command {
	return &cli.Command{
		Name:  "kinds",
		Usage: "list the operator kinds: what each does, the topics it takes, its config keys, types, defaults and meaning",
		Description: `The kind of an operator (its 'kind:' in the topology) decides what it does,
which topics it reads and writes, and the keys of its 'config:' block. Every
key is optional; 'corb topology validate' checks each operator's config
against its kind.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Usage: "`text` or markdown (the README's table)", Value: "text"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			switch cmd.String("format") {
			case "text":
				return builtins().WriteText(cmd.Root().Writer)
			case "markdown", "md":
				return builtins().WriteMarkdown(cmd.Root().Writer)
			default:
				return fmt.Errorf("--format %q: want text or markdown", cmd.String("format"))
			}
		},
	}
}
