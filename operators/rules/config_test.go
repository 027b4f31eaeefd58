package rules

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestParseQuietHours(t *testing.T) {
	tests := []struct {
		in   string
		want quietHours
		err  string // part of the error; "" for none
	}{
		{"", quietHours{}, ""},
		{"  ", quietHours{}, ""},
		{"22:00-07:00", quietHours{22 * 60, 7 * 60}, ""},
		{"22:00 - 07:00", quietHours{22 * 60, 7 * 60}, ""},
		{"7:30-9:05", quietHours{7*60 + 30, 9*60 + 5}, ""},
		{"00:00-23:59", quietHours{0, 23*60 + 59}, ""},
		{"22:00", quietHours{}, "want HH:MM-HH:MM"},
		{"22:00-22:00", quietHours{}, "the same time"},
		{"24:00-07:00", quietHours{}, "start"},
		{"22:00-07:60", quietHours{}, "end"},
		{"22-07", quietHours{}, "not HH:MM"},
		{"22:0-07:00", quietHours{}, "not HH:MM"},
		{"+1:00-07:00", quietHours{}, "00:00 to 23:59"},
		{"22:00-07:00-08:00", quietHours{}, "end"},
		{"10pm-7am", quietHours{}, "not HH:MM"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseQuietHours(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got %v, %v; want an error with %q", got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestQuietHoursContains(t *testing.T) {
	at := func(h, m int) time.Time { return time.Date(2026, 3, 2, h, m, 0, 0, time.UTC) }
	night := quietHours{22 * 60, 7 * 60}
	lunch := quietHours{12 * 60, 13*60 + 30}
	tests := []struct {
		name string
		q    quietHours
		t    time.Time
		want bool
	}{
		{"night: start is quiet", night, at(22, 0), true},
		{"night: before start", night, at(21, 59), false},
		{"night: after midnight", night, at(3, 0), true},
		{"night: last minute", night, at(6, 59), true},
		{"night: end is not quiet", night, at(7, 0), false},
		{"night: midday", night, at(12, 0), false},
		{"lunch: inside", lunch, at(13, 0), true},
		{"lunch: end", lunch, at(13, 30), false},
		{"lunch: night", lunch, at(23, 0), false},
		{"none", quietHours{}, at(3, 0), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.q.contains(tt.t); got != tt.want {
				t.Fatalf("contains(%s) = %v, want %v", tt.t.Format("15:04"), got, tt.want)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	ok := DefaultConfig()
	tests := []struct {
		name string
		edit func(*Config)
		err  string // "" for valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"everything", func(c *Config) {
			c.QuietHours, c.Timezone, c.Visits, c.PersonMinutes, c.HoursOccupied = "22:00-07:00", "Europe/Paris", 20, 300, 4
		}, ""},
		{"no cooldown", func(c *Config) { c.Cooldown = 0 }, ""},
		{"empty timezone is local", func(c *Config) { c.Timezone = "" }, ""},
		{"negative cooldown", func(c *Config) { c.Cooldown = -time.Second }, "cooldown"},
		{"bad quiet hours", func(c *Config) { c.QuietHours = "late" }, "quiet_hours"},
		{"unknown timezone", func(c *Config) { c.Timezone = "Mars/Olympus" }, "timezone"},
		{"negative visits", func(c *Config) { c.Visits = -1 }, "visits"},
		{"NaN person-minutes", func(c *Config) { c.PersonMinutes = math.NaN() }, "person_minutes"},
		{"negative hours", func(c *Config) { c.HoursOccupied = -1 }, "hours_occupied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.edit(&c)
			err := c.Validate()
			if tt.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("got %v, want an ErrConfig about %s", err, tt.err)
			}
		})
	}
}

func TestStateDecodeRefusesBadState(t *testing.T) {
	for _, b := range []string{``, `{}`, `{"v":2}`, `{"v":1,"extra":1}`, `{"v":1}{}`, `{"v":1,"occupied_ms":-5}`, `{"v":1,"seen":"x"}`} {
		if _, err := unmarshalState([]byte(b)); !errors.Is(err, ErrState) {
			t.Errorf("%s: got %v, want ErrState", b, err)
		}
	}
	s := &zoneState{Seen: []string{"e1"}, Notified: map[string]time.Time{"+1": time.Unix(0, 0).UTC()}, Requested: 2, Cycle: 2, OccupiedMs: 60000}
	b, err := s.marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := unmarshalState(b)
	if err != nil || !got.seen("e1") || got.Requested != 2 || got.OccupiedMs != 60000 || !got.Notified["+1"].Equal(time.Unix(0, 0)) {
		t.Fatalf("round trip of %s: %+v, %v", b, got, err)
	}
}

func TestStateRemembersTheLastEvents(t *testing.T) {
	var s zoneState
	for i := range maxSeen + 5 {
		s.remember(string(rune('A' + i)))
	}
	if len(s.Seen) != maxSeen || s.seen("A") || !s.seen(string(rune('A'+maxSeen+4))) || !s.seen(string(rune('A'+5))) {
		t.Fatalf("seen = %q: want the last %d", s.Seen, maxSeen)
	}
}
