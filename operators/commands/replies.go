package commands

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/corb-dev/corb/operators/cleaning/cleanings"

	"github.com/corb-dev/corb/connectors/sms/intent"
	"github.com/corb-dev/corb/operators"
	"github.com/corb-dev/corb/operators/presence"
	"github.com/corb-dev/corb/schemas"
)

// The texts of the replies. Each is short and GSM-7 (no curly quotes, no
// emoji), so that one costs one segment where it can; STATUS of every zone
// and HELP are a line per zone or command, and sms-out segments them.
const (
	optOutText = "You are unsubscribed from Corb and will receive no more messages. Reply START to resubscribe."
	optInText  = "You are resubscribed to Corb and will receive messages again. Text SUBSCRIBE zone for alerts, STOP to unsubscribe."
	optOutHelp = "STOP: no texts at all from Corb. START: texts again."
	helpHelp   = "HELP command: how to write that command, e.g. HELP subscribe."

	maxZonesInUnknownZoneReply = 8 // a big building's list would take many texts
)

// usage is how to write commandType (every command for one it does not know),
// as the SMS connector answers a text it cannot read: the parser's own words.
func usage(commandType string) string { return intent.Usage(intent.Kind(commandType)) }

// helpText answers HELP topic: one command's usage, or every command's, a line each.
func helpText(topic string) string {
	switch strings.ToLower(strings.TrimSpace(topic)) {
	case "status":
		return usage(schemas.CommandStatus)
	case "subscribe", "notify":
		return usage(schemas.CommandSubscribe)
	case "unsubscribe":
		return usage(schemas.CommandUnsubscribe)
	case "clean", schemas.CommandRequestCleaning:
		return usage(schemas.CommandRequestCleaning)
	case "done", schemas.CommandCleaningDone:
		return usage(schemas.CommandCleaningDone)
	case "stop", "start", schemas.CommandOptOut, schemas.CommandOptIn:
		return optOutHelp
	case "help":
		return helpHelp
	}
	lines := []string{}
	for _, k := range []string{schemas.CommandStatus, schemas.CommandSubscribe, schemas.CommandUnsubscribe,
		schemas.CommandRequestCleaning, schemas.CommandCleaningDone} {
		lines = append(lines, usage(k))
	}
	return strings.Join(append(lines, optOutHelp, helpHelp), "\n")
}

// statusLine is one zone's line of a STATUS reply: its state, since when,
// and when it was last cleaned (when the cleanings table says so).
func (o *Operator) statusLine(z Zone, now time.Time) string {
	s := z.Name + ": " + o.state(z.ID, now)
	if at, ok := o.lastCleaned(z.ID); ok {
		s += ", cleaned " + o.when(at, now)
	}
	return s
}

func (o *Operator) state(zone string, now time.Time) string {
	occ, ok := o.occupancyOf(zone)
	if !ok {
		return "no data yet"
	}
	state := "free"
	if occ.State == presence.StateOccupied {
		state = "occupied (" + people(occ.Count) + ")"
	}
	if occ.Stale {
		return "cameras silent" + o.since(occ.UpdatedAt, now) + " (was " + state + ")"
	}
	return state + o.since(occ.Since, now)
}

func people(n int32) string {
	if n == 1 {
		return "1 person"
	}
	return strconv.Itoa(int(n)) + " people"
}

func (o *Operator) since(t, now time.Time) string {
	if t.IsZero() {
		return ""
	}
	return " since " + o.when(t, now)
}

// occupancyOf is the zone's state from the occupancy view. The view keeps
// only the zone's latest event, and Apply from nothing cannot know that a
// COUNT_CHANGED, STALE or RECOVERED zone is occupied; every event carries
// the zone's count and occupied-since, so an occupied zone is folded from
// the OCCUPIED those imply first.
func (o *Operator) occupancyOf(zone string) (presence.Occupancy, bool) {
	b, ok := lookup(o.occupancy, zone)
	if !ok {
		return presence.Occupancy{}, false
	}
	var ev schemas.PresenceEvent
	if err := schemas.Unmarshal(b, &ev); err != nil {
		o.log.Warn("commands: occupancy record unreadable; status says no data", "zone", zone, "err", err)
		return presence.Occupancy{}, false
	}
	var occ presence.Occupancy
	if ev.Type != schemas.Vacated && !ev.OccupiedSince.IsZero() {
		occ = occ.Apply(schemas.PresenceEvent{ZoneID: ev.ZoneID, Type: schemas.Occupied, Count: ev.Count, Peak: ev.Peak,
			OccupiedSince: ev.OccupiedSince, EventTime: ev.EventTime})
	}
	return occ.Apply(ev), true
}

// lookup is t.Get(key), nothing when the table was not given.
func lookup(t operators.Table, key string) ([]byte, bool) {
	if t == nil {
		return nil, false
	}
	return t.Get(key)
}

func (o *Operator) lastCleaned(zone string) (time.Time, bool) {
	c, ok, err := cleanings.Get(o.cleanings, zone)
	if err != nil {
		o.log.Warn("commands: cleanings record unreadable; status leaves it out", "zone", zone, "err", err)
		return time.Time{}, false
	}
	return c.CleanedAt, ok && !c.CleanedAt.IsZero()
}

// when is t as a person reads it in the configured time zone: the time
// alone today, "yesterday 14:05", the weekday within the week, the date
// within the year, the date with its year before.
func (o *Operator) when(t, now time.Time) string {
	t, now = t.In(o.opts.Location), now.In(o.opts.Location)
	day := func(t time.Time) string { return t.Format(time.DateOnly) }
	switch {
	case day(t) == day(now):
		return t.Format("15:04")
	case day(t) == day(now.AddDate(0, 0, -1)):
		return "yesterday " + t.Format("15:04")
	case t.Before(now) && now.Sub(t) < 6*24*time.Hour:
		return t.Format("Mon 15:04")
	case t.Year() == now.Year():
		return t.Format("2 Jan 15:04")
	}
	return t.Format("2 Jan 2006")
}

// unknownZone answers a command about a zone the zones file does not have.
func (o *Operator) unknownZone(id string) string {
	names := make([]string, 0, maxZonesInUnknownZoneReply)
	for i, z := range o.opts.Zones {
		if i == maxZonesInUnknownZoneReply {
			names = append(names, fmt.Sprintf("and %d more (STATUS lists them)", len(o.opts.Zones)-i))
			break
		}
		names = append(names, z.Name)
	}
	return fmt.Sprintf("No zone %q. Zones: %s.", id, strings.Join(names, ", "))
}

// subscribedText confirms a subscription and says how to end it.
func subscribedText(a *schemas.SubscribeArgs, zoneID, name string) string {
	what, stop := name, zoneID
	if a.AllZones {
		what, stop = "any zone", "all"
	}
	if a.Once {
		return "You'll get one text, the next time " + what + " " + changes(a.Transitions) + ". Reply UNSUBSCRIBE " + stop + " to cancel."
	}
	return "You'll get a text when " + what + " " + changes(a.Transitions) + ". Reply UNSUBSCRIBE " + stop + " to stop."
}

// changes is what a subscription tells of, as the end of "when Kitchen ...":
// "is free", "is occupied or free", "is free or changes count".
func changes(ts []schemas.PresenceType) string {
	var states, others []string
	for _, t := range []schemas.PresenceType{schemas.Occupied, schemas.Vacated, schemas.CountChanged, schemas.Stale, schemas.Recovered} {
		if !slices.Contains(ts, t) {
			continue
		}
		switch t {
		case schemas.Occupied:
			states = append(states, "occupied")
		case schemas.Vacated:
			states = append(states, "free")
		case schemas.CountChanged:
			others = append(others, "changes count")
		case schemas.Stale:
			others = append(others, "loses its cameras")
		case schemas.Recovered:
			others = append(others, "gets its cameras back")
		}
	}
	if len(states) > 0 {
		others = append([]string{"is " + strings.Join(states, " or ")}, others...)
	}
	return strings.Join(others, " or ")
}
