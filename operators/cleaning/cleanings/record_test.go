package cleanings_test

import (
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/corb-dev/corb/operators"
	"github.com/corb-dev/corb/operators/cleaning/cleanings"
)

var at = time.Date(2026, 6, 2, 10, 0, 0, 0, time.UTC)

func valid() cleanings.Record {
	return cleanings.Record{ZoneID: "lawn", Cycle: 3, CleanedAt: at, By: "+15550002", Name: "Ben", CommandID: "c1"}
}

func TestRecordEncodesInAFixedForm(t *testing.T) {
	r := valid()
	r.CleanedAt = at.In(time.FixedZone("CEST", 2*3600)) // the same instant, another zone
	b, err := r.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"zone_id":"lawn","cycle":3,"cleaned_at":"2026-06-02T10:00:00Z","by":"+15550002","name":"Ben","command_id":"c1"}`
	if string(b) != want {
		t.Fatalf("encoded\n %s\nwant\n %s", b, want)
	}
	var back cleanings.Record
	if err := back.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if back != valid() {
		t.Fatalf("decoded %+v, want %+v", back, valid())
	}
}

func TestRecordRejects(t *testing.T) {
	for _, tc := range []struct {
		name, json string
	}{
		{"unknown field", `{"zone_id":"lawn","cycle":1,"cleaned_at":"2026-06-02T10:00:00Z","by":"x","command_id":"c","extra":1}`},
		{"trailing data", `{"zone_id":"lawn","cycle":1,"cleaned_at":"2026-06-02T10:00:00Z","by":"x","command_id":"c"} {}`},
		{"not JSON", `lawn`},
		{"cycle 0", `{"zone_id":"lawn","cycle":0,"cleaned_at":"2026-06-02T10:00:00Z","by":"x","command_id":"c"}`},
		{"no zone", `{"zone_id":"","cycle":1,"cleaned_at":"2026-06-02T10:00:00Z","by":"x","command_id":"c"}`},
		{"no time", `{"zone_id":"lawn","cycle":1,"by":"x","command_id":"c"}`},
		{"no command id", `{"zone_id":"lawn","cycle":1,"cleaned_at":"2026-06-02T10:00:00Z","by":"x"}`},
		{"cycle a string", `{"zone_id":"lawn","cycle":"1","cleaned_at":"2026-06-02T10:00:00Z","by":"x","command_id":"c"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := valid()
			err := r.UnmarshalBinary([]byte(tc.json))
			if !errors.Is(err, cleanings.ErrRecord) {
				t.Fatalf("UnmarshalBinary(%s) = %v, want ErrRecord", tc.json, err)
			}
			if r != valid() {
				t.Errorf("a failed decode changed the record to %+v", r)
			}
		})
	}
	bad := valid()
	bad.Cycle = 0
	if _, err := bad.MarshalBinary(); !errors.Is(err, cleanings.ErrRecord) {
		t.Errorf("MarshalBinary of cycle 0 = %v, want ErrRecord", err)
	}
}

type table map[string][]byte

func (t table) Get(k string) ([]byte, bool) { v, ok := t[k]; return v, ok }
func (t table) Snapshot() map[string][]byte { return maps.Clone(t) }

func TestGet(t *testing.T) {
	good, err := valid().MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	tab := table{"lawn": good, "walkway": good, "crossing": []byte("{")}
	for _, tc := range []struct {
		name    string
		t       operators.Table
		zone    string
		found   bool
		wantErr bool
	}{
		{"found", tab, "lawn", true, false},
		{"never cleaned", tab, "kitchen", false, false},
		{"no table", nil, "lawn", false, false},
		{"another zone's record", tab, "walkway", false, true},
		{"not a record", tab, "crossing", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, found, err := cleanings.Get(tc.t, tc.zone)
			if found != tc.found || (err != nil) != tc.wantErr {
				t.Fatalf("Get(%q) = %+v, %v, %v; want found %v, error %v", tc.zone, r, found, err, tc.found, tc.wantErr)
			}
			if tc.wantErr && !errors.Is(err, cleanings.ErrRecord) {
				t.Errorf("error %v does not match ErrRecord", err)
			}
			if found && r != valid() {
				t.Errorf("record %+v, want %+v", r, valid())
			}
		})
	}
}

func TestCurrentCycleAndWho(t *testing.T) {
	if got := (cleanings.Record{}).CurrentCycle(); got != 1 {
		t.Errorf("a zone never cleaned is in cycle %d, want 1", got)
	}
	if got := valid().CurrentCycle(); got != 4 {
		t.Errorf("after 3 cleanings the cycle is %d, want 4", got)
	}
	r := valid()
	if r.Who() != "Ben" {
		t.Errorf("Who = %q, want the name", r.Who())
	}
	r.Name = ""
	if r.Who() != "+15550002" {
		t.Errorf("Who without a name = %q, want By", r.Who())
	}
}
