package passthrough_test

import (
	"context"
	"testing"
	"time"

	"github.com/corb-dev/corb/operators"
	"github.com/corb-dev/corb/operators/passthrough"
	"github.com/corb-dev/corb/schemas"
)

func TestPassthrough(t *testing.T) {
	good, err := schemas.Marshal(&schemas.Command{ID: "c1", CommandType: "status", IssuedAt: time.UnixMilli(1)})
	if err != nil {
		t.Fatal(err)
	}
	frame, err := schemas.Marshal(&schemas.Frame{CameraID: "cam", Encoding: schemas.EncodingJPEG, CaptureTime: time.UnixMilli(1)})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		schema  string
		value   []byte
		wantErr bool
	}{
		{"no schema copies anything", "", []byte("garbage"), false},
		{"valid record", "corb.Command", good, false},
		{"garbage", "corb.Command", []byte("garbage"), true},
		{"other schema", "corb.Command", frame, true},
		{"truncated", "corb.Command", good[:len(good)-2], true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op := passthrough.New("out", passthrough.Config{Schema: tt.schema})
			in := operators.Record{Key: []byte("k"), Value: tt.value, Headers: []operators.Header{{Key: "h", Value: []byte("v")}}}
			res, err := op.Process(context.Background(), []operators.Record{in})
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantErr {
				if !operators.IsPermanent(res[0].Err) {
					t.Fatalf("want a permanent error, got %v", res[0].Err)
				}
				return
			}
			if res[0].Err != nil || len(res[0].Outputs) != 1 {
				t.Fatalf("got %+v", res[0])
			}
			o := res[0].Outputs[0]
			if o.Topic != "out" || string(o.Key) != "k" || string(o.Value) != string(tt.value) || len(o.Headers) != 1 {
				t.Fatalf("output %+v does not copy the input", o)
			}
		})
	}
}
