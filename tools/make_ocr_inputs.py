#!/usr/bin/python3
"""Inputs for the PaddleOCR models that look like their real inputs: dark text
drawn on a light background, normalised as PaddleOCR does. Random noise drives the
detector's sigmoid output to ~1e-5 everywhere, which makes relative agreement
figures meaningless; real-looking text keeps them well conditioned.

usage: /usr/bin/python3 tools/make_ocr_inputs.py OUTDIR
Writes OUTDIR/det/x.npy (1x3x320x320), OUTDIR/rec/x.npy (1x3x48x320),
OUTDIR/cls/x.npy (1x3x48x192).
"""
import os
import sys

import numpy as np
from PIL import Image, ImageDraw, ImageFont

LINES = ["ONNX LRSC 2017", "low rank + sparse", "Conv Gemm MatMul", "W = L + S, r <= 16"]


def text_image(w, h, lines, scale):
    small = Image.new("RGB", (w // scale, h // scale), (235, 232, 225))
    d = ImageDraw.Draw(small)
    font = ImageFont.load_default()
    for i, t in enumerate(lines):
        d.text((3, 2 + 12 * i), t, fill=(20, 20, 30), font=font)
    return small.resize((w, h), Image.BILINEAR)


def det_norm(im):
    x = np.asarray(im, dtype=np.float32) / 255.0
    x = (x - np.array([0.485, 0.456, 0.406], np.float32)) / np.array([0.229, 0.224, 0.225], np.float32)
    return x.transpose(2, 0, 1)[None].astype(np.float32)


def rec_norm(im):
    x = np.asarray(im, dtype=np.float32) / 255.0
    return ((x - 0.5) / 0.5).transpose(2, 0, 1)[None].astype(np.float32)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "build/check_models/ocr_inputs"
    items = [("det", det_norm(text_image(320, 320, LINES * 3, 2))),
             ("rec", rec_norm(text_image(320, 48, LINES[:1], 3))),
             ("cls", rec_norm(text_image(192, 48, LINES[:1], 3)))]
    for name, x in items:
        os.makedirs(os.path.join(out, name), exist_ok=True)
        np.save(os.path.join(out, name, "x.npy"), x)


if __name__ == "__main__":
    main()
