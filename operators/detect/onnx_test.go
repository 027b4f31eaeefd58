package detect

import (
	"encoding/binary"
	"math"
)

// A minimal ONNX protobuf writer, enough to build test models in Go so that
// the real ONNX Runtime runs them end to end. Field numbers are those of
// onnx.proto (ModelProto, GraphProto, NodeProto, TensorProto, ValueInfoProto).

type pb []byte

func (b pb) varint(v uint64) pb {
	return binary.AppendUvarint(b, v)
}
func (b pb) tag(field, wire int) pb { return b.varint(uint64(field<<3 | wire)) }
func (b pb) int(field int, v int64) pb {
	return b.tag(field, 0).varint(uint64(v))
}
func (b pb) bytes(field int, v []byte) pb {
	return append(b.tag(field, 2).varint(uint64(len(v))), v...)
}
func (b pb) str(field int, s string) pb { return b.bytes(field, []byte(s)) }

const (
	onnxFloat = 1
	onnxInt64 = 7
)

// onnxDim is a fixed dimension (> 0) or a named dynamic one.
type onnxDim struct {
	size  int64
	param string
}

func valueInfo(name string, dims ...onnxDim) []byte {
	var shape pb
	for _, d := range dims {
		var dim pb
		if d.param != "" {
			dim = dim.str(2, d.param)
		} else {
			dim = dim.int(1, d.size)
		}
		shape = shape.bytes(1, dim)
	}
	tensor := pb{}.int(1, onnxFloat).bytes(2, shape)
	typ := pb{}.bytes(1, tensor)
	return pb{}.str(1, name).bytes(2, typ)
}

func floatTensor(name string, dims []int64, data []float32) []byte {
	var t pb
	for _, d := range dims {
		t = t.int(1, d)
	}
	raw := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(raw[i*4:], math.Float32bits(v))
	}
	return t.int(2, onnxFloat).str(8, name).bytes(9, raw)
}

func int64Tensor(name string, data []int64) []byte {
	raw := make([]byte, 8*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint64(raw[i*8:], uint64(v))
	}
	return pb{}.int(1, int64(len(data))).int(2, onnxInt64).str(8, name).bytes(9, raw)
}

func node(op string, inputs, outputs []string, attrs ...[]byte) []byte {
	var n pb
	for _, in := range inputs {
		n = n.str(1, in)
	}
	for _, o := range outputs {
		n = n.str(2, o)
	}
	n = n.str(3, op+"_"+outputs[0]).str(4, op)
	for _, a := range attrs {
		n = n.bytes(5, a)
	}
	return n
}

func intAttr(name string, v int64) []byte {
	return pb{}.str(1, name).int(3, v).int(20, 2) // type INT
}

// constantOutputModel builds a model with input "images" [N,3,h,w] (N dynamic
// when batch is 0) whose output "output0" is the constant out (shape outDims,
// first dimension 1) broadcast over the batch: output0 = out + 0·Σ images.
func constantOutputModel(batch, h, w int64, outDims []int64, out []float32) []byte {
	n := onnxDim{size: batch}
	if batch == 0 {
		n = onnxDim{param: "N"}
	}
	outShape := []onnxDim{n}
	for _, d := range outDims[1:] {
		outShape = append(outShape, onnxDim{size: d})
	}
	var g pb
	g = g.bytes(1, node("Mul", []string{"images", "zero"}, []string{"z"}))
	g = g.bytes(1, node("ReduceSum", []string{"z", "axes"}, []string{"s"}, intAttr("keepdims", 1)))
	g = g.bytes(1, node("Reshape", []string{"s", "shape"}, []string{"r"}))
	g = g.bytes(1, node("Add", []string{"r", "const"}, []string{"output0"}))
	g = g.str(2, "constant")
	g = g.bytes(5, floatTensor("zero", nil, []float32{0}))
	g = g.bytes(5, int64Tensor("axes", []int64{1, 2, 3}))
	reshape := []int64{0}
	for range outDims[1:] {
		reshape = append(reshape, 1)
	}
	g = g.bytes(5, int64Tensor("shape", reshape))
	g = g.bytes(5, floatTensor("const", outDims, out))
	g = g.bytes(11, valueInfo("images", n, onnxDim{size: 3}, onnxDim{size: h}, onnxDim{size: w}))
	g = g.bytes(12, valueInfo("output0", outShape...))
	opset := pb{}.str(1, "").int(2, 13)
	return pb{}.int(1, 8).str(2, "corb-test").bytes(8, opset).bytes(7, g)
}
