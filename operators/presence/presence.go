// Package presence turns per-frame zone head counts into occupancy events.
//
// An Aggregator keeps, per zone, event-time windows of the counts its cameras
// report (schemas.ZoneCounts) and an occupancy state machine fed by the
// windows as they close:
//
//   - per window and camera, the statistic is the upper median of the
//     per-frame counts: a single missed frame or a single false positive in a
//     window of three or more frames does not move it, where the mean would
//     drift and the max would jump on every false positive. Cameras are then
//     combined by the zone's mode: max (overlapping views of the same people)
//     or sum (disjoint parts of the zone). A camera that sent nothing in a
//     window takes no part in it.
//   - OCCUPIED when windows with somebody in them cover EnterAfter; VACATED
//     when windows with nobody cover VacateAfter; COUNT_CHANGED while occupied
//     when a window's (median) count differs from the last reported one.
//     Windows without any record (gaps in event time) neither extend nor break
//     a run.
//   - STALE when no record arrived for a zone for StaleAfter on the wall clock;
//     Tick detects it with no input at all. RECOVERED with the next record.
//
// Event ids are deterministic (a hash of zone, type and the times that identify
// the transition), so a replay after a crash yields the same ids and consumers
// can de-duplicate. The per-zone state serialises (MarshalState) so that it can
// live in a changelog topic; restoring it and continuing yields exactly the
// events an uninterrupted run yields.
package presence

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/corb-dev/corb/operators"
	"github.com/corb-dev/corb/operators/zones"
	"github.com/corb-dev/corb/schemas"
)

// ErrUnknownZone is returned (wrapped, and permanent in the sense of
// operators.IsPermanent) for a record or state of a zone that is not configured,
// or from a camera the zone does not list.
var ErrUnknownZone = errors.New("unknown zone")

// ErrInvalidRecord is returned (wrapped, permanent) for a record that can never
// be processed: empty ids, negative count, capture time outside 2000..2200.
var ErrInvalidRecord = errors.New("invalid zone-counts record")

var (
	minTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	maxTime = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
)

// Stats are counters of an Aggregator since it was created (not restored from state).
type Stats struct {
	Records       uint64 // records accepted by Add (including late ones)
	Late          uint64 // records dropped because every window they belong to had closed
	WindowsClosed uint64
	Events        uint64
	OpenWindows   int // gauge: windows currently open, over all zones
	StaleZones    int // gauge
}

// Aggregator is the presence state of a set of zones. It is safe for
// concurrent use (Add and Tick may run on different goroutines).
type Aggregator struct {
	cfg   Config
	clock func() time.Time
	specs map[string]ZoneSpec

	mu    sync.Mutex
	zones map[string]*zoneState
	ids   []string // sorted zone ids
	stats Stats
}

// New validates cfg (after defaults) and returns an aggregator for cfg.Zones.
// clock is the wall clock (time.Now in production); it drives staleness only.
// Every configured zone starts vacant, with its staleness measured from now.
func New(cfg Config, clock func() time.Time) (*Aggregator, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if clock == nil {
		clock = time.Now
	}
	a := &Aggregator{cfg: cfg, clock: clock, specs: map[string]ZoneSpec{}, zones: map[string]*zoneState{}}
	now := clock().UnixNano()
	for _, z := range cfg.Zones {
		if z.Combine == "" {
			z.Combine = zones.CombineMax
		}
		a.specs[z.ID] = z
		a.zones[z.ID] = &zoneState{LastInput: now, LiveSince: now}
		a.ids = append(a.ids, z.ID)
	}
	slices.Sort(a.ids)
	return a, nil
}

// Config returns the configuration in effect (with defaults).
func (a *Aggregator) Config() Config { return a.cfg }

// Zones returns the configured zone ids, sorted.
func (a *Aggregator) Zones() []string { return slices.Clone(a.ids) }

// Stats returns a snapshot of the counters.
func (a *Aggregator) Stats() Stats {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.stats
	for _, z := range a.zones {
		s.OpenWindows += len(z.Windows)
		if z.Stale {
			s.StaleZones++
		}
	}
	return s
}

func ts(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

// eventID is a hex SHA-256 prefix of the zone, the type and two identifying times.
func eventID(zone string, typ schemas.PresenceType, t1, t2 int64) string {
	h := sha256.New()
	h.Write([]byte(zone))
	h.Write([]byte{0})
	h.Write([]byte(typ))
	var b [17]byte
	binary.BigEndian.PutUint64(b[1:9], uint64(t1))
	binary.BigEndian.PutUint64(b[9:], uint64(t2))
	h.Write(b[:])
	return hex.EncodeToString(h.Sum(nil)[:16])
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// Add takes one record into its zone's windows and returns the events that
// follow: RECOVERED if the zone was stale, then the transitions of the
// windows this record's capture time closes. A record whose windows have all
// closed is late: it is counted in Stats().Late and otherwise ignored (no
// error). Errors wrap ErrUnknownZone or ErrInvalidRecord and are permanent.
//
// Only the state of zc.ZoneID changes.
func (a *Aggregator) Add(zc schemas.ZoneCounts) ([]schemas.PresenceEvent, error) {
	t := zc.CaptureTime.UnixNano()
	switch {
	case zc.ZoneID == "" || zc.CameraID == "":
		return nil, operators.Permanent(fmt.Errorf("%w: empty zone or camera id", ErrInvalidRecord))
	case zc.Count < 0:
		return nil, operators.Permanent(fmt.Errorf("%w: zone %s: negative count %d", ErrInvalidRecord, zc.ZoneID, zc.Count))
	case zc.CaptureTime.IsZero() || t < minTime || t >= maxTime:
		return nil, operators.Permanent(fmt.Errorf("%w: zone %s: capture time %v outside 2000..2200", ErrInvalidRecord, zc.ZoneID, zc.CaptureTime))
	}
	spec, ok := a.specs[zc.ZoneID]
	if !ok {
		return nil, operators.Permanent(fmt.Errorf("%w: %q", ErrUnknownZone, zc.ZoneID))
	}
	if len(spec.Cameras) > 0 && !slices.Contains(spec.Cameras, zc.CameraID) {
		return nil, operators.Permanent(fmt.Errorf("%w: zone %q is not seen by camera %q", ErrUnknownZone, zc.ZoneID, zc.CameraID))
	}

	a.mu.Lock()
	defer a.mu.Unlock()
	zs := a.zones[zc.ZoneID]
	now := a.clock().UnixNano()
	var evs []schemas.PresenceEvent
	if zs.Stale {
		evs = append(evs, a.event(zc.ZoneID, zs, schemas.PresenceEvent{
			EventID:   eventID(zc.ZoneID, schemas.Recovered, zs.StaleAt, 0),
			Type:      schemas.Recovered,
			Duration:  time.Duration(now - zs.StaleAt),
			EventTime: ts(now),
		}))
		zs.Stale, zs.StaleAt, zs.LiveSince = false, 0, now
	}
	zs.LastInput = now
	a.stats.Records++

	size, adv, grace := int64(a.cfg.Size), int64(a.cfg.Advance), int64(a.cfg.Grace)
	added := false
	for s := floorDiv(t, adv) * adv; s > t-size; s -= adv {
		if s+size+grace <= zs.Watermark {
			continue // closed
		}
		w := zs.window(s)
		ca := w.Cams[zc.CameraID]
		if ca == nil {
			ca = &camAgg{Hist: map[int32]int32{}}
			w.Cams[zc.CameraID] = ca
		}
		ca.Frames++
		ca.Hist[zc.Count]++
		added = true
	}
	if !added {
		a.stats.Late++
		return evs, nil
	}
	if t <= zs.Watermark {
		return evs, nil
	}
	zs.Watermark = t
	n := 0
	for _, w := range zs.Windows {
		if w.Start+size+grace > zs.Watermark {
			break
		}
		n++
		a.stats.WindowsClosed++
		evs = append(evs, a.closeWindow(zc.ZoneID, spec, zs, w)...)
	}
	zs.Windows = slices.Delete(zs.Windows, 0, n)
	return evs, nil
}

// window returns the open window starting at s, creating it in order.
func (zs *zoneState) window(s int64) *window {
	i, found := slices.BinarySearchFunc(zs.Windows, s, func(w *window, s int64) int {
		switch {
		case w.Start < s:
			return -1
		case w.Start > s:
			return 1
		}
		return 0
	})
	if found {
		return zs.Windows[i]
	}
	w := &window{Start: s, Cams: map[string]*camAgg{}}
	zs.Windows = slices.Insert(zs.Windows, i, w)
	return w
}

func (a *Aggregator) closeWindow(id string, spec ZoneSpec, zs *zoneState, w *window) []schemas.PresenceEvent {
	var cnt int32
	for _, ca := range w.Cams {
		m := ca.median()
		if spec.Combine == zones.CombineSum {
			cnt += m
		} else {
			cnt = max(cnt, m)
		}
	}
	ws, we := w.Start, w.Start+int64(a.cfg.Size)
	base := schemas.PresenceEvent{WindowStart: ts(ws), WindowEnd: ts(we), EventTime: ts(we)}

	if !zs.Occupied {
		if cnt == 0 {
			zs.PresentSince, zs.RunPeak = 0, 0
			return nil
		}
		if zs.PresentSince == 0 {
			zs.PresentSince = ws
		}
		zs.RunPeak = max(zs.RunPeak, cnt)
		if we-zs.PresentSince < int64(a.cfg.EnterAfter) {
			return nil
		}
		var prev int64
		if zs.VacantSince != 0 {
			prev = max(0, zs.PresentSince-zs.VacantSince)
		}
		zs.Occupied, zs.OccupiedSince, zs.Count, zs.Peak, zs.CountSince = true, zs.PresentSince, cnt, zs.RunPeak, we
		zs.PresentSince, zs.RunPeak, zs.AbsentSince = 0, 0, 0
		ev := base
		ev.EventID = eventID(id, schemas.Occupied, zs.OccupiedSince, 0)
		ev.Type, ev.Duration = schemas.Occupied, time.Duration(prev)
		return []schemas.PresenceEvent{a.event(id, zs, ev)}
	}

	if cnt == 0 {
		if zs.AbsentSince == 0 {
			zs.AbsentSince = ws
		}
		if we-zs.AbsentSince < int64(a.cfg.VacateAfter) {
			return nil
		}
		ev := base
		ev.EventID = eventID(id, schemas.Vacated, zs.OccupiedSince, 0)
		ev.Type, ev.Duration = schemas.Vacated, time.Duration(max(0, zs.AbsentSince-zs.OccupiedSince))
		ev = a.event(id, zs, ev)
		ev.Count = 0
		zs.Occupied, zs.VacantSince = false, zs.AbsentSince
		zs.Count, zs.Peak, zs.OccupiedSince, zs.CountSince, zs.AbsentSince = 0, 0, 0, 0, 0
		return []schemas.PresenceEvent{ev}
	}
	zs.AbsentSince = 0
	zs.Peak = max(zs.Peak, cnt)
	if cnt == zs.Count {
		return nil
	}
	prev := we - zs.CountSince
	zs.Count, zs.CountSince = cnt, we
	ev := base
	ev.EventID = eventID(id, schemas.CountChanged, we, 0)
	ev.Type, ev.Duration = schemas.CountChanged, time.Duration(prev)
	return []schemas.PresenceEvent{a.event(id, zs, ev)}
}

// event fills ev's zone, count, peak and occupied-since from the zone's state.
// On VACATED, OccupiedSince is the start of the occupancy that just ended.
func (a *Aggregator) event(id string, zs *zoneState, ev schemas.PresenceEvent) schemas.PresenceEvent {
	ev.ZoneID = id
	ev.Count, ev.Peak = zs.Count, zs.Peak
	if zs.Occupied {
		ev.OccupiedSince = ts(zs.OccupiedSince)
	}
	a.stats.Events++
	return ev
}

// Tick reports STALE for every zone that has had no record for StaleAfter on
// the wall clock as of now (the runtime calls it periodically, e.g. every
// second; it needs no input). The STALE event's EventTime is the moment the
// zone became stale (last input + StaleAfter), not now, so that its timing does
// not depend on the tick period. Only the zones it reports change state.
func (a *Aggregator) Tick(now time.Time) []schemas.PresenceEvent {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := now.UnixNano()
	var evs []schemas.PresenceEvent
	for _, id := range a.ids {
		zs := a.zones[id]
		if zs.Stale || n-zs.LastInput < int64(a.cfg.StaleAfter) {
			continue
		}
		zs.Stale, zs.StaleAt = true, zs.LastInput+int64(a.cfg.StaleAfter)
		evs = append(evs, a.event(id, zs, schemas.PresenceEvent{
			EventID:   eventID(id, schemas.Stale, zs.StaleAt, 0),
			Type:      schemas.Stale,
			Duration:  time.Duration(max(0, zs.StaleAt-zs.LiveSince)),
			EventTime: ts(zs.StaleAt),
		}))
	}
	return evs
}

// MarshalState returns the compact serialised state of one zone (JSON), to be
// kept e.g. in a changelog topic keyed by zone id.
func (a *Aggregator) MarshalState(zone string) ([]byte, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	zs, ok := a.zones[zone]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownZone, zone)
	}
	return zs.marshal()
}

// UnmarshalState replaces the state of one configured zone with a state
// MarshalState produced. Errors wrap ErrState or ErrUnknownZone; on error the
// zone's state is unchanged.
func (a *Aggregator) UnmarshalState(zone string, data []byte) error {
	if _, ok := a.specs[zone]; !ok {
		return fmt.Errorf("%w: %q", ErrUnknownZone, zone)
	}
	zs, err := unmarshalState(data)
	if err != nil {
		return fmt.Errorf("zone %s: %w", zone, err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.zones[zone] = zs
	return nil
}
