package presence

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/corb-dev/corb/schemas/strictjson"

	"github.com/corb-dev/corb/schemas"
)

// The views fold presence events into one value per zone, meant for compacted
// topics keyed by zone id. Each value encodes as JSON with a fixed field order
// and UTC times (MarshalBinary), so equal values encode to equal bytes.
// Applying the same event twice in a row is a no-op (LastEventID).

// ErrView is matched (errors.Is) by errors decoding a view value.
var ErrView = errors.New("invalid view value")

// ZoneState is the occupancy state of a zone in the occupancy view.
type ZoneState string

const (
	StateVacant   ZoneState = "VACANT" // also the state before any event
	StateOccupied ZoneState = "OCCUPIED"
)

// Occupancy is the current state of one zone (the occupancy view).
type Occupancy struct {
	ZoneID        string    `json:"zone_id"`
	State         ZoneState `json:"state"`
	Stale         bool      `json:"stale"` // its cameras are silent; State is the last known one
	Count         int32     `json:"count"`
	Peak          int32     `json:"peak"` // peak of the current occupancy
	OccupiedSince time.Time `json:"occupied_since,omitzero"`
	Since         time.Time `json:"since,omitzero"` // when State last changed (event time)
	UpdatedAt     time.Time `json:"updated_at,omitzero"`
	LastEventID   string    `json:"last_event_id,omitempty"`
}

// Apply folds one event of the zone into o and returns the result.
func (o Occupancy) Apply(ev schemas.PresenceEvent) Occupancy {
	if ev.EventID != "" && ev.EventID == o.LastEventID {
		return o
	}
	o.ZoneID, o.LastEventID, o.UpdatedAt = ev.ZoneID, ev.EventID, ev.EventTime.UTC()
	if o.State == "" {
		o.State = StateVacant
	}
	switch ev.Type {
	case schemas.Occupied:
		o.State, o.Count, o.Peak = StateOccupied, ev.Count, ev.Peak
		o.OccupiedSince, o.Since = ev.OccupiedSince.UTC(), ev.OccupiedSince.UTC()
	case schemas.CountChanged:
		o.State, o.Count, o.Peak = StateOccupied, ev.Count, ev.Peak
	case schemas.Vacated:
		o.State, o.Count, o.Peak, o.OccupiedSince = StateVacant, 0, 0, time.Time{}
		o.Since = ev.OccupiedSince.Add(ev.Duration).UTC()
		if ev.OccupiedSince.IsZero() {
			o.Since = ev.EventTime.UTC()
		}
	case schemas.Stale:
		o.Stale = true
	case schemas.Recovered:
		o.Stale = false
	}
	return o
}

// MarshalBinary encodes o as JSON.
func (o Occupancy) MarshalBinary() ([]byte, error) { return json.Marshal(o) }

// UnmarshalBinary decodes what MarshalBinary produced (unknown fields are errors).
func (o *Occupancy) UnmarshalBinary(data []byte) error { return strictJSON(data, o) }

// Usage is what happened in one zone since it was last cleaned (the usage view).
type Usage struct {
	ZoneID        string    `json:"zone_id"`
	Since         time.Time `json:"since,omitzero"` // last cleaning; zero: never
	Visits        int32     `json:"visits"`         // occupancies that began since
	PersonMinutes float64   `json:"person_minutes"`
	Peak          int32     `json:"peak"`
	FirstSeen     time.Time `json:"first_seen,omitzero"` // first time anybody was seen since Since
	LastSeen      time.Time `json:"last_seen,omitzero"`  // last time anybody was seen
	Count         int32     `json:"count"`               // current count, integrated into PersonMinutes
	CountSince    time.Time `json:"count_since,omitzero"`
	LastEventID   string    `json:"last_event_id,omitempty"`
}

// Apply folds one event of the zone into u and returns the result.
// Person-minutes integrate the reported count over event time; time before
// Since (the last cleaning) is not counted.
func (u Usage) Apply(ev schemas.PresenceEvent) Usage {
	if ev.EventID != "" && ev.EventID == u.LastEventID {
		return u
	}
	u.ZoneID, u.LastEventID = ev.ZoneID, ev.EventID
	seen := func(t time.Time) {
		if t.After(u.LastSeen) {
			u.LastSeen = t.UTC()
		}
	}
	// first is when somebody came, Since at the earliest: who was there when
	// the zone was cleaned uses it from then on.
	first := func(t time.Time) {
		if u.FirstSeen.IsZero() {
			u.FirstSeen = later(t, u.Since).UTC()
		}
	}
	switch ev.Type {
	case schemas.Occupied:
		u = u.accrue(ev.OccupiedSince)
		u.Count, u.CountSince = ev.Count, ev.OccupiedSince.UTC()
		if !ev.OccupiedSince.Before(u.Since) {
			u.Visits++
		}
		u.Peak = max(u.Peak, ev.Count)
		first(ev.OccupiedSince)
		seen(ev.EventTime)
	case schemas.CountChanged:
		u = u.accrue(ev.EventTime)
		u.Count, u.CountSince = ev.Count, ev.EventTime.UTC()
		u.Peak = max(u.Peak, ev.Count)
		first(ev.EventTime)
		seen(ev.EventTime)
	case schemas.Vacated:
		end := ev.OccupiedSince.Add(ev.Duration)
		if ev.OccupiedSince.IsZero() {
			end = ev.EventTime
		}
		u = u.accrue(end)
		u.Count, u.CountSince = 0, end.UTC()
		seen(end)
	}
	return u
}

// accrue adds the person-minutes of the current count up to t.
func (u Usage) accrue(t time.Time) Usage {
	from := later(u.CountSince, u.Since)
	if u.Count > 0 && !from.IsZero() && t.After(from) {
		u.PersonMinutes += float64(u.Count) * t.Sub(from).Minutes()
	}
	return u
}

// later is the later of a and b.
func later(a, b time.Time) time.Time {
	if a.Before(b) {
		return b
	}
	return a
}

// Reset starts a new usage period at the cleaning-done signal's time: visits,
// person-minutes and peak start from zero; whoever is in the zone now counts
// from at on.
func (u Usage) Reset(at time.Time) Usage {
	at = at.UTC()
	u.Since, u.Visits, u.PersonMinutes, u.Peak, u.FirstSeen = at, 0, 0, u.Count, time.Time{}
	if u.Count > 0 {
		u.CountSince, u.FirstSeen = at, at
	}
	return u
}

// Cleaned is u as of a cleaning at cleanedAt (the zone's record in the
// cleanings view): Reset(cleanedAt) when that cleaning is newer than u's
// period, else u. Readers of the usage view apply it too, since the view
// only resets when the zone's next event is folded in.
func (u Usage) Cleaned(cleanedAt time.Time) Usage {
	if cleanedAt.After(u.Since) {
		return u.Reset(cleanedAt)
	}
	return u
}

// MarshalBinary encodes u as JSON.
func (u Usage) MarshalBinary() ([]byte, error) { return json.Marshal(u) }

// UnmarshalBinary decodes what MarshalBinary produced (unknown fields are errors).
func (u *Usage) UnmarshalBinary(data []byte) error { return strictJSON(data, u) }

func strictJSON(data []byte, v any) error {
	if err := strictjson.Decode(data, v); err != nil {
		return fmt.Errorf("%w: %w", ErrView, err)
	}
	return nil
}
