package inbound

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/corb-dev/corb/connectors/sms/intent"
	"github.com/corb-dev/corb/operators/directory"
	"github.com/corb-dev/corb/schemas"
)

// ReplySender is the Sender of the replies the connector writes itself.
const ReplySender = "sms-serve"

// Reply reasons: why the connector answered a text itself instead of passing
// a command on (the reason label of corb_sms_replies_total).
const (
	ReasonUnknownSender = "unknown_sender" // not in the directory
	ReasonForbidden     = "forbidden"      // the sender's roles do not allow the command
	ReasonNotUnderstood = "not_understood" // intent.Unknown
	ReasonSlowDown      = "slow_down"      // over the sender's rate limit
)

// Texts the connector replies with. The unknown sender's says nothing about
// the building (no zone, state or count) and every one is plain GSM-7 that
// fits one segment.
const (
	unknownSenderText = "Hello. This number only answers people registered with the building. Please ask the building's manager to add you. Reply STOP to opt out."
	slowDownText      = "You are sending more commands than I can answer. Please wait a minute, then try again."
)

// decision is what one inbound text becomes: the commands to put on the bus
// (none when the sender is silenced), and why the connector replied itself
// ("" when it passed a command on).
type decision struct {
	cmds   []*schemas.Command
	reason string
}

// decide turns a text from `from` with MessageSid sid into commands. The id
// rule: the inbound command's id is NewCommand(_, Cause{SMS, sid}).ID; a text
// about several zones becomes one child of it per zone (purpose "zone <id>"),
// and a reply written here is its child "reply", as a handler's would be.
func (h *Handler) decide(sid, from, text string, now time.Time) decision {
	in := h.parser.Parse(text)
	origin := schemas.NewCommand(string(in.Kind), schemas.Cause{Kind: schemas.CauseSMS, ID: sid})
	origin.Channel, origin.Sender, origin.IssuedAt = "sms", from, now

	// STOP and START are honoured for everybody, always: carriers require it.
	if in.Kind == intent.OptOut || in.Kind == intent.OptIn {
		return decision{cmds: []*schemas.Command{origin}}
	}
	person, known := h.cfg.Directory().Lookup(from)
	if !known && in.Kind != intent.Help {
		if ok, _ := h.strangers.allow(from, now); !ok {
			return decision{}
		}
		return h.reply(origin, ReasonUnknownSender, unknownSenderText)
	}
	if ok, first := h.senders.allow(from, now); !ok {
		if !first {
			return decision{}
		}
		return h.reply(origin, ReasonSlowDown, slowDownText)
	}
	switch in.Kind {
	case intent.Unknown:
		return h.reply(origin, ReasonNotUnderstood, explain(in))
	case intent.Help:
		origin.Help = &schemas.HelpArgs{Topic: string(in.Topic)}
		return decision{cmds: []*schemas.Command{origin}}
	}
	if !allowed(person, in.Kind) {
		return h.reply(origin, ReasonForbidden, fmt.Sprintf("Sorry, %s is not open to you. You may use: %s.", word(in), strings.Join(usable(person), ", ")))
	}
	if in.Kind == intent.CleaningDone && !person.Has(directory.Admin) {
		for _, z := range in.Zones {
			if !person.Cleans(z) { // a cleaner closes the cycles of the zones they clean
				return h.reply(origin, ReasonForbidden, fmt.Sprintf("Sorry, you are not on the cleaning list for %s.", h.names[z]))
			}
		}
	}
	zones := in.Zones
	if in.AllZones || len(zones) == 0 {
		zones = []string{""}
	}
	d := decision{}
	for _, z := range zones {
		c := origin
		if len(zones) > 1 {
			c = origin.Child(origin.CommandType, "zone "+z)
			c.Channel, c.Sender, c.IssuedAt = origin.Channel, origin.Sender, origin.IssuedAt
		}
		c.ZoneID = z
		setArgs(c, in, from)
		d.cmds = append(d.cmds, c)
	}
	return d
}

// setArgs gives c, a command of in.Kind, its typed arguments.
func setArgs(c *schemas.Command, in intent.Intent, from string) {
	switch in.Kind {
	case intent.Subscribe:
		a := &schemas.SubscribeArgs{AllZones: in.AllZones, Once: in.Once, Subscriber: from}
		for _, t := range in.Transitions {
			a.Transitions = append(a.Transitions, schemas.PresenceType(t))
		}
		c.Subscribe = a
	case intent.Unsubscribe:
		c.Unsubscribe = &schemas.UnsubscribeArgs{AllZones: in.AllZones, Subscriber: from}
	case intent.RequestCleaning:
		c.RequestCleaning = &schemas.RequestCleaningArgs{Reason: in.Reason, RequestedBy: from}
	case intent.CleaningDone:
		c.CleaningDone = &schemas.CleaningDoneArgs{By: from}
	}
}

// reply is the connector's own answer to origin: a send_sms to its sender.
func (h *Handler) reply(origin *schemas.Command, reason, body string) decision {
	r := origin.Child(schemas.CommandSendSMS, "reply")
	r.Channel, r.Sender, r.IssuedAt = origin.Channel, ReplySender, origin.IssuedAt
	r.SendSMS = &schemas.SendSMSArgs{To: origin.Sender, Body: body}
	return decision{cmds: []*schemas.Command{r}, reason: reason}
}

// allowed reports whether p's roles allow a command of kind k: staff may ask
// for status, (un)subscribe and request cleaning; cleaners may ask for
// status and close cleanings; an admin may do all (Person.Has); help is for
// everybody.
func allowed(p directory.Person, k intent.Kind) bool {
	switch k {
	case intent.Help, intent.OptOut, intent.OptIn:
		return true
	case intent.Status:
		return p.Has(directory.Staff) || p.Has(directory.Cleaner)
	case intent.CleaningDone:
		return p.Has(directory.Cleaner)
	}
	return p.Has(directory.Staff)
}

// commandWords are the commands as people write them, in the order the help
// lists them, with the kind each asks for.
func commandWords() []commandWord {
	return []commandWord{
		{"STATUS", intent.Status}, {"SUBSCRIBE", intent.Subscribe}, {"NOTIFY", intent.Subscribe},
		{"UNSUBSCRIBE", intent.Unsubscribe}, {"CLEAN", intent.RequestCleaning},
		{"DONE", intent.CleaningDone}, {"HELP", intent.Help},
	}
}

type commandWord struct {
	word string
	kind intent.Kind
}

// word is the command word of in, as its sender wrote it.
func word(in intent.Intent) string {
	if in.Kind == intent.Subscribe && in.Once {
		return "NOTIFY"
	}
	for _, w := range commandWords() {
		if w.kind == in.Kind {
			return w.word
		}
	}
	return strings.ToUpper(string(in.Kind))
}

// usable lists the commands p may send.
func usable(p directory.Person) []string {
	var out []string
	for _, w := range commandWords() {
		if allowed(p, w.kind) {
			out = append(out, w.word)
		}
	}
	return out
}

// explain is the reply to a text the parser could not act on. Only people in
// the directory get it: it may name a zone (a suggestion).
func explain(in intent.Intent) string {
	quoted := "'" + truncate(in.Word, 32) + "'"
	switch in.Problem {
	case intent.UnknownZone:
		if in.Suggestion != "" {
			return fmt.Sprintf("I don't know the zone %s. Did you mean %s?", quoted, in.Suggestion)
		}
		return fmt.Sprintf("I don't know the zone %s. STATUS lists every zone.", quoted)
	case intent.UnknownCommand:
		if in.Suggestion != "" {
			return fmt.Sprintf("I don't know the command %s. Did you mean %s?", quoted, in.Suggestion)
		}
		return fmt.Sprintf("I don't know the command %s. %s", quoted, in.Usage)
	case intent.UnexpectedWord:
		if in.Suggestion != "" {
			return fmt.Sprintf("I don't understand %s. Did you mean %s? %s", quoted, in.Suggestion, in.Usage)
		}
		return fmt.Sprintf("I don't understand %s. %s", quoted, in.Usage)
	case intent.MissingZone:
		return "Which zone? " + in.Usage
	}
	return in.Usage
}

// truncate cuts s to at most n runes, marking the cut.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-3]) + "..."
}
