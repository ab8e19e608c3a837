#!/usr/bin/python3
"""Export torchvision classifiers to ONNX with random weights (no network needed).

usage: /usr/bin/python3 tools/export_torchvision.py [--out DIR] [--threads N] [NAME ...]
NAME in: alexnet vgg16 googlenet resnet18 mobilenet_v2 squeezenet1_1 (default: all).
Files are DIR/<name>.onnx (default DIR: build/models); existing files are kept.
Weights are random under a fixed seed, drawn so that activations keep their scale
through the network (He-normal Conv/Gemm weights, non-trivial BatchNorm statistics):
torchvision's own initialisation shrinks them layer by layer until GoogLeNet's
logits are just the last bias, which would make agreement checks vacuous. The
model is in eval mode, opset 13, input "input" N x 3 x 224 x 224 with a dynamic batch
axis, output "logits" N x 1000.
"""
import os
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse
import sys

import torch
import torchvision.models as tvm

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = {
    "alexnet": lambda: tvm.alexnet(weights=None),
    "vgg16": lambda: tvm.vgg16(weights=None),
    # aux_logits only exist in training mode; init_weights keeps torchvision's scheme.
    "googlenet": lambda: tvm.googlenet(weights=None, aux_logits=False, init_weights=True),
    "resnet18": lambda: tvm.resnet18(weights=None),
    "mobilenet_v2": lambda: tvm.mobilenet_v2(weights=None),
    "squeezenet1_1": lambda: tvm.squeezenet1_1(weights=None),
}


def reinit(net):
    linears = [m for m in net.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                fan_in = m.weight[0].numel()
                gain = 1.0 if m is linears[-1] else 2.0  # ReLU follows all but the classifier
                m.weight.normal_(0.0, (gain / fan_in) ** 0.5)
                if m.bias is not None:
                    m.bias.uniform_(-0.1, 0.1)
            elif isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.1)
                m.running_mean.normal_(0.0, 0.1)
                m.running_var.uniform_(0.5, 1.5)


def export(name, path, seed):
    torch.manual_seed(seed)
    net = MODELS[name]()
    reinit(net)
    net.eval()
    tmp = path + ".tmp"
    with torch.no_grad():
        torch.onnx.export(net, torch.zeros(1, 3, 224, 224), tmp, opset_version=13,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "models"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("names", nargs="*")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    names = args.names or list(MODELS)
    bad = [n for n in names if n not in MODELS]
    if bad:
        sys.exit("unknown model(s): %s (known: %s)" % (" ".join(bad), " ".join(MODELS)))
    os.makedirs(args.out, exist_ok=True)
    for n in names:
        path = os.path.join(args.out, n + ".onnx")
        if os.path.exists(path):
            print("kept", path)
            continue
        export(n, path, args.seed)
        print("wrote %s (%.1f MB)" % (path, os.path.getsize(path) / 1e6), flush=True)


if __name__ == "__main__":
    main()
