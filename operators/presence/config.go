package presence

import (
	"errors"
	"fmt"
	"time"

	"github.com/corb-dev/corb/operators/zones"
)

// Defaults of Config; a zero field takes its default.
const (
	DefaultSize        = 2 * time.Second  // window size
	DefaultGrace       = 1 * time.Second  // how late a record may arrive after its window ended
	DefaultEnterAfter  = 4 * time.Second  // sustained presence before OCCUPIED
	DefaultVacateAfter = 30 * time.Second // sustained absence before VACATED
	DefaultStaleAfter  = 30 * time.Second // wall-clock silence before STALE
	// DefaultAdvance is Size: tumbling windows.

	maxWindowsPerRecord = 64
)

// Config configures an Aggregator. Durations are written like "2s" or "500ms"
// in YAML; a zero or absent duration takes its default.
//
// Windows are aligned to the Unix epoch: they start at multiples of Advance
// and are Size long, so each record falls into Size/Advance windows (rounded up).
// A window closes once the zone's watermark (the latest capture time seen for
// it) passes its end plus Grace; records for closed windows are late: they are
// dropped and counted in Stats().Late.
//
// OCCUPIED needs present windows covering EnterAfter: any EnterAfter ≤ Size
// means "on the first window with somebody in it". VACATED needs absent windows
// covering VacateAfter; it is reported at the end of the window that completes
// it, so at most VacateAfter + Size (+ Advance when VacateAfter is not a
// multiple of Advance) after the last person left, in event time.
type Config struct {
	Size        time.Duration `yaml:"size" default:"2s" doc:"window length"`
	Advance     time.Duration `yaml:"advance" default:"size" doc:"window step (hopping windows when below size)"`
	Grace       time.Duration `yaml:"grace" default:"1s" doc:"how late a count may arrive after its window ended"`
	EnterAfter  time.Duration `yaml:"enter_after" default:"4s" doc:"sustained presence before OCCUPIED"`
	VacateAfter time.Duration `yaml:"vacate_after" default:"30s" doc:"sustained absence before VACATED"`
	StaleAfter  time.Duration `yaml:"stale_after" default:"30s" doc:"wall-clock silence of a zone's cameras before STALE"`

	// Zones are the zones the aggregator accepts records for, with how their
	// cameras combine. Not part of the YAML: build it with ZoneSpecs.
	Zones []ZoneSpec `yaml:"-"`
}

// ZoneSpec is what the aggregator needs to know about one zone.
type ZoneSpec struct {
	ID      string
	Combine zones.Combine // max or sum; "" means max
	Cameras []string      // the cameras that may report it; empty: any camera
}

// ZoneSpecs extracts the zone specs from a zones file.
func ZoneSpecs(f *zones.File) []ZoneSpec {
	out := make([]ZoneSpec, 0, len(f.Zones))
	for _, z := range f.Zones {
		s := ZoneSpec{ID: z.ID, Combine: z.Combine}
		for _, v := range z.Views {
			s.Cameras = append(s.Cameras, v.Camera)
		}
		out = append(out, s)
	}
	return out
}

// ErrConfig is matched (errors.Is) by every configuration error.
var ErrConfig = errors.New("invalid presence config")

// WithDefaults returns c with every zero duration replaced by its default.
func (c Config) WithDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.Size, DefaultSize)
	def(&c.Advance, c.Size)
	def(&c.Grace, DefaultGrace)
	def(&c.EnterAfter, DefaultEnterAfter)
	def(&c.VacateAfter, DefaultVacateAfter)
	def(&c.StaleAfter, DefaultStaleAfter)
	return c
}

// Validate reports every problem with c (after defaults) in one error.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"size", c.Size}, {"advance", c.Advance}, {"grace", c.Grace}, {"enter_after", c.EnterAfter}, {"vacate_after", c.VacateAfter}, {"stale_after", c.StaleAfter}} {
		if d.v < 0 {
			bad("%s: must not be negative, is %v", d.name, d.v)
		}
	}
	if c.Size > 0 && c.Advance > c.Size {
		bad("advance (%v) must not exceed size (%v): windows would leave gaps", c.Advance, c.Size)
	}
	if c.Size > 0 && c.Advance > 0 && (c.Size+c.Advance-1)/c.Advance > maxWindowsPerRecord {
		bad("size/advance = %d windows per record, more than %d", (c.Size+c.Advance-1)/c.Advance, maxWindowsPerRecord)
	}
	seen := map[string]bool{}
	for i, z := range c.Zones {
		switch {
		case z.ID == "":
			bad("zones[%d]: empty id", i)
		case seen[z.ID]:
			bad("zones[%d]: duplicate id %q", i, z.ID)
		}
		seen[z.ID] = true
		if z.Combine != "" && z.Combine != zones.CombineMax && z.Combine != zones.CombineSum {
			bad("zones[%d] (%s): unknown combine %q", i, z.ID, z.Combine)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrConfig, errors.Join(errs...))
}
