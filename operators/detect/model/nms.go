package model

import (
	"cmp"
	"slices"
)

// Candidate is one detection in model-input pixel coordinates, before
// suppression and mapping to the frame.
type Candidate struct {
	Class          int
	Score          float32
	X1, Y1, X2, Y2 float32
}

func (c Candidate) area() float32 {
	return max(c.X2-c.X1, 0) * max(c.Y2-c.Y1, 0)
}

// IoU is the intersection over union of two boxes; 0 when either has no area.
func IoU(a, b Candidate) float32 {
	iw := min(a.X2, b.X2) - max(a.X1, b.X1)
	ih := min(a.Y2, b.Y2) - max(a.Y1, b.Y1)
	if iw <= 0 || ih <= 0 {
		return 0
	}
	inter := iw * ih
	union := a.area() + b.area() - inter
	if union <= 0 {
		return 0
	}
	return inter / union
}

// NMS keeps, class by class, the highest-scoring candidates and drops any
// candidate whose IoU with an already kept candidate of the same class exceeds
// iou. Candidates with zero or negative area are dropped. The result is sorted
// by descending score (ties: by class, then position), and cands is reordered.
func NMS(cands []Candidate, iou float32) []Candidate {
	slices.SortStableFunc(cands, func(a, b Candidate) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Class, b.Class); c != 0 {
			return c
		}
		if c := cmp.Compare(a.X1, b.X1); c != 0 {
			return c
		}
		return cmp.Compare(a.Y1, b.Y1)
	})
	kept := make([]Candidate, 0, min(len(cands), 64))
	for _, c := range cands {
		if c.area() <= 0 {
			continue
		}
		suppressed := false
		for _, k := range kept {
			if k.Class == c.Class && IoU(k, c) > iou {
				suppressed = true
				break
			}
		}
		if !suppressed {
			kept = append(kept, c)
		}
	}
	return kept
}
