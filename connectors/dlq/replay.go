package dlq

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Defaults of ReplayConfig.
const (
	DefaultBatchRecords = 500      // letters per transaction
	DefaultBatchBytes   = 32 << 20 // keys and values per transaction
)

// ReplayConfig is one dead-letter topic's replay.
type ReplayConfig struct {
	Config
	// Topic is the dead-letter topic (physical name). Required.
	Topic string
	// Log is its replay log (topology.Names.ReplayLog). Required. Replay
	// creates it, compacted with one partition, when it is missing.
	Log string
	// TransactionalID is the replays' transactional id, one per dead-letter
	// topic (topology.Names.ReplayTransactionalID). Required.
	TransactionalID string
	// Targets are the topics letters may be replayed to: the inputs of the
	// operators that dead-letter to Topic. A letter from another topic is
	// refused. Nil: any topic on the cluster.
	Targets []string
	// LogReplication is the replication factor of the log when Replay
	// creates it; 0: the broker's default.
	LogReplication int16
	// BatchRecords and BatchBytes bound one transaction (defaults
	// DefaultBatchRecords, DefaultBatchBytes): each commits its records and
	// their markers, so an interrupted replay leaves whole batches behind.
	BatchRecords, BatchBytes int
	// DryRun reads and decides, and writes nothing: no log is created, no
	// transactional id initialised, and the Markers in the report have To
	// offsets of -1.
	DryRun bool
	// Now stamps the markers (default time.Now).
	Now func() time.Time
}

// Replayer replays the letters of one dead-letter topic. Open it with
// OpenReplay, then call Replay; Close it when done.
type Replayer struct {
	cfg      ReplayConfig
	admin    *kgo.Client
	producer *kgo.Client // nil in a dry run
	adm      *kadm.Client
	topic    topicInfo
	log      Log
	parts    map[string]int // partitions of each target topic, as they are met
}

// OpenReplay prepares a replay: it makes the replay log when missing,
// initialises the transactional id (which fences an earlier replay of the
// topic still running, and completes or aborts its open transaction), and
// then reads the log to its end.
func OpenReplay(ctx context.Context, cfg ReplayConfig) (*Replayer, error) {
	switch {
	case cfg.Topic == "" || cfg.Log == "" || cfg.TransactionalID == "":
		return nil, errors.New("dlq: a replay needs the topic, its replay log and a transactional id")
	case cfg.Log == cfg.Topic || slices.Contains(cfg.Targets, cfg.Log) || slices.Contains(cfg.Targets, cfg.Topic):
		return nil, fmt.Errorf("dlq: the replay log %s, the dead-letter topic %s and the targets %v must differ", cfg.Log, cfg.Topic, cfg.Targets)
	case cfg.BatchRecords < 0 || cfg.BatchBytes < 0:
		return nil, errors.New("dlq: negative batch bounds")
	}
	if cfg.BatchRecords == 0 {
		cfg.BatchRecords = DefaultBatchRecords
	}
	if cfg.BatchBytes == 0 {
		cfg.BatchBytes = DefaultBatchBytes
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	admin, err := cfg.client()
	if err != nil {
		return nil, err
	}
	r := &Replayer{cfg: cfg, admin: admin, adm: kadm.NewClient(admin), parts: map[string]int{}}
	if err := r.open(ctx); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

func (r *Replayer) open(ctx context.Context) error {
	var err error
	if r.topic, err = describe(ctx, r.adm, r.cfg.Topic); err != nil {
		return err
	}
	if !r.cfg.DryRun {
		if err := r.makeLog(ctx); err != nil {
			return err
		}
		limit, err := r.maxMessageBytes(ctx)
		if err != nil {
			return err
		}
		r.producer, err = r.cfg.client(
			kgo.TransactionalID(r.cfg.TransactionalID),
			kgo.RecordPartitioner(kgo.ManualPartitioner()),
			kgo.ProducerBatchMaxBytes(limit),
			kgo.ProducerLinger(0),
		)
		if err != nil {
			return err
		}
		// InitProducerID now, not at the first record: an earlier replay
		// is fenced, and its transaction ended, before the log is read.
		if _, _, err := r.producer.ProducerID(ctx); err != nil {
			return fmt.Errorf("dlq: initialising the transactional id %s: %w", r.cfg.TransactionalID, err)
		}
	}
	r.log, err = loadLog(ctx, r.cfg.Config, r.adm, r.cfg.Log, r.cfg.Topic, r.topic.id)
	return err
}

// makeLog creates the replay log, compacted (its markers must never expire:
// a letter whose marker is gone could be replayed again), or checks that
// the one there is compacted and not also deleted by age.
func (r *Replayer) makeLog(ctx context.Context) error {
	repl := r.cfg.LogReplication
	if repl == 0 {
		repl = -1
	}
	_, err := r.adm.CreateTopic(ctx, 1, repl, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}, r.cfg.Log)
	if err == nil || !errors.Is(err, kerr.TopicAlreadyExists) {
		if err != nil {
			return fmt.Errorf("dlq: creating the replay log %s: %w", r.cfg.Log, err)
		}
		return nil
	}
	cfgs, err := r.adm.DescribeTopicConfigs(ctx, r.cfg.Log)
	if err != nil {
		return fmt.Errorf("dlq: configs of the replay log %s: %w", r.cfg.Log, err)
	}
	rc, err := cfgs.On(r.cfg.Log, nil)
	if err == nil {
		err = rc.Err
	}
	if err != nil {
		return fmt.Errorf("dlq: configs of the replay log %s: %w", r.cfg.Log, err)
	}
	for _, c := range rc.Configs {
		if c.Key == "cleanup.policy" && c.Value != nil && *c.Value != "compact" {
			return fmt.Errorf("dlq: the replay log %s has cleanup.policy=%s: its markers would expire and letters be replayed twice; set it to compact", r.cfg.Log, *c.Value)
		}
	}
	return nil
}

// maxMessageBytes is the smallest max.message.bytes of the topics written:
// the targets and the log (one producer batch must fit every one of them).
// Without targets, the dead-letter topic's: its letters fit there.
func (r *Replayer) maxMessageBytes(ctx context.Context) (int32, error) {
	topics := append([]string{r.cfg.Log}, r.cfg.Targets...)
	if len(r.cfg.Targets) == 0 {
		topics = append(topics, r.cfg.Topic)
	}
	cfgs, err := r.adm.DescribeTopicConfigs(ctx, topics...)
	if err != nil {
		return 0, fmt.Errorf("dlq: configs of %v: %w", topics, err)
	}
	limit := int64(1 << 30)
	for _, rc := range cfgs {
		if rc.Err != nil {
			continue // a target that is missing: its letters are refused
		}
		for _, c := range rc.Configs {
			if c.Key != "max.message.bytes" || c.Value == nil {
				continue
			}
			if v, err := strconv.ParseInt(*c.Value, 10, 32); err == nil && v > 0 {
				limit = min(limit, v)
			}
		}
	}
	if limit == 1<<30 {
		limit = 1 << 20 // the broker's default
	}
	return int32(limit), nil
}

// Close releases the clients. A transaction left open by a failed Replay is
// aborted by the broker after its timeout, or at once by the next replay.
func (r *Replayer) Close() {
	if r.producer != nil {
		r.producer.Close()
	}
	r.admin.Close()
}

// Log is what the replay log said when the replayer opened, and what it
// replayed since.
func (r *Replayer) Log() Log { return r.log }

// Refusal is a selected letter that is not replayed, and why.
type Refusal struct {
	Letter Ref    `json:"letter"`
	Why    string `json:"why"`
}

// Report is what a Replay did.
type Report struct {
	Topic string `json:"topic"`
	// Selected counts the letters the filter selected (Limit aside).
	Selected int `json:"selected"`
	// Replayed are the letters replayed now (in a dry run: to replay).
	Replayed []Marker `json:"replayed"`
	// Skipped are the markers of selected letters replayed before: not
	// sent again.
	Skipped []Marker `json:"skipped"`
	// Refused are selected letters that cannot be replayed.
	Refused []Refusal `json:"refused"`
	// Transactions counts the transactions committed.
	Transactions int  `json:"transactions"`
	DryRun       bool `json:"dry_run"`
}

// Replay re-drives the letters f selects that were not replayed before, in
// the dead-letter topic's order, one transaction per batch: the records to
// their source topic and partition, and their markers to the log. f.Limit
// counts letters replayed, not those skipped. On an error the report says
// what was committed before it; run the replay again for the rest.
func (r *Replayer) Replay(ctx context.Context, f Filter) (Report, error) {
	rep := Report{Topic: r.cfg.Topic, DryRun: r.cfg.DryRun, Replayed: []Marker{}, Skipped: []Marker{}, Refused: []Refusal{}}
	if err := f.Check(); err != nil {
		return rep, err
	}
	if err := f.checkPartitions(r.cfg.Topic, r.topic); err != nil {
		return rep, err
	}
	limit := f.Limit
	f.Limit = 0
	var batch []*Letter
	size := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		ms, err := r.commit(ctx, batch)
		if err != nil {
			return err
		}
		rep.Replayed = append(rep.Replayed, ms...)
		if !r.cfg.DryRun {
			rep.Transactions++
		}
		batch, size = nil, 0
		return nil
	}
	queued := 0
	err := r.cfg.read(ctx, r.cfg.Topic, r.topic, f, func(rec *kgo.Record) error {
		l := Parse(rec)
		if !f.Match(&l) {
			return nil
		}
		rep.Selected++
		if m, ok := r.log.Markers[l.Ref()]; ok {
			rep.Skipped = append(rep.Skipped, m)
			return nil
		}
		if limit > 0 && queued >= limit {
			return nil // counted as selected; keep reading for the skipped ones
		}
		if why, err := r.refuse(ctx, &l); err != nil {
			return err
		} else if why != "" {
			rep.Refused = append(rep.Refused, Refusal{Letter: l.Ref(), Why: why})
			return nil
		}
		n := len(rec.Key) + len(rec.Value)
		if len(batch) > 0 && (len(batch) >= r.cfg.BatchRecords || size+n > r.cfg.BatchBytes) {
			if err := flush(); err != nil {
				return err
			}
		}
		batch = append(batch, &l)
		size += n
		queued++
		return nil
	})
	if err == nil {
		err = flush()
	}
	return rep, err
}

// refuse says why l cannot be replayed, or "".
func (r *Replayer) refuse(ctx context.Context, l *Letter) (string, error) {
	if !l.Replayable() {
		return fmt.Sprintf("not a readable dead letter: %v", l.Problems), nil
	}
	t := l.Source.Topic
	if r.cfg.Targets != nil && !slices.Contains(r.cfg.Targets, t) {
		return fmt.Sprintf("its source %s is not an input of the operators that dead-letter to %s (%v)", t, r.cfg.Topic, r.cfg.Targets), nil
	}
	n, ok := r.parts[t]
	if !ok {
		md, err := r.adm.ListTopics(ctx, t)
		if err != nil {
			return "", fmt.Errorf("dlq: metadata of %s: %w", t, err)
		}
		if d, found := md[t]; found && d.Err == nil {
			n = len(d.Partitions)
		} else if found && d.Err != nil && !errors.Is(d.Err, kerr.UnknownTopicOrPartition) {
			return "", fmt.Errorf("dlq: metadata of %s: %w", t, d.Err)
		}
		r.parts[t] = n
	}
	switch {
	case n == 0:
		return fmt.Sprintf("its source topic %s is not on the cluster", t), nil
	case int(l.Source.Partition) >= n:
		return fmt.Sprintf("its source partition %s[%d] does not exist (%d partitions)", t, l.Source.Partition, n), nil
	}
	return "", nil
}

// commit writes one batch and its markers in one transaction.
func (r *Replayer) commit(ctx context.Context, batch []*Letter) ([]Marker, error) {
	id := ""
	if r.topic.id != (kadm.TopicID{}) {
		id = r.topic.id.String()
	}
	now := r.cfg.Now().UTC()
	ms := make([]Marker, len(batch))
	recs := make([]*kgo.Record, len(batch))
	for i, l := range batch {
		recs[i] = l.Replay()
		ms[i] = Marker{From: l.Ref(), TopicID: id, To: Ref{Topic: recs[i].Topic, Partition: recs[i].Partition, Offset: -1},
			Operator: l.Operator, Reason: l.Reason, At: now}
	}
	if r.cfg.DryRun {
		return ms, nil
	}
	first, last := batch[0].Ref(), batch[len(batch)-1].Ref()
	fail := func(what string, err error) ([]Marker, error) {
		abortCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		aerr := r.producer.AbortBufferedRecords(abortCtx)
		if aerr == nil {
			aerr = r.producer.EndTransaction(abortCtx, kgo.TryAbort)
		}
		if aerr != nil {
			err = errors.Join(err, fmt.Errorf("aborting: %w", aerr))
		}
		next := "run the replay again"
		if errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.InvalidProducerEpoch) {
			next = "another replay of " + r.cfg.Topic + " started since (it fenced this one) and replays what this one did not"
		}
		return nil, fmt.Errorf("dlq: replaying %s..%d (%d letters): %s: %w; nothing of this batch is visible to read_committed consumers: %s",
			first, last.Offset, len(batch), what, err, next)
	}
	if err := r.producer.BeginTransaction(); err != nil {
		return nil, fmt.Errorf("dlq: begin transaction: %w", err)
	}
	if err := r.producer.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fail("producing", err)
	}
	marks := make([]*kgo.Record, len(ms))
	for i := range ms {
		ms[i].To.Offset = recs[i].Offset
		m, err := ms[i].record(r.cfg.Log)
		if err != nil {
			return fail("marking", err)
		}
		marks[i] = m
	}
	if err := r.producer.ProduceSync(ctx, marks...).FirstErr(); err != nil {
		return fail("marking", err)
	}
	if err := r.producer.EndTransaction(ctx, kgo.TryCommit); err != nil {
		return fail("committing", err)
	}
	for _, m := range ms {
		r.log.Markers[m.From] = m
	}
	return ms, nil
}
