#!/usr/bin/python3
"""Train the AlexNet-like Fashion-MNIST fixture and export it to ONNX.

Two convolutions, then a fully connected head (1024 -> 512 -> 512 -> 10) that
holds most of the parameters, as in AlexNet/VGG, so that low-rank + sparse
compression of Gemm weights has something to bite on.

Data: Debian package dataset-fashion-mnist (IDX files, gzip).
Input of the exported model: N x 1 x 28 x 28 float32, pixel / 255.
Output: "logits" N x 10 (no softmax).

Usage: /usr/bin/python3 tools/train_fashion_mnist.py [--epochs 6] [--out PATH]
Also writes fixtures/data/fashion_mnist_test_500{,_labels}.npy and
fixtures/data/fashion_mnist_calib/*.png (calibration images from the training set).
"""
import os
# One thread: the machine is shared, and fewer threads keep the run reproducible.
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse
import gzip
import random
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = "/usr/share/datasets/fashion-mnist"


def read_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 5)      # 28 -> 24, pool -> 12
        self.conv2 = nn.Conv2d(32, 64, 5)     # 12 -> 8, pool -> 4
        self.fc1 = nn.Linear(64 * 4 * 4, 512)
        self.fc2 = nn.Linear(512, 512)
        self.fc3 = nn.Linear(512, 10)
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        x = self.drop(F.relu(self.fc1(x)))
        x = self.drop(F.relu(self.fc2(x)))
        return self.fc3(x)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--out", default=os.path.join(ROOT, "fixtures/models/fashion_mnist_alexnetish.onnx"))
    args = ap.parse_args()

    if not os.path.isdir(DATA):
        sys.exit("missing %s: apt-get install --no-install-recommends dataset-fashion-mnist" % DATA)
    torch.set_num_threads(args.threads)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)

    xtr = read_idx(os.path.join(DATA, "train-images-idx3-ubyte.gz"))
    ytr = read_idx(os.path.join(DATA, "train-labels-idx1-ubyte.gz")).astype(np.int64)
    xte = read_idx(os.path.join(DATA, "t10k-images-idx3-ubyte.gz"))
    yte = read_idx(os.path.join(DATA, "t10k-labels-idx1-ubyte.gz")).astype(np.int64)
    Xtr = torch.from_numpy(xtr.astype(np.float32) / 255.0).unsqueeze(1)
    Ytr = torch.from_numpy(ytr)
    Xte = torch.from_numpy(xte.astype(np.float32) / 255.0).unsqueeze(1)
    Yte = torch.from_numpy(yte)

    net = Net()
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    steps_per_epoch = (len(Xtr) + 127) // 128
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.05, epochs=args.epochs,
                                                steps_per_epoch=steps_per_epoch)
    g = torch.Generator().manual_seed(args.seed)
    for ep in range(args.epochs):
        t0 = time.time()
        net.train()
        perm = torch.randperm(len(Xtr), generator=g)
        tot = 0.0
        for i in range(0, len(Xtr), 128):
            idx = perm[i:i + 128]
            opt.zero_grad()
            loss = F.cross_entropy(net(Xtr[idx]), Ytr[idx])
            loss.backward()
            opt.step()
            sched.step()
            tot += loss.item() * len(idx)
        net.eval()
        with torch.no_grad():
            acc = sum((net(Xte[i:i + 1000]).argmax(1) == Yte[i:i + 1000]).sum().item()
                      for i in range(0, len(Xte), 1000)) / len(Xte)
        print("epoch %d loss %.4f test acc %.4f (torch) %.0fs" % (ep + 1, tot / len(Xtr), acc,
                                                                 time.time() - t0), flush=True)

    net.eval()
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    torch.onnx.export(net, torch.zeros(1, 1, 28, 28), args.out, opset_version=13,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    print("wrote", args.out, os.path.getsize(args.out), "bytes")

    # Small evaluation / calibration data that tests can use without ../shared.
    ddir = os.path.join(ROOT, "fixtures/data")
    os.makedirs(ddir, exist_ok=True)
    np.save(os.path.join(ddir, "fashion_mnist_test_500.npy"), xte[:500].reshape(500, 1, 28, 28))
    np.save(os.path.join(ddir, "fashion_mnist_test_500_labels.npy"), yte[:500])
    from PIL import Image
    cdir = os.path.join(ddir, "fashion_mnist_calib")
    os.makedirs(cdir, exist_ok=True)
    rs = np.random.RandomState(args.seed)
    for k, i in enumerate(sorted(rs.choice(len(xtr), 32, replace=False))):
        Image.fromarray(xtr[i]).save(os.path.join(cdir, "%02d_label%d.png" % (k, ytr[i])))


if __name__ == "__main__":
    main()
