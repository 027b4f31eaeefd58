package schemas

import (
	"fmt"
	"time"
)

// ---- Command ----

// argRecord is one of a Command's argument pointers: whether it is set and
// the command type it belongs to ("" for Text, which belongs to any).
type argRecord struct {
	name, owner string
	set         bool
}

func (c *Command) argRecords() []argRecord {
	return []argRecord{
		{"Subscribe", CommandSubscribe, c.Subscribe != nil},
		{"Unsubscribe", CommandUnsubscribe, c.Unsubscribe != nil},
		{"Help", CommandHelp, c.Help != nil},
		{"RequestCleaning", CommandRequestCleaning, c.RequestCleaning != nil},
		{"CleaningDone", CommandCleaningDone, c.CleaningDone != nil},
		{"SendSMS", CommandSendSMS, c.SendSMS != nil},
		{"Text", "", c.Text != nil},
	}
}

func (c *Command) validate() error {
	k := check{rec: "corb.Command"}
	k.utf8("id", c.ID)
	k.utf8("command_type", c.CommandType)
	k.utf8("zone_id", c.ZoneID)
	k.utf8("channel", c.Channel)
	k.utf8("sender", c.Sender)
	k.time("issued_at", c.IssuedAt)
	k.utf8("correlation_id", c.CorrelationID)
	if c.CommandType == "" {
		k.failf("command_type is empty")
	}
	if !c.Cause.IsZero() {
		switch c.Cause.Kind {
		case CauseEvent, CauseSMS, CauseCommand, CauseCycle, CauseCLI:
		default:
			k.failf("unknown cause kind %q", c.Cause.Kind)
		}
		k.utf8("cause.id", c.Cause.ID)
		k.utf8("cause.purpose", c.Cause.Purpose)
		if c.Cause.ID == "" {
			k.failf("cause.id is empty")
		}
		if want := c.Cause.CommandID(); c.ID != want {
			k.failf("id %q is not derived from its cause (%s %q %q): want %q", c.ID, c.Cause.Kind, c.Cause.ID, c.Cause.Purpose, want)
		}
	}
	set := 0
	for _, a := range c.argRecords() {
		if !a.set {
			continue
		}
		set++
		if a.owner != "" && c.CommandType != a.owner {
			k.failf("%s arguments on command_type %q, want %q", a.name, c.CommandType, a.owner)
		}
	}
	if set > 1 {
		k.failf("%d argument records set, at most one allowed", set)
	}
	if a := c.Subscribe; a != nil {
		c.checkZones(&k, a.AllZones)
		k.subscriber(a.Subscriber)
		if len(a.Transitions) == 0 {
			k.failf("args.transitions is empty")
		}
		seen := map[PresenceType]bool{}
		for _, t := range a.Transitions {
			if !t.known() {
				k.failf("args.transitions: unknown type %q", t)
			}
			if seen[t] {
				k.failf("args.transitions: %s twice", t)
			}
			seen[t] = true
		}
	}
	if a := c.Unsubscribe; a != nil {
		c.checkZones(&k, a.AllZones)
		k.subscriber(a.Subscriber)
	}
	if a := c.Help; a != nil {
		k.utf8("args.topic", a.Topic)
	}
	if a := c.RequestCleaning; a != nil {
		k.utf8("args.reason", a.Reason)
		k.utf8("args.requested_by", a.RequestedBy)
		k.utf8("args.policy", a.Policy)
		k.nonNegative("args.visits", int64(a.Visits))
		k.nonNegative("args.peak", int64(a.Peak))
		k.nonNegative("args.occupied_ms", int64(a.Occupied))
		k.nonNegative("args.cycle", a.Cycle)
		k.time("args.first_use", a.FirstUse)
		k.time("args.last_use", a.LastUse)
	}
	if a := c.CleaningDone; a != nil {
		k.utf8("args.by", a.By)
	}
	if a := c.SendSMS; a != nil {
		k.utf8("args.to", a.To)
		k.utf8("args.body", a.Body)
	}
	if a := c.Text; a != nil {
		k.utf8("args.raw", a.Raw)
	}
	return k.err
}

// checkZones: a subscription names one zone or, with allZones, none.
func (c *Command) checkZones(k *check, allZones bool) {
	switch {
	case allZones && c.ZoneID != "":
		k.failf("args.all_zones with zone_id %q", c.ZoneID)
	case !allZones && c.ZoneID == "":
		k.failf("no zone: set zone_id or args.all_zones")
	}
}

func (k *check) subscriber(s string) {
	k.utf8("args.subscriber", s)
	if s == "" {
		k.failf("args.subscriber is empty")
	}
}

func commandFromV2(r *fieldReader) Command {
	c := Command{
		ID:            r.str("id"),
		CommandType:   r.str("command_type"),
		ZoneID:        r.str("zone_id"),
		Channel:       r.str("channel"),
		Sender:        r.str("sender"),
		IssuedAt:      r.timestamp("issued_at"),
		CorrelationID: r.str("correlation_id"),
	}
	switch branch, m := r.union("cause"); branch {
	case "":
	case "corb.Cause":
		r.nested(branch, m, func(cr *fieldReader) {
			c.Cause = Cause{Kind: CauseKind(cr.str("kind")), ID: cr.str("id"), Purpose: cr.str("purpose")}
		})
	default:
		r.fail("cause", "corb.Cause", branch)
	}
	branch, m := r.union("args")
	r.nested(branch, m, func(ar *fieldReader) {
		switch branch {
		case "":
		case "corb.SubscribeArgs":
			c.Subscribe = &SubscribeArgs{
				AllZones:    ar.boolean("all_zones"),
				Transitions: ar.presenceTypes("transitions"),
				Once:        ar.boolean("once"),
				Subscriber:  ar.str("subscriber"),
			}
		case "corb.UnsubscribeArgs":
			c.Unsubscribe = &UnsubscribeArgs{AllZones: ar.boolean("all_zones"), Subscriber: ar.str("subscriber")}
		case "corb.HelpArgs":
			c.Help = &HelpArgs{Topic: ar.str("topic")}
		case "corb.RequestCleaningArgs":
			c.RequestCleaning = &RequestCleaningArgs{
				Reason:        ar.str("reason"),
				Visits:        ar.i32("visits"),
				PersonMinutes: ar.f64("person_minutes"),
				RequestedBy:   ar.str("requested_by"),
				Peak:          ar.i32("peak"),
				Occupied:      ar.duration("occupied_ms", time.Millisecond),
				FirstUse:      ar.optTimestamp("first_use"),
				LastUse:       ar.optTimestamp("last_use"),
				Policy:        ar.str("policy"),
				Cycle:         ar.i64("cycle"),
			}
		case "corb.CleaningDoneArgs":
			c.CleaningDone = &CleaningDoneArgs{By: ar.str("by")}
		case "corb.SendSMSArgs":
			c.SendSMS = &SendSMSArgs{To: ar.str("to"), Body: ar.str("body")}
		case "corb.TextArgs":
			c.Text = &TextArgs{Raw: ar.str("raw")}
		default:
			r.fail("args", "known argument record", branch)
		}
	})
	return c
}

func commandToV2(c *Command, form nativeForm) map[string]any {
	var cause any
	if !c.Cause.IsZero() {
		cause = form.union("corb.Cause", map[string]any{
			"kind": string(c.Cause.Kind), "id": c.Cause.ID, "purpose": c.Cause.Purpose,
		})
	}
	var args any
	switch {
	case c.Subscribe != nil:
		a := c.Subscribe
		transitions := make([]any, len(a.Transitions))
		for i, t := range a.Transitions {
			transitions[i] = string(t)
		}
		args = form.union("corb.SubscribeArgs", map[string]any{
			"all_zones": a.AllZones, "transitions": transitions, "once": a.Once, "subscriber": a.Subscriber,
		})
	case c.Unsubscribe != nil:
		args = form.union("corb.UnsubscribeArgs", map[string]any{
			"all_zones": c.Unsubscribe.AllZones, "subscriber": c.Unsubscribe.Subscriber,
		})
	case c.Help != nil:
		args = form.union("corb.HelpArgs", map[string]any{"topic": c.Help.Topic})
	case c.RequestCleaning != nil:
		a := c.RequestCleaning
		args = form.union("corb.RequestCleaningArgs", map[string]any{
			"reason":         a.Reason,
			"visits":         a.Visits,
			"person_minutes": a.PersonMinutes,
			"requested_by":   a.RequestedBy,
			"peak":           a.Peak,
			"occupied_ms":    int64(a.Occupied / time.Millisecond),
			"first_use":      form.optTime(a.FirstUse),
			"last_use":       form.optTime(a.LastUse),
			"policy":         a.Policy,
			"cycle":          a.Cycle,
		})
	case c.CleaningDone != nil:
		args = form.union("corb.CleaningDoneArgs", map[string]any{"by": c.CleaningDone.By})
	case c.SendSMS != nil:
		args = form.union("corb.SendSMSArgs", map[string]any{"to": c.SendSMS.To, "body": c.SendSMS.Body})
	case c.Text != nil:
		args = form.union("corb.TextArgs", map[string]any{"raw": c.Text.Raw})
	}
	return map[string]any{
		"id":             c.ID,
		"command_type":   c.CommandType,
		"zone_id":        c.ZoneID,
		"channel":        c.Channel,
		"sender":         c.Sender,
		"issued_at":      form.time(c.IssuedAt),
		"cause":          cause,
		"correlation_id": c.CorrelationID,
		"args":           args,
	}
}

// presenceTypes reads an array of corb.PresenceType symbols; empty is nil.
func (r *fieldReader) presenceTypes(field string) []PresenceType {
	items := r.array(field)
	if len(items) == 0 {
		return nil
	}
	out := make([]PresenceType, len(items))
	for i, it := range items {
		s, ok := it.(string)
		if !ok {
			r.fail(fmt.Sprintf("%s[%d]", field, i), "corb.PresenceType", it)
			return nil
		}
		out[i] = PresenceType(s)
	}
	return out
}
