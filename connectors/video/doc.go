// Package video is Corb's video ingest connector without the video decoder:
// it turns decoded pictures from a file, a watched directory, a network
// stream or a V4L2 device into schemas.Frame records on the frames topic.
//
// It owns everything that needs no cgo — source specs, per-camera sampling
// (max_fps by timestamp), real-time pacing, capped exponential reconnect
// backoff for live sources, the watched-directory loop with its persistent
// "already ingested" state, progress reporting and the Kafka sink with its
// message-size guard — so it builds and tests with CGO_ENABLED=0.
//
// Decoding and JPEG encoding sit behind the Opener and Capture interfaces;
// the OpenCV implementation lives in the leaf package connectors/video/opencv,
// which also offers the one-call entry point opencv.Ingest.
package video
