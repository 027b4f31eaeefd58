package dlq

import (
	"bytes"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/corb-dev/corb/operators/runtime"
)

// FuzzParse feeds Parse dead letters whose corb.* headers are anything (a
// dead-letter topic is written by whoever can produce to it): it must not
// panic; a letter it calls replayable must name a topic, partition and
// offset that read back; its replay must keep the record's own headers and
// lose the runtime's.
func FuzzParse(f *testing.F) {
	f.Add("site.in", "3", "17", "permanent", "boom", "2026-05-01T08:00:00Z", []byte("trace"), []byte("k"))
	f.Add("", "-1", "x", "", "", "", []byte(runtime.HeaderTopic), []byte(nil))
	f.Add("a/b", "01", "9223372036854775808", "panic", "\xff", "yesterday", []byte(HeaderReplayedFrom), []byte("k"))
	f.Fuzz(func(t *testing.T, topic, partition, offset, reason, errText, at string, ownKey, key []byte) {
		rec := &kgo.Record{Topic: "d", Partition: 1, Offset: 2, Key: key, Value: []byte("v"), Headers: []kgo.RecordHeader{
			{Key: string(ownKey), Value: []byte("own")},
			{Key: runtime.HeaderTopic, Value: []byte(topic)},
			{Key: runtime.HeaderPartition, Value: []byte(partition)},
			{Key: runtime.HeaderOffset, Value: []byte(offset)},
			{Key: runtime.HeaderReason, Value: []byte(reason)},
			{Key: runtime.HeaderError, Value: []byte(errText)},
			{Key: runtime.HeaderTime, Value: []byte(at)},
		}}
		l := Parse(rec)
		if !l.Replayable() {
			return
		}
		back, err := ParseRef(l.Source.String())
		if err != nil || back != l.Source {
			t.Fatalf("source %v reads back as %v, %v", l.Source, back, err)
		}
		out := l.Replay()
		if out.Topic != topic || !bytes.Equal(out.Key, key) {
			t.Fatalf("replayed to %s key %q", out.Topic, out.Key)
		}
		if len(out.Headers) != 2 || out.Headers[0].Key != string(ownKey) || out.Headers[1].Key != HeaderReplayedFrom {
			t.Fatalf("replayed headers %v", out.Headers)
		}
		if from, err := ParseRef(string(out.Headers[1].Value)); err != nil || from != l.Ref() {
			t.Fatalf("replayed-from %q: %v, %v", out.Headers[1].Value, from, err)
		}
	})
}

// FuzzDecodeMarker feeds the replay log's decoder any key and value: no
// panic, and a key that is a Ref always marks its letter (ok), whatever the
// value, unless the value is a tombstone.
func FuzzDecodeMarker(f *testing.F) {
	f.Add([]byte("d/0/3"), []byte(`{"from":{"topic":"d","partition":0,"offset":3},"to":{"topic":"in","partition":1,"offset":8},"replayed_at":"2026-05-01T08:00:00Z"}`), false)
	f.Add([]byte("d/0/3"), []byte(`{"from":{"topic":"e"}}`), false)
	f.Add([]byte("x"), []byte(nil), true)
	f.Fuzz(func(t *testing.T, key, value []byte, tombstone bool) {
		if tombstone {
			value = nil
		} else if value == nil {
			value = []byte{}
		}
		m, ok, err := DecodeMarker(key, value)
		ref, rerr := ParseRef(string(key))
		switch {
		case rerr != nil && (ok || err == nil):
			t.Fatalf("key %q is not a ref, yet ok %v err %v", key, ok, err)
		case rerr == nil && ok == tombstone:
			t.Fatalf("key %q, tombstone %v: ok %v (%v)", key, tombstone, ok, err)
		case rerr == nil && m.From != ref:
			t.Fatalf("marker of %v keyed %v", m.From, ref)
		}
	})
}
