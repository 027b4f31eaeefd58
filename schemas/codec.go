package schemas

import "fmt"

// Marshal validates r and encodes it with the current version of its schema
// in Avro single-object encoding. r is *Frame, *Detections, *ZoneCounts,
// *PresenceEvent or *Command. Invalid values give an error wrapping
// ErrInvalid; a Record type without a schema gives ErrUnknownSchema.
func Marshal(r Record) ([]byte, error) {
	reg, err := registryOrErr()
	if err != nil {
		return nil, err
	}
	return reg.marshal(r)
}

// Unmarshal decodes the single-object-encoded record in b into r, a non-nil
// pointer to the struct of the record's type (*Frame, *Detections, ...).
// Records written with an older schema version are upgraded to the current
// struct. r is only modified on success. Errors wrap ErrShort, ErrBadMagic,
// ErrUnknownFingerprint, ErrTrailingBytes, ErrWrongSchema (b holds another
// record type) or ErrInvalid. The decoded record shares no memory with b.
func Unmarshal(b []byte, r Record) error {
	reg, err := registryOrErr()
	if err != nil {
		return err
	}
	return reg.unmarshal(b, r)
}

// NameOf returns the Avro full name of the record in b (e.g. "corb.Frame")
// from its single-object header alone; the body is not decoded.
func NameOf(b []byte) (string, error) {
	name, _, err := VersionOf(b)
	return name, err
}

// VersionOf returns the Avro full name and schema version of the record in b
// from its single-object header alone; the body is not decoded.
func VersionOf(b []byte) (name string, version int, err error) {
	reg, err := registryOrErr()
	if err != nil {
		return "", 0, err
	}
	v, err := reg.lookup(b)
	if err != nil {
		return "", 0, err
	}
	return v.name, v.version, nil
}

// Fields decodes the record in b (upgraded to the current version) into a
// generic map keyed by the current schema's Avro field names, for match
// patterns such as command_type == "send_sms"; a record of an old version has
// the same keys as a current one. Values: string, bool, int32, int64,
// float32, float64, []byte, time.Time (timestamps), enums as their symbol
// string, arrays as []any, nested records as map[string]any, and unions as
// the bare branch value (nil for null), e.g. fields["args"] of a send_sms
// command is map[string]any{"to": ..., "body": ...}.
func Fields(b []byte) (map[string]any, error) {
	reg, err := registryOrErr()
	if err != nil {
		return nil, err
	}
	return reg.fields(b)
}

// Known returns the full names of the records Corb can marshal, sorted, for
// topology validation. The slice is the caller's.
func Known() []string {
	reg, err := registryOrErr()
	if err != nil {
		return nil
	}
	return append([]string(nil), reg.names...)
}

// KnownFields returns, for every name in Known, the top-level Avro field names
// of its current version in schema order (the keys Fields returns), e.g.
// "corb.Command" → [id command_type zone_id channel sender issued_at cause
// correlation_id args].
// The map is the caller's. Meant for topology.WithSchemaFields.
func KnownFields() map[string][]string {
	reg, err := registryOrErr()
	if err != nil {
		return nil
	}
	out := make(map[string][]string, len(reg.fieldNames))
	for k, v := range reg.fieldNames {
		out[k] = append([]string(nil), v...)
	}
	return out
}

// Schema returns the .avsc text of version of the record named name (e.g.
// "corb.Frame", 1). Unknown names or versions give ErrUnknownSchema.
func Schema(name string, version int) (string, error) {
	reg, err := registryOrErr()
	if err != nil {
		return "", err
	}
	v, ok := reg.byNameVersion[versionKey(name, version)]
	if !ok {
		return "", fmt.Errorf("%w: %s v%d", ErrUnknownSchema, name, version)
	}
	return v.schema, nil
}

// CurrentVersion returns the schema version Marshal writes for name.
func CurrentVersion(name string) (int, error) {
	reg, err := registryOrErr()
	if err != nil {
		return 0, err
	}
	v, ok := reg.current[name]
	if !ok {
		return 0, fmt.Errorf("%w: %s", ErrUnknownSchema, name)
	}
	return v.version, nil
}
