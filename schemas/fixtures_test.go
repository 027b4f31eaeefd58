package schemas

import (
	"time"
)

// Fixtures shared by the unit, golden, fuzz and interop tests.

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err) // test fixture typo
	}
	return t.UTC()
}

// goldenRecords are the records whose encodings are kept in testdata/, keyed
// by "<name>.v<version>". Entries for released versions are never changed: a
// new version adds its own entry (the expected, upgraded struct for old ones).
func goldenRecords() map[string]Record {
	return map[string]Record{
		"corb.Frame.v1": &Frame{
			CameraID:    "lobby-1",
			Source:      "rtsp://10.0.0.7/stream1",
			Seq:         4242,
			CaptureTime: ts("2025-03-14T09:26:53.589793Z"),
			Width:       2,
			Height:      2,
			Encoding:    EncodingRawBGR,
			Image:       []byte{0, 1, 2, 3, 4, 5, 250, 251, 252, 253, 254, 255},
		},
		"corb.Detections.v1": &Detections{
			CameraID:     "lobby-1",
			FrameSeq:     4242,
			CaptureTime:  ts("2025-03-14T09:26:53.589793Z"),
			Model:        "nanodet-g-416",
			ModelVersion: "1.0.0",
			FrameWidth:   768,
			FrameHeight:  576,
			Boxes: []Box{
				{ClassID: 0, Label: "person", Score: 0.875, X1: 0.125, Y1: 0.25, X2: 0.5, Y2: 0.9921875},
				{ClassID: 56, Label: "chair", Score: 0.4, X1: 0.6, Y1: 0.7, X2: 0.8, Y2: 0.95},
			},
			InferenceTime: 98765 * time.Microsecond,
		},
		"corb.ZoneCounts.v1": &ZoneCounts{
			ZoneID:      "kitchen",
			CameraID:    "lobby-1",
			FrameSeq:    4242,
			CaptureTime: ts("2025-03-14T09:26:53.589793Z"),
			Count:       3,
			MaxScore:    0.875,
		},
		"corb.PresenceEvent.v1": &PresenceEvent{
			EventID:       "kitchen/OCCUPIED/1741944413589793",
			ZoneID:        "kitchen",
			Type:          CountChanged,
			Count:         3,
			Peak:          4,
			WindowStart:   ts("2025-03-14T09:26:50Z"),
			WindowEnd:     ts("2025-03-14T09:26:55Z"),
			OccupiedSince: ts("2025-03-14T08:00:00.000001Z"),
			Duration:      90 * time.Minute,
			EventTime:     ts("2025-03-14T09:26:53.589793Z"),
		},
		"corb.Command.v1": &Command{
			ID:          "cmd-0001",
			CommandType: CommandRequestCleaning,
			ZoneID:      "kitchen",
			Channel:     "rules",
			Sender:      "cleaning-policy",
			IssuedAt:    ts("2025-03-14T09:30:00Z"),
			RequestCleaning: &RequestCleaningArgs{
				Reason:        "42 visits since last cleaning",
				Visits:        42,
				PersonMinutes: 311.5,
			},
		},
		"corb.Command.v2": &Command{
			ID:            "572dd83c3e3618fecee14df9e3ceefee", // CommandID("CYCLE", "kitchen#3", "")
			CommandType:   CommandRequestCleaning,
			ZoneID:        "kitchen",
			Channel:       "rules",
			Sender:        "cleaning-policy",
			IssuedAt:      ts("2025-03-14T09:30:00Z"),
			Cause:         Cause{Kind: CauseCycle, ID: "kitchen#3"},
			CorrelationID: "",
			RequestCleaning: &RequestCleaningArgs{
				Reason:        "visits since last cleaning passed the policy",
				Visits:        42,
				PersonMinutes: 311.5,
				RequestedBy:   "rules",
				Peak:          6,
				Occupied:      3*time.Hour + 25*time.Minute + 1500*time.Millisecond,
				FirstUse:      ts("2025-03-14T06:58:12.000001Z"),
				LastUse:       ts("2025-03-14T09:26:53.589793Z"),
				Policy:        "visits >= 20",
				Cycle:         3,
			},
		},
	}
}

// derived returns c with the ID its Cause derives.
func derived(c Command) *Command {
	c.ID = c.Cause.CommandID()
	return &c
}

// v2Commands are valid v2 commands: every argument record, every cause kind,
// the zone-or-all rule both ways.
func v2Commands() []Record {
	subscribe := derived(Command{CommandType: CommandSubscribe, ZoneID: "kitchen", Channel: "sms", Sender: "+15550001",
		IssuedAt: ts("2025-03-14T10:00:00Z"), Cause: Cause{Kind: CauseSMS, ID: "SM0123456789abcdef0123456789abcdef"},
		Subscribe: &SubscribeArgs{Transitions: []PresenceType{Vacated}, Once: true, Subscriber: "+15550001"}})
	reply := subscribe.Child(CommandSendSMS, "reply")
	reply.Channel, reply.Sender, reply.IssuedAt = "commands", "command-handlers", ts("2025-03-14T10:00:00.5Z")
	reply.SendSMS = &SendSMSArgs{To: "+15550001", Body: "OK: you will be told once when kitchen is free."}
	return []Record{
		subscribe,
		reply,
		derived(Command{CommandType: CommandSubscribe, Channel: "cli", Sender: "admin", Cause: Cause{Kind: CauseCLI, ID: "cli-7", Purpose: "all"},
			Subscribe: &SubscribeArgs{AllZones: true, Transitions: []PresenceType{Occupied, Vacated, CountChanged, Stale, Recovered}, Subscriber: "+4915100000000"}}),
		derived(Command{CommandType: CommandUnsubscribe, Cause: Cause{Kind: CauseSMS, ID: "SM2"},
			Unsubscribe: &UnsubscribeArgs{AllZones: true, Subscriber: "+15550001"}}),
		derived(Command{CommandType: CommandUnsubscribe, ZoneID: "room-2", Cause: Cause{Kind: CauseSMS, ID: "SM3"},
			Unsubscribe: &UnsubscribeArgs{Subscriber: "+15550001"}}),
		derived(Command{CommandType: CommandStatus, Channel: "sms", Cause: Cause{Kind: CauseSMS, ID: "SM4"}}),
		derived(Command{CommandType: CommandHelp, Cause: Cause{Kind: CauseSMS, ID: "SM5"}, Help: &HelpArgs{Topic: "subscribe"}}),
		&Command{ID: "h", CommandType: CommandHelp, Help: &HelpArgs{}},
		derived(Command{CommandType: CommandCleaningDone, ZoneID: "kitchen", Cause: Cause{Kind: CauseSMS, ID: "SM6"},
			CleaningDone: &CleaningDoneArgs{By: "Zoë"}}),
		derived(Command{CommandType: CommandSendSMS, ZoneID: "kitchen", Channel: "rules",
			Cause:   Cause{Kind: CauseEvent, ID: "kitchen/VACATED/1741944413589793", Purpose: "notify +15550001"},
			SendSMS: &SendSMSArgs{To: "+15550001", Body: "Kitchen is free again ☕"}}),
		derived(Command{CommandType: CommandRequestCleaning, ZoneID: "kitchen", Channel: "sms", Sender: "+15550002",
			Cause: Cause{Kind: CauseSMS, ID: "SM7"}, CorrelationID: "",
			RequestCleaning: &RequestCleaningArgs{Reason: "spilled coffee", RequestedBy: "+15550002", FirstUse: ts("1969-12-31T23:59:59.999999Z")}}),
		derived(Command{CommandType: CommandSubscribe, ZoneID: "lobby", Cause: Cause{Kind: CauseCommand, ID: "parent", Purpose: "résumé"},
			CorrelationID: "root", Text: &TextArgs{Raw: "notify lobby when free"}}),
	}
}

// sampleRecords are valid records covering edge cases: every union branch,
// null optionals, zero times, empty and non-ASCII strings, extreme numbers.
// Each is in the form Unmarshal returns (UTC, microsecond times; empty as nil).
func sampleRecords() []Record {
	out := []Record{}
	for _, r := range goldenRecords() {
		out = append(out, r)
	}
	return append(append(out,
		&Frame{CameraID: "c", Encoding: EncodingJPEG, Image: []byte{0xFF, 0xD8, 0xFF, 0xE0, 0xFF, 0xD9}},
		&Frame{Encoding: EncodingPNG, Seq: -1, CaptureTime: ts("1969-12-31T23:59:59.999999Z")},
		&Frame{CameraID: "zero-time", Encoding: EncodingRawBGR},
		&Detections{CameraID: "cam-ü", Model: "yolo11n", FrameSeq: 1<<62 + 7, CaptureTime: ts("2262-04-11T23:47:16.854775Z")},
		&Detections{Boxes: []Box{{ClassID: -1, Label: "", Score: 0, X1: 1e-38, Y1: 3.4e38}}},
		&ZoneCounts{ZoneID: "z", MaxScore: 1},
		&PresenceEvent{EventID: "e", Type: Vacated, EventTime: ts("2030-01-01T00:00:00Z")},
		&PresenceEvent{Type: Occupied, OccupiedSince: ts("1900-01-01T00:00:00Z"), Duration: 1500 * time.Millisecond},
		&PresenceEvent{Type: Stale},
		&PresenceEvent{Type: Recovered, Count: 1<<31 - 1},
		&Command{ID: "sms-1", CommandType: CommandSendSMS, Channel: "rules", IssuedAt: ts("2025-01-01T00:00:00Z"),
			SendSMS: &SendSMSArgs{To: "+15555550100", Body: "Kitchen is free again ☕"}},
		&Command{ID: "in-1", CommandType: "status", ZoneID: "lobby", Channel: "sms", Sender: "+4915100000000",
			Text: &TextArgs{Raw: "STATUS lobby"}},
		&Command{CommandType: "help"},
		&Command{CommandType: CommandRequestCleaning, RequestCleaning: &RequestCleaningArgs{PersonMinutes: -0.5}},
	), v2Commands()...)
}
