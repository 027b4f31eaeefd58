package schemas

import (
	"bytes"
	"fmt"
	"math"
	"time"
	"unicode/utf8"
)

// fieldReader reads typed values out of a goavro native record map. The first
// type mismatch is kept in err (wrapping ErrInvalid); later reads return zero values.
type fieldReader struct {
	rec string
	m   map[string]any
	err error
}

func (r *fieldReader) fail(field, want string, got any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s.%s: want %s, got %T", ErrInvalid, r.rec, field, want, got)
	}
}

func (r *fieldReader) str(field string) string {
	v, ok := r.m[field].(string)
	if !ok {
		r.fail(field, "string", r.m[field])
		return ""
	}
	if !utf8.ValidString(v) {
		if r.err == nil {
			r.err = fmt.Errorf("%w: %s.%s: string is not UTF-8", ErrInvalid, r.rec, field)
		}
		return ""
	}
	return v
}

// get is the field as a T, or the zero T with the first error recorded
// (avroType names what the schema says the field is).
func get[T any](r *fieldReader, field, avroType string) T {
	v, ok := r.m[field].(T)
	if !ok {
		r.fail(field, avroType, r.m[field])
	}
	return v
}

func (r *fieldReader) i32(field string) int32 { return get[int32](r, field, "int") }

func (r *fieldReader) i64(field string) int64 { return get[int64](r, field, "long") }

func (r *fieldReader) f32(field string) float32 { return get[float32](r, field, "float") }

func (r *fieldReader) f64(field string) float64 { return get[float64](r, field, "double") }

func (r *fieldReader) boolean(field string) bool { return get[bool](r, field, "boolean") }

// bytes returns a copy (goavro aliases the input buffer); empty is nil.
func (r *fieldReader) bytes(field string) []byte {
	v, ok := r.m[field].([]byte)
	if !ok {
		r.fail(field, "bytes", r.m[field])
		return nil
	}
	if len(v) == 0 {
		return nil
	}
	return bytes.Clone(v)
}

// timestamp reads a timestamp-micros long as a UTC time.
func (r *fieldReader) timestamp(field string) time.Time {
	v, ok := r.m[field].(int64)
	if !ok {
		r.fail(field, "timestamp-micros long", r.m[field])
		return time.Time{}
	}
	return time.UnixMicro(v).UTC()
}

// optTimestamp reads a ["null", timestamp-micros] union; null is the zero time.
func (r *fieldReader) optTimestamp(field string) time.Time {
	switch u := r.m[field].(type) {
	case nil:
		return time.Time{}
	case map[string]any:
		us, ok := u["long"].(int64)
		if ok && len(u) == 1 {
			return time.UnixMicro(us).UTC()
		}
	}
	r.fail(field, "null or timestamp-micros", r.m[field])
	return time.Time{}
}

// nested reads the record m (Avro type rec) with read, keeping the first
// error in r.
func (r *fieldReader) nested(rec string, m map[string]any, read func(*fieldReader)) {
	sub := &fieldReader{rec: rec, m: m}
	read(sub)
	if sub.err != nil && r.err == nil {
		r.err = sub.err
	}
}

func (r *fieldReader) array(field string) []any {
	v, ok := r.m[field].([]any)
	if !ok {
		r.fail(field, "array", r.m[field])
	}
	return v
}

// union reads a union of null and named records: the branch's full name and
// its fields, or "" and nil for null.
func (r *fieldReader) union(field string) (string, map[string]any) {
	switch u := r.m[field].(type) {
	case nil:
		return "", nil
	case map[string]any:
		if len(u) == 1 {
			for branch, v := range u {
				if m, ok := v.(map[string]any); ok {
					return branch, m
				}
			}
		}
	}
	r.fail(field, "union of null and records", r.m[field])
	return "", nil
}

// micros converts t to microseconds since the Unix epoch (truncating), and
// reports whether that fits in an int64.
func micros(t time.Time) (int64, bool) {
	sec := t.Unix()
	us := int64(t.Nanosecond() / 1000) // 0..999999
	if sec >= 0 {
		if sec > math.MaxInt64/1_000_000 {
			return 0, false
		}
		base := sec * 1_000_000
		if base > math.MaxInt64-us {
			return 0, false
		}
		return base + us, true
	}
	// sec < 0: count from the next second down, so that the sub-second part is negative.
	s1 := sec + 1
	if s1 < math.MinInt64/1_000_000 {
		return 0, false
	}
	base := s1 * 1_000_000
	d := us - 1_000_000 // -1e6..-1
	if base < math.MinInt64-d {
		return 0, false
	}
	return base + d, true
}

// check accumulates validation failures as errors wrapping ErrInvalid.
type check struct {
	rec string
	err error
}

func (c *check) failf(format string, args ...any) {
	if c.err == nil {
		c.err = fmt.Errorf("%w: %s: %s", ErrInvalid, c.rec, fmt.Sprintf(format, args...))
	}
}

func (c *check) utf8(field, s string) {
	if !utf8.ValidString(s) {
		c.failf("%s is not UTF-8", field)
	}
}

func (c *check) time(field string, t time.Time) {
	if _, ok := micros(t); !ok {
		c.failf("%s %v is outside the range of int64 microseconds since 1970", field, t)
	}
}

func (c *check) nonNegative(field string, n int64) {
	if n < 0 {
		c.failf("%s is negative (%d)", field, n)
	}
}

// duration reads a long counting units and converts it to a time.Duration,
// failing when it does not fit.
func (r *fieldReader) duration(field string, unit time.Duration) time.Duration {
	n := r.i64(field)
	if n > math.MaxInt64/int64(unit) || n < math.MinInt64/int64(unit) {
		if r.err == nil {
			r.err = fmt.Errorf("%w: %s.%s: %d does not fit a time.Duration in units of %v", ErrInvalid, r.rec, field, n, unit)
		}
		return 0
	}
	return time.Duration(n) * unit
}
