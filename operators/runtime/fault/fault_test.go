package fault_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/corb-dev/corb/operators/runtime/fault"
)

func TestClassify(t *testing.T) {
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	for _, tc := range []struct {
		name string
		err  error
		want fault.Kind
	}{
		{"nil", nil, ""},
		// What a broker restart looks like from the client.
		{"dial refused", fmt.Errorf("unable to dial: %w", dial), fault.Unreachable},
		{"connection reset", &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, fault.Unreachable},
		{"EOF mid-request", fmt.Errorf("read: %w", io.EOF), fault.Unreachable},
		{"unexpected EOF", io.ErrUnexpectedEOF, fault.Unreachable},
		{"first read EOF", &kgo.ErrFirstReadEOF{}, fault.Unreachable},
		{"closed connection", net.ErrClosed, fault.Unreachable},
		{"unknown host", &net.DNSError{Err: "no such host", Name: "kafka-3", IsNotFound: true}, fault.Unreachable},
		{"network exception", kerr.NetworkException, fault.Unreachable},
		{"broker not available", kerr.BrokerNotAvailable, fault.Unreachable},
		// Time running out.
		{"deadline", context.DeadlineExceeded, fault.Timeout},
		{"wrapped deadline", fmt.Errorf("end: %w", context.DeadlineExceeded), fault.Timeout},
		{"i/o deadline", os.ErrDeadlineExceeded, fault.Timeout},
		{"request timed out", kerr.RequestTimedOut, fault.Timeout},
		{"record timeout", kgo.ErrRecordTimeout, fault.Timeout},
		{"record retries", kgo.ErrRecordRetries, fault.Timeout},
		{"canceled", context.Canceled, fault.Canceled},
		// The cluster moving things.
		{"coordinator loading", kerr.CoordinatorLoadInProgress, fault.Coordinator},
		{"coordinator not available", kerr.CoordinatorNotAvailable, fault.Coordinator},
		{"not coordinator", kerr.NotCoordinator, fault.Coordinator},
		{"not leader", kerr.NotLeaderForPartition, fault.Leader},
		{"leader not available", kerr.LeaderNotAvailable, fault.Leader},
		{"fenced leader epoch", kerr.FencedLeaderEpoch, fault.Leader},
		{"not enough replicas", kerr.NotEnoughReplicas, fault.Leader},
		{"not enough replicas after append", kerr.NotEnoughReplicasAfterAppend, fault.Leader},
		// Transactions the broker aborted: not a zombie.
		{"invalid producer epoch (timed out transaction)", kerr.InvalidProducerEpoch, fault.Transaction},
		{"producer id failed, wrapping the epoch", fmt.Errorf("producer ID has a fatal, unrecoverable error, err: %w", kerr.InvalidProducerEpoch), fault.Transaction},
		{"invalid producer id mapping", kerr.InvalidProducerIDMapping, fault.Transaction},
		{"unknown producer id", kerr.UnknownProducerID, fault.Transaction},
		{"transaction abortable", kerr.TransactionAbortable, fault.Transaction},
		{"invalid txn state", kerr.InvalidTxnState, fault.Transaction},
		{"concurrent transactions", kerr.ConcurrentTransactions, fault.Transaction},
		{"operation not attempted", kerr.OperationNotAttempted, fault.Transaction},
		{"out of order sequence", kerr.OutOfOrderSequenceNumber, fault.Transaction},
		// The group moving on.
		{"illegal generation", kerr.IllegalGeneration, fault.Rebalance},
		{"unknown member", kerr.UnknownMemberID, fault.Rebalance},
		{"rebalance in progress", kerr.RebalanceInProgress, fault.Rebalance},
		{"stale member epoch", kerr.StaleMemberEpoch, fault.Rebalance},
		// Other Kafka errors.
		{"unstable offset commit", kerr.UnstableOffsetCommit, fault.Broker},
		{"unknown topic", kerr.UnknownTopicOrPartition, fault.Broker},
		{"message too large", kerr.MessageTooLarge, fault.Rejected},
		{"invalid session timeout", kerr.InvalidSessionTimeout, fault.Rejected},
		{"unknown error", errors.New("something else"), fault.Other},
		{"already in a transaction", errors.New("invalid attempt to begin a transaction while already in a transaction"), fault.Other},
		// Fatal: waiting heals none of them.
		{"producer fenced (a newer instance)", kerr.ProducerFenced, fault.Fenced},
		{"producer id failed, fenced", fmt.Errorf("producer ID has a fatal, unrecoverable error, err: %w", kerr.ProducerFenced), fault.Fenced},
		{"fenced instance id", kerr.FencedInstanceID, fault.Fenced},
		{"transactional id not authorized", kerr.TransactionalIDAuthorizationFailed, fault.Denied},
		{"group not authorized", kerr.GroupAuthorizationFailed, fault.Denied},
		{"topic not authorized", kerr.TopicAuthorizationFailed, fault.Denied},
		{"cluster not authorized", kerr.ClusterAuthorizationFailed, fault.Denied},
		{"SASL failed", kerr.SaslAuthenticationFailed, fault.Denied},
		{"client closed", kgo.ErrClientClosed, fault.Closed},
		{"fenced wins over transport noise", errors.Join(io.EOF, kerr.ProducerFenced), fault.Fenced},
		{"closed wins over deadline", errors.Join(context.DeadlineExceeded, kgo.ErrClientClosed), fault.Closed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := fault.Classify(tc.err); got != tc.want {
				t.Errorf("Classify(%v) = %q, want %q", tc.err, got, tc.want)
			}
		})
	}
}

func TestOnlyFencedDeniedAndClosedAreFatal(t *testing.T) {
	for _, k := range []fault.Kind{fault.Unreachable, fault.Timeout, fault.Coordinator, fault.Leader, fault.Transaction,
		fault.Rebalance, fault.Broker, fault.Rejected, fault.Operator, fault.Canceled, fault.Other} {
		if k.Fatal() {
			t.Errorf("%s is fatal; time heals it", k)
		}
	}
	for _, k := range []fault.Kind{fault.Fenced, fault.Denied, fault.Closed} {
		if !k.Fatal() {
			t.Errorf("%s is not fatal", k)
		}
	}
}
