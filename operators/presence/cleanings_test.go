package presence_test

import (
	"math"
	"testing"
	"time"

	"github.com/corb-dev/corb/operators/cleaning/cleanings"
	"github.com/corb-dev/corb/operators/presence"
	"github.com/corb-dev/corb/operators/presence/presencetest"
	"github.com/corb-dev/corb/operators/runtimetest"
	"github.com/corb-dev/corb/schemas"
)

// TestRuntimeCleaningStartsUsageFromZero: usage accrues over a visit; a
// record of the zone's cleaning arrives on the cleanings view; the usage
// the next visit's events fold into counts from that cleaning on — without
// presence reading any command.
func TestRuntimeCleaningStartsUsageFromZero(t *testing.T) {
	const usageTopic, cleaningsTopic = "usage", "cleanings"
	cfg := presencetest.Config(1)
	zone := presencetest.ZoneID(0)
	frame := func(f int) time.Time { return presencetest.Start.Add(time.Duration(f) * 100 * time.Millisecond) }
	var recs []schemas.ZoneCounts
	for f := range 260 { // two alike visits of 2 people: frames 30–79 and 130–179
		n := int32(0)
		if (f >= 30 && f < 80) || (f >= 130 && f < 180) {
			n = 2
		}
		recs = append(recs, schemas.ZoneCounts{ZoneID: zone, CameraID: "cam-" + zone, FrameSeq: int64(f), CaptureTime: frame(f), Count: n})
	}
	const split = 125 // the first visit has been VACATED by then
	cleanedAt := frame(split)

	tt := runtimetest.New(t, runtimetest.Topics(partitions, inTopic, evTopic, occTopic, stateTopic, usageTopic, cleaningsTopic, dlqTopic),
		runtimetest.Timeout(60*time.Second))
	newOp := func() *presence.Operator {
		op, err := presence.NewOperator(cfg, presence.OperatorOptions{
			Name: "presence", Events: evTopic, Occupancy: occTopic, State: stateTopic, Usage: usageTopic, Cleanings: cleaningsTopic,
		})
		if err != nil {
			t.Fatal(err)
		}
		return op
	}
	usage := func() presence.Usage {
		t.Helper()
		var u presence.Usage
		if err := u.UnmarshalBinary(tt.State(usageTopic)[zone]); err != nil {
			t.Fatal(err)
		}
		return u
	}
	spec := presenceOperator("a", newOp())
	spec.Outputs = []string{evTopic, occTopic}
	spec.State = []string{stateTopic, usageTopic}
	spec.Tables = []string{cleaningsTopic}

	produce(t, tt, recs[:split])
	first := tt.Run(spec)
	first.WaitConsumed()
	before := usage()
	if before.Visits != 1 || before.Peak != 2 || before.PersonMinutes <= 0 || before.Count != 0 {
		t.Fatalf("usage after the first visit %+v: want 1 visit, peak 2, some person-minutes, nobody in", before)
	}

	// The cleaning is recorded while the zone is empty. The restart makes
	// sure the table holds it before the next events (the runtime reads
	// tables to their end first); the usage comes back from its changelog.
	b, err := cleanings.Record{ZoneID: zone, Cycle: 1, CleanedAt: cleanedAt, By: "+15550002", CommandID: "done-1"}.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	tt.Produce(cleaningsTopic, zone, b)
	produce(t, tt, recs[split:])
	first.Restart(newOp()).WaitConsumed()

	after := usage()
	switch {
	case !after.Since.Equal(cleanedAt):
		t.Errorf("usage since %v, want the cleaning's time %v", after.Since, cleanedAt)
	case after.Visits != 1:
		t.Errorf("%d visits since the cleaning, want 1 (the second visit alone)", after.Visits)
	case math.Abs(after.PersonMinutes-before.PersonMinutes) > 1e-9:
		t.Errorf("%v person-minutes since the cleaning, want %v (the second visit is like the first)", after.PersonMinutes, before.PersonMinutes)
	case !after.FirstSeen.Equal(frame(130)):
		t.Errorf("first seen %v since the cleaning, want the second visit's start %v", after.FirstSeen, frame(130))
	}
}
