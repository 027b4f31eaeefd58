package runtime

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// watchLag tells Hooks.Lagged the lag of the assigned partitions every
// LagInterval until ctx ends. It runs beside the loop so that an idle
// instance, whose poll blocks, reports too: a pipeline that has caught up
// reads 0, not what the last fetch left behind.
func (r *Runner) watchLag(ctx context.Context, cl *kgo.Client) {
	adm := kadm.NewClient(cl)
	t := time.NewTicker(r.cfg.LagInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		lags, err := r.lags(ctx, adm)
		if err != nil {
			// The next round tries again; a broker away for long shows in other ways.
			if ctx.Err() == nil {
				r.log.Debug("measuring consumer lag", "err", err)
			}
			continue
		}
		r.hooks.Lagged(r.member, lags)
	}
}

// lags is, per assigned partition, its end offset less the group's committed
// offset (less its start offset when the group has committed none): what is
// still to be processed and committed, the batch in flight included. A
// partition whose offsets cannot be listed this time is left out.
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
			end, ok := ends.Lookup(t, p)
			if !ok || end.Err != nil {
				continue
			}
			from := int64(-1)
			if c, ok := committed.Lookup(t, p); ok && c.Err == nil {
				from = c.At
			}
			if from < 0 {
				if starts == nil {
					if starts, err = adm.ListStartOffsets(ctx, topics...); err != nil {
						return nil, err
					}
				}
				start, ok := starts.Lookup(t, p)
				if !ok || start.Err != nil {
					continue
				}
				from = start.Offset
			}
			lags = append(lags, PartitionLag{Topic: t, Partition: p, Lag: max(end.Offset-from, 0)})
		}
	}
	return lags, nil
}
