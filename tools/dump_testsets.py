#!/usr/bin/python3
"""Write the full Fashion-MNIST and CIFAR-10 test sets as .npy for tools/eval_accuracy.js.

usage: /usr/bin/python3 tools/dump_testsets.py [OUTDIR]   (default build/data)
Writes OUTDIR/fashion_mnist_test{,_labels}.npy (uint8 N x 1 x 28 x 28, int64 labels)
from /usr/share/datasets/fashion-mnist, and OUTDIR/cifar10_test{,_labels}.npy
(uint8 N x 3 x 32 x 32 RGB) from ../shared/data/cifar10/test when it exists.
"""
import gzip
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "data")
    os.makedirs(out, exist_ok=True)
    fm = "/usr/share/datasets/fashion-mnist"
    if os.path.isdir(fm):
        x = read_idx(os.path.join(fm, "t10k-images-idx3-ubyte.gz"))
        y = read_idx(os.path.join(fm, "t10k-labels-idx1-ubyte.gz")).astype(np.int64)
        np.save(os.path.join(out, "fashion_mnist_test.npy"), x.reshape(-1, 1, 28, 28))
        np.save(os.path.join(out, "fashion_mnist_test_labels.npy"), y)
        print("fashion_mnist_test", x.shape[0])
    else:
        print("notice: %s missing (apt-get install dataset-fashion-mnist)" % fm)
    c10 = os.path.join(os.path.dirname(ROOT), "shared", "data", "cifar10", "test")
    if os.path.isdir(c10):
        from PIL import Image
        xs, ys = [], []
        for label, c in enumerate(sorted(os.listdir(c10))):
            for name in sorted(os.listdir(os.path.join(c10, c))):
                with Image.open(os.path.join(c10, c, name)) as im:
                    xs.append(np.asarray(im.convert("RGB"), dtype=np.uint8).transpose(2, 0, 1))
                ys.append(label)
        np.save(os.path.join(out, "cifar10_test.npy"), np.stack(xs))
        np.save(os.path.join(out, "cifar10_test_labels.npy"), np.array(ys, dtype=np.int64))
        print("cifar10_test", len(xs))
    else:
        print("notice: %s missing" % c10)


if __name__ == "__main__":
    main()
