#!/usr/bin/python3
"""Single-precision GEMM at 2048³: this project's kernel next to ONNX Runtime 1.30's MatMul, interleaved.

Each round runs, for 1 and 2 threads, our BenchmarkSgemm (A and B unpacked, packed on the fly,
the active micro-kernel: AVX-512 where the CPU has it, else AVX2+FMA) and ONNX Runtime's MatMul
on the same size (tools/ort/matmul_bench.js), alternating which goes first; the medians over the
rounds and the ratio ours / ORT in GFLOP/s are printed (above 1: we are faster) and written with
the machine and the date to --json.

usage: models/bench/gemm_vs_ort.py [--rounds 3] [--runs 5] [--json OUT]
Needs: go, node with tools/ort/node_modules (scripts/setup.sh).
"""
import argparse, json, os, platform, re, statistics, subprocess, sys, tempfile, time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def ours(test_bin, threads, runs):
    kernels = "avx.*" if platform.machine() in ("x86_64", "AMD64") else ".*"
    out = subprocess.run([test_bin, "-test.run", "^$", "-test.bench", f"BenchmarkSgemm/{kernels}/square2048/t{threads}$",
                          "-test.benchtime", f"{runs}x"], check=True, capture_output=True, text=True).stdout
    # The last benchmark line is the fastest (active) kernel: kernels run slowest first.
    lines = [l for l in out.splitlines() if l.startswith("BenchmarkSgemm")]
    m = re.search(r"([\d.]+) GFLOP/s", lines[-1])
    return float(m.group(1)), lines[-1].split("/")[1]


def ort(threads, runs):
    out = subprocess.run(["node", os.path.join(ROOT, "tools", "ort", "matmul_bench.js"), "--size", "2048",
                          "--threads", str(threads), "--runs", str(runs), "--json"],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)["gflops"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        test_bin = os.path.join(tmp, "gemm.test")
        subprocess.run(["go", "test", "-c", "-o", test_bin, "./internal/gemm"], cwd=ROOT, check=True)
        for threads in (1, 2):
            o, b, kernel = [], [], ""
            for r in range(args.rounds):
                steps = [lambda: o.append(ours(test_bin, threads, args.runs)), lambda: b.append(ort(threads, args.runs))]
                if r % 2:
                    steps.reverse()
                for s in steps:
                    s()
            kernel = o[0][1]
            go, ref = statistics.median(x for x, _ in o), statistics.median(b)
            rows.append({"threads": threads, "kernel": kernel, "ours_gflops": round(go, 1), "ort_gflops": round(ref, 1),
                         "ratio": round(go / ref, 3)})
            print(f"GEMM 2048³ threads {threads}: ours ({kernel}) {go:7.1f} GFLOP/s  ORT {ref:7.1f} GFLOP/s  "
                  f"ratio {go / ref:5.2f}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"date": time.strftime("%Y-%m-%d %H:%M"), "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
                       "rows": rows}, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
