// Package rules is the rules operator: presence events joined with the
// subscriptions table become send_sms commands to the subscribers of the
// event's zone, and the usage and cleanings tables become an automatic
// request_cleaning once per cleaning cycle.
//
// Every command's id is derived from its cause (see schemas.Command): a
// notification's from the event and the phone it goes to, a cleaning
// request's from the zone's cleaning cycle. A redelivered event therefore
// makes the same ids, and the zone's state in the rules-state changelog
// (the events it applied, cooldowns, one-shots fired, the cycle last
// requested), committed with the outputs, makes it change nothing at all.
package rules

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/corb-dev/corb/operators"
	opmetrics "github.com/corb-dev/corb/operators/metrics"
	"github.com/corb-dev/corb/schemas"
)

// Channel is the Channel of the commands the operator makes.
const Channel = "rules"

// Options are what the host gives a rules operator besides its Config. The
// topics are logical names.
type Options struct {
	// Name is the operator's name in the topology: the Sender of its
	// commands and the label of its metrics.
	Name string
	// Commands gets the send_sms (key: the command id, so the SMS sender's
	// log is co-partitioned with it) and request_cleaning (key: the zone id)
	// commands. Required.
	Commands string
	// Subscriptions, when set, gets a tombstone for each one-shot
	// subscription that fires (key: its key in the table).
	Subscriptions string
	// State is the per-zone changelog (key: zone id). Required.
	State string
	// SubscriptionsTable is the subscriptions table: corb.Command subscribe
	// commands keyed "<zone> <phone>" or "* <phone>". Required.
	SubscriptionsTable string
	// UsageTable (presence.Usage JSON) and CleaningsTable (the last cleaning
	// per zone, JSON) are required when the cleaning policy is set.
	UsageTable, CleaningsTable string
	// ZoneNames are the names notifications use, by zone id; a zone without
	// one is called by its id.
	ZoneNames map[string]string
	// Clock is the wall clock; it decides quiet hours only (default time.Now).
	Clock func() time.Time
	// Registry receives the operator's metrics; nil registers none.
	Registry prometheus.Registerer
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Errors of the operator; match them with errors.Is.
var (
	// ErrInvalidRecord: an input record that is not a presence event of the
	// zone its key names, with an id (dead-lettered).
	ErrInvalidRecord = errors.New("invalid presence event")
	// ErrStateTopic: Restore was given a topic the operator does not write.
	ErrStateTopic = errors.New("not a rules state topic")
	// ErrNoTable: a table the operator needs was not given to UseTables.
	ErrNoTable = errors.New("table not given")
)

// Operator is the rules operator; it implements operators.Stateful and
// operators.TableReader. Like every operator it is not safe for concurrent
// use: the runtime calls it from one goroutine.
//
// A one-shot subscription to every zone ("* phone") is remembered as fired
// in the state of the zone it fired for; events of other zones, on other
// partitions, can fire it once each until its tombstone reaches their
// instance's table (milliseconds).
type Operator struct {
	cfg    Config
	opts   Options
	quiet  quietHours
	loc    *time.Location
	log    *slog.Logger
	tables map[string]operators.Table
	zones  map[string]*ownedZone
	bad    map[string]bool // subscription keys already reported as undecodable
	m      *metrics
}

type ownedZone struct {
	st        *zoneState
	partition int32
}

// New validates cfg and opts and returns an operator that owns no zone yet.
func New(cfg Config, opts Options) (*Operator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var errs []error
	if opts.Commands == "" {
		errs = append(errs, errors.New("no commands topic"))
	}
	if opts.State == "" {
		errs = append(errs, errors.New("no state topic"))
	}
	if opts.SubscriptionsTable == "" {
		errs = append(errs, errors.New("no subscriptions table"))
	}
	if cfg.Policy.Set() && (opts.UsageTable == "" || opts.CleaningsTable == "") {
		errs = append(errs, errors.New("the cleaning policy (visits, person_minutes, hours_occupied) needs the usage and cleanings tables"))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w: %w", ErrConfig, errors.Join(errs...))
	}
	quiet, _ := parseQuietHours(cfg.QuietHours) // Validate parsed both
	loc, _ := loadLocation(cfg.Timezone)
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	m, err := newMetrics(opts.Registry, opts.Name)
	if err != nil {
		return nil, err
	}
	return &Operator{cfg: cfg, opts: opts, quiet: quiet, loc: loc, log: opts.Logger,
		zones: map[string]*ownedZone{}, bad: map[string]bool{}, m: m}, nil
}

// UseTables implements operators.TableReader.
func (o *Operator) UseTables(tables map[string]operators.Table) { o.tables = tables }

// Process implements operators.Operator. A record that is not a presence
// event keyed by its zone id, with an id, fails permanently. An event the
// zone has applied before changes nothing (Dropped "duplicate-event").
// Otherwise it makes its notifications, its tombstones and its cleaning
// request; the state of each zone the batch changed goes out with the
// zone's last applied record.
func (o *Operator) Process(_ context.Context, batch []operators.Record) ([]operators.Result, error) {
	if err := o.checkTables(); err != nil {
		return nil, err
	}
	res := make([]operators.Result, len(batch))
	last := map[string]int{} // zone → index of its last applied record
	var subs *subscriptionIndex
	now := o.opts.Clock()
	for i, r := range batch {
		ev, err := decodeEvent(r)
		if err != nil {
			res[i].Err = err
			continue
		}
		z := o.zones[ev.ZoneID]
		if z != nil && z.st.seen(ev.EventID) {
			res[i].Dropped = "duplicate-event"
			continue
		}
		if subs == nil {
			subs = o.subscriptions()
		}
		st := &zoneState{}
		if z != nil {
			st = z.st.clone()
		}
		a, err := o.apply(st, ev, subs, now)
		if err != nil {
			res[i].Err = operators.Permanent(err)
			continue
		}
		o.zones[ev.ZoneID] = &ownedZone{st: st, partition: r.Partition}
		last[ev.ZoneID] = i
		res[i].Outputs, res[i].Dropped = a.outputs, a.dropped
		a.count(o.m)
	}
	for zone, i := range last {
		b, err := o.zones[zone].st.marshal()
		if err != nil {
			return nil, fmt.Errorf("rules: state of zone %s: %w", zone, err)
		}
		res[i].Outputs = append(res[i].Outputs, operators.Output{Topic: o.opts.State, Key: []byte(zone), Value: b})
	}
	return res, nil
}

func (o *Operator) checkTables() error {
	need := []string{o.opts.SubscriptionsTable}
	if o.cfg.Policy.Set() {
		need = append(need, o.opts.UsageTable, o.opts.CleaningsTable)
	}
	for _, t := range need {
		if o.tables[t] == nil {
			return fmt.Errorf("rules: %w: %s", ErrNoTable, t)
		}
	}
	return nil
}

func decodeEvent(r operators.Record) (schemas.PresenceEvent, error) {
	var ev schemas.PresenceEvent
	if err := schemas.Unmarshal(r.Value, &ev); err != nil {
		return ev, operators.Permanent(fmt.Errorf("%w: %w", ErrInvalidRecord, err))
	}
	switch {
	case ev.EventID == "":
		return ev, operators.Permanentf("%w: zone %q: no event id", ErrInvalidRecord, ev.ZoneID)
	case string(r.Key) != ev.ZoneID:
		return ev, operators.Permanentf("%w: key %q is not the zone id %q", ErrInvalidRecord, r.Key, ev.ZoneID)
	}
	return ev, nil
}

// applied is what one event made.
type applied struct {
	outputs  []operators.Output
	dropped  string // why a notification due was not sent, when nothing else was
	sent     int
	held     map[string]int // notifications not sent, by reason
	requests int
}

func (a *applied) hold(reason string, n int) {
	if a.held == nil {
		a.held = map[string]int{}
	}
	a.held[reason] += n
	a.dropped = reason
}

func (a *applied) count(m *metrics) {
	m.notifications.WithLabelValues("sent").Add(float64(a.sent))
	for reason, n := range a.held {
		m.notifications.WithLabelValues(reason).Add(float64(n))
	}
	m.requests.Add(float64(a.requests))
}

// apply applies ev to st, the zone's state, and returns its outputs.
func (o *Operator) apply(st *zoneState, ev schemas.PresenceEvent, subs *subscriptionIndex, now time.Time) (applied, error) {
	var a applied
	if err := o.notify(&a, st, ev, subs, now); err != nil {
		return a, err
	}
	if o.cfg.Policy.Set() {
		cmd, err := o.cleaningRequest(st, ev)
		if err != nil {
			// A bad row of another operator's table is not this event's
			// fault: the event goes on without its request.
			o.log.Warn("rules: cleaning policy not judged", "zone", ev.ZoneID, "event", ev.EventID, "err", err)
		}
		if cmd != nil {
			out, err := o.command(cmd, ev.ZoneID, ev)
			if err != nil {
				return a, err
			}
			a.outputs = append(a.outputs, out)
			a.requests++
		}
	}
	st.remember(ev.EventID)
	st.prune(ev.EventTime, o.cfg.Cooldown, subs.ids(ev.ZoneID))
	if len(a.outputs) > 0 {
		a.dropped = ""
	}
	return a, nil
}

// notify adds the send_sms commands of ev, one per subscriber of its zone
// (or of every zone) whose transitions include ev.Type, and the tombstones
// of the one-shots that fire. During quiet hours nothing is sent; within a
// subscriber's cooldown only a one-shot is.
func (o *Operator) notify(a *applied, st *zoneState, ev schemas.PresenceEvent, subs *subscriptionIndex, now time.Time) error {
	if ev.Type != schemas.Occupied && ev.Type != schemas.Vacated {
		return nil
	}
	byPhone := subs.matching(ev.ZoneID, ev.Type, st)
	if len(byPhone) == 0 {
		return nil
	}
	if o.quiet.contains(now.In(o.loc)) {
		a.hold("quiet-hours", len(byPhone))
		return nil
	}
	var tombstones []operators.Output
	for _, phone := range slices.Sorted(maps.Keys(byPhone)) {
		var once, standing bool
		for _, s := range byPhone[phone] {
			once, standing = once || s.once, standing || !s.once
		}
		last, notified := st.Notified[phone]
		if !once && notified && o.cfg.Cooldown > 0 && ev.EventTime.Before(last.Add(o.cfg.Cooldown)) {
			a.hold("cooldown", 1)
			continue
		}
		cmd := schemas.NewCommand(schemas.CommandSendSMS,
			schemas.Cause{Kind: schemas.CauseEvent, ID: ev.EventID, Purpose: "notify " + phone})
		o.stamp(cmd, ev)
		cmd.SendSMS = &schemas.SendSMSArgs{To: phone, Body: o.text(ev, once && !standing)}
		out, err := o.command(cmd, cmd.ID, ev)
		if err != nil {
			return err
		}
		a.outputs = append(a.outputs, out)
		a.sent++
		if o.cfg.Cooldown > 0 {
			st.notifiedAt(phone, ev.EventTime)
		}
		for _, s := range byPhone[phone] {
			if !s.once {
				continue
			}
			st.fire(s.id, ev.EventTime)
			if o.opts.Subscriptions != "" {
				tombstones = append(tombstones, operators.Output{Topic: o.opts.Subscriptions, Key: []byte(s.key), Timestamp: ev.EventTime})
			}
		}
	}
	a.outputs = append(a.outputs, tombstones...)
	return nil
}

// stamp sets what every command of the operator carries.
func (o *Operator) stamp(cmd *schemas.Command, ev schemas.PresenceEvent) {
	cmd.ZoneID, cmd.Channel, cmd.Sender, cmd.IssuedAt = ev.ZoneID, Channel, o.opts.Name, ev.EventTime
}

// command encodes cmd for the commands topic under key, stamped with the
// event's time.
func (o *Operator) command(cmd *schemas.Command, key string, ev schemas.PresenceEvent) (operators.Output, error) {
	b, err := schemas.Marshal(cmd)
	if err != nil {
		return operators.Output{}, fmt.Errorf("rules: %s for zone %s: %w", cmd.CommandType, ev.ZoneID, err)
	}
	return operators.Output{Topic: o.opts.Commands, Key: []byte(key), Value: b, Timestamp: ev.EventTime}, nil
}

// text is the notification of ev: short, plain ASCII (one GSM-7 segment
// unless the zone's name is long or not GSM-7), with the local time of the
// transition. It depends on the event alone, so a redelivery says the same.
func (o *Operator) text(ev schemas.PresenceEvent, lastOfOneShot bool) string {
	name := o.opts.ZoneNames[ev.ZoneID]
	if name == "" {
		name = ev.ZoneID
	}
	at := transitionTime(ev).In(o.loc).Format("15:04")
	var s string
	if ev.Type == schemas.Vacated {
		s = fmt.Sprintf("%s is free again (vacated %s).", name, at)
	} else {
		s = fmt.Sprintf("%s is in use (occupied %s).", name, at)
	}
	if lastOfOneShot {
		s += " That was your one-time alert."
	}
	return s
}

// transitionTime is when ev's transition happened: the end of the
// occupancy for VACATED, its start for OCCUPIED, else the event time.
func transitionTime(ev schemas.PresenceEvent) time.Time {
	switch {
	case ev.OccupiedSince.IsZero():
		return ev.EventTime
	case ev.Type == schemas.Vacated:
		return ev.OccupiedSince.Add(ev.Duration)
	default:
		return ev.OccupiedSince
	}
}

// Restore implements operators.Stateful: the zones of partition p become
// exactly those of state (zone id → zone state). State that does not decode
// is an error.
func (o *Operator) Restore(_ context.Context, topic string, p int32, state map[string][]byte) error {
	if topic != o.opts.State {
		return fmt.Errorf("rules: restore from %q: %w (%q)", topic, ErrStateTopic, o.opts.State)
	}
	restored := make(map[string]*ownedZone, len(state))
	for zone, b := range state {
		st, err := unmarshalState(b)
		if err != nil {
			return fmt.Errorf("rules: restoring %s[%d], zone %s: %w", topic, p, zone, err)
		}
		restored[zone] = &ownedZone{st: st, partition: p}
	}
	o.Revoke(p)
	maps.Copy(o.zones, restored)
	return nil
}

// Revoke implements operators.Stateful: the zones of partition p are dropped.
func (o *Operator) Revoke(p int32) {
	maps.DeleteFunc(o.zones, func(_ string, z *ownedZone) bool { return z.partition == p })
}

// metrics are the operator's own metrics, labelled with its name.
type metrics struct {
	notifications *prometheus.CounterVec // by outcome
	requests      prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, name string) (*metrics, error) {
	notifications, err1 := opmetrics.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "corb_rules_notifications_total",
		Help: "Notifications due to subscribers, by outcome: sent, cooldown, quiet-hours.",
	}, []string{"operator", "outcome"}))
	requests, err2 := opmetrics.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "corb_rules_cleaning_requests_total",
		Help: "Automatic cleaning requests made: one per zone and cleaning cycle.",
	}, []string{"operator"}))
	if err := errors.Join(err1, err2); err != nil {
		return nil, err
	}
	return &metrics{
		notifications: notifications.MustCurryWith(prometheus.Labels{"operator": name}),
		requests:      requests.WithLabelValues(name),
	}, nil
}
