package runtime

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/corb-dev/corb/operators"
)

// journal is the operators.Journal of a Runner: a plain producer of the
// operator's state topics, outside the transactions of the batches. Its
// records go to the partition their key hashes to, as the batches' own
// state records do (both clients use franz-go's default partitioner).
type journal struct {
	cl     *kgo.Client
	topics map[string]string // logical state topic → physical
	now    func() time.Time
}

// startJournal hands a JournalUser its journal and returns what closes it;
// for any other operator it does nothing.
func (r *Runner) startJournal() (func(), error) {
	ju, ok := r.cfg.Operator.(operators.JournalUser)
	if !ok {
		return func() {}, nil
	}
	cl, err := kgo.NewClient(append(append(r.commonOptions(),
		// Durable when Record returns: every in-sync replica has it, and the
		// idempotent producer (franz-go's default) writes a retry once.
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(0),
		kgo.ClientID("corb-"+r.cfg.Name+"-"+r.cfg.Instance+"-journal"),
	), r.cfg.ClientOptions...)...)
	if err != nil {
		return nil, fmt.Errorf("operator %s: journal: %w", r.cfg.Name, err)
	}
	j := &journal{cl: cl, topics: map[string]string{}, now: r.cfg.Now}
	for _, t := range r.cfg.State {
		j.topics[t] = r.cfg.Topic(t)
	}
	ju.UseJournal(j)
	return cl.Close, nil
}

// Record implements operators.Journal.
func (j *journal) Record(ctx context.Context, outs ...operators.Output) error {
	recs := make([]*kgo.Record, len(outs))
	now := j.now()
	for i, o := range outs {
		topic, ok := j.topics[o.Topic]
		if !ok {
			return operators.Permanentf("journal: %q is not one of the operator's state topics", o.Topic)
		}
		ts := o.Timestamp
		if ts.IsZero() {
			ts = now
		}
		recs[i] = &kgo.Record{Topic: topic, Key: o.Key, Value: o.Value, Headers: headersOut(o.Headers), Timestamp: ts}
	}
	if err := j.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	return nil
}
