package strictjson_test

import (
	"errors"
	"testing"

	"github.com/corb-dev/corb/schemas/strictjson"
)

type view struct {
	Zone  string `json:"zone"`
	Count int    `json:"count"`
}

func TestDecode(t *testing.T) {
	tests := []struct {
		in      string
		want    view
		wantErr bool
	}{
		{`{"zone":"lawn","count":2}`, view{"lawn", 2}, false},
		{` {"zone":"lawn"} `, view{Zone: "lawn"}, false},
		{`{"zone":"lawn","colour":"red"}`, view{}, true},
		{`{"zone":"lawn"}{"zone":"x"}`, view{}, true},
		{`{"zone":"lawn"} 1`, view{}, true},
		{`{"count":"two"}`, view{}, true},
		{``, view{}, true},
		{`{`, view{}, true},
	}
	for _, tt := range tests {
		var got view
		err := strictjson.Decode([]byte(tt.in), &got)
		if (err != nil) != tt.wantErr {
			t.Errorf("Decode(%q) error %v, want an error: %v", tt.in, err, tt.wantErr)
		}
		if err == nil && got != tt.want {
			t.Errorf("Decode(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
	var v view
	if err := strictjson.Decode([]byte(`{} {}`), &v); !errors.Is(err, strictjson.ErrTrailing) {
		t.Errorf("trailing value: %v, want ErrTrailing", err)
	}
}
