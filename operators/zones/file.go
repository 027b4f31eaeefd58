package zones

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"

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

// ErrInvalid is matched (errors.Is) by every error Parse returns for a bad zones file.
var ErrInvalid = errors.New("invalid zones file")

// Problem is one thing wrong with a zones file, at a position in it.
type Problem struct {
	File   string
	Line   int    // 1-based; 0 when unknown
	Column int    // 1-based; 0 when unknown
	Path   string // e.g. zones[2].cameras[0].polygon[1]
	Msg    string
}

func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", p.Line, p.Column)
	}
	if p.Path != "" {
		fmt.Fprintf(&b, ": %s", p.Path)
	}
	fmt.Fprintf(&b, ": %s", p.Msg)
	return b.String()
}

// ParseError lists every problem found in a zones file. errors.Is(err, ErrInvalid) holds.
type ParseError struct {
	Problems []Problem
}

func (e *ParseError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return fmt.Sprintf("%d problem(s) in zones file:\n%s", len(e.Problems), strings.Join(lines, "\n"))
}

// Is reports whether target is ErrInvalid.
func (e *ParseError) Is(target error) bool { return target == ErrInvalid }

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
// It reports every problem at once in a *ParseError.
//
// The format (unknown fields, wrong types, aliases and duplicate keys are errors):
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
	p := &parser{file: name}
	if len(data) > MaxFileSize {
		p.addAt(0, 0, "", "file is %d bytes, larger than the %d allowed", len(data), MaxFileSize)
		return nil, p.err()
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		p.syntax(err)
		return nil, p.err()
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		p.add(&extra, "", "more than one YAML document")
	}
	f := p.file_(&doc)
	if len(p.problems) > 0 {
		return nil, p.err()
	}
	return f, nil
}

type parser struct {
	file     string
	problems []Problem
}

func (p *parser) err() error { return &ParseError{Problems: p.problems} }

func (p *parser) addAt(line, col int, path, format string, args ...any) {
	p.problems = append(p.problems, Problem{File: p.file, Line: line, Column: col, Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (p *parser) add(n *yaml.Node, path, format string, args ...any) {
	p.addAt(n.Line, n.Column, path, format, args...)
}

var lineRE = regexp.MustCompile(`line (\d+)`)

func (p *parser) syntax(err error) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if m := lineRE.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
	}
	p.addAt(line, 0, "", "%s", msg)
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias (aliases are not supported)"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "null"
		}
		return strings.TrimPrefix(n.ShortTag(), "!!") + " " + strconv.Quote(n.Value)
	}
	return "nothing"
}

// fields checks that n is a mapping with only known keys, each at most once,
// and returns key → value node. It returns nil when n is not a mapping.
func (p *parser) fields(n *yaml.Node, path string, known ...string) map[string]*yaml.Node {
	if n.Kind == yaml.AliasNode {
		p.add(n, path, "aliases are not supported")
		return nil
	}
	if n.Kind != yaml.MappingNode {
		p.add(n, path, "must be a mapping, not %s", kindName(n))
		return nil
	}
	out := make(map[string]*yaml.Node, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		kp := join(path, k.Value)
		if k.Kind != yaml.ScalarNode || k.Tag != "!!str" {
			p.add(k, path, "key must be a string, not %s", kindName(k))
			continue
		}
		isKnown := false
		for _, f := range known {
			if f == k.Value {
				isKnown = true
				break
			}
		}
		if !isKnown {
			p.add(k, kp, "unknown field %q (known: %s)", k.Value, strings.Join(known, ", "))
			continue
		}
		if _, dup := out[k.Value]; dup {
			p.add(k, kp, "duplicate field %q", k.Value)
			continue
		}
		out[k.Value] = v // an alias value is reported by whoever decodes it
	}
	return out
}

func join(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

func (p *parser) seq(n *yaml.Node, path string) []*yaml.Node {
	if n.Kind == yaml.AliasNode {
		p.add(n, path, "aliases are not supported")
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		p.add(n, path, "must be a list, not %s", kindName(n))
		return nil
	}
	return n.Content
}

func (p *parser) str(n *yaml.Node, path string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
		p.add(n, path, "must be a string, not %s", kindName(n))
		return "", false
	}
	return n.Value, true
}

func (p *parser) num(n *yaml.Node, path string) (float64, bool) {
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float") {
		p.add(n, path, "must be a number, not %s", kindName(n))
		return 0, false
	}
	v, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		p.add(n, path, "must be a finite number, not %q", n.Value)
		return 0, false
	}
	return v, true
}

func (p *parser) unit(n *yaml.Node, path string) float64 {
	v, ok := p.num(n, path)
	if ok && (v < 0 || v > 1) {
		p.add(n, path, "must be between 0 and 1, not %g", v)
	}
	return v
}

func (p *parser) file_(doc *yaml.Node) *File {
	if doc.Kind == 0 || len(doc.Content) == 0 {
		p.addAt(0, 0, "", "file is empty; want a mapping with a zones list")
		return nil
	}
	root := doc.Content[0]
	fs := p.fields(root, "", "classes", "zones")
	if fs == nil {
		return nil
	}
	f := &File{Classes: []int32{0}}
	if n, ok := fs["classes"]; ok {
		items := p.seq(n, "classes")
		if items != nil && len(items) == 0 {
			p.add(n, "classes", "must list at least one class id")
		}
		if len(items) > 0 {
			f.Classes = f.Classes[:0]
		}
		for i, it := range items {
			ip := fmt.Sprintf("classes[%d]", i)
			if it.Kind != yaml.ScalarNode || it.Tag != "!!int" {
				p.add(it, ip, "must be an integer class id, not %s", kindName(it))
				continue
			}
			v, err := strconv.ParseInt(it.Value, 0, 32)
			if err != nil || v < 0 {
				p.add(it, ip, "must be a class id between 0 and 2^31-1, not %s", it.Value)
				continue
			}
			f.Classes = append(f.Classes, int32(v))
		}
	}
	zn, ok := fs["zones"]
	if !ok {
		p.add(root, "", "missing required field \"zones\"")
		return f
	}
	items := p.seq(zn, "zones")
	if zn.Kind == yaml.SequenceNode && len(items) == 0 {
		p.add(zn, "zones", "must list at least one zone")
	}
	seen := map[string]*yaml.Node{}
	for i, it := range items {
		path := fmt.Sprintf("zones[%d]", i)
		z, idNode := p.zone(it, path)
		if idNode != nil {
			if prev, dup := seen[z.ID]; dup {
				p.add(idNode, path+".id", "duplicate zone id %q (first at line %d)", z.ID, prev.Line)
			} else {
				seen[z.ID] = idNode
			}
		}
		f.Zones = append(f.Zones, z)
	}
	return f
}

func (p *parser) zone(n *yaml.Node, path string) (Zone, *yaml.Node) {
	z := Zone{Combine: CombineMax, Anchor: AnchorBottomCenter}
	fs := p.fields(n, path, "id", "name", "combine", "anchor", "min_score", "min_area", "min_height", "cameras")
	if fs == nil {
		return z, nil
	}
	var idNode *yaml.Node
	if v, ok := fs["id"]; !ok {
		p.add(n, path, "missing required field \"id\"")
	} else if s, ok := p.str(v, path+".id"); ok {
		if !idPattern.MatchString(s) {
			p.add(v, path+".id", "zone id %q must match %s", s, idPattern)
		} else {
			z.ID, idNode = s, v
		}
	}
	z.Name = z.ID
	if v, ok := fs["name"]; ok {
		if s, ok := p.str(v, path+".name"); ok && s != "" {
			z.Name = s
		}
	}
	if v, ok := fs["combine"]; ok {
		if s, ok := p.str(v, path+".combine"); ok {
			switch Combine(s) {
			case CombineMax, CombineSum:
				z.Combine = Combine(s)
			default:
				p.add(v, path+".combine", "unknown combine mode %q (want max or sum)", s)
			}
		}
	}
	if v, ok := fs["anchor"]; ok {
		if s, ok := p.str(v, path+".anchor"); ok {
			switch Anchor(s) {
			case AnchorBottomCenter, AnchorCenter:
				z.Anchor = Anchor(s)
			default:
				p.add(v, path+".anchor", "unknown anchor %q (want bottom_center or center)", s)
			}
		}
	}
	if v, ok := fs["min_score"]; ok {
		z.MinScore = p.unit(v, path+".min_score")
	}
	if v, ok := fs["min_area"]; ok {
		z.MinArea = p.unit(v, path+".min_area")
	}
	if v, ok := fs["min_height"]; ok {
		z.MinHeight = p.unit(v, path+".min_height")
	}
	cn, ok := fs["cameras"]
	if !ok {
		p.add(n, path, "missing required field \"cameras\"")
		return z, idNode
	}
	items := p.seq(cn, path+".cameras")
	if cn.Kind == yaml.SequenceNode && len(items) == 0 {
		p.add(cn, path+".cameras", "must list at least one camera")
	}
	seen := map[string]int{}
	for i, it := range items {
		cp := fmt.Sprintf("%s.cameras[%d]", path, i)
		v, camNode := p.view(it, cp)
		if camNode == nil {
			continue
		}
		if prev, dup := seen[v.Camera]; dup {
			p.add(camNode, cp+".camera", "camera %q already listed for this zone (cameras[%d]); use one polygon per camera", v.Camera, prev)
			continue
		}
		seen[v.Camera] = i
		z.Views = append(z.Views, v)
	}
	return z, idNode
}

func (p *parser) view(n *yaml.Node, path string) (View, *yaml.Node) {
	var v View
	fs := p.fields(n, path, "camera", "polygon")
	if fs == nil {
		return v, nil
	}
	var camNode *yaml.Node
	if c, ok := fs["camera"]; !ok {
		p.add(n, path, "missing required field \"camera\"")
	} else if s, ok := p.str(c, path+".camera"); ok {
		if s == "" {
			p.add(c, path+".camera", "must not be empty")
		} else {
			v.Camera, camNode = s, c
		}
	}
	pn, ok := fs["polygon"]
	if !ok {
		p.add(n, path, "missing required field \"polygon\"")
		return v, camNode
	}
	v.Polygon = p.polygon(pn, path+".polygon")
	return v, camNode
}

func (p *parser) polygon(n *yaml.Node, path string) Polygon {
	items := p.seq(n, path)
	if n.Kind != yaml.SequenceNode {
		return nil
	}
	if len(items) < 3 {
		p.add(n, path, "a polygon needs at least 3 points, has %d", len(items))
	}
	poly := make(Polygon, 0, len(items))
	bad := false
	for i, it := range items {
		pp := fmt.Sprintf("%s[%d]", path, i)
		if it.Kind != yaml.SequenceNode {
			p.seq(it, pp) // reports the wrong kind
			bad = true
			continue
		}
		xy := it.Content
		if len(xy) != 2 {
			p.add(it, pp, "a point is [x, y], got %d numbers", len(xy))
			bad = true
			continue
		}
		x, okx := p.num(xy[0], pp+".x")
		y, oky := p.num(xy[1], pp+".y")
		if !okx || !oky {
			bad = true
			continue
		}
		if x < 0 || x > 1 || y < 0 || y > 1 {
			p.add(it, pp, "point [%g, %g] is outside the frame: coordinates are normalised to 0..1", x, y)
			bad = true
			continue
		}
		poly = append(poly, Point{x, y})
	}
	if bad || len(poly) < 3 {
		return poly
	}
	if msg := poly.check(); msg != "" {
		p.add(n, path, "%s", msg)
	}
	return poly
}
