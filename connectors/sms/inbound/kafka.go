package inbound

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// KafkaProducer is the Producer on a real cluster: franz-go, idempotent,
// acks from every in-sync replica. Create it with NewKafkaProducer; Close it.
type KafkaProducer struct {
	cl *kgo.Client
}

// NewKafkaProducer produces to brokers. deliveryTimeout fails a record that
// could not be written in that long (0: franz-go's default, unlimited); give
// it the Handler's Timeout, so that records whose webhook was answered 503
// are not left buffered to land long after Twilio retried. opts come last
// and win.
func NewKafkaProducer(brokers []string, deliveryTimeout time.Duration, opts ...kgo.Opt) (*KafkaProducer, error) {
	base := []kgo.Opt{
		kgo.SeedBrokers(brokers...),
		kgo.RequiredAcks(kgo.AllISRAcks()), // franz-go's default, and idempotence needs it
		kgo.ProducerLinger(0),              // one webhook is a record or two: do not wait for more
	}
	if deliveryTimeout > 0 {
		base = append(base, kgo.RecordDeliveryTimeout(deliveryTimeout))
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	return &KafkaProducer{cl: cl}, nil
}

// Produce writes recs and waits until all are acknowledged, or ctx ends. The
// records are given a context of their own: franz-go fails every record
// buffered for a partition with the first one's context, and one webhook's
// deadline must not fail another's records. A record may still be written
// after Produce returned ctx's error; the retry that follows writes it again,
// with the same command id.
func (p *KafkaProducer) Produce(ctx context.Context, recs []Record) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	rctx := context.WithoutCancel(ctx)
	for _, r := range recs {
		wg.Add(1)
		p.cl.Produce(rctx, &kgo.Record{Topic: r.Topic, Key: r.Key, Value: r.Value}, func(rec *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("producing to %s: %w", rec.Topic, err))
				mu.Unlock()
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		mu.Lock()
		defer mu.Unlock()
		return errors.Join(errs...)
	case <-ctx.Done():
		return fmt.Errorf("producing: %w", context.Cause(ctx))
	}
}

// Check verifies that the cluster answers and has every topic: a missing
// topic would only show as every webhook answered 503.
func (p *KafkaProducer) Check(ctx context.Context, topics ...string) error {
	m, err := kadm.NewClient(p.cl).Metadata(ctx, topics...)
	if err != nil {
		return fmt.Errorf("kafka metadata: %w", err)
	}
	var missing []string
	for _, t := range topics {
		td, ok := m.Topics[t]
		switch {
		case !ok || errors.Is(td.Err, kerr.UnknownTopicOrPartition):
			missing = append(missing, t)
		case td.Err != nil:
			return fmt.Errorf("topic %s: %w", t, td.Err)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("topics %s are not on the cluster", strings.Join(missing, ", "))
	}
	return nil
}

// Ping reports whether a broker answers, for /readyz.
func (p *KafkaProducer) Ping(ctx context.Context) error { return p.cl.Ping(ctx) }

// Close flushes what is buffered (until ctx ends) and closes the client.
func (p *KafkaProducer) Close(ctx context.Context) error {
	err := p.cl.Flush(ctx)
	p.cl.Close()
	return err
}
