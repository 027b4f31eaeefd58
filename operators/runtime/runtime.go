// Package runtime hosts an operator as a member of a Kafka consumer group: it
// polls batches from the operator's input topics, runs the operator through its
// middleware, produces the outputs and dead letters, and commits the input
// offsets — in one transaction in exactly-once mode. What it does is told
// to Hooks (metrics, progress lines) as it happens.
package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/corb-dev/corb/operators"
	"github.com/corb-dev/corb/operators/runtime/fault"
	"github.com/corb-dev/corb/operators/table"
)

// Guarantee is the delivery guarantee of an operator's outputs.
type Guarantee string

const (
	// ExactlyOnce commits outputs, dead letters and input offsets in one Kafka
	// transaction: a consumer reading read_committed sees every output exactly once,
	// whatever crashes or rebalances happen.
	ExactlyOnce Guarantee = "exactly_once"
	// AtLeastOnce produces outputs, waits for them to be acknowledged, and only then
	// commits the input offsets: faster, but a crash between the two repeats outputs.
	AtLeastOnce Guarantee = "at_least_once"
)

// Config describes one operator instance. Name, Brokers, Inputs, DeadLetter and
// Operator are required; every other field has the default named on it.
type Config struct {
	// Name is the operator's name; the consumer group is Group, else GroupPrefix+Name.
	Name string
	// GroupPrefix is prepended to the group and transactional ids (default "", usually the namespace plus ".").
	GroupPrefix string
	// Group and TransactionalID, when set, are the consumer group and the
	// transactional id as topology.Names makes them; they override
	// GroupPrefix+Name and Group+"-"+Instance.
	Group, TransactionalID string
	// Instance tells replicas apart. It must be stable across restarts of the same
	// replica and unique among live replicas: in exactly-once mode it makes the
	// transactional id, so a restarted replica fences its dead predecessor at once
	// instead of waiting for the broker to time its transaction out. Default "0".
	Instance string
	// Brokers are the seed brokers.
	Brokers []string
	// Inputs, Outputs and DeadLetter are logical topic names; Topic maps them to physical names.
	Inputs     []string
	Outputs    []string
	DeadLetter string
	// State are logical changelog topics of a Stateful operator: it may write
	// to them, and they are read back to restore its state (see operators.Stateful).
	State []string
	// Tables are logical compacted topics a TableReader operator looks records
	// up in (see operators.TableReader).
	Tables []string
	// RestoreSettle bounds how long a restore waits for a changelog partition's
	// open transactions to finish before reading it (default 2s).
	RestoreSettle time.Duration
	// TickInterval is how often a Ticker operator's Tick runs, and how long a
	// poll waits for records before the runtime gets on with ticks and
	// restores (default 1s).
	TickInterval time.Duration
	// LagInterval is how often the lag of the assigned partitions is
	// measured and told to Hooks.Lagged, busy or idle (default 5s).
	LagInterval time.Duration
	// Topic maps a logical topic name to its physical name (default: identity).
	Topic func(logical string) string
	// Guarantee defaults to ExactlyOnce.
	Guarantee Guarantee
	// Operator is the operator to host. The runtime wraps it in Recover and Retry.
	Operator operators.Operator
	// Match, when set, decides which input records reach the operator; the rest are
	// committed without output and told to Hooks.Dropped (ReasonMatch). An error
	// dead-letters the record.
	Match func(operators.Record) (bool, error)
	// MaxBatch bounds the records per batch (default 500).
	MaxBatch int
	// Retry is the retry policy for transient failures (defaults: see RetryPolicy).
	Retry operators.RetryPolicy
	// ProcessTimeout bounds one call of the operator (default 0: none). A
	// call that runs past it fails its batch transiently (see
	// operators.Timeout): the batch is retried, then split.
	ProcessTimeout time.Duration
	// ShutdownTimeout bounds how long a batch in flight may take to finish and
	// commit once Run's context ends (default 10s); after it the batch is aborted.
	ShutdownTimeout time.Duration
	// FetchMaxBytes bounds memory held by fetched but unprocessed records (default 16 MiB).
	FetchMaxBytes int32
	// SessionTimeout is how long the group waits for a silent member (one killed
	// with SIGKILL, say) before giving its partitions to the others (default 10s;
	// Kafka's 45s is long for video).
	SessionTimeout time.Duration
	// TransactionTimeout is the broker-side timeout of a transaction (default 30s).
	TransactionTimeout time.Duration
	// StallTimeout is how long a batch may stay in flight, or work wait
	// with no commit, before the instance counts as not making progress
	// (default 30s). Faults and a cluster that does not answer count at
	// once; see Runner.Health.
	StallTimeout time.Duration
	// ClientOptions are appended to the franz-go options the runtime builds (tests, TLS, SASL).
	ClientOptions []kgo.Opt
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Hooks are told what the instance does (default NopHooks: nothing);
	// MultiHooks combines several, NewPrometheus keeps the metrics.
	Hooks Hooks
	// Now is the clock for dead-letter timestamps and for journaled records
	// without one (default time.Now).
	Now func() time.Time
}

// ErrConfig is wrapped by every configuration error New returns.
var ErrConfig = errors.New("invalid runtime config")

// Runner runs one operator instance. Create it with New, then call Run once.
type Runner struct {
	cfg      Config
	op       operators.Operator
	log      *slog.Logger
	outputs  map[string]string // physical → logical, for output validation
	physical map[string]string // logical input physical → logical
	ready    atomic.Bool
	hooks    Hooks
	member   Member
	drops    *dropLog
	// stall tells whether the instance makes progress; faults logs
	// faults at a bounded rate.
	stall  *stall
	faults *fault.Log

	mu       sync.Mutex
	assigned map[string]map[int32]bool // physical topic → partitions held

	state    *stateManager    // nil unless the operator is Stateful and has state topics
	ticker   operators.Ticker // nil unless the operator is a Ticker
	lastTick time.Time
	// batchWait is the operator's BatchWait; 0 when it is no BatchFiller.
	batchWait time.Duration
	failures  int // batches failed in a row, for the backoff before the next try
	// isolate is how many of the coming records are processed one per batch:
	// those of a stateful batch in which the operator panicked.
	isolate int
	// dirty: a stateful operator panicked on a record now dead-lettered, and
	// may have changed its state before it did; the state is restored once
	// the batch is committed.
	dirty bool
}

// New validates cfg and returns a Runner.
func New(cfg Config) (*Runner, error) {
	var errs []error
	if cfg.Name == "" {
		errs = append(errs, errors.New("name is required"))
	}
	if len(cfg.Brokers) == 0 {
		errs = append(errs, errors.New("brokers are required"))
	}
	if len(cfg.Inputs) == 0 {
		errs = append(errs, errors.New("at least one input topic is required"))
	}
	if cfg.DeadLetter == "" {
		errs = append(errs, errors.New("a dead-letter topic (on_failure) is required"))
	}
	if cfg.Operator == nil {
		errs = append(errs, errors.New("operator is required"))
	}
	if _, ok := cfg.Operator.(operators.JournalUser); ok && len(cfg.State) == 0 {
		errs = append(errs, errors.New("the operator journals (operators.JournalUser) and needs a state topic"))
	}
	switch cfg.Guarantee {
	case "":
		cfg.Guarantee = ExactlyOnce
	case ExactlyOnce, AtLeastOnce:
	default:
		errs = append(errs, fmt.Errorf("guarantee %q: want %s or %s", cfg.Guarantee, ExactlyOnce, AtLeastOnce))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w: operator %q: %w", ErrConfig, cfg.Name, errors.Join(errs...))
	}
	if cfg.Instance == "" {
		cfg.Instance = "0"
	}
	if cfg.Topic == nil {
		cfg.Topic = func(s string) string { return s }
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 500
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 10 * time.Second
	}
	if cfg.FetchMaxBytes <= 0 {
		cfg.FetchMaxBytes = 16 << 20
	}
	if cfg.SessionTimeout <= 0 {
		cfg.SessionTimeout = 10 * time.Second
	}
	if cfg.TransactionTimeout <= 0 {
		cfg.TransactionTimeout = 30 * time.Second
	}
	if cfg.StallTimeout <= 0 {
		cfg.StallTimeout = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.RestoreSettle <= 0 {
		cfg.RestoreSettle = 2 * time.Second
	}
	if cfg.TickInterval <= 0 {
		cfg.TickInterval = time.Second
	}
	if cfg.LagInterval <= 0 {
		cfg.LagInterval = 5 * time.Second
	}
	if cfg.Hooks == nil {
		cfg.Hooks = NopHooks{}
	}
	if bl, ok := cfg.Operator.(operators.BatchLimiter); ok && bl.MaxBatch() > 0 {
		cfg.MaxBatch = min(cfg.MaxBatch, bl.MaxBatch())
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	r := &Runner{
		cfg:      cfg,
		op:       middleware(cfg),
		log:      cfg.Logger.With("operator", cfg.Name, "instance", cfg.Instance),
		outputs:  map[string]string{},
		physical: map[string]string{},
		hooks:    cfg.Hooks,
		member:   Member{Operator: cfg.Name, Instance: cfg.Instance},
		assigned: map[string]map[int32]bool{},
	}
	r.drops = newDropLog(r.log, time.Minute, time.Now)
	r.stall = &stall{now: time.Now, after: cfg.StallTimeout}
	r.faults = fault.NewLog(r.log, 10*time.Second, time.Now)
	for _, t := range append(slices.Clone(cfg.Outputs), cfg.State...) {
		r.outputs[t] = cfg.Topic(t)
	}
	r.state = newStateManager(r)
	r.ticker, _ = cfg.Operator.(operators.Ticker)
	if bf, ok := cfg.Operator.(operators.BatchFiller); ok {
		r.batchWait = bf.BatchWait()
	}
	for _, t := range cfg.Inputs {
		r.physical[cfg.Topic(t)] = t
	}
	return r, nil
}

// middleware wraps the operator in recover, timeout and retry. A Stateful
// operator gets no in-memory retry and no in-memory isolation of a panic:
// its state already holds what the failed attempt did, so a failed batch
// aborts instead and its state is restored from the changelog before the
// batch comes again (one record at a time after a panic: see isolate).
func middleware(cfg Config) operators.Operator {
	if _, ok := cfg.Operator.(operators.Stateful); ok && len(cfg.State) > 0 {
		return operators.Timeout(operators.RecoverBatch(cfg.Operator), cfg.ProcessTimeout)
	}
	return operators.Retry(operators.Timeout(operators.Recover(cfg.Operator), cfg.ProcessTimeout), cfg.Retry)
}

// settle updates what follows a batch of n polled records: committed says
// whether its outputs and offsets were, err is the operator's failure.
func (r *Runner) settle(n int, committed bool, err error) {
	var bp *operators.BatchPanicError
	switch {
	case errors.As(err, &bp):
		r.isolate = n
		r.log.Warn("the operator panicked in a batch; its records are run again one at a time on restored state",
			"records", n, "panic", bp.Panic.Value)
	case committed:
		r.isolate = max(0, r.isolate-n)
	}
	if r.state != nil && (!committed || r.dirty) {
		// The operator's memory ran ahead of what was committed: start again from the changelog.
		r.state.reset()
	}
	r.dirty = false
}

// Group is the consumer group id.
func (r *Runner) Group() string {
	if r.cfg.Group != "" {
		return r.cfg.Group
	}
	return r.cfg.GroupPrefix + r.cfg.Name
}

// TransactionalID is the transactional id of the instance (exactly-once).
func (r *Runner) TransactionalID() string {
	if r.cfg.TransactionalID != "" {
		return r.cfg.TransactionalID
	}
	return r.Group() + "-" + r.cfg.Instance
}

func (r *Runner) clientOptions() []kgo.Opt {
	inputs := make([]string, 0, len(r.cfg.Inputs))
	for _, t := range r.cfg.Inputs {
		inputs = append(inputs, r.cfg.Topic(t))
	}
	opts := append(r.commonOptions(),
		kgo.ConsumerGroup(r.Group()),
		kgo.ConsumeTopics(inputs...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// Transaction markers take offsets: polled (and then left out of the
		// operator's batch), they are committed like records, so that a
		// caught-up group's committed offsets reach the end of a
		// transactional input and its lag reads 0, not 1.
		kgo.KeepControlRecords(),
		kgo.SessionTimeout(r.cfg.SessionTimeout),
		kgo.HeartbeatInterval(min(3*time.Second, r.cfg.SessionTimeout/4)),
		kgo.FetchMaxBytes(r.cfg.FetchMaxBytes),
		kgo.MaxConcurrentFetches(2),
		kgo.ClientID("corb-"+r.cfg.Name+"-"+r.cfg.Instance),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			r.rebalanced("assigned", m, +1)
			if r.state != nil {
				r.state.assigned(m)
			}
			r.stall.joined()
			r.ready.Store(true)
		}),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			r.rebalanced("revoked", m, -1)
			if r.state != nil {
				r.state.revoked(m)
			}
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			// Out of the group (its session expired while the coordinator was
			// away, say): no progress until it is back in and has committed,
			// or has nothing to do.
			if len(m) > 0 {
				r.stall.lost(errPartitionsLost)
				r.hooks.Faulted(r.member, Fault{Kind: fault.Rebalance, Err: errPartitionsLost})
			}
			r.rebalanced("lost", m, -1)
			if r.state != nil {
				r.state.revoked(m)
			}
		}),
	)
	if r.cfg.Guarantee == ExactlyOnce {
		opts = append(opts,
			kgo.TransactionalID(r.TransactionalID()),
			kgo.TransactionTimeout(r.cfg.TransactionTimeout),
		)
	} else {
		opts = append(opts, kgo.DisableAutoCommit(), kgo.BlockRebalanceOnPoll())
	}
	return append(opts, r.cfg.ClientOptions...)
}

// commonOptions are the options of every client of the instance (its
// group member, its restores, its journal): the seed brokers, the fault
// log behind franz-go's logs, the connection hooks, the retry backoff.
func (r *Runner) commonOptions() []kgo.Opt {
	return []kgo.Opt{
		kgo.SeedBrokers(r.cfg.Brokers...),
		kgo.WithLogger(kgoLogger{r.log, r.faults}),
		kgo.WithHooks(connHooks{r}),
		// Back-to-back transactions meet CONCURRENT_TRANSACTIONS while the broker
		// still writes the previous markers: retry that quickly, not after franz-go's
		// default 250ms+ backoff.
		kgo.RetryBackoffFn(retryBackoff),
	}
}

// fault records one fault the instance rides out: the instance is stuck
// until its next commit, the hooks count it, the log says it (at a
// bounded rate).
func (r *Runner) fault(kind fault.Kind, err error) {
	r.stall.faulted(kind, err)
	r.hooks.Faulted(r.member, Fault{Kind: kind, Err: err})
	if kind == fault.Unreachable {
		r.faults.Fault(slog.LevelWarn, unreachableKey, "broker unreachable", err)
		return
	}
	r.faults.Fault(slog.LevelWarn, string(kind), "fault ("+string(kind)+"): aborted what was in flight, retrying", err)
}

func (r *Runner) rebalanced(event string, m map[string][]int32, sign int) {
	n, total := 0, 0
	r.mu.Lock()
	for t, ps := range m {
		n += len(ps)
		if r.assigned[t] == nil {
			r.assigned[t] = map[int32]bool{}
		}
		for _, p := range ps {
			if sign > 0 {
				r.assigned[t][p] = true
			} else {
				delete(r.assigned[t], p)
			}
		}
	}
	for _, ps := range r.assigned {
		total += len(ps)
	}
	r.mu.Unlock()
	r.log.Info("partitions "+event, "partitions", m, "assigned", total)
	r.hooks.Rebalanced(r.member, Rebalance{Event: event, Partitions: m, Changed: n, Assigned: total})
}

// assignment is a copy of the partitions held, by physical topic, sorted.
func (r *Runner) assignment() map[string][]int32 {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := map[string][]int32{}
	for t, ps := range r.assigned {
		if len(ps) > 0 {
			m[t] = slices.Sorted(maps.Keys(ps))
		}
	}
	return m
}

// Run consumes, processes and commits until ctx ends or a fatal error occurs.
// When ctx ends, the batch in flight gets ShutdownTimeout to finish and commit
// (or is aborted), then the instance leaves its group. Run returns nil after a
// clean shutdown.
func (r *Runner) Run(ctx context.Context) error {
	defer func() {
		if err := closeOperator(r.op); err != nil {
			r.log.Error("closing operator", "err", err)
		}
	}()
	r.log.Info("starting", "group", r.Group(), "guarantee", r.cfg.Guarantee, "inputs", r.cfg.Inputs, "outputs", r.cfg.Outputs)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if err := r.startTables(ctx, cancel); err != nil {
		return err
	}
	closeJournal, err := r.startJournal()
	if err != nil {
		return err
	}
	defer closeJournal()
	err = r.run(ctx)
	if cause := context.Cause(ctx); err == nil && cause != nil && !errors.Is(cause, context.Canceled) {
		err = fmt.Errorf("operator %s: %w", r.cfg.Name, cause) // a table failed
	}
	return err
}

// startTables reads a TableReader's tables to their end, keeps them current
// in the background (a failure cancels ctx with the table's error), and hands
// them to the operator.
func (r *Runner) startTables(ctx context.Context, fail context.CancelCauseFunc) error {
	tr, ok := r.cfg.Operator.(operators.TableReader)
	if !ok || len(r.cfg.Tables) == 0 {
		return nil
	}
	tables := map[string]operators.Table{}
	for _, name := range r.cfg.Tables {
		t, err := table.New(table.Config{Brokers: r.cfg.Brokers, Topic: r.cfg.Topic(name),
			ClientOptions: r.cfg.ClientOptions, Logger: r.log})
		if err != nil {
			return fmt.Errorf("operator %s: table %s: %w", r.cfg.Name, name, err)
		}
		go func() {
			if err := t.Run(ctx); err != nil && ctx.Err() == nil {
				fail(fmt.Errorf("table %s: %w", name, err))
			}
		}()
		start := time.Now()
		if err := t.WaitReady(ctx); err != nil {
			if ctx.Err() != nil && context.Cause(ctx) == context.Canceled {
				return nil
			}
			return fmt.Errorf("operator %s: table %s: %w", r.cfg.Name, name, err)
		}
		r.log.Info("table loaded", "table", name, "keys", t.Len(), "took", time.Since(start))
		tables[name] = t
	}
	tr.UseTables(tables)
	return nil
}

func closeOperator(op operators.Operator) error {
	if c, ok := op.(operators.Closer); ok {
		return c.Close()
	}
	return nil
}

// workContext is the context a batch runs under: it outlives ctx by at most
// ShutdownTimeout, so a batch in flight at shutdown can still finish and commit.
func (r *Runner) workContext(ctx context.Context) (context.Context, context.CancelFunc) {
	work, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(r.cfg.ShutdownTimeout, cancel)
		context.AfterFunc(work, func() { t.Stop() })
	})
	return work, func() { stop(); cancel() }
}

// run joins the group through the guarantee's committer and runs the loop
// until ctx ends or a fatal error; then it leaves the group.
func (r *Runner) run(ctx context.Context) error {
	stallCtx, stopStall := context.WithCancel(ctx)
	stallDone := make(chan struct{})
	go func() {
		defer close(stallDone)
		r.watchStall(stallCtx)
	}()
	defer func() {
		stopStall()
		<-stallDone
	}()
	var c committer
	var err error
	if r.cfg.Guarantee == ExactlyOnce {
		c, err = newTransactional(ctx, r.clientOptions(), r.Group(), healer{log: r.log, faulted: r.fault})
	} else {
		c, err = newAtLeastOnce(r.clientOptions())
	}
	if err != nil {
		return fmt.Errorf("operator %s: %w", r.cfg.Name, err)
	}
	if c == nil {
		return nil // ctx ended while joining
	}
	lagCtx, stopLag := context.WithCancel(ctx)
	lagDone := make(chan struct{})
	go func() {
		defer close(lagDone)
		r.watchLag(lagCtx, c.client)
	}()
	defer func() {
		stopLag()
		<-lagDone
		// Leave the group promptly (bounded), so partitions move to other replicas.
		c.close()
		r.hooks.Lagged(r.member, nil)
		r.log.Info("stopped")
	}()
	return r.loop(ctx, c)
}

// batch is one turn of the loop: what was polled and what became of it.
type batch struct {
	polled  []*kgo.Record // every record polled, transaction markers included: the offsets to commit
	records []*kgo.Record // polled less the markers: what the operator is given
	tick    bool          // a Ticker's tick is due
	// unready is why the batch cannot be processed: the state of its
	// partitions could not be restored. It is aborted and polled again.
	unready error

	out     []*kgo.Record // outputs and dead letters to produce
	dead    []DeadLetter
	dropped []Drop
}

// loop polls, processes and commits batches through c until ctx ends or a
// fatal error occurs. A batch that fails, or fails to commit, is rewound
// and comes again after a backoff; one a rebalance aborted comes again at
// once (or goes to the partition's new owner). Faults of the cluster —
// brokers away, leaders and coordinators moving, transactions the broker
// aborted — are ridden out: what is in flight is aborted, the client
// healed, and the batch comes again once the cluster answers.
func (r *Runner) loop(ctx context.Context, c committer) error {
	for {
		b, err := r.next(ctx, c.client().PollRecords)
		if err != nil || ctx.Err() != nil {
			return err
		}
		if b == nil {
			c.allowRebalance()
			continue
		}
		retry, err := r.runBatch(ctx, c, b)
		switch {
		case err != nil:
			return fmt.Errorf("operator %s: %w", r.cfg.Name, err)
		case ctx.Err() != nil:
			return nil
		}
		c.allowRebalance()
		if retry {
			r.failures++
			if err := operators.SleepContext(ctx, jitter(r.cfg.Retry.Backoff(r.failures))); err != nil {
				return nil
			}
		}
	}
}

// runBatch begins, processes, produces and ends b. retry says that b
// failed and comes again after a backoff; err is fatal. Once ctx has ended
// it returns neither: the loop stops.
func (r *Runner) runBatch(ctx context.Context, c committer, b *batch) (retry bool, err error) {
	start := time.Now()
	r.stall.begin()
	defer r.stall.end()
	if err := c.begin(ctx); err != nil {
		switch {
		case ctx.Err() != nil:
			return false, nil
		case errors.Is(err, errReplaced):
			// The records came from the client just replaced: the new one polls them again.
			r.finished(b, false, time.Since(start))
			r.settle(len(b.polled), false, nil)
			return false, nil
		}
		return false, err
	}
	work, cancel := r.workContext(ctx)
	defer cancel()
	err = b.unready
	if err == nil {
		err = r.processBatch(work, b)
	}
	if err == nil && b.tick {
		b.out = append(b.out, r.tick(work)...)
	}
	if err == nil {
		for _, rec := range b.out {
			c.produce(work, rec)
		}
	}
	committed, endErr := c.end(work, err == nil, b.polled)
	if endErr != nil && ctx.Err() == nil {
		kind := fault.Classify(endErr)
		if kind.Fatal() {
			return false, fmt.Errorf("ending the batch: %w", endErr)
		}
		r.fault(kind, fmt.Errorf("ending the batch: %w", endErr))
		// Abort whatever the client still holds open and learn what became of the batch.
		committed, endErr = c.recover(work, b.polled)
		if endErr != nil && ctx.Err() == nil {
			return false, fmt.Errorf("recovering from a failed commit: %w", endErr)
		}
		if endErr == nil && !committed {
			endErr = errRecovered
		}
	}
	r.finished(b, committed, time.Since(start))
	r.settle(len(b.polled), committed, err)
	switch {
	case ctx.Err() != nil && !committed:
		return false, nil
	case committed:
		r.stall.committed()
		r.failures = 0
		return false, nil
	case endErr == nil && err == nil:
		r.log.Info("batch aborted by a rebalance; it will be reprocessed")
		return false, nil
	case errors.Is(endErr, errRecovered):
		// The fault is logged (bounded) by r.fault.
	case b.unready != nil:
		r.fault(fault.Classify(b.unready), b.unready)
	default:
		r.fault(fault.Operator, fmt.Errorf("batch failed; it will be reprocessed: %w", err))
	}
	c.rewind(b.polled)
	return true, nil
}

// errPartitionsLost is the fault of a member that lost its partitions.
var errPartitionsLost = errors.New("partitions lost: out of the group until it rejoins")

// errRecovered marks a batch whose end failed and was recovered from:
// it was not committed and comes again.
var errRecovered = errors.New("the batch's end failed; recovered, it comes again")

// jitter is d ±20%, so that replicas retrying the same fault do not do it in lockstep.
func jitter(d time.Duration) time.Duration {
	return d - d/5 + rand.N(2*d/5+1)
}

// next polls the next batch and brings the operator's state up to date with
// the assignment; nil means there is nothing to do. Polls are bounded by
// TickInterval when the operator has ticks or state, so both happen without
// input too. err is a fatal error; a clean shutdown returns ctx done. A
// restore that failed returns a batch with unready set.
func (r *Runner) next(ctx context.Context, poll func(context.Context, int) kgo.Fetches) (*batch, error) {
	pctx := ctx
	if r.ticker != nil || r.state != nil {
		var cancel context.CancelFunc
		pctx, cancel = context.WithTimeout(ctx, r.cfg.TickInterval)
		defer cancel()
	}
	n := r.cfg.MaxBatch
	if r.isolate > 0 {
		n = 1
	}
	fetches := poll(pctx, n)
	if ctx.Err() != nil {
		return nil, nil
	}
	if err := r.fetchErrors(fetches); err != nil {
		return nil, fmt.Errorf("operator %s: %w", r.cfg.Name, err)
	}
	polled, err := r.fill(ctx, poll, fetches.Records(), n)
	if err != nil {
		return nil, err
	}
	b := &batch{polled: polled}
	if r.state != nil {
		if err := r.state.sync(ctx); err != nil {
			if ctx.Err() != nil {
				return nil, nil
			}
			// Every polled record stays in the batch, so that its abort
			// rewinds them all; none is processed.
			b.unready = err
			return b, nil
		}
		b.polled = r.state.filter(polled)
	}
	for _, rec := range b.polled {
		if !rec.Attrs.IsControl() {
			b.records = append(b.records, rec)
		}
	}
	if r.ticker != nil && time.Since(r.lastTick) >= r.cfg.TickInterval {
		b.tick = true
		r.lastTick = time.Now()
	}
	if len(b.polled) == 0 && !b.tick {
		return nil, nil
	}
	return b, nil
}

// fill tops a short batch up towards n records with more polls, for at most
// the operator's BatchWait in all (see operators.BatchFiller). err is a
// fatal error.
func (r *Runner) fill(ctx context.Context, poll func(context.Context, int) kgo.Fetches, recs []*kgo.Record, n int) ([]*kgo.Record, error) {
	if r.batchWait <= 0 || len(recs) == 0 || len(recs) >= n {
		return recs, nil
	}
	wctx, cancel := context.WithTimeout(ctx, r.batchWait)
	defer cancel()
	for len(recs) < n {
		more := poll(wctx, n-len(recs))
		if err := r.fetchErrors(more); err != nil {
			return nil, fmt.Errorf("operator %s: %w", r.cfg.Name, err)
		}
		// Whatever a poll returned is consumed: it joins the batch even when
		// the wait is over.
		recs = append(recs, more.Records()...)
		if more.NumRecords() == 0 || wctx.Err() != nil {
			break
		}
	}
	return recs, nil
}

// tick runs the operator's Tick and returns what to produce. A failed tick
// produces nothing and is tried again at the next interval.
func (r *Runner) tick(ctx context.Context) []*kgo.Record {
	start := time.Now()
	outs, err := r.ticker.Tick(ctx, r.cfg.Now())
	if err == nil {
		err = r.checkOutputs(outs)
	}
	if err != nil {
		outs = nil
	}
	r.hooks.Ticked(r.member, Tick{Outputs: len(outs), Err: err, Duration: time.Since(start)})
	if err != nil {
		r.log.Warn("tick failed; trying again at the next interval", "err", err)
		return nil
	}
	recs := make([]*kgo.Record, 0, len(outs))
	now := r.cfg.Now()
	for _, o := range outs {
		recs = append(recs, r.record(o, now))
	}
	return recs
}

// record is the Kafka record of an (already checked) output; a zero output
// timestamp becomes ts.
func (r *Runner) record(o operators.Output, ts time.Time) *kgo.Record {
	if !o.Timestamp.IsZero() {
		ts = o.Timestamp
	}
	return &kgo.Record{Topic: r.outputs[o.Topic], Key: o.Key, Value: o.Value, Timestamp: ts, Headers: headersOut(o.Headers)}
}

// retryBackoff is the client's backoff between request retries: 10ms doubling
// to at most 1s, with ±20% jitter so that replicas do not retry in lockstep.
func retryBackoff(tries int) time.Duration {
	d := 10 * time.Millisecond << min(tries, 7)
	d = min(d, time.Second)
	return d - d/5 + rand.N(2*d/5+1)
}

// processBatch runs the operator on b's records and fills in what follows:
// outputs and dead letters to produce, records dropped. An error means the
// batch must be aborted.
func (r *Runner) processBatch(ctx context.Context, b *batch) error {
	given := make([]operators.Record, 0, len(b.records))
	origin := make([]*kgo.Record, 0, len(b.records))
	for _, rec := range b.records {
		in := operators.Record{
			Topic: r.physical[rec.Topic], Partition: rec.Partition, Offset: rec.Offset,
			Key: rec.Key, Value: rec.Value, Timestamp: rec.Timestamp, Headers: headersIn(rec.Headers),
		}
		if r.cfg.Match != nil {
			ok, err := r.cfg.Match(in)
			if err != nil {
				r.deadLetter(b, rec, operators.Permanent(fmt.Errorf("match: %w", err)))
				continue
			}
			if !ok {
				b.drop(rec, ReasonMatch)
				continue
			}
		}
		given = append(given, in)
		origin = append(origin, rec)
	}
	if len(given) == 0 {
		return nil
	}
	results, err := r.op.Process(ctx, given)
	if err != nil {
		return err
	}
	for i, res := range results {
		if res.Err == nil {
			res.Err = r.checkOutputs(res.Outputs)
		}
		if res.Err != nil {
			var perr *operators.PanicError
			if errors.As(res.Err, &perr) {
				r.dirty = true
			}
			r.deadLetter(b, origin[i], res.Err)
			continue
		}
		if len(res.Outputs) == 0 && res.Dropped != "" {
			b.drop(origin[i], res.Dropped)
		}
		for _, o := range res.Outputs {
			b.out = append(b.out, r.record(o, origin[i].Timestamp))
		}
	}
	return nil
}

func (b *batch) drop(rec *kgo.Record, reason string) {
	b.dropped = append(b.dropped, Drop{Reason: reason, Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset, Key: rec.Key})
}

type undeclaredOutputError struct{ topic string }

func (e *undeclaredOutputError) Error() string {
	return fmt.Sprintf("operator produced to %q, which is not one of its declared outputs", e.topic)
}
func (e *undeclaredOutputError) Is(target error) bool { return target == operators.ErrPermanent }

func (r *Runner) checkOutputs(outs []operators.Output) error {
	for _, o := range outs {
		if _, ok := r.outputs[o.Topic]; !ok {
			return &undeclaredOutputError{o.Topic}
		}
	}
	return nil
}

// deadLetter adds rec's dead letter for err to b.
func (r *Runner) deadLetter(b *batch, rec *kgo.Record, err error) {
	why := reason(err)
	r.log.Warn("dead-lettering record", "topic", rec.Topic, "partition", rec.Partition, "offset", rec.Offset,
		"reason", why, "err", err)
	b.out = append(b.out, deadLetter(rec, r.cfg.Topic(r.cfg.DeadLetter), r.cfg.Name, err, r.cfg.Now()))
	b.dead = append(b.dead, DeadLetter{Reason: why, Err: err, Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset})
}

// finished tells the hooks what became of b, and logs its drops.
func (r *Runner) finished(b *batch, committed bool, took time.Duration) {
	sum := Batch{Records: len(b.records), In: map[string]int{}, Out: map[string]int{}, Committed: committed, Duration: took}
	for _, rec := range b.records {
		sum.In[rec.Topic]++
	}
	if committed {
		dlq := r.cfg.Topic(r.cfg.DeadLetter)
		for _, rec := range b.out {
			if rec.Topic != dlq {
				sum.Out[rec.Topic]++
			}
		}
		sum.DeadLetters, sum.Dropped = len(b.dead), len(b.dropped)
		for _, d := range b.dead {
			r.hooks.DeadLettered(r.member, d)
		}
		for _, d := range b.dropped {
			r.hooks.Dropped(r.member, d)
			r.drops.add(d)
		}
	}
	r.hooks.BatchDone(r.member, sum)
}

// fetchErrors returns the first fetch error the runtime cannot go on
// from (see fault.Kind.Fatal); the others, which the client retries by
// itself, are counted as faults.
func (r *Runner) fetchErrors(f kgo.Fetches) error {
	var fatal error
	f.EachError(func(topic string, p int32, err error) {
		kind := fault.Classify(err)
		switch {
		case kind == fault.Canceled || errors.Is(err, context.DeadlineExceeded):
			// A poll bounded by its context (TickInterval, BatchWait) ended.
		case kind.Fatal():
			if fatal == nil {
				fatal = fmt.Errorf("fetch %s[%d]: %w", topic, p, err)
			}
		case kind == fault.Unreachable:
			// The group's join failing, reported in the fetches: the same outage
			// as the connection errors, in the same spell of the log.
			r.stall.connFailed(err)
			r.hooks.Faulted(r.member, Fault{Kind: kind, Err: err})
			r.faults.Fault(slog.LevelWarn, unreachableKey, "broker unreachable", err)
		default:
			r.hooks.Faulted(r.member, Fault{Kind: kind, Err: err})
			r.faults.Fault(slog.LevelWarn, "fetch "+string(kind), "fetch failed ("+string(kind)+"); the client retries", err,
				"topic", topic, "partition", p)
		}
	})
	return fatal
}

func headersIn(h []kgo.RecordHeader) []operators.Header {
	if len(h) == 0 {
		return nil
	}
	out := make([]operators.Header, len(h))
	for i, x := range h {
		out[i] = operators.Header{Key: x.Key, Value: x.Value}
	}
	return out
}

func headersOut(h []operators.Header) []kgo.RecordHeader {
	if len(h) == 0 {
		return nil
	}
	out := make([]kgo.RecordHeader, len(h))
	for i, x := range h {
		out[i] = kgo.RecordHeader{Key: x.Key, Value: x.Value}
	}
	return out
}
