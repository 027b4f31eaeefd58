package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/urfave/cli/v3"

	"github.com/corb-dev/corb/topology"
)

// topologyCommand is `corb topology`: validate, plan, apply and draw the
// dataflow graph. The operator kinds come from builtinKinds().
func topologyCommand() *cli.Command {
	// Shared flags (flags.go): --topology/-f (CORB_TOPOLOGY), --namespace
	// (CORB_NAMESPACE), --brokers (CORB_BROKERS).
	fileFlag, nsFlag, brokersFlag := topologyFlag(), namespaceFlag(), brokersFlag()
	return &cli.Command{
		Name:  "topology",
		Usage: "check, provision and draw the dataflow graph (topics and operators)",
		Description: `The topology file declares every topic (partitions, replication, schema,
configs) and every operator (kind, inputs, outputs, tables, state, match
pattern, dead-letter topic, replicas, guarantee, config). Physical topic names
are "<namespace>.<topic>".`,
		Commands: []*cli.Command{
			{
				Name:      "validate",
				ArgsUsage: "[FILE]",
				Before:    topologyFileArg,
				Usage:     "load the topology strictly and report every problem with FILE:LINE:COL",
				Description: `Checks unknown fields, types, dangling topic references, duplicate names,
cycles among operators, replicas against partitions, co-partitioning of
stateful operators, and that every topic's schema suits the kinds that read
and write it. Exits non-zero when anything is wrong. Needs no broker.`,
				Flags: []cli.Flag{fileFlag, nsFlag},
				Action: func(ctx context.Context, cmd *cli.Command) error {
					s, err := loadTopology(cmd)
					if err != nil {
						return err
					}
					fmt.Fprintf(cmd.Root().Writer, "%s: ok (namespace %q, %d topics, %d operators)\n",
						cmd.String("topology"), s.Namespace, len(s.Topics), len(s.Operators))
					return nil
				},
			},
			{
				Name:      "plan",
				ArgsUsage: "[FILE]",
				Before:    topologyFileArg,
				Usage:     "show what apply would change on the cluster (+ create, ~ drift, = in sync)",
				Description: `Reads topics and their configs from the brokers and compares them with the
file. Changes nothing. Fewer partitions than the file can be grown by
'apply --grow-partitions'; more partitions are only reported (never shrunk);
configs that differ can be set by 'apply --alter-configs'.`,
				Flags: []cli.Flag{fileFlag, nsFlag, brokersFlag},
				Action: func(ctx context.Context, cmd *cli.Command) error {
					s, err := loadTopology(cmd)
					if err != nil {
						return err
					}
					return withAdmin(cmd, func(adm *kadm.Client) error {
						plan, err := topology.MakePlan(ctx, adm, s)
						if err != nil {
							return err
						}
						_, err = plan.WriteTo(cmd.Root().Writer)
						return err
					})
				},
			},
			{
				Name:      "apply",
				ArgsUsage: "[FILE]",
				Before:    topologyFileArg,
				Usage:     "create missing topics; optionally grow partitions and alter drifted configs",
				Description: `Creates every topic of the file that is missing. Never deletes a topic,
never shrinks one and never touches topics outside the file. Prints the plan
it carried out, then the plan afterwards.`,
				Flags: []cli.Flag{fileFlag, nsFlag, brokersFlag,
					&cli.BoolFlag{Name: "grow-partitions", Usage: "add partitions to topics that have fewer than the file (moves keys to other partitions)"},
					&cli.BoolFlag{Name: "alter-configs", Usage: "set topic configs that differ from the file"},
				},
				Action: func(ctx context.Context, cmd *cli.Command) error {
					s, err := loadTopology(cmd)
					if err != nil {
						return err
					}
					w := cmd.Root().Writer
					return withAdmin(cmd, func(adm *kadm.Client) error {
						plan, err := topology.MakePlan(ctx, adm, s)
						if err != nil {
							return err
						}
						if _, err := plan.WriteTo(w); err != nil {
							return err
						}
						if !plan.HasChanges() {
							return nil
						}
						opts := topology.ApplyOptions{GrowPartitions: cmd.Bool("grow-partitions"), AlterConfigs: cmd.Bool("alter-configs")}
						if err := topology.Apply(ctx, adm, plan, opts); err != nil {
							return err
						}
						after, err := topology.MakePlan(ctx, adm, s)
						if err != nil {
							return err
						}
						fmt.Fprintln(w, "\nafter apply:")
						_, err = after.WriteTo(w)
						return err
					})
				},
			},
			{
				Name:      "match",
				ArgsUsage: "OPERATOR [RECORD]",
				Usage:     "dry-run an operator's match pattern against a sample record (JSON fields), saying which field decides",
				Description: `RECORD is a JSON object of decoded fields, e.g. '{"command_type": "send_sms"}'
(read from stdin when omitted). Prints "match" or "no match" and, for each
field of the pattern, which pattern accepted it or why none did. Exits 1 on no
match, so scripts can test a routing change before it is deployed.`,
				Flags: []cli.Flag{fileFlag, nsFlag},
				Action: func(ctx context.Context, cmd *cli.Command) error {
					s, err := loadTopology(cmd)
					if err != nil {
						return err
					}
					name := cmd.Args().Get(0)
					op, ok := s.Operator(name)
					if !ok {
						return fmt.Errorf("topology %s has no operator %q", s.File, name)
					}
					var src io.Reader = strings.NewReader(cmd.Args().Get(1))
					if cmd.NArg() < 2 {
						src = cmd.Root().Reader
					}
					dec := json.NewDecoder(src)
					dec.UseNumber() // numeric patterns compare numbers, not their text
					var fields map[string]any
					if err := dec.Decode(&fields); err != nil {
						return fmt.Errorf("record: want a JSON object of fields: %w", err)
					}
					if len(op.Match) == 0 {
						fmt.Fprintf(cmd.Root().Writer, "match: operator %q has no match pattern and takes every record\n", name)
						return nil
					}
					ok, why := op.Match.Explain(fields)
					verdict := "match"
					if !ok {
						verdict = "no match"
					}
					fmt.Fprintf(cmd.Root().Writer, "%s: %s\n", verdict, why)
					if !ok {
						return fmt.Errorf("the record does not match operator %q", name)
					}
					return nil
				},
			},
			{
				Name:      "graph",
				ArgsUsage: "[FILE]",
				Before:    topologyFileArg,
				Usage:     "draw the graph as Mermaid or Graphviz DOT (topics as cylinders, dead letters dashed)",
				Description: `Prints the graph to stdout, e.g.
  corb topology graph --format dot | dot -Tsvg > topology.svg`,
				Flags: []cli.Flag{fileFlag, nsFlag,
					&cli.StringFlag{Name: "format", Usage: "`mermaid` or dot", Value: "mermaid"},
				},
				Action: func(ctx context.Context, cmd *cli.Command) error {
					s, err := loadTopology(cmd)
					if err != nil {
						return err
					}
					switch f := strings.ToLower(cmd.String("format")); f {
					case "mermaid", "mmd":
						fmt.Fprint(cmd.Root().Writer, s.Mermaid())
					case "dot", "graphviz":
						fmt.Fprint(cmd.Root().Writer, s.DOT())
					default:
						return fmt.Errorf("unknown graph format %q (want mermaid or dot)", f)
					}
					return nil
				},
			},
		},
	}
}

// topologyFileArg lets a topology subcommand take its file as an argument as
// well as with --topology/-f: both given and different is a usage error. The
// argument overrides CORB_TOPOLOGY, which is only a fallback.
func topologyFileArg(ctx context.Context, cmd *cli.Command) (context.Context, error) {
	arg := cmd.Args().First()
	if arg == "" {
		return ctx, nil
	}
	if cur := cmd.String("topology"); cmd.IsSet("topology") && cur != arg && cur != os.Getenv("CORB_TOPOLOGY") {
		return ctx, usageErrorf(cmd, "topology file given twice: %q as the argument and %q with --topology", arg, cur)
	}
	return ctx, cmd.Set("topology", arg)
}

func withAdmin(cmd *cli.Command, fn func(*kadm.Client) error) error {
	seeds := brokers(cmd)
	if len(seeds) == 0 {
		return fmt.Errorf("no brokers: set --brokers or CORB_BROKERS")
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	return fn(kadm.NewClient(cl))
}
