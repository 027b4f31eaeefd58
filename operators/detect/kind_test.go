package detect_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/corb-dev/corb/operators/detect"
	"github.com/corb-dev/corb/operators/kind"
	"github.com/corb-dev/corb/topology"
)

func configNode(t *testing.T, src string) topology.ConfigNode {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	return topology.NewConfigNode(doc.Content[0], "topology.yaml", "operators[0].config")
}

func TestDetectConfigDecodes(t *testing.T) {
	n := configNode(t, `
model: /models/yolo11n.onnx
format: yolov8
classes: [person, dog]
threshold: 0.4
iou: 0.6
max_batch: 4
provider: cuda
fallback: cpu
instances: 3
threads: 2
max_frame_age: 1500ms
batch_wait: 20ms
`)
	var cfg detect.OperatorConfig
	if err := n.Decode(&cfg); err != nil {
		t.Fatal(err)
	}
	want := detect.OperatorConfig{Model: "/models/yolo11n.onnx", Format: "yolov8", Classes: []string{"person", "dog"},
		Threshold: 0.4, IoU: 0.6, MaxBatch: 4, Provider: detect.CUDA, Fallback: detect.CPU, Instances: 3, Threads: 2, MaxFrameAge: 1500 * time.Millisecond, BatchWait: 20 * time.Millisecond}
	if cfg.Model != want.Model || cfg.Format != want.Format || strings.Join(cfg.Classes, ",") != "person,dog" ||
		cfg.Threshold != want.Threshold || cfg.IoU != want.IoU || cfg.MaxBatch != want.MaxBatch || cfg.Provider != want.Provider ||
		cfg.Fallback != want.Fallback || cfg.Instances != want.Instances || cfg.Threads != want.Threads || cfg.MaxFrameAge != want.MaxFrameAge || cfg.BatchWait != want.BatchWait {
		t.Fatalf("decoded %+v, want %+v", cfg, want)
	}
}

func TestKindRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name, config string
		outputs      []string
		want         string
	}{
		{"unknown key", "max_batchh: 4", []string{"detections"}, "max_batchh"},
		{"wrong type", "max_batch: many", []string{"detections"}, "cannot unmarshal"},
		{"bad duration", "max_frame_age: soon", []string{"detections"}, "into time.Duration"},
		{"bad provider", "provider: tpu", []string{"detections"}, "provider"},
		{"negative age", "max_frame_age: -1s", []string{"detections"}, "max_frame_age"},
		{"two outputs", "threads: 1", []string{"a", "b"}, "takes 1 outputs"},
		{"missing model", "model: /nonexistent/model.onnx", []string{"detections"}, "/nonexistent/model.onnx"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op := &topology.Operator{Name: "detect", Kind: "detect", Inputs: []string{"frames"}, Outputs: tt.outputs,
				Config: configNode(t, tt.config)}
			_, err := detect.Kind().Build(context.Background(), kind.Env{Log: slog.New(slog.DiscardHandler)}, op)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error about %s", err, tt.want)
			}
		})
	}
}
