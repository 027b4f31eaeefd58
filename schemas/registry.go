package schemas

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/linkedin/goavro/v2"
)

//go:embed avsc/*.avsc
var avscFiles embed.FS

// nativeForm says how the encoders present unions and timestamps: for goavro
// (wrapped unions, int64 microseconds) or for Fields (bare values, time.Time).
type nativeForm struct {
	union func(branch string, v any) any
	time  func(t time.Time) any
}

// optTime is a ["null", timestamp] union: null for the zero time.
func (f nativeForm) optTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return f.union("long", f.time(t))
}

// goavroForm is what the codecs (built without logical types) take.
func goavroForm() nativeForm {
	return nativeForm{
		union: goavro.Union,
		time: func(t time.Time) any {
			us, _ := micros(t) // range checked by validate
			return us
		},
	}
}

// fieldsForm is what Fields returns.
func fieldsForm() nativeForm {
	return nativeForm{
		union: func(_ string, v any) any { return v },
		time:  func(t time.Time) any { return t },
	}
}

// versionSpec describes one released schema version and its Go conversions.
type versionSpec struct {
	name    string // Avro full name, e.g. "corb.Frame"
	version int    // 1, 2, ...
	schema  string // the .avsc text

	// newRecord returns a zero value of the current Go struct for name.
	newRecord func() Record
	// decode converts a record decoded with this version's schema into dst
	// (a pointer to the current struct), upgrading old versions, and validates it.
	decode func(m map[string]any, dst Record) error
	// encode is set only on the current version of name: it validates r and
	// converts it to goavro's native form.
	encode func(r Record, form nativeForm) (map[string]any, error)
}

// schemaVersion is one registered version: its spec and its codec.
type schemaVersion struct {
	versionSpec
	// codec is built from the schema without logical types (see wireSchema).
	codec *goavro.Codec
	// shape checks a body before codec decodes it (see prescan).
	shape *shape
}

// registry maps fingerprints to codecs. It is immutable once built.
type registry struct {
	byFingerprint map[uint64]*schemaVersion
	current       map[string]*schemaVersion // name -> version Marshal writes
	byNameVersion map[string]*schemaVersion // "name.vN" -> version
	names         []string                  // sorted names of current versions
	fieldNames    map[string][]string       // name -> top-level fields of the current version
}

// defaultRegistry is built once, on first use, from the embedded schemas.
var defaultRegistry = sync.OnceValues(func() (*registry, error) {
	specs, err := releasedVersions()
	if err != nil {
		return nil, err
	}
	return newRegistry(specs)
})

func registryOrErr() (*registry, error) {
	r, err := defaultRegistry()
	if err != nil {
		return nil, fmt.Errorf("schemas: building registry: %w", err)
	}
	return r, nil
}

// embeddedSchema returns the text of avsc/<name>.v<version>.avsc.
func embeddedSchema(name string, version int) (string, error) {
	b, err := avscFiles.ReadFile(fmt.Sprintf("avsc/%s.v%d.avsc", name, version))
	if err != nil {
		return "", fmt.Errorf("%w: %s v%d: %v", ErrUnknownSchema, name, version, err)
	}
	return string(b), nil
}

func versionKey(name string, version int) string { return fmt.Sprintf("%s.v%d", name, version) }

// newRegistry builds codecs for specs and checks that they are consistent:
// the schema's full name matches the spec and the Go type, fingerprints are
// unique, and every name has exactly one current version, its highest.
func newRegistry(specs []versionSpec) (*registry, error) {
	r := &registry{
		byFingerprint: make(map[uint64]*schemaVersion, len(specs)),
		current:       make(map[string]*schemaVersion),
		byNameVersion: make(map[string]*schemaVersion, len(specs)),
		fieldNames:    make(map[string][]string),
	}
	highest := make(map[string]int)
	for _, s := range specs {
		if s.newRecord == nil || s.decode == nil {
			return nil, fmt.Errorf("%s v%d: missing decoder", s.name, s.version)
		}
		var head struct{ Name, Namespace string }
		if err := json.Unmarshal([]byte(s.schema), &head); err != nil {
			return nil, fmt.Errorf("%s v%d: %w", s.name, s.version, err)
		}
		full := head.Name
		if !strings.Contains(full, ".") && head.Namespace != "" {
			full = head.Namespace + "." + head.Name
		}
		if full != s.name {
			return nil, fmt.Errorf("%s v%d: schema declares %q", s.name, s.version, full)
		}
		if got := s.newRecord().SchemaName(); got != s.name {
			return nil, fmt.Errorf("%s v%d: Go type names %q", s.name, s.version, got)
		}
		wire, err := wireSchema(s.schema)
		if err != nil {
			return nil, fmt.Errorf("%s v%d: %w", s.name, s.version, err)
		}
		codec, err := goavro.NewCodec(wire)
		if err != nil {
			return nil, fmt.Errorf("%s v%d: %w", s.name, s.version, err)
		}
		sh, err := compileShape(wire)
		if err != nil {
			return nil, fmt.Errorf("%s v%d: %w", s.name, s.version, err)
		}
		v := &schemaVersion{versionSpec: s, codec: codec, shape: sh}
		if other, dup := r.byFingerprint[codec.Rabin]; dup {
			return nil, fmt.Errorf("%s v%d: same fingerprint as %s v%d", s.name, s.version, other.name, other.version)
		}
		key := versionKey(s.name, s.version)
		if _, dup := r.byNameVersion[key]; dup {
			return nil, fmt.Errorf("%s v%d: registered twice", s.name, s.version)
		}
		r.byFingerprint[codec.Rabin] = v
		r.byNameVersion[key] = v
		highest[s.name] = max(highest[s.name], s.version)
		if s.encode != nil {
			if _, dup := r.current[s.name]; dup {
				return nil, fmt.Errorf("%s: more than one version has an encoder", s.name)
			}
			r.current[s.name] = v
		}
	}
	for name, h := range highest {
		cur, ok := r.current[name]
		if !ok {
			return nil, fmt.Errorf("%s: no version has an encoder", name)
		}
		if cur.version != h {
			return nil, fmt.Errorf("%s: encoder is on v%d, highest version is v%d", name, cur.version, h)
		}
		r.names = append(r.names, name)
		var rec struct{ Fields []struct{ Name string } }
		if err := json.Unmarshal([]byte(cur.schema), &rec); err != nil {
			return nil, fmt.Errorf("%s v%d: %w", name, cur.version, err)
		}
		for _, f := range rec.Fields {
			r.fieldNames[name] = append(r.fieldNames[name], f.Name)
		}
	}
	slices.Sort(r.names)
	return r, nil
}

// lookup reads the single-object header of b and returns the version that wrote it.
func (r *registry) lookup(b []byte) (*schemaVersion, error) {
	if len(b) < 10 {
		return nil, fmt.Errorf("%w: %d bytes, the header alone needs 10", ErrShort, len(b))
	}
	if b[0] != 0xC3 || b[1] != 0x01 {
		return nil, fmt.Errorf("%w: starts with %#02x %#02x, want 0xc3 0x01", ErrBadMagic, b[0], b[1])
	}
	fp, _, err := goavro.FingerprintFromSOE(b)
	if err != nil { // unreachable after the checks above; kept classifiable
		return nil, fmt.Errorf("%w: %v", ErrBadMagic, err)
	}
	v, ok := r.byFingerprint[fp]
	if !ok {
		return nil, fmt.Errorf("%w: %016x", ErrUnknownFingerprint, fp)
	}
	return v, nil
}

// decodeNative decodes b, whose header says v wrote it, into goavro's native form.
func (r *registry) decodeNative(v *schemaVersion, b []byte) (map[string]any, error) {
	if err := prescan(v.shape, b[10:]); err != nil {
		return nil, fmt.Errorf("%s v%d body: %w", v.name, v.version, err)
	}
	native, rest, err := v.codec.NativeFromSingle(b)
	if err != nil {
		// goavro formats its errors with %s, so io.ErrShortBuffer survives only as text.
		if strings.Contains(err.Error(), io.ErrShortBuffer.Error()) || errors.Is(err, io.ErrShortBuffer) {
			return nil, fmt.Errorf("%w: %s v%d body: %v", ErrShort, v.name, v.version, err)
		}
		return nil, fmt.Errorf("%w: %s v%d body: %v", ErrInvalid, v.name, v.version, err)
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after %s v%d", ErrTrailingBytes, len(rest), v.name, v.version)
	}
	m, ok := native.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: %s v%d decoded to %T", ErrInvalid, v.name, v.version, native)
	}
	return m, nil
}

func (r *registry) marshal(rec Record) ([]byte, error) {
	if rec == nil {
		return nil, fmt.Errorf("%w: nil record", ErrInvalid)
	}
	v, ok := r.current[rec.SchemaName()]
	if !ok {
		return nil, fmt.Errorf("%w: %q (Go type %T)", ErrUnknownSchema, rec.SchemaName(), rec)
	}
	native, err := v.encode(rec, goavroForm())
	if err != nil {
		return nil, err
	}
	buf := make([]byte, 0, sizeHint(rec))
	out, err := v.codec.SingleFromNative(buf, native)
	if err != nil { // validation should have caught it; report it as invalid, never write it
		return nil, fmt.Errorf("%w: encoding %s v%d: %v", ErrInvalid, v.name, v.version, err)
	}
	return out, nil
}

func (r *registry) unmarshal(b []byte, dst Record) error {
	if dst == nil {
		return fmt.Errorf("%w: nil destination", ErrInvalid)
	}
	v, err := r.lookup(b)
	if err != nil {
		return err
	}
	if want := dst.SchemaName(); v.name != want {
		return fmt.Errorf("%w: bytes hold %s v%d, destination %T is %s", ErrWrongSchema, v.name, v.version, dst, want)
	}
	m, err := r.decodeNative(v, b)
	if err != nil {
		return err
	}
	return v.decode(m, dst)
}

func (r *registry) fields(b []byte) (map[string]any, error) {
	v, err := r.lookup(b)
	if err != nil {
		return nil, err
	}
	m, err := r.decodeNative(v, b)
	if err != nil {
		return nil, err
	}
	rec := v.newRecord()
	if err := v.decode(m, rec); err != nil {
		return nil, err
	}
	cur, ok := r.current[v.name]
	if !ok {
		return nil, fmt.Errorf("%w: no current version of %s", ErrUnknownSchema, v.name)
	}
	return cur.encode(rec, fieldsForm())
}

// sizeHint estimates the encoded size of r so that Marshal allocates once.
func sizeHint(r Record) int {
	const overhead = 256
	switch x := r.(type) {
	case *Frame:
		if x != nil {
			return overhead + len(x.Image) + len(x.CameraID) + len(x.Source)
		}
	case *Detections:
		if x != nil {
			return overhead + 40*len(x.Boxes)
		}
	}
	return overhead
}

// wireSchema returns the schema with every logical type replaced by its
// underlying type ({"type": "long", "logicalType": "timestamp-micros"}
// becomes "long"), for building the goavro codec.
//
// The Avro parsing canonical form, whose CRC-64-AVRO fingerprint goes in the
// single-object header, drops logical types, but goavro v2.15.0 renders such a
// type as {"type":"long"} instead of "long" (linkedin/goavro#174), so its
// fingerprints differ from those of Java, fastavro and the spec. Without
// logical types goavro's canonical form is right; the binary body is the same;
// and the conversions between time.Time and microseconds happen in this package.
func wireSchema(schema string) (string, error) {
	dec := json.NewDecoder(strings.NewReader(schema))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "", err
	}
	b, err := json.Marshal(stripLogicalTypes(v))
	if err != nil {
		return "", err
	}
	return string(b), nil
}

func stripLogicalTypes(v any) any {
	switch x := v.(type) {
	case map[string]any:
		if _, ok := x["logicalType"]; ok {
			if t, ok := x["type"].(string); ok && isPrimitive(t) {
				return t
			}
			delete(x, "logicalType") // on a named type (fixed): keep the type
		}
		for k, val := range x {
			if k != "default" { // a default is a value, not a schema
				x[k] = stripLogicalTypes(val)
			}
		}
	case []any:
		for i := range x {
			x[i] = stripLogicalTypes(x[i])
		}
	}
	return v
}

func isPrimitive(t string) bool {
	switch t {
	case "null", "boolean", "int", "long", "float", "double", "bytes", "string":
		return true
	}
	return false
}
