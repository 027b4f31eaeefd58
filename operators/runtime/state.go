package runtime

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/corb-dev/corb/operators"
)

// stateManager restores and drops a Stateful operator's state as input
// partitions come and go. The group callbacks only record what changed; the
// processing goroutine applies it (sync), so the operator never sees Restore or
// Revoke concurrently with Process.
type stateManager struct {
	r  *Runner
	op operators.Stateful

	mu            sync.Mutex
	pendingAssign map[int32]bool
	pendingRevoke map[int32]bool

	owned map[int32]bool // restored and not revoked; touched by sync only
}

func newStateManager(r *Runner) *stateManager {
	op, ok := r.cfg.Operator.(operators.Stateful)
	if !ok || len(r.cfg.State) == 0 {
		return nil
	}
	return &stateManager{r: r, op: op, pendingAssign: map[int32]bool{}, pendingRevoke: map[int32]bool{}, owned: map[int32]bool{}}
}

func (s *stateManager) assigned(m map[string][]int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ps := range m {
		for _, p := range ps {
			s.pendingAssign[p] = true
		}
	}
}

func (s *stateManager) revoked(m map[string][]int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ps := range m {
		for _, p := range ps {
			s.pendingRevoke[p] = true
			delete(s.pendingAssign, p)
		}
	}
}

// reset makes the next sync drop and restore the state of every partition
// owned: after an aborted batch the operator's memory is ahead of the changelog.
func (s *stateManager) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for p := range s.owned {
		if s.pendingRevoke[p] {
			continue // revoked by the group meanwhile: only drop it
		}
		s.pendingRevoke[p] = true
		s.pendingAssign[p] = true
	}
}

// sync applies the revocations and restores recorded since the last call.
// A restore that fails (a broker away, say) leaves its partition, and
// those not restored yet, for the next call: restored tells whether every
// assigned partition is, and records of a partition not restored must not
// be processed.
func (s *stateManager) sync(ctx context.Context) error {
	s.mu.Lock()
	revoke, assign := s.pendingRevoke, s.pendingAssign
	s.pendingRevoke, s.pendingAssign = map[int32]bool{}, map[int32]bool{}
	s.mu.Unlock()
	for p := range revoke {
		delete(s.owned, p)
		s.op.Revoke(p)
		s.r.log.Info("state dropped", "partition", p)
	}
	for _, p := range slices.Sorted(maps.Keys(assign)) {
		if err := s.restore(ctx, p); err != nil {
			s.mu.Lock()
			for q := range assign {
				if !s.owned[q] && !s.pendingRevoke[q] {
					s.pendingAssign[q] = true
				}
			}
			s.mu.Unlock()
			return err
		}
	}
	return nil
}

// restore reads partition p of every state topic into the operator.
func (s *stateManager) restore(ctx context.Context, p int32) error {
	if s.owned[p] {
		// Restored before and restored again (after an abort): drop it first.
		delete(s.owned, p)
		s.op.Revoke(p)
	}
	for _, topic := range s.r.cfg.State {
		start := time.Now()
		state, n, err := s.r.readChangelog(ctx, s.r.cfg.Topic(topic), p)
		if err != nil {
			return fmt.Errorf("restoring %s[%d]: %w", topic, p, err)
		}
		if err := s.op.Restore(ctx, topic, p, state); err != nil {
			return fmt.Errorf("restoring %s[%d]: %w", topic, p, err)
		}
		d := time.Since(start)
		s.r.log.Info("state restored", "topic", topic, "partition", p, "keys", len(state), "records", n, "took", d)
		s.r.hooks.Restored(s.r.member, Restore{Topic: topic, Partition: p, Keys: len(state), Records: n, Duration: d})
	}
	s.owned[p] = true
	return nil
}

// filter drops records of partitions this instance no longer owns: fetched
// before a revocation, they belong to the new owner (and the transaction they
// would be part of aborts anyway).
func (s *stateManager) filter(recs []*kgo.Record) []*kgo.Record {
	kept := recs[:0]
	for _, rec := range recs {
		if s.owned[rec.Partition] {
			kept = append(kept, rec)
		}
	}
	return kept
}

// readChangelog reads changelog partition p from its start to its last stable
// offset and folds it into key → latest value (tombstones delete). It returns
// the number of records read too.
//
// It first waits (briefly) for the partition to have no open transaction, so
// that the last batch of a previous owner whose commit markers are still being
// written is included. A transaction still open after that wait belongs to a
// dead instance (a live previous owner finished its transaction before the
// partition was reassigned), will be aborted, and is rightly left out.
func (r *Runner) readChangelog(ctx context.Context, topic string, p int32) (map[string][]byte, int64, error) {
	cl, err := kgo.NewClient(append(append(r.commonOptions(),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {p: kgo.NewOffset().AtStart()}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// Transaction markers take offsets too; seeing them tells when the end is reached.
		kgo.KeepControlRecords(),
	), r.cfg.ClientOptions...)...)
	if err != nil {
		return nil, 0, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)

	var end int64
	deadline := time.Now().Add(r.cfg.RestoreSettle)
	for {
		lso, err := partitionOffset(ctx, adm.ListCommittedOffsets, topic, p)
		if err != nil {
			return nil, 0, err
		}
		hwm, err := partitionOffset(ctx, adm.ListEndOffsets, topic, p)
		if err != nil {
			return nil, 0, err
		}
		end = lso
		if lso >= hwm || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}

	state := map[string][]byte{}
	var n int64
	next, idle := int64(0), 0
	for next < end {
		// Bounded polls: should compaction have removed the records just before
		// the end, nothing more arrives; several idle polls in a row mean caught up.
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		fs := cl.PollFetches(pctx)
		cancel()
		if err := ctx.Err(); err != nil {
			return nil, 0, err
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) {
			if pctx.Err() == nil {
				ferr = err
			}
		})
		if ferr != nil {
			return nil, 0, ferr
		}
		if fs.NumRecords() == 0 {
			if idle++; idle >= 5 {
				r.log.Warn("changelog ended before its last stable offset (compacted?); restore stops there",
					"topic", topic, "partition", p, "at", next, "end", end)
				break
			}
			continue
		}
		idle = 0
		fs.EachRecord(func(rec *kgo.Record) {
			if rec.Offset >= end {
				return
			}
			next = max(next, rec.Offset+1)
			if rec.Attrs.IsControl() {
				return
			}
			n++
			if rec.Value == nil {
				delete(state, string(rec.Key))
			} else {
				state[string(rec.Key)] = rec.Value
			}
		})
	}
	return state, n, nil
}

func partitionOffset(ctx context.Context, list func(context.Context, ...string) (kadm.ListedOffsets, error), topic string, p int32) (int64, error) {
	offs, err := list(ctx, topic)
	if err != nil {
		return 0, err
	}
	return listed(offs, topic, p)
}
