#!/usr/bin/python3
"""Compare ONNX Runtime with PyTorch on the exported zoo and print the results table.

    /usr/bin/python3 models/torchvision/report.py --out DIR --models a,b,... [--manifest FILE]
        [--tolerance 1e-3]

For every model it reads OUT/NAME.json (written by export.py), OUT/NAME.ref_torch.npy and
OUT/NAME.ref_ort.npy, computes the relative error max|ort - torch| / max|torch|, prints a
Markdown table and the union of ONNX ops, optionally writes manifest.json, and exits 1 if
any error exceeds the tolerance or a file is missing.
"""

import argparse
import collections
import json
import os
import re
import sys

import numpy as np

MANIFEST_KEYS = [
    "name", "file", "exporter", "torch", "torchvision", "opset", "ir_version", "input_shape",
    "dynamic_batch", "constant_folding", "batchnorm_kept", "seed", "params", "nodes", "ops",
    "op_histogram", "onnx_bytes", "onnx_sha256", "input_sensitivity",
]


def relative_error(got, want):
    """max|got - want| / max|want| in float64; shapes must match."""
    if got.shape != want.shape:
        raise ValueError(f"shape {got.shape} != {want.shape}")
    got = got.astype(np.float64)
    want = want.astype(np.float64)
    return float(np.abs(got - want).max() / np.abs(want).max())


def load(out_dir, name):
    base = os.path.join(out_dir, name)
    with open(base + ".json") as f:
        info = json.load(f)
    torch_ref = np.load(base + ".ref_torch.npy")
    ort_ref = np.load(base + ".ref_ort.npy")
    info["rel_error"] = relative_error(ort_ref, torch_ref)
    return info


def table(rows):
    lines = [
        "| model | opset | dyn. batch | folding | BN kept | input | nodes | params | ONNX MB | sensitivity | ORT vs torch | ops |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    yes = {True: "yes", False: "no"}
    for r in rows:
        shape = "x".join(str(d) for d in r["input_shape"])
        lines.append(
            f"| {r['name']} | {r['opset']} | {yes[r['dynamic_batch']]} | {yes[r['constant_folding']]} "
            f"| {yes[r['batchnorm_kept']]} | {shape} | {r['nodes']} | {r['params']:,} "
            f"| {r['onnx_bytes'] / 1e6:.1f} | {r['input_sensitivity']:.2g} | {r['rel_error']:.1e} "
            f"| {' '.join(r['ops'])} |")
    return "\n".join(lines)


def op_union(rows):
    users = collections.defaultdict(list)
    for r in rows:
        for op in r["ops"]:
            users[op].append(r["name"])
    return dict(sorted(users.items()))


def write_manifest(path, rows):
    models = [{k: r[k] for k in MANIFEST_KEYS} for r in rows]
    doc = {
        "description": "torchvision CNNs with deterministic random weights exported to ONNX; "
                       "regenerate with models/torchvision/reference.sh",
        "ops_union": sorted(op_union(rows)),
        "models": models,
    }
    text = json.dumps(doc, indent=1)
    # Keep lists of scalars and flat objects (shapes, op lists, histograms) on one line.
    text = re.sub(r"\[[^\[\]{}]*\]", lambda m: json.dumps(json.loads(m.group(0))), text)
    text = re.sub(r"\{[^\[\]{}]*\}", lambda m: json.dumps(json.loads(m.group(0))), text)
    with open(path, "w") as f:
        f.write(text + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--models", required=True, help="comma-separated model names")
    parser.add_argument("--manifest", default="")
    parser.add_argument("--tolerance", type=float, default=1e-3)
    args = parser.parse_args()
    rows, failures = [], []
    for name in [m for m in args.models.split(",") if m]:
        try:
            rows.append(load(args.out, name))
        except (OSError, ValueError) as err:
            failures.append(f"{name}: {err}")
            continue
        if not rows[-1]["rel_error"] <= args.tolerance:
            failures.append(f"{name}: ORT vs torch relative error {rows[-1]['rel_error']:.3g} > {args.tolerance:g}")
    print(table(rows))
    print()
    union = op_union(rows)
    print(f"ONNX ops used ({len(union)}): {' '.join(union)}")
    for op, names in union.items():
        print(f"  {op}: {len(names)} model(s)" + (f" ({', '.join(names)})" if len(names) <= 3 else ""))
    if args.manifest and not failures:
        write_manifest(args.manifest, rows)
        print(f"wrote {args.manifest}")
    if failures:
        print("\nFAILED:\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
