package rules

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	// The IANA database compiled in: images built FROM scratch or distroless
	// have no /usr/share/zoneinfo, and timezone must load there too.
	_ "time/tzdata"

	"github.com/corb-dev/corb/operators/zones"
)

// DefaultCooldown is Config.Cooldown's default.
const DefaultCooldown = 10 * time.Minute

// Config is the rules kind's config, as written under an operator's
// `config:` in the topology.
//
// Cooldowns are judged on event time (the presence event's EventTime), so a
// replay of the same events decides the same way; quiet hours on the wall
// clock, because they are about when a phone buzzes, not about when the room
// changed.
type Config struct {
	Cooldown   time.Duration `yaml:"cooldown" default:"10m" doc:"least time, in event time, between two notifications to one subscriber about one zone; 0: none. One-shot subscriptions ignore it"`
	QuietHours string        `yaml:"quiet_hours" default:"none" doc:"local wall-clock hours without notifications, HH:MM-HH:MM (22:00-07:00 spans midnight); a one-shot waits for the next event after them"`
	Timezone   string        `yaml:"timezone" default:"Local" doc:"IANA time zone (Europe/Paris) of quiet_hours and of the times in notifications; Local: the process's TZ"`
	Policy     `yaml:",inline"`
	ZonesFile  string `yaml:"zones_file" default:"$CORB_ZONES, else deploy/zones.yaml" doc:"the zones file the zone names in notifications come from"`
}

// Policy is when a zone gets an automatic request_cleaning: once per
// cleaning cycle, as soon as its usage since the last cleaning reaches any
// threshold that is set. No threshold set: no automatic requests.
type Policy struct {
	Visits        int32   `yaml:"visits" default:"none" doc:"request cleaning (once per cleaning cycle) after this many visits since the last cleaning"`
	PersonMinutes float64 `yaml:"person_minutes" default:"none" doc:"request cleaning after this many person-minutes since the last cleaning"`
	HoursOccupied float64 `yaml:"hours_occupied" default:"none" doc:"request cleaning after the zone was occupied this many hours since the last cleaning"`
}

// DefaultConfig is the config before an operator's block is decoded over it.
func DefaultConfig() Config { return Config{Cooldown: DefaultCooldown, Timezone: "Local"} }

// ErrConfig is matched (errors.Is) by every configuration error.
var ErrConfig = errors.New("invalid rules config")

// Validate reports every problem with c in one error.
func (c Config) Validate() error {
	var errs []error
	if c.Cooldown < 0 {
		errs = append(errs, fmt.Errorf("cooldown: must not be negative, is %v", c.Cooldown))
	}
	if _, err := parseQuietHours(c.QuietHours); err != nil {
		errs = append(errs, fmt.Errorf("quiet_hours: %w", err))
	}
	if _, err := loadLocation(c.Timezone); err != nil {
		errs = append(errs, fmt.Errorf("timezone: %w", err))
	}
	if c.Visits < 0 {
		errs = append(errs, fmt.Errorf("visits: must not be negative, is %d", c.Visits))
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"person_minutes", c.PersonMinutes}, {"hours_occupied", c.HoursOccupied}} {
		if f.v < 0 || math.IsNaN(f.v) || math.IsInf(f.v, 0) {
			errs = append(errs, fmt.Errorf("%s: must be a non-negative number, is %v", f.name, f.v))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrConfig, errors.Join(errs...))
}

// Set reports whether any threshold is set.
func (p Policy) Set() bool { return p.Visits > 0 || p.PersonMinutes > 0 || p.HoursOccupied > 0 }

// zonesPath is the zones file c selects (see zones.OperatorConfig.Path).
func (c Config) zonesPath(getenv func(string) string) string {
	return zones.OperatorConfig{ZonesFile: c.ZonesFile}.Path(getenv)
}

func loadLocation(name string) (*time.Location, error) {
	if strings.TrimSpace(name) == "" {
		return time.Local, nil
	}
	return time.LoadLocation(name)
}

// quietHours is a daily window of local time, in minutes after midnight:
// [start, end), across midnight when end < start. The zero value (start ==
// end) is no window.
type quietHours struct{ start, end int }

// parseQuietHours parses "HH:MM-HH:MM" (24-hour clock, spaces allowed around
// the dash); "" is no quiet hours.
func parseQuietHours(s string) (quietHours, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return quietHours{}, nil
	}
	from, to, ok := strings.Cut(s, "-")
	if !ok {
		return quietHours{}, fmt.Errorf("%q: want HH:MM-HH:MM, e.g. 22:00-07:00", s)
	}
	start, err := parseClock(from)
	if err != nil {
		return quietHours{}, fmt.Errorf("%q: start: %w", s, err)
	}
	end, err := parseClock(to)
	if err != nil {
		return quietHours{}, fmt.Errorf("%q: end: %w", s, err)
	}
	if start == end {
		return quietHours{}, fmt.Errorf("%q: start and end are the same time (leave quiet_hours out for none)", s)
	}
	return quietHours{start, end}, nil
}

// parseClock parses "HH:MM" (00:00 to 23:59; "7:00" too) into minutes after midnight.
func parseClock(s string) (int, error) {
	s = strings.TrimSpace(s)
	hh, mm, ok := strings.Cut(s, ":")
	if !ok || len(mm) != 2 || len(hh) < 1 || len(hh) > 2 {
		return 0, fmt.Errorf("%q is not HH:MM", s)
	}
	h, err1 := strconv.ParseUint(hh, 10, 8)
	m, err2 := strconv.ParseUint(mm, 10, 8)
	if err1 != nil || err2 != nil || h > 23 || m > 59 {
		return 0, fmt.Errorf("%q is not a time of day from 00:00 to 23:59", s)
	}
	return int(h)*60 + int(m), nil
}

// contains reports whether t, read in its own location, falls in the window.
func (q quietHours) contains(t time.Time) bool {
	if q.start == q.end {
		return false
	}
	m := t.Hour()*60 + t.Minute()
	if q.start < q.end {
		return m >= q.start && m < q.end
	}
	return m >= q.start || m < q.end
}
