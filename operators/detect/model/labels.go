package model

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// NumCOCOClasses is the number of classes of the COCO-80 label set.
const NumCOCOClasses = 80

// cocoLabels is read-only: it is only ever indexed by COCOLabel and ClassID.
var cocoLabels = [NumCOCOClasses]string{
	"person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
	"traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat",
	"dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack",
	"umbrella", "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball",
	"kite", "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket",
	"bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
	"sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair",
	"couch", "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse",
	"remote", "keyboard", "cell phone", "microwave", "oven", "toaster", "sink",
	"refrigerator", "book", "clock", "vase", "scissors", "teddy bear", "hair drier",
	"toothbrush",
}

// COCOLabel returns the COCO-80 label of class id, or "class_<id>" outside 0..79.
func COCOLabel(id int) string {
	if id < 0 || id >= NumCOCOClasses {
		return "class_" + strconv.Itoa(id)
	}
	return cocoLabels[id]
}

// ErrUnknownClass is returned by ParseClasses for a name that is not a COCO-80
// label nor a class id in 0..79.
var ErrUnknownClass = errors.New("unknown class")

// ClassFilter says which class ids are kept. The zero value keeps nothing;
// use ParseClasses or AllClasses.
type ClassFilter struct {
	keep [NumCOCOClasses]bool
	all  bool
}

// AllClasses keeps every class.
func AllClasses() ClassFilter { return ClassFilter{all: true} }

// ParseClasses builds a filter from COCO labels ("person", "dog") or class ids
// ("0", "16"), case-insensitive; "*" or "all" keeps every class. An empty list
// means person only, the detector's default.
func ParseClasses(names []string) (ClassFilter, error) {
	var f ClassFilter
	if len(names) == 0 {
		f.keep[0] = true
		return f, nil
	}
	for _, raw := range names {
		n := strings.ToLower(strings.TrimSpace(raw))
		if n == "*" || n == "all" {
			return AllClasses(), nil
		}
		id, err := ClassID(n)
		if err != nil {
			return ClassFilter{}, err
		}
		f.keep[id] = true
	}
	return f, nil
}

// ClassID resolves a COCO label or a decimal class id to the class id.
func ClassID(name string) (int, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	if id, err := strconv.Atoi(n); err == nil {
		if id < 0 || id >= NumCOCOClasses {
			return 0, fmt.Errorf("%w: class id %d (COCO ids are 0..79)", ErrUnknownClass, id)
		}
		return id, nil
	}
	for i, l := range cocoLabels {
		if l == n {
			return i, nil
		}
	}
	return 0, fmt.Errorf("%w: %q is not a COCO-80 label nor a class id", ErrUnknownClass, name)
}

// Keeps reports whether class id passes the filter.
func (f ClassFilter) Keeps(id int) bool {
	if f.all {
		return id >= 0
	}
	return id >= 0 && id < NumCOCOClasses && f.keep[id]
}

// IDs lists the kept class ids in ascending order (all 80 for AllClasses).
func (f ClassFilter) IDs() []int {
	var ids []int
	for i := range NumCOCOClasses {
		if f.Keeps(i) {
			ids = append(ids, i)
		}
	}
	return ids
}
