package s3

import (
	"encoding/json"
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// minioMessage is a notification as MinIO's notify_kafka writes it (its
// event.Log: EventName, Key and the S3 records, keys query-escaped).
const minioMessage = `{"EventName":"s3:ObjectCreated:Put","Key":"uploads/lot a/vtest+1.avi","Records":[{"eventVersion":"2.0",
"eventSource":"minio:s3","awsRegion":"","eventTime":"2026-02-20T10:00:00.000Z","eventName":"s3:ObjectCreated:Put",
"userIdentity":{"principalId":"corb"},"requestParameters":{"sourceIPAddress":"127.0.0.1"},"responseElements":{"x-amz-request-id":"1"},
"s3":{"s3SchemaVersion":"1.0","configurationId":"Config","bucket":{"name":"uploads","ownerIdentity":{"principalId":"corb"},"arn":"arn:aws:s3:::uploads"},
"object":{"key":"lot+a%2Fvtest%2B1.avi","size":8131690,"eTag":"\"0f9c2b\"","contentType":"video/x-msvideo","userMetadata":{},"sequencer":"1895A1C2E3B4D5F6"}},
"source":{"host":"127.0.0.1","port":"","userAgent":"MinIO (linux; amd64) minio-go/v7.4.1"}}]}`

// awsMessage is an AWS S3 notification: eventName without "s3:", two records.
const awsMessage = `{"Records":[
{"eventVersion":"2.1","eventSource":"aws:s3","eventName":"ObjectCreated:CompleteMultipartUpload",
 "s3":{"bucket":{"name":"cams-eu"},"object":{"key":"lobby/2026-06-01T09%3A00.mkv","size":5,"eTag":"b1946ac9-2","sequencer":"00617F08299329D189"}}},
{"eventVersion":"2.1","eventSource":"aws:s3","eventName":"ObjectRemoved:Delete",
 "s3":{"bucket":{"name":"cams-eu"},"object":{"key":"lobby/old.mkv","sequencer":"00617F08299329D190"}}}]}`

const eventBridgeMessage = `{"version":"0","id":"17793124","detail-type":"Object Created","source":"aws.s3","account":"111122223333",
"time":"2021-11-12T00:00:00Z","region":"ca-central-1","resources":["arn:aws:s3:::cams-eu"],
"detail":{"version":"0","bucket":{"name":"cams-eu"},"object":{"key":"dock/a b.mp4","size":5,"etag":"b1946ac9","sequencer":"617f08299329d189"},
"request-id":"N4N7","requester":"123456789012","reason":"PutObject"}}`

func TestParseEvents(t *testing.T) {
	for _, c := range []struct {
		name string
		msg  string
		want []ObjectEvent
		err  error
	}{
		{"MinIO's notify_kafka", minioMessage, []ObjectEvent{{Name: "s3:ObjectCreated:Put", Bucket: "uploads",
			Key: "lot a/vtest+1.avi", Size: 8131690, ETag: "0f9c2b", Sequencer: "1895A1C2E3B4D5F6"}}, nil},
		{"AWS S3, a removal left out", awsMessage, []ObjectEvent{{Name: "s3:ObjectCreated:CompleteMultipartUpload", Bucket: "cams-eu",
			Key: "lobby/2026-06-01T09:00.mkv", Size: 5, ETag: "b1946ac9-2", Sequencer: "00617F08299329D189"}}, nil},
		{"EventBridge: the key as it is", eventBridgeMessage, []ObjectEvent{{Name: "s3:ObjectCreated:PutObject", Bucket: "cams-eu",
			Key: "dock/a b.mp4", Size: 5, ETag: "b1946ac9", Sequencer: "617f08299329d189"}}, nil},
		{"EventBridge, another type", `{"detail-type":"Object Deleted","detail":{"bucket":{"name":"cams-eu"}}}`, nil, nil},
		{"s3:TestEvent", `{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-01-01T00:00:00Z","Bucket":"cams-eu"}`, nil, nil},
		{"no records", `{"Records":[]}`, nil, nil},
		{"not JSON", `Records`, nil, ErrBadEvent},
		{"two values", `{"Records":[]} {}`, nil, ErrBadEvent},
		{"another document", `{"hello":"world"}`, nil, ErrBadEvent},
		{"null", `null`, nil, ErrBadEvent},
		{"a created record without a key", `{"Records":[{"eventName":"s3:ObjectCreated:Put","s3":{"bucket":{"name":"cams-eu"},"object":{}}}]}`, nil, ErrBadEvent},
		{"a created record without a bucket", `{"Records":[{"eventName":"s3:ObjectCreated:Put","s3":{"object":{"key":"a.mkv"}}}]}`, nil, ErrBadEvent},
		{"a badly escaped key", `{"Records":[{"eventName":"s3:ObjectCreated:Put","s3":{"bucket":{"name":"cams-eu"},"object":{"key":"a%zz.mkv"}}}]}`, nil, ErrBadEvent},
		{"a size of the wrong type", `{"Records":[{"eventName":"s3:ObjectCreated:Put","s3":{"bucket":{"name":"cams-eu"},"object":{"key":"a.mkv","size":"5"}}}]}`, nil, ErrBadEvent},
		{"a negative size", `{"Records":[{"eventName":"s3:ObjectCreated:Put","s3":{"bucket":{"name":"cams-eu"},"object":{"key":"a.mkv","size":-1}}}]}`, nil, ErrBadEvent},
		{"Object Created without detail", `{"detail-type":"Object Created"}`, nil, ErrBadEvent},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseEvents([]byte(c.msg))
			if !errors.Is(err, c.err) || !reflect.DeepEqual(got, c.want) {
				t.Errorf("ParseEvents = %+v, %v\nwant %+v, %v", got, err, c.want, c.err)
			}
		})
	}
}

// asNotification writes events as an S3 notification, keys escaped as S3 does.
func asNotification(evs []ObjectEvent) []byte {
	type object struct {
		Key       string `json:"key"`
		Size      int64  `json:"size"`
		ETag      string `json:"eTag"`
		Sequencer string `json:"sequencer"`
	}
	type rec struct {
		EventName string `json:"eventName"`
		S3        struct {
			Bucket struct {
				Name string `json:"name"`
			} `json:"bucket"`
			Object object `json:"object"`
		} `json:"s3"`
	}
	recs := []rec{}
	for _, e := range evs {
		var r rec
		r.EventName = e.Name
		r.S3.Bucket.Name = e.Bucket
		r.S3.Object = object{url.QueryEscape(e.Key), e.Size, e.ETag, e.Sequencer}
		recs = append(recs, r)
	}
	b, _ := json.Marshal(map[string]any{"Records": recs})
	return b
}

// The parser sees whatever is on the events topic. It must not panic, every
// event it returns must be usable (a valid bucket, a UTF-8 key, a created
// event), and writing those events back as a notification must give them again.
func FuzzParseEvents(f *testing.F) {
	for _, s := range []string{minioMessage, awsMessage, eventBridgeMessage, `{"Records":[]}`, `{"Event":"s3:TestEvent"}`,
		`{"Records":[{"eventName":"s3:ObjectCreated:Copy","s3":{"bucket":{"name":"abc"},"object":{"key":"%E2%82%AC+x.mkv"}}}]}`,
		`{"detail-type":"Object Created","detail":{"bucket":{"name":"abc"},"object":{"key":"k"}}}`, `[]`, `{}`, `"x"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		evs, err := ParseEvents(b)
		if err != nil {
			if !errors.Is(err, ErrBadEvent) {
				t.Fatalf("error %v does not wrap ErrBadEvent", err)
			}
			if evs != nil {
				t.Fatalf("events %v with error %v", evs, err)
			}
			return
		}
		for _, e := range evs {
			if !strings.HasPrefix(e.Name, createdPrefix) || e.Bucket == "" || strings.TrimSpace(e.Key) == "" ||
				!utf8.ValidString(e.Key) || e.Size < 0 || strings.Contains(e.ETag, `"`) {
				t.Fatalf("unusable event %+v", e)
			}
		}
		if len(evs) == 0 {
			return
		}
		again, err := ParseEvents(asNotification(evs))
		if err != nil || !reflect.DeepEqual(again, evs) {
			t.Fatalf("round trip: %+v, %v; want %+v", again, err, evs)
		}
	})
}
