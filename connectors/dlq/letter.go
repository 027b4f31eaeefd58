package dlq

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/corb-dev/corb/operators/runtime"
)

// HeaderReplayedFrom is added to a replayed record: the Ref of the dead
// letter it was replayed from, "<dlq topic>/<partition>/<offset>".
const HeaderReplayedFrom = "corb.replayed-from"

// isDeadLetterHeader reports whether key is one of the headers the runtime
// adds to a dead letter.
func isDeadLetterHeader(key string) bool {
	switch key {
	case runtime.HeaderError, runtime.HeaderReason, runtime.HeaderOperator, runtime.HeaderTopic,
		runtime.HeaderPartition, runtime.HeaderOffset, runtime.HeaderTime:
		return true
	}
	return false
}

// OriginalHeaders are the failed record's own headers: the letter's,
// without the last of each header the runtime adds (it appends them after
// the record's own, which may hold the same keys when the record was a dead
// letter itself). Earlier corb.replayed-from headers stay: they tell the
// record's history.
func OriginalHeaders(rec *kgo.Record) []kgo.RecordHeader {
	drop := make([]bool, len(rec.Headers))
	seen := map[string]bool{}
	for i := len(rec.Headers) - 1; i >= 0; i-- {
		k := rec.Headers[i].Key
		if isDeadLetterHeader(k) && !seen[k] {
			seen[k], drop[i] = true, true
		}
	}
	out := make([]kgo.RecordHeader, 0, len(rec.Headers))
	for i, h := range rec.Headers {
		if !drop[i] {
			out = append(out, h)
		}
	}
	return out
}

// Ref names one record of a topic: "<topic>/<partition>/<offset>". Topic
// names cannot hold '/', so the form reads back unambiguously.
type Ref struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
}

func (r Ref) String() string { return fmt.Sprintf("%s/%d/%d", r.Topic, r.Partition, r.Offset) }

// ErrRef is wrapped by ParseRef's errors.
var ErrRef = errors.New("not a topic/partition/offset")

// ParseRef reads a Ref written by Ref.String.
func ParseRef(s string) (Ref, error) {
	i := strings.LastIndexByte(s, '/')
	if i < 0 {
		return Ref{}, fmt.Errorf("%w: %q", ErrRef, s)
	}
	j := strings.LastIndexByte(s[:i], '/')
	if j < 0 {
		return Ref{}, fmt.Errorf("%w: %q", ErrRef, s)
	}
	topic := s[:j]
	p, errP := parsePartition(s[j+1 : i])
	o, errO := parseOffset(s[i+1:])
	if err := errors.Join(checkTopic(topic), errP, errO); err != nil {
		return Ref{}, fmt.Errorf("%w: %q: %w", ErrRef, s, err)
	}
	return Ref{Topic: topic, Partition: p, Offset: o}, nil
}

// Letter is a record of a dead-letter topic and what its corb.* headers say.
type Letter struct {
	// Record is the dead letter as read: its topic is the dead-letter
	// topic's physical name, its headers the original ones and the corb.* ones.
	Record *kgo.Record
	// Reason is corb.reason: permanent, panic, exhausted, undeclared-output.
	Reason string
	// Operator is corb.operator: the operator that failed.
	Operator string
	// Error is corb.error: the error it failed with.
	Error string
	// Source is where the failed record was read: its topic (the physical
	// name of the operator's input), partition and offset.
	Source Ref
	// FailedAt is corb.time, when it was dead-lettered; zero when missing
	// or not an RFC 3339 time.
	FailedAt time.Time
	// Problems say why the letter cannot be replayed: a source header that
	// is missing or unreadable. Empty when it can be.
	Problems []string
}

// Ref is where the dead letter itself is.
func (l *Letter) Ref() Ref {
	return Ref{Topic: l.Record.Topic, Partition: l.Record.Partition, Offset: l.Record.Offset}
}

// Replayable reports whether the letter says where it came from.
func (l *Letter) Replayable() bool { return len(l.Problems) == 0 }

// Time is when the letter failed: FailedAt, else the record's timestamp.
func (l *Letter) Time() time.Time {
	if !l.FailedAt.IsZero() {
		return l.FailedAt
	}
	return l.Record.Timestamp
}

// Parse reads the corb.* headers of a dead letter. It never fails: what is
// missing or unreadable is in Problems (for the source headers, which a
// replay needs) or left empty (reason, operator, error, time).
func Parse(rec *kgo.Record) Letter {
	h := func(k string) (string, bool) { return runtime.Header(rec, k) }
	l := Letter{Record: rec}
	l.Reason, _ = h(runtime.HeaderReason)
	l.Operator, _ = h(runtime.HeaderOperator)
	l.Error, _ = h(runtime.HeaderError)
	if s, ok := h(runtime.HeaderTime); ok {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			l.FailedAt = t
		}
	}
	problem := func(key string, err error) {
		l.Problems = append(l.Problems, fmt.Sprintf("header %s: %v", key, err))
	}
	topic, ok := h(runtime.HeaderTopic)
	switch {
	case !ok:
		problem(runtime.HeaderTopic, errMissing)
	default:
		if err := checkTopic(topic); err != nil {
			problem(runtime.HeaderTopic, err)
		}
		l.Source.Topic = topic
	}
	if s, ok := h(runtime.HeaderPartition); !ok {
		problem(runtime.HeaderPartition, errMissing)
	} else if p, err := parsePartition(s); err != nil {
		problem(runtime.HeaderPartition, err)
	} else {
		l.Source.Partition = p
	}
	if s, ok := h(runtime.HeaderOffset); !ok {
		problem(runtime.HeaderOffset, errMissing)
	} else if o, err := parseOffset(s); err != nil {
		problem(runtime.HeaderOffset, err)
	} else {
		l.Source.Offset = o
	}
	return l
}

var errMissing = errors.New("missing: not a dead letter of the Corb runtime")

// Replay is the record to re-drive: the original key, value, timestamp and
// headers (OriginalHeaders), on the source topic and partition, with
// HeaderReplayedFrom naming the letter appended. The letter must be
// Replayable.
func (l *Letter) Replay() *kgo.Record {
	in := l.Record
	h := append(OriginalHeaders(in), kgo.RecordHeader{Key: HeaderReplayedFrom, Value: []byte(l.Ref().String())})
	return &kgo.Record{
		Topic: l.Source.Topic, Partition: l.Source.Partition,
		Key: in.Key, Value: in.Value, Headers: h, Timestamp: in.Timestamp,
	}
}

// checkTopic accepts the names Kafka accepts: 1 to 249 of [a-zA-Z0-9._-],
// not "." or "..".
func checkTopic(s string) error {
	switch {
	case s == "":
		return errors.New("empty topic name")
	case len(s) > 249:
		return fmt.Errorf("topic name of %d characters (at most 249)", len(s))
	case s == "." || s == "..":
		return fmt.Errorf("topic name %q", s)
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("topic name %q: character %q", s, c)
		}
	}
	return nil
}

func parsePartition(s string) (int32, error) {
	p, err := strconv.ParseInt(s, 10, 32)
	if err != nil || p < 0 || s != strconv.FormatInt(p, 10) {
		return 0, fmt.Errorf("partition %q: want a number 0..%d", s, int32(^uint32(0)>>1))
	}
	return int32(p), nil
}

func parseOffset(s string) (int64, error) {
	o, err := strconv.ParseInt(s, 10, 64)
	if err != nil || o < 0 || s != strconv.FormatInt(o, 10) {
		return 0, fmt.Errorf("offset %q: want a number 0 or more", s)
	}
	return o, nil
}
