package rules

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/corb-dev/corb/schemas/strictjson"
)

const (
	stateVersion = 1
	// maxSeen is how many recent event ids a zone remembers: a redelivery of
	// any of them (a producer retry, a replay of the last few) changes nothing.
	maxSeen = 32
	// oneShotMemory is how long a fired one-shot is remembered once its
	// subscription has left the table: longer than the commands topic keeps
	// the subscribe command (7 days), so a replay of it cannot fire it again.
	oneShotMemory = 8 * 24 * time.Hour
)

// zoneState is what the rules operator keeps about one zone: the value of
// the zone's key in the rules-state changelog (JSON, below). Times are event
// times, in UTC.
//
//	{"v":1,
//	 "seen":["<event id>",...],               // the last maxSeen events applied, oldest first
//	 "notified":{"+15550001":"<time>"},        // last notification per subscriber, while its cooldown runs
//	 "fired":{"<subscribe command id>":"<time>"}, // one-shots that fired
//	 "requested":2,                            // the last cleaning cycle a request_cleaning was made for
//	 "cycle":2,                                // the cleaning cycle the occupancy below counts in
//	 "occupied_ms":5400000,                    // occupied time of that cycle, closed occupancies
//	 "occupied_since":"<time>",                // start of the current occupancy; absent when vacant
//	 "first_use":"<time>"}                     // first use in that cycle
type zoneState struct {
	V             int                  `json:"v"`
	Seen          []string             `json:"seen,omitempty"`
	Notified      map[string]time.Time `json:"notified,omitempty"`
	Fired         map[string]time.Time `json:"fired,omitempty"`
	Requested     int64                `json:"requested,omitempty"`
	Cycle         int64                `json:"cycle,omitempty"`
	OccupiedMs    int64                `json:"occupied_ms,omitempty"`
	OccupiedSince time.Time            `json:"occupied_since,omitzero"`
	FirstUse      time.Time            `json:"first_use,omitzero"`
}

// ErrState is matched (errors.Is) by errors decoding a zone's state.
var ErrState = errors.New("invalid rules state")

func (s *zoneState) marshal() ([]byte, error) {
	s.V = stateVersion
	return json.Marshal(s)
}

func unmarshalState(data []byte) (*zoneState, error) {
	var s zoneState
	if err := strictjson.Decode(data, &s); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrState, err)
	}
	if s.V != stateVersion {
		return nil, fmt.Errorf("%w: version %d, want %d", ErrState, s.V, stateVersion)
	}
	if s.OccupiedMs < 0 || s.Requested < 0 || s.Cycle < 0 {
		return nil, fmt.Errorf("%w: negative occupied_ms, requested or cycle", ErrState)
	}
	return &s, nil
}

// clone is a deep copy: a record is applied to a clone, which replaces the
// state only once every output of the record is made.
func (s *zoneState) clone() *zoneState {
	c := *s
	c.Seen = slices.Clone(s.Seen)
	c.Notified = maps.Clone(s.Notified)
	c.Fired = maps.Clone(s.Fired)
	return &c
}

func (s *zoneState) seen(eventID string) bool { return slices.Contains(s.Seen, eventID) }

func (s *zoneState) remember(eventID string) {
	s.Seen = append(s.Seen, eventID)
	if n := len(s.Seen) - maxSeen; n > 0 {
		s.Seen = slices.Delete(s.Seen, 0, n)
	}
}

// notifiedAt records a notification to phone at event time at.
func (s *zoneState) notifiedAt(phone string, at time.Time) {
	if s.Notified == nil {
		s.Notified = map[string]time.Time{}
	}
	if last, ok := s.Notified[phone]; !ok || at.After(last) {
		s.Notified[phone] = at.UTC()
	}
}

// fire records that the one-shot subscription id fired at at.
func (s *zoneState) fire(id string, at time.Time) {
	if s.Fired == nil {
		s.Fired = map[string]time.Time{}
	}
	s.Fired[id] = at.UTC()
}

// prune forgets what can no longer matter at event time at: cooldowns that
// have run out, and one-shots that fired long ago and are no longer in the
// subscriptions table (live: the ids of this zone's subscriptions there).
func (s *zoneState) prune(at time.Time, cooldown time.Duration, live map[string]bool) {
	maps.DeleteFunc(s.Notified, func(_ string, t time.Time) bool { return !at.Before(t.Add(cooldown)) })
	maps.DeleteFunc(s.Fired, func(id string, t time.Time) bool { return !live[id] && at.Sub(t) > oneShotMemory })
	if len(s.Notified) == 0 {
		s.Notified = nil
	}
	if len(s.Fired) == 0 {
		s.Fired = nil
	}
}
