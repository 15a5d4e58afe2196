#!/usr/bin/python3
"""CNN9 training and inference throughput: this project's Go runtime next to PyTorch, in one run.

For each round, each mode (train, infer) and each network (standard Conv + BN, and the same
network with weighted tanh:cos DecoupledConv layers, BN kept), it runs the Go measurement
(`go run ./models/fmnist bench`, built once) and the PyTorch one back to back, so both see the
same machine load; the medians over the rounds and their ratio Go / PyTorch are printed and
written to models/fmnist/results/bench.json with the machine and the date.

A training step is forward (batch statistics), softmax cross-entropy, backward and an SGD step
(Nesterov momentum 0.9, weight decay 5e-4) with every parameter training; inference is a forward
pass in evaluation mode. Inputs are random [batch, 1, 28, 28] images.

The PyTorch tanh:cos layer follows the spec's portable form with float32 torch ops:
y = α·tanh(‖w‖·‖x_p‖/ρ)·⟨w, x_p⟩/(‖w‖·‖x_p‖) + b, ‖x_p‖ = sqrt(conv(x², 1) + eps), α, ρ, b per
output channel.

Run from the repository root with Debian's Python:
  /usr/bin/python3 models/fmnist/bench/run.py [--threads 2] [--batch 256] [--rounds 3]
"""
import argparse, json, os, platform, statistics, subprocess, sys, tempfile, time

import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
EPS = 1e-4


class DecoupledConv2d(nn.Module):
    """Weighted tanh:cos decoupled 3×3 convolution (padding 1) with per-channel α, ρ and bias."""

    def __init__(self, c_in, c_out):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in, 3, 3) * (2.0 / (9 * c_in)) ** 0.5)
        self.alpha = nn.Parameter(torch.ones(c_out))
        self.rho = nn.Parameter(torch.ones(c_out) * 3.0)
        self.bias = nn.Parameter(torch.zeros(c_out))
        self.register_buffer("ones", torch.ones(1, c_in, 3, 3))

    def forward(self, x):
        dot = F.conv2d(x, self.weight, padding=1)
        xn = torch.sqrt(F.conv2d(x * x, self.ones, padding=1) + EPS)          # [N, 1, H, W]
        wn = torch.sqrt((self.weight * self.weight).sum(dim=(1, 2, 3)) + EPS).view(1, -1, 1, 1)
        r = wn * xn
        cos = (dot / r).clamp(-1, 1)
        h = self.alpha.view(1, -1, 1, 1) * torch.tanh(r / self.rho.view(1, -1, 1, 1))
        return h * cos + self.bias.view(1, -1, 1, 1)


class CNN9(nn.Module):
    """CNN9 of shared/docs/anchors.md; decoupled=True swaps every Conv for DecoupledConv2d."""

    def __init__(self, decoupled):
        super().__init__()
        layers, c_in = [], 1
        for stage, width in enumerate((32, 64, 128)):
            for _ in range(3):
                conv = DecoupledConv2d(c_in, width) if decoupled else nn.Conv2d(c_in, width, 3, padding=1, bias=False)
                layers += [conv, nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
                c_in = width
            if stage < 2:
                layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(128, 10)

    def forward(self, x):
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(self.features(x), 1), 1))


def torch_bench(mode, op, batch, steps, warmup):
    """Images per second of PyTorch on CNN9 (op "standard" or "tanh:cos")."""
    torch.manual_seed(1)
    model = CNN9(decoupled=(op != "standard"))
    x = torch.randn(batch, 1, 28, 28)
    y = torch.randint(0, 10, (batch,))
    if mode == "train":
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4)

        def step():
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
    else:
        model.eval()

        def step():
            with torch.no_grad():
                model(x)
    for _ in range(warmup):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * batch / (time.perf_counter() - start)


def go_bench(binary, mode, op, batch, threads, steps, warmup):
    """Images per second of the Go runtime (models/fmnist bench)."""
    out = subprocess.run([binary, "bench", "--mode", mode, "--op", op, "--batch", str(batch),
                          "--threads", str(threads), "--steps", str(steps), "--warmup", str(warmup)],
                         check=True, capture_output=True, text=True, cwd=ROOT).stdout
    return json.loads(out.strip().splitlines()[-1])["images_per_second"]


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--train-steps", type=int, default=4)
    ap.add_argument("--infer-steps", type=int, default=10)
    ap.add_argument("--modes", default="train,infer")
    ap.add_argument("--ops", default="standard,tanh:cos")
    ap.add_argument("--out", default=os.path.join(ROOT, "models", "fmnist", "results", "bench.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        binary = os.path.join(tmp, "fmnist")
        subprocess.run(["go", "build", "-o", binary, "./models/fmnist"], check=True, cwd=ROOT)
        samples = {}
        for rnd in range(args.rounds):
            for mode in args.modes.split(","):
                steps = args.train_steps if mode == "train" else args.infer_steps
                for op in args.ops.split(","):
                    g = go_bench(binary, mode, op, args.batch, args.threads, steps, 1)
                    t = torch_bench(mode, op, args.batch, steps, 1)
                    samples.setdefault((mode, op), []).append((g, t))
                    print(f"round {rnd + 1} {mode:5s} {op:9s} go {g:7.1f}  torch {t:7.1f} images/s", flush=True)
    rows = []
    print(f"\nCNN9, batch {args.batch}, {args.threads} threads, medians of {args.rounds} rounds (images/s):")
    print(f"{'mode':6s} {'op':9s} {'go':>8s} {'torch':>8s} {'go/torch':>9s}")
    for (mode, op), s in samples.items():
        g = statistics.median(v[0] for v in s)
        t = statistics.median(v[1] for v in s)
        rows.append({"mode": mode, "op": op, "go_images_per_s": round(g, 1), "torch_images_per_s": round(t, 1),
                     "ratio": round(g / t, 3), "rounds": [[round(a, 1), round(b, 1)] for a, b in s]})
        print(f"{mode:6s} {op:9s} {g:8.1f} {t:8.1f} {g / t:9.2f}")
    result = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpu": cpu_model(),
              "cores": os.cpu_count(), "torch": torch.__version__, "threads": args.threads,
              "batch": args.batch, "results": rows}
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    tmp_out = args.out + ".tmp"
    with open(tmp_out, "w") as f:
        json.dump(result, f, indent=1)
    os.replace(tmp_out, args.out)
    print("wrote", os.path.relpath(args.out, ROOT))


if __name__ == "__main__":
    sys.exit(main())
