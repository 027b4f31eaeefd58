// Package fault tells the faults a Kafka client meets apart — those time
// heals (a broker restarting, a leader or coordinator moving, a
// transaction the broker aborted) from those it never will (fenced by a
// newer instance, not authorized) — and logs them at a bounded rate, so
// that an outage reads as a few lines with counts, not a line per retry.
package fault

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"syscall"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Kind names a class of fault: the label of the faults counter and the
// subject of its log lines.
type Kind string

// The kinds of fault. Only Fenced, Denied and Closed are fatal: the others
// are healed by waiting and trying again (see Kind.Fatal).
const (
	// Unreachable: no connection to a broker — refused, reset, closed
	// mid-request, a dial timing out, a name that does not resolve.
	Unreachable Kind = "unreachable"
	// Timeout: a request, or the client's retries of it, ran out of time.
	Timeout Kind = "timeout"
	// Coordinator: the group or transaction coordinator is moving or
	// still loading its state (after a broker restart, say).
	Coordinator Kind = "coordinator"
	// Leader: partition leadership is moving, or too few replicas are in sync.
	Leader Kind = "leader"
	// Transaction: the broker aborted the transaction or no longer knows the
	// producer (a transaction timeout, an epoch bumped by the coordinator):
	// abort, initialize the producer again and redo the batch.
	Transaction Kind = "transaction"
	// Rebalance: the group moved on without this member (a new
	// generation, a member the coordinator forgot).
	Rebalance Kind = "rebalance"
	// Broker: any other error Kafka itself calls retriable.
	Broker Kind = "broker"
	// Rejected: a Kafka error that is neither retriable nor fatal (a record
	// too large, an invalid request). Retrying cannot succeed until
	// someone fixes the cause, but nothing is lost by waiting: it is
	// retried, and shows as stuck.
	Rejected Kind = "rejected"
	// Operator: the hosted operator's own transient failure.
	Operator Kind = "operator"
	// Canceled: a context was canceled: shutdown, if it is ours.
	Canceled Kind = "canceled"
	// Other is anything not recognised above; it is retried.
	Other Kind = "other"

	// Fenced: a newer instance with the same transactional id took over.
	// This one is a zombie and must stop. Fatal.
	Fenced Kind = "fenced"
	// Denied: not authorized, or not authenticated. Fatal.
	Denied Kind = "denied"
	// Closed: the client was closed under the caller. Fatal.
	Closed Kind = "closed"
)

// Fatal reports whether waiting cannot heal a fault of kind k.
func (k Kind) Fatal() bool { return k == Fenced || k == Denied || k == Closed }

// Classify returns the kind of err; "" for nil. Fatal kinds win over
// others when err joins several errors.
func Classify(err error) Kind {
	if err == nil {
		return ""
	}
	// Fatal first: a fenced producer's errors also wrap transport noise.
	switch {
	case errors.Is(err, kerr.ProducerFenced), errors.Is(err, kerr.FencedInstanceID),
		errors.Is(err, kerr.TransactionCoordinatorFenced):
		return Fenced
	case errors.Is(err, kerr.TransactionalIDAuthorizationFailed), errors.Is(err, kerr.GroupAuthorizationFailed),
		errors.Is(err, kerr.TopicAuthorizationFailed), errors.Is(err, kerr.ClusterAuthorizationFailed),
		errors.Is(err, kerr.SaslAuthenticationFailed), errors.Is(err, kerr.DelegationTokenAuthorizationFailed):
		return Denied
	case errors.Is(err, kgo.ErrClientClosed):
		return Closed
	}
	if ke, ok := errors.AsType[*kerr.Error](err); ok {
		return classifyKafka(ke)
	}
	switch {
	case errors.Is(err, context.Canceled):
		return Canceled
	case errors.Is(err, kgo.ErrRecordTimeout), errors.Is(err, kgo.ErrRecordRetries):
		return Timeout
	}
	if unreachable(err) {
		return Unreachable
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return Timeout
	}
	return Other
}

func classifyKafka(ke *kerr.Error) Kind {
	switch ke {
	case kerr.InvalidProducerEpoch, kerr.InvalidProducerIDMapping, kerr.UnknownProducerID,
		kerr.TransactionAbortable, kerr.InvalidTxnState, kerr.ConcurrentTransactions,
		kerr.OperationNotAttempted, kerr.OutOfOrderSequenceNumber, kerr.DuplicateSequenceNumber:
		return Transaction
	case kerr.CoordinatorLoadInProgress, kerr.CoordinatorNotAvailable, kerr.NotCoordinator:
		return Coordinator
	case kerr.NotLeaderForPartition, kerr.LeaderNotAvailable, kerr.FencedLeaderEpoch, kerr.UnknownLeaderEpoch,
		kerr.NotEnoughReplicas, kerr.NotEnoughReplicasAfterAppend, kerr.ReplicaNotAvailable,
		kerr.PreferredLeaderNotAvailable, kerr.EligibleLeadersNotAvailable, kerr.NotController,
		kerr.KafkaStorageError:
		return Leader
	case kerr.IllegalGeneration, kerr.UnknownMemberID, kerr.RebalanceInProgress, kerr.StaleMemberEpoch,
		kerr.GroupIDNotFound:
		return Rebalance
	case kerr.RequestTimedOut:
		return Timeout
	case kerr.NetworkException, kerr.BrokerNotAvailable:
		return Unreachable
	}
	if ke.Retriable {
		return Broker
	}
	return Rejected
}

// unreachable reports transport failures: the connection could not be
// made, or broke.
func unreachable(err error) bool {
	if _, ok := errors.AsType[*net.OpError](err); ok {
		return true
	}
	if _, ok := errors.AsType[*net.DNSError](err); ok {
		return true
	}
	if _, ok := errors.AsType[*kgo.ErrFirstReadEOF](err); ok {
		return true
	}
	for _, e := range []error{io.EOF, io.ErrUnexpectedEOF, net.ErrClosed, syscall.ECONNREFUSED,
		syscall.ECONNRESET, syscall.ECONNABORTED, syscall.EPIPE, syscall.EHOSTUNREACH, syscall.ENETUNREACH} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
