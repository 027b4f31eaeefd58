package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/corb-dev/corb/operators"
	"github.com/corb-dev/corb/operators/runtime/fault"
)

// committer is how a group member makes a batch durable: the one place the
// two guarantees differ, so that the loop around it (Runner.loop) is written
// once. A batch goes begin, produce for each record, end; then, when it was
// not committed, rewind — or, when end failed, recover. One loop owns a
// committer and never calls it concurrently, except client, which the lag
// watcher calls too.
type committer interface {
	// client is the member's client: polls and admin requests. recover
	// and begin may replace it.
	client() *kgo.Client
	// begin starts a batch. It rides out faults itself; it returns a
	// fatal error, ctx's error, or errReplaced: the client was replaced
	// to heal it, and the records polled from the old one must be dropped
	// (the new one fetches them again from the committed offsets).
	begin(ctx context.Context) error
	// produce adds rec to the batch. Its failure shows at end.
	produce(ctx context.Context, rec *kgo.Record)
	// end finishes the batch: with commit, it makes the records produced and
	// the offsets of polled (every record polled for the batch) durable
	// together — atomically, or outputs first — and reports committed; without
	// commit, or when a rebalance got in the way, nothing of the batch counts
	// (committed false, err nil). err is a failure to end: the records may or
	// may not have been produced, the offsets may or may not be committed;
	// call recover.
	end(ctx context.Context, commit bool, polled []*kgo.Record) (committed bool, err error)
	// recover makes the member whole after end failed: nothing of the batch
	// is left open, the producer works again, and the next polls start at
	// the committed offsets. committed reports whether the batch was
	// committed all the same (its commit landed but the answer was lost).
	// It rides out faults itself, and returns a fatal error or ctx's.
	recover(ctx context.Context, polled []*kgo.Record) (committed bool, err error)
	// rewind makes the next polls start again at polled, a batch that was
	// not committed (a transaction's abort has done it already).
	rewind(polled []*kgo.Record)
	// allowRebalance lets a rebalance held back while a batch was in flight
	// go ahead (at least once, where polls hold rebalances back).
	allowRebalance()
	// close leaves the group, bounded.
	close()
}

// errReplaced: the committer replaced its client to heal it; what was
// polled from the old one is dropped.
var errReplaced = errors.New("the client was replaced to recover from a fault")

// healer is what a committer needs to ride out faults: where to report
// them, and how long to back off between tries.
type healer struct {
	log     *slog.Logger
	faulted func(fault.Kind, error)
}

// backoff is the wait before try attempt+1 of a fault's recovery: 100ms
// doubling to 2s, ±20% jitter so that replicas do not retry in lockstep.
func backoff(attempt int) time.Duration {
	d := 100 * time.Millisecond << min(max(attempt-1, 0), 5)
	d = min(d, 2*time.Second)
	return d - d/5 + rand.N(2*d/5+1)
}

// retry calls try until it succeeds, reporting each failure as a fault and
// backing off between tries. It gives up on a fatal fault or when ctx ends.
func (h healer) retry(ctx context.Context, what string, try func() error) error {
	for attempt := 1; ; attempt++ {
		err := try()
		if err == nil {
			return nil
		}
		kind := fault.Classify(err)
		if kind.Fatal() {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		h.faulted(kind, fmt.Errorf("%s: %w", what, err))
		if err := operators.SleepContext(ctx, backoff(attempt)); err != nil {
			return err
		}
	}
}

// transactional is the exactly-once committer: a batch is a Kafka
// transaction holding its outputs, dead letters and input offsets.
type transactional struct {
	opts       []kgo.Opt
	group      string
	heal       healer
	sess       atomic.Pointer[kgo.GroupTransactSession]
	produceErr atomic.Pointer[error] // the batch's first produce failure
}

// newTransactional starts a transactional group member. It takes the
// transactional id at once, not at the first produce: that fences a dead
// predecessor and aborts its open transaction, whose pending offsets would
// otherwise hold back the offset fetch (and restores) until the broker timed
// it out. It waits for the cluster as long as it takes; ctx ending
// meanwhile returns a nil committer and no error.
func newTransactional(ctx context.Context, opts []kgo.Opt, group string, heal healer) (committer, error) {
	t := &transactional{opts: opts, group: group, heal: heal}
	if err := t.start(ctx); err != nil {
		if ctx.Err() != nil {
			return nil, nil
		}
		return nil, fmt.Errorf("initializing the transactional producer: %w", err)
	}
	return t, nil
}

// start creates the session and initializes its producer id, retrying
// until the transaction coordinator answers.
func (t *transactional) start(ctx context.Context) error {
	sess, err := kgo.NewGroupTransactSession(t.opts...)
	if err != nil {
		return err // the options are wrong: no waiting heals that
	}
	err = t.heal.retry(ctx, "initializing the producer", func() error {
		_, _, err := sess.Client().ProducerID(ctx)
		return err
	})
	if err != nil {
		sess.Close()
		return err
	}
	t.sess.Store(sess)
	return nil
}

func (t *transactional) client() *kgo.Client { return t.sess.Load().Client() }

func (t *transactional) begin(ctx context.Context) error {
	t.produceErr.Store(nil)
	replaced := false
	err := t.heal.retry(ctx, "beginning a transaction", func() error {
		if replaced {
			return nil // the new client's first batch begins after the next poll
		}
		err := t.sess.Load().Begin()
		if err == nil || fault.Classify(err).Fatal() {
			return err
		}
		// The client believes a transaction is still open (an end that
		// failed), or its producer id is failed: heal it, then try again.
		r, herr := t.cleanUp(ctx)
		replaced = r
		if herr == nil && r {
			return nil
		}
		return errors.Join(err, herr)
	})
	switch {
	case err != nil:
		return fmt.Errorf("begin transaction: %w", err)
	case replaced:
		return errReplaced
	}
	return nil
}

func (t *transactional) produce(ctx context.Context, rec *kgo.Record) {
	t.sess.Load().Produce(ctx, rec, func(_ *kgo.Record, err error) {
		if err != nil {
			t.produceErr.CompareAndSwap(nil, &err)
		}
	})
}

// end ends the transaction. The session rewinds by itself to the last
// committed offsets when it does not commit.
func (t *transactional) end(ctx context.Context, commit bool, _ []*kgo.Record) (bool, error) {
	sess := t.sess.Load()
	if commit {
		// End commits whatever was produced, even when a record failed:
		// wait for every produce, and abort instead when one failed.
		if err := sess.Client().Flush(ctx); err != nil {
			return false, err
		}
	}
	pe := t.produceErr.Load()
	committed, err := sess.End(ctx, kgo.TransactionEndTry(commit && pe == nil))
	if pe != nil && err == nil {
		err = *pe
	}
	return committed, err
}

// recover heals the client after a failed end (see committer), then finds
// out from the group's committed offsets whether the batch was committed
// after all. If it was, the session has rewound to offsets before the
// batch, which would process it twice: the client is replaced, and the new
// one fetches the offsets from the group.
func (t *transactional) recover(ctx context.Context, polled []*kgo.Record) (bool, error) {
	var committed bool
	err := t.heal.retry(ctx, "recovering from a failed commit", func() error {
		replaced, err := t.cleanUp(ctx)
		if err != nil || len(polled) == 0 {
			return err
		}
		var unsure bool
		committed, unsure, err = t.outcome(ctx, polled)
		if err != nil {
			return fmt.Errorf("reading the committed offsets: %w", err)
		}
		if (committed || unsure) && !replaced {
			// A new client fetches the group's offsets as it joins.
			t.heal.log.Warn("the failed commit landed after all; replacing the client so that it resumes after the batch",
				"committed", committed)
			return t.replace(ctx)
		}
		return nil
	})
	return committed, err
}

// cleanUp leaves the client with no transaction open and a producer id
// that works: it aborts what is buffered, ends the transaction the client
// still believes open (an end whose answer was lost re-initializes the
// producer id, which makes the coordinator finish or abort it), and makes
// sure the producer id is loaded. A producer id that cannot be loaded again
// on this client (the coordinator bumped its epoch when it aborted a timed
// out transaction, say) means a new client: replaced reports that.
func (t *transactional) cleanUp(ctx context.Context) (replaced bool, err error) {
	cl := t.client()
	if err := cl.AbortBufferedRecords(ctx); err != nil {
		return false, err
	}
	if err := cl.EndTransaction(ctx, kgo.TryAbort); err != nil {
		if clientBroken(err) {
			return true, t.replace(ctx)
		}
		return false, fmt.Errorf("aborting the open transaction: %w", err)
	}
	if _, _, err := cl.ProducerID(ctx); err != nil {
		if clientBroken(err) {
			return true, t.replace(ctx)
		}
		return false, fmt.Errorf("initializing the producer again: %w", err)
	}
	return false, nil
}

// clientBroken reports a Kafka error a client keeps once it has it: the
// coordinator refused the producer id for good, and only a new client
// (with a new InitProducerID) goes on. Fatal faults are not: they end Run.
func clientBroken(err error) bool {
	ke, ok := errors.AsType[*kerr.Error](err)
	return ok && !ke.Retriable && !fault.Classify(err).Fatal()
}

// replace closes the session and starts a new one with the same
// transactional id: its InitProducerID fences whatever the old one left
// open, and it joins the group and fetches the committed offsets afresh.
func (t *transactional) replace(ctx context.Context) error {
	old := t.sess.Load()
	// Leave the group first (bounded: the broker may be away), so that the
	// group need not wait for the old member's session to time out.
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	_ = old.Client().LeaveGroupContext(lctx)
	cancel()
	old.Close()
	t.heal.log.Info("transactional client replaced")
	return t.start(ctx)
}

// outcome reads the group's committed offsets of polled's partitions,
// waiting for pending transactional commits to settle, and reports whether
// they are past polled (committed), or some are and some are not (unsure).
func (t *transactional) outcome(ctx context.Context, polled []*kgo.Record) (committed, unsure bool, err error) {
	next := map[string]map[int32]int64{} // per partition, the offset after the batch
	for _, rec := range polled {
		if next[rec.Topic] == nil {
			next[rec.Topic] = map[int32]int64{}
		}
		next[rec.Topic][rec.Partition] = max(next[rec.Topic][rec.Partition], rec.Offset+1)
	}
	offs, err := kadm.NewClient(t.client()).FetchOffsets(kadm.RequireStable(ctx), t.group)
	if err != nil {
		return false, false, err
	}
	if err := offs.Error(); err != nil {
		return false, false, err
	}
	var past, before int
	for topic, ps := range next {
		for p, after := range ps {
			o, ok := offs.Lookup(topic, p)
			if ok && o.At >= after {
				past++
			} else {
				before++
			}
		}
	}
	return before == 0, past > 0 && before > 0, nil
}

func (t *transactional) rewind([]*kgo.Record) {}
func (t *transactional) allowRebalance()      {}
func (t *transactional) close()               { t.sess.Load().Close() }

// atLeastOnce is the at-least-once committer: a batch's records are produced
// and acknowledged, and only then are its offsets committed. Polls block
// rebalances (kgo.BlockRebalanceOnPoll) until allowRebalance, so that a batch
// commits offsets of partitions still its own.
type atLeastOnce struct {
	cl      *kgo.Client
	pending []*kgo.Record
}

func newAtLeastOnce(opts []kgo.Opt) (committer, error) {
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	return &atLeastOnce{cl: cl}, nil
}

func (a *atLeastOnce) client() *kgo.Client { return a.cl }

func (a *atLeastOnce) begin(context.Context) error {
	a.pending = a.pending[:0]
	return nil
}

func (a *atLeastOnce) produce(_ context.Context, rec *kgo.Record) { a.pending = append(a.pending, rec) }

func (a *atLeastOnce) end(ctx context.Context, commit bool, polled []*kgo.Record) (bool, error) {
	out := a.pending
	a.pending = a.pending[:0]
	if !commit {
		return false, nil
	}
	if err := a.cl.ProduceSync(ctx, out...).FirstErr(); err != nil {
		return false, err
	}
	if len(polled) > 0 {
		if err := a.cl.CommitRecords(ctx, polled...); err != nil {
			return false, err
		}
	}
	return true, nil
}

// recover has nothing to heal: the outputs of a batch whose end failed are
// produced again with it (at least once).
func (a *atLeastOnce) recover(context.Context, []*kgo.Record) (bool, error) { return false, nil }

func (a *atLeastOnce) rewind(polled []*kgo.Record) { a.cl.SetOffsets(committedOffsets(polled)) }
func (a *atLeastOnce) allowRebalance()             { a.cl.AllowRebalance() }

func (a *atLeastOnce) close() {
	a.cl.AllowRebalance() // with BlockRebalanceOnPoll, Close would wait for it forever
	a.cl.Close()
}

// committedOffsets is where each partition of recs has to resume to reprocess them.
func committedOffsets(recs []*kgo.Record) map[string]map[int32]kgo.EpochOffset {
	m := map[string]map[int32]kgo.EpochOffset{}
	for _, rec := range recs {
		ps := m[rec.Topic]
		if ps == nil {
			ps = map[int32]kgo.EpochOffset{}
			m[rec.Topic] = ps
		}
		if cur, ok := ps[rec.Partition]; !ok || rec.Offset < cur.Offset {
			ps[rec.Partition] = kgo.EpochOffset{Epoch: -1, Offset: rec.Offset}
		}
	}
	return m
}
