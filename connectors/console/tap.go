// Package console renders what flows through Corb's topics as a readable,
// live account on a terminal: throughput and people per frame once per
// interval, every presence event and every dead letter as it happens, and a
// summary at the end. It is how `corb dev` shows the pipeline at work.
package console

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/corb-dev/corb/schemas"
)

// Topic is one topic the tap reads.
type Topic struct {
	Logical    string // name in the topology, shown to the reader
	Physical   string // Kafka topic name
	Schema     string // Avro full name, or "bytes"
	DeadLetter bool   // records are dead letters: print each with its reason
	Quiet      bool   // count the records but print none (views that repeat another topic)
}

// Tap reads topics (read_committed, from the start, no consumer group) and
// writes an account of them to W. Create it with NewTap; Run it once.
type Tap struct {
	client   *kgo.Client
	w        io.Writer
	interval time.Duration
	topics   map[string]Topic // by physical name

	mu    sync.Mutex
	stats map[string]*topicStats // by logical name
	since time.Time
}

// Stats are what the tap has seen of one topic.
type Stats struct {
	Records int64
	// Detections topics: frames seen, people in total, most people in one frame.
	People, MaxPeople int64
	// Presence topics: events by type.
	Events map[schemas.PresenceType]int64
	// Decode failures (the tap never stops on them; they are counted and shown).
	Undecodable int64
}

type topicStats struct {
	Stats
	lastRecords, lastPeople int64
	latest                  map[string]schemas.PresenceEvent // presence topics: the latest event per zone
}

// NewTap returns a tap over topics. opts are extra franz-go options (tests).
func NewTap(brokers []string, topics []Topic, w io.Writer, interval time.Duration, opts ...kgo.Opt) (*Tap, error) {
	if interval <= 0 {
		interval = time.Second
	}
	t := &Tap{w: w, interval: interval, topics: map[string]Topic{}, stats: map[string]*topicStats{}}
	var names []string
	for _, tp := range topics {
		t.topics[tp.Physical] = tp
		t.stats[tp.Logical] = &topicStats{Stats: Stats{Events: map[schemas.PresenceType]int64{}}}
		names = append(names, tp.Physical)
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(brokers...),
		kgo.ConsumeTopics(names...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("console tap: %w", err)
	}
	t.client = cl
	return t, nil
}

// Run reads and reports until ctx ends, then closes the tap's client.
func (t *Tap) Run(ctx context.Context) error {
	defer t.client.Close()
	t.since = time.Now()
	tick := time.NewTicker(t.interval)
	defer tick.Stop()
	fetched := make(chan kgo.Fetches)
	go func() {
		defer close(fetched)
		for {
			f := t.client.PollFetches(ctx)
			if ctx.Err() != nil {
				return
			}
			select {
			case fetched <- f:
			case <-ctx.Done():
				return
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			t.report()
		case f, ok := <-fetched:
			if !ok {
				return nil
			}
			f.EachError(func(topic string, p int32, err error) {
				if !errors.Is(err, context.Canceled) {
					fmt.Fprintf(t.w, "! reading %s[%d]: %v\n", topic, p, err)
				}
			})
			f.EachRecord(t.record)
		}
	}
}

func (t *Tap) record(r *kgo.Record) {
	tp, ok := t.topics[r.Topic]
	if !ok {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.stats[tp.Logical]
	st.Records++
	switch {
	case tp.DeadLetter:
		fmt.Fprintf(t.w, "✗ dead letter in %s: %s (operator %s, from %s[%s]@%s): %s\n", tp.Logical,
			header(r, "corb.reason"), header(r, "corb.operator"), header(r, "corb.source.topic"),
			header(r, "corb.source.partition"), header(r, "corb.source.offset"), header(r, "corb.error"))
	case tp.Schema == "corb.Detections":
		var d schemas.Detections
		if err := schemas.Unmarshal(r.Value, &d); err != nil {
			st.Undecodable++
			return
		}
		n := int64(len(d.Boxes))
		st.People += n
		st.MaxPeople = max(st.MaxPeople, n)
	case tp.Schema == "corb.PresenceEvent":
		var e schemas.PresenceEvent
		if err := schemas.Unmarshal(r.Value, &e); err != nil {
			st.Undecodable++
			return
		}
		st.Events[e.Type]++
		if st.latest == nil {
			st.latest = map[string]schemas.PresenceEvent{}
		}
		if prev, ok := st.latest[e.ZoneID]; !ok || !e.EventTime.Before(prev.EventTime) {
			st.latest[e.ZoneID] = e
		}
		if tp.Quiet {
			return
		}
		fmt.Fprintf(t.w, "● %-10s %-13s people=%d peak=%d  window %s–%s\n", e.ZoneID, e.Type, e.Count, e.Peak,
			e.WindowStart.UTC().Format("15:04:05.0"), e.WindowEnd.UTC().Format("15:04:05.0"))
	case tp.Schema == "corb.Command":
		var c schemas.Command
		if err := schemas.Unmarshal(r.Value, &c); err != nil {
			st.Undecodable++
			return
		}
		if tp.Quiet {
			return
		}
		fmt.Fprintf(t.w, "→ command %s zone=%s from %s/%s\n", c.CommandType, c.ZoneID, c.Channel, c.Sender)
	}
}

func header(r *kgo.Record, key string) string {
	for i := len(r.Headers) - 1; i >= 0; i-- {
		if r.Headers[i].Key == key {
			return string(r.Headers[i].Value)
		}
	}
	return "?"
}

// report prints one line of rates since the last report.
func (t *Tap) report() {
	t.mu.Lock()
	defer t.mu.Unlock()
	secs := t.interval.Seconds()
	var parts []string
	moved := false
	for _, name := range t.sortedTopics() {
		st := t.stats[name]
		if t.isDeadLetter(name) || st.Records == 0 {
			continue
		}
		rate := float64(st.Records-st.lastRecords) / secs
		moved = moved || st.Records != st.lastRecords
		part := fmt.Sprintf("%s %d (%.1f/s)", name, st.Records, rate)
		if frames := st.Records - st.lastRecords; frames > 0 && t.schemaOf(name) == "corb.Detections" {
			part += fmt.Sprintf(" %.1f people/frame", float64(st.People-st.lastPeople)/float64(frames))
		}
		parts = append(parts, part)
		st.lastRecords, st.lastPeople = st.Records, st.People
	}
	if moved {
		fmt.Fprintf(t.w, "[%5.0fs] %s\n", time.Since(t.since).Seconds(), strings.Join(parts, " · "))
	}
}

// Stats returns what the tap has seen of the topic with this logical name.
func (t *Tap) Stats(logical string) Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	st, ok := t.stats[logical]
	if !ok {
		return Stats{}
	}
	s := st.Stats
	s.Events = map[schemas.PresenceType]int64{}
	for k, v := range st.Events {
		s.Events[k] = v
	}
	return s
}

// Total is the number of records the tap has seen on all topics.
func (t *Tap) Total() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	var n int64
	for _, st := range t.stats {
		n += st.Records
	}
	return n
}

// Summary writes a table of everything seen to w.
func (t *Tap) Summary(w io.Writer) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprintf(w, "\n%-16s %10s  %s\n", "topic", "records", "details")
	for _, name := range t.sortedTopics() {
		st := t.stats[name]
		detail := ""
		switch t.schemaOf(name) {
		case "corb.Detections":
			if st.Records > 0 {
				detail = fmt.Sprintf("%.2f people/frame on average, at most %d", float64(st.People)/float64(st.Records), st.MaxPeople)
			}
		case "corb.PresenceEvent":
			var ev []string
			for k, v := range st.Events {
				ev = append(ev, fmt.Sprintf("%s %d", k, v))
			}
			sort.Strings(ev)
			detail = strings.Join(ev, ", ")
			zones := make([]string, 0, len(st.latest))
			for z := range st.latest {
				zones = append(zones, z)
			}
			sort.Strings(zones)
			for _, z := range zones {
				e := st.latest[z]
				detail += fmt.Sprintf("\n%-16s %10s  %-10s now %s, %d people (peak %d)", "", "", z, e.Type, e.Count, e.Peak)
			}
		}
		if st.Undecodable > 0 {
			detail += fmt.Sprintf(" (%d undecodable)", st.Undecodable)
		}
		fmt.Fprintf(w, "%-16s %10d  %s\n", name, st.Records, detail)
	}
}

func (t *Tap) sortedTopics() []string {
	names := make([]string, 0, len(t.stats))
	for n := range t.stats {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (t *Tap) schemaOf(logical string) string {
	for _, tp := range t.topics {
		if tp.Logical == logical {
			return tp.Schema
		}
	}
	return ""
}

func (t *Tap) isDeadLetter(logical string) bool {
	for _, tp := range t.topics {
		if tp.Logical == logical {
			return tp.DeadLetter
		}
	}
	return false
}
