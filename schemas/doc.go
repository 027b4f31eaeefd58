// Package schemas holds the Avro schemas of every record on Corb's topics and
// their typed Go codecs.
//
// # Wire format
//
// Records travel in Avro single-object encoding: the two bytes 0xC3 0x01, the
// 8-byte little-endian CRC-64-AVRO (Rabin) fingerprint of the writer schema's
// parsing canonical form, then the Avro binary body. The schemas are the
// embedded files avsc/<full name>.v<version>.avsc, namespace "corb".
//
// The codecs are goavro's, built from each schema with its logical types
// removed (which the parsing canonical form drops anyway): goavro v2.15.0
// computes a non-standard canonical form for logical types
// (linkedin/goavro#174), so its fingerprints would not match those of Java or
// fastavro. TestFingerprintsPinned pins the fingerprints fastavro computes. The
// integration tests in interop_test.go exchange records with fastavro both
// ways, and have Apache Avro for Java, the reference implementation, decode
// every golden vector and sample byte-exact and resolve old versions to the
// current one as the upgrades in Go do (interop/AvroInterop.java).
//
// Operators only ever see the typed structs (Frame, Detections, ZoneCounts,
// PresenceEvent, Command); map[string]any stays inside this package, Fields
// being the one exception (for topology match patterns).
//
// # Command ids
//
// A Command's ID is derived from its Cause (CommandID, NewCommand, Child), so
// a redelivered cause yields the same id and handlers are idempotent by id;
// Command's doc states the rule.
//
// # Units
//
//   - Timestamps (time.Time fields) are Avro long with logicalType
//     timestamp-micros: microseconds since the Unix epoch, UTC. Sub-microsecond
//     precision is truncated and decoded times are in UTC. The zero time.Time is
//     written as its instant (0001-01-01T00:00:00Z) and decodes back to the zero
//     value, except PresenceEvent.OccupiedSince, whose zero value is null on the wire.
//   - Durations are plain Avro longs with the unit in the field name:
//     Detections.InferenceTime is inference_time_us (microseconds),
//     PresenceEvent.Duration is duration_ms (milliseconds). Finer precision is
//     truncated. Negative durations are invalid.
//   - Empty []byte and slices decode as nil.
//
// # Validation
//
// Marshal refuses records that would be corrupt or meaningless on the wire
// (unknown enum values, negative sizes or counts, RAW_BGR images whose length
// is not width*height*3, more than one Command argument set, arguments that do
// not belong to CommandType, a Command id not derived from its cause, a
// subscription to no zone, strings that are not UTF-8, timestamps outside the
// range of int64 microseconds) with an error wrapping ErrInvalid. Unmarshal
// applies the same checks to what it decodes, so every record that decodes can
// be marshalled again. Before goavro decodes a body, a scan along the writer
// schema (prescan.go) rejects truncation, bad union and enum indexes and array
// block counts that cannot fit in the remaining bytes, so hostile input cannot
// make goavro allocate gigabytes.
//
// # Schema evolution
//
// A released .avsc file is never edited. A change adds the next version, e.g.
// avsc/corb.Frame.v2.avsc, changes the Go struct, makes v2 the version Marshal
// writes (the one with an encoder in releasedVersions) and turns the decoder of
// every older version into an upgrade: a Go function from that version's
// decoded fields to the current struct. goavro cannot resolve a reader schema
// against a different writer schema, so every version's codec stays
// registered under its fingerprint and the upgrade happens in Go. Fields a
// version adds get defaults in its .avsc, and the upgrade fills them with
// those defaults, as Avro's own resolution does, so that Java readers with the
// new schema see what Corb sees (corb.Command v1 → v2, checked by
// TestInteropJava). Each version keeps a golden vector in testdata/ that
// must keep decoding (go test -run TestGolden; -update rewrites the vectors of
// the current versions only).
package schemas
