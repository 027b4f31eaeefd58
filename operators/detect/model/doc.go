// Package model holds the pure-Go half of the person detector: the adapters that
// turn a detection model's output tensors into boxes (NanoDet and YOLOv8/YOLO11
// layouts), the input geometry (plain resize or letterbox) and its inverse, the
// per-class non-maximum suppression, the COCO-80 label list and the class filter.
//
// Nothing here needs cgo: the ONNX Runtime session and the OpenCV preprocessing
// live in the parent package detect, which feeds this package plain float32
// slices and shapes.
package model
