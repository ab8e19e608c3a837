#!/usr/bin/python3
"""Train the VGG-style CIFAR-10 fixture and export it to ONNX.

3x3 convolution blocks with BatchNorm (24 / 48 / 96-96, max-pooling after each
stage), then a two-layer fully connected head of 512 that holds most (88%) of the
parameters. The width is sized so that the default 7 epochs take about 20 minutes
of one CPU core.

Data: ../shared/data/cifar10 (train.tar is unpacked once into build/cifar10-train,
test/<class>/*.jpg; class folders in alphabetical order = label).
Input of the exported model: N x 3 x 32 x 32 float32, RGB, (pixel/255 - 0.5)/0.5.
Output: "logits" N x 10 (no softmax).

Usage: /usr/bin/python3 tools/train_cifar10.py [--epochs N] [--out PATH]
Also writes fixtures/data/cifar10_test_500{,_labels}.npy (uint8 NCHW RGB) and
fixtures/data/cifar10_calib/*.png (calibration images from the training set).
"""
import os
# One thread: the machine is shared, and fewer threads keep the run reproducible.
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse
import random
import sys
import tarfile
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared", "data", "cifar10")


def load_tree(root):
    """Images under root/<class>/*.jpg as uint8 N x 3 x 32 x 32, labels by sorted class name."""
    classes = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    xs, ys = [], []
    for label, c in enumerate(classes):
        for name in sorted(os.listdir(os.path.join(root, c))):
            with Image.open(os.path.join(root, c, name)) as im:
                xs.append(np.asarray(im.convert("RGB"), dtype=np.uint8).transpose(2, 0, 1))
            ys.append(label)
    return np.stack(xs), np.array(ys, dtype=np.int64), classes


def cached(path, root):
    if os.path.exists(path):
        d = np.load(path)
        return d["x"], d["y"]
    x, y, _ = load_tree(root)
    np.savez(path, x=x, y=y)
    return x, y


def find_tree(top):
    """The folder that holds the ten class folders (train.tar may nest them)."""
    for dirpath, dirnames, _ in os.walk(top):
        if "airplane" in dirnames and "truck" in dirnames:
            return dirpath
    sys.exit("no class folders under " + top)


def block(cin, cout):
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            *block(3, 24), nn.MaxPool2d(2),                      # 16x16
            *block(24, 48), nn.MaxPool2d(2),                     # 8x8
            *block(48, 96), *block(96, 96), nn.MaxPool2d(2),     # 4x4
        )
        self.classifier = nn.Sequential(
            nn.Linear(96 * 4 * 4, 512), nn.ReLU(inplace=True), nn.Dropout(0.3),
            nn.Linear(512, 512), nn.ReLU(inplace=True), nn.Dropout(0.3),
            nn.Linear(512, 10),
        )

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


def to_input(x):
    return (torch.from_numpy(x).float() / 255.0 - 0.5) / 0.5


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--work", default=os.path.join(ROOT, "build", "cifar10"))
    ap.add_argument("--out", default=os.path.join(ROOT, "fixtures/models/cifar10_vggish.onnx"))
    args = ap.parse_args()

    if not os.path.isdir(SHARED):
        sys.exit("missing " + SHARED)
    torch.set_num_threads(args.threads)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)

    os.makedirs(args.work, exist_ok=True)
    tdir = os.path.join(args.work, "train")
    if not os.path.isdir(tdir):
        with tarfile.open(os.path.join(SHARED, "train.tar")) as tf:
            tf.extractall(tdir)
    xtr, ytr = cached(os.path.join(args.work, "train.npz"), find_tree(tdir))
    xte, yte = cached(os.path.join(args.work, "test.npz"), os.path.join(SHARED, "test"))
    print("train", xtr.shape, "test", xte.shape, flush=True)

    Xte = to_input(xte)
    net = Net()
    bs = 128
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4, nesterov=True)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, epochs=args.epochs,
                                                steps_per_epoch=(len(xtr) + bs - 1) // bs)
    rs = np.random.RandomState(args.seed)
    padded = np.pad(xtr, ((0, 0), (0, 0), (4, 4), (4, 4)), mode="reflect")
    for ep in range(args.epochs):
        t0 = time.time()
        net.train()
        perm = rs.permutation(len(xtr))
        tot = 0.0
        for i in range(0, len(xtr), bs):
            idx = perm[i:i + bs]
            # random crop (pad 4) + horizontal flip
            ox, oy = rs.randint(0, 9, 2)
            xb = padded[idx, :, oy:oy + 32, ox:ox + 32]
            flip = rs.rand(len(idx)) < 0.5
            xb[flip] = xb[flip][:, :, :, ::-1]
            opt.zero_grad()
            loss = F.cross_entropy(net(to_input(np.ascontiguousarray(xb))), torch.from_numpy(ytr[idx]))
            loss.backward()
            opt.step()
            sched.step()
            tot += loss.item() * len(idx)
        net.eval()
        with torch.no_grad():
            acc = sum((net(Xte[i:i + 500]).argmax(1).numpy() == yte[i:i + 500]).sum()
                      for i in range(0, len(Xte), 500)) / len(Xte)
        print("epoch %d loss %.4f test acc %.4f (torch) %.0fs" % (ep + 1, tot / len(xtr), acc,
                                                                 time.time() - t0), flush=True)

    net.eval()
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    torch.onnx.export(net, torch.zeros(1, 3, 32, 32), args.out, opset_version=13,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    print("wrote", args.out, os.path.getsize(args.out), "bytes")

    ddir = os.path.join(ROOT, "fixtures/data")
    os.makedirs(ddir, exist_ok=True)
    # 50 test images per class, fixed choice.
    pick = np.concatenate([np.flatnonzero(yte == c)[:50] for c in range(10)])
    np.save(os.path.join(ddir, "cifar10_test_500.npy"), xte[pick])
    np.save(os.path.join(ddir, "cifar10_test_500_labels.npy"), yte[pick])
    cdir = os.path.join(ddir, "cifar10_calib")
    os.makedirs(cdir, exist_ok=True)
    for k, i in enumerate(sorted(rs.choice(len(xtr), 32, replace=False))):
        Image.fromarray(xtr[i].transpose(1, 2, 0)).save(os.path.join(cdir, "%02d_label%d.png" % (k, ytr[i])))


if __name__ == "__main__":
    main()
