package runtime

import (
	"errors"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/corb-dev/corb/operators"
)

// Dead-letter header keys. A dead letter keeps the original key, value and
// headers; these say why and where it came from.
const (
	HeaderError     = "corb.error"
	HeaderReason    = "corb.reason" // panic, exhausted, permanent, undeclared-output: see reason
	HeaderOperator  = "corb.operator"
	HeaderTopic     = "corb.source.topic"
	HeaderPartition = "corb.source.partition"
	HeaderOffset    = "corb.source.offset"
	HeaderTime      = "corb.time"
)

// reason classifies a permanent error for the dead-letter header and metric
// label. A record the match pattern cannot read (Config.Match failing) is
// "permanent"; one whose transient failures (timeouts included) outlived
// its retries is "exhausted".
func reason(err error) string {
	var p *operators.PanicError
	var x *operators.ExhaustedError
	var u *undeclaredOutputError
	switch {
	case errors.As(err, &p):
		return "panic"
	case errors.As(err, &x):
		return "exhausted"
	case errors.As(err, &u):
		return "undeclared-output"
	default:
		return "permanent"
	}
}

// deadLetter builds the record that carries in to the dead-letter topic.
func deadLetter(in *kgo.Record, topic, operator string, err error, now time.Time) *kgo.Record {
	h := make([]kgo.RecordHeader, 0, len(in.Headers)+7)
	h = append(h, in.Headers...)
	h = append(h,
		kgo.RecordHeader{Key: HeaderError, Value: []byte(err.Error())},
		kgo.RecordHeader{Key: HeaderReason, Value: []byte(reason(err))},
		kgo.RecordHeader{Key: HeaderOperator, Value: []byte(operator)},
		kgo.RecordHeader{Key: HeaderTopic, Value: []byte(in.Topic)},
		kgo.RecordHeader{Key: HeaderPartition, Value: []byte(strconv.Itoa(int(in.Partition)))},
		kgo.RecordHeader{Key: HeaderOffset, Value: []byte(strconv.FormatInt(in.Offset, 10))},
		kgo.RecordHeader{Key: HeaderTime, Value: []byte(now.UTC().Format(time.RFC3339Nano))},
	)
	return &kgo.Record{Topic: topic, Key: in.Key, Value: in.Value, Headers: h, Timestamp: in.Timestamp}
}

// Header returns the value of the last header named key, and whether there was one.
func Header(r *kgo.Record, key string) (string, bool) {
	for i := len(r.Headers) - 1; i >= 0; i-- {
		if r.Headers[i].Key == key {
			return string(r.Headers[i].Value), true
		}
	}
	return "", false
}
