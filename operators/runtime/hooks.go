package runtime

import (
	"time"

	"github.com/corb-dev/corb/operators/runtime/fault"
)

// Hooks observe operator instances at work: metrics (NewPrometheus),
// progress lines (NewProgress), anything else a host wants to know. The
// runtime calls them; they change nothing of what it does.
//
// One Hooks value may serve many instances at once, and the runtime calls it
// from several goroutines (the processing loop, the client's group
// callbacks, the lag watcher), so an implementation must be safe for
// concurrent use. Calls are synchronous: they must be quick and must not
// block. Embed NopHooks to implement only some of the methods.
type Hooks interface {
	// BatchDone is called once per batch, committed or not, after its end.
	BatchDone(Member, Batch)
	// DeadLettered is called for each record a committed batch sent to the
	// dead-letter topic.
	DeadLettered(Member, DeadLetter)
	// Dropped is called for each record a committed batch consumed on
	// purpose with nothing following from it (see operators.Result.Dropped
	// and ReasonMatch).
	Dropped(Member, Drop)
	// Rebalanced is called when the group assigns or takes partitions.
	Rebalanced(Member, Rebalance)
	// Restored is called for each changelog partition read back into a
	// Stateful operator.
	Restored(Member, Restore)
	// Ticked is called after each Tick of a Ticker operator.
	Ticked(Member, Tick)
	// Lagged is called about every LagInterval with the lag of every
	// partition the instance is assigned (a round that cannot measure one of
	// them is skipped), and with none when it stops: a partition left out is
	// no longer this instance's to report.
	Lagged(Member, []PartitionLag)
	// Faulted is called for each fault the instance rides out: a failed
	// connection, a batch or commit the cluster refused, a restore that
	// could not read its changelog. Fatal faults end Run instead.
	Faulted(Member, Fault)
	// Stalled is called when the instance stops making progress (Since
	// set) and when it makes progress again (Since zero, Stuck set); see
	// Runner.Health.
	Stalled(Member, Stall)
}

// Member names the operator instance a hook call is about.
type Member struct {
	Operator string // Config.Name
	Instance string // Config.Instance
}

// Batch is what became of one batch. Topic names are physical (as in Kafka).
type Batch struct {
	// Records is the number of input records polled for the batch
	// (transaction markers excluded); 0 for a batch that only carried a tick.
	Records int
	// In counts the batch's input records by topic.
	In map[string]int
	// Out counts the outputs of a committed batch by topic (state writes
	// included, dead letters excluded); DeadLetters and Dropped count its
	// records that went to the dead-letter topic and those consumed with
	// nothing following (see Hooks.Dropped). All three are zero for a batch
	// not committed: nothing of it happened.
	Out                  map[string]int
	DeadLetters, Dropped int
	// Committed says whether outputs and offsets were committed; when not,
	// the batch comes again.
	Committed bool
	// Duration runs from the end of the poll to the end of the commit or
	// abort: processing, retries and the commit itself.
	Duration time.Duration
}

// ReasonMatch is the Drop reason of a record the operator's match pattern
// (Config.Match) kept from it.
const ReasonMatch = "match"

// DeadLetter is one record sent to the dead-letter topic.
type DeadLetter struct {
	Reason string // as in the corb.reason header: panic, exhausted, permanent, undeclared-output
	Err    error
	Topic  string // the source record's physical topic
	// Partition and Offset locate the source record.
	Partition int32
	Offset    int64
}

// Drop is one record consumed on purpose with nothing following from it.
type Drop struct {
	Reason string // ReasonMatch, or the operator's operators.Result.Dropped
	Topic  string // the record's physical topic
	// Partition, Offset and Key locate the record. Key must not be retained.
	Partition int32
	Offset    int64
	Key       []byte
}

// Rebalance is one change of the instance's assignment.
type Rebalance struct {
	Event      string             // assigned, revoked or lost
	Partitions map[string][]int32 // the partitions that changed, by physical topic
	// Changed is the number of partitions in Partitions, Assigned the number
	// the instance holds after the change.
	Changed, Assigned int
}

// Restore is one changelog partition read back into a Stateful operator.
type Restore struct {
	Topic     string // the logical state topic
	Partition int32
	Keys      int   // keys restored
	Records   int64 // changelog records read
	Duration  time.Duration
}

// Tick is one call of a Ticker operator's Tick.
type Tick struct {
	Outputs  int
	Err      error // the tick failed and produced nothing; it is tried at the next interval
	Duration time.Duration
}

// PartitionLag is how far an assigned input partition's committed offset
// is behind its end: the records still to be processed and committed. It
// counts offsets, so a transaction marker not yet committed past counts as
// one; once caught up it is 0.
type PartitionLag struct {
	Topic     string // physical topic
	Partition int32
	Lag       int64
}

// Fault is one fault the runtime rode out: it aborted what was in flight
// and tries again.
type Fault struct {
	Kind fault.Kind
	Err  error
}

// Stall is a change of whether an instance makes progress.
type Stall struct {
	// Since is when the instance stopped making progress: its first
	// fault since it last committed, the first connection error since a
	// broker last answered, or its last commit while work waits. Zero
	// when it makes progress again.
	Since time.Time
	// Kind and Err are the fault that stopped it (the first one).
	Kind fault.Kind
	Err  error
	// Stuck is, when it makes progress again, how long it did not.
	Stuck time.Duration
}

// NopHooks does nothing. It is the default Hooks, and embedding it lets an
// implementation define only the methods it needs.
type NopHooks struct{}

func (NopHooks) BatchDone(Member, Batch)         {}
func (NopHooks) DeadLettered(Member, DeadLetter) {}
func (NopHooks) Dropped(Member, Drop)            {}
func (NopHooks) Rebalanced(Member, Rebalance)    {}
func (NopHooks) Restored(Member, Restore)        {}
func (NopHooks) Ticked(Member, Tick)             {}
func (NopHooks) Lagged(Member, []PartitionLag)   {}
func (NopHooks) Faulted(Member, Fault)           {}
func (NopHooks) Stalled(Member, Stall)           {}

// MultiHooks combines hooks: each call goes to every one of them, in order.
// Nil entries are left out.
func MultiHooks(hooks ...Hooks) Hooks {
	var m multiHooks
	for _, h := range hooks {
		if h != nil {
			m = append(m, h)
		}
	}
	switch len(m) {
	case 0:
		return NopHooks{}
	case 1:
		return m[0]
	}
	return m
}

type multiHooks []Hooks

func (m multiHooks) each(call func(Hooks)) {
	for _, h := range m {
		call(h)
	}
}

func (m multiHooks) BatchDone(w Member, b Batch) { m.each(func(h Hooks) { h.BatchDone(w, b) }) }
func (m multiHooks) DeadLettered(w Member, d DeadLetter) {
	m.each(func(h Hooks) { h.DeadLettered(w, d) })
}
func (m multiHooks) Dropped(w Member, d Drop)          { m.each(func(h Hooks) { h.Dropped(w, d) }) }
func (m multiHooks) Rebalanced(w Member, r Rebalance)  { m.each(func(h Hooks) { h.Rebalanced(w, r) }) }
func (m multiHooks) Restored(w Member, r Restore)      { m.each(func(h Hooks) { h.Restored(w, r) }) }
func (m multiHooks) Ticked(w Member, t Tick)           { m.each(func(h Hooks) { h.Ticked(w, t) }) }
func (m multiHooks) Lagged(w Member, l []PartitionLag) { m.each(func(h Hooks) { h.Lagged(w, l) }) }
func (m multiHooks) Faulted(w Member, f Fault)         { m.each(func(h Hooks) { h.Faulted(w, f) }) }
func (m multiHooks) Stalled(w Member, s Stall)         { m.each(func(h Hooks) { h.Stalled(w, s) }) }
