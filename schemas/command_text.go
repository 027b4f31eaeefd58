package schemas

import "strings"

// TextKind says why a send_sms with this cause is sent: "notification" (a
// presence event), "report" (a cleaning report) or "reply".
func (c Cause) TextKind() string {
	switch {
	case c.Kind == CauseEvent:
		return "notification"
	case strings.HasPrefix(c.Purpose, "report"):
		return "report"
	}
	return "reply"
}

// AsText is the text a command from the sms channel was made from: the raw
// text when the command carries it, else the command as one would text it
// (the connector keeps the parse, not the words).
func (c *Command) AsText() string {
	if c.Text != nil && c.Text.Raw != "" {
		return c.Text.Raw
	}
	words := []string{}
	add := func(ws ...string) {
		for _, w := range ws {
			if w != "" {
				words = append(words, w)
			}
		}
	}
	switch c.CommandType {
	case CommandStatus:
		add("STATUS", c.ZoneID)
	case CommandSubscribe:
		if a := c.Subscribe; a != nil && a.Once {
			add("NOTIFY", c.ZoneID, "when free")
		} else {
			add("SUBSCRIBE", c.ZoneID)
			if a != nil && a.AllZones {
				add("all")
			}
		}
	case CommandUnsubscribe:
		add("UNSUBSCRIBE", c.ZoneID)
		if a := c.Unsubscribe; a != nil && a.AllZones {
			add("all")
		}
	case CommandRequestCleaning:
		add("CLEAN", c.ZoneID)
		if a := c.RequestCleaning; a != nil {
			add(a.Reason)
		}
	case CommandCleaningDone:
		add("DONE", c.ZoneID)
	case CommandHelp:
		add("HELP")
		if a := c.Help; a != nil {
			add(a.Topic)
		}
	case CommandOptOut:
		add("STOP")
	case CommandOptIn:
		add("START")
	default:
		add(c.CommandType, c.ZoneID)
	}
	return strings.Join(words, " ")
}
