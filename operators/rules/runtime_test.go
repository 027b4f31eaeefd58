package rules_test

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/corb-dev/corb/operators"
	"github.com/corb-dev/corb/operators/kind"
	"github.com/corb-dev/corb/operators/presence"
	"github.com/corb-dev/corb/operators/rules"
	"github.com/corb-dev/corb/operators/runtimetest"
	"github.com/corb-dev/corb/schemas"
)

// --- the kind through the runtime, on kfake ------------------------------------

// tablesSeen is a rules operator whose tables the test can look into, to
// wait until a table record it produced has reached the operator.
type tablesSeen struct {
	*rules.Operator
	tables atomic.Pointer[map[string]operators.Table]
}

func (o *tablesSeen) UseTables(tables map[string]operators.Table) {
	o.tables.Store(&tables)
	o.Operator.UseTables(tables)
}

// buildRules builds the kind as the topology would, on the default zones.
func buildRules(t *testing.T, config string) *tablesSeen {
	t.Helper()
	op, err := rules.Kind().Build(context.Background(), kind.Env{Log: slog.New(slog.DiscardHandler)}, kindOperator(t, "zones_file: "+zonesFile+"\ntimezone: UTC\n"+config, allTables, []string{"rules-state"}))
	if err != nil {
		t.Fatal(err)
	}
	return &tablesSeen{Operator: op.(*rules.Operator)}
}

func newRuntime(t *testing.T) *runtimetest.Tester {
	return runtimetest.New(t, runtimetest.Topics(3, "events", "rules-state", "commands", "subscriptions", "usage", "cleanings"),
		runtimetest.Topics(1, "events-dlq"), runtimetest.Timeout(60*time.Second))
}

func rulesOperator(op operators.Operator) runtimetest.Operator {
	return runtimetest.Operator{Name: "rules", Inputs: []string{"events"}, Outputs: []string{"commands", "subscriptions"},
		State: []string{"rules-state"}, Tables: allTables, DeadLetter: "events-dlq", Operator: op}
}

// produceTable writes a table record and waits until op's table holds it.
func produceTable(tt *runtimetest.Tester, op *tablesSeen, topic, key string, value []byte) {
	tt.Produce(topic, key, value)
	tt.Eventually(topic+" "+key+" in the operator's table", func() bool {
		m := op.tables.Load()
		if m == nil {
			return false
		}
		got, ok := (*m)[topic].Get(key)
		return ok && bytes.Equal(got, value)
	})
}

func subscribeCommand(zone, phone string, once bool) *schemas.Command {
	cmd := schemas.NewCommand(schemas.CommandSubscribe, schemas.Cause{Kind: schemas.CauseSMS, ID: "SM-" + zone + phone})
	cmd.ZoneID, cmd.Channel, cmd.Sender = zone, "sms", phone
	cmd.Subscribe = &schemas.SubscribeArgs{Transitions: []schemas.PresenceType{schemas.Vacated}, Once: once, Subscriber: phone}
	return cmd
}

func sendSMS(t *testing.T, tt *runtimetest.Tester, n int) []schemas.Command {
	t.Helper()
	var out []schemas.Command
	for _, c := range runtimetest.Decode[schemas.Command](t, tt.Expect("commands", n)) {
		if c.CommandType == schemas.CommandSendSMS {
			out = append(out, c)
		}
	}
	return out
}

// A VACATED event for a zone with a subscriber is one text, however often it
// is produced, and after the operator restarts from its changelog. No
// cooldown: only the operator's memory of the event keeps the count at one.
func TestRuntimeNotifiesOnce(t *testing.T) {
	tt := newRuntime(t)
	tt.ProduceAvro("subscriptions", "lawn "+alice, subscribeCommand("lawn", alice, false))
	ev := vacated("ev-1", "lawn", t0, time.Minute)
	tt.ProduceAvro("events", "lawn", &ev)
	tt.ProduceAvro("events", "lawn", &ev)
	first := tt.Run(rulesOperator(buildRules(t, "cooldown: 0s")))

	got := sendSMS(t, tt, 1)
	if len(got) != 1 || got[0].SendSMS.To != alice || got[0].SendSMS.Body != "Lawn is free again (vacated 14:01)." {
		t.Fatalf("commands: %+v", got)
	}
	first.WaitConsumed()
	if st := tt.State("rules-state"); st["lawn"] == nil {
		t.Errorf("rules-state has no state for lawn: %q", st)
	}

	second := first.Restart(buildRules(t, "cooldown: 0s"))
	tt.ProduceAvro("events", "lawn", &ev)
	second.WaitConsumed()
	sendSMS(t, tt, 1)

	// A new event is a new text: the restarted operator is not merely mute.
	ev2 := vacated("ev-2", "lawn", t0.Add(time.Hour), time.Minute)
	tt.ProduceAvro("events", "lawn", &ev2)
	if got := sendSMS(t, tt, 2); got[1].Cause.ID != "ev-2" {
		t.Fatalf("second text caused by %+v, want ev-2", got[1].Cause)
	}
}

// A one-shot fires once and is tombstoned; usage past the policy is one
// request per cleaning cycle, and the next cycle's only once the policy is
// passed again.
func TestRuntimeOneShotAndCleaningCycles(t *testing.T) {
	tt := newRuntime(t)
	op := buildRules(t, "visits: 3")
	tt.ProduceAvro("subscriptions", "lawn "+alice, subscribeCommand("lawn", alice, true))
	inst := tt.Run(rulesOperator(op))
	produceTable(tt, op, "usage", "lawn", usage(t, presence.Usage{ZoneID: "lawn", Visits: 3}))

	ev := func(i int) {
		e := vacated("ev-"+string(rune('a'+i)), "lawn", t0.Add(time.Duration(i)*time.Hour), time.Minute)
		tt.ProduceAvro("events", "lawn", &e)
	}
	ev(0)
	cmds := runtimetest.Decode[schemas.Command](t, tt.Expect("commands", 2))
	types := []string{cmds[0].CommandType, cmds[1].CommandType}
	if slices.Sort(types); !slices.Equal(types, []string{schemas.CommandRequestCleaning, schemas.CommandSendSMS}) {
		t.Fatalf("commands %q, want a text and a cleaning request", types)
	}
	subs := tt.Expect("subscriptions", 2)
	if subs[1].Value != nil || string(subs[1].Key) != "lawn "+alice {
		t.Fatalf("subscriptions[1] = %q=%q, want the one-shot's tombstone", subs[1].Key, subs[1].Value)
	}

	// More events: the one-shot is spent, cycle 1 requested.
	ev(1)
	ev(2)
	inst.WaitConsumed()
	tt.Expect("commands", 2)

	// Cleaned (cycle 1 done); the usage view not reset yet counts as zero.
	cleanedAt := t0.Add(10 * time.Hour)
	produceTable(tt, op, "cleanings", "lawn", cleaned(t, "lawn", 1, cleanedAt))
	ev(11)
	inst.WaitConsumed()
	tt.Expect("commands", 2)

	// Reset, and past the policy again: cycle 2.
	produceTable(tt, op, "usage", "lawn", usage(t, presence.Usage{ZoneID: "lawn", Since: cleanedAt, Visits: 3}))
	ev(12)
	ev(13)
	var cycles []int64
	for _, c := range runtimetest.Decode[schemas.Command](t, tt.Expect("commands", 3)) {
		if c.CommandType != schemas.CommandRequestCleaning {
			continue
		}
		cycles = append(cycles, c.RequestCleaning.Cycle)
		if c.Cause != (schemas.Cause{Kind: schemas.CauseCycle, ID: schemas.CycleID("lawn", c.RequestCleaning.Cycle)}) {
			t.Errorf("request of cycle %d caused by %+v", c.RequestCleaning.Cycle, c.Cause)
		}
	}
	if slices.Sort(cycles); !slices.Equal(cycles, []int64{1, 2}) {
		t.Fatalf("requests of cycles %v, want 1 and 2", cycles)
	}
}

// What is not a presence event is dead-lettered; the operator goes on.
func TestRuntimeDeadLettersBadInput(t *testing.T) {
	tt := newRuntime(t)
	tt.ProduceAvro("subscriptions", "lawn "+alice, subscribeCommand("lawn", alice, false))
	tt.Produce("events", "lawn", []byte("not a presence event"))
	tt.ProduceAvro("events", "lawn", subscribeCommand("lawn", bob, false))
	ev := vacated("ev-1", "lawn", t0, time.Minute)
	tt.ProduceAvro("events", "lawn", &ev)
	tt.Run(rulesOperator(buildRules(t, "")))

	for _, dl := range tt.DeadLetters("events-dlq", 2) {
		if dl.Reason != "permanent" || dl.Operator != "rules" {
			t.Errorf("dead letter %q: reason %s from %s, want permanent from rules", dl.Error, dl.Reason, dl.Operator)
		}
	}
	sendSMS(t, tt, 1)
}
