// Package dlq reads dead-letter topics back and re-drives their records:
// what `corb dlq list|show|replay` does.
//
// A dead letter (operators/runtime) is the failed record's key, value,
// timestamp and headers, with corb.* headers saying why it failed (reason,
// error, operator, time) and where it came from (source topic, partition and
// offset). Parse reads those headers; Summarize groups a topic's dead
// letters by operator and reason; Each iterates the ones a Filter selects.
//
// Replay re-drives dead letters to their source topic, the failed
// operator's input, exactly once. The replayed record is the original one:
// the key, value, timestamp and headers it had, on the partition it was
// read from, with the dead-letter headers removed and HeaderReplayedFrom
// naming the dead letter. Each batch of replayed records is written in one
// Kafka transaction together with one marker per record in the dead-letter
// topic's replay log (topology.Names.ReplayLog, compacted, keyed by the
// dead letter's Ref), under a transactional id of its own per dead-letter
// topic. A replay first initialises that id, which fences any earlier
// replay of the topic and ends its open transaction, then reads the replay
// log to its end: a record with a marker is skipped, never sent twice, and
// a batch whose transaction did not commit left neither records nor markers,
// so running the replay again sends exactly what is missing.
package dlq
