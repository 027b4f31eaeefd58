package presence

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
	"github.com/corb-dev/corb/operators/cleaning/cleanings"
	opmetrics "github.com/corb-dev/corb/operators/metrics"
	"github.com/corb-dev/corb/operators/partition"
	"github.com/corb-dev/corb/schemas"
)

// OperatorConfig is the presence kind's config, as written under an
// operator's `config:` in the topology: the Config durations (size, advance,
// grace, enter_after, vacate_after, stale_after) and the zones file. Every
// field is optional.
type OperatorConfig struct {
	Config `yaml:",inline"`
	// ZonesFile is the zones file the zone ids and cameras come from.
	// "" means $CORB_ZONES, then deploy/zones.yaml (see zones.OperatorConfig.Path).
	ZonesFile string `yaml:"zones_file" default:"$CORB_ZONES, else deploy/zones.yaml" doc:"the zones file the zone ids and cameras come from"`
}

// OperatorOptions are what the host gives a presence operator besides its Config.
type OperatorOptions struct {
	// Name is the operator's name in the topology; it labels the metrics.
	Name string
	// Events is the logical topic every event goes to (key zone id). Required.
	Events string
	// Occupancy, when set, is a compacted topic that gets the latest event of
	// each zone (key zone id) whenever its state changes: the occupancy view.
	Occupancy string
	// State is the changelog topic of the per-zone state (key zone id). Required.
	State string
	// Usage, when set, is a compacted topic holding each zone's Usage since its
	// last cleaning (key zone id, JSON): a view other operators read as a
	// table, and the operator's own changelog for it (restored like State).
	Usage string
	// Cleanings, when set, is the table of the cleanings view (key zone id,
	// cleanings.Record): a cleaning newer than a zone's usage period starts
	// the zone's usage from zero before the next event is folded in, so
	// presence never has to consume commands. Its runtime must give the
	// operator this table (UseTables).
	Cleanings string
	// InputPartitions is the partition count of the input topic. When set, an
	// instance takes on every configured zone whose id hashes (as Kafka's
	// producers hash keys) to a partition it is assigned, even one that never
	// sent a record: such a zone is reported STALE after StaleAfter instead of
	// being silently unknown. 0 owns a zone only once it is heard from.
	InputPartitions int
	// Clock is the wall clock; it drives staleness only (default time.Now).
	Clock func() time.Time
	// Registry receives the operator's metrics; nil registers none.
	Registry prometheus.Registerer
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// ErrStateTopic is returned by Restore for a state topic the operator does not write.
var ErrStateTopic = errors.New("not a presence state topic")

// Operator is the presence operator: corb.ZoneCounts records in (key zone
// id), corb.PresenceEvent records out. It implements operators.Stateful,
// operators.Ticker and operators.TableReader (the cleanings view).
//
// It holds one Aggregator per zone it owns. A zone is owned once a record of
// it arrived on, or its state was restored from, one of the instance's input
// partitions; Revoke(p) drops exactly the zones of partition p and Restore
// replaces exactly them. Tick reports staleness for owned zones only, so a
// zone whose cameras never sent anything since the last restart is never
// reported stale (no instance knows it is its own).
//
// For every input record it emits the record's events to Events, and for
// every zone the batch touched, the zone's latest event to Occupancy and its
// state to State, attached to the zone's last accepted record of the batch
// (so they commit with it). Event-time logic depends on capture times only,
// so a run restored from the changelog yields the events of an uninterrupted
// one; the wall clock enters through staleness (STALE, RECOVERED) alone.
//
// Like every operator it is not safe for concurrent use: the runtime calls
// Process, Tick, Restore and Revoke from one goroutine.
type Operator struct {
	cfg   Config
	opts  OperatorOptions
	specs map[string]ZoneSpec
	log   *slog.Logger
	zones map[string]*ownedZone
	usage map[string]*ownedUsage
	// cleanings is the cleanings view's table, nil until UseTables (or
	// without Cleanings).
	cleanings operators.Table
	badClean  map[string]bool // zones whose cleanings record does not decode: warned once
	m         *metrics
}

type ownedZone struct {
	agg       *Aggregator
	partition int32
}

type ownedUsage struct {
	u         Usage
	partition int32
}

// NewOperator validates cfg (after defaults; cfg.Zones must name at least
// one zone) and opts, and returns an operator that owns no zone yet.
func NewOperator(cfg Config, opts OperatorOptions) (*Operator, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var errs []error
	if len(cfg.Zones) == 0 {
		errs = append(errs, errors.New("no zones"))
	}
	if opts.Events == "" {
		errs = append(errs, errors.New("no events topic"))
	}
	if opts.State == "" {
		errs = append(errs, errors.New("no state topic"))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w: %w", ErrConfig, errors.Join(errs...))
	}
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
	o := &Operator{cfg: cfg, opts: opts, specs: map[string]ZoneSpec{}, log: opts.Logger, zones: map[string]*ownedZone{}, usage: map[string]*ownedUsage{}, badClean: map[string]bool{}, m: m}
	for _, z := range cfg.Zones {
		o.specs[z.ID] = z
	}
	return o, nil
}

// Owned returns the ids of the zones the operator owns, sorted.
func (o *Operator) Owned() []string { return slices.Sorted(maps.Keys(o.zones)) }

// newZone makes a fresh aggregator for one configured zone.
func (o *Operator) newZone(id string, p int32) (*ownedZone, error) {
	c := o.cfg
	c.Zones = []ZoneSpec{o.specs[id]}
	agg, err := New(c, o.opts.Clock)
	if err != nil {
		return nil, err
	}
	z := &ownedZone{agg: agg, partition: p}
	o.zones[id] = z
	return z, nil
}

// Process implements operators.Operator. A record that does not decode as
// corb.ZoneCounts, whose key is not its zone id, or that the Aggregator
// rejects fails permanently and changes no state.
func (o *Operator) Process(_ context.Context, batch []operators.Record) ([]operators.Result, error) {
	res := make([]operators.Result, len(batch))
	last := map[string]int{}                     // zone → index of its last accepted record
	latest := map[string]schemas.PresenceEvent{} // zone → its latest event of the batch
	for i, r := range batch {
		var zc schemas.ZoneCounts
		if err := schemas.Unmarshal(r.Value, &zc); err != nil {
			res[i].Err = operators.Permanent(fmt.Errorf("%w: %w", ErrInvalidRecord, err))
			continue
		}
		if string(r.Key) != zc.ZoneID {
			res[i].Err = operators.Permanentf("%w: key %q is not the zone id %q", ErrInvalidRecord, r.Key, zc.ZoneID)
			continue
		}
		if _, ok := o.specs[zc.ZoneID]; !ok {
			res[i].Err = operators.Permanentf("%w: %q", ErrUnknownZone, zc.ZoneID)
			continue
		}
		z := o.zones[zc.ZoneID]
		if z == nil {
			var err error
			if z, err = o.newZone(zc.ZoneID, r.Partition); err != nil {
				return nil, err
			}
		}
		z.partition = r.Partition
		late := z.agg.Stats().Late
		evs, err := z.agg.Add(zc)
		if err != nil {
			res[i].Err = err
			continue
		}
		if z.agg.Stats().Late > late {
			o.m.late.Inc()
		}
		last[zc.ZoneID] = i
		for _, ev := range evs {
			out, err := o.eventOutput(o.opts.Events, ev)
			if err != nil {
				return nil, err
			}
			res[i].Outputs = append(res[i].Outputs, out)
			latest[zc.ZoneID] = ev
			o.applyUsage(ev, r.Partition)
		}
	}
	for id, i := range last {
		outs, err := o.zoneOutputs(id, latest[id])
		if err != nil {
			return nil, err
		}
		res[i].Outputs = append(res[i].Outputs, outs...)
	}
	o.updateGauges()
	return res, nil
}

// Tick implements operators.Ticker: STALE for every owned zone silent for
// StaleAfter on the wall clock, with the zone's occupancy and state.
func (o *Operator) Tick(_ context.Context, now time.Time) ([]operators.Output, error) {
	var outs []operators.Output
	for _, id := range o.Owned() {
		evs := o.zones[id].agg.Tick(now)
		if len(evs) == 0 {
			continue
		}
		for _, ev := range evs {
			out, err := o.eventOutput(o.opts.Events, ev)
			if err != nil {
				return nil, err
			}
			outs = append(outs, out)
			o.applyUsage(ev, o.zones[id].partition)
		}
		zo, err := o.zoneOutputs(id, evs[len(evs)-1])
		if err != nil {
			return nil, err
		}
		outs = append(outs, zo...)
	}
	o.updateGauges()
	return outs, nil
}

// eventOutput encodes ev for topic, keyed by its zone, stamped with its event
// time, and counts it.
func (o *Operator) eventOutput(topic string, ev schemas.PresenceEvent) (operators.Output, error) {
	b, err := schemas.Marshal(&ev)
	if err != nil {
		return operators.Output{}, fmt.Errorf("presence: encoding %s event of zone %s: %w", ev.Type, ev.ZoneID, err)
	}
	if topic == o.opts.Events {
		o.m.events.WithLabelValues(string(ev.Type)).Inc()
	}
	return operators.Output{Topic: topic, Key: []byte(ev.ZoneID), Value: b, Timestamp: ev.EventTime}, nil
}

// UseTables implements operators.TableReader: the cleanings view, when
// OperatorOptions.Cleanings names it.
func (o *Operator) UseTables(tables map[string]operators.Table) {
	if o.opts.Cleanings != "" {
		o.cleanings = tables[o.opts.Cleanings]
	}
}

// applyUsage folds ev into its zone's usage view, when there is one, after
// the zone's last cleaning.
func (o *Operator) applyUsage(ev schemas.PresenceEvent, p int32) {
	if o.opts.Usage == "" {
		return
	}
	u := o.usage[ev.ZoneID]
	if u == nil {
		u = &ownedUsage{u: Usage{ZoneID: ev.ZoneID}}
		o.usage[ev.ZoneID] = u
	}
	// A record that does not decode must not stop the zone's events: the
	// usage goes on accruing to the period it knows.
	c, ok, err := cleanings.Get(o.cleanings, ev.ZoneID)
	if err != nil && !o.badClean[ev.ZoneID] {
		o.log.Warn("presence: cleanings view unreadable; usage not reset", "zone", ev.ZoneID, "err", err)
	}
	o.badClean[ev.ZoneID] = err != nil
	if ok {
		u.u = u.u.Cleaned(c.CleanedAt)
	}
	u.u, u.partition = u.u.Apply(ev), p
}

// zoneOutputs is the occupancy and usage view records (when ev is set and
// the views are configured) and the state record of zone id.
func (o *Operator) zoneOutputs(id string, ev schemas.PresenceEvent) ([]operators.Output, error) {
	var outs []operators.Output
	if ev.EventID != "" && o.opts.Occupancy != "" {
		out, err := o.eventOutput(o.opts.Occupancy, ev)
		if err != nil {
			return nil, err
		}
		outs = append(outs, out)
	}
	if u := o.usage[id]; ev.EventID != "" && u != nil {
		b, err := u.u.MarshalBinary()
		if err != nil {
			return nil, fmt.Errorf("presence: usage of zone %s: %w", id, err)
		}
		outs = append(outs, operators.Output{Topic: o.opts.Usage, Key: []byte(id), Value: b, Timestamp: ev.EventTime})
	}
	st, err := o.zones[id].agg.MarshalState(id)
	if err != nil {
		return nil, fmt.Errorf("presence: state of zone %s: %w", id, err)
	}
	return append(outs, operators.Output{Topic: o.opts.State, Key: []byte(id), Value: st}), nil
}

// Restore implements operators.Stateful: the zones of partition p become
// exactly those of state (zone id → MarshalState bytes). State of a zone that
// is no longer configured is left out (the zones file changed); state that
// does not decode is an error.
func (o *Operator) Restore(_ context.Context, topic string, p int32, state map[string][]byte) error {
	if topic == o.opts.Usage && topic != "" {
		return o.restoreUsage(p, state)
	}
	if topic != o.opts.State {
		return fmt.Errorf("presence: restore from %q: %w (%q)", topic, ErrStateTopic, o.opts.State)
	}
	restored := map[string]*Aggregator{}
	var dropped []string
	for id, b := range state {
		if _, ok := o.specs[id]; !ok {
			dropped = append(dropped, id)
			continue
		}
		c := o.cfg
		c.Zones = []ZoneSpec{o.specs[id]}
		agg, err := New(c, o.opts.Clock)
		if err != nil {
			return err
		}
		if err := agg.UnmarshalState(id, b); err != nil {
			return fmt.Errorf("presence: restoring %s[%d]: %w", topic, p, err)
		}
		restored[id] = agg
	}
	if o.opts.InputPartitions > 0 {
		for id, spec := range o.specs {
			if _, ok := restored[id]; ok || partitionOf(id, o.opts.InputPartitions) != p {
				continue
			}
			c := o.cfg
			c.Zones = []ZoneSpec{spec}
			agg, err := New(c, o.opts.Clock) // watched from now: STALE after StaleAfter without input
			if err != nil {
				return err
			}
			restored[id] = agg
		}
	}
	maps.DeleteFunc(o.zones, func(_ string, z *ownedZone) bool { return z.partition == p })
	for id, agg := range restored {
		o.zones[id] = &ownedZone{agg: agg, partition: p}
	}
	if len(dropped) > 0 {
		slices.Sort(dropped)
		o.log.Info("presence: state of zones no longer configured left out", "partition", p, "zones", dropped)
	}
	o.updateGauges()
	return nil
}

// partitionOf is the partition Kafka's default partitioner (murmur2 of the
// key) gives a record keyed by zone id among n partitions.
func partitionOf(zone string, n int) int32 { return partition.ForKey([]byte(zone), n) }

// restoreUsage makes the usage views of partition p exactly those of state.
func (o *Operator) restoreUsage(p int32, state map[string][]byte) error {
	restored := map[string]*ownedUsage{}
	for id, b := range state {
		var u Usage
		if err := u.UnmarshalBinary(b); err != nil {
			return fmt.Errorf("presence: restoring usage of zone %s: %w", id, err)
		}
		restored[id] = &ownedUsage{u: u, partition: p}
	}
	maps.DeleteFunc(o.usage, func(_ string, u *ownedUsage) bool { return u.partition == p })
	maps.Copy(o.usage, restored)
	return nil
}

// Revoke implements operators.Stateful: the zones of partition p are dropped.
func (o *Operator) Revoke(p int32) {
	maps.DeleteFunc(o.zones, func(_ string, z *ownedZone) bool { return z.partition == p })
	maps.DeleteFunc(o.usage, func(_ string, u *ownedUsage) bool { return u.partition == p })
	o.updateGauges()
}

func (o *Operator) updateGauges() {
	open := 0
	for _, z := range o.zones {
		open += z.agg.Stats().OpenWindows
	}
	o.m.openWindows.Set(float64(open))
	o.m.zones.Set(float64(len(o.zones)))
}

// metrics are the operator's own metrics, labelled with its name.
type metrics struct {
	late        prometheus.Counter
	events      *prometheus.CounterVec // by type
	openWindows prometheus.Gauge
	zones       prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, name string) (*metrics, error) {
	late := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "corb_presence_late_records_total",
		Help: "Zone-count records dropped because every window they belong to had closed.",
	}, []string{"operator"})
	events := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "corb_presence_events_total",
		Help: "Presence events emitted, by type.",
	}, []string{"operator", "type"})
	open := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "corb_presence_open_windows",
		Help: "Event-time windows currently open, over the zones this instance owns.",
	}, []string{"operator"})
	zones := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "corb_presence_zones_owned",
		Help: "Zones whose state this instance holds.",
	}, []string{"operator"})
	var err error
	if late, err = opmetrics.Register(reg, late); err != nil {
		return nil, err
	}
	if events, err = opmetrics.Register(reg, events); err != nil {
		return nil, err
	}
	if open, err = opmetrics.Register(reg, open); err != nil {
		return nil, err
	}
	if zones, err = opmetrics.Register(reg, zones); err != nil {
		return nil, err
	}
	return &metrics{
		late:        late.WithLabelValues(name),
		events:      events.MustCurryWith(prometheus.Labels{"operator": name}),
		openWindows: open.WithLabelValues(name),
		zones:       zones.WithLabelValues(name),
	}, nil
}
