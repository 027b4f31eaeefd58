// Package table reads a compacted Kafka topic as a key → value table that
// stays current: the latest value of every key, with tombstones (records
// whose value is null) deleting their key.
//
// An operator that looks its input up in a table (the rules operator in
// subscriptions, the command handlers in occupancy) does not run one itself:
// it is an operators.TableReader, and its runtime runs a Table for each of
// its table topics, waits for WaitReady before the operator's first batch,
// and hands the tables over; the operator looks keys up with Get.
//
// A Table consumes every partition of its topic from the start, with
// read_committed isolation (records of aborted or still open transactions
// are never seen) and without a consumer group: every replica of an operator
// holds the whole table.
package table

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Config configures a Table.
type Config struct {
	// Brokers are the seed brokers, host:port. Required.
	Brokers []string
	// Topic is the physical topic name (with its namespace). Required.
	Topic string
	// ClientOptions are extra franz-go options (TLS, SASL, client id, ...).
	// The table sets the options that define how it consumes (brokers,
	// topic, start offset, isolation level, control records) after them, so
	// those win.
	ClientOptions []kgo.Opt
	// Logger; nil means slog.Default().
	Logger *slog.Logger
	// OnChange, when set, is called after each change is applied: an upsert
	// with the new value, a delete with a nil value. It is called from Run's
	// goroutine, in offset order within a partition, during the initial load
	// as well as after it, and never for a record that changes nothing (a
	// tombstone of an absent key, a value equal to the current one). It must
	// not call Run, and must not retain value beyond the call unless it
	// copies it (the table does not modify it, but neither may the callee).
	OnChange func(key string, value []byte)
}

// Errors that New, Run and WaitReady return; match them with errors.Is.
var (
	// ErrConfig: the Config is incomplete.
	ErrConfig = errors.New("table: invalid config")
	// ErrUnknownTopic: the topic does not exist.
	ErrUnknownTopic = errors.New("table: unknown topic")
	// ErrAlreadyRunning: Run was called on a Table that is running or has run.
	ErrAlreadyRunning = errors.New("table: Run called twice")
	// ErrStopped: Run returned before the table was ready (WaitReady).
	ErrStopped = errors.New("table: stopped before it was ready")
)

// Table is a compacted topic held in memory. All its methods are safe for
// concurrent use; Run is called once.
type Table struct {
	cfg Config
	log *slog.Logger

	mu   sync.RWMutex
	rows map[string][]byte

	runOnce sync.Once
	ready   chan struct{} // closed once caught up
	done    chan struct{} // closed when Run returns
	runErr  error         // set before done is closed
}

// New checks cfg and returns a Table. Nothing connects until Run.
func New(cfg Config) (*Table, error) {
	if len(cfg.Brokers) == 0 {
		return nil, fmt.Errorf("%w: no brokers", ErrConfig)
	}
	if cfg.Topic == "" {
		return nil, fmt.Errorf("%w: no topic", ErrConfig)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Table{
		cfg: cfg, log: log.With("table", cfg.Topic),
		rows:  map[string][]byte{},
		ready: make(chan struct{}), done: make(chan struct{}),
	}, nil
}

// Get returns the current value of key. The slice must not be modified.
func (t *Table) Get(key string) ([]byte, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	v, ok := t.rows[key]
	return v, ok
}

// Len is the number of keys in the table.
func (t *Table) Len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.rows)
}

// Snapshot returns a copy of the table as it is now. The map is the caller's;
// the values are shared with the table and must not be modified.
func (t *Table) Snapshot() map[string][]byte {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return maps.Clone(t.rows)
}

// Ready returns a channel that is closed once the table has caught up (see WaitReady).
func (t *Table) Ready() <-chan struct{} { return t.ready }

// WaitReady blocks until the table holds every record that was committed to
// the topic when Run started (the last stable offset of each partition), so
// a caller can wait for a complete table before it processes anything. An
// empty topic is ready as soon as Run has listed its offsets. It returns nil
// when ready, ctx's error when ctx ends first, and an error matching
// ErrStopped (wrapping Run's error, if any) when Run returned before the
// table was ready.
func (t *Table) WaitReady(ctx context.Context) error {
	select {
	case <-t.ready:
		return nil
	default:
	}
	select {
	case <-t.ready:
		return nil
	case <-t.done:
		select {
		case <-t.ready: // ready, then stopped
			return nil
		default:
		}
		if t.runErr != nil {
			return fmt.Errorf("%w: %w", ErrStopped, t.runErr)
		}
		return ErrStopped
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Run consumes the topic into the table until ctx ends, and then returns nil.
// It returns an error when the topic cannot be read: it does not exist
// (ErrUnknownTopic), its offsets cannot be listed, or a fetch fails with an
// error the client does not retry itself. Run may be called once.
func (t *Table) Run(ctx context.Context) (err error) {
	first := false
	t.runOnce.Do(func() { first = true })
	if !first {
		return ErrAlreadyRunning
	}
	defer func() {
		t.runErr = err
		close(t.done)
	}()

	opts := append(append([]kgo.Opt(nil), t.cfg.ClientOptions...),
		kgo.SeedBrokers(t.cfg.Brokers...),
		kgo.ConsumeTopics(t.cfg.Topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// Control records (transaction markers) advance the position the
		// table compares with the end offsets; they are not applied.
		kgo.KeepControlRecords(),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("table %s: %w", t.cfg.Topic, err)
	}
	defer cl.Close()

	pending, err := t.targets(ctx, kadm.NewClient(cl))
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	t.markReadyIf(pending)

	for {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil || fetches.IsClientClosed() {
			return nil
		}
		var ferr error
		fetches.EachError(func(topic string, p int32, e error) {
			if ferr == nil && !errors.Is(e, context.Canceled) {
				ferr = fmt.Errorf("table %s: partition %d: %w", topic, p, e)
			}
		})
		if ferr != nil {
			return ferr
		}
		fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
			if len(fp.Records) == 0 {
				return
			}
			for _, r := range fp.Records {
				if !r.Attrs.IsControl() {
					t.apply(r)
				}
			}
			if len(pending) > 0 {
				next := fp.Records[len(fp.Records)-1].Offset + 1
				if end, ok := pending[fp.Partition]; ok && next >= end {
					delete(pending, fp.Partition)
					t.markReadyIf(pending)
				}
			}
		})
	}
}

// targets lists, per partition that has records, the offset the table must
// reach to be ready: the partition's last stable offset now.
func (t *Table) targets(ctx context.Context, adm *kadm.Client) (map[int32]int64, error) {
	starts, err := adm.ListStartOffsets(ctx, t.cfg.Topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, t.listErr(err)
	}
	ends, err := adm.ListCommittedOffsets(ctx, t.cfg.Topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, t.listErr(err)
	}
	if len(ends[t.cfg.Topic]) == 0 {
		return nil, fmt.Errorf("%w %s", ErrUnknownTopic, t.cfg.Topic)
	}
	pending := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		start, _ := starts.Lookup(o.Topic, o.Partition)
		if o.Offset > start.Offset && o.Offset > 0 {
			pending[o.Partition] = o.Offset
		}
	})
	t.log.Debug("table loading", "partitions", len(ends[t.cfg.Topic]), "non_empty", len(pending))
	return pending, nil
}

func (t *Table) listErr(err error) error {
	if isUnknownTopic(err) {
		return fmt.Errorf("%w %s: %w", ErrUnknownTopic, t.cfg.Topic, err)
	}
	return fmt.Errorf("table %s: listing offsets: %w", t.cfg.Topic, err)
}

func (t *Table) markReadyIf(pending map[int32]int64) {
	if len(pending) > 0 {
		return
	}
	select {
	case <-t.ready:
	default:
		t.log.Debug("table ready", "keys", t.Len())
		close(t.ready)
	}
}

// apply upserts or deletes the record's key. Records without a key are
// ignored: a compacted topic refuses them.
func (t *Table) apply(r *kgo.Record) {
	if r.Key == nil {
		return
	}
	key := string(r.Key)
	t.mu.Lock()
	old, had := t.rows[key]
	changed := false
	switch {
	case r.Value == nil:
		if had {
			delete(t.rows, key)
			changed = true
		}
	case !had || !bytes.Equal(old, r.Value):
		t.rows[key] = r.Value
		changed = true
	}
	t.mu.Unlock()
	if changed && t.cfg.OnChange != nil {
		t.cfg.OnChange(key, r.Value)
	}
}

func isUnknownTopic(err error) bool {
	return errors.Is(err, kerr.UnknownTopicOrPartition) || errors.Is(err, kerr.UnknownTopicID)
}
