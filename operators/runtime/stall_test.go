package runtime

import (
	"errors"
	"testing"
	"time"

	"github.com/corb-dev/corb/operators/runtime/fault"
)

func TestStall(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	refused := errors.New("connection refused")
	type step struct {
		at   time.Duration // from t0
		do   func(s *stall)
		want time.Duration // since, from t0; -1: making progress
		kind fault.Kind
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"a commit ends a fault", []step{
			{0, func(s *stall) { s.joined() }, -1, ""},
			{time.Second, func(s *stall) { s.faulted(fault.Transaction, refused) }, time.Second, fault.Transaction},
			{2 * time.Second, func(s *stall) { s.faulted(fault.Timeout, refused) }, time.Second, fault.Transaction},
			{3 * time.Second, func(s *stall) { s.committed() }, -1, ""},
		}},
		{"no broker answering counts after a second", []step{
			{0, func(s *stall) { s.joined() }, -1, ""},
			{time.Second, func(s *stall) { s.connFailed(refused) }, -1, ""},
			{2 * time.Second, func(s *stall) {}, time.Second, fault.Unreachable},
			{3 * time.Second, func(s *stall) { s.connWorked() }, -1, ""},
		}},
		{"lost partitions: stuck until back in the group and idle", []step{
			{0, func(s *stall) { s.joined() }, -1, ""},
			{time.Second, func(s *stall) { s.lost(errors.New("lost")) }, time.Second, fault.Rebalance},
			{2 * time.Second, func(s *stall) { s.lagged(0); s.settleIdle() }, time.Second, fault.Rebalance}, // out of the group
			{3 * time.Second, func(s *stall) { s.joined(); s.settleIdle() }, time.Second, fault.Rebalance},  // lag measured before the join
			{4 * time.Second, func(s *stall) { s.lagged(0); s.settleIdle() }, -1, ""},
		}},
		{"work waiting: idle does not end the fault", []step{
			{0, func(s *stall) { s.joined() }, -1, ""},
			{time.Second, func(s *stall) { s.faulted(fault.Leader, refused) }, time.Second, fault.Leader},
			{2 * time.Second, func(s *stall) { s.lagged(40); s.settleIdle() }, time.Second, fault.Leader},
		}},
		{"a batch in flight too long", []step{
			{0, func(s *stall) { s.joined(); s.committed(); s.begin() }, -1, ""},
			{29 * time.Second, func(s *stall) {}, -1, ""},
			{30 * time.Second, func(s *stall) {}, 0, fault.Timeout},
			{31 * time.Second, func(s *stall) { s.end(); s.committed() }, -1, ""},
		}},
		{"work waiting with no commit", []step{
			{0, func(s *stall) { s.joined(); s.committed(); s.lagged(10) }, -1, ""},
			{30 * time.Second, func(s *stall) {}, 0, fault.Timeout},
			{31 * time.Second, func(s *stall) { s.committed() }, -1, ""},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := t0
			s := &stall{now: func() time.Time { return now }, after: 30 * time.Second}
			for i, st := range tc.steps {
				now = t0.Add(st.at)
				st.do(s)
				got := s.state()
				switch {
				case st.want < 0 && !got.since.IsZero():
					t.Errorf("step %d: stuck since %v (%s), want progress", i, got.since.Sub(t0), got.kind)
				case st.want >= 0 && (got.since.IsZero() || got.since.Sub(t0) != st.want || got.kind != st.kind):
					t.Errorf("step %d: since %v (%s), want %v (%s)", i, got.since.Sub(t0), got.kind, st.want, st.kind)
				}
			}
		})
	}
}
