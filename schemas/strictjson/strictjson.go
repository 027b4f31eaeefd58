// Package strictjson decodes the JSON values Corb keeps in compacted topics
// and state files (views, operator state) strictly: a field the Go type does
// not have, a second value after the first, or a malformed value is an error,
// so a record written by another version is noticed instead of half-read.
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
)

// ErrTrailing is returned for data that holds more than one JSON value.
var ErrTrailing = errors.New("trailing data after the JSON value")

// Decode decodes the one JSON value in data into v (a pointer), refusing
// unknown fields and trailing data. Callers wrap the error with their own
// sentinel.
func Decode(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return ErrTrailing
	}
	return nil
}
