//go:build integration

package schemas

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// tool returns what find (a script of the repository) prints on stdout, the
// path of a test tool it made. When it cannot, the test fails under CI=true
// and is skipped otherwise.
func tool(t *testing.T, what, script string, find func(out string) (string, error)) string {
	t.Helper()
	path, err := filepath.Abs(script)
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(path)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var found string
	if err == nil {
		found, err = find(strings.TrimSpace(string(out)))
	}
	if err != nil {
		msg := fmt.Sprintf("%s unavailable (%v; %s); make it with: %s", what, err, stderr.String(), script)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return found
}

// python returns the venv's python made by deploy/tools/venv.sh.
func python(t *testing.T) string {
	return tool(t, "Python venv with fastavro", filepath.Join("..", "deploy", "tools", "venv.sh"), func(bin string) (string, error) {
		py := filepath.Join(bin, "python")
		_, err := os.Stat(py)
		return py, err
	})
}

// avroJava returns the classpath of Apache Avro for Java that
// interop/avro-java.sh fetched.
func avroJava(t *testing.T) string {
	return tool(t, "Apache Avro for Java", filepath.Join("interop", "avro-java.sh"), func(libs string) (string, error) {
		if _, err := exec.LookPath("java"); err != nil {
			return "", err
		}
		return filepath.Join(libs, "*"), nil
	})
}

func runPython(t *testing.T, py string, stdin []byte, args ...string) []byte {
	t.Helper()
	full := append([]string{filepath.Join("interop", "avro_interop.py"), "--schemas", "avsc"}, args...)
	cmd := exec.Command(py, full...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", py, full, err, stderr.String())
	}
	return out
}

// neutral is the current version's wire contract written out by hand,
// independently of the codec's conversions: Avro field names, timestamps as int microseconds since
// the epoch, bytes as base64, unions of records as {"$type", "value"}.
func neutral(t *testing.T, r Record) map[string]any {
	t.Helper()
	b64 := func(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
	switch x := r.(type) {
	case *Frame:
		return map[string]any{
			"camera_id": x.CameraID, "source": x.Source, "seq": x.Seq,
			"capture_time": x.CaptureTime.UnixMicro(), "width": x.Width, "height": x.Height,
			"encoding": string(x.Encoding), "image": b64(x.Image),
		}
	case *Detections:
		boxes := []any{}
		for _, b := range x.Boxes {
			boxes = append(boxes, map[string]any{
				"class_id": b.ClassID, "label": b.Label, "score": float64(b.Score),
				"x1": float64(b.X1), "y1": float64(b.Y1), "x2": float64(b.X2), "y2": float64(b.Y2),
			})
		}
		return map[string]any{
			"camera_id": x.CameraID, "frame_seq": x.FrameSeq, "capture_time": x.CaptureTime.UnixMicro(),
			"model": x.Model, "model_version": x.ModelVersion, "frame_width": x.FrameWidth,
			"frame_height": x.FrameHeight, "boxes": boxes, "inference_time_us": x.InferenceTime.Microseconds(),
		}
	case *ZoneCounts:
		return map[string]any{
			"zone_id": x.ZoneID, "camera_id": x.CameraID, "frame_seq": x.FrameSeq,
			"capture_time": x.CaptureTime.UnixMicro(), "count": x.Count, "max_score": float64(x.MaxScore),
		}
	case *PresenceEvent:
		var since any
		if !x.OccupiedSince.IsZero() {
			since = x.OccupiedSince.UnixMicro()
		}
		return map[string]any{
			"event_id": x.EventID, "zone_id": x.ZoneID, "type": string(x.Type), "count": x.Count,
			"peak": x.Peak, "window_start": x.WindowStart.UnixMicro(), "window_end": x.WindowEnd.UnixMicro(),
			"occupied_since": since, "duration_ms": x.Duration.Milliseconds(), "event_time": x.EventTime.UnixMicro(),
		}
	case *Command:
		record := func(name string, fields map[string]any) map[string]any {
			return map[string]any{"$type": name, "value": fields}
		}
		optMicros := func(t time.Time) any {
			if t.IsZero() {
				return nil
			}
			return t.UnixMicro()
		}
		var cause, args any
		if !x.Cause.IsZero() {
			cause = record("corb.Cause", map[string]any{"kind": string(x.Cause.Kind), "id": x.Cause.ID, "purpose": x.Cause.Purpose})
		}
		switch {
		case x.Subscribe != nil:
			transitions := []any{}
			for _, tr := range x.Subscribe.Transitions {
				transitions = append(transitions, string(tr))
			}
			args = record("corb.SubscribeArgs", map[string]any{"all_zones": x.Subscribe.AllZones, "transitions": transitions,
				"once": x.Subscribe.Once, "subscriber": x.Subscribe.Subscriber})
		case x.Unsubscribe != nil:
			args = record("corb.UnsubscribeArgs", map[string]any{"all_zones": x.Unsubscribe.AllZones, "subscriber": x.Unsubscribe.Subscriber})
		case x.Help != nil:
			args = record("corb.HelpArgs", map[string]any{"topic": x.Help.Topic})
		case x.RequestCleaning != nil:
			a := x.RequestCleaning
			args = record("corb.RequestCleaningArgs", map[string]any{
				"reason": a.Reason, "visits": a.Visits, "person_minutes": a.PersonMinutes, "requested_by": a.RequestedBy,
				"peak": a.Peak, "occupied_ms": a.Occupied.Milliseconds(), "first_use": optMicros(a.FirstUse),
				"last_use": optMicros(a.LastUse), "policy": a.Policy, "cycle": a.Cycle,
			})
		case x.CleaningDone != nil:
			args = record("corb.CleaningDoneArgs", map[string]any{"by": x.CleaningDone.By})
		case x.SendSMS != nil:
			args = record("corb.SendSMSArgs", map[string]any{"to": x.SendSMS.To, "body": x.SendSMS.Body})
		case x.Text != nil:
			args = record("corb.TextArgs", map[string]any{"raw": x.Text.Raw})
		}
		return map[string]any{
			"id": x.ID, "command_type": x.CommandType, "zone_id": x.ZoneID, "channel": x.Channel,
			"sender": x.Sender, "issued_at": x.IssuedAt.UnixMicro(), "cause": cause,
			"correlation_id": x.CorrelationID, "args": args,
		}
	}
	t.Fatalf("no neutral form for %T", r)
	return nil
}

// jsonTree round-trips v through JSON so that numbers are json.Number on both sides.
func jsonTree(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out any
	if err := dec.Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// sameJSON compares decoded JSON trees; numbers compare as integers when both
// are integers, otherwise as float64 (Python writes 1.0 where Go writes 1).
func sameJSON(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k := range x {
			if !sameJSON(x[k], y[k]) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !sameJSON(x[i], y[i]) {
				return false
			}
		}
		return true
	case json.Number:
		y, ok := b.(json.Number)
		if !ok {
			return false
		}
		if xi, err := x.Int64(); err == nil {
			if yi, err := y.Int64(); err == nil {
				return xi == yi
			}
		}
		xf, err1 := x.Float64()
		yf, err2 := y.Float64()
		return err1 == nil && err2 == nil && xf == yf
	default:
		return reflect.DeepEqual(a, b)
	}
}

// TestInteropFastavro: records Corb writes are read by fastavro, which checks
// the header and fingerprint itself; records fastavro writes are read by Corb.
func TestInteropFastavro(t *testing.T) {
	py := python(t)
	records := sampleRecords()
	dir := t.TempDir()

	t.Run("corb writes, fastavro reads", func(t *testing.T) {
		var files []string
		for i, r := range records {
			b, err := Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(dir, fmt.Sprintf("go-%02d.bin", i))
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
			files = append(files, p)
		}
		out := runPython(t, py, nil, append([]string{"read"}, files...)...)
		eachLine(t, "fastavro", out, files, func(n int, line readLine) {
			r := records[n]
			cur, _ := CurrentVersion(r.SchemaName())
			if line.Name != r.SchemaName() || line.Version != cur {
				t.Errorf("%s: fastavro says %s v%d, want %s v%d", line.File, line.Name, line.Version, r.SchemaName(), cur)
			}
			got := jsonTree(t, json.RawMessage(line.Record))
			want := jsonTree(t, neutral(t, r))
			if !sameJSON(got, want) {
				t.Errorf("%s (%s): fastavro read\n %s\nwant\n %s", line.File, r.SchemaName(), line.Record, mustJSON(t, want))
			}
		})
	})

	t.Run("fastavro writes, corb reads", func(t *testing.T) {
		var in bytes.Buffer
		for i, r := range records {
			cur, _ := CurrentVersion(r.SchemaName())
			line, err := json.Marshal(map[string]any{
				"file": fmt.Sprintf("py-%02d.bin", i), "name": r.SchemaName(), "version": cur, "record": neutral(t, r),
			})
			if err != nil {
				t.Fatal(err)
			}
			in.Write(append(line, '\n'))
		}
		runPython(t, py, in.Bytes(), "write", dir)
		for i, want := range records {
			b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("py-%02d.bin", i)))
			if err != nil {
				t.Fatal(err)
			}
			got := newOf(want)
			if err := Unmarshal(b, got); err != nil {
				t.Errorf("record %d (%s) written by fastavro: %v", i, want.SchemaName(), err)
				continue
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("record %d: decoded\n %+v\nwant\n %+v", i, got, want)
			}
			// Both implementations write the canonical binary encoding.
			ours, err := Marshal(want)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b, ours) {
				t.Errorf("record %d (%s): fastavro bytes differ from Corb's:\n% x\n% x", i, want.SchemaName(), b, ours)
			}
		}
	})
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestInteropJava: Apache Avro for Java, the reference implementation, reads
// every golden vector (every version), every sample record and the hand-written
// v1 commands: it finds the writer schema by the fingerprint it computes,
// decodes with BinaryMessageDecoder, finds no bytes left over and encodes the
// same bytes again; and its schema resolution of an old version to the
// current one gives what Corb's upgrade in Go gives.
func TestInteropJava(t *testing.T) {
	classpath := avroJava(t)
	dir := t.TempDir()
	type vector struct {
		file    string
		version int    // the version that wrote it
		of      Record // a record of its type
	}
	var vectors []vector
	golden := goldenRecords()
	keys := slices.Sorted(maps.Keys(golden))
	for _, key := range keys {
		name, version, _ := VersionOf(mustRead(t, filepath.Join("testdata", key+".bin")))
		if versionKey(name, version) != key {
			t.Fatalf("testdata/%s.bin holds %s v%d", key, name, version)
		}
		vectors = append(vectors, vector{filepath.Join("testdata", key+".bin"), version, golden[key]})
	}
	write := func(b []byte, version int, of Record) {
		p := filepath.Join(dir, fmt.Sprintf("%03d.bin", len(vectors)))
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		vectors = append(vectors, vector{p, version, of})
	}
	for _, r := range sampleRecords() {
		b, err := Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		cur, _ := CurrentVersion(r.SchemaName())
		write(b, cur, r)
	}
	for _, c := range v1Commands() {
		write(encodeV1(t, c.native), 1, c.want)
	}

	var files []string
	for _, v := range vectors {
		files = append(files, v.file)
	}
	args := append([]string{"-cp", classpath, filepath.Join("interop", "AvroInterop.java"), "--schemas", "avsc"}, files...)
	cmd := exec.Command("java", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("java AvroInterop: %v\n%s", err, stderr.String())
	}
	eachLine(t, "Java", out, files, func(n int, line javaLine) {
		v := vectors[n]
		cur, _ := CurrentVersion(v.of.SchemaName())
		if line.Name != v.of.SchemaName() || line.Version != v.version || line.CurrentVersion != cur {
			t.Errorf("%s: Java says %s v%d (current v%d), want %s v%d (current v%d)",
				v.file, line.Name, line.Version, line.CurrentVersion, v.of.SchemaName(), v.version, cur)
		}
		if !line.SameBytes {
			t.Errorf("%s: Java encodes the record it decoded to other bytes", v.file)
		}
		decoded := newOf(v.of)
		if err := Unmarshal(mustRead(t, v.file), decoded); err != nil {
			t.Fatalf("%s: %v", v.file, err)
		}
		want := jsonTree(t, neutral(t, decoded))
		if got := jsonTree(t, line.Current); !sameJSON(got, want) {
			t.Errorf("%s (%s v%d): Java resolves it to\n %s\nCorb decodes\n %s", v.file, line.Name, line.Version, line.Current, mustJSON(t, want))
		}
		if v.version == cur && !sameJSON(jsonTree(t, line.Record), want) {
			t.Errorf("%s: Java read\n %s\nwant\n %s", v.file, line.Record, mustJSON(t, want))
		}
	})
}

// readLine is what the interop tools print about each file they read.
type readLine struct {
	File    string
	Name    string
	Version int
	Record  json.RawMessage
}

func (l readLine) file() string { return l.File }

// javaLine adds what AvroInterop.java also says: whether it encodes the
// decoded record to the same bytes, and the record resolved to the newest version.
type javaLine struct {
	readLine
	SameBytes      bool `json:"same_bytes"`
	CurrentVersion int  `json:"current_version"`
	Current        json.RawMessage
}

// eachLine decodes out, one JSON line per file of files in order, and calls
// check with each line and its file's index.
func eachLine[L interface{ file() string }](t *testing.T, tool string, out []byte, files []string, check func(n int, line L)) {
	t.Helper()
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<24)
	n := 0
	for ; sc.Scan(); n++ {
		var line L
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("%v: %s", err, sc.Text())
		}
		if n >= len(files) || line.file() != files[n] {
			t.Fatalf("%s: line %d is about %q", tool, n, line.file())
		}
		check(n, line)
	}
	if n != len(files) {
		t.Fatalf("%s echoed %d records, want %d", tool, n, len(files))
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
