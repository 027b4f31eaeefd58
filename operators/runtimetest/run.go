package runtimetest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/corb-dev/corb/operators"
	"github.com/corb-dev/corb/operators/runtime"
)

// Operator is one operator instance to run: the fields of runtime.Config a
// test usually sets, with logical topic names. Name, Inputs, DeadLetter and
// Operator are required, as runtime.New requires them.
type Operator struct {
	// Name makes the consumer group, Names().Group(Name).
	Name string
	// Instance tells replicas apart and makes the transactional id (default "0").
	Instance string
	// Inputs, Outputs, State, Tables and DeadLetter are logical topics of the
	// tester: see runtime.Config.
	Inputs     []string
	Outputs    []string
	State      []string
	Tables     []string
	DeadLetter string
	// Match decides which input records reach the operator (default: all).
	Match func(operators.Record) (bool, error)
	// Guarantee defaults to runtime.ExactlyOnce.
	Guarantee runtime.Guarantee
	// Operator is what to run.
	Operator operators.Operator
	// Config, when set, changes the runtime.Config that the tester built from
	// the fields above before runtime.New sees it: MaxBatch, Retry, Now,
	// ProcessTimeout, ... The tester's defaults differ from the runtime's in
	// TickInterval (50ms) and RestoreSettle (100ms), so that ticks and
	// restores do not slow tests down.
	Config func(*runtime.Config)
}

// Instance is an operator running through the runtime.
type Instance struct {
	tt     *Tester
	spec   Operator
	runner *runtime.Runner
	task   *Task
}

// Task is a function running in the background of a test: see Go.
type Task struct {
	t      testing.TB
	name   string
	wait   time.Duration
	cancel context.CancelFunc
	done   chan struct{}
	err    error // run's result, set before done is closed
	stop   sync.Once
}

// Go runs run — a table's, a tap's, a connector's Run — in a goroutine of
// its own until Stop, which the tester calls when the test ends. name names
// it in failures.
func (tt *Tester) Go(name string, run func(ctx context.Context) error) *Task {
	return tt.start(name, tt.cfg.timeout, run)
}

func (tt *Tester) start(name string, wait time.Duration, run func(context.Context) error) *Task {
	ctx, cancel := context.WithCancel(context.Background())
	k := &Task{t: tt.t, name: name, wait: wait, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(k.done)
		k.err = run(ctx)
	}()
	tt.t.Cleanup(k.Stop)
	return k
}

// Stop cancels the task's context and waits for its function to return,
// for the tester's Timeout at the most. An error from it, or its not
// returning, fails the test. Stop may be called more than once.
func (k *Task) Stop() {
	k.t.Helper()
	k.stop.Do(func() {
		k.cancel()
		select {
		case <-k.done:
			if k.err != nil {
				k.t.Errorf("runtimetest: %s: Run: %v", k.name, k.err)
			}
		case <-time.After(k.wait):
			k.t.Errorf("runtimetest: %s: Run did not return within %v of its end", k.name, k.wait)
		}
	})
}

// Run starts op with runtime.New and Runner.Run, and stops it when the test
// ends. A configuration runtime.New refuses fails the test.
func (tt *Tester) Run(op Operator) *Instance {
	tt.t.Helper()
	for _, group := range [][]string{op.Inputs, op.Outputs, op.State, op.Tables, {op.DeadLetter}} {
		for _, topic := range group {
			if topic != "" {
				tt.known(topic)
			}
		}
	}
	cfg := runtime.Config{
		Name: op.Name,
		// The runtime makes the group as GroupPrefix+Name: the prefix is
		// whatever Names puts before the name.
		GroupPrefix: strings.TrimSuffix(tt.names.Group(op.Name), op.Name),
		Instance:    op.Instance, Brokers: tt.Brokers(), Topic: tt.names.Topic,
		Inputs: op.Inputs, Outputs: op.Outputs, State: op.State, Tables: op.Tables, DeadLetter: op.DeadLetter,
		Match: op.Match, Guarantee: op.Guarantee, Operator: op.Operator,
		TickInterval: 50 * time.Millisecond, RestoreSettle: 100 * time.Millisecond,
		Logger: tt.cfg.logger,
	}
	if op.Config != nil {
		op.Config(&cfg)
	}
	r, err := runtime.New(cfg)
	if err != nil {
		tt.t.Fatalf("runtimetest: %v", err)
	}
	// Stopping waits out a batch in flight, for the runtime's ShutdownTimeout.
	shutdown := cfg.ShutdownTimeout
	if shutdown <= 0 {
		shutdown = 10 * time.Second // the runtime's default
	}
	wait := 10*time.Second + shutdown
	return &Instance{tt: tt, spec: op, runner: r, task: tt.start("operator "+op.Name, wait, r.Run)}
}

// Runner is the runtime's runner of the instance (Ready, Group).
func (i *Instance) Runner() *runtime.Runner { return i.runner }

// Stop ends Run and waits for it to return, for the runtime's
// ShutdownTimeout and 10s more at the most. Run failing or not returning
// fails the test. Stop may be called more than once; the tester calls it
// when the test ends.
func (i *Instance) Stop() {
	i.tt.t.Helper()
	i.task.Stop()
}

// Restart stops the instance and runs it again, with op instead of its
// operator unless op is nil, and returns the new instance: a stateful
// operator is then restored from its changelogs. The runtime closes an
// operator that is an operators.Closer when its Run ends, so such an
// operator needs a new value here.
func (i *Instance) Restart(op operators.Operator) *Instance {
	i.tt.t.Helper()
	i.Stop()
	spec := i.spec
	if op != nil {
		spec.Operator = op
	}
	return i.tt.Run(spec)
}

// WaitConsumed waits until the instance's consumer group has committed
// every record its input topics hold when it is called — records the Match
// filter dropped and dead-lettered ones included — and fails the test
// after the Timeout, or at once when the instance's Run has returned.
func (i *Instance) WaitConsumed() {
	i.tt.t.Helper()
	ends := map[string]map[int32]int64{}
	for _, in := range i.spec.Inputs {
		_, ends[i.tt.Topic(in)] = i.tt.committed(in)
	}
	adm := kadm.NewClient(i.tt.client)
	group := i.runner.Group()
	i.tt.Eventually(fmt.Sprintf("operator %s (group %s) to commit its input", i.spec.Name, group), func() bool {
		select {
		case <-i.task.done:
			i.tt.t.Fatalf("runtimetest: operator %s stopped before it consumed its input: Run: %v", i.spec.Name, i.task.err)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		got, err := adm.FetchOffsets(ctx, group)
		if err != nil {
			return false
		}
		for topic, ps := range ends {
			for p, end := range ps {
				if o, ok := got.Lookup(topic, p); !ok || o.Err != nil || o.At < end {
					return false
				}
			}
		}
		return true
	})
}
