// Package detect finds people (or any COCO-80 class) in video frames with a
// detection model run by ONNX Runtime: NanoDet-g by default, or a user's
// YOLOv8/YOLO11 export. It owns the cgo half of the detector — the ONNX Runtime
// session and the OpenCV preprocessing — and leaves decoding, suppression and
// coordinate mapping to the pure-Go package model.
//
// A Detector is built once (New), takes batches of frames (Detect) and returns
// boxes normalised 0..1 to each original frame, with the time each stage took,
// so that the hosting operator can record them. It registers no metrics itself.
package detect
