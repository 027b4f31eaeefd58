package rules

import (
	"fmt"
	"strings"
	"time"

	"github.com/corb-dev/corb/operators/cleaning/cleanings"
	"github.com/corb-dev/corb/operators/presence"
	"github.com/corb-dev/corb/schemas"
)

// usageFigures is a zone's usage since its last cleaning, as the policy
// judges it.
type usageFigures struct {
	visits        int32
	personMinutes float64
	peak          int32
	occupied      time.Duration
	firstUse      time.Time
	lastUse       time.Time
}

// passed lists the thresholds of p that u reaches, as "visits >= 20".
func (p Policy) passed(u usageFigures) []string {
	var why []string
	if p.Visits > 0 && u.visits >= p.Visits {
		why = append(why, fmt.Sprintf("visits >= %d", p.Visits))
	}
	if p.PersonMinutes > 0 && u.personMinutes >= p.PersonMinutes {
		why = append(why, fmt.Sprintf("person_minutes >= %g", p.PersonMinutes))
	}
	if p.HoursOccupied > 0 && u.occupied.Hours() >= p.HoursOccupied {
		why = append(why, fmt.Sprintf("hours_occupied >= %g", p.HoursOccupied))
	}
	return why
}

// cleaningRequest folds ev into the zone's occupied time and returns the
// zone's automatic request_cleaning when its usage since the last cleaning
// passes the policy and its current cycle has had none; nil otherwise.
//
// The cycle and its start come from the cleanings table; visits,
// person-minutes, peak and last use from the usage view, as that table holds
// them now (a request may so come one event late). A usage view whose Since
// is older than the last cleaning counts as zero: presence resets it only
// at the zone's next event. Occupied time and first use are the operator's
// own, from the events, since the usage view has neither.
func (o *Operator) cleaningRequest(st *zoneState, ev schemas.PresenceEvent) (*schemas.Command, error) {
	last, _, err := cleanings.Get(o.tables[o.opts.CleaningsTable], ev.ZoneID)
	if err != nil {
		return nil, err
	}
	cycle := last.CurrentCycle()
	st.track(ev, cycle, last.CleanedAt)
	u, err := o.usage(ev.ZoneID, last.CleanedAt)
	if err != nil {
		return nil, err
	}
	u.occupied, u.firstUse = st.occupied(ev.EventTime, last.CleanedAt), st.FirstUse
	why := o.cfg.passed(u)
	if len(why) == 0 || cycle <= st.Requested {
		return nil, nil
	}
	st.Requested = cycle
	cmd := schemas.NewCommand(schemas.CommandRequestCleaning,
		schemas.Cause{Kind: schemas.CauseCycle, ID: schemas.CycleID(ev.ZoneID, cycle)})
	o.stamp(cmd, ev)
	cmd.RequestCleaning = &schemas.RequestCleaningArgs{
		Reason: "usage since the last cleaning passed the cleaning policy", Policy: strings.Join(why, ", "),
		Visits: u.visits, PersonMinutes: u.personMinutes, Peak: u.peak, Occupied: u.occupied,
		FirstUse: u.firstUse, LastUse: u.lastUse, Cycle: cycle,
	}
	return cmd, nil
}

// usage is the zone's usage view since cleanedAt.
func (o *Operator) usage(zone string, cleanedAt time.Time) (usageFigures, error) {
	b, ok := o.tables[o.opts.UsageTable].Get(zone)
	if !ok || b == nil {
		return usageFigures{}, nil
	}
	var u presence.Usage
	if err := u.UnmarshalBinary(b); err != nil {
		return usageFigures{}, fmt.Errorf("rules: usage table, zone %s: %w", zone, err)
	}
	if u.Since.Before(cleanedAt) {
		return usageFigures{}, nil
	}
	return usageFigures{visits: u.Visits, personMinutes: u.PersonMinutes, peak: u.Peak, lastUse: u.LastSeen}, nil
}

// track folds ev into the occupied time of cycle, which began at cleanedAt:
// a new cycle starts from zero, and time before cleanedAt never counts.
func (s *zoneState) track(ev schemas.PresenceEvent, cycle int64, cleanedAt time.Time) {
	if s.Cycle != cycle {
		s.Cycle, s.OccupiedMs, s.FirstUse = cycle, 0, time.Time{}
	}
	switch ev.Type {
	case schemas.Occupied:
		s.OccupiedSince = ev.OccupiedSince.UTC()
	case schemas.CountChanged:
		if s.OccupiedSince.IsZero() {
			s.OccupiedSince = ev.OccupiedSince.UTC() // occupied before this operator heard of it
		}
	case schemas.Vacated:
		start, end := ev.OccupiedSince, ev.OccupiedSince.Add(ev.Duration)
		if start.IsZero() {
			start, end = s.OccupiedSince, ev.EventTime
		}
		if from := later(start, cleanedAt); !start.IsZero() && end.After(from) {
			s.OccupiedMs += end.Sub(from).Milliseconds()
			s.used(from)
		}
		s.OccupiedSince = time.Time{}
	}
	if !s.OccupiedSince.IsZero() {
		s.used(later(s.OccupiedSince, cleanedAt))
	}
}

// used notes a use at t as the cycle's first when it has none.
func (s *zoneState) used(t time.Time) {
	if s.FirstUse.IsZero() {
		s.FirstUse = t.UTC()
	}
}

// occupied is the occupied time of the current cycle up to event time at.
func (s *zoneState) occupied(at, cleanedAt time.Time) time.Duration {
	d := time.Duration(s.OccupiedMs) * time.Millisecond
	if from := later(s.OccupiedSince, cleanedAt); !s.OccupiedSince.IsZero() && at.After(from) {
		d += at.Sub(from)
	}
	return d
}

func later(a, b time.Time) time.Time {
	if a.Before(b) {
		return b
	}
	return a
}
