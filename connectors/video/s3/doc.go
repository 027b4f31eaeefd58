// Package s3 ingests videos uploaded to S3-compatible object storage (AWS
// S3, MinIO, Ceph RGW) through minio-go: `corb ingest s3://bucket/prefix`
// and its --watch mode, the trigger "an upload of a .mkv is processed".
//
// Objects are downloaded to a temporary file (FFmpeg needs to seek) and
// ingested as a video file by connectors/video, with Frame.Source the
// object's URL and the camera id taken from the key (CameraRule). A watcher
// learns of uploads from S3 event notifications on a Kafka topic (MinIO's
// notify_kafka, EventBridge) or by listing, and remembers each object
// version (bucket, key, ETag) in a state file: done, failed, or in progress
// at a frame. A restarted watcher resumes an object at its next frame, after
// looking on the frames topic for frames the killed run sent but had not
// recorded, so every frame of every upload is sent once.
//
// Endpoint, region and credentials are resolved as AWS tools resolve them
// (Resolve). The package needs no cgo: decoding is the Ingester's Opener.
package s3
