package s3

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// EventSource delivers object-created notifications, at least once.
type EventSource interface {
	// Next blocks until notifications arrive or ctx ends, and returns their
	// object-created events (possibly none: other events are left out).
	Next(ctx context.Context) ([]ObjectEvent, error)
	// Commit marks every notification Next returned so far as handled:
	// after a restart they are not delivered again.
	Commit(ctx context.Context) error
}

// KafkaEvents reads notifications from a Kafka topic (where MinIO's
// notify_kafka, or EventBridge through a connector, put them) as a member of
// a consumer group, which starts at the topic's oldest notification.
type KafkaEvents struct {
	cl       *kgo.Client
	topic    string
	log      *slog.Logger
	Rejected int64 // messages that were not S3 event notifications
}

// NewKafkaEvents joins group on topic; opts are extra kgo options. Close it
// when done.
func NewKafkaEvents(brokers []string, topic, group string, log *slog.Logger, opts ...kgo.Opt) (*KafkaEvents, error) {
	if log == nil {
		log = slog.Default()
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...),
		kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		// A rebalance waits until what was polled is handled and committed.
		kgo.BlockRebalanceOnPoll(),
	}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("s3: events consumer: %w", err)
	}
	return &KafkaEvents{cl: cl, topic: topic, log: log}, nil
}

// Next polls the topic. A message that is not an S3 event notification is
// reported (logged and counted in Rejected) and passed over: it can never
// become one, and it must not stop every upload after it.
func (k *KafkaEvents) Next(ctx context.Context) ([]ObjectEvent, error) {
	fs := k.cl.PollFetches(ctx)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for _, fe := range fs.Errors() {
		if errors.Is(fe.Err, kgo.ErrClientClosed) || !kerr.IsRetriable(fe.Err) {
			return nil, fmt.Errorf("s3: events from %s: %w", fe.Topic, fe.Err)
		}
		// Retriable (e.g. the topic is not created yet): the client retries.
		k.log.Warn("reading event notifications", "topic", fe.Topic, "partition", fe.Partition, "err", fe.Err)
	}
	var out []ObjectEvent
	fs.EachRecord(func(r *kgo.Record) {
		evs, err := ParseEvents(r.Value)
		if err != nil {
			k.Rejected++
			k.log.Error("not an S3 event notification; passed over", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "err", err)
			return
		}
		out = append(out, evs...)
	})
	return out, nil
}

// Commit commits the offsets of everything polled and lets a pending
// rebalance go ahead.
func (k *KafkaEvents) Commit(ctx context.Context) error {
	defer k.cl.AllowRebalance()
	if err := k.cl.CommitUncommittedOffsets(ctx); err != nil {
		return fmt.Errorf("s3: commit events of %s: %w", k.topic, err)
	}
	return nil
}

// Close leaves the group.
func (k *KafkaEvents) Close() { k.cl.CloseAllowingRebalance() }
