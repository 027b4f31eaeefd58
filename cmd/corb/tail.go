package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/urfave/cli/v3"
	"golang.org/x/term"

	"github.com/corb-dev/corb/operators/runtime"
	"github.com/corb-dev/corb/schemas"
	"github.com/corb-dev/corb/topology"
)

// tailCommand is `corb tail TOPIC`: the records of a logical topic, decoded
// by the topology's schemas.
func tailCommand() *cli.Command {
	return &cli.Command{
		Name:      "tail",
		Usage:     "print the records of a topic of the topology, decoded by its schema",
		ArgsUsage: "TOPIC",
		Description: `Reads TOPIC (a logical topic of the topology; the namespace is prefixed) from
its partitions, without a consumer group, and prints every record with its
partition, offset, timestamp, key and headers: as one JSON object per line
(--format json, the default when stdout is not a terminal) or one readable line
(--format line, the default on a terminal).

Avro topics are decoded by their schema (older versions upgraded); a 'bytes'
topic's value is printed as JSON when it is JSON (the usage view), as text
when it is UTF-8, else as base64. Records of dead-letter topics (the
on_failure topics) show their corb.* headers (reason, error, operator, source
topic/partition/offset, time) and their original value decoded by the schema
of the topic they came from.

Without --follow it stops at the end offsets the partitions had when it
started. It reads read_committed: records of aborted or still-open
transactions are not shown unless --uncommitted.

Examples:
  corb tail events                          every presence event kept so far
  corb tail -F --from end commands          new commands as they arrive
  corb tail --from 10m --format line frames-dlq
  corb tail --max 1 --partition 2 usage | jq .value`,
		Flags: []cli.Flag{
			topologyFlag(), namespaceFlag(), brokersFlag(),
			&cli.StringFlag{Name: "format", Usage: "json or line (default: line on a terminal, json otherwise)"},
			&cli.StringFlag{Name: "from", Value: "start", Usage: "where to begin: start, end, an RFC 3339 time, or a duration ago such as 10m"},
			&cli.BoolFlag{Name: "follow", Aliases: []string{"F"}, Usage: "keep printing new records until interrupted"},
			&cli.IntFlag{Name: "max", Usage: "stop after this many records (0: no limit)"},
			&cli.Int32SliceFlag{Name: "partition", Usage: "read only these partitions (repeatable; default: all)"},
			&cli.BoolFlag{Name: "uncommitted", Usage: "read uncommitted: also records of aborted and still-open transactions"},
		},
		Action: runTail,
	}
}

// tailSettings is a parsed `corb tail` command line.
type tailSettings struct {
	spec       *topology.Spec
	topic      *topology.Topic
	from       int64 // kadm's listing: -2 start, -1 end, else a Unix millisecond
	follow     bool
	max        int
	partitions []int32 // nil: all
	committed  bool
	line       bool // --format line
	brokers    []string
}

func runTail(ctx context.Context, cmd *cli.Command) error {
	spec, err := loadTopology(cmd)
	if err != nil {
		return err
	}
	s, err := parseTail(cmd, spec, time.Now())
	if err != nil {
		return err
	}
	return tail(ctx, s, cmd.Root().Writer)
}

func parseTail(cmd *cli.Command, spec *topology.Spec, now time.Time) (tailSettings, error) {
	s := tailSettings{spec: spec, follow: cmd.Bool("follow"), max: cmd.Int("max"),
		partitions: cmd.Int32Slice("partition"), committed: !cmd.Bool("uncommitted"), brokers: brokers(cmd)}
	var err error
	if s.topic, err = tailTopic(spec, cmd.Args().First()); err != nil {
		return s, err
	}
	if s.from, err = parseFrom(cmd.String("from"), now); err != nil {
		return s, err
	}
	if s.max < 0 {
		return s, fmt.Errorf("--max %d: want 0 (no limit) or more", s.max)
	}
	switch f := cmd.String("format"); f {
	case "":
		out, ok := cmd.Root().Writer.(*os.File)
		s.line = ok && term.IsTerminal(int(out.Fd()))
	case "line":
		s.line = true
	case "json":
	default:
		return s, fmt.Errorf("--format %q: want json or line", f)
	}
	if len(s.brokers) == 0 {
		return s, errors.New("no brokers: set --brokers or CORB_BROKERS")
	}
	return s, nil
}

// tailTopic finds the topic named by the argument: its logical name, or its
// physical one ("<namespace>.<topic>", as other Kafka tools show it).
func tailTopic(spec *topology.Spec, name string) (*topology.Topic, error) {
	names := spec.Names()
	var known []string
	for i := range spec.Topics {
		t := &spec.Topics[i]
		if t.Name == name || names.Topic(t.Name) == name {
			return t, nil
		}
		known = append(known, t.Name)
	}
	return nil, fmt.Errorf("topology %s has no topic %q; its topics: %s", spec.File, name, strings.Join(known, ", "))
}

// parseFrom reads --from: start, end, an RFC 3339 time or a duration before now.
func parseFrom(s string, now time.Time) (int64, error) {
	switch s {
	case "start", "beginning":
		return -2, nil
	case "end":
		return -1, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UnixMilli(), nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d).UnixMilli(), nil
	}
	return 0, fmt.Errorf("--from %q: want start, end, an RFC 3339 time (2026-05-01T08:00:00Z) or a duration ago (10m, 1h30m)", s)
}

// tail prints the records of s.topic to w until the end offsets seen at the
// start (or, with follow, until ctx ends) or s.max records.
func tail(ctx context.Context, s tailSettings, w io.Writer) error {
	physical := s.spec.Names().Topic(s.topic.Name)
	iso := kgo.ReadUncommitted()
	if s.committed {
		iso = kgo.ReadCommitted()
	}
	starts, ends, err := tailOffsets(ctx, s, physical)
	if err != nil {
		return err
	}
	// Control records (transaction markers) are kept, to be skipped here: they
	// take offsets, and a partition whose last offset is a marker is only
	// known to be read to its end when the marker is seen.
	consume := map[int32]kgo.Offset{}
	pending := map[int32]bool{} // not yet read to its end
	for p, start := range starts {
		if s.follow || start < ends[p] {
			consume[p] = kgo.NewOffset().At(start)
			pending[p] = true
		}
	}
	if len(consume) == 0 {
		return nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.brokers...), kgo.FetchIsolationLevel(iso), kgo.KeepControlRecords(),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{physical: consume}))
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()

	r := tailRenderer{spec: s.spec, topic: s.topic, w: w, line: s.line, dlq: isDeadLetterTopic(s.spec, s.topic.Name)}
	printed := 0
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil // interrupted: what was asked for has been printed
		}
		if errs := fs.Errors(); len(errs) > 0 {
			return fmt.Errorf("reading %s[%d]: %w", errs[0].Topic, errs[0].Partition, errs[0].Err)
		}
		for it := fs.RecordIter(); !it.Done(); {
			rec := it.Next()
			end := ends[rec.Partition]
			if !s.follow && rec.Offset >= end {
				continue // past the end seen at the start
			}
			if !rec.Attrs.IsControl() {
				if err := r.render(rec); err != nil {
					return err
				}
				if printed++; s.max > 0 && printed >= s.max {
					return nil
				}
			}
			if !s.follow && rec.Offset >= end-1 {
				delete(pending, rec.Partition)
			}
		}
		if !s.follow && len(pending) == 0 {
			return nil
		}
	}
}

// tailOffsets resolves where each partition to read starts (by --from) and
// where it ends now: the last stable offset under read_committed (the records
// after it are in open transactions), else the high watermark.
func tailOffsets(ctx context.Context, s tailSettings, physical string) (starts, ends map[int32]int64, err error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.brokers...))
	if err != nil {
		return nil, nil, fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	list := func(what string, fn func(context.Context, ...string) (kadm.ListedOffsets, error)) (map[int32]int64, error) {
		l, err := fn(ctx, physical)
		if err == nil {
			err = l.Error()
		}
		if errors.Is(err, kerr.UnknownTopicOrPartition) {
			return nil, fmt.Errorf("topic %s (%q of %s) is not on the cluster: create it with 'corb topology apply'", physical, s.topic.Name, s.spec.File)
		}
		if err != nil {
			return nil, fmt.Errorf("listing the %s offsets of %s on %s: %w", what, physical, strings.Join(s.brokers, ","), err)
		}
		out := map[int32]int64{}
		l.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
		return out, nil
	}
	endList := adm.ListEndOffsets
	if s.committed {
		endList = adm.ListCommittedOffsets
	}
	if ends, err = list("end", endList); err != nil {
		return nil, nil, err
	}
	switch s.from {
	case -2:
		starts, err = list("start", adm.ListStartOffsets)
	case -1:
		starts = maps.Clone(ends)
	default:
		starts, err = list("time", func(ctx context.Context, t ...string) (kadm.ListedOffsets, error) {
			return adm.ListOffsetsAfterMilli(ctx, s.from, t...)
		})
	}
	if err != nil {
		return nil, nil, err
	}
	if len(s.partitions) > 0 {
		all := slices.Sorted(maps.Keys(ends))
		for p := range starts {
			if !slices.Contains(s.partitions, p) {
				delete(starts, p)
			}
		}
		for _, p := range s.partitions {
			if _, ok := ends[p]; !ok {
				return nil, nil, fmt.Errorf("--partition %d: %s has partitions %d to %d", p, physical, all[0], all[len(all)-1])
			}
		}
	}
	return starts, ends, nil
}

// isDeadLetterTopic reports whether topic is an operator's on_failure topic.
func isDeadLetterTopic(spec *topology.Spec, topic string) bool {
	for _, op := range spec.Operators {
		if op.OnFailure == topic {
			return true
		}
	}
	return false
}

// tailRecord is one record as `corb tail --format json` prints it.
type tailRecord struct {
	Topic       string          `json:"topic"` // logical
	Partition   int32           `json:"partition"`
	Offset      int64           `json:"offset"`
	Timestamp   time.Time       `json:"timestamp"`
	Key         *string         `json:"key"`                    // null: no key
	KeyEncoding string          `json:"key_encoding,omitempty"` // "base64" when the key is not UTF-8 text
	Headers     []tailHeader    `json:"headers,omitempty"`
	DeadLetter  *tailDeadLetter `json:"dead_letter,omitempty"`
	tailValue
}

type tailHeader struct {
	Key      string `json:"key"`
	Value    string `json:"value"`
	Encoding string `json:"encoding,omitempty"` // "base64" when the value is not UTF-8 text
}

// tailValue is a record's value, decoded.
type tailValue struct {
	// Encoding says what Value is: avro (the decoded fields), json (the
	// value itself), text, base64, or null (no value: a tombstone).
	Encoding string `json:"encoding"`
	Schema   string `json:"schema,omitempty"` // Avro full name of the record
	Version  int    `json:"schema_version,omitempty"`
	Value    any    `json:"value"`
	// Error says why the value is not what its topic's schema declares.
	Error string `json:"error,omitempty"`
}

// tailDeadLetter is what the corb.* headers of a dead letter say.
type tailDeadLetter struct {
	Reason   string     `json:"reason"`
	Error    string     `json:"error"`
	Operator string     `json:"operator"`
	Source   tailSource `json:"source"`
	Time     string     `json:"time"`
}

type tailSource struct {
	Topic     string `json:"topic"` // logical when the topology has it, else as written
	Partition *int32 `json:"partition"`
	Offset    *int64 `json:"offset"`
}

// tailRenderer prints records of one topic.
type tailRenderer struct {
	spec  *topology.Spec
	topic *topology.Topic
	dlq   bool
	line  bool
	w     io.Writer
}

func (r *tailRenderer) render(rec *kgo.Record) error {
	out := tailRecord{Topic: r.topic.Name, Partition: rec.Partition, Offset: rec.Offset, Timestamp: rec.Timestamp.UTC()}
	if rec.Key != nil {
		k, enc := textOrBase64(rec.Key)
		out.Key, out.KeyEncoding = &k, enc
	}
	for _, h := range rec.Headers {
		v, enc := textOrBase64(h.Value)
		out.Headers = append(out.Headers, tailHeader{Key: h.Key, Value: v, Encoding: enc})
	}
	schema := r.topic.Schema
	if r.dlq {
		out.DeadLetter = deadLetterOf(r.spec, rec)
		schema = ""
		if t, ok := r.spec.Topic(out.DeadLetter.Source.Topic); ok {
			schema = t.Schema
		}
	}
	out.tailValue = decodeValue(schema, rec.Value)
	if r.line {
		_, err := fmt.Fprintln(r.w, out.line())
		return err
	}
	b, err := json.Marshal(out)
	if err != nil { // a float NaN in a record: say so instead of stopping
		out.tailValue = tailValue{Encoding: "base64", Value: base64.StdEncoding.EncodeToString(rec.Value), Error: err.Error()}
		if b, err = json.Marshal(out); err != nil {
			return err
		}
	}
	_, err = fmt.Fprintf(r.w, "%s\n", b)
	return err
}

// deadLetterOf reads the corb.* headers of a dead letter.
func deadLetterOf(spec *topology.Spec, rec *kgo.Record) *tailDeadLetter {
	h := func(k string) string { v, _ := runtime.Header(rec, k); return v }
	d := &tailDeadLetter{Reason: h(runtime.HeaderReason), Error: h(runtime.HeaderError), Operator: h(runtime.HeaderOperator),
		Time: h(runtime.HeaderTime), Source: tailSource{Topic: h(runtime.HeaderTopic)}}
	names := spec.Names()
	for _, t := range spec.Topics {
		if names.Topic(t.Name) == d.Source.Topic {
			d.Source.Topic = t.Name
		}
	}
	if p, err := strconv.ParseInt(h(runtime.HeaderPartition), 10, 32); err == nil {
		p32 := int32(p)
		d.Source.Partition = &p32
	}
	if o, err := strconv.ParseInt(h(runtime.HeaderOffset), 10, 64); err == nil {
		d.Source.Offset = &o
	}
	return d
}

// decodeValue decodes b by schema: an Avro full name, bytes, or "" when not
// known (a dead letter from a topic outside the topology: Avro if its header
// is one of Corb's schemas, else bytes). Avro records carry their schema's
// fingerprint, so a record of another schema than the topic's is still
// decoded, and said to be.
func decodeValue(schema string, b []byte) tailValue {
	if b == nil {
		return tailValue{Encoding: "null"}
	}
	name, version, err := schemas.VersionOf(b)
	switch {
	case schema == topology.SchemaBytes:
		return bytesValue(b)
	case schema == "" && err != nil:
		return bytesValue(b)
	case schema == "":
		schema = name
	}
	var fields map[string]any
	if err == nil {
		fields, err = schemas.Fields(b)
	}
	if err != nil {
		v := bytesValue(b)
		v.Error = fmt.Sprintf("not a %s record: %v", schema, err)
		return v
	}
	v := tailValue{Encoding: "avro", Schema: name, Version: version, Value: avroFields{order: schemas.KnownFields()[name], m: fields}}
	if name != schema {
		v.Error = fmt.Sprintf("a %s record on a topic of %s", name, schema)
	}
	return v
}

// bytesValue is b as JSON when it is JSON, as text when it is UTF-8, else base64.
func bytesValue(b []byte) tailValue {
	if json.Valid(b) {
		return tailValue{Encoding: "json", Value: json.RawMessage(b)}
	}
	s, enc := textOrBase64(b)
	if enc == "" {
		enc = "text"
	}
	return tailValue{Encoding: enc, Value: s}
}

func textOrBase64(b []byte) (s, encoding string) {
	if utf8.Valid(b) {
		return string(b), ""
	}
	return base64.StdEncoding.EncodeToString(b), "base64"
}

// avroFields are a decoded record's fields in its schema's order (a map
// would print them sorted).
type avroFields struct {
	order []string
	m     map[string]any
}

func (f avroFields) keys() []string {
	keys := slices.Clone(f.order)
	for _, k := range slices.Sorted(maps.Keys(f.m)) {
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	return keys
}

func (f avroFields) MarshalJSON() ([]byte, error) {
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range f.keys() {
		kb, _ := json.Marshal(k)
		vb, err := json.Marshal(f.m[k])
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", k, err)
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(kb)
		b.WriteByte(':')
		b.Write(vb)
	}
	b.WriteByte('}')
	return []byte(b.String()), nil
}

// line is the record in `--format line`: where it is, its key, for a dead
// letter why it failed, its value, and its other headers.
func (t tailRecord) line() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s[%d]@%d %s", t.Topic, t.Partition, t.Offset, t.Timestamp.Format("2006-01-02T15:04:05.000Z07:00"))
	if t.Key != nil {
		fmt.Fprintf(&b, " key=%s", lineString(*t.Key))
	}
	if d := t.DeadLetter; d != nil {
		fmt.Fprintf(&b, " ✗ %s in %s: %s; from %s", d.Reason, d.Operator, d.Error, d.Source.Topic)
		if d.Source.Partition != nil && d.Source.Offset != nil {
			fmt.Fprintf(&b, "[%d]@%d", *d.Source.Partition, *d.Source.Offset)
		}
		fmt.Fprintf(&b, " at %s;", d.Time)
	}
	b.WriteByte(' ')
	switch v := t.Value.(type) {
	case avroFields:
		fmt.Fprintf(&b, "%s v%d ", t.Schema, t.Version)
		writeLineValue(&b, v)
	case json.RawMessage:
		var c bytes.Buffer
		if json.Compact(&c, v) == nil { // one line, as the JSON format prints it
			v = c.Bytes()
		}
		b.Write(v)
	case string:
		if t.Encoding == "base64" {
			b.WriteString("base64:")
		}
		b.WriteString(lineString(v))
	default:
		b.WriteString(t.Encoding)
	}
	if t.Error != "" {
		fmt.Fprintf(&b, " (! %s)", t.Error)
	}
	var hs []string
	for _, h := range t.Headers {
		if t.DeadLetter == nil || !strings.HasPrefix(h.Key, "corb.") {
			hs = append(hs, h.Key+"="+lineString(h.Value))
		}
	}
	if len(hs) > 0 {
		fmt.Fprintf(&b, " headers: %s", strings.Join(hs, " "))
	}
	return b.String()
}

// writeLineValue writes a decoded Avro value compactly: records as
// {name=value ...}, arrays as [a b], bytes as their length.
func writeLineValue(b *strings.Builder, v any) {
	switch v := v.(type) {
	case avroFields:
		b.WriteByte('{')
		for i, k := range v.keys() {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(k + "=")
			writeLineValue(b, v.m[k])
		}
		b.WriteByte('}')
	case map[string]any:
		writeLineValue(b, avroFields{m: v})
	case []any:
		b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				b.WriteByte(' ')
			}
			writeLineValue(b, e)
		}
		b.WriteByte(']')
	case []byte:
		fmt.Fprintf(b, "<%d bytes>", len(v))
	case string:
		b.WriteString(lineString(v))
	case time.Time:
		b.WriteString(v.UTC().Format(time.RFC3339Nano))
	case nil:
		b.WriteString("null")
	default:
		fmt.Fprint(b, v)
	}
}

// lineString quotes s when it would not read as one word.
func lineString(s string) string {
	if s == "" || strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == '"' || r == '=' || r == 0x7f }) {
		return strconv.Quote(s)
	}
	return s
}
