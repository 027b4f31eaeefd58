package zones

import (
	"fmt"
	"math"
)

// eps is the tolerance of the geometry, in normalised units (≈ 1/1000 of a pixel at 4K).
const eps = 1e-7

// check reports what makes the polygon unusable ("" when it is fine): repeated
// consecutive points, (nearly) zero area, or edges that cross each other.
func (pg Polygon) check() string {
	n := len(pg)
	for i := range n {
		a, b := pg[i], pg[(i+1)%n]
		if math.Abs(a.X-b.X) < eps && math.Abs(a.Y-b.Y) < eps {
			return fmt.Sprintf("points %d and %d are the same point [%g, %g]", i, (i+1)%n, a.X, a.Y)
		}
	}
	for i := range n {
		a1, a2 := pg[i], pg[(i+1)%n]
		for j := i + 1; j < n; j++ {
			if j == i+1 || (i == 0 && j == n-1) {
				continue // adjacent edges share a point
			}
			b1, b2 := pg[j], pg[(j+1)%n]
			if segmentsIntersect(a1, a2, b1, b2) {
				return fmt.Sprintf("polygon crosses itself: edge %d-%d meets edge %d-%d", i, (i+1)%n, j, (j+1)%n)
			}
		}
	}
	if math.Abs(pg.area()) < 1e-6 {
		return "polygon has no area (are its points on one line?)"
	}
	return ""
}

// area is the signed area (shoelace formula).
func (pg Polygon) area() float64 {
	s := 0.0
	for i := range pg {
		a, b := pg[i], pg[(i+1)%len(pg)]
		s += a.X*b.Y - b.X*a.Y
	}
	return s / 2
}

func cross(o, a, b Point) float64 { return (a.X-o.X)*(b.Y-o.Y) - (a.Y-o.Y)*(b.X-o.X) }

func sign(v float64) int {
	switch {
	case v > eps*eps:
		return 1
	case v < -eps*eps:
		return -1
	}
	return 0
}

// onSegment reports whether p lies on the segment a-b (within eps).
func onSegment(p, a, b Point) bool {
	if math.Abs(cross(a, b, p)) > eps*math.Hypot(b.X-a.X, b.Y-a.Y) {
		return false
	}
	return p.X >= math.Min(a.X, b.X)-eps && p.X <= math.Max(a.X, b.X)+eps &&
		p.Y >= math.Min(a.Y, b.Y)-eps && p.Y <= math.Max(a.Y, b.Y)+eps
}

// segmentsIntersect reports whether the closed segments a1-a2 and b1-b2 share a point.
func segmentsIntersect(a1, a2, b1, b2 Point) bool {
	d1 := sign(cross(b1, b2, a1))
	d2 := sign(cross(b1, b2, a2))
	d3 := sign(cross(a1, a2, b1))
	d4 := sign(cross(a1, a2, b2))
	if d1*d2 < 0 && d3*d4 < 0 {
		return true
	}
	return onSegment(a1, b1, b2) || onSegment(a2, b1, b2) || onSegment(b1, a1, a2) || onSegment(b2, a1, a2)
}

// Contains reports whether p lies inside the polygon or on its boundary.
// Points on an edge count as inside, so a person whose feet touch the bottom
// of the frame (y = 1) is inside a zone whose polygon ends at y = 1; two zones
// that share an edge both count a point lying exactly on it.
func (pg Polygon) Contains(p Point) bool {
	n := len(pg)
	if n < 3 || math.IsNaN(p.X) || math.IsNaN(p.Y) {
		return false
	}
	in := false
	for i, j := 0, n-1; i < n; j, i = i, i+1 {
		a, b := pg[i], pg[j]
		if onSegment(p, a, b) {
			return true
		}
		if (a.Y > p.Y) != (b.Y > p.Y) && p.X < (b.X-a.X)*(p.Y-a.Y)/(b.Y-a.Y)+a.X {
			in = !in
		}
	}
	return in
}
