// Package zones turns person detections into per-zone head counts.
//
// A zones file (see Parse) names areas — rooms, a lawn, a crossing — as
// polygons in each camera's normalised image coordinates. A Zoner maps one
// frame's detections to one schemas.ZoneCounts per zone its camera sees,
// re-keyed by zone id. A frame with nobody in a zone still yields a zero
// count for it: an empty room is information, and it is what lets the
// presence operator report a zone as vacated.
//
// The package is stateless and pure Go.
package zones

import (
	"math"
	"slices"

	"github.com/corb-dev/corb/schemas"
)

type view struct {
	zone    *Zone
	polygon Polygon
}

// Zoner counts people per zone. It is immutable and safe for concurrent use.
type Zoner struct {
	classes  []int32
	byCamera map[string][]view
}

// NewZoner builds a Zoner from a parsed zones file.
func NewZoner(f *File) *Zoner {
	z := &Zoner{classes: slices.Clone(f.Classes), byCamera: map[string][]view{}}
	if len(z.classes) == 0 {
		z.classes = []int32{0}
	}
	for i := range f.Zones {
		zn := &f.Zones[i]
		for _, v := range zn.Views {
			z.byCamera[v.Camera] = append(z.byCamera[v.Camera], view{zone: zn, polygon: v.Polygon})
		}
	}
	return z
}

// Cameras returns the ids of the cameras that see at least one zone, sorted.
func (z *Zoner) Cameras() []string {
	out := make([]string, 0, len(z.byCamera))
	for c := range z.byCamera {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}

// Count returns one ZoneCounts per zone that d's camera sees, in zones-file
// order, each with the number of boxes that pass the zone's filters
// (class, minimum score, minimum area and height) and whose anchor point lies
// inside the zone's polygon for that camera, and the highest score among them
// (0 when the count is 0). A camera that sees no zone yields nil.
// Boxes with non-finite or inverted coordinates are ignored.
func (z *Zoner) Count(d *schemas.Detections) []schemas.ZoneCounts {
	views := z.byCamera[d.CameraID]
	if len(views) == 0 {
		return nil
	}
	out := make([]schemas.ZoneCounts, len(views))
	for i, v := range views {
		zc := schemas.ZoneCounts{
			ZoneID:      v.zone.ID,
			CameraID:    d.CameraID,
			FrameSeq:    d.FrameSeq,
			CaptureTime: d.CaptureTime,
		}
		for _, b := range d.Boxes {
			if !slices.Contains(z.classes, b.ClassID) || !v.accepts(b) {
				continue
			}
			zc.Count++
			zc.MaxScore = max(zc.MaxScore, b.Score)
		}
		out[i] = zc
	}
	return out
}

func finite(vs ...float32) bool {
	for _, v := range vs {
		f := float64(v)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return false
		}
	}
	return true
}

// accepts reports whether box b counts for the view's zone.
func (v view) accepts(b schemas.Box) bool {
	if !finite(b.Score, b.X1, b.Y1, b.X2, b.Y2) || b.X2 < b.X1 || b.Y2 < b.Y1 {
		return false
	}
	zn := v.zone
	if float64(b.Score) < zn.MinScore {
		return false
	}
	w, h := float64(b.X2)-float64(b.X1), float64(b.Y2)-float64(b.Y1)
	if w*h < zn.MinArea || h < zn.MinHeight {
		return false
	}
	return v.polygon.Contains(AnchorPoint(zn.Anchor, b))
}

// AnchorPoint is the point of b that decides which zone it is in.
func AnchorPoint(a Anchor, b schemas.Box) Point {
	x := (float64(b.X1) + float64(b.X2)) / 2
	if a == AnchorCenter {
		return Point{x, (float64(b.Y1) + float64(b.Y2)) / 2}
	}
	return Point{x, float64(b.Y2)}
}
