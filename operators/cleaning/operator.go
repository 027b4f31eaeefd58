// Package cleaning is the cleaning-report generator: it reads the commands
// request_cleaning and cleaning_done from the command bus.
//
//   - request_cleaning: a report of the zone's use since its last cleaning
//     (the request's own figures first, the usage view for what it lacks) is
//     texted to each of the zone's cleaners in the directory, and the person
//     who asked, when a person did, is told how many were notified — or that
//     nobody cleans that zone.
//   - cleaning_done: the zone's record in the cleanings view moves on to the
//     next cycle (presence then counts the zone's usage from zero), and the
//     cleaner gets a confirmation.
//
// Every text is a send_sms command on the bus, keyed by its id, which is
// derived from the command it answers and its purpose ("report <phone>",
// "reply"): the same request handled twice makes the same commands, which the
// SMS operator sends once.
package cleaning

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/corb-dev/corb/operators"
	"github.com/corb-dev/corb/operators/cleaning/cleanings"
	"github.com/corb-dev/corb/operators/directory"
	"github.com/corb-dev/corb/operators/presence"
	"github.com/corb-dev/corb/schemas"
)

// Errors of a command the operator cannot act on; its record goes to the
// dead-letter topic. Match them with errors.Is.
var (
	// ErrInvalidCommand: the record is not a corb.Command, or names no zone.
	ErrInvalidCommand = errors.New("cleaning: invalid command")
	// ErrUnknownZone: the command's zone is not in the zones file.
	ErrUnknownZone = errors.New("cleaning: unknown zone")
	// ErrConfig: the Options are incomplete.
	ErrConfig = errors.New("cleaning: invalid options")
)

// Reasons of Result.Dropped: a command consumed with nothing to say.
const (
	DroppedNotCleaning = "not a cleaning command"
	DroppedNoCleaner   = "no cleaner for the zone"
	DroppedDuplicate   = "cleaning already recorded"
	DroppedOlder       = "older than the zone's last cleaning"
)

// remembered is how many of its last cleanings of a zone an instance keeps
// in memory: enough for the redeliveries of a few batches.
const remembered = 8

// Options are what the host gives a cleaning operator.
type Options struct {
	// Name is the operator's name in the topology: the Sender of the
	// commands it makes and a label of its logs.
	Name string
	// Commands is the output topic of its send_sms commands. Required.
	Commands string
	// Cleanings is the output topic of the cleanings view. Required.
	Cleanings string
	// UsageTable and CleaningsTable are the tables of the usage view
	// (presence.Usage) and of the cleanings view. Required: the runtime must
	// give the operator both (UseTables).
	UsageTable, CleaningsTable string
	// Directory is the directory as it is now (directory.Watcher.Current).
	// Required; it may return nil: nobody is listed.
	Directory func() *directory.Directory
	// ZoneNames are the zones commands may name, id → name for texts; nil
	// accepts any zone and names it by its id.
	ZoneNames map[string]string
	// Location is the time zone of the times in texts (default UTC).
	Location *time.Location
	// Clock stamps the commands it makes (default time.Now).
	Clock func() time.Time
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Operator is the cleaning operator: corb.Command records in (the commands
// topic, matched to request_cleaning and cleaning_done), send_sms commands
// and cleanings records out. It implements operators.TableReader, and
// operators.Closer for the directory watcher Kind's Build starts.
//
// It keeps no state but the cleanings view it writes. That view is read as a
// table, which lags behind the operator's own writes, so the instance also
// remembers the cleanings it recorded last (per zone, with the input record
// that made each): a cleaning_done whose id it recorded is not counted again,
// unless it is the very same input record run again after its batch failed,
// whose outputs the runtime then discarded.
//
// Like every operator it is not safe for concurrent use.
type Operator struct {
	opts      Options
	log       *slog.Logger
	usage     operators.Table
	cleanings operators.Table
	applied   map[string][]applied // zone → its last cleanings recorded here, oldest first
	close     func() error
}

// applied is a cleaning the instance recorded, and the input record it came from.
type applied struct {
	rec       cleanings.Record
	partition int32
	offset    int64
}

// New returns a cleaning operator.
func New(opts Options) (*Operator, error) {
	var errs []error
	for _, f := range []struct{ name, v string }{{"Commands", opts.Commands}, {"Cleanings", opts.Cleanings},
		{"UsageTable", opts.UsageTable}, {"CleaningsTable", opts.CleaningsTable}} {
		if f.v == "" {
			errs = append(errs, fmt.Errorf("no %s topic", f.name))
		}
	}
	if opts.Directory == nil {
		errs = append(errs, errors.New("no directory"))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w: %w", ErrConfig, errors.Join(errs...))
	}
	opts.Name = cmp.Or(opts.Name, "cleaning")
	if opts.Location == nil {
		opts.Location = time.UTC
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Operator{opts: opts, log: opts.Logger, applied: map[string][]applied{}}, nil
}

// UseTables implements operators.TableReader.
func (o *Operator) UseTables(tables map[string]operators.Table) {
	o.usage, o.cleanings = tables[o.opts.UsageTable], tables[o.opts.CleaningsTable]
}

// Close implements operators.Closer: it stops what Build started with the operator.
func (o *Operator) Close() error {
	if o.close == nil {
		return nil
	}
	return o.close()
}

// Process implements operators.Operator. A record that is not a command, or
// a cleaning command that names no zone or an unknown one, fails permanently;
// commands of other types are dropped.
func (o *Operator) Process(_ context.Context, batch []operators.Record) ([]operators.Result, error) {
	res := make([]operators.Result, len(batch))
	for i, r := range batch {
		var c schemas.Command
		if err := schemas.Unmarshal(r.Value, &c); err != nil {
			res[i].Err = operators.Permanent(fmt.Errorf("%w: %w", ErrInvalidCommand, err))
			continue
		}
		if c.CommandType != schemas.CommandRequestCleaning && c.CommandType != schemas.CommandCleaningDone {
			res[i].Dropped = DroppedNotCleaning
			continue
		}
		name, err := o.zoneName(c.ZoneID)
		if err != nil {
			res[i].Err = err
			continue
		}
		if c.CommandType == schemas.CommandRequestCleaning {
			res[i] = o.encode(&c, o.request(&c, name))
		} else {
			res[i] = o.encode(&c, o.done(r, &c, name))
		}
	}
	return res, nil
}

// outcome is what a command comes to, before encoding.
type outcome struct {
	view    *cleanings.Record // the zone's new record in the cleanings view
	texts   []text
	dropped string
	err     error
}

// text is one send_sms the command causes for purpose.
type text struct{ purpose, to, body string }

func (o *Operator) zoneName(id string) (string, error) {
	if id == "" {
		return "", operators.Permanentf("%w: no zone", ErrInvalidCommand)
	}
	if o.opts.ZoneNames == nil {
		return id, nil
	}
	name, ok := o.opts.ZoneNames[id]
	if !ok {
		return "", operators.Permanentf("%w: %q", ErrUnknownZone, id)
	}
	return cmp.Or(name, id), nil
}

// request texts the report to the zone's cleaners and tells a person who
// asked how many were told.
func (o *Operator) request(c *schemas.Command, zoneName string) outcome {
	a := schemas.RequestCleaningArgs{}
	if c.RequestCleaning != nil {
		a = *c.RequestCleaning
	}
	dir := o.opts.Directory()
	rep := o.report(c.ZoneID, zoneName, a)
	rep.requester = cmp.Or(a.RequestedBy, c.Sender)
	if p, ok := dir.Lookup(rep.requester); ok {
		rep.requesterName = p.Name
	}
	body := rep.text(o.opts.Location)
	var out outcome
	cleaners := dir.Cleaners(c.ZoneID)
	for _, p := range cleaners {
		out.texts = append(out.texts, text{"report " + p.Phone, p.Phone, body})
	}
	if len(cleaners) == 0 {
		o.log.Warn("cleaning: nobody in the directory cleans the zone; the report went to nobody",
			"operator", o.opts.Name, "zone", c.ZoneID, "command", c.ID, "requested_by", rep.requester)
		out.dropped = DroppedNoCleaner
	}
	if directory.ValidPhone(rep.requester) {
		out.texts = append(out.texts, text{"reply", rep.requester, ackText(zoneName, len(cleaners))})
	}
	return out
}

// report gathers the figures of zone since its last cleaning: a's where it
// has them, the usage view's for the rest.
func (o *Operator) report(zone, zoneName string, a schemas.RequestCleaningArgs) report {
	// The report goes out without what cannot be read: a view record that
	// does not decode is presence's or this operator's bug, not the requester's.
	var u presence.Usage
	if b, ok := lookup(o.usage, zone); ok {
		if err := u.UnmarshalBinary(b); err != nil {
			o.log.Warn("cleaning: usage view unreadable; reporting the request's figures only", "zone", zone, "err", err)
			u = presence.Usage{}
		}
	}
	last, _, err := cleanings.Get(o.cleanings, zone)
	if err != nil {
		o.log.Warn("cleaning: cleanings view unreadable; the report may count usage from before the last cleaning", "zone", zone, "err", err)
	}
	if last = o.newer(zone, last); last.Cycle > 0 {
		// The view resets only when presence folds the zone's next event in.
		u = u.Cleaned(last.CleanedAt)
	}
	r := report{
		zoneName: zoneName, since: u.Since,
		visits: cmp.Or(a.Visits, u.Visits), personMinutes: cmp.Or(a.PersonMinutes, u.PersonMinutes), peak: cmp.Or(a.Peak, u.Peak),
		firstUse: cmp.Or(a.FirstUse, u.FirstSeen), lastUse: a.LastUse,
		reason: a.Reason, policy: a.Policy,
	}
	if r.lastUse.IsZero() {
		if u.Count > 0 {
			r.inUse = u.Count
		} else if !u.LastSeen.Before(u.Since) {
			r.lastUse = u.LastSeen
		}
	}
	return r
}

// lookup is t.Get(key), false for a nil table.
func lookup(t operators.Table, key string) ([]byte, bool) {
	if t == nil {
		return nil, false
	}
	return t.Get(key)
}

// done records the zone's next cleaning and confirms it to the sender.
func (o *Operator) done(r operators.Record, c *schemas.Command, zoneName string) outcome {
	last, _, err := cleanings.Get(o.cleanings, c.ZoneID)
	if err != nil {
		// Without the last cycle the next cannot be numbered.
		return outcome{err: operators.Permanent(err)}
	}
	mine := o.applied[c.ZoneID]
	for _, p := range mine {
		if p.rec.CommandID != c.ID {
			continue
		}
		if p.partition == r.Partition && p.offset == r.Offset && last.Cycle < p.rec.Cycle {
			// The same input record run again: the outputs of its first run
			// were never committed, so they are made again, alike.
			return o.recorded(c, p.rec, zoneName)
		}
		return outcome{dropped: DroppedDuplicate}
	}
	if last.CommandID == c.ID {
		return outcome{dropped: DroppedDuplicate}
	}
	last = o.newer(c.ZoneID, last)
	by := c.Sender
	if c.CleaningDone != nil {
		by = cmp.Or(c.CleaningDone.By, by)
	}
	at := cmp.Or(c.IssuedAt, r.Timestamp)
	if last.Cycle > 0 && !at.After(last.CleanedAt) {
		// A report of a cleaning the view has already counted, or of an
		// earlier one (two cleaners texting DONE, a late message): the usage
		// since the last cleaning stays as it is.
		out := outcome{dropped: DroppedOlder}
		if to := replyTo(c.Sender, by); to != "" {
			out.texts = []text{{"reply", to, alreadyText(zoneName, last, o.opts.Location)}}
		}
		return out
	}
	rec := cleanings.Record{ZoneID: c.ZoneID, Cycle: last.Cycle + 1, CleanedAt: at.UTC(), By: by, CommandID: c.ID}
	if p, ok := o.opts.Directory().Lookup(by); ok {
		rec.Name = p.Name
	}
	mine = append(mine, applied{rec: rec, partition: r.Partition, offset: r.Offset})
	o.applied[c.ZoneID] = mine[max(0, len(mine)-remembered):]
	return o.recorded(c, rec, zoneName)
}

// newer is the last cleaning of zone this instance recorded when the
// table's, last, is older: the table has not caught up with it yet.
func (o *Operator) newer(zone string, last cleanings.Record) cleanings.Record {
	if mine := o.applied[zone]; len(mine) > 0 && mine[len(mine)-1].rec.Cycle > last.Cycle {
		return mine[len(mine)-1].rec
	}
	return last
}

// recorded is the outcome of the cleaning rec: the view's record and the
// sender's confirmation.
func (o *Operator) recorded(c *schemas.Command, rec cleanings.Record, zoneName string) outcome {
	out := outcome{view: &rec}
	if to := replyTo(c.Sender, rec.By); to != "" {
		out.texts = []text{{"reply", to, doneText(zoneName, rec)}}
	}
	return out
}

// replyTo is whom a confirmation goes to: the sender, else the cleaner,
// whichever is a phone first; "" when neither is.
func replyTo(sender, by string) string {
	for _, p := range []string{sender, by} {
		if directory.ValidPhone(p) {
			return p
		}
	}
	return ""
}

// encode turns out into c's Result: the view's record keyed by zone, each
// text a send_sms keyed by its id (sms-out's sent log is keyed alike).
// Dropped counts only when nothing else follows.
func (o *Operator) encode(c *schemas.Command, out outcome) operators.Result {
	if out.err != nil {
		return operators.Result{Err: out.err}
	}
	var res operators.Result
	if out.view != nil {
		b, err := out.view.MarshalBinary()
		if err != nil {
			return operators.Result{Err: operators.Permanent(err)}
		}
		res.Outputs = append(res.Outputs, operators.Output{Topic: o.opts.Cleanings, Key: []byte(out.view.ZoneID), Value: b})
	}
	for _, t := range out.texts {
		s := c.Child(schemas.CommandSendSMS, t.purpose)
		s.Channel, s.Sender, s.IssuedAt = "cleaning", o.opts.Name, o.opts.Clock()
		s.SendSMS = &schemas.SendSMSArgs{To: t.to, Body: t.body}
		b, err := schemas.Marshal(s)
		if err != nil {
			return operators.Result{Err: operators.Permanent(fmt.Errorf("cleaning: encoding send_sms %s: %w", s.ID, err))}
		}
		res.Outputs = append(res.Outputs, operators.Output{Topic: o.opts.Commands, Key: []byte(s.ID), Value: b})
	}
	if len(res.Outputs) == 0 {
		res.Dropped = out.dropped
	}
	return res
}
