package video

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/corb-dev/corb/schemas"
)

// Sink receives the frames of an ingest.
//
// Send hands over one frame; it may return before the frame is durably
// written, and it may block to apply backpressure. The frame (and its Image)
// is owned by the sink after Send. An error from Send is final for the
// ingest: the frame was not and will not be delivered. Flush waits until
// every frame sent so far is delivered and returns the first delivery error
// (once; Flush after Flush reports only new failures). Both honour ctx.
type Sink interface {
	Send(ctx context.Context, f *schemas.Frame) error
	Flush(ctx context.Context) error
}

// DefaultMaxMessageBytes is Kafka's default max.message.bytes for a topic.
const DefaultMaxMessageBytes = 1048588

// recordOverhead bounds what a one-record Kafka batch adds to key and value:
// the 61-byte batch header plus the record's length, attributes, timestamp
// and offset deltas, key and value lengths and header count as varints.
const recordOverhead = 61 + 5 + 1 + 10 + 5 + 5 + 5 + 5

// FrameTooLargeError is returned when an encoded frame does not fit the
// topic's max.message.bytes. Frames are never dropped silently.
type FrameTooLargeError struct {
	CameraID string
	Source   string
	Seq      int64
	Width    int32
	Height   int32
	Size     int // encoded record with Kafka overhead, bytes
	Limit    int // the topic's max.message.bytes
}

func (e *FrameTooLargeError) Error() string {
	return fmt.Sprintf("video: frame %d of %s (camera %s, %dx%d) is %d bytes as a record, over the topic's max.message.bytes %d: "+
		"lower --max-width (max_width) or --quality, or raise max.message.bytes on the topic and the producer limit",
		e.Seq, e.Source, e.CameraID, e.Width, e.Height, e.Size, e.Limit)
}

// TopicName is the Kafka topic for a logical topic in a namespace:
// "<namespace>.<topic>", or topic alone when namespace is empty.
func TopicName(namespace, topic string) string {
	if namespace == "" {
		return topic
	}
	return namespace + "." + topic
}

// KafkaSinkConfig configures NewKafkaSink.
type KafkaSinkConfig struct {
	Brokers []string // seed brokers; required unless Client is set
	Topic   string   // full topic name (see TopicName); required
	// MaxMessageBytes is the topic's max.message.bytes; larger frames are a
	// *FrameTooLargeError. 0 means DefaultMaxMessageBytes.
	MaxMessageBytes int
	// MaxBuffered bounds the frames in flight; Send blocks beyond it (default 64).
	MaxBuffered int
	// ClientOpts are extra kgo options (TLS, SASL, logging hooks...).
	ClientOpts []kgo.Opt
}

// KafkaSink produces frames to a Kafka topic with franz-go, idempotently
// (franz-go's default), keyed by camera id so one camera's frames stay in
// order on one partition.
type KafkaSink struct {
	client *kgo.Client
	topic  string
	limit  int

	mu  sync.Mutex
	err error // first delivery error not yet reported
}

// NewKafkaSink connects a producer. Close it when done.
func NewKafkaSink(cfg KafkaSinkConfig) (*KafkaSink, error) {
	if cfg.Topic == "" {
		return nil, fmt.Errorf("%w: kafka sink needs a topic", ErrConfig)
	}
	if len(cfg.Brokers) == 0 {
		return nil, fmt.Errorf("%w: kafka sink needs brokers", ErrConfig)
	}
	limit := cfg.MaxMessageBytes
	if limit == 0 {
		limit = DefaultMaxMessageBytes
	}
	if limit < 512 || limit > 1<<30 {
		return nil, fmt.Errorf("%w: max.message.bytes %d: want 512..%d", ErrConfig, limit, 1<<30)
	}
	buffered := cfg.MaxBuffered
	if buffered <= 0 {
		buffered = 64
	}
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.DefaultProduceTopic(cfg.Topic),
		kgo.ProducerBatchMaxBytes(int32(limit)),
		kgo.MaxBufferedRecords(buffered),
		kgo.ProducerLinger(0),
	}, cfg.ClientOpts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("video: kafka client: %w", err)
	}
	return &KafkaSink{client: cl, topic: cfg.Topic, limit: limit}, nil
}

// Send encodes f with schemas.Marshal and produces it asynchronously.
func (s *KafkaSink) Send(ctx context.Context, f *schemas.Frame) error {
	if err := s.takeErr(); err != nil {
		return err
	}
	val, err := schemas.Marshal(f)
	if err != nil {
		return fmt.Errorf("video: encode frame %d of %s: %w", f.Seq, f.Source, err)
	}
	key := []byte(f.CameraID)
	if size := len(key) + len(val) + recordOverhead; size > s.limit {
		return &FrameTooLargeError{CameraID: f.CameraID, Source: f.Source, Seq: f.Seq,
			Width: f.Width, Height: f.Height, Size: size, Limit: s.limit}
	}
	rec := &kgo.Record{Topic: s.topic, Key: key, Value: val, Timestamp: f.CaptureTime}
	seq, src := f.Seq, f.Source
	s.client.Produce(ctx, rec, func(_ *kgo.Record, err error) {
		if err == nil {
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.err == nil {
			s.err = fmt.Errorf("video: produce frame %d of %s to %s: %w", seq, src, s.topic, err)
		}
	})
	return nil
}

// Flush waits for every frame sent so far and returns the first delivery error.
func (s *KafkaSink) Flush(ctx context.Context) error {
	if err := s.client.Flush(ctx); err != nil {
		return fmt.Errorf("video: flush: %w", err)
	}
	return s.takeErr()
}

func (s *KafkaSink) takeErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.err
	s.err = nil
	return err
}

// Close flushes (bounded by ctx) and closes the producer.
func (s *KafkaSink) Close(ctx context.Context) error {
	err := s.Flush(ctx)
	s.client.Close()
	return err
}

// ErrTopicLimit is wrapped by TopicMaxMessageBytes errors.
var ErrTopicLimit = errors.New("video: cannot read the topic's max.message.bytes")

// TopicMaxMessageBytes asks the cluster for topic's effective
// max.message.bytes, so the producer limit matches what the broker accepts.
func TopicMaxMessageBytes(ctx context.Context, brokers []string, topic string, opts ...kgo.Opt) (int, error) {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, opts...)...)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrTopicLimit, err)
	}
	defer cl.Close()
	rcs, err := kadm.NewClient(cl).DescribeTopicConfigs(ctx, topic)
	if err != nil {
		return 0, fmt.Errorf("%w: %s: %v", ErrTopicLimit, topic, err)
	}
	for _, rc := range rcs {
		if rc.Err != nil {
			return 0, fmt.Errorf("%w: %s: %v", ErrTopicLimit, topic, rc.Err)
		}
		for _, c := range rc.Configs {
			if c.Key == "max.message.bytes" && c.Value != nil {
				n, err := strconv.Atoi(*c.Value)
				if err != nil || n < 512 {
					return 0, fmt.Errorf("%w: %s: value %q", ErrTopicLimit, topic, *c.Value)
				}
				return n, nil
			}
		}
	}
	return 0, fmt.Errorf("%w: %s: not reported", ErrTopicLimit, topic)
}
