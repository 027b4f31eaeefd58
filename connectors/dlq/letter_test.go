package dlq_test

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/corb-dev/corb/connectors/dlq"
	"github.com/corb-dev/corb/operators/runtime"
)

// letter is a dead letter as the runtime writes it: the record's own
// headers, then the seven corb.* ones.
func letter(dlqTopic string, p int32, off int64, src dlq.Ref, key, value string, operator, reason, errText string, own ...string) *kgo.Record {
	r := &kgo.Record{Topic: dlqTopic, Partition: p, Offset: off, Value: []byte(value),
		Timestamp: time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)}
	if key != "" {
		r.Key = []byte(key)
	}
	for i := 0; i+1 < len(own); i += 2 {
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: own[i], Value: []byte(own[i+1])})
	}
	h := func(k, v string) { r.Headers = append(r.Headers, kgo.RecordHeader{Key: k, Value: []byte(v)}) }
	h(runtime.HeaderError, errText)
	h(runtime.HeaderReason, reason)
	h(runtime.HeaderOperator, operator)
	h(runtime.HeaderTopic, src.Topic)
	h(runtime.HeaderPartition, itoa(int64(src.Partition)))
	h(runtime.HeaderOffset, itoa(src.Offset))
	h(runtime.HeaderTime, "2026-05-01T08:00:01.5Z")
	return r
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestParseReadsTheRuntimesHeaders(t *testing.T) {
	src := dlq.Ref{Topic: "site.zone-counts", Partition: 3, Offset: 17}
	l := dlq.Parse(letter("site.zone-counts-dlq", 0, 5, src, "kitchen", "v", "presence", "permanent",
		`presence: unknown zone: "kitchen"`, "trace", "t-1"))
	if !l.Replayable() || l.Source != src || l.Operator != "presence" || l.Reason != "permanent" ||
		l.Error != `presence: unknown zone: "kitchen"` || !l.FailedAt.Equal(time.Date(2026, 5, 1, 8, 0, 1, 5e8, time.UTC)) {
		t.Fatalf("Parse = %+v", l)
	}
	if got := l.Ref(); got != (dlq.Ref{Topic: "site.zone-counts-dlq", Partition: 0, Offset: 5}) {
		t.Fatalf("Ref = %v", got)
	}
}

func TestParseSaysWhatIsMissing(t *testing.T) {
	for _, c := range []struct {
		name    string
		headers []string
		want    []string // in Problems
	}{
		{"no headers", nil, []string{"corb.source.topic: missing", "corb.source.partition: missing", "corb.source.offset: missing"}},
		{"bad partition", []string{runtime.HeaderTopic, "in", runtime.HeaderPartition, "-1", runtime.HeaderOffset, "4"}, []string{"partition \"-1\""}},
		{"bad offset", []string{runtime.HeaderTopic, "in", runtime.HeaderPartition, "0", runtime.HeaderOffset, "04"}, []string{"offset \"04\""}},
		{"bad topic", []string{runtime.HeaderTopic, "a/b", runtime.HeaderPartition, "0", runtime.HeaderOffset, "4"}, []string{"character '/'"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := &kgo.Record{Topic: "dlq"}
			for i := 0; i+1 < len(c.headers); i += 2 {
				r.Headers = append(r.Headers, kgo.RecordHeader{Key: c.headers[i], Value: []byte(c.headers[i+1])})
			}
			l := dlq.Parse(r)
			if l.Replayable() {
				t.Fatal("replayable")
			}
			all := strings.Join(l.Problems, "; ")
			for _, w := range c.want {
				if !strings.Contains(all, w) {
					t.Errorf("problems %q lack %q", all, w)
				}
			}
		})
	}
}

// The replayed record is the original: key, value, timestamp, its own
// headers (an earlier dead-lettering's included), on its source partition,
// with corb.replayed-from naming the letter.
func TestReplayIsTheOriginalRecord(t *testing.T) {
	src := dlq.Ref{Topic: "site.in", Partition: 2, Offset: 9}
	rec := letter("site.dlq", 1, 40, src, "k", "value", "op", "exhausted", "timeout",
		"trace", "t-1", runtime.HeaderReason, "panic") // a record that was a dead letter once
	l := dlq.Parse(rec)
	out := l.Replay()
	if out.Topic != "site.in" || out.Partition != 2 || string(out.Key) != "k" || string(out.Value) != "value" || !out.Timestamp.Equal(rec.Timestamp) {
		t.Fatalf("replayed %+v", out)
	}
	var keys []string
	for _, h := range out.Headers {
		keys = append(keys, h.Key+"="+string(h.Value))
	}
	want := []string{"trace=t-1", runtime.HeaderReason + "=panic", dlq.HeaderReplayedFrom + "=site.dlq/1/40"}
	if !slices.Equal(keys, want) {
		t.Fatalf("headers %q, want %q", keys, want)
	}
	if l.Reason != "exhausted" {
		t.Fatalf("reason %q: the last corb.reason is the letter's", l.Reason)
	}
}

func TestParseRef(t *testing.T) {
	for _, s := range []string{"site.zone-counts-dlq/0/5", "a/2147483647/9223372036854775807"} {
		r, err := dlq.ParseRef(s)
		if err != nil || r.String() != s {
			t.Errorf("ParseRef(%q) = %v, %v", s, r, err)
		}
	}
	for _, s := range []string{"", "a", "a/1", "/1/2", "a/b/1/2", "a/-1/2", "a/1/+2", "a/01/2", "a/2147483648/0", "a b/1/2"} {
		if r, err := dlq.ParseRef(s); !errors.Is(err, dlq.ErrRef) {
			t.Errorf("ParseRef(%q) = %v, %v; want ErrRef", s, r, err)
		}
	}
}

func TestDecodeMarker(t *testing.T) {
	m, ok, err := dlq.DecodeMarker([]byte("d/0/3"), []byte(`{"from":{"topic":"d","partition":0,"offset":3},"to":{"topic":"in","partition":1,"offset":8},"replayed_at":"2026-05-01T08:00:00Z"}`))
	if err != nil || !ok || m.To != (dlq.Ref{Topic: "in", Partition: 1, Offset: 8}) {
		t.Fatalf("marker %+v, %v, %v", m, ok, err)
	}
	// A damaged value still marks its key's letter replayed.
	m, ok, err = dlq.DecodeMarker([]byte("d/0/3"), []byte("{"))
	if err == nil || !ok || m.From != (dlq.Ref{Topic: "d", Offset: 3}) {
		t.Fatalf("damaged value: %+v, %v, %v", m, ok, err)
	}
	if _, ok, err := dlq.DecodeMarker([]byte("d/0/3"), nil); ok || err != nil {
		t.Fatalf("tombstone: %v, %v", ok, err)
	}
	if _, ok, err := dlq.DecodeMarker([]byte("nope"), []byte("{}")); ok || !errors.Is(err, dlq.ErrMarker) {
		t.Fatalf("bad key: %v, %v", ok, err)
	}
}
