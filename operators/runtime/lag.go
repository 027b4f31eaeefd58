package runtime

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// watchLag tells Hooks.Lagged the lag of the assigned partitions every
// LagInterval until ctx ends. It runs beside the loop so that an idle
// instance, whose poll blocks, reports too: a pipeline that has caught up
// reads 0, not what the last fetch left behind. client is asked each
// round: the committer may replace its client to heal it.
func (r *Runner) watchLag(ctx context.Context, client func() *kgo.Client) {
	t := time.NewTicker(r.cfg.LagInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		lags, err := r.lags(ctx, kadm.NewClient(client()))
		if err != nil {
			// The next round tries again; a broker away for long shows in other ways.
			if ctx.Err() == nil {
				r.log.Debug("measuring consumer lag", "err", err)
			}
			continue
		}
		var total int64
		for _, l := range lags {
			total += l.Lag
		}
		r.stall.lagged(total)
		r.hooks.Lagged(r.member, lags)
	}
}

// lags is, per assigned partition, its end offset less the group's committed
// offset (less its start offset when the group has committed none): what is
// still to be processed and committed, the batch in flight included. When
// one partition cannot be measured the round fails, so that the hooks keep
// the last measure rather than drop the partition's.
func (r *Runner) lags(ctx context.Context, adm *kadm.Client) ([]PartitionLag, error) {
	assigned := r.assignment()
	if len(assigned) == 0 {
		return nil, nil
	}
	topics := slices.Sorted(maps.Keys(assigned))
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return nil, err
	}
	committed, err := adm.FetchOffsets(ctx, r.Group())
	if err != nil {
		return nil, err
	}
	var starts kadm.ListedOffsets
	lags := []PartitionLag{}
	for _, t := range topics {
		for _, p := range assigned[t] {
			end, err := listed(ends, t, p)
			if err != nil {
				return nil, err
			}
			from := int64(-1)
			if c, ok := committed.Lookup(t, p); ok {
				if c.Err != nil {
					return nil, fmt.Errorf("committed offset of %s[%d]: %w", t, p, c.Err)
				}
				from = c.At
			}
			if from < 0 {
				if starts == nil {
					if starts, err = adm.ListStartOffsets(ctx, topics...); err != nil {
						return nil, err
					}
				}
				if from, err = listed(starts, t, p); err != nil {
					return nil, err
				}
			}
			lags = append(lags, PartitionLag{Topic: t, Partition: p, Lag: max(end-from, 0)})
		}
	}
	return lags, nil
}

// listed is the offset of t[p] in offs.
func listed(offs kadm.ListedOffsets, t string, p int32) (int64, error) {
	o, ok := offs.Lookup(t, p)
	switch {
	case !ok:
		return 0, fmt.Errorf("no offset listed for %s[%d]", t, p)
	case o.Err != nil:
		return 0, fmt.Errorf("listing the offsets of %s[%d]: %w", t, p, o.Err)
	}
	return o.Offset, nil
}
