package runtime

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"
)

// committer is how a group member makes a batch durable: the one place the
// two guarantees differ, so that the loop around it (Runner.loop) is written
// once. A batch goes begin, produce for each record, end; then, when it was
// not committed, rewind. One loop owns a committer and never calls it
// concurrently.
type committer interface {
	// client is the member's client: polls and admin requests.
	client() *kgo.Client
	// begin starts a batch. An error is fatal.
	begin() error
	// produce adds rec to the batch. Its failure shows at end.
	produce(ctx context.Context, rec *kgo.Record)
	// end finishes the batch: with commit, it makes the records produced and
	// the offsets of polled (every record polled for the batch) durable
	// together — atomically, or outputs first — and reports committed; without
	// commit, or when a rebalance got in the way, nothing of the batch counts
	// (committed false, err nil). err is a failure to end: the records may or
	// may not have been produced, the offsets are not committed.
	end(ctx context.Context, commit bool, polled []*kgo.Record) (committed bool, err error)
	// rewind makes the next polls start again at polled, a batch that was
	// not committed (a transaction's abort has done it already).
	rewind(polled []*kgo.Record)
	// allowRebalance lets a rebalance held back while a batch was in flight
	// go ahead (at least once, where polls hold rebalances back).
	allowRebalance()
	// close leaves the group, bounded.
	close()
}

// transactional is the exactly-once committer: a batch is a Kafka
// transaction holding its outputs, dead letters and input offsets.
type transactional struct {
	sess       *kgo.GroupTransactSession
	produceErr atomic.Pointer[error] // the batch's first produce failure
}

// newTransactional starts a transactional group member. It takes the
// transactional id at once, not at the first produce: that fences a dead
// predecessor and aborts its open transaction, whose pending offsets would
// otherwise hold back the offset fetch (and restores) until the broker timed
// it out. ctx ending meanwhile returns a nil committer and no error.
func newTransactional(ctx context.Context, opts []kgo.Opt) (committer, error) {
	sess, err := kgo.NewGroupTransactSession(opts...)
	if err != nil {
		return nil, err
	}
	if _, _, err := sess.Client().ProducerID(ctx); err != nil {
		sess.Close()
		if ctx.Err() != nil {
			return nil, nil
		}
		return nil, fmt.Errorf("initializing the transactional producer: %w", err)
	}
	return &transactional{sess: sess}, nil
}

func (t *transactional) client() *kgo.Client { return t.sess.Client() }

func (t *transactional) begin() error {
	t.produceErr.Store(nil)
	if err := t.sess.Begin(); err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	return nil
}

func (t *transactional) produce(ctx context.Context, rec *kgo.Record) {
	t.sess.Produce(ctx, rec, func(_ *kgo.Record, err error) {
		if err != nil {
			t.produceErr.CompareAndSwap(nil, &err)
		}
	})
}

// end ends the transaction. The session rewinds by itself to the last
// committed offsets when it does not commit.
func (t *transactional) end(ctx context.Context, commit bool, _ []*kgo.Record) (bool, error) {
	if commit {
		// End commits whatever was produced, even when a record failed:
		// wait for every produce, and abort instead when one failed.
		if err := t.sess.Client().Flush(ctx); err != nil {
			return false, err
		}
	}
	pe := t.produceErr.Load()
	committed, err := t.sess.End(ctx, kgo.TransactionEndTry(commit && pe == nil))
	if pe != nil && err == nil {
		err = *pe
	}
	return committed, err
}

func (t *transactional) rewind([]*kgo.Record) {}
func (t *transactional) allowRebalance()      {}
func (t *transactional) close()               { t.sess.Close() }

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

func (a *atLeastOnce) begin() error {
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
