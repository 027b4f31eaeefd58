package s3

import (
	"bytes"
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/corb-dev/corb/schemas"
)

// FrameLog is what the watcher asks of the frames topic, so that a run
// killed between sending frames and recording them does not make the next
// run send them again.
type FrameLog interface {
	// Mark returns the topic's end offsets per partition: every frame
	// delivered before the call is below them.
	Mark(ctx context.Context) (map[int32]int64, error)
	// LastSeq returns the highest seq of a frame of camera from source at or
	// above the mark, or -1 when there is none.
	LastSeq(ctx context.Context, mark map[int32]int64, camera, source string) (int64, error)
}

// KafkaFrameLog is the FrameLog of a Kafka topic.
type KafkaFrameLog struct {
	brokers []string
	topic   string
	opts    []kgo.Opt
	cl      *kgo.Client
	adm     *kadm.Client
}

// NewKafkaFrameLog connects to the frames topic; opts are extra kgo options
// (TLS, SASL). Close it when done.
func NewKafkaFrameLog(brokers []string, topic string, opts ...kgo.Opt) (*KafkaFrameLog, error) {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("s3: frames log: %w", err)
	}
	return &KafkaFrameLog{brokers: brokers, topic: topic, opts: opts, cl: cl, adm: kadm.NewClient(cl)}, nil
}

// Close closes the client.
func (l *KafkaFrameLog) Close() { l.cl.Close() }

// Mark lists the topic's end offsets (high watermarks).
func (l *KafkaFrameLog) Mark(ctx context.Context) (map[int32]int64, error) {
	ends, err := l.adm.ListEndOffsets(ctx, l.topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("s3: end offsets of %s: %w", l.topic, err)
	}
	out := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	if len(out) == 0 {
		return nil, fmt.Errorf("s3: end offsets of %s: no partitions", l.topic)
	}
	return out, nil
}

// LastSeq reads every partition from the mark to its current end (a
// partition added since the mark from its start). Only records keyed by the
// camera are decoded. The scan reads what was written since the last
// checkpoint, and so is short unless the watcher was down for long while
// other cameras kept sending.
func (l *KafkaFrameLog) LastSeq(ctx context.Context, mark map[int32]int64, camera, source string) (int64, error) {
	ends, err := l.Mark(ctx)
	if err != nil {
		return -1, err
	}
	start := map[int32]kgo.Offset{}
	stop := map[int32]int64{}
	for p, end := range ends {
		from := mark[p] // 0 for a partition the mark does not know
		if end > from {
			start[p], stop[p] = kgo.NewOffset().At(from), end
		}
	}
	if len(start) == 0 {
		return -1, nil
	}
	// Control records are kept so that a scan ending on a transaction
	// marker still sees its last offset.
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(l.brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{l.topic: start}), kgo.KeepControlRecords()}, l.opts...)...)
	if err != nil {
		return -1, fmt.Errorf("s3: frames log: %w", err)
	}
	defer cl.Close()
	key := []byte(camera)
	last := int64(-1)
	for len(stop) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return -1, err
		}
		if err := fs.Err(); err != nil {
			return -1, fmt.Errorf("s3: scan %s: %w", l.topic, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			end, ok := stop[r.Partition]
			if !ok || r.Offset >= end {
				return
			}
			if r.Offset+1 >= end {
				delete(stop, r.Partition)
			}
			if r.Attrs.IsControl() || !bytes.Equal(r.Key, key) {
				return
			}
			// A record that is not a corb.Frame was not written by ingest,
			// so it is not one of the frames looked for.
			var f schemas.Frame
			if schemas.Unmarshal(r.Value, &f) == nil && f.Source == source && f.CameraID == camera && f.Seq > last {
				last = f.Seq
			}
		})
	}
	return last, nil
}
