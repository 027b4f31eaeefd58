package schemas

import (
	"encoding/binary"
	"encoding/hex"
	"testing"
)

// TestFingerprintsPinned pins the single-object header bytes (CRC-64-AVRO of
// the parsing canonical form, little-endian) of every released version, as
// computed by fastavro (fastavro.schema.fingerprint of
// to_parsing_canonical_form; see interop/avro_interop.py; Apache Avro for
// Java computes the same, or TestInteropJava could not find the writer
// schemas of Corb's records). It fails when a
// released .avsc is edited in a way that changes its canonical form, and when
// the fingerprint computation diverges from the spec again (goavro#174).
func TestFingerprintsPinned(t *testing.T) {
	want := map[string]string{
		"corb.Command.v1":       "2413132aa52188c3",
		"corb.Command.v2":       "65d4b7a85cb73580",
		"corb.Detections.v1":    "e4b92d2160e50efc",
		"corb.Frame.v1":         "c878106451a4b990",
		"corb.PresenceEvent.v1": "8870a5c349800dcc",
		"corb.ZoneCounts.v1":    "e8abbd11c2fa38a5",
	}
	reg, err := registryOrErr()
	if err != nil {
		t.Fatal(err)
	}
	if len(reg.byNameVersion) != len(want) {
		t.Errorf("%d registered versions, %d pinned: pin the new version's fingerprint here", len(reg.byNameVersion), len(want))
	}
	for key, v := range reg.byNameVersion {
		got := hex.EncodeToString(binary.LittleEndian.AppendUint64(nil, v.codec.Rabin))
		if got != want[key] {
			t.Errorf("%s: header fingerprint %s, want %s", key, got, want[key])
		}
	}
}

func TestWireSchemaDropsLogicalTypes(t *testing.T) {
	got, err := wireSchema(`{"type":"record","name":"R","fields":[
		{"name":"t","type":{"type":"long","logicalType":"timestamp-micros"}},
		{"name":"o","type":["null",{"type":"long","logicalType":"timestamp-millis"}],"default":null},
		{"name":"f","type":{"type":"fixed","name":"F","size":16,"logicalType":"uuid"}}]}`)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"fields":[{"name":"t","type":"long"},{"default":null,"name":"o","type":["null","long"]},{"name":"f","type":{"name":"F","size":16,"type":"fixed"}}],"name":"R","type":"record"}`
	if got != want {
		t.Fatalf("wireSchema =\n%s\nwant\n%s", got, want)
	}
}
