package schemas

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strconv"
	"time"
)

// Command is one message on the command bus (topic commands, key = ZoneID or
// sender). It is routed by CommandType. At most one argument pointer is set:
// the one that belongs to CommandType, or Text (the raw text, not yet parsed)
// on a command of any type, or none.
//
// # The id rule
//
// ID is derived from Cause, never drawn at random: ID == Cause.CommandID().
// The cause of a command made from an inbound SMS is its Twilio MessageSid; of
// a notification, the presence event and whom it notifies; of a reply or a
// cleaning report, the parent command and the purpose; of an automatic
// cleaning request, the zone's cleaning cycle. Any redelivery of a cause (a
// retried webhook, a re-consumed event, a handler rerun after a crash)
// therefore yields the same id, and every handler is idempotent by id: acting
// on an id it has acted on before changes nothing. NewCommand and Child apply
// the rule; Marshal and Unmarshal refuse a command whose Cause is set and
// whose ID is not derived from it. A command without a Cause (every v1
// record) keeps the ID it was given.
type Command struct {
	ID          string
	CommandType string // CommandSubscribe, CommandStatus, CommandSendSMS, ... or any other
	ZoneID      string // "" when the command is not about one zone; status: every zone
	Channel     string // origin channel: "sms", "rules", "cli", ...
	Sender      string // origin sender: phone number, operator name, user
	IssuedAt    time.Time

	Cause         Cause  // zero (null on the wire) only for commands that predate the id rule
	CorrelationID string // ID of the first command of the chain; "" on that command itself

	Subscribe       *SubscribeArgs
	Unsubscribe     *UnsubscribeArgs
	Help            *HelpArgs
	RequestCleaning *RequestCleaningArgs
	CleaningDone    *CleaningDoneArgs
	SendSMS         *SendSMSArgs
	Text            *TextArgs
}

func (*Command) SchemaName() string { return "corb.Command" }

// Command types. Each one with arguments owns one argument record, which
// Marshal refuses on any other type; status has none (its ZoneID says which
// zone, "" for every zone).
const (
	CommandSubscribe       = "subscribe"
	CommandUnsubscribe     = "unsubscribe"
	CommandStatus          = "status"
	CommandHelp            = "help"
	CommandRequestCleaning = "request_cleaning"
	CommandCleaningDone    = "cleaning_done"
	CommandSendSMS         = "send_sms"
	CommandOptOut          = "opt_out" // STOP: no more texts of any kind to the sender
	CommandOptIn           = "opt_in"  // START: texts to the sender again
)

// Key is the record key of c on the command bus: its ID for a send_sms (so
// that the sms operator's sent log, keyed by command id, is co-partitioned
// with it), its zone for a zone's command, else the phone it concerns (the
// subscriber, or the sender).
func (c *Command) Key() string {
	switch {
	case c.CommandType == CommandSendSMS:
		return c.ID
	case c.ZoneID != "":
		return c.ZoneID
	case c.Subscribe != nil:
		return c.Subscribe.Subscriber
	case c.Unsubscribe != nil:
		return c.Unsubscribe.Subscriber
	}
	return c.Sender
}

// SubscribeArgs are the arguments of subscribe: tell Subscriber of the chosen
// transitions of one zone (Command.ZoneID) or of every zone.
type SubscribeArgs struct {
	// AllZones subscribes to every zone and needs an empty ZoneID; without it
	// ZoneID must name the zone. Explicit, because a subscription to every
	// zone texts on every change in the building.
	AllZones    bool
	Transitions []PresenceType // at least one, none twice: "all" is {Occupied, Vacated}
	Once        bool           // one-shot ("tell me once when it is free"): removed when it fires
	Subscriber  string         // E.164 phone number; never empty
}

// UnsubscribeArgs are the arguments of unsubscribe: Subscriber's subscription
// to Command.ZoneID, or all of them.
type UnsubscribeArgs struct {
	AllZones   bool   // every zone, with an empty ZoneID; as in SubscribeArgs
	Subscriber string // E.164 phone number; never empty
}

// HelpArgs are the arguments of help.
type HelpArgs struct {
	Topic string // the command asked about, "" for general help
}

// RequestCleaningArgs are the arguments of request_cleaning: why, who asked,
// and the zone's usage since its last cleaning.
type RequestCleaningArgs struct {
	Reason        string
	Visits        int32
	PersonMinutes float64
	RequestedBy   string        // a phone number, "rules", a user; "" means the command's Sender
	Peak          int32         // most people at once
	Occupied      time.Duration // time occupied; millisecond precision on the wire
	FirstUse      time.Time     // zero (null on the wire) when unused
	LastUse       time.Time     // zero (null on the wire) when unused
	Policy        string        // the policy that was passed, e.g. "visits >= 20"; "" for a person's request
	// Cycle is the zone's cleaning cycle (1, 2, ...; each cleaning_done starts
	// the next), 0 when the requester does not know it. Automatic requests are
	// caused by their cycle (CycleID), so there is one per cycle.
	Cycle int64
}

// CleaningDoneArgs are the arguments of cleaning_done: Command.ZoneID is clean.
type CleaningDoneArgs struct {
	By string // who cleaned: phone number or name; "" means the command's Sender
}

// SendSMSArgs are the arguments of send_sms. What the message answers or
// announces is the command's Cause.
type SendSMSArgs struct {
	To   string // E.164
	Body string
}

// TextArgs carry the raw text of a command that came in as a message and is
// not parsed into typed arguments (yet); allowed on every command type.
type TextArgs struct {
	Raw string
}

// CauseKind says what caused a command, and so what Cause.ID identifies.
type CauseKind string

const (
	CauseEvent   CauseKind = "EVENT"   // a presence event: its EventID
	CauseSMS     CauseKind = "SMS"     // an inbound text message: Twilio's MessageSid
	CauseCommand CauseKind = "COMMAND" // another command, the parent: its ID
	CauseCycle   CauseKind = "CYCLE"   // a zone's cleaning cycle: CycleID(zone, cycle)
	CauseCLI     CauseKind = "CLI"     // a person at the command line: the invocation's id
)

// Cause is what made a command. Purpose tells apart the commands one cause
// makes: "reply", "notify +15550001" (one per subscriber of the event's zone),
// "report +15550002"; "" when the cause makes one command, as an inbound SMS does.
type Cause struct {
	Kind    CauseKind
	ID      string // never empty
	Purpose string
}

// IsZero reports whether c is the zero Cause: no cause recorded.
func (c Cause) IsZero() bool { return c == Cause{} }

// CommandID is the ID of the command c causes: CommandID(Kind, ID, Purpose).
func (c Cause) CommandID() string { return CommandID(string(c.Kind), c.ID, c.Purpose) }

// CommandID derives an id from the parts that identify a cause: the lowercase
// hex of the first 16 bytes of SHA-256 over every part, each preceded by its
// length in bytes as an unsigned varint (LEB128). The same parts always give
// the same id; the length prefixes make the input decodable, so parts that
// concatenate alike ("ab","c" and "a","bc"; "a" and "a","") give different ids.
// 128 bits keep a collision out of reach for any number of commands a bus carries.
func CommandID(parts ...string) string {
	h := sha256.New()
	var n [binary.MaxVarintLen64]byte
	for _, p := range parts {
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(p)))])
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// CycleID is the Cause.ID of a CauseCycle: "<zoneID>#<cycle>". It is
// unambiguous because the cycle, a number, has no '#': it is what follows the
// last one.
func CycleID(zoneID string, cycle int64) string {
	return zoneID + "#" + strconv.FormatInt(cycle, 10)
}

// NewCommand returns a command of commandType whose ID is derived from cause,
// which must not be zero: the zero Cause means no cause at all.
func NewCommand(commandType string, cause Cause) *Command {
	return &Command{ID: cause.CommandID(), CommandType: commandType, Cause: cause}
}

// Child returns the command of commandType that c causes for purpose, with
// its ID derived from that cause, c's ZoneID, and the CorrelationID of c's
// chain (c.ID when c is the chain's first command). The caller sets the rest.
// c.ID must not be empty (Marshal refuses a cause without an id).
func (c *Command) Child(commandType, purpose string) *Command {
	n := NewCommand(commandType, Cause{Kind: CauseCommand, ID: c.ID, Purpose: purpose})
	n.ZoneID = c.ZoneID
	n.CorrelationID = c.CorrelationID
	if n.CorrelationID == "" {
		n.CorrelationID = c.ID
	}
	return n
}
