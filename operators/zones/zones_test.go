package zones

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/corb-dev/corb/schemas"
	"github.com/corb-dev/corb/topology/yamlfile"
)

const square = `
zones:
  - id: room
    min_score: 0.5
    min_area: 0.01
    min_height: 0.1
    cameras:
      - camera: cam1
        polygon: [[0.2,0.2],[0.6,0.2],[0.6,0.6],[0.2,0.6]]
  - id: hall
    anchor: center
    cameras:
      - camera: cam1
        polygon: [[0.6,0.0],[1.0,0.0],[1.0,1.0],[0.6,1.0]]
      - camera: cam2
        polygon: [[0,0],[1,0],[1,1],[0,1]]
`

// person returns a box whose bottom centre is (x, y), 0.2 wide and h high.
func person(x, y, h float32, score float32) schemas.Box {
	return schemas.Box{ClassID: 0, Label: "person", Score: score, X1: x - 0.1, Y1: y - h, X2: x + 0.1, Y2: y}
}

func TestCount(t *testing.T) {
	f, err := Parse("square.yaml", []byte(square))
	if err != nil {
		t.Fatal(err)
	}
	z := NewZoner(f)
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name      string
		camera    string
		boxes     []schemas.Box
		wantRoom  int32 // -1: room not reported
		wantHall  int32
		wantScore float32 // room's MaxScore
	}{
		{"empty frame yields zeros", "cam1", nil, 0, 0, 0},
		{"anchor inside", "cam1", []schemas.Box{person(0.4, 0.5, 0.3, 0.9)}, 1, 0, 0.9},
		{"anchor below polygon though box overlaps", "cam1", []schemas.Box{person(0.4, 0.7, 0.3, 0.9)}, 0, 0, 0},
		{"anchor on bottom edge counts", "cam1", []schemas.Box{person(0.4, 0.6, 0.3, 0.8)}, 1, 0, 0.8},
		{"anchor on corner counts", "cam1", []schemas.Box{{Score: 0.9, X1: 0.1, Y1: 0.3, X2: 0.3, Y2: 0.6}}, 1, 0, 0.9},
		{"anchor just outside left edge", "cam1", []schemas.Box{{Score: 0.9, X1: 0.0, Y1: 0.2, X2: 0.3999, Y2: 0.5}}, 0, 0, 0},
		{"score below min_score", "cam1", []schemas.Box{person(0.4, 0.5, 0.3, 0.49)}, 0, 0, 0},
		{"score at min_score", "cam1", []schemas.Box{person(0.4, 0.5, 0.3, 0.5)}, 1, 0, 0.5},
		{"too short", "cam1", []schemas.Box{person(0.4, 0.5, 0.09, 0.9)}, 0, 0, 0},
		{"too small area", "cam1", []schemas.Box{{Score: 0.9, X1: 0.39, Y1: 0.3, X2: 0.41, Y2: 0.5}}, 0, 0, 0},
		{"other class ignored", "cam1", []schemas.Box{{ClassID: 2, Score: 0.9, X1: 0.3, Y1: 0.2, X2: 0.5, Y2: 0.5}}, 0, 0, 0},
		{"inverted box ignored", "cam1", []schemas.Box{{Score: 0.9, X1: 0.5, Y1: 0.5, X2: 0.3, Y2: 0.2}}, 0, 0, 0},
		{"two in, max score", "cam1", []schemas.Box{person(0.3, 0.5, 0.3, 0.6), person(0.5, 0.5, 0.3, 0.95), person(0.8, 0.9, 0.5, 0.7)}, 2, 1, 0.95},
		{"center anchor in hall", "cam1", []schemas.Box{{Score: 0.3, X1: 0.7, Y1: 0.1, X2: 0.9, Y2: 0.5}}, 0, 1, 0},
		{"second camera sees only hall", "cam2", []schemas.Box{person(0.5, 0.5, 0.3, 0.9)}, -1, 1, 0},
		{"unknown camera sees nothing", "cam9", []schemas.Box{person(0.5, 0.5, 0.3, 0.9)}, -1, -1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &schemas.Detections{CameraID: tt.camera, FrameSeq: 42, CaptureTime: at, Boxes: tt.boxes}
			got := z.Count(d)
			counts := map[string]schemas.ZoneCounts{}
			for _, zc := range got {
				if zc.CameraID != tt.camera || zc.FrameSeq != 42 || !zc.CaptureTime.Equal(at) {
					t.Errorf("record not keyed to its frame: %+v", zc)
				}
				counts[zc.ZoneID] = zc
			}
			check := func(zone string, want int32) {
				zc, ok := counts[zone]
				if want < 0 {
					if ok {
						t.Errorf("%s reported: %+v", zone, zc)
					}
					return
				}
				if !ok {
					t.Fatalf("%s missing from %+v", zone, got)
				}
				if zc.Count != want {
					t.Errorf("%s count = %d, want %d", zone, zc.Count, want)
				}
			}
			check("room", tt.wantRoom)
			check("hall", tt.wantHall)
			if tt.wantRoom >= 0 && counts["room"].MaxScore != tt.wantScore {
				t.Errorf("room max score = %v, want %v", counts["room"].MaxScore, tt.wantScore)
			}
		})
	}
}

func TestContainsConcave(t *testing.T) {
	// An L shape: the notch at the top right is outside.
	l := Polygon{{0, 0}, {0.5, 0}, {0.5, 0.5}, {1, 0.5}, {1, 1}, {0, 1}}
	for _, tt := range []struct {
		p    Point
		want bool
	}{
		{Point{0.25, 0.25}, true}, {Point{0.75, 0.25}, false}, {Point{0.75, 0.75}, true},
		{Point{0.5, 0.25}, true}, {Point{1, 1}, true}, {Point{1.01, 0.9}, false}, {Point{-0.01, 0.5}, false},
	} {
		if got := l.Contains(tt.p); got != tt.want {
			t.Errorf("Contains(%v) = %v, want %v", tt.p, got, tt.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // substrings, one problem each, in order
	}{
		{"empty", ``, []string{"zones.yaml: empty zones file document"}},
		{"too large", "#" + strings.Repeat(" ", MaxFileSize), []string{"zones.yaml: file is 1048577 bytes, larger than the 1048576 allowed"}},
		{"two documents", "zones: []\n---\nzones: []\n", []string{"zones.yaml:2:1: more than one YAML document"}},
		{"syntax", "zones: [\n", []string{"zones.yaml:1: did not find expected node content"}},
		{"not a mapping", "- a\n", []string{":1:1: must be a mapping"}},
		{"unknown top field", "zone: []\n", []string{`:1:1: zone: unknown field "zone"`, `missing required field "zones"`}},
		{"unknown zone field and wrong types all at once",
			"zones:\n  - id: a\n    colour: red\n    min_score: high\n    cameras:\n      - camera: c\n        polygon: [[0,0],[1,0],[1,1]]\n",
			[]string{`:3:5: zones[0].colour: unknown field "colour"`, `:4:16: zones[0].min_score: must be a number, got string "high"`}},
		{"unknown combine and anchor",
			"zones:\n  - id: a\n    combine: avg\n    anchor: top\n    cameras:\n      - camera: c\n        polygon: [[0,0],[1,0],[1,1]]\n",
			[]string{`:3:14: zones[0].combine: unknown combine mode "avg"`, `:4:13: zones[0].anchor: unknown anchor "top"`}},
		{"too few points", "zones:\n  - id: a\n    cameras:\n      - camera: c\n        polygon: [[0,0],[1,0]]\n",
			[]string{`:5:18: zones[0].cameras[0].polygon: a polygon needs at least 3 points, has 2`}},
		{"outside frame and bad point", "zones:\n  - id: a\n    cameras:\n      - camera: c\n        polygon: [[0,0],[1.5,0],[1,1],[0.5]]\n",
			[]string{`:5:25: zones[0].cameras[0].polygon[1]: point [1.5, 0] is outside the frame`, `:5:39: zones[0].cameras[0].polygon[3]: a point is [x, y], got 1`}},
		{"coordinate not a number", "zones:\n  - id: a\n    cameras:\n      - camera: c\n        polygon: [[0,0],[1,a],[1,1]]\n",
			[]string{`:5:28: zones[0].cameras[0].polygon[1][1]: must be a number, got string "a"`}},
		{"self-intersecting bow tie", "zones:\n  - id: a\n    cameras:\n      - camera: c\n        polygon: [[0,0],[1,1],[1,0],[0,1]]\n",
			[]string{`polygon crosses itself`}},
		{"collinear", "zones:\n  - id: a\n    cameras:\n      - camera: c\n        polygon: [[0,0],[0.5,0.5],[1,1]]\n",
			[]string{`polygon has no area`}},
		{"repeated point", "zones:\n  - id: a\n    cameras:\n      - camera: c\n        polygon: [[0,0],[1,0],[1,0],[1,1]]\n",
			[]string{`points 1 and 2 are the same point`}},
		{"duplicate ids and cameras", "zones:\n  - id: a\n    cameras:\n      - camera: c\n        polygon: [[0,0],[1,0],[1,1]]\n      - camera: c\n        polygon: [[0,0],[1,0],[1,1]]\n  - id: a\n    cameras:\n      - camera: c\n        polygon: [[0,0],[1,0],[1,1]]\n",
			[]string{`:6:17: zones[0].cameras[1].camera: camera "c" already listed`, `:8:9: zones[1].id: duplicate zone id "a" (first at line 2)`}},
		{"duplicate key", "zones:\n  - id: a\n    id: b\n    cameras:\n      - camera: c\n        polygon: [[0,0],[1,0],[1,1]]\n",
			[]string{`:3:5: zones[0].id: field "id" given twice`}},
		{"missing fields and bad id", "zones:\n  - name: x\n  - id: 'bad id'\n    cameras: []\n",
			[]string{`:2:5: zones[0]: missing required field "id"`, `missing required field "cameras"`, `zones[1].id: zone id "bad id" must match`, `zones[1].cameras: must list at least one camera`}},
		{"numeric id must be quoted", "zones:\n  - id: 2\n    cameras:\n      - camera: c\n        polygon: [[0,0],[1,0],[1,1]]\n",
			[]string{`zones[0].id: must be a string, got int 2`}},
		{"anchors only where fields may be", "p: &p [[0,0],[1,0],[1,1]]\nzones:\n  - id: a\n    cameras:\n      - camera: c\n        polygon: *p\n",
			[]string{`:1:1: p: unknown field "p"`}},
		{"errors in an aliased node are where it is written", "zones:\n  - id: a\n    cameras:\n      - camera: c\n        polygon: &p [[0,0],[1,0],[2,1]]\n      - camera: d\n        polygon: *p\n",
			[]string{`:5:34: zones[0].cameras[0].polygon[2]: point [2, 1] is outside the frame`, `:5:34: zones[0].cameras[1].polygon[2]: point [2, 1] is outside the frame`}},
		{"bad classes", "classes: [person]\nzones:\n  - id: a\n    cameras:\n      - camera: c\n        polygon: [[0,0],[1,0],[1,1]]\n",
			[]string{`:1:11: classes[0]: must be an integer, got string "person"`}},
		{"class ids out of range", "classes: [1, -1, 2147483648]\nzones:\n  - id: a\n    cameras:\n      - camera: c\n        polygon: [[0,0],[1,0],[1,1]]\n",
			[]string{`classes[1]: must be a class id between 0 and 2^31-1, got -1`, `classes[2]: must be a class id between 0 and 2^31-1, got 2147483648`}},
		{"no classes", "classes: []\nzones:\n  - id: a\n    cameras:\n      - camera: c\n        polygon: [[0,0],[1,0],[1,1]]\n",
			[]string{`:1:10: classes: must list at least one class id`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("zones.yaml", []byte(tt.yaml))
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			var es yamlfile.Errors
			if !errors.As(err, &es) {
				t.Fatalf("err is %T, want yamlfile.Errors", err)
			}
			if len(es) != len(tt.want) {
				t.Fatalf("got %d problems, want %d:\n%v", len(es), len(tt.want), err)
			}
			for i, w := range tt.want {
				if s := es[i].Error(); !strings.Contains(s, w) {
					t.Errorf("problem %d = %q, want it to contain %q", i, s, w)
				}
				if !errors.Is(es[i], ErrInvalid) {
					t.Errorf("problem %d does not match ErrInvalid: %v", i, es[i])
				}
			}
		})
	}
}

func TestParseDefaults(t *testing.T) {
	f, err := Parse("z", []byte("zones:\n  - id: a\n    cameras:\n      - camera: c\n        polygon: [[0,0],[1,0],[1,1]]\n"))
	if err != nil {
		t.Fatal(err)
	}
	z := f.Zones[0]
	if z.Name != "a" || z.Combine != CombineMax || z.Anchor != AnchorBottomCenter || len(f.Classes) != 1 || f.Classes[0] != 0 {
		t.Errorf("defaults not applied: %+v classes %v", z, f.Classes)
	}
}

func TestParseAliases(t *testing.T) {
	f, err := Parse("z", []byte("zones:\n  - id: a\n    cameras:\n      - camera: c\n        polygon: &p [[0,0],[1,0],[1,1]]\n  - id: b\n    combine: sum\n    cameras:\n      - camera: c\n        polygon: *p\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Zones) != 2 || len(f.Zones[1].Views) != 1 || len(f.Zones[1].Views[0].Polygon) != 3 || f.Zones[1].Views[0].Polygon[1] != (Point{1, 0}) {
		t.Errorf("aliased polygon not read: %+v", f.Zones)
	}
}

// TestParseErrorKinds: each problem keeps its own kind besides ErrInvalid.
func TestParseErrorKinds(t *testing.T) {
	for _, tt := range []struct {
		yaml string
		kind error
	}{
		{"zones: [\n", yamlfile.ErrSyntax},
		{"zone: []\n", yamlfile.ErrUnknownField},
		{"zones: {}\n", yamlfile.ErrType},
		{"zones: [{id: a}]\n", yamlfile.ErrMissing},
		{"zones: [{id: a, cameras: [{camera: c, polygon: [[0,0],[1,0],[1,1]]}]}, {id: a, cameras: [{camera: c, polygon: [[0,0],[1,0],[1,1]]}]}]\n", yamlfile.ErrDuplicate},
	} {
		_, err := Parse("z", []byte(tt.yaml))
		if !errors.Is(err, tt.kind) || !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: err %v, want it to match %v and ErrInvalid", tt.yaml, err, tt.kind)
		}
	}
}

func TestDeployZonesFile(t *testing.T) {
	f, err := Load("../../deploy/zones.yaml")
	if err != nil {
		t.Fatal(err)
	}
	z := NewZoner(f)
	if got := z.Cameras(); len(got) != 1 || got[0] != "vtest" {
		t.Fatalf("cameras = %v", got)
	}
	// Feet positions read off frame 400 of vtest.avi (x, y in pixels of 768x576).
	feet := []struct {
		x, y float32
		zone string
	}{
		{290, 282, "walkway"}, {603, 202, "crossing"}, {715, 405, "walkway"}, {200, 500, "lawn"}, {512, 230, "crossing"},
	}
	for _, p := range feet {
		x, y := p.x/768, p.y/576
		got := z.Count(&schemas.Detections{CameraID: "vtest", Boxes: []schemas.Box{{Score: 0.9, X1: x - 0.03, Y1: y - 0.15, X2: x + 0.03, Y2: y}}})
		var in []string
		for _, zc := range got {
			if zc.Count > 0 {
				in = append(in, zc.ZoneID)
			}
		}
		if len(in) != 1 || in[0] != p.zone {
			t.Errorf("feet at (%v,%v) px are in %v, want [%s]", p.x, p.y, in, p.zone)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(square))
	if b, err := os.ReadFile("../../deploy/zones.yaml"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("zones:\n  - id: a\n    cameras:\n      - camera: c\n        polygon: [[0,0],[1,1],[1,0],[0,1]]\n"))
	f.Add([]byte("classes: [0, 1]\nzones: [{id: x, combine: sum, cameras: [{camera: c, polygon: [[0,0],[1,0],[1,1]]}]}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse("fuzz.yaml", data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not match ErrInvalid: %v", err)
			}
			if file != nil {
				t.Fatal("file returned with an error")
			}
			return
		}
		for _, z := range file.Zones {
			if z.ID == "" || len(z.Views) == 0 {
				t.Fatalf("accepted zone without id or cameras: %+v", z)
			}
			for _, v := range z.Views {
				if len(v.Polygon) < 3 || v.Polygon.check() != "" {
					t.Fatalf("accepted bad polygon %v", v.Polygon)
				}
			}
		}
		NewZoner(file).Count(&schemas.Detections{CameraID: "c", Boxes: []schemas.Box{{Score: 1, X1: 0.1, Y1: 0.1, X2: 0.9, Y2: 0.9}}})
	})
}
