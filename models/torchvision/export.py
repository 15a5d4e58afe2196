#!/usr/bin/python3
"""Export a zoo of torchvision CNNs to ONNX with deterministic random weights.

Run with Debian's interpreter (python3-torch 1.13, python3-torchvision 0.14, python3-onnx):

    /usr/bin/python3 models/torchvision/export.py [--out DIR] [--only a,b | --all] [--jobs N]
                                                  [--list]

Nothing is downloaded: every model is built with weights=None under a fixed
torch.manual_seed, then its norm affines and zero biases are perturbed deterministically
(perturb_parameters) and its BatchNorm running stats are set from a deterministic noise
batch (calibrate_batchnorm), so that no layer is an identity or a zero and the output
depends on the input. For each model NAME the script writes

    OUT/NAME.onnx          the TorchScript-exporter ONNX model (input "input", output "logits")
    OUT/NAME.input.npy     float32 [1, 3, H, W], np.random.default_rng(seed).standard_normal
    OUT/NAME.ref_torch.npy float32 [1, 1000], PyTorch's output for that input
    OUT/NAME.json          facts about the export (opset, ops, parameters, sizes, hashes)

and prints the opset and op histogram of each exported model.
"""

import argparse
import collections
import concurrent.futures
import hashlib
import json
import multiprocessing
import os
import sys
import time
import warnings

import numpy as np
import onnx
import torch
import torchvision

EVAL = torch.onnx.TrainingMode.EVAL
PRESERVE = torch.onnx.TrainingMode.PRESERVE

# PyTorch runs single-threaded so that the calibrated weights, and hence the ONNX bytes,
# do not depend on the machine's core count (parallelism comes from --jobs).
TORCH_THREADS = 1
# Images in the batch whose statistics become the BatchNorm running stats.
CALIBRATION_BATCH = 4
# Smallest accepted max|y(x) - y(x')| / max|y(x)| for two independent inputs x, x'.
# Global average pooling of random features over i.i.d. noise images averages most of the
# input dependence away; squeezenet1_0 (no BatchNorm) is the lowest at ~0.02.
MIN_SENSITIVITY = 0.01


class ExportError(Exception):
    """A model could not be exported or its PyTorch output is unusable."""


class Spec:
    """How one architecture is built and exported.

    batchnorm_kept=True exports with TrainingMode.PRESERVE on the eval-mode model: the
    exporter's eval peephole is skipped, so BatchNormalization nodes are kept instead of
    being folded into the preceding Conv. default=False leaves a model out of the default
    set (it is exported with --all or --only).
    """

    def __init__(self, name, opset, seed, size=224, dynamic=False, folding=True,
                 batchnorm_kept=False, default=True, **kwargs):
        self.name = name
        self.opset = opset
        self.seed = seed
        self.size = size
        self.dynamic = dynamic
        self.folding = folding
        self.batchnorm_kept = batchnorm_kept
        self.default = default
        self.kwargs = kwargs


SPECS = [
    Spec("resnet50", 11, 1001, dynamic=True),
    Spec("mobilenet_v3_large", 13, 1002),
    Spec("efficientnet_b0", 14, 1003, dynamic=True),
    Spec("densenet121", 12, 1004),
    Spec("googlenet", 15, 1005, dynamic=True, batchnorm_kept=True,
         aux_logits=False, init_weights=True),
    Spec("shufflenet_v2_x1_0", 16, 1006, dynamic=True, folding=False),
    Spec("regnet_y_400mf", 13, 1007, dynamic=True),
    Spec("inception_v3", 16, 1008, size=299, aux_logits=False, init_weights=True),
    Spec("alexnet", 11, 1009, dynamic=True, folding=False),
    # 531 MB of ONNX and the slowest export: opt-in, kept out of CI runs.
    Spec("vgg11_bn", 12, 1010, batchnorm_kept=True, default=False),
    Spec("convnext_tiny", 14, 1011, dynamic=True),
    Spec("squeezenet1_0", 11, 1012),
    Spec("mnasnet0_5", 13, 1013, dynamic=True, folding=False),
    Spec("mobilenet_v3_small", 15, 1014, dynamic=True),
    Spec("resnext50_32x4d", 16, 1015),
]


def perturb_parameters(model, seed):
    """Deterministically perturb parameters that default init leaves trivial.

    BatchNorm and LayerNorm (incl. ConvNeXt's LayerNorm2d): weight ~ U(0.5, 1.5),
    bias ~ N(0, 0.1). ConvNeXt layer_scale (1e-6 at init, which would hide every block
    from an output comparison) ~ U(0.1, 0.3). Conv/Linear biases that are all zero get
    N(0, (0.1 * std(weight) * sqrt(fan_in))^2), a tenth of the layer's output scale for
    unit-variance inputs, so a runtime that drops a bias is caught without the biases
    drowning the signal.
    """
    gen = torch.Generator().manual_seed(seed + 500_000)
    with torch.no_grad():
        for module in model.modules():
            norm = isinstance(module, (torch.nn.modules.batchnorm._BatchNorm, torch.nn.LayerNorm))
            if norm and module.weight is not None:
                module.weight.uniform_(0.5, 1.5, generator=gen)
                module.bias.normal_(0.0, 0.1, generator=gen)
            elif isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
                if module.bias is not None and not module.bias.any():
                    scale = module.weight.std() * module.weight[0].numel() ** 0.5
                    module.bias.normal_(0.0, 0.1 * float(scale), generator=gen)
            layer_scale = getattr(module, "layer_scale", None)
            if isinstance(layer_scale, torch.nn.Parameter):
                layer_scale.uniform_(0.1, 0.3, generator=gen)


def calibrate_batchnorm(model, spec, batch=CALIBRATION_BATCH):
    """Set every BatchNorm's running mean and variance to the statistics of a batch.

    With default running stats (0 and 1) BatchNorm does not normalise, and deep random
    networks either explode (inception_v3 reaches 1e13) or lose the input altogether
    (mobilenet_v3 outputs change by 1e-7 between different inputs). One forward pass of a
    deterministic standard-normal batch, with only the BatchNorm layers in training mode
    and a cumulative average (momentum=None), stores per-channel statistics that are
    realistic and non-trivial. Returns the number of BatchNorm layers calibrated.
    """
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return 0
    model.eval()
    momenta = [bn.momentum for bn in norms]
    for bn in norms:
        bn.reset_running_stats()
        bn.momentum = None
        bn.train()
    rng = np.random.default_rng(spec.seed + 700_000)
    x = rng.standard_normal((batch, 3, spec.size, spec.size)).astype(np.float32)
    with torch.no_grad():
        model(torch.from_numpy(x))
    for bn, momentum in zip(norms, momenta):
        bn.momentum = momentum
    model.eval()
    return len(norms)


def build_model(spec):
    """Build the eval-mode model with deterministic random weights."""
    torch.manual_seed(spec.seed)
    model = getattr(torchvision.models, spec.name)(weights=None, **spec.kwargs)
    perturb_parameters(model, spec.seed)
    calibrate_batchnorm(model, spec)
    return model.eval()


def make_input(spec, offset=0):
    """Return the deterministic float32 [1, 3, H, W] standard-normal input.

    offset 0 gives the zoo's input; other offsets give independent inputs.
    """
    rng = np.random.default_rng(spec.seed + offset)
    return rng.standard_normal((1, 3, spec.size, spec.size)).astype(np.float32)


def check_output(name, logits, other):
    """Reject outputs that are non-finite, all equal, or nearly independent of the input.

    logits, other: [1, 1000], the outputs for the model's input and for a second,
    independent input. Returns the sensitivity max|logits - other| / max|logits|.
    """
    if not (np.all(np.isfinite(logits)) and np.all(np.isfinite(other))):
        raise ExportError(f"{name}: PyTorch output has non-finite values")
    if np.ptp(logits) == 0.0:
        raise ExportError(f"{name}: PyTorch output is degenerate (all values equal {logits.flat[0]})")
    sensitivity = float(np.abs(logits - other).max() / np.abs(logits).max())
    if sensitivity < MIN_SENSITIVITY:
        raise ExportError(f"{name}: output barely depends on the input (sensitivity {sensitivity:.2g})")
    return sensitivity


def export_onnx(spec, model, x, path):
    """Export with the TorchScript exporter; returns the elapsed seconds."""
    dynamic_axes = None
    if spec.dynamic:
        dynamic_axes = {"input": {0: "batch"}, "logits": {0: "batch"}}
    start = time.monotonic()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model, torch.from_numpy(x), path,
            export_params=True,
            opset_version=spec.opset,
            input_names=["input"],
            output_names=["logits"],
            dynamic_axes=dynamic_axes,
            do_constant_folding=spec.folding,
            keep_initializers_as_inputs=False,
            training=PRESERVE if spec.batchnorm_kept else EVAL,
        )
    return time.monotonic() - start


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def describe(spec, model, path, logits, seconds):
    """Collect the facts recorded in OUT/NAME.json (and later in manifest.json)."""
    proto = onnx.load(path)
    onnx.checker.check_model(proto)
    histogram = collections.Counter(node.op_type for node in proto.graph.node)
    opsets = {imp.domain or "ai.onnx": imp.version for imp in proto.opset_import}
    return {
        "name": spec.name,
        "file": os.path.basename(path),
        "exporter": "torchscript",
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "opset": opsets.get("ai.onnx"),
        "ir_version": proto.ir_version,
        "input_shape": [1, 3, spec.size, spec.size],
        "dynamic_batch": spec.dynamic,
        "constant_folding": spec.folding,
        "batchnorm_kept": spec.batchnorm_kept,
        "seed": spec.seed,
        "params": sum(p.numel() for p in model.parameters()),
        "nodes": len(proto.graph.node),
        "ops": sorted(histogram),
        "op_histogram": dict(sorted(histogram.items())),
        "onnx_bytes": os.path.getsize(path),
        "onnx_sha256": sha256(path),
        "logits_max_abs": float(np.abs(logits).max()),
        "logits_std": float(logits.std()),
        "export_seconds": round(seconds, 2),
    }


def export_one(spec, out_dir):
    """Export one model and write its files; NAME.json is written last."""
    base = os.path.join(out_dir, spec.name)
    model = build_model(spec)
    x = make_input(spec)
    with torch.no_grad():
        logits = model(torch.from_numpy(x)).numpy().astype(np.float32)
        other = model(torch.from_numpy(make_input(spec, offset=1))).numpy()
    sensitivity = check_output(spec.name, logits, other)
    seconds = export_onnx(spec, model, x, base + ".onnx")
    np.save(base + ".input.npy", x)
    np.save(base + ".ref_torch.npy", logits)
    info = describe(spec, model, base + ".onnx", logits, seconds)
    info["input_sensitivity"] = sensitivity
    with open(base + ".json", "w") as f:
        json.dump(info, f, indent=1)
        f.write("\n")
    return info


def print_summary(info):
    hist = " ".join(f"{op}:{n}" for op, n in info["op_histogram"].items())
    print(f"{info['name']}: opset {info['opset']} (IR {info['ir_version']}), "
          f"input {info['input_shape']}, dynamic batch {info['dynamic_batch']}, "
          f"folding {info['constant_folding']}, {info['nodes']} nodes, "
          f"{info['onnx_bytes'] / 1e6:.1f} MB, export {info['export_seconds']:.1f}s, "
          f"max|logits| {info['logits_max_abs']:.3g}, std {info['logits_std']:.3g}, "
          f"input sensitivity {info['input_sensitivity']:.2g}")
    print(f"  ops: {hist}", flush=True)


def select(only, everything=False):
    if not only:
        return [s for s in SPECS if everything or s.default]
    wanted = [s.strip() for s in only.split(",") if s.strip()]
    known = {s.name: s for s in SPECS}
    unknown = [w for w in wanted if w not in known]
    if unknown:
        raise SystemExit(f"unknown model(s): {', '.join(unknown)}; known: {', '.join(known)}")
    return [known[w] for w in wanted]


def export_in_worker(name, out_dir):
    """Worker-process entry point: export the named model."""
    torch.set_num_threads(TORCH_THREADS)
    try:
        return export_one(select(name)[0], out_dir)
    except Exception as err:  # the message must survive pickling back to the parent
        raise ExportError(f"{name}: {type(err).__name__}: {err}") from None


def export_all(specs, out_dir, jobs):
    """Export specs with up to jobs worker processes; returns the failure messages."""
    failures = []
    if jobs == 1:
        torch.set_num_threads(TORCH_THREADS)
        for spec in specs:
            try:
                print_summary(export_one(spec, out_dir))
            except ExportError as err:
                failures.append(str(err))
        return failures
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(jobs, mp_context=context) as pool:
        futures = [pool.submit(export_in_worker, s.name, out_dir) for s in specs]
        for future in concurrent.futures.as_completed(futures):
            try:
                print_summary(future.result())
            except ExportError as err:
                failures.append(str(err))
    return failures


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(here, "out"), help="output directory")
    parser.add_argument("--only", default="", help="comma-separated model names")
    parser.add_argument("--all", action="store_true",
                        help="include models left out of the default set (vgg11_bn)")
    parser.add_argument("--jobs", type=int, default=1, help="models exported in parallel")
    parser.add_argument("--list", action="store_true", help="print the model names and exit")
    args = parser.parse_args()
    specs = select(args.only, args.all)
    if args.list:
        print("\n".join(s.name for s in specs))
        return 0
    os.makedirs(args.out, exist_ok=True)
    failures = export_all(specs, args.out, max(1, min(args.jobs, len(specs))))
    if failures:
        print("export failed:\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
