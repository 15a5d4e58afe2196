#!/usr/bin/python3
"""Writes the PyTorch fixtures of DecoupledConv that decop/torch_test.go compares the Go operator with.

For each configuration below (every magnitude, every angular several times, scalar and
per-channel α/ρ/β, groups 2 and depthwise, strides, dilations, asymmetric pads, auto_pad, bias
present and absent, weighted 0 and 1, non-default k and eps, all-zero patches), it draws float32
inputs, evaluates the spec's formulas in float64 with decoupled_ref.py (torch ops only, the
spec's portable form) and writes into torch/:

  <name>.<input>.npy   the float32 inputs X, W and whichever of B, Alpha, Rho, Beta are present
  <name>.Y.npy         the float64 output computed from those float32 inputs
  manifest.json        per configuration: the ONNX attributes (typed), the node's inputs (file and
                       shape, or null when absent) and the output's file and shape

Run from anywhere with Debian's Python: /usr/bin/python3 decop/testdata/torch_reference.py
"""
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import decoupled_ref as ref  # noqa: E402

OUT = os.path.join(HERE, "torch")
INPUTS = ("X", "W", "B", "Alpha", "Rho", "Beta")
ATTR_TYPES = {"magnitude": "string", "angular": "string", "auto_pad": "string", "weighted": "int",
              "group": "int", "k": "float", "eps": "float", "pads": "ints", "strides": "ints",
              "dilations": "ints", "kernel_shape": "ints"}

# Each configuration: shapes (n, c, h, w, m, kh, kw), ONNX attributes, which optional inputs are
# present and how (params: "scalar" → shape [], "one" → shape [1], "channel" → shape [M]), and
# the input distribution. Attributes left out take the spec's defaults.
CONFIGS = [
    dict(name="sphere_cos_scalar", shape=(2, 3, 8, 8, 5, 3, 3),
         attrs=dict(magnitude="sphere", angular="cos", pads=[1, 1, 1, 1]),
         params=dict(Alpha="scalar")),
    dict(name="ball_linear_stride2_w1_bias", shape=(2, 4, 9, 9, 6, 3, 3),
         attrs=dict(magnitude="ball", angular="linear", weighted=1, strides=[2, 2], pads=[1, 1, 1, 1]),
         params=dict(B="channel", Rho="channel"), data="aligned"),
    dict(name="tanh_sigmoid_groups2_dil2_k_eps", shape=(2, 4, 10, 9, 6, 3, 3),
         attrs=dict(magnitude="tanh", angular="sigmoid", group=2, dilations=[2, 2], pads=[2, 1, 2, 1],
                    k=0.5, eps=1e-3),
         params=dict(Alpha="channel", Rho="channel")),
    dict(name="linear_sqcos_depthwise_asympads_w1", shape=(2, 4, 8, 7, 8, 2, 3),
         attrs=dict(magnitude="linear", angular="sqcos", weighted=1, group=4, pads=[0, 1, 2, 1]),
         params=dict(Alpha="channel", B="channel")),
    dict(name="seg_cos_stride2_dil2_w1", shape=(2, 4, 11, 10, 6, 3, 3),
         attrs=dict(magnitude="seg", angular="cos", weighted=1, strides=[2, 2], dilations=[2, 2],
                    pads=[2, 2, 2, 2]),
         params=dict(B="channel", Alpha="channel", Rho="channel", Beta="channel")),
    dict(name="log_linear_groups2_asympads", shape=(2, 4, 8, 8, 6, 3, 3),
         attrs=dict(magnitude="log", angular="linear", group=2, pads=[1, 0, 0, 2]),
         params=dict(Alpha="one"), data="aligned"),
    dict(name="mix_sigmoid_w1_bias", shape=(2, 3, 8, 8, 5, 3, 3),
         attrs=dict(magnitude="mix", angular="sigmoid", weighted=1, pads=[1, 1, 1, 1]),
         params=dict(B="channel", Alpha="channel", Beta="channel"), data="aligned"),
    dict(name="defaults_tanh_cos", shape=(2, 3, 7, 7, 4, 3, 3), attrs=dict(), params=dict()),
    dict(name="seg_sqcos_depthwise_stride2_scalars", shape=(2, 5, 9, 9, 5, 3, 3),
         attrs=dict(magnitude="seg", angular="sqcos", group=5, strides=[2, 1], pads=[1, 1, 1, 1]),
         params=dict(Rho="scalar", Beta="scalar", Alpha="scalar"), data="aligned"),
    dict(name="log_sqcos_same_upper_stride2_w1", shape=(2, 4, 9, 8, 6, 3, 3),
         attrs=dict(magnitude="log", angular="sqcos", weighted=1, auto_pad="SAME_UPPER", strides=[2, 2],
                    kernel_shape=[3, 3]),
         params=dict(B="channel", Alpha="channel")),
    dict(name="ball_cos_groups4_zero_patches", shape=(2, 8, 8, 8, 8, 3, 3),
         attrs=dict(magnitude="ball", angular="cos", group=4, pads=[1, 1, 1, 1]),
         params=dict(B="channel", Rho="channel"), data="zero_image"),
    dict(name="sphere_sigmoid_w1_k", shape=(2, 4, 8, 8, 6, 2, 2),
         attrs=dict(magnitude="sphere", angular="sigmoid", weighted=1, k=0.2, strides=[1, 2]),
         params=dict(Alpha="channel"), data="aligned"),
    dict(name="tanh_linear_dil2_w1", shape=(2, 4, 9, 9, 6, 3, 3),
         attrs=dict(magnitude="tanh", angular="linear", weighted=1, dilations=[1, 2], pads=[1, 2, 1, 2]),
         params=dict(Rho="channel", Alpha="scalar")),
    dict(name="identity_linear_cos_w1_bias", shape=(2, 4, 8, 8, 6, 3, 3),
         attrs=dict(magnitude="linear", angular="cos", weighted=1, pads=[1, 1, 1, 1]),
         params=dict(B="channel")),
]


def as_f32(a):
    """Rounds an attribute float to float32, as the model stores it."""
    return float(np.float32(a))


def draw_data(rng, cfg):
    """Draws float32 X [N, C, H, W] and W [M, C/group, kH, kW] for the configuration."""
    n, c, h, w, m, kh, kw = cfg["shape"]
    group = cfg["attrs"].get("group", 1)
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    wt = (rng.standard_normal((m, c // group, kh, kw)) / math.sqrt(c // group * kh * kw)).astype(np.float32)
    mode = cfg.get("data", "normal")
    if mode == "aligned":
        # Non-negative inputs (as after a ReLU) and filters that are mostly positive or mostly
        # negative push cos θ towards ±1, where the angular functions bend most.
        x = np.abs(x)
        sign = np.where(np.arange(m) % 2 == 0, 1.0, -1.0).reshape(m, 1, 1, 1)
        wt = (sign * (np.abs(wt) + 0.1 * rng.standard_normal(wt.shape))).astype(np.float32)
    elif mode == "zero_image":
        # The first image is all zeros, so every patch of it (padding included) is zero and
        # Y = B there; the second image is zero on its left half.
        x[0] = 0
        x[1, :, :, : w // 2] = 0
    return x, wt


def draw_params(rng, cfg, x, wt, attrs):
    """Draws the present optional inputs; ρ is drawn around quantiles of r so that ball, seg and
    tanh are exercised on both sides of their bends."""
    m = wt.shape[0]
    dot, n, nw = ref.norms_and_dots(torch.from_numpy(x), torch.from_numpy(wt), attrs)
    r = (nw * n if attrs.get("weighted", 0) else n).numpy()
    # Quantiles over the patches that are not all zero (whose n_p is just sqrt(eps)).
    nonzero = n.numpy() > math.sqrt(attrs.get("eps", ref.DEFAULTS["eps"])) * (1 + 1e-9)
    out = {}
    for name, kind in cfg["params"].items():
        size = m if kind == "channel" else 1
        if name == "B":
            v = rng.uniform(-0.5, 0.5, size)
        elif name == "Alpha":
            v = rng.uniform(0.5, 2.0, size)
        elif name == "Beta":
            v = rng.uniform(0.1, 0.9, size)
        elif name == "Rho":
            q = rng.uniform(0.3, 0.7, size)
            flat = np.moveaxis(r, 1, 0).reshape(m, -1)
            mask = np.moveaxis(nonzero, 1, 0).reshape(m, -1)
            if size == 1:
                v = np.array([np.quantile(flat[mask], q[0])])
            else:
                v = np.array([np.quantile(flat[i][mask[i]], q[i]) for i in range(m)])
        shape = {"scalar": [], "one": [1], "channel": [m]}[kind]
        out[name] = v.astype(np.float32).reshape(shape)
    return out


def onnx_attrs(cfg):
    """The configuration's attributes as the model stores them (floats rounded to float32)."""
    attrs = dict(cfg["attrs"])
    for key in ("k", "eps"):
        if key in attrs:
            attrs[key] = as_f32(attrs[key])
    return attrs


def check_identity(x, wt, b, y, attrs):
    """linear:cos with weighted = 1 and α = 1 is Conv(X, W, B) (the spec's identity)."""
    xp, kw = ref.conv_geometry(torch.from_numpy(x).double(), torch.from_numpy(wt).double(), attrs)
    conv = F.conv2d(xp, torch.from_numpy(wt).double(), torch.from_numpy(b).double(), **kw)
    err = (conv - y).norm() / conv.norm()
    assert err < 1e-12, f"identity: relative error {err}"


def naive_dots_norms(x, wt, attrs):
    """Conv(X, W), n_p and Nw by explicit patch loops in float64 numpy: a check of the torch
    geometry (pads, strides, dilations, groups) in decoupled_ref.py."""
    eps = attrs.get("eps", ref.DEFAULTS["eps"])
    x, wt = x.astype(np.float64), wt.astype(np.float64)
    n, c, h, w = x.shape
    m, cg, kh, kw = wt.shape
    top, left, bottom, right = ref.explicit_pads(attrs, [h, w], [kh, kw])
    sh, sw = attrs.get("strides", [1, 1])
    dh, dw = attrs.get("dilations", [1, 1])
    xp = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    oh = (h + top + bottom - (kh - 1) * dh - 1) // sh + 1
    ow = (w + left + right - (kw - 1) * dw - 1) // sw + 1
    per_group = m // (c // cg)
    dot = np.zeros((n, m, oh, ow))
    norm = np.zeros((n, m, oh, ow))
    for j in range(m):
        g = j // per_group
        for a in range(oh):
            for b in range(ow):
                patch = xp[:, g * cg:(g + 1) * cg, a * sh:a * sh + (kh - 1) * dh + 1:dh, b * sw:b * sw + (kw - 1) * dw + 1:dw]
                dot[:, j, a, b] = (patch * wt[j]).sum(axis=(1, 2, 3))
                norm[:, j, a, b] = np.sqrt((patch * patch).sum(axis=(1, 2, 3)) + eps)
    nw = np.sqrt((wt * wt).sum(axis=(1, 2, 3)) + eps).reshape(1, m, 1, 1)
    return dot, norm, nw


def check_geometry(x, wt, attrs):
    dot, n, nw = ref.norms_and_dots(torch.from_numpy(x), torch.from_numpy(wt), attrs)
    for got, want in zip((dot, n, nw), naive_dots_norms(x, wt, attrs)):
        assert got.shape == want.shape and np.allclose(got.numpy(), want, rtol=1e-12, atol=1e-12)


def check_tables():
    """The spec's reference values of g and h (float64, six decimals)."""
    c = torch.tensor([-0.9, -0.5, 0, 0.3, 0.5, 0.9], dtype=torch.float64)
    g = {"cos": [-0.9, -0.5, 0, 0.3, 0.5, 0.9],
         "linear": [-0.712867, -0.333333, 0, 0.193973, 0.333333, 0.712867],
         "sigmoid": [-0.963456, -0.710245, 0, 0.473256, 0.710245, 0.963456],
         "sqcos": [-0.81, -0.25, 0, 0.09, 0.25, 0.81]}
    for name, want in g.items():
        assert np.allclose(ref.angular_fn(name, c, 0.3).numpy(), want, atol=5e-7), name
    r = torch.tensor([0.5, 1, 2], dtype=torch.float64)
    one = torch.ones((), dtype=torch.float64)
    h = {"sphere": [1, 1, 1], "ball": [0.5, 1, 1], "tanh": [0.462117, 0.761594, 0.964028],
         "linear": [0.5, 1, 2], "seg": [0.5, 1, 1.5], "log": [0.405465, 0.693147, 1.098612],
         "mix": [0.702733, 1.346574, 2.549306]}
    for name, want in h.items():
        assert np.allclose(ref.magnitude_fn(name, r, one, one, 0.5 * one).numpy(), want, atol=5e-7), name


def write_config(rng, cfg):
    attrs = onnx_attrs(cfg)
    x, wt = draw_data(rng, cfg)
    check_geometry(x, wt, attrs)
    params = draw_params(rng, cfg, x, wt, attrs)
    arrays = {"X": x, "W": wt, **params}
    t = {k: torch.from_numpy(v) for k, v in arrays.items()}
    y = ref.decoupled_conv(t["X"], t["W"], t.get("B"), t.get("Alpha"), t.get("Rho"), t.get("Beta"), attrs)
    y = y.numpy()
    assert np.isfinite(y).all(), cfg["name"]
    if cfg.get("data") == "zero_image":
        assert np.array_equal(y[0], np.broadcast_to(params["B"].astype(np.float64).reshape(-1, 1, 1), y[0].shape))
    if cfg["name"].startswith("identity"):
        check_identity(x, wt, params["B"], y, attrs)
    inputs = []
    for name in INPUTS:
        if name not in arrays:
            inputs.append(None)
            continue
        fname = f"{cfg['name']}.{name}.npy"
        np.save(os.path.join(OUT, fname), arrays[name])
        inputs.append({"name": name, "file": fname, "shape": list(arrays[name].shape)})
    yname = f"{cfg['name']}.Y.npy"
    np.save(os.path.join(OUT, yname), y)
    return {
        "name": cfg["name"],
        "attributes": [{"name": k, "type": ATTR_TYPES[k], "value": v} for k, v in attrs.items()],
        "inputs": inputs,
        "output": {"file": yname, "shape": list(y.shape)},
    }


def main():
    check_tables()
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        if f.endswith(".npy") or f == "manifest.json":
            os.remove(os.path.join(OUT, f))
    rng = np.random.default_rng(20240601)
    manifest = {
        "generator": "decop/testdata/torch_reference.py",
        "torch": torch.__version__,
        "spec": "shared/spec/decoupled-conv.md",
        "configs": [write_config(rng, cfg) for cfg in CONFIGS],
    }
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    seen_m = {c["attrs"].get("magnitude", "tanh") for c in CONFIGS}
    seen_a = {c["attrs"].get("angular", "cos") for c in CONFIGS}
    assert seen_m == set(ref.MAGNITUDES) and seen_a == set(ref.ANGULARS), (seen_m, seen_a)
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"wrote {len(CONFIGS)} configurations, {total} bytes, into {OUT}")


if __name__ == "__main__":
    main()
