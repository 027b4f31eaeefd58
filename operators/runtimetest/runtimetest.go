// Package runtimetest runs operators through the real runtime on an
// in-process Kafka cluster (kfake), for the tests of operator authors, as
// goka's tester does for goka processors: produce input, run one operator or
// a chain of them, and check what was committed — outputs, dead letters and
// state. Unlike a simulation, the operator meets the runtime's own
// transactions, restores, retries, match filter and dead-lettering.
//
//	tt := runtimetest.New(t, runtimetest.Topics(3, "in", "out", "dlq"))
//	tt.Produce("in", "k", []byte("v"))
//	tt.Run(runtimetest.Operator{Name: "upper", Inputs: []string{"in"},
//		Outputs: []string{"out"}, DeadLetter: "dlq", Operator: op})
//	out := tt.Expect("out", 1) // exactly one committed record
//
// Every topic a Tester is given is logical, as in the topology; its physical
// name is Names().Topic(logical), and operators run with the same naming of
// consumer groups and transactional ids (see topology.Names).
//
// A Tester belongs to one test and is not safe for concurrent use. New
// calls only Helper, Cleanup, Errorf and Fatalf of its testing.TB, and
// Fatalf only from the goroutine that called the failing method.
//
// kfake has no replication and no realistic timing: a test here shows that
// an operator keeps the runtime's contract, not that it survives a real
// broker's faults (the integration tests do that).
package runtimetest

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/corb-dev/corb/schemas"
	"github.com/corb-dev/corb/topology"
)

// Option configures a Tester.
type Option func(*config)

type config struct {
	topics    []topicSpec
	namespace string
	timeout   time.Duration
	settle    time.Duration
	logger    *slog.Logger
}

type topicSpec struct {
	partitions int32
	names      []string
}

// Topics creates the logical topics names with the given partitions when the
// cluster starts. Give it once per partition count; only these topics can be
// produced to, read or used by an operator (default: none).
func Topics(partitions int32, names ...string) Option {
	return func(c *config) { c.topics = append(c.topics, topicSpec{partitions, names}) }
}

// Namespace prefixes every topic, consumer group and transactional id, as
// topology.Names does (default "": none).
func Namespace(ns string) Option { return func(c *config) { c.namespace = ns } }

// Timeout bounds every wait: for records in Expect, for a condition in
// Eventually and WaitConsumed, for a produce (default 15s).
func Timeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// Settle is how long Expect goes on reading once it has its records, so
// that a record too many fails the test (default 300ms).
func Settle(d time.Duration) Option { return func(c *config) { c.settle = d } }

// Logger receives the logs of the operators' runtimes (default: discarded,
// since a runtime may log after its test has ended).
func Logger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// Tester is a kfake cluster with its topics, and the operators a test runs on it.
type Tester struct {
	t       testing.TB
	cfg     config
	names   topology.Names
	cluster *kfake.Cluster
	client  *kgo.Client      // produces and asks for offsets
	topics  map[string]int32 // logical name → partitions
}

// New starts a one-broker kfake cluster with the topics of opts; it is
// closed when the test ends, after every operator and task it ran has
// stopped.
func New(t testing.TB, opts ...Option) *Tester {
	t.Helper()
	cfg := config{timeout: 15 * time.Second, settle: 300 * time.Millisecond, logger: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.timeout <= 0 || cfg.settle < 0 || cfg.logger == nil {
		t.Fatalf("runtimetest: Timeout must be positive, Settle not negative, Logger not nil")
	}
	tt := &Tester{t: t, cfg: cfg, names: topology.Names{Namespace: cfg.namespace}, topics: map[string]int32{}}
	kopts := []kfake.Opt{kfake.NumBrokers(1)}
	for _, s := range cfg.topics {
		if s.partitions <= 0 {
			t.Fatalf("runtimetest: Topics(%d, %v): partitions must be positive", s.partitions, s.names)
		}
		for _, name := range s.names {
			if p, dup := tt.topics[name]; dup {
				t.Fatalf("runtimetest: topic %q given twice (%d and %d partitions)", name, p, s.partitions)
			}
			tt.topics[name] = s.partitions
		}
		physical := make([]string, len(s.names))
		for i, name := range s.names {
			physical[i] = tt.Topic(name)
		}
		kopts = append(kopts, kfake.SeedTopics(s.partitions, physical...))
	}
	c, err := kfake.NewCluster(kopts...)
	if err != nil {
		t.Fatalf("runtimetest: starting kfake: %v", err)
	}
	t.Cleanup(c.Close)
	tt.cluster = c
	tt.client = tt.Client()
	return tt
}

// Brokers are the cluster's addresses, for code under test that connects itself.
func (tt *Tester) Brokers() []string { return tt.cluster.ListenAddrs() }

// Cluster is the kfake cluster, for fault injection (ControlKey) and the like.
func (tt *Tester) Cluster() *kfake.Cluster { return tt.cluster }

// Names is the naming of the tester's namespace.
func (tt *Tester) Names() topology.Names { return tt.names }

// Topic is the physical name of a logical topic.
func (tt *Tester) Topic(logical string) string { return tt.names.Topic(logical) }

// Client returns a client of the cluster with opts (a transactional
// producer, a consumer of its own), closed when the test ends. Records it
// produces need physical topic names.
func (tt *Tester) Client(opts ...kgo.Opt) *kgo.Client {
	tt.t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(tt.Brokers()...)}, opts...)...)
	if err != nil {
		tt.t.Fatalf("runtimetest: new client: %v", err)
	}
	tt.t.Cleanup(cl.Close)
	return cl
}

// Produce writes one record to a logical topic and waits for its ack. An
// empty key is a null key; a nil value is a tombstone.
func (tt *Tester) Produce(topic, key string, value []byte) {
	tt.t.Helper()
	r := &kgo.Record{Topic: topic, Value: value}
	if key != "" {
		r.Key = []byte(key)
	}
	tt.ProduceRecords(r)
}

// ProduceAvro writes r, in Avro single-object encoding, as Produce does.
func (tt *Tester) ProduceAvro(topic, key string, r schemas.Record) {
	tt.t.Helper()
	b, err := schemas.Marshal(r)
	if err != nil {
		tt.t.Fatalf("runtimetest: marshal %s: %v", r.SchemaName(), err)
	}
	tt.Produce(topic, key, b)
}

// ProduceRecords writes recs, whose Topic is logical, in order, and waits
// for their acks. Keys choose partitions as Kafka's Java client does
// (Partition is ignored); a zero Timestamp is the time of producing. recs
// are not modified.
func (tt *Tester) ProduceRecords(recs ...*kgo.Record) {
	tt.t.Helper()
	out := make([]*kgo.Record, len(recs))
	for i, r := range recs {
		tt.known(r.Topic)
		c := *r
		c.Topic = tt.Topic(r.Topic)
		out[i] = &c
	}
	ctx, cancel := context.WithTimeout(context.Background(), tt.cfg.timeout)
	defer cancel()
	if err := tt.client.ProduceSync(ctx, out...).FirstErr(); err != nil {
		tt.t.Fatalf("runtimetest: produce: %v", err)
	}
}

// Eventually calls cond every 20ms until it holds, and fails the test when it
// has not within the Timeout. what names the condition in the failure.
func (tt *Tester) Eventually(what string, cond func() bool) {
	tt.t.Helper()
	deadline := time.Now().Add(tt.cfg.timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tt.t.Fatalf("runtimetest: timed out after %v waiting for %s", tt.cfg.timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// known fails the test unless topic is one of the tester's: a typo would
// otherwise only show as a wait that times out.
func (tt *Tester) known(topic string) {
	tt.t.Helper()
	if _, ok := tt.topics[topic]; !ok {
		tt.t.Fatalf("runtimetest: topic %q is not one of the tester's (give it to Topics)", topic)
	}
}
