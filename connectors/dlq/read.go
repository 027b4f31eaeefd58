package dlq

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Config is how to reach the cluster.
type Config struct {
	// Brokers are the seed brokers, host:port.
	Brokers []string
	// Opts are more options for every client made (TLS, SASL, a logger).
	Opts []kgo.Opt
}

// ErrNoTopic is wrapped when a topic is not on the cluster.
var ErrNoTopic = errors.New("topic is not on the cluster")

func (c Config) client(opts ...kgo.Opt) (*kgo.Client, error) {
	if len(c.Brokers) == 0 {
		return nil, errors.New("dlq: no brokers")
	}
	cl, err := kgo.NewClient(append(append([]kgo.Opt{kgo.SeedBrokers(c.Brokers...)}, c.Opts...), opts...)...)
	if err != nil {
		return nil, fmt.Errorf("dlq: kafka client: %w", err)
	}
	return cl, nil
}

// topicInfo is what reading a topic needs to know of it.
type topicInfo struct {
	id kadm.TopicID
	// start and end are each partition's first offset and, read_committed,
	// its last stable offset: the end of what can be read now.
	start, end map[int32]int64
}

func (t topicInfo) partitions() []int32 { return slices.Sorted(maps.Keys(t.end)) }

// describe finds topic's id and offsets; ErrNoTopic when it does not exist.
func describe(ctx context.Context, adm *kadm.Client, topic string) (topicInfo, error) {
	md, err := adm.ListTopics(ctx, topic)
	if err != nil {
		return topicInfo{}, fmt.Errorf("dlq: metadata of %s: %w", topic, err)
	}
	d, ok := md[topic]
	if !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition) {
		return topicInfo{}, fmt.Errorf("dlq: %s: %w", topic, ErrNoTopic)
	}
	if d.Err != nil {
		return topicInfo{}, fmt.Errorf("dlq: metadata of %s: %w", topic, d.Err)
	}
	info := topicInfo{id: d.ID}
	list := func(what string, fn func(context.Context, ...string) (kadm.ListedOffsets, error)) (map[int32]int64, error) {
		l, err := fn(ctx, topic)
		if err == nil {
			err = l.Error()
		}
		if err != nil {
			return nil, fmt.Errorf("dlq: %s offsets of %s: %w", what, topic, err)
		}
		out := map[int32]int64{}
		l.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
		return out, nil
	}
	if info.start, err = list("start", adm.ListStartOffsets); err != nil {
		return topicInfo{}, err
	}
	if info.end, err = list("last stable", adm.ListCommittedOffsets); err != nil {
		return topicInfo{}, err
	}
	return info, nil
}

// errStop ends a read early without an error.
var errStop = errors.New("stop")

// read calls fn with the committed records of topic, partition by
// partition in offset order, from the filter's first offset to its last or
// to the end the partition had when described. fn returning errStop ends
// the read with no error.
func (c Config) read(ctx context.Context, topic string, info topicInfo, f Filter, fn func(*kgo.Record) error) error {
	for _, p := range info.partitions() {
		if !f.wantPartition(p) {
			continue
		}
		start, end := f.bounds(info.start[p], info.end[p])
		if start >= end {
			continue
		}
		err := c.readPartition(ctx, topic, p, start, end, fn)
		if errors.Is(err, errStop) {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// readPartition reads [start, end) of one partition, read_committed.
// Control records (transaction markers) are kept, to be skipped here: they
// take offsets, and the last offset before end may be one, so that the end
// is only known to be reached when it is seen. A record at end or past it
// ends the read too: when the offset before end was an aborted record (not
// delivered), the next thing seen is past it.
func (c Config) readPartition(ctx context.Context, topic string, p int32, start, end int64, fn func(*kgo.Record) error) error {
	cl, err := c.client(kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords(),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {p: kgo.NewOffset().At(start)}}))
	if err != nil {
		return err
	}
	defer cl.Close()
	for {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return err
		}
		if errs := fs.Errors(); len(errs) > 0 {
			return fmt.Errorf("dlq: reading %s[%d]: %w", errs[0].Topic, errs[0].Partition, errs[0].Err)
		}
		for it := fs.RecordIter(); !it.Done(); {
			rec := it.Next()
			if rec.Offset >= end {
				return nil
			}
			if !rec.Attrs.IsControl() {
				if err := fn(rec); err != nil {
					return err
				}
			}
			if rec.Offset >= end-1 {
				return nil
			}
		}
	}
}

// Each calls fn with every dead letter of topic (a physical name) that f
// selects, partition by partition in offset order, up to the end each
// partition had when Each began. Records of aborted transactions are not
// seen.
func Each(ctx context.Context, cfg Config, topic string, f Filter, fn func(*Letter) error) error {
	if err := f.Check(); err != nil {
		return err
	}
	cl, err := cfg.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	info, err := describe(ctx, kadm.NewClient(cl), topic)
	if err != nil {
		return err
	}
	if err := f.checkPartitions(topic, info); err != nil {
		return err
	}
	n := 0
	return cfg.read(ctx, topic, info, f, func(rec *kgo.Record) error {
		l := Parse(rec)
		if !f.Match(&l) {
			return nil
		}
		if err := fn(&l); err != nil {
			return err
		}
		if n++; f.Limit > 0 && n >= f.Limit {
			return errStop
		}
		return nil
	})
}

// checkPartitions refuses a filter that names a partition topic lacks.
func (f Filter) checkPartitions(topic string, info topicInfo) error {
	var bad []string
	for _, p := range f.Partitions {
		if _, ok := info.end[p]; !ok {
			bad = append(bad, strconv.Itoa(int(p)))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("dlq: %s has no partition %s (it has %d)", topic, strings.Join(bad, ", "), len(info.end))
	}
	return nil
}
