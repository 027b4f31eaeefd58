// Package cleanings is the cleanings view: each zone's last cleaning, one
// JSON record per zone on a compacted topic keyed by zone id. The cleaning
// operator writes it when a cleaner reports a zone clean; presence reads it
// to start a zone's usage from zero, rules to ask for cleaning once per
// cycle, the command handlers to say when a zone was last cleaned.
//
// It is a package of its own, without the cleaning operator, so that
// presence can read the view the cleaning operator (which reads presence's
// usage view) writes.
//
// A record, with its fields in this order and times in UTC:
//
//	{"zone_id":"lawn","cycle":3,"cleaned_at":"2026-06-02T10:00:00Z",
//	 "by":"+15550002","name":"Ben","command_id":"3f2c…"}
package cleanings

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/corb-dev/corb/schemas/strictjson"

	"github.com/corb-dev/corb/operators"
)

// ErrRecord is matched (errors.Is) by every error decoding or encoding a
// Record, and by Get's errors for a value that is not one.
var ErrRecord = errors.New("invalid cleanings record")

// Record is the last cleaning of one zone.
type Record struct {
	ZoneID string `json:"zone_id"`
	// Cycle is how many cleanings of the zone were recorded (1, 2, ...): the
	// zone's current cycle, the one its usage now accrues to, is Cycle+1.
	Cycle int64 `json:"cycle"`
	// CleanedAt is when the zone was reported clean (the cleaning_done
	// command's IssuedAt): usage counts from then.
	CleanedAt time.Time `json:"cleaned_at"`
	// By is who cleaned, as the cleaning_done said: a phone number or a name.
	By string `json:"by"`
	// Name is the directory's name for By, when By is a phone it lists.
	Name string `json:"name,omitempty"`
	// CommandID is the id of the cleaning_done this record applied: a
	// redelivered command with the same id is recognised and changes nothing.
	CommandID string `json:"command_id"`
}

// CurrentCycle is the zone's cycle after r: Cycle+1 (1 for the zero Record,
// a zone never cleaned). Automatic cleaning requests are one per current
// cycle (schemas.CycleID).
func (r Record) CurrentCycle() int64 { return r.Cycle + 1 }

// Who is how texts name the cleaner: Name, else By.
func (r Record) Who() string {
	if r.Name != "" {
		return r.Name
	}
	return r.By
}

// Validate reports what makes r not a record of a cleaning.
func (r Record) Validate() error {
	var errs []error
	if r.ZoneID == "" {
		errs = append(errs, errors.New("zone_id is empty"))
	}
	if r.Cycle < 1 {
		errs = append(errs, fmt.Errorf("cycle %d: want 1 or more", r.Cycle))
	}
	if r.CleanedAt.IsZero() {
		errs = append(errs, errors.New("cleaned_at is missing"))
	}
	if r.CommandID == "" {
		errs = append(errs, errors.New("command_id is empty"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrRecord, err)
	}
	return nil
}

// MarshalBinary encodes a valid r as JSON, its time in UTC, so that equal
// records encode to equal bytes.
func (r Record) MarshalBinary() ([]byte, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	r.CleanedAt = r.CleanedAt.UTC()
	return json.Marshal(r)
}

// UnmarshalBinary decodes what MarshalBinary produced: unknown fields,
// trailing data and an invalid record are errors.
func (r *Record) UnmarshalBinary(data []byte) error {
	var v Record
	if err := strictjson.Decode(data, &v); err != nil {
		return fmt.Errorf("%w: %w", ErrRecord, err)
	}
	if err := v.Validate(); err != nil {
		return err
	}
	*r = v
	return nil
}

// Get looks zone up in the cleanings table t: its record, false when the
// zone was never cleaned (or t is nil), or an error when the value there is
// not a record of that zone.
func Get(t operators.Table, zone string) (Record, bool, error) {
	if t == nil {
		return Record{}, false, nil
	}
	b, ok := t.Get(zone)
	if !ok {
		return Record{}, false, nil
	}
	var r Record
	if err := r.UnmarshalBinary(b); err != nil {
		return Record{}, false, fmt.Errorf("cleanings of zone %q: %w", zone, err)
	}
	if r.ZoneID != zone {
		return Record{}, false, fmt.Errorf("cleanings of zone %q: %w: it is zone %q's", zone, ErrRecord, r.ZoneID)
	}
	return r, true, nil
}
