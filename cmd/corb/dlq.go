package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v3"
	"golang.org/x/term"

	"github.com/corb-dev/corb/connectors/dlq"
	"github.com/corb-dev/corb/topology"
)

// dlqCommand is `corb dlq`: the dead-letter topics, read and replayed.
func dlqCommand() *cli.Command {
	return &cli.Command{
		Name:  "dlq",
		Usage: "dead letters: what failed and why, and replaying it after a fix, exactly once",
		Description: `A record an operator cannot process (a permanent error, a panic, retries
exhausted, an output it did not declare) goes to the operator's on_failure topic
with its original key, value, timestamp and headers, and corb.* headers that say
why (corb.reason, corb.error, corb.operator, corb.time) and whence
(corb.source.topic/partition/offset). These commands read those topics back and
send their records to where they came from once the cause is fixed.

  corb dlq list [TOPIC]      each dead-letter topic: letters by operator and reason,
                             offsets, first and last failure, how many were replayed
  corb dlq show TOPIC        the letters: headers decoded, the source, the error,
                             the value decoded by the source topic's schema
  corb dlq replay TOPIC      send the chosen letters back to their source topic

TOPIC is a dead-letter topic of the topology (its logical name, or the physical
<namespace>.<name>). Letters are chosen by --partition, --offset or --from/--to
(offsets of the dead-letter topic, in each partition read), --operator and
--reason (a case-insensitive part of corb.reason or corb.error).

What replay guarantees: each letter is re-driven at most once, ever, and a run
that fails part-way leaves no half batch. The record goes back as it was read
(key, value, timestamp, its own headers, the same partition of the source topic)
with a corb.replayed-from header naming the letter (<dlq topic>/<partition>/<offset>).
Every batch of replayed records is written in one Kafka transaction together with
a marker per letter in the topic's replay log, <namespace>.<dlq>.replayed (a
compacted topic replay creates), under one transactional id per dead-letter topic
(<namespace>.dlq-replay-<dlq>). A replay first takes that id, which fences a replay
still running and ends its open transaction, then reads the log: letters with a
marker are skipped, so replaying the same range again sends nothing twice, and
after a failure running the replay again sends exactly what is missing. The
operators read read_committed and process the replayed records once. Every
operator reading the source topic sees them, not only the one that failed: the
replay says which others read it.

Fix the cause first (the operator's config, the zones file, a new binary), then
'corb dlq replay --dry-run TOPIC' to see what would go, then replay.

Examples:
  corb dlq list
  corb dlq show --reason "unknown zone" --limit 5 zone-counts-dlq
  corb dlq replay --dry-run --operator presence zone-counts-dlq
  corb dlq replay --from 120 --to 180 zone-counts-dlq`,
		Commands: []*cli.Command{dlqListCommand(), dlqShowCommand(), dlqReplayCommand()},
	}
}

// dlqSelectFlags choose letters: shared by show and replay.
func dlqSelectFlags(limitUsage string) []cli.Flag {
	return []cli.Flag{
		&cli.Int32SliceFlag{Name: "partition", Usage: "only these partitions of the dead-letter topic (repeatable; default: all)"},
		&cli.Int64Flag{Name: "offset", Usage: "only the letter at this offset", DefaultText: "any"},
		&cli.Int64Flag{Name: "from", Usage: "first offset", DefaultText: "the start"},
		&cli.Int64Flag{Name: "to", Usage: "last offset, inclusive", DefaultText: "the end"},
		&cli.StringFlag{Name: "operator", Usage: "only letters of this operator (corb.operator)"},
		&cli.StringFlag{Name: "reason", Usage: "only letters whose corb.reason or corb.error contains this, ignoring case"},
		&cli.IntFlag{Name: "limit", Usage: limitUsage},
	}
}

func dlqCommonFlags() []cli.Flag { return []cli.Flag{topologyFlag(), namespaceFlag(), brokersFlag()} }

func dlqListCommand() *cli.Command {
	return &cli.Command{
		Name:      "list",
		Usage:     "count each dead-letter topic's letters by operator and reason",
		ArgsUsage: "[TOPIC]",
		Description: `Reads every dead-letter topic of the topology (the on_failure topics), or TOPIC,
to its end (read_committed) and prints, for each, how many letters it holds, the
offsets they are at (partition[first..last]), the first and last failure time,
how many were replayed (by its replay log), and one row per operator and reason
with the most frequent error. --format json prints one object per topic.`,
		Flags:  append(dlqCommonFlags(), &cli.StringFlag{Name: "format", Value: "table", Usage: "table or json"}),
		Action: runDLQList,
	}
}

func dlqShowCommand() *cli.Command {
	return &cli.Command{
		Name:      "show",
		Usage:     "print the letters of a dead-letter topic, decoded",
		ArgsUsage: "TOPIC",
		Description: `Prints each chosen letter as 'corb tail' does: its offset and time, key, the
reason, operator and error, the source topic[partition]@offset, the value decoded
by the source topic's schema (else as JSON, text or base64) and the record's own
headers; and, when it was replayed, when and to which offset. --format json is one
object per line (the default when stdout is not a terminal), with "replayed".`,
		Flags: append(append(dlqCommonFlags(), dlqSelectFlags("print at most this many (0: no limit)")...),
			&cli.StringFlag{Name: "format", Usage: "line or json (default: line on a terminal, json otherwise)"}),
		Action: runDLQShow,
	}
}

func dlqReplayCommand() *cli.Command {
	return &cli.Command{
		Name:      "replay",
		Usage:     "send chosen letters back to their source topic, exactly once",
		ArgsUsage: "TOPIC",
		Description: `Re-drives the chosen letters of TOPIC that were not replayed before to their
source topic and partition (an input of the operator that failed), in offset
order, in transactions of --batch letters with their markers in the replay log
(see 'corb dlq --help'). Letters replayed before are skipped, and said to be;
letters that cannot go (no readable source headers, a source topic that is not
an input of the operators dead-lettering to TOPIC or is gone) are refused, each
with why. --limit counts letters replayed, not those skipped. --dry-run decides
the same and writes nothing. Without a selection every letter not yet replayed
goes.`,
		Flags: append(append(dlqCommonFlags(), dlqSelectFlags("replay at most this many (0: no limit)")...),
			&cli.BoolFlag{Name: "dry-run", Aliases: []string{"n"}, Usage: "say what would be replayed, write nothing"},
			&cli.IntFlag{Name: "batch", Value: dlq.DefaultBatchRecords, Usage: "letters per transaction"},
			&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "print every letter replayed and skipped, not only the counts"},
			&cli.StringFlag{Name: "format", Value: "text", Usage: "text or json (the report as one object)"},
		),
		Action: runDLQReplay,
	}
}

// dlqTopic is a dead-letter topic of the topology, and who writes it.
type dlqTopic struct {
	topic     *topology.Topic
	physical  string
	log       string // its replay log, physical
	operators []*topology.Operator
	inputs    []string // the operators' inputs, logical, in topology order
}

func (d dlqTopic) operatorNames() []string {
	var out []string
	for _, op := range d.operators {
		out = append(out, op.Name)
	}
	return out
}

// dlqTopics are the topology's dead-letter topics, in topic order, or the
// one named.
func dlqTopics(spec *topology.Spec, name string) ([]dlqTopic, error) {
	var out []dlqTopic
	names := spec.Names()
	for i := range spec.Topics {
		t := &spec.Topics[i]
		if name != "" && t.Name != name && names.Topic(t.Name) != name {
			continue
		}
		d := dlqTopic{topic: t, physical: names.Topic(t.Name), log: names.ReplayLog(t.Name)}
		for j := range spec.Operators {
			op := &spec.Operators[j]
			if op.OnFailure != t.Name {
				continue
			}
			d.operators = append(d.operators, op)
			for _, in := range op.Inputs {
				if !slices.Contains(d.inputs, in) {
					d.inputs = append(d.inputs, in)
				}
			}
		}
		if len(d.operators) == 0 {
			if name != "" {
				return nil, fmt.Errorf("%s is not a dead-letter topic: no operator of %s names it on_failure (those that are: %s)",
					name, spec.File, strings.Join(dlqNames(spec), ", "))
			}
			continue
		}
		out = append(out, d)
	}
	if name != "" && len(out) == 0 {
		_, err := tailTopic(spec, name)
		return nil, err
	}
	return out, nil
}

func dlqNames(spec *topology.Spec) []string {
	var out []string
	for _, t := range spec.Topics {
		if isDeadLetterTopic(spec, t.Name) {
			out = append(out, t.Name)
		}
	}
	return out
}

// dlqSetup loads the topology, the named topic(s) and the brokers.
func dlqSetup(cmd *cli.Command) (*topology.Spec, []dlqTopic, dlq.Config, error) {
	spec, err := loadTopology(cmd)
	if err != nil {
		return nil, nil, dlq.Config{}, err
	}
	ts, err := dlqTopics(spec, cmd.Args().First())
	if err != nil {
		return nil, nil, dlq.Config{}, err
	}
	cfg := dlq.Config{Brokers: brokers(cmd)}
	if len(cfg.Brokers) == 0 {
		return nil, nil, cfg, errors.New("no brokers: set --brokers or CORB_BROKERS")
	}
	return spec, ts, cfg, nil
}

// dlqFilter reads the selection flags against the topic's operators.
func dlqFilter(cmd *cli.Command, d dlqTopic) (dlq.Filter, error) {
	f := dlq.Filter{Partitions: cmd.Int32Slice("partition"), Operator: cmd.String("operator"),
		Reason: cmd.String("reason"), Limit: cmd.Int("limit")}
	switch {
	case cmd.IsSet("offset") && (cmd.IsSet("from") || cmd.IsSet("to")):
		return f, usageErrorf(cmd, "--offset and --from/--to choose offsets both: give one")
	case cmd.IsSet("offset"):
		f.From, f.Until = cmd.Int64("offset"), cmd.Int64("offset")+1
	default:
		f.From = cmd.Int64("from")
		if cmd.IsSet("to") {
			f.Until = cmd.Int64("to") + 1
			if f.Until <= f.From {
				return f, usageErrorf(cmd, "--to %d is before --from %d", cmd.Int64("to"), f.From)
			}
		}
	}
	if f.Operator != "" && !slices.Contains(d.operatorNames(), f.Operator) {
		return f, fmt.Errorf("--operator %s: no such operator dead-letters to %s (those that do: %s)",
			f.Operator, d.topic.Name, strings.Join(d.operatorNames(), ", "))
	}
	return f, f.Check()
}

func runDLQList(ctx context.Context, cmd *cli.Command) error {
	format := cmd.String("format")
	if format != "table" && format != "json" {
		return fmt.Errorf("--format %q: want table or json", format)
	}
	_, ts, cfg, err := dlqSetup(cmd)
	if err != nil {
		return err
	}
	w := cmd.Root().Writer
	var listed []dlqListed
	for _, d := range ts {
		s, err := dlq.Summarize(ctx, cfg, d.physical, d.log)
		l := dlqListed{Topic: d.topic.Name, Physical: d.physical, ReplayLog: d.log, Operators: d.operatorNames(), Summary: s}
		switch {
		case errors.Is(err, dlq.ErrNoTopic):
			l.Error = "not on the cluster: create it with 'corb topology apply'"
		case err != nil:
			return err
		}
		listed = append(listed, l)
	}
	if format == "json" {
		enc := json.NewEncoder(w)
		for _, l := range listed {
			if err := enc.Encode(l); err != nil {
				return err
			}
		}
		return nil
	}
	return writeDLQTable(w, listed)
}

// dlqListed is one topic of `corb dlq list`.
type dlqListed struct {
	Topic     string   `json:"topic"` // logical; hides Summary's physical one
	Physical  string   `json:"physical"`
	ReplayLog string   `json:"replay_log"`
	Operators []string `json:"operators"` // those that dead-letter here
	Error     string   `json:"error,omitempty"`
	dlq.Summary
}

func writeDLQTable(w io.Writer, listed []dlqListed) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tLETTERS\tREPLAYED\tOFFSETS\tFIRST FAILURE\tLAST FAILURE\tOPERATORS")
	for _, l := range listed {
		if l.Error != "" {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\t%s (%s)\n", l.Topic, strings.Join(l.Operators, ","), l.Error)
			continue
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\n", l.Topic, l.Letters, l.Replayed, offsetRanges(l.Partitions),
			dlqTime(l.First), dlqTime(l.Last), strings.Join(l.Operators, ","))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, l := range listed {
		if len(l.Groups) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s (%s):\n", l.Topic, l.Physical)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  OPERATOR\tREASON\tLETTERS\tREPLAYED\tFIRST\tLAST\tMOST FREQUENT ERROR")
		for _, g := range l.Groups {
			e := g.Error
			if g.Errors > 1 {
				e += fmt.Sprintf("  (+%d other errors)", g.Errors-1)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%d\t%d\t%s\t%s\t%s\n", orDash(g.Operator), orDash(g.Reason), g.Letters, g.Replayed,
				dlqTime(g.First), dlqTime(g.Last), lineString(e))
		}
		if l.Unreadable > 0 {
			fmt.Fprintf(tw, "  (%d records without readable corb.source.* headers: not replayable)\n", l.Unreadable)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// offsetRanges is "0[3..250] 2[7..9]", or "-" when no partition has letters.
func offsetRanges(ps []dlq.PartitionSummary) string {
	var out []string
	for _, p := range ps {
		if p.Letters > 0 {
			out = append(out, fmt.Sprintf("%d[%d..%d]", p.Partition, p.First, p.Last))
		}
	}
	if len(out) == 0 {
		return "-"
	}
	return strings.Join(out, " ")
}

func dlqTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02T15:04:05Z")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func runDLQShow(ctx context.Context, cmd *cli.Command) error {
	spec, ts, cfg, err := dlqSetup(cmd)
	if err != nil {
		return err
	}
	d := ts[0]
	f, err := dlqFilter(cmd, d)
	if err != nil {
		return err
	}
	w := cmd.Root().Writer
	line := false
	switch format := cmd.String("format"); format {
	case "":
		out, ok := w.(*os.File)
		line = ok && term.IsTerminal(int(out.Fd()))
	case "line":
		line = true
	case "json":
	default:
		return fmt.Errorf("--format %q: want line or json", format)
	}
	log, err := dlq.LoadLog(ctx, cfg, d.log, d.physical)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	r := tailRenderer{spec: spec, topic: d.topic, dlq: true, line: line, w: &buf}
	return dlq.Each(ctx, cfg, d.physical, f, func(l *dlq.Letter) error {
		buf.Reset()
		if err := r.render(l.Record); err != nil {
			return err
		}
		out := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
		m, replayed := log.Markers[l.Ref()]
		switch {
		case !replayed:
		case line:
			out = fmt.Appendf(out, " ↺ replayed %s to %s", dlqTime(m.At), logicalRef(spec, m.To))
		default: // one more member of the object
			b, err := json.Marshal(m)
			if err != nil {
				return err
			}
			out = append(bytes.TrimSuffix(out, []byte("}")), `,"replayed":`...)
			out = append(append(out, b...), '}')
		}
		_, err := fmt.Fprintf(w, "%s\n", out)
		return err
	})
}

// logicalRef is "topic[p]@offset" with the topic's logical name when the
// topology has it.
func logicalRef(spec *topology.Spec, r dlq.Ref) string {
	topic := r.Topic
	for _, t := range spec.Topics {
		if spec.Names().Topic(t.Name) == r.Topic {
			topic = t.Name
		}
	}
	if r.Offset < 0 {
		return fmt.Sprintf("%s[%d]", topic, r.Partition)
	}
	return fmt.Sprintf("%s[%d]@%d", topic, r.Partition, r.Offset)
}

func runDLQReplay(ctx context.Context, cmd *cli.Command) error {
	format := cmd.String("format")
	if format != "text" && format != "json" {
		return fmt.Errorf("--format %q: want text or json", format)
	}
	spec, ts, cfg, err := dlqSetup(cmd)
	if err != nil {
		return err
	}
	d := ts[0]
	f, err := dlqFilter(cmd, d)
	if err != nil {
		return err
	}
	if cmd.Int("batch") < 1 {
		return fmt.Errorf("--batch %d: want 1 or more", cmd.Int("batch"))
	}
	names := spec.Names()
	rc := dlq.ReplayConfig{
		Config: cfg, Topic: d.physical, Log: d.log, TransactionalID: names.ReplayTransactionalID(d.topic.Name),
		LogReplication: int16(d.topic.Replication), BatchRecords: cmd.Int("batch"), DryRun: cmd.Bool("dry-run"),
	}
	for _, in := range d.inputs {
		rc.Targets = append(rc.Targets, names.Topic(in))
	}
	r, err := dlq.OpenReplay(ctx, rc)
	if err != nil {
		return err
	}
	defer r.Close()
	rep, err := r.Replay(ctx, f)
	w := cmd.Root().Writer
	if format == "json" {
		if jerr := json.NewEncoder(w).Encode(rep); jerr != nil {
			return errors.Join(err, jerr)
		}
		return err
	}
	writeReplayReport(w, spec, d, rc, rep, cmd.Bool("verbose"))
	return err
}

func writeReplayReport(w io.Writer, spec *topology.Spec, d dlqTopic, rc dlq.ReplayConfig, rep dlq.Report, verbose bool) {
	ref := func(r dlq.Ref) string { return logicalRef(spec, r) }
	for _, m := range rep.Replayed {
		if rep.DryRun || verbose {
			verb := "replayed"
			if rep.DryRun {
				verb = "would replay"
			}
			fmt.Fprintf(w, "%s %s → %s (%s, %s)\n", verb, ref(m.From), ref(m.To), orDash(m.Operator), orDash(m.Reason))
		}
	}
	if verbose {
		for _, m := range rep.Skipped {
			fmt.Fprintf(w, "skipped %s: replayed %s to %s\n", ref(m.From), dlqTime(m.At), ref(m.To))
		}
	}
	for _, x := range rep.Refused {
		fmt.Fprintf(w, "refused %s: %s\n", ref(x.Letter), x.Why)
	}
	what := fmt.Sprintf("replayed %d", len(rep.Replayed))
	if rep.DryRun {
		what = fmt.Sprintf("dry run: would replay %d", len(rep.Replayed))
	}
	fmt.Fprintf(w, "%s: %s of %d letters chosen to %s", d.topic.Name, what, rep.Selected, strings.Join(d.inputs, ", "))
	if !rep.DryRun {
		fmt.Fprintf(w, " in %d transaction%s", rep.Transactions, map[bool]string{true: "s"}[rep.Transactions != 1])
	}
	fmt.Fprintf(w, "; skipped %d already replayed; refused %d\n", len(rep.Skipped), len(rep.Refused))
	if !rep.DryRun && len(rep.Replayed) > 0 {
		fmt.Fprintf(w, "  replay log %s, transactional id %s\n", rc.Log, rc.TransactionalID)
	}
	if len(rep.Replayed) == 0 {
		return
	}
	// Every operator reading the source topic sees the replayed records.
	failed := d.operatorNames()
	for _, in := range d.inputs {
		var others []string
		for _, op := range spec.Consumers(in) {
			if !slices.Contains(failed, op.Name) {
				o := op.Name
				if len(op.Match) > 0 {
					o += " (match " + op.Match.String() + ")"
				}
				others = append(others, o)
			}
		}
		if len(others) > 0 {
			fmt.Fprintf(w, "  note: %s is also read by %s: they see the replayed records too\n", in, strings.Join(others, ", "))
		}
	}
}
