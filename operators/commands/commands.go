// Package commands is the command handlers: the commands a person sends
// Corb (status, subscribe, unsubscribe, help, opt_out, opt_in) become
// replies — send_sms commands to the sender — and writes to the
// subscriptions and opt-outs tables.
//
// Every reply is a Child of its command, so a command delivered twice yields
// the same reply id and sms-out texts once; the table writes are keyed, so
// writing them again changes nothing. Whatever the handlers cannot act on (a
// command type they do not own, a command without its arguments) gets a short
// usage reply; only a record that is no command at all is an error (a
// permanent one: it is dead-lettered).
package commands

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/corb-dev/corb/operators"
	"github.com/corb-dev/corb/schemas"
)

// Purposes of the replies (their Cause.Purpose). sms-out drops every send_sms
// to an opted-out phone but the confirmations: the opt-out confirmation is the
// last text that phone gets, and the opt-in confirmation is produced in the
// same transaction as the tombstone that lifts the opt-out, so sms-out's
// table may not have seen that tombstone yet.
const (
	PurposeReply              = "reply"
	PurposeOptOutConfirmation = "opt-out confirmation"
	PurposeOptInConfirmation  = "opt-in confirmation"
)

const (
	replyChannel   = "commands"             // the Channel of every reply
	droppedNoPhone = "no phone to reply to" // Result.Dropped: a command from `corb command send` without a phone
)

// Zone is a zone the handlers know: STATUS lists them in this order.
type Zone struct {
	ID   string
	Name string // "" means ID
}

// Options configure an Operator.
type Options struct {
	// Name is the operator's name: the Sender of its replies.
	Name string
	// Zones are the building's zones (the zones file), in the order STATUS lists them.
	Zones []Zone
	// Location is the time zone of the times in replies; nil means UTC.
	Location *time.Location
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger; nil means slog.Default().
	Logger *slog.Logger

	// Commands (required) gets the replies, keyed by their id; Subscriptions
	// (required) the subscription records and tombstones; OptOuts, when
	// set, the opt-out records and tombstones.
	Commands, Subscriptions, OptOuts string
	// OccupancyTable (the occupancy view: the latest corb.PresenceEvent of
	// each zone) answers STATUS; CleaningsTable, when set, says when each zone
	// was last cleaned; SubscriptionsTable, when set, lists a phone's
	// subscriptions for UNSUBSCRIBE all and STOP.
	OccupancyTable, CleaningsTable, SubscriptionsTable string
}

// Operator handles commands. It is an operators.TableReader.
type Operator struct {
	opts                               Options
	log                                *slog.Logger
	occupancy, cleanings, subscription operators.Table // nil: not given
}

// New returns an Operator.
func New(opts Options) (*Operator, error) {
	if opts.Commands == "" || opts.Subscriptions == "" {
		return nil, fmt.Errorf("commands: the commands and subscriptions outputs are required")
	}
	if opts.Location == nil {
		opts.Location = time.UTC
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	opts.Zones = slices.Clone(opts.Zones)
	for i, z := range opts.Zones {
		if z.ID == "" {
			return nil, fmt.Errorf("commands: zones[%d]: empty id", i)
		}
		opts.Zones[i].Name = cmp.Or(z.Name, z.ID)
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Operator{opts: opts, log: log}, nil
}

// UseTables implements operators.TableReader.
func (o *Operator) UseTables(tables map[string]operators.Table) {
	pick := func(topic string) operators.Table {
		if topic == "" {
			return nil
		}
		return tables[topic]
	}
	o.occupancy, o.cleanings, o.subscription = pick(o.opts.OccupancyTable), pick(o.opts.CleaningsTable), pick(o.opts.SubscriptionsTable)
}

// Process implements operators.Operator.
func (o *Operator) Process(_ context.Context, batch []operators.Record) ([]operators.Result, error) {
	now := o.opts.Now()
	// The subscriptions this batch has written, which the table cannot have
	// seen yet (true: set, false: removed), so that UNSUBSCRIBE all after a
	// SUBSCRIBE in the same batch removes it.
	written := map[string]bool{}
	results := make([]operators.Result, len(batch))
	for i, r := range batch {
		results[i] = o.handle(r, now, written)
		for _, out := range results[i].Outputs {
			if out.Topic == o.opts.Subscriptions {
				written[string(out.Key)] = out.Value != nil
			}
		}
	}
	return results, nil
}

// action is what a command leads to: a reply (when body is set) and writes.
type action struct {
	body, purpose string
	writes        []operators.Output
}

func (o *Operator) handle(r operators.Record, now time.Time, written map[string]bool) operators.Result {
	var cmd schemas.Command
	if err := schemas.Unmarshal(r.Value, &cmd); err != nil {
		return operators.Result{Err: operators.Permanentf("commands: not a command: %w", err)}
	}
	if cmd.ID == "" {
		return operators.Result{Err: operators.Permanentf("commands: %s command without an id cannot be answered once", cmd.CommandType)}
	}
	h := handling{o: o, cmd: &cmd, now: now, written: written}
	a, err := h.act()
	if err != nil {
		return operators.Result{Err: operators.Permanent(err)}
	}
	outs := a.writes
	to := replyTo(&cmd)
	if a.body != "" && to != "" {
		reply, err := o.reply(&cmd, cmp.Or(a.purpose, PurposeReply), to, a.body, now)
		if err != nil {
			return operators.Result{Err: operators.Permanent(err)}
		}
		outs = append(outs, reply)
	}
	o.log.Debug("command handled", "id", cmd.ID, "type", cmd.CommandType, "zone", cmd.ZoneID, "outputs", len(outs))
	if len(outs) == 0 {
		return operators.Result{Dropped: droppedNoPhone}
	}
	return operators.Result{Outputs: outs}
}

// reply is the send_sms record that answers cmd.
func (o *Operator) reply(cmd *schemas.Command, purpose, to, body string, now time.Time) (operators.Output, error) {
	c := cmd.Child(schemas.CommandSendSMS, purpose)
	c.Channel, c.Sender, c.IssuedAt = replyChannel, o.opts.Name, now
	c.SendSMS = &schemas.SendSMSArgs{To: to, Body: body}
	b, err := schemas.Marshal(c)
	if err != nil {
		return operators.Output{}, fmt.Errorf("commands: reply to %s: %w", cmd.ID, err)
	}
	return operators.Output{Topic: o.opts.Commands, Key: []byte(c.ID), Value: b}, nil
}

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{1,14}$`)

// replyTo is whom a reply goes to: the sender when it is a phone, else (a
// command from `corb command send`) the phone a subscription is for; "" when
// there is no phone to text.
func replyTo(cmd *schemas.Command) string {
	candidates := []string{cmd.Sender}
	if a := cmd.Subscribe; a != nil {
		candidates = append(candidates, a.Subscriber)
	}
	if a := cmd.Unsubscribe; a != nil {
		candidates = append(candidates, a.Subscriber)
	}
	for _, c := range candidates {
		if e164.MatchString(c) {
			return c
		}
	}
	return ""
}

// handling is one command being handled.
type handling struct {
	o       *Operator
	cmd     *schemas.Command
	now     time.Time
	written map[string]bool
}

func (h *handling) act() (action, error) {
	switch h.cmd.CommandType {
	case schemas.CommandStatus:
		return action{body: h.status()}, nil
	case schemas.CommandSubscribe:
		return h.subscribe()
	case schemas.CommandUnsubscribe:
		return h.unsubscribe(), nil
	case schemas.CommandHelp:
		topic := ""
		if h.cmd.Help != nil {
			topic = h.cmd.Help.Topic
		}
		return action{body: helpText(topic)}, nil
	case schemas.CommandOptOut:
		return h.optOut()
	case schemas.CommandOptIn:
		return h.optIn(), nil
	}
	return action{body: usage("")}, nil
}

func (h *handling) status() string {
	if h.cmd.ZoneID == "" {
		lines := make([]string, len(h.o.opts.Zones))
		for i, z := range h.o.opts.Zones {
			lines[i] = h.o.statusLine(z, h.now)
		}
		return strings.Join(lines, "\n")
	}
	z, ok := h.o.zone(h.cmd.ZoneID)
	if !ok {
		return h.o.unknownZone(h.cmd.ZoneID)
	}
	return h.o.statusLine(z, h.now)
}

func (h *handling) subscribe() (action, error) {
	a := h.cmd.Subscribe
	if a == nil {
		return action{body: usage(schemas.CommandSubscribe)}, nil
	}
	zoneKey, name := allZonesKey, ""
	if !a.AllZones {
		z, ok := h.o.zone(h.cmd.ZoneID)
		if !ok {
			return action{body: h.o.unknownZone(h.cmd.ZoneID)}, nil
		}
		// The key and the record name the zone by its id, which is what
		// rules looks subscriptions up by, whatever the sender called it.
		zoneKey, name, h.cmd.ZoneID = z.ID, z.Name, z.ID
	}
	value, err := schemas.Marshal(h.cmd)
	if err != nil {
		return action{}, fmt.Errorf("commands: subscription record: %w", err)
	}
	key := SubscriptionKey(zoneKey, a.Subscriber)
	return action{
		body:   subscribedText(a, zoneKey, name),
		writes: []operators.Output{{Topic: h.o.opts.Subscriptions, Key: []byte(key), Value: value}},
	}, nil
}

func (h *handling) unsubscribe() action {
	a := h.cmd.Unsubscribe
	if a == nil {
		return action{body: usage(schemas.CommandUnsubscribe)}
	}
	if a.AllZones {
		writes := h.removeAll(a.Subscriber)
		if len(writes) == 0 && h.o.subscription != nil {
			return action{body: "You had no subscriptions."}
		}
		return action{body: "You won't get texts about any zone any more.", writes: writes}
	}
	z, known := h.o.zone(h.cmd.ZoneID)
	if !known {
		z = Zone{ID: h.cmd.ZoneID, Name: h.cmd.ZoneID}
	}
	key := SubscriptionKey(z.ID, a.Subscriber)
	had, listed := h.subscribed(key)
	if !known && !had {
		// A zone gone from the zones file can still be unsubscribed from.
		return action{body: h.o.unknownZone(h.cmd.ZoneID)}
	}
	body := "You won't get texts about " + z.Name + " any more."
	if listed && !had {
		body = "You had no subscription to " + z.Name + "."
	}
	if all, _ := h.subscribed(SubscriptionKey(allZonesKey, a.Subscriber)); all {
		body += " You still get texts about every zone: reply UNSUBSCRIBE all to stop them."
	}
	return action{body: body, writes: []operators.Output{h.removal(key)}}
}

func (h *handling) optOut() (action, error) {
	phone := h.cmd.Sender
	if !e164.MatchString(phone) {
		return action{}, nil // nobody to opt out, nobody to tell
	}
	writes := h.removeAll(phone)
	if h.o.opts.OptOuts != "" {
		confirmation := h.cmd.Child(schemas.CommandSendSMS, PurposeOptOutConfirmation).ID
		when := h.cmd.IssuedAt // the same on a redelivery
		if when.IsZero() {
			when = h.now
		}
		v, err := json.Marshal(OptOut{Phone: phone, At: when.UTC(), Confirmation: confirmation})
		if err != nil {
			return action{}, err
		}
		writes = append(writes, operators.Output{Topic: h.o.opts.OptOuts, Key: []byte(phone), Value: v})
	}
	return action{body: optOutText, purpose: PurposeOptOutConfirmation, writes: writes}, nil
}

func (h *handling) optIn() action {
	a := action{body: optInText, purpose: PurposeOptInConfirmation}
	if h.o.opts.OptOuts != "" && e164.MatchString(h.cmd.Sender) {
		a.writes = []operators.Output{{Topic: h.o.opts.OptOuts, Key: []byte(h.cmd.Sender)}}
	}
	return a
}

// allZonesKey is the zone part of a subscription to every zone.
const allZonesKey = "*"

// SubscriptionKey is the key of phone's subscription to a zone in the
// subscriptions table: "<zone> <phone>", zone "*" for every zone.
func SubscriptionKey(zone, phone string) string { return zone + " " + phone }

// subscribed says whether key is a subscription, and whether that is known
// (false when there is no subscriptions table to look in).
func (h *handling) subscribed(key string) (has, known bool) {
	if set, ok := h.written[key]; ok {
		return set, true
	}
	if h.o.subscription == nil {
		return false, false
	}
	_, has = h.o.subscription.Get(key)
	return has, true
}

// removeAll is a tombstone for every subscription of phone, in key order;
// without a subscriptions table, for its subscription to every zone.
func (h *handling) removeAll(phone string) []operators.Output {
	of := func(key string) bool {
		_, p, ok := strings.Cut(key, " ")
		return ok && p == phone
	}
	keys := map[string]bool{}
	if h.o.subscription != nil {
		for k := range h.o.subscription.Snapshot() {
			if of(k) {
				keys[k] = true
			}
		}
	} else {
		keys[SubscriptionKey(allZonesKey, phone)] = true
	}
	for k, set := range h.written {
		if of(k) {
			keys[k] = set
		}
	}
	var outs []operators.Output
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		if keys[k] {
			outs = append(outs, h.removal(k))
		}
	}
	return outs
}

func (h *handling) removal(key string) operators.Output {
	return operators.Output{Topic: h.o.opts.Subscriptions, Key: []byte(key)}
}

// zone finds a zone by id, else by id or name ignoring case (a command from
// `corb command send --zone Kitchen`).
func (o *Operator) zone(id string) (Zone, bool) {
	for _, z := range o.opts.Zones {
		if z.ID == id {
			return z, true
		}
	}
	for _, z := range o.opts.Zones {
		if strings.EqualFold(z.ID, id) || strings.EqualFold(z.Name, id) {
			return z, true
		}
	}
	return Zone{}, false
}

// OptOut is the value of a phone's record in the opt-outs table (key: the
// phone), JSON. Confirmation is the id of the send_sms that confirms the
// opt-out: the one text sms-out may still send that phone.
type OptOut struct {
	Phone        string    `json:"phone"`
	At           time.Time `json:"at"`
	Confirmation string    `json:"confirmation_id"`
}
