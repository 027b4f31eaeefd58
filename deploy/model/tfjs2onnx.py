#!/usr/bin/env python3
"""Converts a TensorFlow.js graph model (model.json + weight shards) to ONNX.

Corb's own converter, written for the NanoDet-g person detector that ships as a TF.js graph
model, but not tied to it: it handles the ops such detectors use and refuses anything else
with a clear error.

  python tfjs2onnx.py MODEL.json OUT.onnx [--rename TF_OUTPUT=NAME ...] [--input-name NAME]
                      [--dynamic-batch] [--opset N]

How it works
  1. The weights manifest is read and every weight is decoded from the shards (float32,
     int32, bool; 'quantization' entries are dequantized to float32: float16 directly,
     uint8/uint16 affinely with scale and min).
  2. Nodes whose inputs are all constants (SparseToDense, Add of shape vectors, Cast, ...)
     are evaluated with numpy and become constants.
  3. Each remaining TF op becomes ONNX ops. TF's NHWC ops (Conv2D, DepthwiseConv2dNative,
     MaxPool, AvgPool, ResizeBilinear, ResizeNearestNeighbor) become their NCHW ONNX
     counterparts wrapped in Transposes (NHWC->NCHW before, NCHW->NHWC after). Layout-free
     ops (Add, LeakyRelu, Concat, Split, ...) are translated as they are.
  4. Optimisation passes: a constant bias Add after a convolution becomes the Conv's B;
     pairs of Transposes that compose to the identity are removed (this turns a graph whose
     tensors travel in NCHW between NHWC ops into a pure NCHW graph); constant zero Pads
     before a Conv and -inf Pads before a MaxPool become the op's pads; dead nodes go.
  5. The model gets static shapes where known (batch symbolic with --dynamic-batch), and is
     checked with onnx.checker (full_check, which runs strict shape inference).

Semantics preserved on purpose
  - padding 'SAME': TF puts the odd extra pixel at the end. With stride 1 that is explicit
    pads ((k-1)*d split begin/end); with strides it is auto_pad SAME_UPPER (strides together
    with dilations are refused: onnxruntime does not do SAME with dilations). 'VALID' -> no
    padding; 'EXPLICIT' -> pads.
  - TF Pad paddings [[b0,e0],[b1,e1],...] -> ONNX pads [b0,b1,...,e0,e1,...].
  - ResizeBilinear: align_corners -> 'align_corners'; half_pixel_centers -> 'half_pixel';
    neither -> 'asymmetric'. ResizeNearestNeighbor likewise, with TF's rounding.
  - LeakyRelu alpha is taken from the node.
  - --dynamic-batch: the input's first dimension becomes 'batch' and constant Reshape targets
    whose first entry is 1 get 0 there (ONNX: copy the input's dimension). Only valid when
    the graph's first dimension is the batch everywhere, which the caller asserts by
    passing the flag.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter, defaultdict

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


class ConversionError(Exception):
    """The model cannot be converted (unsupported op, non-constant attribute input, ...)."""


# ---------------------------------------------------------------------------------------
# Loading


_DTYPES = {
    "float32": np.float32,
    "int32": np.int32,
    "bool": np.bool_,
}


def load_tfjs(model_json: str) -> tuple[dict, dict[str, np.ndarray]]:
    """Returns (model dict, {weight name: numpy array}) for a TF.js graph model."""
    with open(model_json, "r", encoding="utf-8") as f:
        model = json.load(f)
    if model.get("format") not in (None, "graph-model"):
        raise ConversionError(f"format {model.get('format')!r}: only TF.js graph models are supported")
    base = os.path.dirname(os.path.abspath(model_json))
    weights: dict[str, np.ndarray] = {}
    for group in model.get("weightsManifest", []):
        buf = b"".join(open(os.path.join(base, p), "rb").read() for p in group["paths"])
        off = 0
        for w in group["weights"]:
            shape = [int(s) for s in w["shape"]]
            n = int(np.prod(shape)) if shape else 1
            dtype = w["dtype"]
            q = w.get("quantization")
            if q:
                qd = q["dtype"]
                if qd == "float16":
                    raw = np.frombuffer(buf, np.float16, n, off)
                    off += 2 * n
                    arr = raw.astype(np.float32)
                elif qd in ("uint8", "uint16"):
                    qt = np.uint8 if qd == "uint8" else np.uint16
                    raw = np.frombuffer(buf, qt, n, off)
                    off += raw.itemsize * n
                    arr = raw.astype(np.float32) * np.float32(q["scale"]) + np.float32(q["min"])
                else:
                    raise ConversionError(f"weight {w['name']}: unsupported quantization dtype {qd}")
                if dtype == "int32":
                    arr = np.round(arr).astype(np.int32)
                elif dtype != "float32":
                    raise ConversionError(f"weight {w['name']}: quantized {dtype} is not supported")
            else:
                if dtype not in _DTYPES:
                    raise ConversionError(f"weight {w['name']}: unsupported dtype {dtype}")
                dt = np.dtype(_DTYPES[dtype])
                arr = np.frombuffer(buf, dt, n, off).copy()
                off += dt.itemsize * n
            weights[w["name"]] = arr.reshape(shape)
        if off != len(buf):
            raise ConversionError(f"weights manifest describes {off} bytes but the shards hold {len(buf)}")
    return model, weights


def _ref(name: str) -> tuple[str, int]:
    """'node:1' -> ('node', 1); 'node' -> ('node', 0); '^ctrl' -> ('', -1)."""
    if name.startswith("^"):
        return "", -1
    if ":" in name:
        n, i = name.rsplit(":", 1)
        return n, int(i)
    return name, 0


def _tensor(node: str, idx: int) -> str:
    return node if idx == 0 else f"{node}:{idx}"


def _attr(node: dict, key: str, default=None):
    a = node.get("attr", {}).get(key)
    if a is None:
        return default
    if "s" in a:
        import base64

        return base64.b64decode(a["s"]).decode()
    if "b" in a:
        return bool(a["b"])
    if "f" in a:
        return float(a["f"])
    if "i" in a:
        return int(a["i"])
    if "list" in a:
        lst = a["list"]
        if "i" in lst:
            return [int(x) for x in lst["i"]]
        if "f" in lst:
            return [float(x) for x in lst["f"]]
        return []
    if "type" in a:
        return a["type"]
    return default


# ---------------------------------------------------------------------------------------
# An ONNX graph under construction


class Graph:
    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: dict[str, np.ndarray] = {}
        self._n = Counter()

    def uniq(self, base: str) -> str:
        self._n[base] += 1
        return f"{base}__{self._n[base]}"

    def const(self, base: str, value: np.ndarray) -> str:
        name = self.uniq(base)
        self.inits[name] = np.asarray(value)
        return name

    def add(self, op: str, inputs: list[str], outputs: list[str] | None = None, name: str | None = None, **attrs) -> list[str]:
        name = name or self.uniq(op)
        outputs = outputs or [name]
        self.nodes.append(helper.make_node(op, inputs, outputs, name=name, **attrs))
        return outputs


NHWC_TO_NCHW = [0, 3, 1, 2]
NCHW_TO_NHWC = [0, 2, 3, 1]


# ---------------------------------------------------------------------------------------
# Constant folding of TF nodes


def _fold(op: str, node: dict, args: list[np.ndarray]) -> list[np.ndarray] | None:
    if op in ("Identity", "StopGradient"):
        return [args[0]]
    if op in ("Add", "AddV2"):
        return [np.add(args[0], args[1]).astype(np.result_type(args[0], args[1]))]
    if op == "Sub":
        return [np.subtract(args[0], args[1])]
    if op == "Mul":
        return [np.multiply(args[0], args[1])]
    if op == "Cast":
        dst = _attr(node, "DstT")
        m = {"DT_FLOAT": np.float32, "DT_INT32": np.int32, "DT_INT64": np.int32, "DT_BOOL": np.bool_}
        if dst not in m:
            return None
        return [args[0].astype(m[dst])]
    if op == "SparseToDense":
        idx, shape, vals, default = args
        out = np.full(tuple(int(s) for s in np.atleast_1d(shape)), default, dtype=np.result_type(vals, default))
        idx = np.asarray(idx).reshape(-1, out.ndim) if out.ndim else np.asarray(idx).reshape(-1, 0)
        vals = np.broadcast_to(vals, (idx.shape[0],))
        for i, v in zip(idx, vals):
            out[tuple(i)] = v
        return [out]
    if op == "Reshape":
        return [args[0].reshape([int(s) for s in args[1]])]
    if op == "Transpose":
        return [np.transpose(args[0], [int(p) for p in args[1]])]
    if op == "ConcatV2":
        return [np.concatenate(args[:-1], axis=int(args[-1]))]
    if op == "Shape":
        return [np.array(args[0].shape, np.int32)]
    return None


# ---------------------------------------------------------------------------------------
# Translation


def _padding(node: dict, ksize_hw: list[int], strides_hw: list[int], dilations_hw: list[int]) -> dict:
    pad = _attr(node, "padding", "VALID")
    if pad == "VALID":
        return {}
    if pad == "SAME":
        if strides_hw == [1, 1]:
            # With stride 1, TF's total padding is (k-1)*d whatever the input size; the odd
            # pixel goes at the end. Explicit pads also work with dilations, which
            # onnxruntime refuses with auto_pad.
            tot = [(k - 1) * d for k, d in zip(ksize_hw, dilations_hw)]
            return {"pads": [tot[0] // 2, tot[1] // 2, tot[0] - tot[0] // 2, tot[1] - tot[1] // 2]}
        if dilations_hw != [1, 1]:
            raise ConversionError(f"{node['name']}: 'SAME' padding with strides and dilations needs static shapes, not supported")
        return {"auto_pad": "SAME_UPPER"}
    if pad == "EXPLICIT":
        e = _attr(node, "explicit_paddings", [])
        if len(e) != 8:
            raise ConversionError(f"{node['name']}: bad explicit_paddings {e}")
        # NHWC pairs: [n0,n1,h0,h1,w0,w1,c0,c1]
        return {"pads": [e[2], e[4], e[3], e[5]]}
    raise ConversionError(f"{node['name']}: unsupported padding {pad}")


def _hw(vals: list[int], fmt: str, name: str) -> list[int]:
    if len(vals) == 4:
        return [vals[1], vals[2]] if fmt == "NHWC" else [vals[2], vals[3]]
    if len(vals) == 2:
        return list(vals)
    raise ConversionError(f"{name}: cannot read spatial values from {vals}")


class Converter:
    def __init__(self, model: dict, weights: dict[str, np.ndarray], input_name: str | None, dynamic_batch: bool):
        self.model = model
        self.weights = weights
        self.g = Graph()
        self.consts: dict[str, np.ndarray] = {}  # TF tensor name -> value
        self.names: dict[str, str] = {}  # TF tensor name -> ONNX tensor name
        self.input_rename = input_name
        self.dynamic_batch = dynamic_batch
        self.inputs: list[onnx.ValueInfoProto] = []

    # -- helpers

    def value(self, ref: str) -> np.ndarray:
        node, idx = _ref(ref)
        t = _tensor(node, idx)
        if t not in self.consts:
            raise ConversionError(f"{ref} must be a constant here")
        return self.consts[t]

    def is_const(self, ref: str) -> bool:
        node, idx = _ref(ref)
        return _tensor(node, idx) in self.consts

    def onnx_name(self, ref: str) -> str:
        node, idx = _ref(ref)
        t = _tensor(node, idx)
        if t in self.names:
            return self.names[t]
        if t in self.consts:
            name = self.g.const(node.replace("/", "_"), self.consts[t])
            self.names[t] = name
            return name
        raise ConversionError(f"tensor {ref} is used before it is defined")

    def bind(self, tf_node: str, onnx_outputs: list[str]) -> None:
        for i, o in enumerate(onnx_outputs):
            self.names[_tensor(tf_node, i)] = o

    def to_nchw(self, x: str) -> str:
        return self.g.add("Transpose", [x], perm=NHWC_TO_NCHW)[0]

    def to_nhwc(self, x: str) -> str:
        return self.g.add("Transpose", [x], perm=NCHW_TO_NHWC)[0]

    # -- main

    def run(self) -> None:
        nodes = self.model["modelTopology"]["node"]
        by_name = {n["name"]: n for n in nodes}
        order = self._toposort(nodes, by_name)
        unsupported = sorted({by_name[n]["op"] for n in order if by_name[n]["op"] not in self.OPS and by_name[n]["op"] not in ("Const", "Placeholder")})
        for name in order:
            n = by_name[name]
            op = n["op"]
            inputs = [i for i in n.get("input", []) if not i.startswith("^")]
            if op == "Const":
                if name not in self.weights:
                    raise ConversionError(f"Const {name} has no weight in the manifest")
                self.consts[name] = self.weights[name]
                continue
            if op == "Placeholder":
                self._placeholder(n)
                continue
            if inputs and all(self.is_const(i) for i in inputs):
                folded = _fold(op, n, [self.value(i) for i in inputs])
                if folded is not None:
                    for k, v in enumerate(folded):
                        self.consts[_tensor(name, k)] = v
                    continue
            if op not in self.OPS:
                raise ConversionError(f"unsupported TF op {op} at {name} (ops this converter lacks in the graph: {', '.join(unsupported)})")
            self.OPS[op](self, n, inputs)

    @staticmethod
    def _toposort(nodes: list[dict], by_name: dict) -> list[str]:
        state: dict[str, int] = {}
        order: list[str] = []
        for root in (n["name"] for n in nodes):
            if root in state:
                continue
            stack = [(root, False)]
            while stack:
                name, done = stack.pop()
                if done:
                    state[name] = 2
                    order.append(name)
                    continue
                if state.get(name) == 2:
                    continue
                if state.get(name) == 1:
                    raise ConversionError(f"cycle at {name}")
                if name not in by_name:
                    raise ConversionError(f"input {name} is not a node of the graph")
                state[name] = 1
                stack.append((name, True))
                for i in by_name[name].get("input", []):
                    dep, _ = _ref(i.lstrip("^"))
                    if state.get(dep) != 2:
                        stack.append((dep, False))
        return order

    # -- ops

    def _placeholder(self, n: dict) -> None:
        dims = [int(d.get("size", -1)) for d in n.get("attr", {}).get("shape", {}).get("shape", {}).get("dim", [])]
        if not dims:
            raise ConversionError(f"input {n['name']} has no static shape")
        shape: list = [d if d >= 0 else None for d in dims]
        if self.dynamic_batch:
            shape[0] = "batch"
        name = self.input_rename or n["name"]
        dt = _attr(n, "dtype", "DT_FLOAT")
        if dt != "DT_FLOAT":
            raise ConversionError(f"input {n['name']}: dtype {dt} is not supported")
        self.inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, shape))
        self.names[n["name"]] = name

    def op_identity(self, n, ins):
        self.bind(n["name"], self.g.add("Identity", [self.onnx_name(ins[0])], name=self.g.uniq(n["name"])))

    def op_binary(self, n, ins):
        onnx_op = {"Add": "Add", "AddV2": "Add", "BiasAdd": "Add", "Sub": "Sub", "Mul": "Mul", "RealDiv": "Div", "Maximum": "Max", "Minimum": "Min"}[n["op"]]
        if n["op"] == "BiasAdd" and _attr(n, "data_format", "NHWC") != "NHWC":
            raise ConversionError(f"{n['name']}: BiasAdd NCHW is not supported")
        self.bind(n["name"], self.g.add(onnx_op, [self.onnx_name(ins[0]), self.onnx_name(ins[1])], name=self.g.uniq(n["name"])))

    def op_unary(self, n, ins):
        onnx_op = {"Sigmoid": "Sigmoid", "Relu": "Relu", "Tanh": "Tanh", "Exp": "Exp"}[n["op"]]
        self.bind(n["name"], self.g.add(onnx_op, [self.onnx_name(ins[0])], name=self.g.uniq(n["name"])))

    def op_leaky(self, n, ins):
        alpha = _attr(n, "alpha", 0.2)
        self.bind(n["name"], self.g.add("LeakyRelu", [self.onnx_name(ins[0])], name=self.g.uniq(n["name"]), alpha=float(alpha)))

    def op_relu6(self, n, ins):
        lo = self.g.const("zero", np.array(0, np.float32))
        hi = self.g.const("six", np.array(6, np.float32))
        self.bind(n["name"], self.g.add("Clip", [self.onnx_name(ins[0]), lo, hi], name=self.g.uniq(n["name"])))

    def op_pad(self, n, ins):
        p = self.value(ins[1]).astype(np.int64)
        if p.ndim != 2 or p.shape[1] != 2:
            raise ConversionError(f"{n['name']}: paddings must be [rank, 2], got {p.shape}")
        pads = np.concatenate([p[:, 0], p[:, 1]]).astype(np.int64)
        args = [self.onnx_name(ins[0]), self.g.const("pads", pads)]
        if n["op"] == "PadV2":
            args.append(self.g.const("pad_value", np.asarray(self.value(ins[2]), np.float32).reshape(())))
        self.bind(n["name"], self.g.add("Pad", args, name=self.g.uniq(n["name"]), mode="constant"))

    def op_conv(self, n, ins):
        fmt = _attr(n, "data_format", "NHWC")
        if fmt != "NHWC":
            raise ConversionError(f"{n['name']}: data_format {fmt} is not supported")
        w = self.value(ins[1]).astype(np.float32)  # [kh, kw, cin, cout] or [kh, kw, c, mult]
        kh, kw = w.shape[0], w.shape[1]
        if n["op"] == "DepthwiseConv2dNative":
            c, mult = w.shape[2], w.shape[3]
            wt = w.reshape(kh, kw, 1, c * mult).transpose(3, 2, 0, 1)
            group = c
        else:
            wt = w.transpose(3, 2, 0, 1)
            group = 1
        attrs = {
            "kernel_shape": [kh, kw],
            "strides": _hw(_attr(n, "strides", [1, 1, 1, 1]), fmt, n["name"]),
            "dilations": _hw(_attr(n, "dilations", [1, 1, 1, 1]), fmt, n["name"]),
            "group": group,
        }
        attrs.update(_padding(n, [kh, kw], attrs["strides"], attrs["dilations"]))
        x = self.to_nchw(self.onnx_name(ins[0]))
        y = self.g.add("Conv", [x, self.g.const(n["name"].replace("/", "_") + "_W", np.ascontiguousarray(wt))], name=self.g.uniq(n["name"]), **attrs)[0]
        self.bind(n["name"], [self.to_nhwc(y)])

    def op_pool(self, n, ins):
        fmt = _attr(n, "data_format", "NHWC")
        if fmt != "NHWC":
            raise ConversionError(f"{n['name']}: data_format {fmt} is not supported")
        k = _hw(_attr(n, "ksize"), fmt, n["name"])
        attrs = {"kernel_shape": k, "strides": _hw(_attr(n, "strides"), fmt, n["name"])}
        attrs.update(_padding(n, k, attrs["strides"], [1, 1]))
        if n["op"] == "AvgPool":
            attrs["count_include_pad"] = 0  # TF averages over the valid pixels only
        x = self.to_nchw(self.onnx_name(ins[0]))
        y = self.g.add("MaxPool" if n["op"] == "MaxPool" else "AveragePool", [x], name=self.g.uniq(n["name"]), **attrs)[0]
        self.bind(n["name"], [self.to_nhwc(y)])

    def op_resize(self, n, ins):
        size = self.value(ins[1]).astype(np.int64).reshape(-1)
        if size.shape != (2,):
            raise ConversionError(f"{n['name']}: size must be [h, w], got {size}")
        align = _attr(n, "align_corners", False)
        half = _attr(n, "half_pixel_centers", False)
        if align and half:
            raise ConversionError(f"{n['name']}: align_corners and half_pixel_centers together")
        ctm = "align_corners" if align else ("half_pixel" if half else "asymmetric")
        # Full 4-d sizes [N, C, h, w] built from the input's shape rather than sizes=[h, w] with
        # axes=[2, 3]: onnxruntime's transpose optimizer mishandles Resize with 'axes'.
        attrs = {"coordinate_transformation_mode": ctm}
        if n["op"] == "ResizeBilinear":
            attrs["mode"] = "linear"
        else:
            attrs["mode"] = "nearest"
            # TF: align_corners rounds, otherwise floors (half_pixel_centers floors (x+0.5)*s).
            attrs["nearest_mode"] = "round_prefer_ceil" if align else "floor"
            if half:
                attrs["coordinate_transformation_mode"] = "tf_half_pixel_for_nn"
        x = self.to_nchw(self.onnx_name(ins[0]))
        nc = self.g.add("Shape", [x], start=0, end=2)[0]
        sizes = self.g.add("Concat", [nc, self.g.const("hw", size)], axis=0)[0]
        y = self.g.add("Resize", [x, "", "", sizes], name=self.g.uniq(n["name"]), **attrs)[0]
        self.bind(n["name"], [self.to_nhwc(y)])

    def op_concat(self, n, ins):
        axis = int(self.value(ins[-1]))
        xs = [self.onnx_name(i) for i in ins[:-1]]
        self.bind(n["name"], self.g.add("Concat", xs, name=self.g.uniq(n["name"]), axis=axis))

    def op_splitv(self, n, ins):
        sizes = self.value(ins[1]).astype(np.int64).reshape(-1)
        axis = int(self.value(ins[2]))
        if (sizes < 0).any():
            raise ConversionError(f"{n['name']}: SplitV with an inferred (-1) size is not supported")
        nm = self.g.uniq(n["name"])
        outs = [f"{nm}:{i}" for i in range(len(sizes))]
        self.bind(n["name"], self.g.add("Split", [self.onnx_name(ins[0]), self.g.const("split", sizes)], outs, name=nm, axis=axis))

    def op_split(self, n, ins):
        axis = int(self.value(ins[0]))
        k = _attr(n, "num_split")
        nm = self.g.uniq(n["name"])
        outs = [f"{nm}:{i}" for i in range(k)]
        self.bind(n["name"], self.g.add("Split", [self.onnx_name(ins[1])], outs, name=nm, axis=axis, num_outputs=k))

    def op_reshape(self, n, ins):
        shape = self.value(ins[1]).astype(np.int64).reshape(-1).copy()
        if self.dynamic_batch and len(shape) and shape[0] == 1:
            shape[0] = 0  # copy the batch dimension from the input
        self.bind(n["name"], self.g.add("Reshape", [self.onnx_name(ins[0]), self.g.const("shape", shape)], name=self.g.uniq(n["name"])))

    def op_transpose(self, n, ins):
        perm = [int(p) for p in self.value(ins[1]).reshape(-1)]
        self.bind(n["name"], self.g.add("Transpose", [self.onnx_name(ins[0])], name=self.g.uniq(n["name"]), perm=perm))

    OPS = {
        "Identity": op_identity,
        "StopGradient": op_identity,
        "Add": op_binary,
        "AddV2": op_binary,
        "BiasAdd": op_binary,
        "Sub": op_binary,
        "Mul": op_binary,
        "RealDiv": op_binary,
        "Maximum": op_binary,
        "Minimum": op_binary,
        "Sigmoid": op_unary,
        "Relu": op_unary,
        "Tanh": op_unary,
        "Exp": op_unary,
        "Relu6": op_relu6,
        "LeakyRelu": op_leaky,
        "Pad": op_pad,
        "PadV2": op_pad,
        "Conv2D": op_conv,
        "DepthwiseConv2dNative": op_conv,
        "MaxPool": op_pool,
        "AvgPool": op_pool,
        "ResizeBilinear": op_resize,
        "ResizeNearestNeighbor": op_resize,
        "ConcatV2": op_concat,
        "SplitV": op_splitv,
        "Split": op_split,
        "Reshape": op_reshape,
        "Transpose": op_transpose,
    }


# ---------------------------------------------------------------------------------------
# Optimisation passes on the ONNX node list


def _attrs(node: onnx.NodeProto) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _set_attr(node: onnx.NodeProto, key: str, value) -> None:
    for i, a in enumerate(node.attribute):
        if a.name == key:
            del node.attribute[i]
            break
    node.attribute.append(helper.make_attribute(key, value))


def _consumers(nodes: list[onnx.NodeProto]) -> dict[str, list[onnx.NodeProto]]:
    c: dict[str, list[onnx.NodeProto]] = defaultdict(list)
    for n in nodes:
        for i in n.input:
            if i:
                c[i].append(n)
    return c


def _producers(nodes: list[onnx.NodeProto]) -> dict[str, onnx.NodeProto]:
    return {o: n for n in nodes for o in n.output}


def _replace_input(nodes: list[onnx.NodeProto], old: str, new: str) -> None:
    for n in nodes:
        for k, i in enumerate(n.input):
            if i == old:
                n.input[k] = new


def fold_conv_bias(g: Graph, outputs: set[str]) -> int:
    """Conv -> Transpose(NCHW->NHWC) -> Add(const [C]) becomes Conv(B) -> Transpose."""
    count = 0
    prod = _producers(g.nodes)
    cons = _consumers(g.nodes)
    for add in list(g.nodes):
        if add.op_type != "Add":
            continue
        a, b = add.input
        if a in g.inits and b not in g.inits:
            a, b = b, a
        if b not in g.inits:
            continue
        t = prod.get(a)
        if t is None or t.op_type != "Transpose" or list(_attrs(t)["perm"]) != NCHW_TO_NHWC:
            continue
        conv = prod.get(t.input[0])
        if conv is None or conv.op_type != "Conv" or len(conv.input) != 2:
            continue
        bias = g.inits[b]
        cout = g.inits[conv.input[1]].shape[0]
        if bias.size != cout or (bias.ndim > 1 and bias.shape[:-1] != (1,) * (bias.ndim - 1)):
            continue
        if len(cons[conv.output[0]]) != 1 or len(cons[t.output[0]]) != 1 or t.output[0] in outputs:
            continue
        conv.input.append(g.const("B", bias.reshape(-1).astype(np.float32)))
        _replace_input(g.nodes, add.output[0], t.output[0])
        if add.output[0] in outputs:  # keep the graph output name
            t.output[0], old = add.output[0], t.output[0]
            _replace_input(g.nodes, old, add.output[0])
        g.nodes.remove(add)
        count += 1
        prod = _producers(g.nodes)
        cons = _consumers(g.nodes)
    return count


def cancel_transposes(g: Graph, outputs: set[str]) -> int:
    """Transpose(p1) -> Transpose(p2): identity composition is removed, otherwise merged."""
    count = 0
    changed = True
    while changed:
        changed = False
        prod = _producers(g.nodes)
        for t2 in list(g.nodes):
            if t2.op_type != "Transpose":
                continue
            t1 = prod.get(t2.input[0])
            if t1 is None or t1.op_type != "Transpose":
                continue
            p1 = list(_attrs(t1)["perm"])
            p2 = list(_attrs(t2)["perm"])
            comp = [p1[i] for i in p2]
            if comp == list(range(len(comp))):
                if t2.output[0] in outputs:
                    g.nodes[g.nodes.index(t2)] = helper.make_node("Identity", [t1.input[0]], [t2.output[0]], name=t2.name)
                else:
                    _replace_input(g.nodes, t2.output[0], t1.input[0])
                    g.nodes.remove(t2)
            else:
                t2.input[0] = t1.input[0]
                _set_attr(t2, "perm", comp)
            count += 1
            changed = True
            break
        remove_dead(g, outputs)
    return count


def fold_pads(g: Graph, outputs: set[str]) -> int:
    """Constant Pad on H, W only, consumed only by Conv (value 0) or MaxPool (value -inf)."""
    count = 0
    prod = _producers(g.nodes)
    cons = _consumers(g.nodes)
    for op in list(g.nodes):
        if op.op_type not in ("Conv", "MaxPool"):
            continue
        pad = prod.get(op.input[0])
        if pad is None or pad.op_type != "Pad" or pad.output[0] in outputs or len(cons[pad.output[0]]) != 1:
            continue
        if _attrs(pad).get("mode", b"constant") not in (b"constant", "constant"):
            continue
        pads = g.inits.get(pad.input[1])
        if pads is None or pads.shape != (8,):
            continue
        value = 0.0
        if len(pad.input) > 2 and pad.input[2]:
            if pad.input[2] not in g.inits:
                continue
            value = float(g.inits[pad.input[2]])
        want = 0.0 if op.op_type == "Conv" else -np.inf
        if value != want:
            continue
        if pads[0] or pads[1] or pads[4] or pads[5] or (pads < 0).any():
            continue
        a = _attrs(op)
        if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            continue
        old = list(a.get("pads", [0, 0, 0, 0]))
        new = [old[0] + int(pads[2]), old[1] + int(pads[3]), old[2] + int(pads[6]), old[3] + int(pads[7])]
        _set_attr(op, "pads", new)
        op.input[0] = pad.input[0]
        g.nodes.remove(pad)
        count += 1
        prod = _producers(g.nodes)
        cons = _consumers(g.nodes)
    return count


def remove_dead(g: Graph, outputs: set[str]) -> None:
    live = set(outputs)
    keep = []
    for n in reversed(g.nodes):
        if any(o in live for o in n.output):
            keep.append(n)
            live.update(i for i in n.input if i)
    g.nodes = list(reversed(keep))
    g.inits = {k: v for k, v in g.inits.items() if k in live}


# ---------------------------------------------------------------------------------------


def _onnx_dtype(a: np.ndarray) -> int:
    return helper.np_dtype_to_tensor_dtype(a.dtype)


def convert(model_json: str, renames: dict[str, str], input_name: str | None, dynamic_batch: bool, opset: int) -> onnx.ModelProto:
    model, weights = load_tfjs(model_json)
    conv = Converter(model, weights, input_name, dynamic_batch)
    conv.run()
    g = conv.g

    sig = model.get("signature", {}).get("outputs", {})
    tf_outputs = list(renames) if renames else (list(sig) or [])
    if not tf_outputs:
        raise ConversionError("no outputs: pass --rename or give the model a signature")
    outputs = []
    for tfo in tf_outputs:
        src = conv.onnx_name(tfo)
        dst = renames.get(tfo, _ref(tfo)[0])
        g.add("Identity", [src], [dst], name=f"output_{dst}")
        dims = [int(d.get("size", -1)) for d in sig.get(tfo, {}).get("tensorShape", {}).get("dim", [])] if tfo in sig else None
        shape = None
        if dims:
            shape = [d if d >= 0 else None for d in dims]
            if dynamic_batch:
                shape[0] = "batch"
        outputs.append(helper.make_tensor_value_info(dst, TensorProto.FLOAT, shape))
    out_names = {o.name for o in outputs}

    remove_dead(g, out_names)
    stats = {
        "bias": fold_conv_bias(g, out_names),
        "transposes": cancel_transposes(g, out_names),
        "pads": fold_pads(g, out_names),
    }
    # Identity nodes that only rename an internal tensor go; the output Identities stay.
    prod = _producers(g.nodes)
    for n in list(g.nodes):
        if n.op_type == "Identity" and n.output[0] not in out_names:
            _replace_input(g.nodes, n.output[0], n.input[0])
            g.nodes.remove(n)
    # An output Identity whose source is produced by a node with a single use: rename instead.
    cons = _consumers(g.nodes)
    prod = _producers(g.nodes)
    for n in list(g.nodes):
        if n.op_type == "Identity" and n.output[0] in out_names:
            p = prod.get(n.input[0])
            if p is not None and len(cons[n.input[0]]) == 1 and n.input[0] not in out_names:
                k = list(p.output).index(n.input[0])
                p.output[k] = n.output[0]
                g.nodes.remove(n)
    remove_dead(g, out_names)
    print(f"tfjs2onnx: folded {stats['bias']} biases, removed/merged {stats['transposes']} transpose pairs, folded {stats['pads']} pads; "
          f"{len(g.nodes)} nodes: {dict(Counter(n.op_type for n in g.nodes))}", file=sys.stderr)

    inits = [numpy_helper.from_array(np.ascontiguousarray(v), k) for k, v in g.inits.items()]
    graph = helper.make_graph(g.nodes, "tfjs2onnx", conv.inputs, outputs, initializer=inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="corb-tfjs2onnx", producer_version="1")
    m.ir_version = 8 if opset <= 18 else 10
    meta = {
        "source": os.path.basename(model_json),
        "generatedBy": str(model.get("generatedBy", "")),
        "convertedBy": str(model.get("convertedBy", "")),
    }
    for k, v in meta.items():
        m.metadata_props.append(onnx.StringStringEntryProto(key=k, value=v))
    m = onnx.shape_inference.infer_shapes(m, strict_mode=True)
    onnx.checker.check_model(m, full_check=True)
    return m


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model_json")
    ap.add_argument("out")
    ap.add_argument("--rename", action="append", default=[], metavar="TF_OUTPUT=NAME", help="graph outputs, in order, and their ONNX names")
    ap.add_argument("--input-name", default=None)
    ap.add_argument("--dynamic-batch", action="store_true")
    ap.add_argument("--opset", type=int, default=18)
    a = ap.parse_args(argv)
    renames: dict[str, str] = {}
    for r in a.rename:
        if "=" not in r:
            ap.error(f"--rename {r}: want TF_OUTPUT=NAME")
        k, v = r.split("=", 1)
        renames[k] = v
    try:
        m = convert(a.model_json, renames, a.input_name, a.dynamic_batch, a.opset)
    except (ConversionError, onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as e:
        print(f"tfjs2onnx: {e}", file=sys.stderr)
        return 1
    tmp = a.out + ".part"
    onnx.save(m, tmp)
    os.replace(tmp, a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
