package presence

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/corb-dev/corb/schemas/strictjson"
)

const stateVersion = 1

// camAgg is what one camera reported for a zone in one window: how many frames
// showed each head count.
type camAgg struct {
	Frames int32           `json:"n"`
	Hist   map[int32]int32 `json:"h"` // count → frames
}

// median is the upper median of the per-frame counts: one false positive or one
// missed frame in a window of three or more frames does not move it.
func (c *camAgg) median() int32 {
	keys := make([]int32, 0, len(c.Hist))
	for k := range c.Hist {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var seen int32
	for _, k := range keys {
		seen += c.Hist[k]
		if seen > c.Frames/2 {
			return k
		}
	}
	return 0
}

type window struct {
	Start int64              `json:"s"` // Unix ns
	Cams  map[string]*camAgg `json:"c"`
}

// zoneState is everything the aggregator keeps about one zone. Times are Unix
// nanoseconds, 0 meaning "not set"; event-time fields come from capture times,
// wall-clock fields (LastInput, LiveSince, StaleAt) from the injected clock.
type zoneState struct {
	V         int       `json:"v"`
	Watermark int64     `json:"wm,omitempty"`
	Windows   []*window `json:"win,omitempty"` // open windows, by start

	Occupied      bool  `json:"occ,omitempty"`
	Count         int32 `json:"cnt,omitempty"`  // last reported count
	Peak          int32 `json:"peak,omitempty"` // peak of the current occupancy
	OccupiedSince int64 `json:"os,omitempty"`
	CountSince    int64 `json:"cs,omitempty"`
	VacantSince   int64 `json:"vs,omitempty"`
	PresentSince  int64 `json:"ps,omitempty"` // start of the run of present windows while vacant
	RunPeak       int32 `json:"rp,omitempty"` // peak of that run
	AbsentSince   int64 `json:"as,omitempty"` // start of the run of absent windows while occupied

	LastInput int64 `json:"li,omitempty"` // wall clock of the last record
	LiveSince int64 `json:"ls,omitempty"` // wall clock when input (re)started
	Stale     bool  `json:"stale,omitempty"`
	StaleAt   int64 `json:"sa,omitempty"`
}

// ErrState is matched (errors.Is) by errors of UnmarshalState about the bytes.
var ErrState = errors.New("invalid presence state")

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
	for i, w := range s.Windows {
		if w == nil {
			return nil, fmt.Errorf("%w: window %d is null", ErrState, i)
		}
		if i > 0 && w.Start <= s.Windows[i-1].Start {
			return nil, fmt.Errorf("%w: windows out of order", ErrState)
		}
		if w.Cams == nil {
			w.Cams = map[string]*camAgg{}
		}
		for cam, a := range w.Cams {
			if a == nil {
				return nil, fmt.Errorf("%w: window %d camera %q is null", ErrState, i, cam)
			}
			if a.Hist == nil {
				a.Hist = map[int32]int32{}
			}
			var n int64
			for k, v := range a.Hist {
				if k < 0 || v <= 0 {
					return nil, fmt.Errorf("%w: window %d camera %q: bad histogram entry %d:%d", ErrState, i, cam, k, v)
				}
				n += int64(v)
			}
			if n != int64(a.Frames) {
				return nil, fmt.Errorf("%w: window %d camera %q: histogram holds %d frames, header says %d", ErrState, i, cam, n, a.Frames)
			}
		}
	}
	return &s, nil
}
