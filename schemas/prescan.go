package schemas

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
)

// Before goavro decodes a body, prescan walks it along the writer schema
// without allocating. goavro sizes an array from its block count before it reads
// any item (make([]any, 0, count) with count up to 2^31-1), so 20 bytes of
// outside input could make the process die with a fatal out-of-memory error.
// prescan rejects a block count that cannot fit in the remaining bytes, and
// reports truncation, bad union and enum indexes, negative lengths and
// trailing bytes with this package's typed errors.

// maxZeroSizeItems caps array blocks whose items may take no bytes (null, empty record).
const maxZeroSizeItems = 1 << 16

// maxDepth bounds nesting (recursive schemas) during the scan.
const maxDepth = 64

type shape struct {
	kind    string   // primitive name, "record", "enum", "array", "map", "union", "fixed"
	parts   []*shape // record fields, union branches
	items   *shape   // array items, map values
	size    int      // fixed size; enum symbol count
	minSize int      // fewest bytes an encoded value takes (computed after compile)
}

// compileShape builds the shape of a schema (JSON text).
func compileShape(schema string) (*shape, error) {
	var v any
	if err := json.Unmarshal([]byte(schema), &v); err != nil {
		return nil, err
	}
	named := map[string]*shape{}
	s, err := compileAny(v, "", named)
	if err != nil {
		return nil, err
	}
	computeMin(s, map[*shape]bool{})
	return s, nil
}

func fullName(name, namespace string) string {
	if strings.Contains(name, ".") || namespace == "" {
		return name
	}
	return namespace + "." + name
}

func compileAny(v any, ns string, named map[string]*shape) (*shape, error) {
	switch x := v.(type) {
	case string:
		if isPrimitive(x) {
			return &shape{kind: x}, nil
		}
		if s, ok := named[fullName(x, ns)]; ok {
			return s, nil
		}
		if s, ok := named[x]; ok {
			return s, nil
		}
		return nil, fmt.Errorf("unknown type %q", x)
	case []any:
		u := &shape{kind: "union"}
		for _, b := range x {
			s, err := compileAny(b, ns, named)
			if err != nil {
				return nil, err
			}
			u.parts = append(u.parts, s)
		}
		return u, nil
	case map[string]any:
		t, _ := x["type"].(string)
		name, _ := x["name"].(string)
		if n, ok := x["namespace"].(string); ok && (t == "record" || t == "enum" || t == "fixed") {
			ns = n
		}
		switch t {
		case "record", "error":
			s := &shape{kind: "record"}
			full := fullName(name, ns)
			named[full] = s
			if i := strings.LastIndex(full, "."); i >= 0 {
				ns = full[:i]
			}
			fields, _ := x["fields"].([]any)
			for _, f := range fields {
				fm, ok := f.(map[string]any)
				if !ok {
					return nil, fmt.Errorf("record %s: bad field", full)
				}
				fs, err := compileAny(fm["type"], ns, named)
				if err != nil {
					return nil, err
				}
				s.parts = append(s.parts, fs)
			}
			return s, nil
		case "enum":
			syms, _ := x["symbols"].([]any)
			s := &shape{kind: "enum", size: len(syms)}
			named[fullName(name, ns)] = s
			return s, nil
		case "fixed":
			size, _ := x["size"].(float64)
			s := &shape{kind: "fixed", size: int(size)}
			named[fullName(name, ns)] = s
			return s, nil
		case "array":
			it, err := compileAny(x["items"], ns, named)
			if err != nil {
				return nil, err
			}
			return &shape{kind: "array", items: it}, nil
		case "map":
			it, err := compileAny(x["values"], ns, named)
			if err != nil {
				return nil, err
			}
			return &shape{kind: "map", items: it}, nil
		default:
			return compileAny(x["type"], ns, named)
		}
	}
	return nil, fmt.Errorf("bad schema %T", v)
}

// computeMin fills minSize; a shape met again while being computed
// (recursion) counts as 0, which is conservative.
func computeMin(s *shape, busy map[*shape]bool) int {
	if busy[s] {
		return s.minSize
	}
	busy[s] = true
	switch s.kind {
	case "null":
		s.minSize = 0
	case "boolean", "int", "long", "bytes", "string", "enum", "array", "map":
		s.minSize = 1
	case "float":
		s.minSize = 4
	case "double":
		s.minSize = 8
	case "fixed":
		s.minSize = s.size
	case "record":
		n := 0
		for _, p := range s.parts {
			n += computeMin(p, busy)
		}
		s.minSize = n
	case "union":
		m := math.MaxInt
		for _, p := range s.parts {
			m = min(m, computeMin(p, busy))
		}
		s.minSize = 1 + m
	}
	if s.items != nil {
		computeMin(s.items, busy)
	}
	return s.minSize
}

type scanner struct {
	b []byte
}

func (sc *scanner) long() (int64, error) {
	var v uint64
	for i := 0; i < 10; i++ {
		if len(sc.b) == 0 {
			return 0, fmt.Errorf("%w: body ends inside a number", ErrShort)
		}
		c := sc.b[0]
		sc.b = sc.b[1:]
		v |= uint64(c&0x7f) << (7 * i)
		if c&0x80 == 0 {
			return int64(v>>1) ^ -int64(v&1), nil
		}
	}
	return 0, fmt.Errorf("%w: number longer than 10 bytes", ErrInvalid)
}

func (sc *scanner) skip(n int64, what string) error {
	if n < 0 {
		return fmt.Errorf("%w: negative %s length %d", ErrInvalid, what, n)
	}
	if n > int64(len(sc.b)) {
		return fmt.Errorf("%w: %s of %d bytes, %d left", ErrShort, what, n, len(sc.b))
	}
	sc.b = sc.b[n:]
	return nil
}

func (sc *scanner) value(s *shape, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("%w: nested deeper than %d", ErrInvalid, maxDepth)
	}
	switch s.kind {
	case "null":
		return nil
	case "boolean":
		if len(sc.b) == 0 {
			return fmt.Errorf("%w: body ends before a boolean", ErrShort)
		}
		if sc.b[0] > 1 {
			return fmt.Errorf("%w: boolean byte %d", ErrInvalid, sc.b[0])
		}
		sc.b = sc.b[1:]
		return nil
	case "int":
		n, err := sc.long()
		if err == nil && (n < math.MinInt32 || n > math.MaxInt32) {
			err = fmt.Errorf("%w: int %d out of range", ErrInvalid, n)
		}
		return err
	case "long":
		_, err := sc.long()
		return err
	case "float":
		return sc.skip(4, "float")
	case "double":
		return sc.skip(8, "double")
	case "fixed":
		return sc.skip(int64(s.size), "fixed")
	case "bytes", "string":
		n, err := sc.long()
		if err != nil {
			return err
		}
		return sc.skip(n, s.kind)
	case "enum":
		n, err := sc.long()
		if err == nil && (n < 0 || n >= int64(s.size)) {
			err = fmt.Errorf("%w: enum index %d, %d symbols", ErrInvalid, n, s.size)
		}
		return err
	case "union":
		n, err := sc.long()
		if err != nil {
			return err
		}
		if n < 0 || n >= int64(len(s.parts)) {
			return fmt.Errorf("%w: union index %d, %d branches", ErrInvalid, n, len(s.parts))
		}
		return sc.value(s.parts[n], depth+1)
	case "record":
		for _, p := range s.parts {
			if err := sc.value(p, depth+1); err != nil {
				return err
			}
		}
		return nil
	case "array", "map":
		return sc.blocks(s, depth)
	}
	return fmt.Errorf("%w: unknown schema kind %q", ErrInvalid, s.kind)
}

func (sc *scanner) blocks(s *shape, depth int) error {
	itemMin := s.items.minSize
	if s.kind == "map" {
		itemMin++ // the key
	}
	for {
		count, err := sc.long()
		if err != nil {
			return err
		}
		if count == 0 {
			return nil
		}
		if count < 0 {
			if count == math.MinInt64 {
				return fmt.Errorf("%w: %s block count %d", ErrInvalid, s.kind, count)
			}
			count = -count
			size, err := sc.long()
			if err != nil {
				return err
			}
			if size < 0 || size > int64(len(sc.b)) {
				return fmt.Errorf("%w: %s block size %d, %d bytes left", ErrInvalid, s.kind, size, len(sc.b))
			}
		}
		if itemMin > 0 && count > int64(len(sc.b)/itemMin) {
			return fmt.Errorf("%w: %s block of %d items cannot fit in %d bytes", ErrInvalid, s.kind, count, len(sc.b))
		}
		if itemMin == 0 && count > maxZeroSizeItems {
			return fmt.Errorf("%w: %s block of %d items", ErrInvalid, s.kind, count)
		}
		for range count {
			if s.kind == "map" {
				n, err := sc.long()
				if err != nil {
					return err
				}
				if err := sc.skip(n, "map key"); err != nil {
					return err
				}
			}
			if err := sc.value(s.items, depth+1); err != nil {
				return err
			}
		}
	}
}

// prescan checks body (the bytes after the single-object header) against s.
func prescan(s *shape, body []byte) error {
	sc := scanner{b: body}
	if err := sc.value(s, 0); err != nil {
		return err
	}
	if len(sc.b) != 0 {
		return fmt.Errorf("%w: %d bytes after the record", ErrTrailingBytes, len(sc.b))
	}
	return nil
}
