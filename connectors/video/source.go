package video

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
)

// SourceKind says what a Source is and so how it is read.
type SourceKind int

const (
	// KindFile is a finished video file (mkv, mp4, avi, ...). It is read once,
	// as fast as possible unless CameraConfig.Realtime is set; event time comes
	// from the container's timestamps.
	KindFile SourceKind = iota + 1
	// KindDir is a watched directory: every file that appears in it and matches
	// the suffix rules is ingested once, after its size has stopped changing.
	KindDir
	// KindStream is a live network stream (rtsp, rtsps, rtmp, http, https).
	// It is reconnected forever with capped exponential backoff; event time is
	// the wall clock.
	KindStream
	// KindDevice is a live V4L2 capture device (/dev/videoN). Like a stream it
	// is reconnected forever and stamped with the wall clock.
	KindDevice
)

func (k SourceKind) String() string {
	switch k {
	case KindFile:
		return "file"
	case KindDir:
		return "dir"
	case KindStream:
		return "stream"
	case KindDevice:
		return "device"
	}
	return "SourceKind(" + strconv.Itoa(int(k)) + ")"
}

// Live reports whether sources of this kind are live (wall-clock time,
// reconnect on failure) rather than files.
func (k SourceKind) Live() bool { return k == KindStream || k == KindDevice }

// Source is one place video comes from. Build it with ParseSource.
type Source struct {
	Kind SourceKind
	// Location is the file or directory path, the stream URL (credentials
	// included: never log it, use String), or the device path.
	Location string
	// Device is the V4L2 index N of /dev/videoN for KindDevice, -1 when the
	// device was named by another path (e.g. /dev/v4l/by-id/...).
	Device int
	// Name, when set, is what String returns instead of Location: a file
	// downloaded from object storage is read from a temporary path but its
	// frames name the object (s3://bucket/key), which does not change when a
	// restarted ingest downloads it again.
	Name string
}

// String is the source as it appears in Frame.Source and in logs: Name when
// set, else Location with stream passwords redacted.
func (s Source) String() string {
	if s.Name != "" {
		return s.Name
	}
	if s.Kind == KindStream {
		if u, err := url.Parse(s.Location); err == nil {
			return u.Redacted()
		}
	}
	return s.Location
}

// Sentinel errors of ParseSource; the returned error wraps one of them.
var (
	ErrEmptySource       = errors.New("video: empty source")
	ErrUnsupportedScheme = errors.New("video: unsupported stream scheme")
	ErrBadSource         = errors.New("video: malformed source")
)

// isStreamScheme reports whether FFmpeg reads live streams from this URL scheme.
func isStreamScheme(s string) bool {
	switch s {
	case "rtsp", "rtsps", "rtmp", "http", "https":
		return true
	}
	return false
}

// ParseSource parses a source spec as given on the command line:
//
//	video.mp4, ./clips/a.mkv, file:///abs/b.avi   a video file
//	dir:/incoming                                  a watched directory
//	rtsp://user:pw@cam1/stream, https://host/live.m3u8
//	                                               a live stream (rtsp, rtsps, rtmp, http, https)
//	/dev/video0, 0, device:0, v4l2:/dev/video2     a V4L2 device (a bare number is a device index)
//
// It looks at the text only; it does not touch the file system (a plain path
// that names a directory is turned into KindDir by the caller, see
// cmd/corb ingest).
func ParseSource(spec string) (Source, error) {
	s := strings.TrimSpace(spec)
	if s == "" {
		return Source{}, ErrEmptySource
	}
	if strings.ContainsAny(s, "\x00\n\r") {
		return Source{}, fmt.Errorf("%w: %q contains control characters", ErrBadSource, spec)
	}
	lower := strings.ToLower(s)
	switch {
	case strings.HasPrefix(lower, "dir:"):
		p := s[len("dir:"):]
		if p == "" {
			return Source{}, fmt.Errorf("%w: %q: dir: needs a path", ErrBadSource, spec)
		}
		return Source{Kind: KindDir, Location: filepath.Clean(p), Device: -1}, nil
	case strings.HasPrefix(lower, "device:"), strings.HasPrefix(lower, "v4l2:"):
		rest := s[strings.IndexByte(s, ':')+1:]
		return parseDevice(spec, rest)
	case strings.Contains(s, "://"):
		return parseURL(spec, s)
	case isDigits(s):
		return parseDevice(spec, s)
	case strings.HasPrefix(s, "/dev/"):
		return parseDevice(spec, s)
	}
	return Source{Kind: KindFile, Location: filepath.Clean(s), Device: -1}, nil
}

func parseURL(spec, s string) (Source, error) {
	u, err := url.Parse(s)
	if err != nil {
		return Source{}, fmt.Errorf("%w: %q: %v", ErrBadSource, redactSpec(spec), errors.Unwrap(err))
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme == "file" {
		if u.Host != "" && u.Host != "localhost" {
			return Source{}, fmt.Errorf("%w: %q: file URLs must be local", ErrBadSource, spec)
		}
		if u.Path == "" {
			return Source{}, fmt.Errorf("%w: %q: file URL without a path", ErrBadSource, spec)
		}
		return Source{Kind: KindFile, Location: filepath.Clean(u.Path), Device: -1}, nil
	}
	if !isStreamScheme(scheme) {
		return Source{}, fmt.Errorf("%w: %q (want rtsp, rtsps, rtmp, http, https or file)", ErrUnsupportedScheme, u.Scheme)
	}
	if u.Host == "" {
		return Source{}, fmt.Errorf("%w: %q: stream URL without a host", ErrBadSource, u.Redacted())
	}
	u.Scheme = scheme
	return Source{Kind: KindStream, Location: u.String(), Device: -1}, nil
}

func parseDevice(spec, rest string) (Source, error) {
	rest = strings.TrimSpace(rest)
	if isDigits(rest) {
		n, err := strconv.Atoi(rest)
		if err != nil || n > 4096 {
			return Source{}, fmt.Errorf("%w: %q: device index out of range", ErrBadSource, spec)
		}
		return Source{Kind: KindDevice, Location: "/dev/video" + strconv.Itoa(n), Device: n}, nil
	}
	if !strings.HasPrefix(rest, "/dev/") {
		return Source{}, fmt.Errorf("%w: %q: a device is /dev/... or an index", ErrBadSource, spec)
	}
	p := filepath.Clean(rest)
	if !strings.HasPrefix(p, "/dev/") {
		return Source{}, fmt.Errorf("%w: %q: a device is /dev/... or an index", ErrBadSource, spec)
	}
	idx := -1
	if num, ok := strings.CutPrefix(p, "/dev/video"); ok && isDigits(num) {
		if n, err := strconv.Atoi(num); err == nil && n <= 4096 {
			idx = n
		}
	}
	return Source{Kind: KindDevice, Location: p, Device: idx}, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// redactSpec hides anything that looks like URL credentials in a spec that
// failed to parse as a URL.
func redactSpec(s string) string {
	at := strings.LastIndexByte(s, '@')
	sch := strings.Index(s, "://")
	if at < 0 || sch < 0 || at < sch {
		return s
	}
	return s[:sch+3] + "xxxxx" + s[at:]
}
