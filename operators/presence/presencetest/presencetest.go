// Package presencetest makes synthetic zone-count streams for tests and
// benchmarks of the presence operator, and the events an uninterrupted run
// over them must yield.
package presencetest

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/corb-dev/corb/operators/presence"
	"github.com/corb-dev/corb/schemas"
)

// Start is the capture time of the first frame of every synthetic stream.
var Start = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)

// FPS is the frame rate of the synthetic cameras.
const FPS = 10

// ZoneID is the id of synthetic zone i.
func ZoneID(i int) string { return fmt.Sprintf("z%03d", i) }

// Zones are the specs of n synthetic zones, each seen by its own camera "cam-<zone>".
func Zones(n int) []presence.ZoneSpec {
	out := make([]presence.ZoneSpec, n)
	for i := range out {
		id := ZoneID(i)
		out[i] = presence.ZoneSpec{ID: id, Cameras: []string{"cam-" + id}}
	}
	return out
}

// Config is a presence config for synthetic streams: 1 s tumbling windows,
// 500 ms grace, OCCUPIED after 2 s, VACATED after 3 s, and staleness far
// enough away (1 h) that no test run meets it.
func Config(zones int) presence.Config {
	return presence.Config{
		Size: time.Second, Grace: 500 * time.Millisecond,
		EnterAfter: 2 * time.Second, VacateAfter: 3 * time.Second, StaleAfter: time.Hour,
		Zones: Zones(zones),
	}
}

// Stream is `seconds` of frames of `zones` synthetic zones, interleaved in
// capture-time order (frame by frame, zone by zone), the same for the same
// seed. Each zone alternates between runs of presence (1 to 3 people) and
// absence lasting 1 to 9 s, with single-frame misdetections sprinkled in.
func Stream(zones, seconds int, seed uint64) []schemas.ZoneCounts {
	type state struct {
		rng  *rand.Rand
		left int // frames left in the current run
		n    int32
	}
	st := make([]state, zones)
	for i := range st {
		st[i].rng = rand.New(rand.NewPCG(seed, uint64(i)))
	}
	frames := seconds * FPS
	out := make([]schemas.ZoneCounts, 0, frames*zones)
	for f := range frames {
		at := Start.Add(time.Duration(f) * time.Second / FPS)
		for z := range st {
			s := &st[z]
			if s.left == 0 {
				s.left = (1 + s.rng.IntN(9)) * FPS
				if s.n > 0 {
					s.n = 0
				} else {
					s.n = 1 + s.rng.Int32N(3)
				}
			}
			s.left--
			n := s.n
			if s.rng.IntN(20) == 0 { // a missed or phantom person in one frame
				n = max(0, n+[]int32{-1, 1}[s.rng.IntN(2)])
			}
			id := ZoneID(z)
			out = append(out, schemas.ZoneCounts{
				ZoneID: id, CameraID: "cam-" + id, FrameSeq: int64(f), CaptureTime: at, Count: n, MaxScore: 0.9,
			})
		}
	}
	return out
}

// Expected is the events an uninterrupted aggregator over recs yields, by
// zone, in order. cfg.StaleAfter must exceed the test's wall-clock duration.
func Expected(cfg presence.Config, recs []schemas.ZoneCounts) (map[string][]schemas.PresenceEvent, error) {
	a, err := presence.New(cfg, time.Now)
	if err != nil {
		return nil, err
	}
	out := map[string][]schemas.PresenceEvent{}
	for _, r := range recs {
		evs, err := a.Add(r)
		if err != nil {
			return nil, err
		}
		out[r.ZoneID] = append(out[r.ZoneID], evs...)
	}
	return out, nil
}

// IDs maps each zone's events to their event ids.
func IDs(evs map[string][]schemas.PresenceEvent) map[string][]string {
	out := map[string][]string{}
	for z, es := range evs {
		for _, e := range es {
			out[z] = append(out[z], e.EventID)
		}
	}
	return out
}

// Count is the number of events over every zone.
func Count(evs map[string][]schemas.PresenceEvent) int {
	n := 0
	for _, es := range evs {
		n += len(es)
	}
	return n
}
