package s3

import (
	"errors"
	"testing"
)

func TestParseURL(t *testing.T) {
	for _, c := range []struct {
		spec string
		want Location
		err  error
	}{
		{"s3://uploads", Location{Bucket: "uploads"}, nil},
		{"s3://uploads/", Location{Bucket: "uploads"}, nil},
		{"s3://uploads/cams/", Location{Bucket: "uploads", Prefix: "cams/"}, nil},
		{"S3://uploads/cams", Location{Bucket: "uploads", Prefix: "cams"}, nil},
		{"s3://uploads/a%20b/", Location{Bucket: "uploads", Prefix: "a%20b/"}, nil}, // as written, as the AWS CLI takes it
		{"s3://", Location{}, ErrBadURL},
		{"s3://bad..name/x", Location{}, ErrBadURL},
		{"s3://a bucket/x", Location{}, ErrBadURL},
		{"s3://ab/x", Location{}, ErrBadURL}, // bucket names have 3..63 characters
		{"s3://uploads/a\nb", Location{}, ErrBadURL},
		{"https://uploads/x", Location{}, ErrBadURL},
	} {
		got, err := ParseURL(c.spec)
		if !errors.Is(err, c.err) || got != c.want {
			t.Errorf("ParseURL(%q) = %+v, %v; want %+v, %v", c.spec, got, err, c.want, c.err)
		}
	}
}

func TestCameraFromKey(t *testing.T) {
	for _, c := range []struct {
		rule        CameraRule
		prefix, key string
		want        string
		err         error
	}{
		// key-dir (the default): the first folder after the prefix.
		{CameraRule{}, "cams/", "cams/lobby/2025-06-01T09.mkv", "lobby", nil},
		{CameraRule{From: CameraKeyDir}, "cams", "cams/lobby/2025-06-01T09.mkv", "lobby", nil},
		{CameraRule{From: CameraKeyDir}, "", "lot-a/day1/vtest.avi", "lot-a", nil},
		{CameraRule{From: CameraKeyDir}, "cams/", "cams/lobby/sub/x.mp4", "lobby", nil},
		{CameraRule{From: CameraKeyDir}, "cams/", "cams//lobby/x.mp4", "lobby", nil},
		// ... or, with no folder after the prefix, the base name.
		{CameraRule{From: CameraKeyDir}, "cams/", "cams/vtest.mkv", "vtest", nil},
		{CameraRule{From: CameraKeyDir}, "", "gate.cam.mp4", "gate.cam", nil},
		// key-base: the base name without its extension.
		{CameraRule{From: CameraKeyBase}, "cams/", "cams/lobby/dock-2.mkv", "dock-2", nil},
		{CameraRule{From: CameraKeyBase}, "", "noext", "noext", nil},
		// fixed.
		{CameraRule{From: CameraFixed, Fixed: "gate"}, "cams/", "cams/lobby/x.mkv", "gate", nil},
		{CameraRule{From: CameraFixed}, "", "x.mkv", "", ErrBadCameraRule},
		// Keys that name no camera.
		{CameraRule{From: CameraKeyDir}, "cams/", "cams/.mkv", "", ErrBadCameraRule},
		{CameraRule{From: CameraKeyBase}, "", "lobby/", "", ErrBadCameraRule},
	} {
		got, err := c.rule.Camera(c.prefix, c.key)
		if !errors.Is(err, c.err) || got != c.want {
			t.Errorf("%v.Camera(%q, %q) = %q, %v; want %q, %v", c.rule.From, c.prefix, c.key, got, err, c.want, c.err)
		}
	}
}

func TestParseCameraFrom(t *testing.T) {
	for _, s := range []string{"key-dir", "key-base", "fixed"} {
		c, err := ParseCameraFrom(s)
		if err != nil || c.String() != s {
			t.Errorf("ParseCameraFrom(%q) = %v, %v", s, c, err)
		}
	}
	if _, err := ParseCameraFrom("dir"); !errors.Is(err, ErrBadCameraRule) {
		t.Errorf("ParseCameraFrom(dir): %v, want ErrBadCameraRule", err)
	}
}
