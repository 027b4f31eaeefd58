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
