package runtime

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/corb-dev/corb/operators/runtime/fault"
)

// errNotJoined is why an instance that has not yet been given an
// assignment is not ready.
var errNotJoined = errors.New("not yet in its consumer group")

// unreachableGrace is how long no broker may answer before an instance
// counts as stuck: one failed dial that the next try heals is no outage.
const unreachableGrace = time.Second

// stall keeps what tells whether an instance makes progress: the faults
// its loop met since its last commit, whether any broker answers, the batch
// in flight and the work waiting (lag). The loop, the client's hooks, the
// lag watcher and the watchdog report to it; Runner.Health and the
// Stalled hooks read it. Safe for concurrent use.
type stall struct {
	now   func() time.Time
	after time.Duration // Config.StallTimeout

	mu sync.Mutex
	// fault is the first fault of the loop since its last commit (zero:
	// none), kind and err that fault.
	fault     time.Time
	faultKind fault.Kind
	faultErr  error
	faults    int
	// lastCommit is the last commit, or when the instance first joined.
	lastCommit time.Time
	inFlight   time.Time // start of the batch in flight; zero between batches
	// unreachable is the first connection error since a broker last
	// answered (zero: the last attempt worked); unreachableErr its latest error.
	unreachable    time.Time
	unreachableErr error
	// lag is the work waiting at the last measure, taken at lagAt.
	lag   int64
	lagAt time.Time
	// out: the member lost its partitions and has not been given an
	// assignment since; joinedAt is its last assignment.
	out      bool
	joinedAt time.Time
}

// stallState is whether an instance makes progress: a zero since means it
// does; otherwise since when not, and the fault that stopped it.
type stallState struct {
	since time.Time
	kind  fault.Kind
	err   error
}

func (s *stall) faulted(kind fault.Kind, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fault.IsZero() {
		s.fault, s.faultKind, s.faultErr = s.now(), kind, err
	}
	s.faults++
}

// committed records a commit: whatever fault came before is over.
func (s *stall) committed() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastCommit = s.now()
	s.fault, s.faultKind, s.faultErr, s.faults = time.Time{}, "", nil, 0
}

// joined records an assignment (franz-go reports one after every join,
// empty or not).
func (s *stall) joined() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.joinedAt, s.out = s.now(), false
	if s.lastCommit.IsZero() {
		s.lastCommit = s.joinedAt
	}
}

// lost records a member out of its group: a fault until it is back and
// has committed, or has nothing to do.
func (s *stall) lost(err error) {
	s.faulted(fault.Rebalance, err)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.out = true
}

func (s *stall) begin() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inFlight = s.now()
}

func (s *stall) end() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inFlight = time.Time{}
}

func (s *stall) connFailed(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.unreachable.IsZero() {
		s.unreachable = s.now()
	}
	s.unreachableErr = err
}

// connWorked reports whether the brokers were unreachable until now.
func (s *stall) connWorked() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	was := !s.unreachable.IsZero()
	s.unreachable, s.unreachableErr = time.Time{}, nil
	return was
}

func (s *stall) lagged(lag int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lag, s.lagAt = lag, s.now()
}

// settleIdle forgets the loop's fault once the instance is idle again: in
// its group, nothing in flight and nothing waiting, measured after the
// fault and after its last assignment. An instance left with no work after
// recovering has nothing to commit.
func (s *stall) settleIdle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.fault.IsZero() && !s.out && s.inFlight.IsZero() && s.lag == 0 &&
		s.lagAt.After(s.fault) && s.lagAt.After(s.joinedAt) && s.unreachable.IsZero() {
		s.fault, s.faultKind, s.faultErr, s.faults = time.Time{}, "", nil, 0
	}
}

// state is whether the instance makes progress now. It does not when its
// loop met a fault and has not committed since; when no broker has
// answered for unreachableGrace; when a batch has been in flight for
// StallTimeout; or when work has waited StallTimeout since the last
// commit. since is the earliest of those that hold.
func (s *stall) state() stallState {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	var st stallState
	consider := func(since time.Time, kind fault.Kind, err error) {
		if st.since.IsZero() || since.Before(st.since) {
			st = stallState{since: since, kind: kind, err: err}
		}
	}
	if !s.fault.IsZero() {
		consider(s.fault, s.faultKind, s.faultErr)
	}
	if !s.unreachable.IsZero() && now.Sub(s.unreachable) >= unreachableGrace {
		consider(s.unreachable, fault.Unreachable, s.unreachableErr)
	}
	if !s.inFlight.IsZero() && now.Sub(s.inFlight) >= s.after {
		consider(s.inFlight, fault.Timeout, fmt.Errorf("a batch has been in flight for %s", round(now.Sub(s.inFlight))))
	}
	if s.lag > 0 && !s.lastCommit.IsZero() && now.Sub(s.lastCommit) >= s.after {
		consider(s.lastCommit, fault.Timeout, fmt.Errorf("%d records waiting and no commit for %s", s.lag, round(now.Sub(s.lastCommit))))
	}
	return st
}

func round(d time.Duration) time.Duration {
	if d >= 10*time.Second {
		return d.Round(time.Second)
	}
	return d.Round(100 * time.Millisecond)
}

// Health is nil while the instance is in its group and makes progress;
// otherwise it says why not: not yet joined, or stuck since when and on
// what. /readyz reports it.
func (r *Runner) Health() error {
	if !r.ready.Load() {
		return errNotJoined
	}
	st := r.stall.state()
	if st.since.IsZero() {
		return nil
	}
	return fmt.Errorf("no progress for %s (%s): %w", round(r.stall.now().Sub(st.since)), st.kind, st.err)
}

// Ready reports whether the instance has joined its group and makes
// progress: false before its first assignment, and while a fault keeps it
// from committing (see Health).
func (r *Runner) Ready() bool { return r.Health() == nil }

// watchStall tells the Stalled hooks and the log when the instance stops
// and starts making progress, and sums up the fault log, every second
// until ctx ends.
func (r *Runner) watchStall(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var since time.Time // what the hooks were last told
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r.stall.settleIdle()
		st := r.stall.state()
		switch {
		case st.since.Equal(since):
		case st.since.IsZero():
			stuck := r.stall.now().Sub(since)
			r.log.Info("making progress again", "after", round(stuck))
			r.hooks.Stalled(r.member, Stall{Stuck: stuck})
		default:
			if since.IsZero() {
				r.log.Warn("not making progress; retrying until the cluster is back", "since", st.since.Format(time.RFC3339),
					"fault", st.kind, "err", st.err)
			}
			r.hooks.Stalled(r.member, Stall{Since: st.since, Kind: st.kind, Err: st.err})
		}
		since = st.since
		r.faults.Flush()
	}
}

// connHooks watch the connections of the instance's clients: a failed
// dial counts as a fault (unreachable), a request that worked ends the
// outage.
type connHooks struct{ r *Runner }

var (
	_ kgo.HookBrokerConnect = connHooks{}
	_ kgo.HookBrokerE2E     = connHooks{}
)

func (h connHooks) OnBrokerConnect(_ kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	if err != nil {
		h.failed(err)
		return
	}
	h.worked()
}

func (h connHooks) OnBrokerE2E(_ kgo.BrokerMetadata, _ int16, e2e kgo.BrokerE2E) {
	err := e2e.Err()
	switch {
	case err == nil:
		h.worked()
	case fault.Classify(err) == fault.Unreachable:
		h.failed(err)
	}
}

func (h connHooks) worked() {
	h.r.stall.connWorked()
	h.r.faults.Resolved(unreachableKey, "broker reachable again", unreachableGrace)
}

func (h connHooks) failed(err error) {
	h.r.stall.connFailed(err)
	h.r.hooks.Faulted(h.r.member, Fault{Kind: fault.Unreachable, Err: err})
}
