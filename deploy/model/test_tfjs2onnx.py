"""Unit tests of tfjs2onnx.py on small synthetic TF.js graph models.

Each graph is written as model.json + a weight shard, converted, run with onnxruntime and
compared with tfjs_reference.py (TensorFlow semantics, independent of the converter).

  $(deploy/tools/venv.sh)/python -m unittest discover -s deploy/model -p 'test_*.py' -v
"""

from __future__ import annotations

import base64
import json
import os
import sys
import tempfile
import unittest

import numpy as np
import onnxruntime as ort

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tfjs2onnx  # noqa: E402
from tfjs_reference import TFJSReference  # noqa: E402

TOL = 1e-4


def s(v: str) -> dict:
    return {"s": base64.b64encode(v.encode()).decode()}


def ilist(*v: int) -> dict:
    return {"list": {"i": [str(x) for x in v]}}


class Model:
    """Builds a TF.js graph model in a temporary folder."""

    def __init__(self, input_shape: list[int], input_name: str = "x"):
        self.nodes: list[dict] = [
            {"name": input_name, "op": "Placeholder", "attr": {"dtype": {"type": "DT_FLOAT"}, "shape": {"shape": {"dim": [{"size": str(d)} for d in input_shape]}}}}
        ]
        self.weights: list[tuple[dict, bytes]] = []
        self.input_name = input_name
        self.input_shape = input_shape
        self.rng = np.random.RandomState(len(input_shape) * 7 + sum(input_shape))

    def const(self, name: str, value, quant: str | None = None) -> str:
        value = np.asarray(value)
        entry = {"name": name, "shape": list(value.shape)}
        if value.dtype.kind == "f":
            entry["dtype"] = "float32"
            if quant == "float16":
                entry["quantization"] = {"dtype": "float16", "original_dtype": "float32"}
                data = value.astype("<f2").tobytes()
            elif quant == "uint8":
                lo, hi = float(value.min()), float(value.max())
                scale = (hi - lo) / 255 or 1.0
                q = np.round((value - lo) / scale).astype(np.uint8)
                entry["quantization"] = {"dtype": "uint8", "scale": scale, "min": lo, "original_dtype": "float32"}
                data = q.tobytes()
            else:
                data = value.astype("<f4").tobytes()
        else:
            entry["dtype"] = "int32"
            data = value.astype("<i4").tobytes()
        self.weights.append((entry, data))
        self.nodes.append({"name": name, "op": "Const", "attr": {"dtype": {"type": "DT_FLOAT" if value.dtype.kind == "f" else "DT_INT32"}}})
        return name

    def rand(self, name: str, shape, quant: str | None = None) -> str:
        return self.const(name, self.rng.randn(*shape).astype(np.float32) * 0.5, quant)

    def op(self, name: str, op: str, inputs: list[str], **attr) -> str:
        self.nodes.append({"name": name, "op": op, "input": inputs, "attr": attr})
        return name

    def write(self, folder: str) -> str:
        path = os.path.join(folder, "model.json")
        with open(os.path.join(folder, "w.bin"), "wb") as f:
            f.write(b"".join(d for _, d in self.weights))
        with open(path, "w") as f:
            json.dump({"format": "graph-model", "modelTopology": {"node": self.nodes}, "weightsManifest": [{"paths": ["w.bin"], "weights": [e for e, _ in self.weights]}]}, f)
        return path


def run_both(test: unittest.TestCase, m: Model, outputs: list[str], dynamic_batch: bool = False, batch: int = 1):
    with tempfile.TemporaryDirectory() as d:
        path = m.write(d)
        renames = {o: f"out{i}" for i, o in enumerate(outputs)}
        model = tfjs2onnx.convert(path, renames, "input", dynamic_batch, 18)
        sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        x = np.random.RandomState(1).randn(batch, *m.input_shape[1:]).astype(np.float32)
        got = sess.run(list(renames.values()), {"input": x})
        ref = TFJSReference(path)
        for b in range(batch):
            want = ref.run({m.input_name: x[b : b + 1]}, outputs)
            for o, g, w in zip(outputs, got, want):
                test.assertEqual(g[b : b + 1].shape, w.shape, o)
                diff = float(np.abs(g[b : b + 1] - w).max())
                test.assertLess(diff, TOL, f"{o}: max abs diff {diff}")
        return model


class ConvertTest(unittest.TestCase):
    def test_conv_padding_strides_dilations(self):
        cases = [
            # name, input NHWC, kernel, strides, dilations, padding
            ("same_s1", [1, 9, 11, 3], 3, 1, 1, "SAME"),
            ("same_s2_odd", [1, 9, 11, 3], 3, 2, 1, "SAME"),
            ("same_s2_even_k4", [1, 10, 12, 2], 4, 2, 1, "SAME"),
            ("same_s1_even_k4", [1, 7, 8, 2], 4, 1, 1, "SAME"),
            ("same_s1_even_k2_dilated", [1, 7, 8, 2], 2, 1, 3, "SAME"),
            ("same_dilated", [1, 12, 12, 2], 3, 1, 2, "SAME"),
            ("valid_s2", [1, 9, 11, 3], 3, 2, 1, "VALID"),
            ("valid_1x1", [1, 5, 5, 4], 1, 1, 1, "VALID"),
        ]
        for name, shape, k, st, dl, pad in cases:
            with self.subTest(name):
                m = Model(shape)
                w = m.rand("w", [k, k, shape[3], 5], quant="float16")
                b = m.rand("b", [5])
                c = m.op("conv", "Conv2D", ["x", w], padding=s(pad), strides=ilist(1, st, st, 1), dilations=ilist(1, dl, dl, 1), data_format=s("NHWC"))
                y = m.op("bias", "BiasAdd", [c, b])
                m.op("relu", "Relu", [y])
                model = run_both(self, m, ["relu"])
                ops = [n.op_type for n in model.graph.node]
                self.assertNotIn("Add", ops, "the bias should be folded into the Conv")

    def test_depthwise_and_pools(self):
        for pad in ("SAME", "VALID"):
            with self.subTest(pad):
                m = Model([1, 11, 9, 3])
                w = m.rand("w", [3, 3, 3, 2])
                d = m.op("dw", "DepthwiseConv2dNative", ["x", w], padding=s(pad), strides=ilist(1, 2, 2, 1), dilations=ilist(1, 1, 1, 1), data_format=s("NHWC"))
                m.op("maxp", "MaxPool", [d], ksize=ilist(1, 3, 3, 1), strides=ilist(1, 2, 2, 1), padding=s(pad), data_format=s("NHWC"))
                m.op("avgp", "AvgPool", [d], ksize=ilist(1, 3, 3, 1), strides=ilist(1, 2, 2, 1), padding=s(pad), data_format=s("NHWC"))
                run_both(self, m, ["maxp", "avgp"])

    def test_resize_modes(self):
        for op in ("ResizeBilinear", "ResizeNearestNeighbor"):
            for align, half in ((False, True), (True, False), (False, False)):
                for size in ((10, 13), (3, 4), (10, 14)):
                    with self.subTest(op=op, align=align, half=half, size=size):
                        m = Model([1, 5, 7, 2])
                        sz = m.const("size", np.array(size, np.int32))
                        m.op("r", op, ["x", sz], align_corners={"b": align}, half_pixel_centers={"b": half})
                        run_both(self, m, ["r"])

    def test_layout_free_ops(self):
        m = Model([1, 4, 6, 6])  # NCHW outside, like the NanoDet graph
        pads = m.const("pads", np.array([[0, 0], [0, 0], [1, 2], [2, 1]], np.int32))
        p = m.op("pad", "Pad", ["x", pads])
        negpad = m.const("negpads", np.array([[0, 0], [0, 0], [1, 1], [1, 1]], np.int32))
        ninf = m.const("ninf", np.array(-np.inf, np.float32))
        pv2 = m.op("padv2", "PadV2", ["x", negpad, ninf])
        to_nhwc = m.const("perm1", np.array([0, 2, 3, 1], np.int32))
        to_nchw = m.const("perm2", np.array([0, 3, 1, 2], np.int32))
        t = m.op("t1", "Transpose", [pv2, to_nhwc])
        mp = m.op("mp", "MaxPool", [t], ksize=ilist(1, 3, 3, 1), strides=ilist(1, 1, 1, 1), padding=s("VALID"), data_format=s("NHWC"))
        mpc = m.op("t2", "Transpose", [mp, to_nchw])
        lk = m.op("leaky", "LeakyRelu", [mpc], alpha={"f": 0.1})
        axis = m.const("axis", np.array(1, np.int32))
        cat = m.op("cat", "ConcatV2", [lk, "x", axis])
        sizes = m.const("sizes", np.array([3, 5], np.int32))
        m.op("split", "SplitV", [cat, sizes, axis], num_split={"i": "2"})
        sg = m.op("sig", "Sigmoid", ["split"])
        shp = m.const("shape", np.array([1, 3, -1], np.int32))
        r = m.op("reshape", "Reshape", [sg, shp])
        m.op("tr", "Transpose", [r, m.const("perm3", np.array([0, 2, 1], np.int32))])
        two = m.const("two", np.array(2.0, np.float32))
        e = m.op("mul", "Mul", ["split:1", two])
        e = m.op("sub", "Sub", [e, two])
        e = m.op("max", "Maximum", [e, m.const("zero", np.array(0.0, np.float32))])
        m.op("r6", "Relu6", [e])
        model = run_both(self, m, ["pad", "tr", "r6"])
        self.assertEqual(sum(n.op_type == "Pad" for n in model.graph.node), 1, "the -inf pad should be folded into MaxPool")

    def test_nchw_graph_has_no_transposes_left(self):
        # input NCHW -> Pad -> Transpose to NHWC -> Conv2D VALID -> Add bias -> Transpose back.
        m = Model([1, 3, 8, 8])
        pads = m.const("pads", np.array([[0, 0], [0, 0], [1, 1], [1, 1]], np.int32))
        p = m.op("pad", "Pad", ["x", pads])
        t = m.op("t1", "Transpose", [p, m.const("perm1", np.array([0, 2, 3, 1], np.int32))])
        c = m.op("conv", "Conv2D", [t, m.rand("w", [3, 3, 3, 4], quant="uint8")], padding=s("VALID"), strides=ilist(1, 1, 1, 1), dilations=ilist(1, 1, 1, 1), data_format=s("NHWC"))
        a = m.op("add", "Add", [c, m.rand("b", [4])])
        m.op("t2", "Transpose", [a, m.const("perm2", np.array([0, 3, 1, 2], np.int32))])
        model = run_both(self, m, ["t2"])
        self.assertEqual([n.op_type for n in model.graph.node], ["Conv"])
        self.assertEqual(list(model.graph.node[0].attribute[-1].ints), [1, 1, 1, 1])

    def test_dynamic_batch(self):
        m = Model([1, 2, 4, 4])
        shp = m.const("shape", np.array([1, 2, -1], np.int32))
        r = m.op("reshape", "Reshape", ["x", shp])
        m.op("sig", "Sigmoid", [r])
        model = run_both(self, m, ["sig"], dynamic_batch=True, batch=3)
        self.assertEqual(model.graph.input[0].type.tensor_type.shape.dim[0].dim_param, "batch")

    def test_folds_constant_subgraphs(self):
        # SparseToDense(empty indices) + shape constant, as in the NanoDet graph.
        m = Model([1, 2, 3, 3])
        idx = m.const("where", np.zeros((0, 1), np.int32))
        out_shape = m.const("oshape", np.array([3], np.int32))
        vals = m.const("vals", np.zeros((0,), np.int32))
        zero = m.const("zero", np.array(0, np.int32))
        std = m.op("std", "SparseToDense", [idx, out_shape, vals, zero])
        base = m.const("base", np.array([1, 2, -1], np.int32))
        shape = m.op("shape", "AddV2", [base, std])
        m.op("reshape", "Reshape", ["x", shape])
        model = run_both(self, m, ["reshape"])
        self.assertEqual([n.op_type for n in model.graph.node], ["Reshape"])

    def test_quantized_weights_are_dequantized(self):
        m = Model([1, 1, 1, 1])
        v = np.array([[-1.5, 0.25], [3.0, 65504.0]], np.float32)
        m.const("f16", v, quant="float16")
        m.const("u8", np.linspace(-1, 1, 256, dtype=np.float32), quant="uint8")
        with tempfile.TemporaryDirectory() as d:
            _, w = tfjs2onnx.load_tfjs(m.write(d))
        np.testing.assert_array_equal(w["f16"], v)
        self.assertEqual(w["f16"].dtype, np.float32)
        np.testing.assert_allclose(w["u8"], np.linspace(-1, 1, 256), atol=1e-5)

    def test_refuses_unknown_ops(self):
        m = Model([1, 2, 2, 1])
        m.op("y", "Softplus", ["x"])
        with tempfile.TemporaryDirectory() as d:
            path = m.write(d)
            with self.assertRaisesRegex(tfjs2onnx.ConversionError, "Softplus"):
                tfjs2onnx.convert(path, {"y": "y"}, None, False, 18)

    def test_refuses_short_weight_shards(self):
        m = Model([1, 2, 2, 1])
        m.rand("w", [2, 2])
        with tempfile.TemporaryDirectory() as d:
            path = m.write(d)
            with open(os.path.join(d, "w.bin"), "ab") as f:
                f.write(b"\0\0\0\0")
            with self.assertRaisesRegex(tfjs2onnx.ConversionError, "bytes"):
                tfjs2onnx.load_tfjs(path)


if __name__ == "__main__":
    unittest.main()
