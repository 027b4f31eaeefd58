package dlq

import (
	"fmt"
	"slices"
	"strings"
)

// Filter selects dead letters. The zero Filter selects every one.
type Filter struct {
	// Partitions of the dead-letter topic to read; nil: all.
	Partitions []int32
	// From and Until bound the dead letters' offsets in every partition
	// read: From ≤ offset < Until. Until 0: no upper bound.
	From, Until int64
	// Operator, when set, is the corb.operator a letter must name.
	Operator string
	// Reason, when set, must occur in the letter's corb.reason or corb.error,
	// ignoring case ("exhausted", "unknown zone").
	Reason string
	// Limit stops after this many selected letters; 0: no limit.
	Limit int
}

// Check reports a filter no letter could pass for a reason of its own
// making: negative offsets or limit, an empty offset range.
func (f Filter) Check() error {
	switch {
	case f.From < 0:
		return fmt.Errorf("dlq: from offset %d: want 0 or more", f.From)
	case f.Until < 0 || f.Until > 0 && f.Until <= f.From:
		return fmt.Errorf("dlq: offsets %d..%d: an empty range", f.From, f.Until-1)
	case f.Limit < 0:
		return fmt.Errorf("dlq: limit %d: want 0 (none) or more", f.Limit)
	}
	for _, p := range f.Partitions {
		if p < 0 {
			return fmt.Errorf("dlq: partition %d: want 0 or more", p)
		}
	}
	return nil
}

// wantPartition reports whether partition p is read.
func (f Filter) wantPartition(p int32) bool {
	return len(f.Partitions) == 0 || slices.Contains(f.Partitions, p)
}

// bounds narrows a partition's [start, end) to the filter's offsets.
func (f Filter) bounds(start, end int64) (int64, int64) {
	start = max(start, f.From)
	if f.Until > 0 {
		end = min(end, f.Until)
	}
	return start, end
}

// Match reports whether l passes the filter's operator and reason (its
// offsets and partitions are applied when reading).
func (f Filter) Match(l *Letter) bool {
	if f.Operator != "" && l.Operator != f.Operator {
		return false
	}
	if f.Reason != "" {
		r := strings.ToLower(f.Reason)
		if !strings.Contains(strings.ToLower(l.Reason), r) && !strings.Contains(strings.ToLower(l.Error), r) {
			return false
		}
	}
	return true
}
