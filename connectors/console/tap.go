// Package console renders what flows through Corb's topics as a readable,
// live account on a terminal: once per interval a line of throughput, people
// per frame and each zone's state; as they happen, every change of a zone's
// state, every command, every text in and out and every dead letter; and at
// the end a summary with the whole conversation. It is how `corb dev` shows
// the pipeline at work.
package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/corb-dev/corb/schemas"
)

// Role says how the tap reads a topic.
type Role int

const (
	// Count only counts the records (frames, zone counts, views).
	Count      Role = iota
	Frames          // the video's frames: frames per second
	Detections      // corb.Detections: people per frame
	Events          // corb.PresenceEvent: zone states, transitions printed
	Commands        // corb.Command: commands and texts printed
	SentLog         // the sms operator's sent log (JSON): texts sent
	DeadLetter      // dead letters: printed with their reason
)

// Topic is one topic the tap reads.
type Topic struct {
	Logical  string // name in the topology, shown to the reader
	Physical string // Kafka topic name
	Role     Role
}

// Options are the tap's settings; the zero value is usable.
type Options struct {
	// Interval between two lines of throughput (default 1s).
	Interval time.Duration
	// Names are people's names by phone, shown next to their numbers.
	Names map[string]string
	// Zones orders the zone line and the summary (other zones follow, sorted).
	Zones []string
	// Verbose prints every presence event, count changes too.
	Verbose bool
	// Opts are extra franz-go options (tests).
	Opts []kgo.Opt
}

// Tap reads topics (read_committed, from the start, no consumer group) and
// writes an account of them. Create it with NewTap; Run it once.
type Tap struct {
	client *kgo.Client
	w      io.Writer
	opts   Options
	topics map[string]Topic // by physical name

	mu     sync.Mutex
	start  time.Time
	stats  map[string]*topicStats // by logical name
	zones  map[string]*zoneState
	cmds   map[string]int64 // commands by type
	sent   map[string]bool  // send_sms ids with a MessageSid in the sent log
	texts  []Text
	cmdIDs map[string]bool // commands seen: one on the bus twice counts once
}

// Stats are what the tap has seen of one topic.
type Stats struct {
	Records int64
	// Detections: people in total, most people in one frame.
	People, MaxPeople int64
	// Events: presence events by type.
	Events map[schemas.PresenceType]int64
	// Records that did not decode (the tap never stops on them).
	Undecodable int64
}

// Text is one text of the conversation.
type Text struct {
	At       time.Duration // since the tap started
	Incoming bool          // a text from a phone; else a send_sms to it
	Phone    string
	Body     string
	Kind     string // in: the command it became; out: notification, report or reply
}

type topicStats struct {
	Stats
	lastRecords, lastPeople int64
}

type zoneState struct {
	latest            schemas.PresenceEvent
	occupied, vacated int64
	peak              int32
}

// NewTap returns a tap over topics that writes to w.
func NewTap(brokers []string, topics []Topic, w io.Writer, opts Options) (*Tap, error) {
	if opts.Interval <= 0 {
		opts.Interval = time.Second
	}
	t := &Tap{w: w, opts: opts, topics: map[string]Topic{}, stats: map[string]*topicStats{},
		zones: map[string]*zoneState{}, cmds: map[string]int64{}, sent: map[string]bool{}, cmdIDs: map[string]bool{}}
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
	}, opts.Opts...)...)
	if err != nil {
		return nil, fmt.Errorf("console tap: %w", err)
	}
	t.client = cl
	t.start = time.Now()
	return t, nil
}

// Run reads and reports until ctx ends, then closes the tap's client.
func (t *Tap) Run(ctx context.Context) error {
	defer t.client.Close()
	tick := time.NewTicker(t.opts.Interval)
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
					t.printf("! reading %s[%d]: %v", topic, p, err)
				}
			})
			f.EachRecord(t.record)
		}
	}
}

// printf writes one line of the account, stamped with the time since the
// start. The caller holds t.mu or is the only writer.
func (t *Tap) printf(format string, args ...any) {
	fmt.Fprintf(t.w, "[%5.0fs] %s\n", time.Since(t.start).Seconds(), fmt.Sprintf(format, args...))
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
	if r.Value == nil && tp.Role != DeadLetter {
		return // a tombstone of a compacted topic
	}
	var err error
	switch tp.Role {
	case DeadLetter:
		t.printf("✗ dead letter in %s: %s (operator %s, from %s[%s]@%s): %s", tp.Logical,
			header(r, "corb.reason"), header(r, "corb.operator"), header(r, "corb.source.topic"),
			header(r, "corb.source.partition"), header(r, "corb.source.offset"), header(r, "corb.error"))
	case Detections:
		var d schemas.Detections
		if err = schemas.Unmarshal(r.Value, &d); err == nil {
			n := int64(len(d.Boxes))
			st.People += n
			st.MaxPeople = max(st.MaxPeople, n)
		}
	case Events:
		var e schemas.PresenceEvent
		if err = schemas.Unmarshal(r.Value, &e); err == nil {
			st.Events[e.Type]++
			t.event(&e)
		}
	case Commands:
		var c schemas.Command
		if err = schemas.Unmarshal(r.Value, &c); err == nil {
			t.command(&c)
		}
	case SentLog:
		var e struct {
			ID  string `json:"id"`
			Sid string `json:"sid"`
		}
		if err = json.Unmarshal(r.Value, &e); err == nil && e.Sid != "" {
			t.sent[e.ID] = true
		}
	}
	if err != nil {
		st.Undecodable++
	}
}

func (t *Tap) event(e *schemas.PresenceEvent) {
	z, ok := t.zones[e.ZoneID]
	if !ok {
		z = &zoneState{}
		t.zones[e.ZoneID] = z
	}
	if ok && e.EventTime.Before(z.latest.EventTime) {
		return // an older event of a zone's other window: the state stays
	}
	z.latest = *e
	z.peak = max(z.peak, e.Peak)
	switch e.Type {
	case schemas.Occupied:
		z.occupied++
		t.printf("▲ %s OCCUPIED, %s", e.ZoneID, people(e.Count))
	case schemas.Vacated:
		z.vacated++
		t.printf("▽ %s VACATED (peak %s)", e.ZoneID, people(e.Peak))
	case schemas.CountChanged:
		if t.opts.Verbose {
			t.printf("· %s %s", e.ZoneID, people(e.Count))
		}
	default:
		t.printf("● %s %s", e.ZoneID, e.Type)
	}
}

func (t *Tap) command(c *schemas.Command) {
	if t.cmdIDs[c.ID] {
		return
	}
	t.cmdIDs[c.ID] = true
	t.cmds[c.CommandType]++
	switch {
	case c.CommandType == schemas.CommandSendSMS && c.SendSMS != nil:
		t.text(Text{Phone: c.SendSMS.To, Body: c.SendSMS.Body, Kind: c.Cause.TextKind()})
	case c.Channel == "sms":
		t.text(Text{Incoming: true, Phone: c.Sender, Body: c.AsText(), Kind: c.CommandType})
	default:
		why := ""
		if a := c.RequestCleaning; a != nil && a.Reason != "" {
			why = ": " + a.Reason
		}
		t.printf("⚑ %s %s (from %s)%s", c.CommandType, c.ZoneID, c.Channel, why)
	}
}

func (t *Tap) text(x Text) {
	x.At = time.Since(t.start)
	t.texts = append(t.texts, x)
	t.printf("%s", t.line(x))
}

// line is a text as the account and the conversation show it.
func (t *Tap) line(x Text) string {
	arrow, kind := "→", " ("+x.Kind+")"
	if x.Incoming {
		arrow, kind = "←", ""
	}
	who := x.Phone
	if n := t.opts.Names[x.Phone]; n != "" {
		who = n + " " + x.Phone
	}
	return fmt.Sprintf("%s %-16s %s%s", arrow, who, oneLine(x.Body), kind)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func people(n int32) string {
	if n == 1 {
		return "1 person"
	}
	return fmt.Sprintf("%d people", n)
}

func header(r *kgo.Record, key string) string {
	for i := len(r.Headers) - 1; i >= 0; i-- {
		if r.Headers[i].Key == key {
			return string(r.Headers[i].Value)
		}
	}
	return "?"
}

// report prints one line of rates and zone states since the last report,
// when anything moved.
func (t *Tap) report() {
	t.mu.Lock()
	defer t.mu.Unlock()
	secs := t.opts.Interval.Seconds()
	moved := false
	var parts []string
	for _, name := range t.sortedTopics() {
		st := t.stats[name]
		delta := st.Records - st.lastRecords
		moved = moved || delta > 0
		switch t.roleOf(name) {
		case Detections:
			part := fmt.Sprintf("%d detections (%.0f/s)", st.Records, float64(delta)/secs)
			if delta > 0 {
				part += fmt.Sprintf(", %.1f people/frame", float64(st.People-st.lastPeople)/float64(delta))
			}
			parts = append([]string{part}, parts...)
		case Frames:
			parts = append([]string{fmt.Sprintf("%d frames (%.0f/s)", st.Records, float64(delta)/secs)}, parts...)
		}
		st.lastRecords, st.lastPeople = st.Records, st.People
	}
	if !moved {
		return
	}
	if zs := t.zoneLine(); zs != "" {
		parts = append(parts, "zones: "+zs)
	}
	parts = append(parts, fmt.Sprintf("%d events · %d commands · %d texts sent", t.total(Events), len(t.cmdIDs), len(t.sent)))
	t.printf("%s", strings.Join(parts, " · "))
}

// zoneLine is each zone's state in a few words: "lawn free, walkway 4".
func (t *Tap) zoneLine() string {
	var out []string
	for _, id := range t.zoneOrder() {
		out = append(out, id+" "+stateWord(t.zones[id].latest))
	}
	return strings.Join(out, ", ")
}

func stateWord(e schemas.PresenceEvent) string {
	if s := stateName(e); s != "occupied" {
		return s
	}
	return fmt.Sprint(e.Count)
}

// stateName is a zone's state after e: occupied, free or stale.
func stateName(e schemas.PresenceEvent) string {
	switch e.Type {
	case schemas.Vacated:
		return "free"
	case schemas.Stale:
		return "stale"
	}
	return "occupied"
}

func (t *Tap) zoneOrder() []string {
	var ids []string
	for _, id := range t.opts.Zones {
		if _, ok := t.zones[id]; ok {
			ids = append(ids, id)
		}
	}
	rest := slices.Sorted(maps.Keys(t.zones))
	for _, id := range rest {
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids
}

func (t *Tap) total(r Role) int64 {
	var n int64
	for name, st := range t.stats {
		if t.roleOf(name) == r {
			n += st.Records
		}
	}
	return n
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
	s.Events = maps.Clone(st.Events)
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

// Conversation is every text seen, in and out, in the order seen.
func (t *Tap) Conversation() []Text {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.texts)
}

// TextsSent is the number of send_sms commands the sms operator's sent log
// says were handed to the provider.
func (t *Tap) TextsSent() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.sent)
}

// Summary writes what was seen to w: detections, each zone, events,
// commands and texts by type, the conversation, dead letters and the record
// count of every topic. Its "events N" (records), "commands N" (distinct
// command ids) and "texts N sent" lines are what tests compare with the
// topics.
func (t *Tap) Summary(w io.Writer) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if d, ok := t.statsOf(Detections); ok && d.Records > 0 {
		fmt.Fprintf(w, "detections  %d, %.2f people a frame on average, at most %d\n",
			d.Records, float64(d.People)/float64(d.Records), d.MaxPeople)
	}
	if ids := t.zoneOrder(); len(ids) > 0 {
		fmt.Fprintf(w, "zones       %-12s %-9s %6s %5s %9s %8s\n", "zone", "now", "people", "peak", "occupied", "vacated")
		for _, id := range ids {
			z := t.zones[id]
			fmt.Fprintf(w, "            %-12s %-9s %6d %5d %9d %8d\n", id, stateName(z.latest), z.latest.Count, z.peak, z.occupied, z.vacated)
		}
	}
	var evs map[schemas.PresenceType]int64
	if e, ok := t.statsOf(Events); ok {
		evs = e.Events
	}
	fmt.Fprintf(w, "events      %d%s\n", t.total(Events), breakdown(evs))
	fmt.Fprintf(w, "commands    %d%s\n", len(t.cmdIDs), breakdown(t.cmds))
	in := 0
	for _, x := range t.texts {
		if x.Incoming {
			in++
		}
	}
	fmt.Fprintf(w, "texts       %d sent, %d received\n", len(t.sent), in)
	if len(t.texts) > 0 {
		fmt.Fprintln(w, "conversation")
		for _, x := range t.texts {
			fmt.Fprintf(w, "  [%5.0fs] %s\n", x.At.Seconds(), t.line(x))
		}
	}
	var dead []string
	for _, name := range t.sortedTopics() {
		if st := t.stats[name]; t.roleOf(name) == DeadLetter && st.Records > 0 {
			dead = append(dead, fmt.Sprintf("%s %d", name, st.Records))
		}
	}
	if len(dead) == 0 {
		dead = []string{"none"}
	}
	fmt.Fprintf(w, "dead letters %s\n", strings.Join(dead, ", "))
	var counts []string
	for _, name := range t.sortedTopics() {
		st := t.stats[name]
		c := fmt.Sprintf("%s %d", name, st.Records)
		if st.Undecodable > 0 {
			c += fmt.Sprintf(" (%d undecodable)", st.Undecodable)
		}
		counts = append(counts, c)
	}
	fmt.Fprintf(w, "records     %s\n", strings.Join(counts, " · "))
}

// breakdown is ": A 3, B 1", largest first.
func breakdown[K ~string](m map[K]int64) string {
	if len(m) == 0 {
		return ""
	}
	keys := slices.Collect(maps.Keys(m))
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return ": " + strings.Join(parts, ", ")
}

func (t *Tap) statsOf(r Role) (Stats, bool) {
	for name, st := range t.stats {
		if t.roleOf(name) == r {
			return st.Stats, true
		}
	}
	return Stats{}, false
}

func (t *Tap) sortedTopics() []string { return slices.Sorted(maps.Keys(t.stats)) }

func (t *Tap) roleOf(logical string) Role {
	for _, tp := range t.topics {
		if tp.Logical == logical {
			return tp.Role
		}
	}
	return Count
}
