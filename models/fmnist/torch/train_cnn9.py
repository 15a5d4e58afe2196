#!/usr/bin/python3
"""Train the CNN9 of ../shared/docs/anchors.md on Fashion-MNIST with PyTorch and export it to ONNX.

This is the PyTorch baseline of the toolkit's workflow: the recipe of the anchors (SGD, Nesterov
momentum 0.9, weight decay 5e-4, one-cycle learning rate peaking at 0.05 after 15 % warm-up,
batch 256, 6 epochs, random horizontal flips; inputs (x/255 - 0.2860)/0.3530).

Outputs (in --out, default models/fmnist/zoo):
  cnn9.onnx        BatchNormalization folded into the convolutions (the exporter's eval peephole)
  cnn9_bn.onnx     BatchNormalization kept as separate nodes
  cnn9.pt          the state dict (not committed)
  cnn9_torch.json  test accuracy and the training log

Run with Debian's Python: /usr/bin/python3 models/fmnist/torch/train_cnn9.py [--threads 2]
"""
import argparse, gzip, json, os, struct, sys, time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

MEAN, STD = 0.2860, 0.3530
DATA = "/usr/share/datasets/fashion-mnist"


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(split):
    x = read_idx(f"{DATA}/{split}-images-idx3-ubyte.gz").astype(np.float32)
    y = read_idx(f"{DATA}/{split}-labels-idx1-ubyte.gz").astype(np.int64)
    x = (x / 255.0 - MEAN) / STD
    return torch.from_numpy(x[:, None]), torch.from_numpy(y)


class CNN9(nn.Module):
    """Three stages of three 3x3 conv + BN + ReLU (32, 64, 128 channels), 2x2 max-pool after
    stages 1 and 2, global average pool, linear classifier to 10 classes."""

    def __init__(self):
        super().__init__()
        layers, c_in = [], 1
        for stage, width in enumerate((32, 64, 128)):
            for _ in range(3):
                layers += [nn.Conv2d(c_in, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
                c_in = width
            if stage < 2:
                layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(128, 10)

    def forward(self, x):
        x = self.features(x)
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self.fc(x)


def evaluate(model, x, y, batch=1000):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            correct += (model(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum().item()
    return 100.0 * correct / len(x)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "zoo"))
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    xtr, ytr = load("train")
    xte, yte = load("t10k")
    model = CNN9()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    batch = 256
    steps = (len(xtr) + batch - 1) // batch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=args.epochs * steps, pct_start=0.15)
    log = []
    for epoch in range(args.epochs):
        model.train()
        perm = torch.randperm(len(xtr))
        t0, seen, loss_sum = time.time(), 0, 0.0
        for s in range(steps):
            idx = perm[s * batch:(s + 1) * batch]
            xb, yb = xtr[idx], ytr[idx]
            flip = torch.rand(len(idx)) < 0.5
            xb = torch.where(flip[:, None, None, None], xb.flip(3), xb)
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            seen += len(idx)
            loss_sum += loss.item() * len(idx)
        acc = evaluate(model, xte, yte)
        rate = seen / (time.time() - t0)
        log.append({"epoch": epoch + 1, "train_loss": loss_sum / seen, "test_acc": acc, "images_per_s": rate})
        print(f"epoch {epoch + 1}: loss {loss_sum / seen:.4f} test {acc:.2f}% {rate:.0f} img/s", flush=True)
    os.makedirs(args.out, exist_ok=True)
    torch.save(model.state_dict(), os.path.join(args.out, "cnn9.pt"))
    model.eval()
    dummy = torch.zeros(1, 1, 28, 28)
    common = dict(input_names=["input"], output_names=["logits"], opset_version=13,
                  dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})
    torch.onnx.export(model, dummy, os.path.join(args.out, "cnn9.onnx"), do_constant_folding=True, **common)
    torch.onnx.export(model, dummy, os.path.join(args.out, "cnn9_bn.onnx"), do_constant_folding=True,
                      training=torch.onnx.TrainingMode.PRESERVE, **common)
    with open(os.path.join(args.out, "cnn9_torch.json"), "w") as f:
        json.dump({"recipe": "SGD nesterov 0.9, wd 5e-4, one-cycle peak 0.05 (15% warm-up), batch 256, flips",
                   "epochs": args.epochs, "seed": args.seed, "threads": args.threads,
                   "test_accuracy": log[-1]["test_acc"], "log": log}, f, indent=1)
    print("test accuracy", log[-1]["test_acc"])


if __name__ == "__main__":
    sys.exit(main())
