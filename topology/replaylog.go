package topology

// ReplayLogSuffix ends the logical name of a dead-letter topic's replay log:
// "<dlq>.replayed". The log is not declared in the topology: `corb dlq
// replay` creates it (compacted, one partition) the first time it replays
// from that dead-letter topic.
const ReplayLogSuffix = ".replayed"

// ReplayLog is the physical name of the compacted topic that records which
// records of the dead-letter topic dlq (a logical name) were replayed:
// "<namespace>.<dlq>.replayed".
func (n Names) ReplayLog(dlq string) string { return n.Topic(dlq + ReplayLogSuffix) }

// ReplayTransactionalID is the transactional id of the replays of the
// dead-letter topic dlq: "<namespace>.dlq-replay-<dlq>". One id per
// dead-letter topic, so that a replay fences any earlier one still running
// before it reads what was replayed.
func (n Names) ReplayTransactionalID(dlq string) string {
	return n.TransactionalID("dlq-replay", dlq)
}
