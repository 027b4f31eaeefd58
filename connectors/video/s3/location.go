package s3

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"strings"

	"github.com/minio/minio-go/v7/pkg/s3utils"
)

// ErrBadURL is wrapped by ParseURL errors.
var ErrBadURL = errors.New("s3: bad s3:// URL")

// Location is the part of a store a command reads: every object of Bucket
// whose key starts with Prefix (as `aws s3 ls s3://bucket/prefix` lists them).
type Location struct {
	Bucket string
	Prefix string // "" = the whole bucket
}

// IsURL reports whether a source spec names object storage (s3://...).
func IsURL(spec string) bool {
	return len(spec) >= 5 && strings.EqualFold(spec[:5], "s3://")
}

// ParseURL parses s3://bucket/prefix. The prefix is taken as written (no
// percent-decoding), as the AWS CLI does.
func ParseURL(spec string) (Location, error) {
	if !IsURL(spec) {
		return Location{}, fmt.Errorf("%w: %q: want s3://bucket/prefix", ErrBadURL, spec)
	}
	rest := spec[len("s3://"):]
	bucket, prefix, _ := strings.Cut(rest, "/")
	if err := s3utils.CheckValidBucketName(bucket); err != nil {
		return Location{}, fmt.Errorf("%w: %q: bucket %q: %v", ErrBadURL, spec, bucket, err)
	}
	if strings.ContainsAny(prefix, "\x00\r\n") {
		return Location{}, fmt.Errorf("%w: %q: the prefix has control characters", ErrBadURL, spec)
	}
	return Location{Bucket: bucket, Prefix: prefix}, nil
}

// String is the location as an s3:// URL.
func (l Location) String() string { return "s3://" + l.Bucket + "/" + l.Prefix }

// ObjectURL names one object: s3://bucket/key. It is Frame.Source of the
// object's frames, the same after every restart.
func ObjectURL(bucket, key string) string { return "s3://" + bucket + "/" + key }

// Contains reports whether the object bucket/key is under l.
func (l Location) Contains(bucket, key string) bool {
	return bucket == l.Bucket && strings.HasPrefix(key, l.Prefix)
}

// CameraFrom says where an object's camera id comes from.
type CameraFrom int

const (
	// CameraKeyDir is the first path segment of the key after the prefix
	// (s3://uploads/cams/ + cams/lobby/0612.mkv → lobby); a key with no
	// folder after the prefix gives its base name without the extension,
	// as CameraKeyBase does.
	CameraKeyDir CameraFrom = iota + 1
	// CameraKeyBase is the key's base name without the extension
	// (cams/lobby/0612.mkv → 0612).
	CameraKeyBase
	// CameraFixed is one camera id for every object (--camera).
	CameraFixed
)

// ErrBadCameraRule is wrapped by ParseCameraFrom and CameraRule errors.
var ErrBadCameraRule = errors.New("s3: bad camera rule")

// ParseCameraFrom parses key-dir, key-base or fixed.
func ParseCameraFrom(s string) (CameraFrom, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "key-dir":
		return CameraKeyDir, nil
	case "key-base":
		return CameraKeyBase, nil
	case "fixed":
		return CameraFixed, nil
	}
	return 0, fmt.Errorf("%w: %q: want key-dir, key-base or fixed", ErrBadCameraRule, s)
}

func (c CameraFrom) String() string {
	switch c {
	case CameraKeyDir:
		return "key-dir"
	case CameraKeyBase:
		return "key-base"
	case CameraFixed:
		return "fixed"
	}
	return fmt.Sprintf("CameraFrom(%d)", int(c))
}

// CameraRule turns an object key into the camera id of its frames.
type CameraRule struct {
	From  CameraFrom // zero: CameraKeyDir
	Fixed string     // the id for CameraFixed
}

// Validate checks the rule; errors wrap ErrBadCameraRule.
func (r CameraRule) Validate() error {
	switch {
	case r.From == CameraFixed && r.Fixed == "":
		return fmt.Errorf("%w: fixed needs a camera id (--camera)", ErrBadCameraRule)
	case r.From < 0 || r.From > CameraFixed:
		return fmt.Errorf("%w: %v", ErrBadCameraRule, r.From)
	}
	return nil
}

// Camera is the camera id of the object key found under prefix.
func (r CameraRule) Camera(prefix, key string) (string, error) {
	if err := r.Validate(); err != nil {
		return "", err
	}
	var id string
	switch r.From {
	case CameraFixed:
		return r.Fixed, nil
	case CameraKeyBase:
		id = baseName(key)
	default:
		rest := strings.TrimLeft(strings.TrimPrefix(key, prefix), "/")
		if dir, _, ok := strings.Cut(rest, "/"); ok && dir != "" {
			id = dir
		} else {
			id = baseName(rest)
		}
	}
	if id == "" {
		return "", fmt.Errorf("%w: key %q gives no camera id by %v", ErrBadCameraRule, key, r.From)
	}
	return id, nil
}

// baseName is the last segment of key without its extension.
func baseName(key string) string {
	if key == "" || strings.HasSuffix(key, "/") { // a folder marker
		return ""
	}
	b := path.Base(key)
	return strings.TrimSuffix(b, path.Ext(b))
}

// keyEscape is how a key appears in log lines that must stay on one line.
func keyEscape(key string) string { return url.PathEscape(key) }
