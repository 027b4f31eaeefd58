package dlq

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Summary is what a dead-letter topic holds.
type Summary struct {
	Topic   string `json:"topic"` // physical
	Letters int    `json:"letters"`
	// Replayed counts the letters the replay log marks replayed.
	Replayed int `json:"replayed"`
	// Unreadable counts records without readable source headers: not
	// dead letters of the Corb runtime, and not replayable.
	Unreadable int                `json:"unreadable"`
	Partitions []PartitionSummary `json:"partitions"`
	// First and Last are the earliest and latest failure times (corb.time,
	// else the record's timestamp); zero when there are no letters.
	First time.Time `json:"first,omitzero"`
	Last  time.Time `json:"last,omitzero"`
	// ByOperator and ByReason count the letters.
	ByOperator map[string]int `json:"by_operator"`
	ByReason   map[string]int `json:"by_reason"`
	// Groups count the letters by operator and reason, most letters first.
	Groups []Group `json:"groups"`
}

// PartitionSummary is one partition of a dead-letter topic.
type PartitionSummary struct {
	Partition int32 `json:"partition"`
	Letters   int   `json:"letters"`
	// First and Last are the offsets of its first and last letter (-1: none).
	First int64 `json:"first_offset"`
	Last  int64 `json:"last_offset"`
	// Start and End are the partition's offsets: its first one kept, and
	// the end of what is committed (read_committed's last stable offset).
	Start int64 `json:"start"`
	End   int64 `json:"end"`
}

// Group is the letters of one operator failing for one reason.
type Group struct {
	Operator string `json:"operator"`
	Reason   string `json:"reason"`
	Letters  int    `json:"letters"`
	Replayed int    `json:"replayed"`
	// Error is the most frequent corb.error of the group (the first met
	// among equals), Errors how many distinct ones there are.
	Error  string    `json:"error"`
	Errors int       `json:"errors"`
	First  time.Time `json:"first,omitzero"`
	Last   time.Time `json:"last,omitzero"`
}

// Summarize reads the whole dead-letter topic (a physical name) and its
// replay log (log; "" or a missing topic: none) and counts what they hold.
func Summarize(ctx context.Context, cfg Config, topic, log string) (Summary, error) {
	cl, err := cfg.client()
	if err != nil {
		return Summary{}, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	info, err := describe(ctx, adm, topic)
	if err != nil {
		return Summary{}, err
	}
	var done Log
	if log != "" {
		if done, err = loadLog(ctx, cfg, adm, log, topic, info.id); err != nil {
			return Summary{}, err
		}
	}
	s := Summary{Topic: topic, ByOperator: map[string]int{}, ByReason: map[string]int{}, Groups: []Group{}}
	parts := map[int32]*PartitionSummary{}
	for _, p := range info.partitions() {
		parts[p] = &PartitionSummary{Partition: p, First: -1, Last: -1, Start: info.start[p], End: info.end[p]}
	}
	type key struct{ op, reason string }
	groups := map[key]*Group{}
	errs := map[key]map[string]int{}
	var order []key
	err = cfg.read(ctx, topic, info, Filter{}, func(rec *kgo.Record) error {
		l := Parse(rec)
		s.Letters++
		ps := parts[rec.Partition]
		ps.Letters++
		if ps.First < 0 {
			ps.First = rec.Offset
		}
		ps.Last = rec.Offset
		if !l.Replayable() {
			s.Unreadable++
		}
		_, replayed := done.Markers[l.Ref()]
		if replayed {
			s.Replayed++
		}
		s.ByOperator[l.Operator]++
		s.ByReason[l.Reason]++
		k := key{l.Operator, l.Reason}
		g := groups[k]
		if g == nil {
			g = &Group{Operator: l.Operator, Reason: l.Reason}
			groups[k], errs[k] = g, map[string]int{}
			order = append(order, k)
		}
		g.Letters++
		if replayed {
			g.Replayed++
		}
		if errs[k][l.Error]++; errs[k][l.Error] > errs[k][g.Error] || g.Letters == 1 {
			g.Error = l.Error
		}
		t := l.Time()
		g.First, g.Last = earliest(g.First, t), latest(g.Last, t)
		s.First, s.Last = earliest(s.First, t), latest(s.Last, t)
		return nil
	})
	if err != nil {
		return Summary{}, err
	}
	for _, p := range slices.Sorted(maps.Keys(parts)) {
		s.Partitions = append(s.Partitions, *parts[p])
	}
	for _, k := range order {
		g := groups[k]
		g.Errors = len(errs[k])
		s.Groups = append(s.Groups, *g)
	}
	slices.SortStableFunc(s.Groups, func(a, b Group) int { return cmp.Compare(b.Letters, a.Letters) })
	return s, nil
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
