#!/usr/bin/python3
"""Independent reference for onnx-lrsc image preprocessing, written with Pillow + numpy.

  ref_preprocess.py OUT.npy --size HxW [--preset P] [--resize S] [--channels 1|3]
                    [--layout nchw|nhwc] IMAGE...

Writes one float32 array [N, C, H, W] (or [N, H, W, C]) holding every IMAGE in the
order given, computed the way a torchvision-style Python pipeline does it:
Image.open -> convert("RGB"/"L") -> Resize(short side S, long side int(S*long/short),
BILINEAR, i.e. Pillow's antialiased resize) -> CenterCrop (offsets round((size-crop)/2))
-> optional RGB->BGR -> (x * scale - mean) / std in float32.  --resize 0 stretches
to exactly HxW.  Run with /usr/bin/python3 (the interpreter that has Pillow).
"""
import argparse

import numpy as np
from PIL import Image

PRESETS = {
    # name: (bgr, scale, mean, std)
    "torchvision": (False, 1 / 255, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "caffe": (True, 1.0, (104.0, 117.0, 123.0), (1.0, 1.0, 1.0)),
    "unit": (False, 1 / 255, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
    "signed": (False, 1 / 127.5, (1.0, 1.0, 1.0), (1.0, 1.0, 1.0)),
    "raw": (False, 1.0, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
}


def preprocess(path, h, w, preset, resize, channels, layout):
    bgr, scale, mean, std = PRESETS[preset]
    im = Image.open(path)
    im = im.convert("RGB" if channels == 3 else "L")
    if resize > 0:
        iw, ih = im.size
        if iw <= ih:
            nw, nh = resize, int(resize * ih / iw)
        else:
            nw, nh = int(resize * iw / ih), resize
        im = im.resize((nw, nh), Image.BILINEAR)
        top = int(round((nh - h) / 2.0))
        left = int(round((nw - w) / 2.0))
        im = im.crop((left, top, left + w, top + h))
    else:
        im = im.resize((w, h), Image.BILINEAR)
    a = np.asarray(im, dtype=np.uint8)
    if channels == 1:
        a = a[:, :, None]
        mean = (sum(mean) / 3,)
        std = (sum(std) / 3,)
    elif bgr:
        a = a[:, :, ::-1]
    x = a.astype(np.float32) * np.float32(scale)
    x = (x - np.array(mean, dtype=np.float32)) / np.array(std, dtype=np.float32)
    x = x.astype(np.float32)
    return x if layout == "nhwc" else x.transpose(2, 0, 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("images", nargs="+")
    ap.add_argument("--size", required=True)
    ap.add_argument("--preset", default="torchvision", choices=sorted(PRESETS))
    ap.add_argument("--resize", type=int, default=None)
    ap.add_argument("--channels", type=int, default=3, choices=(1, 3))
    ap.add_argument("--layout", default="nchw", choices=("nchw", "nhwc"))
    a = ap.parse_args()
    h, w = (int(v) for v in a.size.lower().split("x"))
    resize = a.resize if a.resize is not None else (
        int(np.floor(min(h, w) * 256 / 224 + 0.5)) if a.preset in ('torchvision', 'caffe') else min(h, w))
    xs = [preprocess(p, h, w, a.preset, resize, a.channels, a.layout) for p in a.images]
    np.save(a.out, np.stack(xs).astype("<f4"))


if __name__ == "__main__":
    main()
