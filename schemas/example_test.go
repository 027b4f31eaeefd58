package schemas_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/corb-dev/corb/schemas"
)

func Example() {
	in := &schemas.PresenceEvent{
		EventID:   "kitchen/1",
		ZoneID:    "kitchen",
		Type:      schemas.Occupied,
		Count:     2,
		Peak:      2,
		EventTime: time.Date(2025, 3, 14, 9, 30, 0, 0, time.UTC),
	}
	b, err := schemas.Marshal(in)
	if err != nil {
		fmt.Println(err)
		return
	}
	name, _ := schemas.NameOf(b)
	fmt.Printf("% x ... %s\n", b[:2], name)

	var out schemas.PresenceEvent
	if err := schemas.Unmarshal(b, &out); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(out.ZoneID, out.Type, out.Count, out.EventTime)

	// The wrong destination type is a classifiable error.
	var f schemas.Frame
	err = schemas.Unmarshal(b, &f)
	fmt.Println(errors.Is(err, schemas.ErrWrongSchema))

	// Output:
	// c3 01 ... corb.PresenceEvent
	// kitchen OCCUPIED 2 2025-03-14 09:30:00 +0000 UTC
	// true
}

func ExampleFields() {
	b, err := schemas.Marshal(&schemas.Command{
		ID:          "c1",
		CommandType: "send_sms",
		SendSMS:     &schemas.SendSMSArgs{To: "+15555550100", Body: "Kitchen is free"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fields, err := schemas.Fields(b)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(fields["command_type"], fields["args"].(map[string]any)["to"])
	// Output: send_sms +15555550100
}

// A command's id comes from its cause, so a redelivered cause (here the same
// Twilio MessageSid, as a retried webhook brings it) gives the same id.
func ExampleNewCommand() {
	first := schemas.NewCommand(schemas.CommandStatus, schemas.Cause{Kind: schemas.CauseSMS, ID: "SM0123456789abcdef0123456789abcdef"})
	retried := schemas.NewCommand(schemas.CommandStatus, schemas.Cause{Kind: schemas.CauseSMS, ID: "SM0123456789abcdef0123456789abcdef"})
	fmt.Println(first.ID, first.ID == retried.ID)
	fmt.Println(first.ID == schemas.CommandID("SMS", "SM0123456789abcdef0123456789abcdef", ""))
	// Output:
	// 9064f8e8773f660f4314a76da90a1bb2 true
	// true
}

// A handler's reply is a child of the command it answers: caused by it, with
// the chain's correlation id, so "corb sms simulate" can find the reply to
// the message it sent.
func ExampleCommand_Child() {
	in := schemas.NewCommand(schemas.CommandSubscribe, schemas.Cause{Kind: schemas.CauseSMS, ID: "SM1"})
	in.ZoneID = "kitchen"
	in.Subscribe = &schemas.SubscribeArgs{Transitions: []schemas.PresenceType{schemas.Vacated}, Once: true, Subscriber: "+15550001"}

	reply := in.Child(schemas.CommandSendSMS, "reply")
	reply.SendSMS = &schemas.SendSMSArgs{To: "+15550001", Body: "OK: you will hear once when kitchen is free."}
	fmt.Println(reply.Cause.Kind, reply.Cause.ID == in.ID, reply.Cause.Purpose, reply.CorrelationID == in.ID, reply.ZoneID)

	b, err := schemas.Marshal(reply)
	if err != nil {
		fmt.Println(err)
		return
	}
	fields, _ := schemas.Fields(b)
	fmt.Println(fields["command_type"], fields["correlation_id"] == in.ID)

	// An id that is not its cause's is refused.
	reply.ID = "reply-1"
	_, err = schemas.Marshal(reply)
	fmt.Println(errors.Is(err, schemas.ErrInvalid))
	// Output:
	// COMMAND true reply true kitchen
	// send_sms true
	// true
}

func ExampleCycleID() {
	// The rules operator's automatic cleaning request: once per cycle of the
	// zone, however often the events that passed the policy are redelivered.
	c := schemas.NewCommand(schemas.CommandRequestCleaning, schemas.Cause{Kind: schemas.CauseCycle, ID: schemas.CycleID("kitchen", 3)})
	fmt.Println(c.Cause.ID, c.ID)
	// Output: kitchen#3 572dd83c3e3618fecee14df9e3ceefee
}
