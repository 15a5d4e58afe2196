#!/usr/bin/python3
"""Builds the decoupled Fashion-MNIST demo model and its PyTorch reference logits.

Starting from the trained CNN9 with BatchNormalization kept (../zoo/cnn9_bn.onnx: input "input"
[N, 1, 28, 28], output "logits" [N, 10]), every Conv becomes an ai.dcnet/DecoupledConv with
magnitude tanh, angular cos and weighted 1 (../../../../shared/spec/decoupled-conv.md), keeping
the node's name, inputs, outputs and geometry. Each layer gets two per-channel initializers:

  <layer>.rho    ρ_m = ‖w_m‖ × the 90th percentile of the layer's patch norms n_p, measured on the
                 first 500 training images, so that h = α·tanh(‖x_p‖/p90) whatever the filter norm
  <layer>.alpha  α_m by least squares, so that h·g matches the original Conv's output

The calibration runs layer by layer: each layer's patch norms and least-squares fit use the
inputs the already-converted layers produce (the converted network's own activations), and the
fit's target is the original network's Conv output on the same images.

Everything is evaluated by interpreting the ONNX graphs in float64 with torch ops; DecoupledConv
nodes use the shared reference of decop/testdata/decoupled_ref.py (the one the operator's
fixtures come from). Outputs, next to this script:

  cnn9_tanh_cos.onnx                  the decoupled model (opset 13 + ai.dcnet 1)
  cnn9_tanh_cos.t10k5000.ref.npy      its logits on the first 5000 test images, float32 [5000, 10]

and it prints the test accuracy of the original and the decoupled model on those images.

Run with Debian's Python: /usr/bin/python3 models/fmnist/decoupled/build_demo.py
"""
import gzip
import os
import struct
import sys

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "decop", "testdata"))
import decoupled_ref as ref  # noqa: E402

SOURCE = os.path.join(ROOT, "models", "fmnist", "zoo", "cnn9_bn.onnx")
MODEL_OUT = os.path.join(HERE, "cnn9_tanh_cos.onnx")
LOGITS_OUT = os.path.join(HERE, "cnn9_tanh_cos.t10k5000.ref.npy")
DATA = "/usr/share/datasets/fashion-mnist"
MEAN, STD = 0.2860, 0.3530
CALIBRATION_IMAGES = 500
TEST_IMAGES = 5000
PERCENTILE = 90
DECOUPLED = {"magnitude": "tanh", "angular": "cos", "weighted": 1}
DOMAIN = "ai.dcnet"


def read_idx(path):
    """Reads a gzipped IDX file into a uint8 array."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def images(split, count):
    """The first count images of a split as float32 [count, 1, 28, 28], normalised in float64 and
    rounded once (as cmd/dcrun/decoupled_test.go does)."""
    x = read_idx(f"{DATA}/{split}-images-idx3-ubyte.gz")[:count]
    return ((x.astype(np.float64) / 255 - MEAN) / STD).astype(np.float32)[:, None]


def labels(split, count):
    return read_idx(f"{DATA}/{split}-labels-idx1-ubyte.gz")[:count].astype(np.int64)


def attributes(node):
    """The node's attributes as Python values (strings decoded)."""
    out = {}
    for a in node.attribute:
        v = helper.get_attribute_value(a)
        out[a.name] = v.decode() if isinstance(v, bytes) else v
    return out


def drop_identities(graph):
    """Removes Identity nodes, renaming their outputs' uses to their inputs (graph outputs kept)."""
    outputs = {o.name for o in graph.output}
    for node in [n for n in graph.node if n.op_type == "Identity" and n.output[0] not in outputs]:
        src, dst = node.input[0], node.output[0]
        for other in graph.node:
            other.input[:] = [src if i == dst else i for i in other.input]
        graph.node.remove(node)


class Interpreter:
    """Runs the CNN9 graph (original or decoupled) in float64 with torch ops. run's hook(node, args)
    sees every node's inputs before the node runs; it may return a replacement output."""

    def __init__(self, model):
        self.model = model
        self.params = {t.name: torch.from_numpy(numpy_helper.to_array(t).astype(np.float64))
                       for t in model.graph.initializer}

    def run(self, x, hook=None):
        env = dict(self.params)
        env[self.model.graph.input[0].name] = torch.from_numpy(np.asarray(x)).to(torch.float64)
        for node in self.model.graph.node:
            args = [env[i] if i else None for i in node.input]
            out = hook(node, args) if hook else None
            env[node.output[0]] = out if out is not None else self.apply(node, args)
        return env[self.model.graph.output[0].name]

    @staticmethod
    def apply(node, args):
        a = attributes(node)
        op = node.op_type
        if op == "Conv":
            xp, kw = ref.conv_geometry(args[0], args[1], a)
            return F.conv2d(xp, args[1], args[2] if len(args) > 2 else None, **kw)
        if op == "DecoupledConv":
            args = args + [None] * (6 - len(args))
            return ref.decoupled_conv(*args, attrs=a)
        if op == "BatchNormalization":
            x, scale, bias, mean, var = args
            shape = (1, -1, 1, 1)
            return (x - mean.reshape(shape)) / torch.sqrt(var.reshape(shape) + a.get("epsilon", 1e-5)) * \
                scale.reshape(shape) + bias.reshape(shape)
        if op == "Relu":
            return torch.relu(args[0])
        if op == "MaxPool":
            assert a.get("ceil_mode", 0) == 0 and not any(a.get("pads", [0])), a
            return F.max_pool2d(args[0], a["kernel_shape"], a.get("strides", a["kernel_shape"]))
        if op == "GlobalAveragePool":
            return args[0].mean(dim=(2, 3), keepdim=True)
        if op == "Flatten":
            axis = a.get("axis", 1)
            return args[0].reshape(int(np.prod(args[0].shape[:axis])), -1)
        if op == "Gemm":
            x, w = args[0], args[1]
            x = x.T if a.get("transA", 0) else x
            w = w.T if a.get("transB", 0) else w
            y = a.get("alpha", 1.0) * (x @ w)
            if len(args) > 2 and args[2] is not None:
                y = y + a.get("beta", 1.0) * args[2]
            return y
        raise NotImplementedError(op)

    def input_of(self, x, name):
        """Runs the graph up to the node named name and returns that node's first input."""
        env = dict(self.params)
        env[self.model.graph.input[0].name] = torch.from_numpy(np.asarray(x)).to(torch.float64)
        for node in self.model.graph.node:
            if node.name == name:
                return env[node.input[0]]
            env[node.output[0]] = self.apply(node, [env[i] if i else None for i in node.input])
        raise KeyError(name)

    def logits(self, x, batch=500):
        return torch.cat([self.run(x[i:i + batch]) for i in range(0, len(x), batch)])


def decoupled_node(conv, alpha_name, rho_name):
    """The DecoupledConv replacing conv: same name, inputs, outputs and geometry."""
    bias = conv.input[2] if len(conv.input) > 2 else ""
    node = helper.make_node("DecoupledConv", [conv.input[0], conv.input[1], bias, alpha_name, rho_name],
                            list(conv.output), name=conv.name, domain=DOMAIN, **DECOUPLED)
    node.attribute.extend(a for a in conv.attribute)
    return node


def layer_name(weight_name):
    """"features.3.weight" → "features.3"."""
    return weight_name[:-len(".weight")] if weight_name.endswith(".weight") else weight_name


def calibrate(original, x):
    """Converts every Conv of original (an onnx model) layer by layer; returns the new model."""
    model = onnx.ModelProto()
    model.CopyFrom(original)
    drop_identities(model.graph)
    targets = {}

    def record(node, args):  # the original network's Conv outputs, the calibration targets
        if node.op_type == "Conv":
            targets[node.name] = Interpreter.apply(node, args)
            return targets[node.name]
        return None
    Interpreter(model).run(x, record)

    for i, node in enumerate(list(model.graph.node)):
        if node.op_type != "Conv":
            continue
        interp = Interpreter(model)
        layer_in = interp.input_of(x, node.name)  # the converted network's own activations
        w = interp.params[node.input[1]]
        attrs = attributes(node)
        dot, n, nw = ref.norms_and_dots(layer_in, w, attrs)
        p90 = float(np.percentile(n[:, :1].numpy(), PERCENTILE)) if attrs.get("group", 1) == 1 else \
            float(np.percentile(n.numpy(), PERCENTILE))
        wnorm = torch.sqrt((w * w).sum(dim=(1, 2, 3)))
        rho = (wnorm * p90).numpy().astype(np.float32)
        # h·g with α = 1, evaluated with the float32 ρ that the model stores.
        unit = ref.decoupled_conv(layer_in, w, rho=torch.from_numpy(rho), attrs=dict(attrs, **DECOUPLED))
        target = targets[node.name]
        alpha = ((unit * target).sum(dim=(0, 2, 3)) / (unit * unit).sum(dim=(0, 2, 3))).numpy().astype(np.float32)
        fit = alpha.reshape(1, -1, 1, 1) * unit.numpy()
        err = np.linalg.norm(fit - target.numpy()) / np.linalg.norm(target.numpy())
        print(f"{node.name}: p90 patch norm {p90:.4g}, alpha {alpha.min():.3g}..{alpha.max():.3g}, "
              f"relative fit error {err:.3f}")
        base = layer_name(node.input[1])
        alpha_name, rho_name = base + ".alpha", base + ".rho"
        model.graph.initializer.extend([numpy_helper.from_array(alpha, alpha_name),
                                        numpy_helper.from_array(rho, rho_name)])
        model.graph.node.remove(node)
        model.graph.node.insert(i, decoupled_node(node, alpha_name, rho_name))
    model.opset_import.append(helper.make_opsetid(DOMAIN, 1))
    model.doc_string = ("CNN9 (models/fmnist/zoo/cnn9_bn.onnx) with every Conv replaced by "
                        "ai.dcnet/DecoupledConv (tanh:cos, weighted 1; rho = |w_m| x p90 patch norm, "
                        "alpha by least squares on 500 training images), by models/fmnist/decoupled/build_demo.py")
    return model


def accuracy(logits, y):
    return 100.0 * float((logits.argmax(1).numpy() == y).mean())


def main():
    torch.set_num_threads(2)
    original = onnx.load(SOURCE)
    model = calibrate(original, images("train", CALIBRATION_IMAGES))
    onnx.checker.check_model(model)
    onnx.save(model, MODEL_OUT)

    x, y = images("t10k", TEST_IMAGES), labels("t10k", TEST_IMAGES)
    base = Interpreter(original).logits(x)
    dec = Interpreter(onnx.load(MODEL_OUT)).logits(x)
    np.save(LOGITS_OUT, dec.numpy().astype(np.float32))
    print(f"wrote {MODEL_OUT} ({os.path.getsize(MODEL_OUT)} bytes) and {LOGITS_OUT}")
    print(f"test accuracy on the first {TEST_IMAGES} test images: original {accuracy(base, y):.2f} %, "
          f"decoupled tanh:cos {accuracy(dec, y):.2f} %")


if __name__ == "__main__":
    main()
