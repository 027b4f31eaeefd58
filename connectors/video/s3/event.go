package s3

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/minio/minio-go/v7/pkg/s3utils"
)

// ErrBadEvent is wrapped by ParseEvents errors: the message is not an S3
// event notification, or one of its object-created records is unusable.
var ErrBadEvent = errors.New("s3: bad event notification")

// ObjectEvent is one object-created notification: a new object, or a new
// version of one, is in the store.
type ObjectEvent struct {
	Name      string // s3:ObjectCreated:Put, s3:ObjectCreated:CompleteMultipartUpload, ...
	Bucket    string
	Key       string // decoded
	Size      int64
	ETag      string // without quotes
	Sequencer string // orders events of one key (hex, compare by length then value)
}

// createdPrefix is what the eventName of an object-created record starts
// with once "s3:" is made explicit (AWS writes "ObjectCreated:Put").
const createdPrefix = "s3:ObjectCreated:"

// notification is the union of the message shapes ParseEvents accepts.
type notification struct {
	// S3 event notifications (AWS S3, MinIO's notify_kafka, Ceph RGW).
	Records []record `json:"Records"`
	// AWS EventBridge events.
	DetailType *string          `json:"detail-type"`
	Detail     *eventBridgeBody `json:"detail"`
	// s3:TestEvent, sent by AWS when a notification is configured.
	Event string `json:"Event"`
}

type record struct {
	EventName string     `json:"eventName"`
	S3        objectBody `json:"s3"`
}

// objectBody is the bucket and object of both shapes (encoding/json matches
// S3's "eTag" and EventBridge's "etag" alike).
type objectBody struct {
	Bucket struct {
		Name string `json:"name"`
	} `json:"bucket"`
	Object struct {
		Key       string `json:"key"`
		Size      int64  `json:"size"`
		ETag      string `json:"eTag"`
		Sequencer string `json:"sequencer"`
	} `json:"object"`
}

type eventBridgeBody struct {
	objectBody
	Reason string `json:"reason"`
}

// ParseEvents decodes one notification message and returns its
// object-created events, in order. It accepts
//
//   - S3 event notifications, {"Records": [{"eventName": "s3:ObjectCreated:Put",
//     "s3": {"bucket": {"name": ...}, "object": {"key": ..., "size", "eTag", "sequencer"}}}]},
//     as AWS S3, MinIO's notify_kafka (which adds top-level EventName and Key) and
//     Ceph send them. Their keys are URL-encoded (a space is "+") and are decoded.
//   - AWS EventBridge events of detail-type "Object Created" (EventBridge → Kafka),
//     whose detail.object.key is the key as it is.
//
// Other events (removals, tagging of other kinds, s3:TestEvent, other
// EventBridge types) give no events and no error. Anything else — not JSON,
// another document, a created record without a bucket or key — is an error
// wrapping ErrBadEvent. Unknown fields are ignored: the formats grow.
func ParseEvents(b []byte) ([]ObjectEvent, error) {
	var n notification
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&n); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadEvent, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: more than one JSON value", ErrBadEvent)
	}
	switch {
	case n.Records != nil:
		var out []ObjectEvent
		for i, r := range n.Records {
			name := "s3:" + strings.TrimPrefix(r.EventName, "s3:")
			if !strings.HasPrefix(name, createdPrefix) {
				continue
			}
			key, err := url.QueryUnescape(r.S3.Object.Key)
			if err != nil {
				return nil, fmt.Errorf("%w: record %d: key %q: %v", ErrBadEvent, i, r.S3.Object.Key, err)
			}
			o := r.S3.Object
			ev, err := newEvent(name, r.S3.Bucket.Name, key, o.Size, o.ETag, o.Sequencer)
			if err != nil {
				return nil, fmt.Errorf("%w: record %d: %v", ErrBadEvent, i, err)
			}
			out = append(out, ev)
		}
		return out, nil
	case n.DetailType != nil:
		if *n.DetailType != "Object Created" {
			return nil, nil
		}
		if n.Detail == nil {
			return nil, fmt.Errorf("%w: Object Created without detail", ErrBadEvent)
		}
		d := n.Detail
		reason := firstNonEmpty(d.Reason, "Put")
		ev, err := newEvent(createdPrefix+reason, d.Bucket.Name, d.Object.Key, d.Object.Size, d.Object.ETag, d.Object.Sequencer)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadEvent, err)
		}
		return []ObjectEvent{ev}, nil
	case n.Event == "s3:TestEvent":
		return nil, nil
	}
	return nil, fmt.Errorf("%w: neither Records nor an EventBridge detail-type", ErrBadEvent)
}

func newEvent(name, bucket, key string, size int64, etag, seq string) (ObjectEvent, error) {
	if err := s3utils.CheckValidBucketName(bucket); err != nil {
		return ObjectEvent{}, fmt.Errorf("bucket %q: %v", bucket, err)
	}
	if err := s3utils.CheckValidObjectName(key); err != nil {
		return ObjectEvent{}, fmt.Errorf("key %q: %v", key, err)
	}
	if size < 0 {
		return ObjectEvent{}, fmt.Errorf("key %q: size %d", key, size)
	}
	return ObjectEvent{Name: name, Bucket: bucket, Key: key, Size: size, ETag: strings.Trim(etag, `"`), Sequencer: seq}, nil
}
