#!/usr/bin/python3
"""Writes fixtures.json: what PyTorch's optimisers, schedulers, losses and gradient clipping compute
on small fixed inputs, for the Go tests of package runtime/train to compare with.

Every case is deterministic (numpy's default_rng with fixed seeds); the values written are the
float32 results PyTorch produced (as exact decimal doubles) or float64 ones for learning rates and
losses computed in float64.

Run with Debian's Python (numpy and torch): /usr/bin/python3 runtime/train/testdata/gen_fixtures.py
"""
import json
import os
import warnings

import numpy as np
import torch
import torch.nn.functional as F

warnings.filterwarnings("ignore")
torch.set_num_threads(1)
HERE = os.path.dirname(os.path.abspath(__file__))
SHAPES = [(3, 4), (5,)]
STEPS = 6


def tensors(rng, scale=1.0):
    return [(rng.standard_normal(s) * scale).astype(np.float32) for s in SHAPES]


def flat(arrays):
    return [[float(v) for v in np.asarray(a, dtype=np.float32).ravel()] for a in arrays]


def optimiser_case(name, make, lrs, seed, momenta=None):
    """Runs optimiser make(params) for len(lrs) steps with fixed gradients, setting each step's
    learning rate (and momentum, or beta1 for Adam, when momenta is given) before the step."""
    rng = np.random.default_rng(seed)
    init = tensors(rng)
    grads = [tensors(rng, 0.5) for _ in lrs]
    params = [torch.nn.Parameter(torch.from_numpy(a.copy())) for a in init]
    opt = make(params)
    after = []
    for t, lr in enumerate(lrs):
        for g in opt.param_groups:
            g["lr"] = lr
            if momenta is not None:
                if "betas" in g:
                    g["betas"] = (momenta[t], g["betas"][1])
                else:
                    g["momentum"] = momenta[t]
        for p, g in zip(params, grads[t]):
            p.grad = torch.from_numpy(g.copy())
        opt.step()
        after.append(flat([p.detach().numpy() for p in params]))
    return {"name": name, "init": flat(init), "grads": [flat(g) for g in grads], "lrs": lrs,
            "momenta": momenta, "after": after}


def scheduler_lrs(make_sched, steps, base_lr=0.1, momentum=0.9, cycle=False):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=base_lr, momentum=momentum)
    sched = make_sched(opt)
    lrs, moms = [], []
    for _ in range(steps):
        lrs.append(opt.param_groups[0]["lr"])
        moms.append(opt.param_groups[0]["momentum"])
        opt.step()
        sched.step()
    out = {"lrs": lrs}
    if cycle:
        out["momenta"] = moms
    return out


def schedules():
    out = []
    for total, pct in [(100, 0.15), (1410, 0.15), (37, 0.3)]:
        c = scheduler_lrs(lambda o: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=0.05, total_steps=total, pct_start=pct),
                          total, cycle=True)
        c.update(kind="onecycle", max=0.05, total=total, pct_start=pct)
        out.append(c)
    c = scheduler_lrs(lambda o: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=0.2, total_steps=50, pct_start=0.25,
                                                                    div_factor=10, final_div_factor=100,
                                                                    cycle_momentum=False), 50)
    c.update(kind="onecycle", max=0.2, total=50, pct_start=0.25, div_factor=10, final_div_factor=100)
    out.append(c)
    for tmax, eta_min, steps in [(50, 0.001, 60), (235, 0.0, 235)]:
        c = scheduler_lrs(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=tmax, eta_min=eta_min), steps)
        c.update(kind="cosine", base=0.1, min=eta_min, steps=tmax)
        out.append(c)
    c = scheduler_lrs(lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=7, gamma=0.5), 30)
    c.update(kind="step", base=0.1, step_size=7, gamma=0.5)
    out.append(c)
    return out


def optimisers():
    lrs = [0.1, 0.05, 0.2, 0.1, 0.01, 0.1]
    SGD = torch.optim.SGD
    cases = [
        optimiser_case("sgd plain", lambda p: SGD(p, lr=0.1), lrs, 1),
        optimiser_case("sgd momentum", lambda p: SGD(p, lr=0.1, momentum=0.9), lrs, 2),
        optimiser_case("sgd momentum wd", lambda p: SGD(p, lr=0.1, momentum=0.9, weight_decay=5e-4), lrs, 3),
        optimiser_case("sgd nesterov wd", lambda p: SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4), lrs, 4),
        optimiser_case("sgd dampening wd", lambda p: SGD(p, lr=0.1, momentum=0.8, dampening=0.1, weight_decay=1e-2), lrs, 5),
        optimiser_case("sgd nesterov cycled momentum", lambda p: SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4),
                       lrs, 6, momenta=[0.95, 0.93, 0.9, 0.87, 0.85, 0.9]),
        optimiser_case("adamw default", lambda p: torch.optim.AdamW(p, lr=1e-2), [1e-2] * STEPS, 7),
        optimiser_case("adamw custom", lambda p: torch.optim.AdamW(p, lr=1e-2, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
                       [1e-2, 5e-3, 2e-2, 1e-2, 1e-3, 1e-2], 8),
        optimiser_case("adamw cycled beta1", lambda p: torch.optim.AdamW(p, lr=1e-2, weight_decay=0.05),
                       [1e-2] * STEPS, 9, momenta=[0.95, 0.93, 0.9, 0.87, 0.85, 0.9]),
    ]
    configs = {
        "sgd plain": dict(kind="sgd"),
        "sgd momentum": dict(kind="sgd", momentum=0.9),
        "sgd momentum wd": dict(kind="sgd", momentum=0.9, weight_decay=5e-4),
        "sgd nesterov wd": dict(kind="sgd", momentum=0.9, nesterov=True, weight_decay=5e-4),
        "sgd dampening wd": dict(kind="sgd", momentum=0.8, dampening=0.1, weight_decay=1e-2),
        "sgd nesterov cycled momentum": dict(kind="sgd", momentum=0.9, nesterov=True, weight_decay=5e-4),
        "adamw default": dict(kind="adamw", beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-2),
        "adamw custom": dict(kind="adamw", beta1=0.8, beta2=0.99, eps=1e-6, weight_decay=0.1),
        "adamw cycled beta1": dict(kind="adamw", beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.05),
    }
    for c in cases:
        c["config"] = configs[c["name"]]
    return cases


def losses():
    rng = np.random.default_rng(10)
    n, k = 6, 5
    logits = (rng.standard_normal((n, k)) * 2).astype(np.float32)
    teacher = (rng.standard_normal((n, k)) * 3).astype(np.float32)
    labels = rng.integers(0, k, n)
    x64 = torch.from_numpy(logits.astype(np.float64))
    t64 = torch.from_numpy(teacher.astype(np.float64))
    y = torch.from_numpy(labels)
    out = []

    def case(kind, f, **kw):
        x = x64.clone().requires_grad_(True)
        loss = f(x)
        loss.backward()
        out.append(dict(kind=kind, loss=float(loss), grad=[float(v) for v in x.grad.numpy().ravel()], **kw))

    for eps in [0.0, 0.1, 0.3]:
        case("ce", lambda x: F.cross_entropy(x, y, label_smoothing=eps), smoothing=eps)
    for temp in [1.0, 4.0]:
        case("kd", lambda x: F.kl_div(F.log_softmax(x / temp, 1), F.softmax(t64 / temp, 1), reduction="batchmean") * temp * temp,
             temperature=temp)
    for w, eps, temp in [(0.5, 0.1, 4.0), (0.3, 0.0, 2.0)]:
        case("combined", lambda x: (1 - w) * F.cross_entropy(x, y, label_smoothing=eps) +
             w * F.kl_div(F.log_softmax(x / temp, 1), F.softmax(t64 / temp, 1), reduction="batchmean") * temp * temp,
             smoothing=eps, temperature=temp, weight=w)
    return {"n": n, "k": k, "logits": [float(v) for v in logits.ravel()], "teacher": [float(v) for v in teacher.ravel()],
            "labels": [int(v) for v in labels], "cases": out}


def clipping():
    rng = np.random.default_rng(11)
    out = []
    for max_norm, scale in [(1.0, 1.0), (100.0, 1.0), (0.5, 3.0)]:
        grads = tensors(rng, scale)
        params = [torch.nn.Parameter(torch.zeros(s)) for s in SHAPES]
        for p, g in zip(params, grads):
            p.grad = torch.from_numpy(g.copy())
        norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
        out.append({"max_norm": max_norm, "grads": flat(grads), "norm": float(norm),
                    "clipped": flat([p.grad.numpy() for p in params])})
    return out


def main():
    fixtures = {"torch": torch.__version__, "shapes": [list(s) for s in SHAPES], "optimisers": optimisers(),
                "schedules": schedules(), "losses": losses(), "clipping": clipping()}
    with open(os.path.join(HERE, "fixtures.json"), "w") as f:
        json.dump(fixtures, f)
        f.write("\n")


if __name__ == "__main__":
    main()
