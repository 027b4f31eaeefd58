"""A small numpy interpreter for TensorFlow.js graph models, with TensorFlow's semantics.

It exists to check Corb's converter (tfjs2onnx.py) numerically and shares no code with it on
purpose: it reads model.json and the weight shards on its own, and runs the graph as
TensorFlow would (NHWC convolutions and pools, TF's 'SAME' padding, TF's ResizeBilinear
sampling), op by op, with no layout rewriting and no optimisation. Slow, but fine for a
handful of images.
"""

from __future__ import annotations

import base64
import json
import math
import os

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def _load(model_json: str):
    with open(model_json, "r", encoding="utf-8") as f:
        model = json.load(f)
    base = os.path.dirname(os.path.abspath(model_json))
    weights = {}
    for group in model["weightsManifest"]:
        data = b"".join(open(os.path.join(base, p), "rb").read() for p in group["paths"])
        pos = 0
        for w in group["weights"]:
            count = 1
            for s in w["shape"]:
                count *= int(s)
            q = w.get("quantization")
            if q is None:
                dt = {"float32": "<f4", "int32": "<i4", "bool": "?"}[w["dtype"]]
                a = np.frombuffer(data[pos:], dtype=dt, count=count)
                pos += a.nbytes
            elif q["dtype"] == "float16":
                a = np.frombuffer(data[pos:], dtype="<f2", count=count).astype("<f4")
                pos += 2 * count
            else:
                qa = np.frombuffer(data[pos:], dtype={"uint8": "u1", "uint16": "<u2"}[q["dtype"]], count=count)
                pos += qa.nbytes
                a = qa * np.float32(q["scale"]) + np.float32(q["min"])
            weights[w["name"]] = np.array(a).reshape([int(s) for s in w["shape"]])
    return model, weights


def _attr(node, key, default=None):
    a = node.get("attr", {}).get(key)
    if a is None:
        return default
    for k in ("b", "f", "i"):
        if k in a:
            return {"b": bool, "f": float, "i": int}[k](a[k])
    if "s" in a:
        return base64.b64decode(a["s"]).decode()
    if "list" in a:
        return [int(v) for v in a["list"].get("i", [])]
    return default


def _same_pads(size, k, s, d):
    eff = (k - 1) * d + 1
    out = math.ceil(size / s)
    total = max((out - 1) * s + eff - size, 0)
    return total // 2, total - total // 2


def _spatial_pad(x, node, kh, kw, sh, sw, dh, dw, value):
    mode = _attr(node, "padding")
    if mode == "VALID":
        return x
    if mode == "SAME":
        ph = _same_pads(x.shape[1], kh, sh, dh)
        pw = _same_pads(x.shape[2], kw, sw, dw)
    elif mode == "EXPLICIT":
        e = _attr(node, "explicit_paddings")
        ph, pw = (e[2], e[3]), (e[4], e[5])
    else:
        raise ValueError(f"padding {mode}")
    return np.pad(x, ((0, 0), ph, pw, (0, 0)), constant_values=value)


def conv2d_nhwc(x, w, node):
    """TF Conv2D: x [N,H,W,Cin], w [kh,kw,Cin,Cout]."""
    assert _attr(node, "data_format", "NHWC") == "NHWC"
    _, sh, sw, _ = _attr(node, "strides")
    _, dh, dw, _ = _attr(node, "dilations", [1, 1, 1, 1])
    kh, kw, cin, cout = w.shape
    assert x.shape[3] == cin, (x.shape, w.shape)
    x = _spatial_pad(x, node, kh, kw, sh, sw, dh, dw, 0.0)
    eh, ew = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    win = sliding_window_view(x, (eh, ew), axis=(1, 2))[:, ::sh, ::sw, :, ::dh, ::dw]  # N,Ho,Wo,Cin,kh,kw
    return np.einsum("nhwcij,ijco->nhwo", win, w, optimize=True).astype(np.float32)


def maxpool_nhwc(x, node):
    _, kh, kw, _ = _attr(node, "ksize")
    _, sh, sw, _ = _attr(node, "strides")
    x = _spatial_pad(x, node, kh, kw, sh, sw, 1, 1, -np.inf)
    win = sliding_window_view(x, (kh, kw), axis=(1, 2))[:, ::sh, ::sw]
    return win.max(axis=(-2, -1))


def resize_bilinear_nhwc(x, size, node):
    """tf.raw_ops.ResizeBilinear, following TensorFlow's CPU kernel."""
    align = _attr(node, "align_corners", False)
    half = _attr(node, "half_pixel_centers", False)
    _, h, w, _ = x.shape
    oh, ow = int(size[0]), int(size[1])

    def scale(i, o):
        return (i - 1) / (o - 1) if align and o > 1 else i / o

    def axis(o, i):
        s = scale(i, o)
        out = np.arange(o, dtype=np.float64)
        src = (out + 0.5) * s - 0.5 if half else out * s
        lo = np.floor(src)
        frac = (src - lo).astype(np.float32)
        lo_i = np.clip(lo, 0, i - 1).astype(np.int64)
        hi_i = np.clip(np.ceil(src), 0, i - 1).astype(np.int64)
        return lo_i, hi_i, frac

    y0, y1, fy = axis(oh, h)
    x0, x1, fx = axis(ow, w)
    top = x[:, y0][:, :, x0] * (1 - fx)[None, None, :, None] + x[:, y0][:, :, x1] * fx[None, None, :, None]
    bot = x[:, y1][:, :, x0] * (1 - fx)[None, None, :, None] + x[:, y1][:, :, x1] * fx[None, None, :, None]
    return (top * (1 - fy)[None, :, None, None] + bot * fy[None, :, None, None]).astype(np.float32)


def depthwise_nhwc(x, w, node):
    """TF DepthwiseConv2dNative: w [kh,kw,C,M] -> output channel c*M + m."""
    kh, kw, c, m = w.shape
    outs = []
    for ci in range(c):
        outs.append(conv2d_nhwc(x[..., ci : ci + 1], w[:, :, ci : ci + 1, :], node))
    return np.concatenate(outs, axis=3)


def avgpool_nhwc(x, node):
    """TF AvgPool: the mean over the window's pixels inside the image (padding not counted)."""
    _, kh, kw, _ = _attr(node, "ksize")
    _, sh, sw, _ = _attr(node, "strides")
    xs = _spatial_pad(x, node, kh, kw, sh, sw, 1, 1, 0.0)
    ones = _spatial_pad(np.ones_like(x[..., :1]), node, kh, kw, sh, sw, 1, 1, 0.0)
    s = sliding_window_view(xs, (kh, kw), axis=(1, 2))[:, ::sh, ::sw].sum(axis=(-2, -1))
    c = sliding_window_view(ones, (kh, kw), axis=(1, 2))[:, ::sh, ::sw].sum(axis=(-2, -1))
    return (s / c).astype(np.float32)


def resize_nearest_nhwc(x, size, node):
    """tf.raw_ops.ResizeNearestNeighbor, following TensorFlow's CPU kernel."""
    align = _attr(node, "align_corners", False)
    half = _attr(node, "half_pixel_centers", False)
    _, h, w, _ = x.shape

    def axis(o, i):
        out = np.arange(o, dtype=np.float64)
        if align and o > 1:
            src = np.round((i - 1) / (o - 1) * out + 1e-9)  # roundf: halves away from zero
        elif half:
            src = np.floor((out + 0.5) * (i / o))
        else:
            src = np.floor(out * (i / o))
        return np.clip(src, 0, i - 1).astype(np.int64)

    return x[:, axis(int(size[0]), h)][:, :, axis(int(size[1]), w)]


_ELEMENTWISE = {
    "Sub": np.subtract,
    "Mul": np.multiply,
    "RealDiv": np.divide,
    "Maximum": np.maximum,
    "Minimum": np.minimum,
    "Relu": lambda x: np.maximum(x, 0),
    "Relu6": lambda x: np.clip(x, 0, 6),
    "Tanh": np.tanh,
    "Exp": np.exp,
}


class TFJSReference:
    def __init__(self, model_json: str):
        self.model, self.weights = _load(model_json)
        self.nodes = {n["name"]: n for n in self.model["modelTopology"]["node"]}

    def run(self, feeds: dict[str, np.ndarray], outputs: list[str]) -> list[np.ndarray]:
        memo: dict[str, list[np.ndarray]] = {}

        def get(ref: str) -> np.ndarray:
            name, idx = (ref.rsplit(":", 1) + ["0"])[:2] if ":" in ref else (ref, "0")
            if name not in memo:
                memo[name] = ev(self.nodes[name])
            return memo[name][int(idx)]

        def ev(n) -> list[np.ndarray]:
            op = n["op"]
            if op == "Const":
                return [self.weights[n["name"]]]
            if op == "Placeholder":
                return [feeds[n["name"]]]
            a = [get(i) for i in n.get("input", []) if not i.startswith("^")]
            if op == "Identity":
                return [a[0]]
            if op in ("Add", "AddV2", "BiasAdd"):
                return [a[0] + a[1]]
            if op == "Sigmoid":
                return [1.0 / (1.0 + np.exp(-a[0]))]
            if op == "LeakyRelu":
                alpha = np.float32(_attr(n, "alpha", 0.2))
                return [np.where(a[0] > 0, a[0], a[0] * alpha)]
            if op in ("Pad", "PadV2"):
                value = a[2].item() if op == "PadV2" else 0
                return [np.pad(a[0], [tuple(p) for p in a[1]], constant_values=value)]
            if op == "Conv2D":
                return [conv2d_nhwc(a[0], a[1], n)]
            if op == "DepthwiseConv2dNative":
                return [depthwise_nhwc(a[0], a[1], n)]
            if op == "MaxPool":
                return [maxpool_nhwc(a[0], n)]
            if op == "AvgPool":
                return [avgpool_nhwc(a[0], n)]
            if op == "ResizeBilinear":
                return [resize_bilinear_nhwc(a[0], a[1], n)]
            if op == "ResizeNearestNeighbor":
                return [resize_nearest_nhwc(a[0], a[1], n)]
            if op in _ELEMENTWISE:
                return [np.asarray(_ELEMENTWISE[op](*a), np.float32)]
            if op == "Split":
                return np.split(a[1], _attr(n, "num_split"), axis=int(a[0]))
            if op == "ConcatV2":
                return [np.concatenate(a[:-1], axis=int(a[-1]))]
            if op == "SplitV":
                sizes, axis = [int(s) for s in a[1]], int(a[2])
                return np.split(a[0], np.cumsum(sizes)[:-1], axis=axis)
            if op == "Reshape":
                return [a[0].reshape([int(s) for s in a[1]])]
            if op == "Transpose":
                return [np.transpose(a[0], [int(p) for p in a[1]])]
            if op == "SparseToDense":
                idx, shape, vals, default = a
                out = np.full([int(s) for s in shape], default, dtype=np.result_type(vals, default))
                idx = np.asarray(idx)
                idx = idx.reshape(-1, 1) if idx.ndim < 2 else idx
                vals = np.broadcast_to(vals, (idx.shape[0],))
                for i, v in zip(idx, vals):
                    out[tuple(i)] = v
                return [out]
            raise NotImplementedError(f"reference interpreter lacks op {op}")

        return [get(o) for o in outputs]
