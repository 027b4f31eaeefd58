package dlq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Marker is one entry of a replay log: a dead letter that was replayed, and
// where to. Its record is keyed by From's Ref, so that compaction keeps one
// marker per dead letter.
type Marker struct {
	// From is the dead letter.
	From Ref `json:"from"`
	// TopicID is the dead-letter topic's id when the letter was replayed
	// (base64): a topic deleted and made again starts its offsets over, and
	// the markers of the old one must not hide the new one's letters.
	TopicID string `json:"topic_id,omitempty"`
	// To is the replayed record: the source topic and partition, and its
	// offset there (-1 in a dry run).
	To       Ref       `json:"to"`
	Operator string    `json:"operator,omitempty"`
	Reason   string    `json:"reason,omitempty"`
	At       time.Time `json:"replayed_at"`
}

// record is the marker's record in the log topic.
func (m Marker) record(log string) (*kgo.Record, error) {
	v, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("dlq: marker of %s: %w", m.From, err)
	}
	return &kgo.Record{Topic: log, Partition: 0, Key: []byte(m.From.String()), Value: v, Timestamp: m.At}, nil
}

// ErrMarker is wrapped by DecodeMarker's errors.
var ErrMarker = errors.New("not a replay marker")

// DecodeMarker reads a record of a replay log. The key is what counts: a
// record whose key is a Ref marks that dead letter replayed even when its
// value does not decode (the marker returned then holds From alone, with the
// error), so that no damage to a value can make a letter replay twice. A nil
// value is a tombstone: ok is false. A key that is not a Ref is an error
// with ok false.
func DecodeMarker(key, value []byte) (m Marker, ok bool, err error) {
	from, err := ParseRef(string(key))
	if err != nil {
		return Marker{}, false, fmt.Errorf("%w: key: %w", ErrMarker, err)
	}
	if value == nil {
		return Marker{From: from}, false, nil
	}
	if err := json.Unmarshal(value, &m); err != nil {
		return Marker{From: from}, true, fmt.Errorf("%w: %s: %w", ErrMarker, from, err)
	}
	if m.From != from {
		err = fmt.Errorf("%w: keyed %s, says %s", ErrMarker, from, m.From)
		m.From = from
	}
	return m, true, err
}

// Log is what a replay log says of one dead-letter topic.
type Log struct {
	// Markers are the letters replayed, by their Ref.
	Markers map[Ref]Marker
	// Stale counts markers of an earlier topic of the same name (another
	// topic id), not counted as replayed.
	Stale int
	// Unreadable counts records of the log that are not markers of the
	// topic (another topic's, or a key that is not a Ref): ignored.
	Unreadable int
}

// LoadLog reads the replay log log (a physical name) to its end and returns
// the markers of the dead-letter topic topic. A log that does not exist is
// empty.
func LoadLog(ctx context.Context, cfg Config, log, topic string) (Log, error) {
	cl, err := cfg.client()
	if err != nil {
		return Log{}, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	dl, err := describe(ctx, adm, topic)
	if err != nil {
		return Log{}, err
	}
	return loadLog(ctx, cfg, adm, log, topic, dl.id)
}

func loadLog(ctx context.Context, cfg Config, adm *kadm.Client, log, topic string, id kadm.TopicID) (Log, error) {
	out := Log{Markers: map[Ref]Marker{}}
	info, err := describe(ctx, adm, log)
	if errors.Is(err, ErrNoTopic) {
		return out, nil
	}
	if err != nil {
		return Log{}, err
	}
	want := ""
	if id != (kadm.TopicID{}) {
		want = id.String()
	}
	err = cfg.read(ctx, log, info, Filter{}, func(rec *kgo.Record) error {
		m, ok, err := DecodeMarker(rec.Key, rec.Value)
		switch {
		case err != nil && !ok, m.From.Topic != topic:
			out.Unreadable++
		case !ok: // a tombstone: the letter may be replayed again
			delete(out.Markers, m.From)
		case want != "" && m.TopicID != "" && m.TopicID != want:
			out.Stale++
		default:
			out.Markers[m.From] = m
		}
		return nil
	})
	if err != nil {
		return Log{}, fmt.Errorf("dlq: reading the replay log %s: %w", log, err)
	}
	return out, nil
}
