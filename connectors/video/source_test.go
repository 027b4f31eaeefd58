package video

import (
	"errors"
	"strings"
	"testing"
)

func TestParseSource(t *testing.T) {
	tests := []struct {
		spec    string
		kind    SourceKind
		loc     string
		dev     int
		str     string // String(); "" means loc
		wantErr error
	}{
		{spec: "video.mp4", kind: KindFile, loc: "video.mp4", dev: -1},
		{spec: " ./clips/../a.mkv ", kind: KindFile, loc: "a.mkv", dev: -1},
		{spec: "file:///abs/b.avi", kind: KindFile, loc: "/abs/b.avi", dev: -1},
		{spec: "dir:/incoming/", kind: KindDir, loc: "/incoming", dev: -1},
		{spec: "rtsp://cam1:554/stream", kind: KindStream, loc: "rtsp://cam1:554/stream", dev: -1},
		{spec: "RTSP://user:secret@cam1/s", kind: KindStream, loc: "rtsp://user:secret@cam1/s", dev: -1, str: "rtsp://user:xxxxx@cam1/s"},
		{spec: "https://host/live.m3u8", kind: KindStream, loc: "https://host/live.m3u8", dev: -1},
		{spec: "/dev/video2", kind: KindDevice, loc: "/dev/video2", dev: 2},
		{spec: "0", kind: KindDevice, loc: "/dev/video0", dev: 0},
		{spec: "device:3", kind: KindDevice, loc: "/dev/video3", dev: 3},
		{spec: "v4l2:/dev/v4l/by-id/usb-cam-video-index0", kind: KindDevice, loc: "/dev/v4l/by-id/usb-cam-video-index0", dev: -1},
		{spec: "", wantErr: ErrEmptySource},
		{spec: "   ", wantErr: ErrEmptySource},
		{spec: "ftp://host/x.mp4", wantErr: ErrUnsupportedScheme},
		{spec: "rtsp:///nohost", wantErr: ErrBadSource},
		{spec: "dir:", wantErr: ErrBadSource},
		{spec: "device:/etc/passwd", wantErr: ErrBadSource},
		{spec: "device:/dev/../etc/passwd", wantErr: ErrBadSource},
		{spec: "device:99999", wantErr: ErrBadSource},
		{spec: "file://remote/x.mp4", wantErr: ErrBadSource},
		{spec: "a\nb.mp4", wantErr: ErrBadSource},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			got, err := ParseSource(tt.spec)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("ParseSource(%q) err = %v, want %v", tt.spec, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseSource(%q): %v", tt.spec, err)
			}
			if got.Kind != tt.kind || got.Location != tt.loc || got.Device != tt.dev {
				t.Fatalf("ParseSource(%q) = %+v, want kind %v loc %q dev %d", tt.spec, got, tt.kind, tt.loc, tt.dev)
			}
			want := tt.str
			if want == "" {
				want = tt.loc
			}
			if got.String() != want {
				t.Fatalf("String() = %q, want %q", got.String(), want)
			}
		})
	}
}

func TestParseSourceErrorsHideCredentials(t *testing.T) {
	_, err := ParseSource("rtsp://admin:hunter2@/x")
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("err = %v: want an error without the password", err)
	}
}

func FuzzParseSource(f *testing.F) {
	for _, s := range []string{"video.mp4", "dir:/x", "rtsp://u:p@h/s", "0", "/dev/video1", "device:/dev/v4l/x",
		"file:///a", "http://[::1]:80/x", "%zz://", "rtsp://u:p@%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		src, err := ParseSource(spec)
		if err != nil {
			if src != (Source{}) {
				t.Fatalf("error with non-zero source %+v", src)
			}
			return
		}
		if src.Location == "" {
			t.Fatalf("%q: empty location", spec)
		}
		if src.Kind == KindDevice && !strings.HasPrefix(src.Location, "/dev/") {
			t.Fatalf("%q: device outside /dev: %q", spec, src.Location)
		}
		if src.Kind == KindStream {
			// A parsed stream parses again to itself.
			again, err := ParseSource(src.Location)
			if err != nil || again != src {
				t.Fatalf("%q: reparse %q = %+v, %v", spec, src.Location, again, err)
			}
		}
	})
}
