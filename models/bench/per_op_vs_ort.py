#!/usr/bin/python3
"""Where the time goes, ours next to ONNX Runtime 1.30's: per operator type and step by step.

Runs `dcrun bench --per-op --json` and `tools/ort/bench.js --per-op --json` on one model at the
given thread counts (alternating which goes first, `rounds` times), takes each step's median
over the rounds, and prints per thread count:
  - the total per operator type on both sides (ONNX Runtime's types are those of its optimised
    graph: a Conv there includes its fused activation and residual Add, as ours does);
  - the convolutions in execution order side by side, the k-th of ours next to the k-th of
    ONNX Runtime's (both run a topological order of the same graph; names differ, since
    ONNX Runtime names its steps after their outputs), with the ratio.

usage: models/bench/per_op_vs_ort.py MODEL.onnx [--threads 1,2] [--batch 1] [--runs 20]
                                     [--warmup 5] [--rounds 2] [--top 0] [--json OUT]
Needs: go (builds cmd/dcrun once), node with tools/ort/node_modules (scripts/setup.sh).
"""
import argparse, json, os, statistics, subprocess, tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CONV_TYPES = ("Conv", "FusedConv", "NchwcConv", "DecoupledConv")


def per_op(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    res = json.loads(out)
    return res["median_ms"], res["per_op"]


def merge(rounds):
    """Per-step medians over rounds (steps matched by position, which is deterministic)."""
    steps = []
    for i, s in enumerate(rounds[0]["steps"]):
        ms = statistics.median(r["steps"][i]["median_ms"] for r in rounds if i < len(r["steps"]))
        steps.append({"node": s["node"], "op_type": s["op_type"], "ms": ms})
    return steps


def by_type(steps):
    out = {}
    for s in steps:
        t = out.setdefault(s["op_type"], [0, 0.0])
        t[0] += 1
        t[1] += s["ms"]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--top", type=int, default=0, help="list only the N convolutions with the largest time difference")
    ap.add_argument("--json", help="also write the merged steps to this file")
    args = ap.parse_args()
    report = []
    with tempfile.TemporaryDirectory() as tmp:
        dcrun = os.path.join(tmp, "dcrun")
        subprocess.run(["go", "build", "-o", dcrun, "./cmd/dcrun"], cwd=ROOT, check=True)
        for threads in [int(t) for t in args.threads.split(",")]:
            common = ["--threads", str(threads), "--batch", str(args.batch), "--runs", str(args.runs),
                      "--warmup", str(args.warmup), "--per-op", "--json"]
            cmds = {"dcrun": [dcrun, "bench", args.model] + common,
                    "ort": ["node", os.path.join(ROOT, "tools", "ort", "bench.js"), args.model] + common}
            got = {"dcrun": [], "ort": []}
            for r in range(args.rounds):
                for side in (["dcrun", "ort"] if r % 2 == 0 else ["ort", "dcrun"]):
                    got[side].append(per_op(cmds[side]))
            steps = {side: merge([p for _, p in got[side]]) for side in got}
            lat = {side: statistics.median(m for m, _ in got[side]) for side in got}
            report.append({"threads": threads, "latency_ms": lat, "steps": steps})
            print(f"\n{os.path.basename(args.model)}, {threads} thread(s), batch {args.batch}: "
                  f"latency dcrun {lat['dcrun']:.3f} ms, ONNX Runtime {lat['ort']:.3f} ms, ratio {lat['dcrun'] / lat['ort']:.2f}")
            types = {side: by_type(steps[side]) for side in steps}
            print(f"  {'op type':<24} {'dcrun ms':>10} {'(steps)':>8} {'ORT ms':>10} {'(steps)':>8}")
            for name in sorted(set(types["dcrun"]) | set(types["ort"]),
                               key=lambda n: -max(types["dcrun"].get(n, [0, 0])[1], types["ort"].get(n, [0, 0])[1])):
                d, o = types["dcrun"].get(name, [0, 0.0]), types["ort"].get(name, [0, 0.0])
                print(f"  {name:<24} {d[1]:10.3f} {d[0]:8d} {o[1]:10.3f} {o[0]:8d}")
            ours = [s for s in steps["dcrun"] if s["op_type"] in CONV_TYPES]
            theirs = [s for s in steps["ort"] if s["op_type"] in CONV_TYPES]
            pairs = list(zip(ours, theirs))
            if len(ours) != len(theirs):
                print(f"  ({len(ours)} convolutions here, {len(theirs)} in ONNX Runtime's graph: pairs below are by position only)")
            idx = list(range(len(pairs)))
            if args.top:
                idx = sorted(idx, key=lambda i: pairs[i][1]["ms"] - pairs[i][0]["ms"])[:args.top]
                idx.sort()
            print(f"  {'#':>3} {'dcrun step':<40} {'ms':>8} {'ORT step':<32} {'ms':>8} {'ratio':>6}")
            for i in idx:
                a, b = pairs[i]
                ratio = a["ms"] / b["ms"] if b["ms"] > 0 else float("inf")
                print(f"  {i:3d} {a['node'][:40]:<40} {a['ms']:8.3f} {b['node'][:32]:<32} {b['ms']:8.3f} {ratio:6.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"model": args.model, "batch": args.batch, "results": report}, f, indent=1)


if __name__ == "__main__":
    main()
