//go:build soak && integration

package integration

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/corb-dev/corb/operators/runtime"
	"github.com/corb-dev/corb/schemas"
	"github.com/corb-dev/corb/topology"
)

// The soak's reading of the topics: when the pipeline has caught up, and
// whether every frame was detected once and nothing else came out twice.

// readCommitted reads topic at isolation read_committed up to its last
// stable offsets as of the call, and calls fn for every record (control
// records left out). With tail > 0 each partition is read from tail offsets
// before its end only. It returns, by partition, the offset of the last
// record fn saw, -1 for a partition read where it saw none (only markers and
// aborted transactions).
func readCommitted(ctx context.Context, brokers []string, topic string, tail int64, fn func(*kgo.Record)) (map[int32]int64, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("start offsets of %s: %w", topic, err)
	}
	stable, err := adm.ListCommittedOffsets(ctx, topic)
	if err == nil {
		err = stable.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("last stable offsets of %s: %w", topic, err)
	}
	todo := map[int32]int64{}
	at := map[int32]kgo.Offset{}
	last := map[int32]int64{}
	stable.Each(func(o kadm.ListedOffset) {
		begin := int64(0)
		if s, ok := starts.Lookup(topic, o.Partition); ok {
			begin = s.Offset
		}
		if tail > 0 {
			begin = max(begin, o.Offset-tail)
		}
		if o.Offset > begin {
			todo[o.Partition], at[o.Partition] = o.Offset, kgo.NewOffset().At(begin)
			last[o.Partition] = -1
		}
	})
	if len(todo) == 0 {
		return last, nil
	}
	// Control records (transaction markers) are kept only to know when a
	// partition is done: its last stable offset often follows one.
	rd, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: at}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	for len(todo) > 0 {
		fs := rd.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("reading %s: partitions %v not read to their last stable offsets: %w", topic, slices.Sorted(maps.Keys(todo)), err)
		}
		for _, fe := range fs.Errors() {
			return nil, fmt.Errorf("reading %s[%d]: %w", fe.Topic, fe.Partition, fe.Err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			end, ok := todo[r.Partition]
			if !ok || r.Offset >= end {
				return
			}
			if r.Offset+1 >= end {
				delete(todo, r.Partition)
			}
			if !r.Attrs.IsControl() {
				last[r.Partition] = r.Offset
				fn(r)
			}
		})
	}
	return last, nil
}

// lastRecords is, by partition, the offset of the last committed record of
// topic: what a consumer group has to commit past to have read it all.
func lastRecords(ctx context.Context, brokers []string, topic string) (map[int32]int64, error) {
	const tail = 256 // enough for the markers and aborted batches after the last record, almost always
	last, err := readCommitted(ctx, brokers, topic, tail, func(*kgo.Record) {})
	if err == nil && slices.Contains(slices.Collect(maps.Values(last)), -1) {
		// A partition whose last offsets hold no committed record is read from its start.
		last, err = readCommitted(ctx, brokers, topic, 0, func(*kgo.Record) {})
	}
	maps.DeleteFunc(last, func(_ int32, off int64) bool { return off < 0 })
	return last, err
}

// soakLagging lists, for every operator of spec and each of its inputs, the
// partitions its group has not committed past the last record of: empty
// when the whole pipeline has caught up. It also returns the last records
// seen, to tell a pipeline that stands still from one that moves.
func soakLagging(ctx context.Context, brokers []string, spec *topology.Spec) ([]string, map[string]map[int32]int64, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return nil, nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	names := spec.Names()
	lasts := map[string]map[int32]int64{}
	var lagging []string
	for _, op := range spec.Operators {
		committed, err := adm.FetchOffsets(ctx, names.Group(op.Name))
		if err == nil {
			err = committed.Error()
		}
		if err != nil {
			return nil, nil, fmt.Errorf("offsets of %s: %w", op.Name, err)
		}
		for _, in := range op.Inputs {
			topic := names.Topic(in)
			last, ok := lasts[topic]
			if !ok {
				if last, err = lastRecords(ctx, brokers, topic); err != nil {
					return nil, nil, err
				}
				lasts[topic] = last
			}
			for _, p := range slices.Sorted(maps.Keys(last)) {
				c, ok := committed.Lookup(topic, p)
				if !ok || c.At <= last[p] {
					at := int64(-1)
					if ok {
						at = c.At
					}
					lagging = append(lagging, fmt.Sprintf("%s %s[%d] at %d, last record %d", op.Name, in, p, at, last[p]))
				}
			}
		}
	}
	return lagging, lasts, nil
}

// soakOutcome is what the topics hold once the pipeline has caught up.
type soakOutcome struct {
	Frames, FrameDups     int // frame records; records of a (camera, seq, capture time) already seen
	Detections            int
	Lost, Duplicated      int // frames without their detection; detections beyond one a frame record
	ZoneCounts, Zones     int
	ZoneLost, ZoneDup     int // (zone, frame) pairs without their count, and counts beyond one
	Events, EventDups     int // events; events whose id was seen already
	EventTypes            map[string]int
	Commands, CommandDups int
	CommandTypes          map[string]int
	DeadLetters           map[string]int // "topic operator reason" → letters
	DeadLetterErrors      []string       // the first few letters' errors
	Examples              []string       // the first few losses and duplicates
}

func (o *soakOutcome) example(format string, args ...any) {
	if len(o.Examples) < 10 {
		o.Examples = append(o.Examples, fmt.Sprintf(format, args...))
	}
}

func frameKey(camera string, seq int64, at time.Time) string {
	// Milliseconds: the precision every schema keeps a capture time at.
	return fmt.Sprintf("%s/%d/%d", camera, seq, at.UnixMilli())
}

// soakVerify reads every output of the pipeline and counts what is lost and
// what is there twice.
func soakVerify(ctx context.Context, brokers []string, spec *topology.Spec) (*soakOutcome, error) {
	names := spec.Names()
	o := &soakOutcome{EventTypes: map[string]int{}, CommandTypes: map[string]int{}, DeadLetters: map[string]int{}}
	var decodeErr error
	decode := func(r *kgo.Record, v schemas.Record) bool {
		if err := schemas.Unmarshal(r.Value, v); err != nil {
			decodeErr = cmp.Or(decodeErr, fmt.Errorf("%s[%d]@%d: %w", r.Topic, r.Partition, r.Offset, err))
			return false
		}
		return true
	}

	frames := map[string]int{}
	if _, err := readCommitted(ctx, brokers, names.Topic("frames"), 0, func(r *kgo.Record) {
		var f schemas.Frame
		if decode(r, &f) {
			k := frameKey(f.CameraID, f.Seq, f.CaptureTime)
			if frames[k]++; frames[k] > 1 {
				o.FrameDups++
			}
			o.Frames++
		}
	}); err != nil {
		return nil, err
	}

	dets := map[string]int{}
	if _, err := readCommitted(ctx, brokers, names.Topic("detections"), 0, func(r *kgo.Record) {
		var d schemas.Detections
		if decode(r, &d) {
			dets[frameKey(d.CameraID, d.FrameSeq, d.CaptureTime)]++
			o.Detections++
		}
	}); err != nil {
		return nil, err
	}
	for _, k := range slices.Sorted(maps.Keys(frames)) {
		if n := frames[k] - dets[k]; n > 0 {
			o.Lost += n
			o.example("frame %s: %d records, %d detections", k, frames[k], dets[k])
		}
	}
	for _, k := range slices.Sorted(maps.Keys(dets)) {
		if n := dets[k] - frames[k]; n > 0 {
			o.Duplicated += n
			o.example("frame %s: %d detections, %d frame records", k, dets[k], frames[k])
		}
	}

	// Every detection gives one count to every zone of its camera (zero is
	// information); deploy/zones.yaml has one camera, vtest.
	counts := map[string]int{}
	zones := map[string]bool{}
	if _, err := readCommitted(ctx, brokers, names.Topic("zone-counts"), 0, func(r *kgo.Record) {
		var z schemas.ZoneCounts
		if decode(r, &z) {
			counts[z.ZoneID+" "+frameKey(z.CameraID, z.FrameSeq, z.CaptureTime)]++
			zones[z.ZoneID] = true
			o.ZoneCounts++
		}
	}); err != nil {
		return nil, err
	}
	o.Zones = len(zones)
	for _, z := range slices.Sorted(maps.Keys(zones)) {
		for _, k := range slices.Sorted(maps.Keys(dets)) {
			switch n := counts[z+" "+k]; {
			case n < dets[k]:
				o.ZoneLost += dets[k] - n
				o.example("zone %s, frame %s: %d counts for %d detections", z, k, n, dets[k])
			case n > dets[k]:
				o.ZoneDup += n - dets[k]
				o.example("zone %s, frame %s: %d counts for %d detections", z, k, n, dets[k])
			}
		}
	}

	events := map[string]bool{}
	if _, err := readCommitted(ctx, brokers, names.Topic("events"), 0, func(r *kgo.Record) {
		var ev schemas.PresenceEvent
		if decode(r, &ev) {
			if events[ev.EventID] {
				o.EventDups++
				o.example("event %s (%s %s) twice", ev.EventID, ev.ZoneID, ev.Type)
			}
			events[ev.EventID] = true
			o.Events++
			o.EventTypes[string(ev.Type)]++
		}
	}); err != nil {
		return nil, err
	}

	cmds := map[string]bool{}
	if _, err := readCommitted(ctx, brokers, names.Topic("commands"), 0, func(r *kgo.Record) {
		var c schemas.Command
		if decode(r, &c) {
			if cmds[c.ID] {
				o.CommandDups++
				o.example("command %s (%s) twice", c.ID, c.CommandType)
			}
			cmds[c.ID] = true
			o.Commands++
			o.CommandTypes[c.CommandType]++
		}
	}); err != nil {
		return nil, err
	}

	dlqs := map[string]bool{}
	for _, op := range spec.Operators {
		if op.OnFailure != "" {
			dlqs[op.OnFailure] = true
		}
	}
	for _, dlq := range slices.Sorted(maps.Keys(dlqs)) {
		if _, err := readCommitted(ctx, brokers, names.Topic(dlq), 0, func(r *kgo.Record) {
			h := map[string]string{}
			for _, kv := range r.Headers {
				h[kv.Key] = string(kv.Value)
			}
			o.DeadLetters[dlq+" "+h[runtime.HeaderOperator]+" "+h[runtime.HeaderReason]]++
			if len(o.DeadLetterErrors) < 5 {
				o.DeadLetterErrors = append(o.DeadLetterErrors, fmt.Sprintf("%s@%d: %s", dlq, r.Offset, h[runtime.HeaderError]))
			}
		}); err != nil {
			return nil, err
		}
	}
	return o, decodeErr
}

func (o *soakOutcome) deadLetters() int {
	n := 0
	for _, v := range o.DeadLetters {
		n += v
	}
	return n
}

func countsLine(m map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
