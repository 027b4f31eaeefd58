package zones

import (
	"errors"
	"fmt"
	"math"
	"os"
	"regexp"

	"github.com/corb-dev/corb/topology/yamlfile"
	"go.yaml.in/yaml/v3"
)

// Combine says how the counts of the cameras that see one zone are combined.
type Combine string

const (
	// CombineMax takes the largest per-camera count: the cameras overlap and
	// see the same people (the default).
	CombineMax Combine = "max"
	// CombineSum adds the per-camera counts: the cameras see disjoint parts of the zone.
	CombineSum Combine = "sum"
)

// Anchor is the point of a box that must lie inside a zone's polygon.
type Anchor string

const (
	// AnchorBottomCenter is the middle of the box's bottom edge: where a person
	// stands (the default).
	AnchorBottomCenter Anchor = "bottom_center"
	// AnchorCenter is the middle of the box.
	AnchorCenter Anchor = "center"
)

// MaxFileSize is the largest zones file Parse accepts.
const MaxFileSize = 1 << 20

// Point is a position in normalised image coordinates: 0..1 of the frame's
// width (X, left to right) and height (Y, top to bottom).
type Point struct{ X, Y float64 }

// Polygon is a simple (not self-intersecting) polygon of at least 3 points.
// It is closed implicitly: the last point connects to the first.
type Polygon []Point

// View is how one camera sees a zone.
type View struct {
	Camera  string
	Polygon Polygon
}

// Zone is one named area (a room, a lawn) seen by one or more cameras.
type Zone struct {
	ID      string // key of the zone's records downstream
	Name    string // human name; defaults to ID
	Combine Combine
	Anchor  Anchor
	// A box counts only when its score is at least MinScore, its normalised
	// area ((x2-x1)*(y2-y1)) at least MinArea, and its normalised height at least MinHeight.
	MinScore  float64
	MinArea   float64
	MinHeight float64
	Views     []View
}

// File is a parsed and validated zones file.
type File struct {
	// Classes are the detector class ids that count as people; default [0] (COCO person).
	Classes []int32
	Zones   []Zone
}

// ErrInvalid is matched (errors.Is) by every error Parse returns for a bad
// zones file, and by each yamlfile.Error in it, along with the error's own kind.
var ErrInvalid = errors.New("invalid zones file")

// Load reads and parses the zones file at path.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("zones: %w", err)
	}
	return Parse(path, data)
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// Parse parses and validates a zones file; name is used in error positions.
// It reports every problem at once as yamlfile.Errors.
//
// The format (unknown fields, wrong types and duplicate keys are errors;
// aliases are followed):
//
//	classes: [0]              # optional, detector class ids counted as people
//	zones:
//	  - id: lawn              # required, [A-Za-z0-9][A-Za-z0-9_.-]*, unique
//	    name: Lawn            # optional
//	    combine: max          # max (default) | sum
//	    anchor: bottom_center # bottom_center (default) | center
//	    min_score: 0.4        # 0..1, default 0
//	    min_area: 0.001       # 0..1 of the frame, default 0
//	    min_height: 0.05      # 0..1 of the frame, default 0
//	    cameras:              # at least one, each camera at most once
//	      - camera: vtest
//	        polygon: [[0.0,0.45],[0.55,0.35],[0.6,1.0],[0.0,1.0]]
func Parse(name string, data []byte) (*File, error) {
	p := &parser{Walker: yamlfile.Walker{File: name}, ids: map[string]int{}}
	root, err := yamlfile.Load(name, data, "zones file", MaxFileSize)
	var f *File
	if err == nil {
		f, err = p.file(root), p.Err()
	}
	var es yamlfile.Errors
	if !errors.As(err, &es) {
		return f, err // err is nil: Load and the walker report Errors
	}
	for _, e := range es {
		e.Kind = fmt.Errorf("%w: %w", ErrInvalid, e.Kind) // so that every problem is also ErrInvalid
	}
	return nil, es
}

type parser struct {
	yamlfile.Walker
	ids map[string]int // zone id → the line it is first written on
}

// atLeastOne reports an empty list; n and ok are what List returned.
func (p *parser) atLeastOne(v *yaml.Node, path string, n int, ok bool, what string) {
	if ok && n == 0 {
		p.Fail(v, path, yamlfile.ErrInvalid, "must list at least one %s", what)
	}
}

func (p *parser) unit(n *yaml.Node, path string) float64 {
	v, ok := p.Float(n, path)
	if ok && (v < 0 || v > 1) {
		p.Fail(n, path, yamlfile.ErrInvalid, "must be between 0 and 1, got %g", v)
	}
	return v
}

func (p *parser) file(root *yaml.Node) *File {
	f := &File{Classes: []int32{0}}
	p.Mapping(root, "", yamlfile.Fields{
		"classes": func(v *yaml.Node, path string) {
			f.Classes = nil
			n, ok := p.List(v, path, func(c *yaml.Node, path string) {
				if id, ok := p.Int(c, path); ok && (id < 0 || id > math.MaxInt32) {
					p.Fail(c, path, yamlfile.ErrInvalid, "must be a class id between 0 and 2^31-1, got %d", id)
				} else if ok {
					f.Classes = append(f.Classes, int32(id))
				}
			})
			p.atLeastOne(v, path, n, ok, "class id")
		},
		"zones": func(v *yaml.Node, path string) {
			n, ok := p.List(v, path, func(z *yaml.Node, path string) { f.Zones = append(f.Zones, p.zone(z, path)) })
			p.atLeastOne(v, path, n, ok, "zone")
		},
	}, "zones")
	return f
}

func (p *parser) zone(n *yaml.Node, path string) Zone {
	z := Zone{Combine: CombineMax, Anchor: AnchorBottomCenter}
	cameras := map[string]int{} // camera → the line it is first written on
	p.Mapping(n, path, yamlfile.Fields{
		"id": func(v *yaml.Node, path string) {
			s, ok := p.String(v, path)
			first, dup := p.ids[s]
			switch {
			case !ok:
			case !idPattern.MatchString(s):
				p.Fail(v, path, yamlfile.ErrInvalid, "zone id %q must match %s", s, idPattern)
			case dup:
				p.Fail(v, path, yamlfile.ErrDuplicate, "duplicate zone id %q (first at line %d)", s, first)
			default:
				z.ID, p.ids[s] = s, v.Line
			}
		},
		"name": func(v *yaml.Node, path string) { z.Name, _ = p.String(v, path) },
		"combine": func(v *yaml.Node, path string) {
			if s, ok := p.String(v, path); ok && Combine(s) != CombineMax && Combine(s) != CombineSum {
				p.Fail(v, path, yamlfile.ErrInvalid, "unknown combine mode %q (want max or sum)", s)
			} else if ok {
				z.Combine = Combine(s)
			}
		},
		"anchor": func(v *yaml.Node, path string) {
			if s, ok := p.String(v, path); ok && Anchor(s) != AnchorBottomCenter && Anchor(s) != AnchorCenter {
				p.Fail(v, path, yamlfile.ErrInvalid, "unknown anchor %q (want bottom_center or center)", s)
			} else if ok {
				z.Anchor = Anchor(s)
			}
		},
		"min_score":  func(v *yaml.Node, path string) { z.MinScore = p.unit(v, path) },
		"min_area":   func(v *yaml.Node, path string) { z.MinArea = p.unit(v, path) },
		"min_height": func(v *yaml.Node, path string) { z.MinHeight = p.unit(v, path) },
		"cameras": func(v *yaml.Node, path string) {
			n, ok := p.List(v, path, func(c *yaml.Node, path string) {
				view, at := p.view(c, path)
				if first, dup := cameras[view.Camera]; at != nil && dup {
					p.Fail(at, path+".camera", yamlfile.ErrDuplicate, "camera %q already listed for this zone (first at line %d); use one polygon per camera", view.Camera, first)
				} else if at != nil {
					cameras[view.Camera] = at.Line
					z.Views = append(z.Views, view)
				}
			})
			p.atLeastOne(v, path, n, ok, "camera")
		},
	}, "id", "cameras")
	if z.Name == "" {
		z.Name = z.ID
	}
	return z
}

// view reads one camera's view of a zone, and where its camera is written
// (nil when the camera is missing or bad).
func (p *parser) view(n *yaml.Node, path string) (v View, camera *yaml.Node) {
	p.Mapping(n, path, yamlfile.Fields{
		"camera": func(c *yaml.Node, path string) {
			if s, ok := p.String(c, path); ok && s == "" {
				p.Fail(c, path, yamlfile.ErrInvalid, "must not be empty")
			} else if ok {
				v.Camera, camera = s, c
			}
		},
		"polygon": func(c *yaml.Node, path string) { v.Polygon = p.polygon(c, path) },
	}, "camera", "polygon")
	return v, camera
}

func (p *parser) polygon(n *yaml.Node, path string) Polygon {
	var poly Polygon
	count, ok := p.List(n, path, func(pt *yaml.Node, path string) {
		if xy, ok := p.point(pt, path); ok {
			poly = append(poly, xy)
		}
	})
	switch {
	case !ok:
	case count < 3:
		p.Fail(n, path, yamlfile.ErrInvalid, "a polygon needs at least 3 points, has %d", count)
	case len(poly) == count: // every point is good
		if msg := poly.check(); msg != "" {
			p.Fail(n, path, yamlfile.ErrInvalid, "%s", msg)
		}
	}
	return poly
}

func (p *parser) point(n *yaml.Node, path string) (Point, bool) {
	var xy []float64
	count, ok := p.List(n, path, func(c *yaml.Node, path string) {
		if v, ok := p.Float(c, path); ok {
			xy = append(xy, v)
		}
	})
	switch {
	case ok && count != 2:
		p.Fail(n, path, yamlfile.ErrInvalid, "a point is [x, y], got %d numbers", count)
	case len(xy) != 2:
	case xy[0] < 0 || xy[0] > 1 || xy[1] < 0 || xy[1] > 1:
		p.Fail(n, path, yamlfile.ErrInvalid, "point [%g, %g] is outside the frame: coordinates are normalised to 0..1", xy[0], xy[1])
	default:
		return Point{xy[0], xy[1]}, true
	}
	return Point{}, false
}
