"""A float64 PyTorch evaluation of ai.dcnet/DecoupledConv, straight from the spec.

This module is the independent reference for the Go operator: it follows the "Portable form" of
../shared/spec/decoupled-conv.md with torch ops only (F.conv2d for the dot products, F.conv2d of
X² with an all-ones kernel for the patch norms), sharing no code with the Go implementation.
torch_reference.py (the operator's fixtures) and models/fmnist/decoupled/build_demo.py (the
end-to-end demo model) both import it.

Layouts: x [N, C, H, W], w [M, C/group, kH, kW], b / alpha / rho / beta [M], [1] or [] (or None
for an absent input). ONNX pads are [top, left, bottom, right].
"""
import math

import torch
import torch.nn.functional as F

MAGNITUDES = ("sphere", "ball", "tanh", "linear", "seg", "log", "mix")
ANGULARS = ("cos", "linear", "sigmoid", "sqcos")

# Defaults of the attributes and of the optional inputs (spec: Inputs, Attributes).
DEFAULTS = {"magnitude": "tanh", "angular": "cos", "weighted": 0, "k": 0.3, "eps": 1e-4,
            "group": 1, "strides": [1, 1], "dilations": [1, 1], "auto_pad": "NOTSET"}
DEFAULT_ALPHA, DEFAULT_RHO, DEFAULT_BETA = 1.0, 1.0, 0.5

# ĉ = clamp(c, −1 + CLAMP_MARGIN, 1 − CLAMP_MARGIN) before acos.
CLAMP_MARGIN = 1e-6


def explicit_pads(attrs, in_hw, kernel_hw):
    """Returns the [top, left, bottom, right] pads that Conv (opset 11+) uses for attrs."""
    auto_pad = attrs.get("auto_pad", "NOTSET")
    if auto_pad in ("NOTSET", ""):
        return list(attrs.get("pads", [0, 0, 0, 0]))
    if auto_pad == "VALID":
        return [0, 0, 0, 0]
    strides = attrs.get("strides", [1, 1])
    dilations = attrs.get("dilations", [1, 1])
    begin, end = [], []
    for size, k, s, d in zip(in_hw, kernel_hw, strides, dilations):
        out = -(-size // s)
        total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
        small, large = total // 2, total - total // 2
        if auto_pad == "SAME_UPPER":
            begin.append(small)
            end.append(large)
        elif auto_pad == "SAME_LOWER":
            begin.append(large)
            end.append(small)
        else:
            raise ValueError(f"unknown auto_pad {auto_pad!r}")
    return begin + end


def _channel(v, default, m, like):
    """Broadcasts an optional scalar or per-channel parameter to [1, M, 1, 1]."""
    if v is None:
        v = torch.tensor(default, dtype=torch.float64)
    v = torch.as_tensor(v, dtype=torch.float64).reshape(-1)
    if v.numel() not in (1, m):
        raise ValueError(f"parameter has {v.numel()} elements, want 1 or {m}")
    return v.expand(m).reshape(1, m, 1, 1).to(like.device)


def magnitude_fn(name, r, alpha, rho, beta):
    """h(r) of the spec's magnitude table; alpha, rho, beta broadcast against r."""
    if name == "sphere":
        return alpha.expand_as(r)
    if name == "ball":
        return alpha * torch.minimum(r, rho.expand_as(r)) / rho
    if name == "tanh":
        return alpha * torch.tanh(r / rho)
    if name == "linear":
        return alpha * r
    if name == "seg":
        return torch.where(r <= rho, alpha * r, beta * r + (alpha - beta) * rho)
    if name == "log":
        return alpha * torch.log1p(r)
    if name == "mix":
        return alpha * r + beta * torch.log1p(r)
    raise ValueError(f"unknown magnitude {name!r}")


def angular_fn(name, c, k):
    """g(c) of the spec's angular table, for c already clamped to [−1, 1]."""
    if name == "cos":
        return c
    if name == "sqcos":
        return c * c.abs()
    theta = torch.acos(c.clamp(-1 + CLAMP_MARGIN, 1 - CLAMP_MARGIN))
    if name == "linear":
        return 1 - (2 / math.pi) * theta
    if name == "sigmoid":
        return torch.tanh((math.pi / 2 - theta) / (2 * k)) / math.tanh(math.pi / (4 * k))
    raise ValueError(f"unknown angular {name!r}")


def conv_geometry(x, w, attrs):
    """Pads x explicitly and returns it with the conv2d keyword arguments of attrs."""
    kernel_hw = attrs.get("kernel_shape", list(w.shape[2:]))
    top, left, bottom, right = explicit_pads(attrs, list(x.shape[2:]), kernel_hw)
    xp = F.pad(x, (left, right, top, bottom))
    kw = dict(stride=tuple(attrs.get("strides", [1, 1])), dilation=tuple(attrs.get("dilations", [1, 1])),
              groups=attrs.get("group", 1))
    return xp, kw


def norms_and_dots(x, w, attrs):
    """Returns (dot, n, nw): Conv(X, W) [N, M, oH, oW], the patch norms n_p [N, M, oH, oW] and the
    filter norms Nw [1, M, 1, 1], all in float64."""
    eps = attrs.get("eps", DEFAULTS["eps"])
    x, w = x.to(torch.float64), w.to(torch.float64)
    xp, kw = conv_geometry(x, w, attrs)
    dot = F.conv2d(xp, w, **kw)
    # Σ x_p² over the patch of the channel's group: a grouped conv of X² with an all-ones kernel
    # shaped like W (the spec's portable form).
    n = torch.sqrt(F.conv2d(xp * xp, torch.ones_like(w), **kw) + eps)
    nw = torch.sqrt((w * w).sum(dim=(1, 2, 3)) + eps).reshape(1, -1, 1, 1)
    return dot, n, nw


def decoupled_conv(x, w, b=None, alpha=None, rho=None, beta=None, attrs=None):
    """Evaluates DecoupledConv in float64: Y [N, M, oH, oW] = h(r)·g(c) + B."""
    attrs = dict(attrs or {})
    m = w.shape[0]
    dot, n, nw = norms_and_dots(x, w, attrs)
    c = (dot / nw / n).clamp(-1, 1)
    r = nw * n if attrs.get("weighted", DEFAULTS["weighted"]) else n
    a = _channel(alpha, DEFAULT_ALPHA, m, dot)
    p = _channel(rho, DEFAULT_RHO, m, dot)
    bt = _channel(beta, DEFAULT_BETA, m, dot)
    y = magnitude_fn(attrs.get("magnitude", DEFAULTS["magnitude"]), r, a, p, bt) * \
        angular_fn(attrs.get("angular", DEFAULTS["angular"]), c, attrs.get("k", DEFAULTS["k"]))
    if b is not None:
        y = y + torch.as_tensor(b, dtype=torch.float64).reshape(1, m, 1, 1)
    return y
