//go:build integration

package schemas

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// python returns the venv's python made by deploy/tools/venv.sh. When the venv
// cannot be made it fails under CI=true and skips otherwise.
func python(t *testing.T) string {
	t.Helper()
	script, err := filepath.Abs(filepath.Join("..", "deploy", "tools", "venv.sh"))
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(script)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	py := filepath.Join(strings.TrimSpace(string(out)), "python")
	if err == nil {
		if _, statErr := os.Stat(py); statErr != nil {
			err = statErr
		}
	}
	if err != nil {
		msg := fmt.Sprintf("Python venv with fastavro unavailable (%v; %s); make it with: deploy/tools/venv.sh", err, stderr.String())
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return py
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

// neutral is the wire contract written out by hand, independently of the
// codec's conversions: Avro field names, timestamps as int microseconds since
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
		var args any
		switch {
		case x.SendSMS != nil:
			args = map[string]any{"$type": "corb.SendSMSArgs", "value": map[string]any{"to": x.SendSMS.To, "body": x.SendSMS.Body}}
		case x.RequestCleaning != nil:
			args = map[string]any{"$type": "corb.RequestCleaningArgs", "value": map[string]any{
				"reason": x.RequestCleaning.Reason, "visits": x.RequestCleaning.Visits,
				"person_minutes": x.RequestCleaning.PersonMinutes,
			}}
		case x.Text != nil:
			args = map[string]any{"$type": "corb.TextArgs", "value": map[string]any{"raw": x.Text.Raw}}
		}
		return map[string]any{
			"id": x.ID, "command_type": x.CommandType, "zone_id": x.ZoneID, "channel": x.Channel,
			"sender": x.Sender, "issued_at": x.IssuedAt.UnixMicro(), "args": args,
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
		sc := bufio.NewScanner(bytes.NewReader(out))
		sc.Buffer(nil, 1<<24)
		n := 0
		for ; sc.Scan(); n++ {
			var line struct {
				File    string
				Name    string
				Version int
				Record  json.RawMessage
			}
			if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
				t.Fatalf("%v: %s", err, sc.Text())
			}
			if n >= len(records) || line.File != files[n] {
				t.Fatalf("line %d is about %q", n, line.File)
			}
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
		}
		if n != len(records) {
			t.Fatalf("fastavro echoed %d records, want %d", n, len(records))
		}
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
