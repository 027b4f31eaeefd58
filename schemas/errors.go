package schemas

import "errors"

// Sentinel errors. Every error returned by this package wraps exactly one of
// them (with detail), so callers classify with errors.Is; the one exception is
// a failure to build the registry from the embedded schemas, a bug caught by
// this package's tests. All of them are permanent: retrying the same bytes or
// record gives the same error.
var (
	// ErrShort: the bytes end before the single-object header (10 bytes) or
	// before the Avro body is complete.
	ErrShort = errors.New("schemas: record too short")
	// ErrBadMagic: the bytes do not start with the single-object marker 0xC3 0x01.
	ErrBadMagic = errors.New("schemas: not Avro single-object encoded")
	// ErrUnknownFingerprint: no known schema version has the fingerprint in the header.
	ErrUnknownFingerprint = errors.New("schemas: unknown schema fingerprint")
	// ErrTrailingBytes: bytes are left over after the record's body.
	ErrTrailingBytes = errors.New("schemas: trailing bytes after record")
	// ErrWrongSchema: the bytes hold a different record than the destination
	// (e.g. a corb.Detections unmarshalled into a *Frame).
	ErrWrongSchema = errors.New("schemas: wrong record type")
	// ErrInvalid: a value is not allowed: bad enum symbol or union index,
	// negative or inconsistent length, invalid UTF-8, out-of-range time,
	// nil record, or a body that does not parse.
	ErrInvalid = errors.New("schemas: invalid record")
	// ErrUnknownSchema: no schema with that name (and version) is known, or a
	// Record type has no schema.
	ErrUnknownSchema = errors.New("schemas: unknown schema")
)
