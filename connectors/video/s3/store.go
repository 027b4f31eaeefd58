package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/minio/minio-go/v7"
)

// Errors of Store calls callers can classify.
var (
	// ErrNotFound: the object (or bucket) is not there.
	ErrNotFound = errors.New("s3: no such object")
	// ErrChanged: the object no longer has the ETag asked for (overwritten).
	ErrChanged = errors.New("s3: object changed")
)

// ObjectInfo is what the watcher needs to know of an object.
type ObjectInfo struct {
	Key          string
	ETag         string // without quotes
	Size         int64
	LastModified time.Time
}

// Store is the part of an S3 API the watcher uses.
type Store interface {
	// List calls fn for every object of bucket under prefix, in key order,
	// and stops at fn's first error.
	List(ctx context.Context, bucket, prefix string, fn func(ObjectInfo) error) error
	// Stat describes an object; ErrNotFound when it is not there.
	Stat(ctx context.Context, bucket, key string) (ObjectInfo, error)
	// Download copies the object's version etag to w: ErrNotFound when it
	// is gone, ErrChanged when it now has another ETag.
	Download(ctx context.Context, bucket, key, etag string, w io.Writer) error
}

// MinioStore is the Store of a minio-go client (AWS S3, MinIO, Ceph, ...).
type MinioStore struct{ Client *minio.Client }

// List lists recursively (every key under prefix, not only one folder level).
func (s MinioStore) List(ctx context.Context, bucket, prefix string, fn func(ObjectInfo) error) error {
	ctx, cancel := context.WithCancel(ctx) // stops minio-go's listing goroutine when fn fails
	defer cancel()
	for o := range s.Client.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if o.Err != nil {
			return storeErr("list", bucket, prefix, o.Err)
		}
		if err := fn(info(o)); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// Stat is a HEAD of the object.
func (s MinioStore) Stat(ctx context.Context, bucket, key string) (ObjectInfo, error) {
	o, err := s.Client.StatObject(ctx, bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return ObjectInfo{}, storeErr("stat", bucket, key, err)
	}
	return info(o), nil
}

// Download is a GET with If-Match, so that a version overwritten meanwhile
// is never mixed into the one being ingested.
func (s MinioStore) Download(ctx context.Context, bucket, key, etag string, w io.Writer) error {
	var opts minio.GetObjectOptions
	if err := opts.SetMatchETag(etag); err != nil {
		return fmt.Errorf("s3: get %s: %w", ObjectURL(bucket, key), err)
	}
	obj, err := s.Client.GetObject(ctx, bucket, key, opts)
	if err != nil {
		return storeErr("get", bucket, key, err)
	}
	defer obj.Close()
	if _, err := io.Copy(w, obj); err != nil {
		return storeErr("get", bucket, key, err)
	}
	return nil
}

func info(o minio.ObjectInfo) ObjectInfo {
	return ObjectInfo{Key: o.Key, ETag: o.ETag, Size: o.Size, LastModified: o.LastModified}
}

// storeErr classifies S3 error codes into ErrNotFound and ErrChanged.
func storeErr(op, bucket, key string, err error) error {
	switch minio.ToErrorResponse(err).Code {
	case "NoSuchKey", "NoSuchBucket", "NotFound":
		err = fmt.Errorf("%w: %v", ErrNotFound, err)
	case "PreconditionFailed":
		err = fmt.Errorf("%w: %v", ErrChanged, err)
	}
	return fmt.Errorf("s3: %s %s: %w", op, ObjectURL(bucket, key), err)
}
