#!/usr/bin/python3
"""Latency of dcrun against ONNX Runtime 1.30 on the same models and inputs, interleaved.

For each model and thread count, the two runtimes take turns (`rounds` times each, alternating
which goes first), every turn being a fresh process doing `warmup` untimed and `runs` timed
batch-B inferences; a turn reports its median latency. The result per runtime is the median over
its turns, and the ratio is ours / ONNX Runtime's (below 1: we are faster). Interleaving spreads
the noise of a shared machine over both sides.

usage: models/bench/vs_ort.py [--models a.onnx,b.onnx] [--threads 1,2] [--batch 1]
                              [--runs 20] [--warmup 5] [--rounds 3] [--json OUT]
Needs: go (builds cmd/dcrun once), node with tools/ort/node_modules (scripts/setup.sh).
"""
import argparse, json, os, platform, statistics, subprocess, sys, tempfile, time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SHARED = os.path.join(ROOT, "..", "shared", "models")
DEFAULT_MODELS = [os.path.join(SHARED, m) for m in ("resnet18_dynamo.onnx", "mobilenet_v2_dynamo.onnx")]


def build_dcrun(tmp):
    exe = os.path.join(tmp, "dcrun")
    subprocess.run(["go", "build", "-o", exe, "./cmd/dcrun"], cwd=ROOT, check=True)
    return exe


def turn(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out)["median_ms"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(DEFAULT_MODELS))
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        dcrun = build_dcrun(tmp)
        for model in args.models.split(","):
            for threads in [int(t) for t in args.threads.split(",")]:
                common = ["--threads", str(threads), "--batch", str(args.batch), "--runs", str(args.runs),
                          "--warmup", str(args.warmup), "--json"]
                ours_cmd = [dcrun, "bench", model] + common
                ort_cmd = ["node", os.path.join(ROOT, "tools", "ort", "bench.js"), model] + common
                ours, ort = [], []
                for r in range(args.rounds):
                    order = [(ours_cmd, ours), (ort_cmd, ort)]
                    if r % 2:
                        order.reverse()
                    for cmd, acc in order:
                        acc.append(turn(cmd))
                o, b = statistics.median(ours), statistics.median(ort)
                rows.append({"model": os.path.basename(model), "threads": threads, "batch": args.batch,
                             "dcrun_ms": round(o, 2), "ort_ms": round(b, 2), "ratio": round(o / b, 3),
                             "dcrun_turns": ours, "ort_turns": ort})
                print(f"{os.path.basename(model):28s} threads {threads} batch {args.batch}: "
                      f"dcrun {o:8.2f} ms  ORT {b:8.2f} ms  ratio {o / b:5.2f}", flush=True)
    result = {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
              "cpu": cpu_name(), "rows": rows}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


def cpu_name():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    sys.exit(main())
