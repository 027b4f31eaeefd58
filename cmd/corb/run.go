package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/urfave/cli/v3"

	"github.com/corb-dev/corb/operators"
	"github.com/corb-dev/corb/operators/admin"
	"github.com/corb-dev/corb/operators/runtime"
	"github.com/corb-dev/corb/schemas"
	"github.com/corb-dev/corb/topology"
)

func runCommand() *cli.Command {
	return &cli.Command{
		Name:      "run",
		Usage:     "run operators of the topology as members of their consumer groups",
		ArgsUsage: "OPERATOR...",
		Description: `Runs the named operators of the topology in this process, each as one member
(replica) of its consumer group. Start the same command on more machines, or
more times with a different --instance, to add replicas: partitions are shared
among them and move when one joins or leaves.

In exactly_once mode (the default) outputs, dead letters and input offsets
commit in one Kafka transaction. --instance must be stable across restarts of a
replica and unique among live replicas: it names the transactional id, so a
restarted replica fences its dead predecessor immediately.

Records that fail permanently (bad input, a panic) or keep failing after the
retries go to the operator's on_failure topic, with the reason in headers.
SIGINT/SIGTERM finish or abort the batch in flight, commit, and leave the group
within --shutdown-timeout.`,
		Flags: append([]cli.Flag{
			topologyFlag(), namespaceFlag(), brokersFlag(), adminFlag(":9464"), settingsFlag(),
			&cli.StringFlag{Name: "instance", Usage: "replica id, stable across restarts (default: the host name)", Sources: cli.EnvVars("CORB_INSTANCE")},
			&cli.IntFlag{Name: "max-batch", Usage: "records per batch at most", Value: 500, Sources: cli.EnvVars("CORB_MAX_BATCH")},
			&cli.DurationFlag{Name: "shutdown-timeout", Usage: "how long a batch in flight may take to finish at shutdown", Value: 10 * time.Second},
		}, logFlags()...),
		Action: func(ctx context.Context, cmd *cli.Command) error {
			log, err := newLogger(cmd)
			if err != nil {
				return err
			}
			if cmd.NArg() == 0 {
				return errors.New("name at least one operator of the topology (see 'corb topology graph')")
			}
			spec, err := loadTopology(cmd)
			if err != nil {
				return err
			}
			bs := brokers(cmd)
			if len(bs) == 0 {
				return errors.New("no brokers: set --brokers or CORB_BROKERS")
			}
			instance := cmd.String("instance")
			if instance == "" {
				if instance, err = os.Hostname(); err != nil {
					return fmt.Errorf("--instance not set and no host name: %w", err)
				}
			}
			reg := newRegistry()
			var ops []plannedOperator
			for _, name := range cmd.Args().Slice() {
				op, ok := spec.Operator(name)
				if !ok {
					return fmt.Errorf("topology %s has no operator %q", spec.File, name)
				}
				ops = append(ops, plannedOperator{op: op, instance: instance})
			}
			return runOperators(ctx, runSettings{
				spec: spec, brokers: bs, log: log, registry: reg, adminAddr: cmd.String("admin-addr"),
				maxBatch: cmd.Int("max-batch"), shutdownTimeout: cmd.Duration("shutdown-timeout"),
			}, ops)
		},
	}
}

// newRegistry is a Prometheus registry with the Go and process collectors.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

type runSettings struct {
	spec            *topology.Spec
	brokers         []string
	log             *slog.Logger
	registry        *prometheus.Registry
	adminAddr       string
	maxBatch        int
	shutdownTimeout time.Duration
	// noProgress leaves out the progress lines (corb dev has its own live account).
	noProgress bool
	// getenv is the environment the kinds read (nil: the process's).
	getenv func(string) string
	// stdout is where kinds print for people (nil: os.Stdout).
	stdout io.Writer
}

type plannedOperator struct {
	op       *topology.Operator
	instance string
}

// runOperators builds every planned operator, runs them and the admin endpoint
// until ctx ends or one fails, and returns the first failure.
func runOperators(ctx context.Context, s runSettings, planned []plannedOperator) error {
	prom, err := runtime.NewPrometheus(s.registry)
	if err != nil {
		return err
	}
	hooks := runtime.Hooks(prom)
	var progress *runtime.Progress
	if !s.noProgress {
		progress = runtime.NewProgress(s.log, 30*time.Second)
		hooks = runtime.MultiHooks(prom, progress)
	}
	env := buildEnv{Spec: s.spec, Log: s.log, Registry: s.registry, Getenv: s.getenv, Stdout: s.stdout}
	checks := map[string]admin.Check{}
	var runners []*runtime.Runner
	for _, p := range planned {
		impl, err := buildOperator(ctx, env, p.op)
		if err != nil {
			return err
		}
		r, err := runtime.New(runtime.Config{
			Name:            p.op.Name,
			Group:           s.spec.Names().Group(p.op.Name),
			TransactionalID: s.spec.Names().TransactionalID(p.op.Name, p.instance),
			Instance:        p.instance,
			Brokers:         s.brokers,
			Inputs:          p.op.Inputs,
			Outputs:         p.op.Outputs,
			State:           p.op.State,
			Tables:          p.op.Tables,
			DeadLetter:      p.op.OnFailure,
			Topic:           s.spec.Names().Topic,
			Guarantee:       runtime.Guarantee(p.op.Guarantee),
			Operator:        impl,
			Match:           matcher(p.op),
			MaxBatch:        s.maxBatch,
			ShutdownTimeout: s.shutdownTimeout,
			ProcessTimeout:  p.op.Timeout,
			Logger:          s.log,
			Hooks:           hooks,
		})
		if err != nil {
			return err
		}
		runners = append(runners, r)
		checks[p.op.Name+"/"+p.instance] = func() error {
			if !r.Ready() {
				return errors.New("not yet in its consumer group")
			}
			return nil
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if progress != nil {
		// It stops after the operators, so its last line has their last batches.
		pctx, stop := context.WithCancel(context.WithoutCancel(ctx))
		done := make(chan struct{})
		go func() { progress.Run(pctx); close(done) }()
		defer func() { stop(); <-done }()
	}
	errc := make(chan error, len(runners)+1)
	for _, r := range runners {
		go func() { errc <- r.Run(ctx) }()
	}
	go func() { errc <- admin.New(s.registry, checks).Serve(ctx, s.adminAddr, s.log) }()
	var first error
	for range len(runners) + 1 {
		if err := <-errc; err != nil && first == nil {
			first = err
			cancel() // one failed: stop the others, bounded by their shutdown timeout
		}
	}
	return first
}

// matcher turns the operator's match pattern into a record filter on decoded Avro fields.
func matcher(op *topology.Operator) func(operators.Record) (bool, error) {
	if len(op.Match) == 0 {
		return nil
	}
	return func(r operators.Record) (bool, error) {
		fields, err := schemas.Fields(r.Value)
		if err != nil {
			return false, err
		}
		return op.Matches(fields), nil
	}
}

// replicaIDs are the instance ids of n replicas run in one process (corb dev).
func replicaIDs(n int) []string {
	ids := make([]string, max(n, 1))
	for i := range ids {
		ids[i] = strconv.Itoa(i)
	}
	return ids
}
