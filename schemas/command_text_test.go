package schemas

import "testing"

func TestCommandAsText(t *testing.T) {
	for _, c := range []struct {
		cmd  Command
		want string
	}{
		{Command{CommandType: CommandStatus}, "STATUS"},
		{Command{CommandType: CommandSubscribe, ZoneID: "walkway", Subscribe: &SubscribeArgs{Once: true}}, "NOTIFY walkway when free"},
		{Command{CommandType: CommandSubscribe, Subscribe: &SubscribeArgs{AllZones: true}}, "SUBSCRIBE all"},
		{Command{CommandType: CommandRequestCleaning, ZoneID: "lawn", RequestCleaning: &RequestCleaningArgs{Reason: "spilled coffee"}}, "CLEAN lawn spilled coffee"},
		{Command{CommandType: CommandCleaningDone, ZoneID: "lawn"}, "DONE lawn"},
		{Command{CommandType: CommandOptOut}, "STOP"},
		{Command{CommandType: "help", Text: &TextArgs{Raw: "help me"}}, "help me"},
	} {
		if got := c.cmd.AsText(); got != c.want {
			t.Errorf("%s: %q, want %q", c.cmd.CommandType, got, c.want)
		}
	}
}

func TestCauseTextKind(t *testing.T) {
	for _, c := range []struct {
		cause Cause
		want  string
	}{
		{Cause{Kind: CauseEvent, ID: "lawn/VACATED/1", Purpose: "notify +15550001"}, "notification"},
		{Cause{Kind: CauseCycle, ID: "lawn/3", Purpose: "report +15550002"}, "report"},
		{Cause{Kind: CauseCommand, ID: "c1", Purpose: "reply"}, "reply"},
	} {
		if got := c.cause.TextKind(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.cause, got, c.want)
		}
	}
}
