#!/usr/bin/env python3
"""Checks a converted NanoDet-g ONNX model.

  python check.py --onnx nanodet-g-416.onnx --tfjs nanodet.json --media DIR [--draw OUT.png]

1. onnx.checker.check_model(full_check=True) and the expected input/output names and shapes.
2. Numeric: the TF.js graph run by an independent numpy interpreter (tfjs_reference.py, TF
   semantics, NHWC, straight from the json) against the ONNX model run by onnxruntime, on a
   real image (person.jpg); the largest absolute difference over all outputs is reported and
   must be below --tolerance.
3. Sanity: the outputs are decoded (NanoDet GFL: sigmoid class scores, 4 sides x 11 bins,
   softmax, expected bin x stride = distance from the cell centre) on the sample images:
   person.jpg must give a confident person where the labelled person stands, dog.jpg must
   give no confident person, messi5.jpg and kite.jpg at least one person each.
Prints a JSON summary on stdout; exits 1 with the failed checks on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tfjs_reference import TFJSReference  # noqa: E402

SIZE = 416
MEAN = np.array([103.53, 116.28, 123.675], np.float32)  # B, G, R
STD = np.array([57.375, 57.12, 58.395], np.float32)
STRIDES = (8, 16, 32)
REG_BINS = 11
PERSON = 0

# ONNX output name -> TF.js graph output (the graph's signature).
OUTPUTS = {
    "cls_8": "Identity:0",
    "reg_8": "Identity_3:0",
    "cls_16": "Identity_1:0",
    "reg_16": "Identity_4:0",
    "cls_32": "Identity_2:0",
    "reg_32": "Identity_5:0",
}
TFJS_INPUT = "input_1"
ONNX_INPUT = "input"

# Labels kept by the project (pixel boxes x1, y1, x2, y2 in the original image), read off the
# image by eye: darknet's person.jpg (640x424) has one person standing right of centre.
PERSON_JPG_PERSON = (190, 95, 275, 380)


def preprocess(path: str) -> tuple[np.ndarray, tuple[int, int]]:
    """Plain resize to 416x416 (no letterbox), BGR, (x - mean) / std, NCHW [1,3,416,416]."""
    im = Image.open(path).convert("RGB")
    w, h = im.size
    rgb = np.asarray(im.resize((SIZE, SIZE), Image.BILINEAR), np.float32)
    bgr = rgb[:, :, ::-1]
    x = (bgr - MEAN) / STD
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None]), (w, h)


def decode(outs: dict[str, np.ndarray], img_wh: tuple[int, int], cls: int = PERSON, thresh: float = 0.35, iou: float = 0.5):
    """Boxes of one class in original-image pixels, [(score, x1, y1, x2, y2)], NMS applied."""
    sx, sy = img_wh[0] / SIZE, img_wh[1] / SIZE
    cand = []
    for s in STRIDES:
        g = SIZE // s
        scores = outs[f"cls_{s}"][0, :, cls]
        reg = outs[f"reg_{s}"][0].reshape(-1, 4, REG_BINS)
        keep = np.nonzero(scores >= thresh)[0]
        if keep.size == 0:
            continue
        r = reg[keep]
        p = np.exp(r - r.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        d = (p * np.arange(REG_BINS)).sum(-1) * s  # left, top, right, bottom
        cx = (keep % g + 0.5) * s
        cy = (keep // g + 0.5) * s
        for k, i in enumerate(keep):
            cand.append((float(scores[i]), (cx[k] - d[k, 0]) * sx, (cy[k] - d[k, 1]) * sy, (cx[k] + d[k, 2]) * sx, (cy[k] + d[k, 3]) * sy))
    cand.sort(key=lambda c: -c[0])
    out = []
    for c in cand:
        if all(box_iou(c[1:], o[1:]) < iou for o in out):
            out.append(c)
    return out


def box_iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--onnx", required=True)
    ap.add_argument("--tfjs", required=True)
    ap.add_argument("--media", required=True)
    ap.add_argument("--tolerance", type=float, default=1e-4)
    ap.add_argument("--draw", help="write person.jpg with the detected person boxes here")
    a = ap.parse_args(argv)
    failures: list[str] = []
    summary: dict = {}

    model = onnx.load(a.onnx)
    onnx.checker.check_model(model, full_check=True)
    sess = ort.InferenceSession(a.onnx, providers=["CPUExecutionProvider"])
    ins = [(i.name, i.shape) for i in sess.get_inputs()]
    outs = [(o.name, o.shape) for o in sess.get_outputs()]
    summary["inputs"] = ins
    summary["outputs"] = outs
    if [i[0] for i in ins] != [ONNX_INPUT] or ins[0][1][1:] != [3, SIZE, SIZE]:
        failures.append(f"input is {ins}, want {ONNX_INPUT} [batch,3,{SIZE},{SIZE}]")
    want_outs = list(OUTPUTS)
    if [o[0] for o in outs] != want_outs:
        failures.append(f"outputs are {[o[0] for o in outs]}, want {want_outs}")
    for name, shape in outs:
        s = int(name.split("_")[1])
        n = (SIZE // s) ** 2
        c = 80 if name.startswith("cls") else 4 * REG_BINS
        if shape[1:] != [n, c]:
            failures.append(f"{name} has shape {shape}, want [batch,{n},{c}]")

    def run(x):
        return dict(zip(want_outs, sess.run(want_outs, {ONNX_INPUT: x})))

    # Numeric check against the independent interpreter.
    x, wh = preprocess(os.path.join(a.media, "person.jpg"))
    t = time.monotonic()
    ref = TFJSReference(a.tfjs).run({TFJS_INPUT: x}, [OUTPUTS[o] for o in want_outs])
    summary["reference_seconds"] = round(time.monotonic() - t, 2)
    got = run(x)
    diffs = {o: float(np.abs(r - got[o]).max()) for o, r in zip(want_outs, ref)}
    summary["max_abs_diff"] = max(diffs.values())
    summary["max_abs_diff_per_output"] = diffs
    if not summary["max_abs_diff"] < a.tolerance:
        failures.append(f"max abs diff {summary['max_abs_diff']} vs the TF.js reference, want < {a.tolerance}")

    # Batch: two different images in one run give the same as one by one.
    x2, _ = preprocess(os.path.join(a.media, "dog.jpg"))
    if isinstance(ins[0][1][0], str) or ins[0][1][0] is None:
        both = run(np.concatenate([x, x2]))
        single2 = run(x2)
        bd = max(max(float(np.abs(both[o][0] - got[o][0]).max()), float(np.abs(both[o][1] - single2[o][0]).max())) for o in want_outs)
        summary["batch_2_max_abs_diff"] = bd
        if not bd < a.tolerance:
            failures.append(f"batch of 2 differs from single runs by {bd}")

    # Sanity: decoded detections.
    t = time.monotonic()
    got = run(x)
    summary["onnx_seconds_one_image"] = round(time.monotonic() - t, 3)
    dets = {}
    for name in ("person.jpg", "dog.jpg", "messi5.jpg", "kite.jpg"):
        xi, whi = preprocess(os.path.join(a.media, name))
        d = decode(run(xi), whi)
        dets[name] = [[round(v, 3 if k == 0 else 1) for k, v in enumerate(b)] for b in d]
    summary["person_detections"] = dets
    p = dets["person.jpg"]
    if not p or p[0][0] < 0.5:
        failures.append(f"person.jpg: no person with score >= 0.5: {p}")
    else:
        summary["person_jpg_iou_with_label"] = round(box_iou(p[0][1:], PERSON_JPG_PERSON), 3)
        if summary["person_jpg_iou_with_label"] < 0.6:
            failures.append(f"person.jpg: top person {p[0]} has IoU {summary['person_jpg_iou_with_label']} with the label {PERSON_JPG_PERSON}, want >= 0.6")
    if dets["dog.jpg"] and dets["dog.jpg"][0][0] >= 0.5:
        failures.append(f"dog.jpg: a confident person where there is none: {dets['dog.jpg'][0]}")
    for name in ("messi5.jpg", "kite.jpg"):
        if not dets[name] or dets[name][0][0] < 0.5:
            failures.append(f"{name}: no person with score >= 0.5")

    if a.draw:
        from PIL import ImageDraw

        im = Image.open(os.path.join(a.media, "person.jpg")).convert("RGB")
        dr = ImageDraw.Draw(im)
        dr.rectangle(PERSON_JPG_PERSON, outline=(0, 0, 255), width=2)
        for b in p:
            dr.rectangle(b[1:], outline=(255, 0, 0), width=3)
            dr.text((b[1] + 4, b[2] + 4), f"{b[0]:.2f}", fill=(255, 0, 0))
        im.save(a.draw)

    print(json.dumps(summary, indent=1))
    for f in failures:
        print(f"check: FAIL {f}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
