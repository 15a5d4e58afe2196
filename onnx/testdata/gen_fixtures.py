#!/usr/bin/python3
"""Regenerates the reference fixtures of the onnx package's tests with numpy and onnx.

Run from anywhere with Debian's interpreter (python3-numpy, python3-onnx 1.12):

    /usr/bin/python3 onnx/testdata/gen_fixtures.py

Outputs, next to this script:

  tensors.onnx       a model whose initializers are TensorProtos of every dtype the Go
                     decoder supports, each stored twice: as raw_data (numpy_helper.from_array)
                     and in the typed field (helper.make_tensor(..., raw=False)), plus scalars
                     and empty tensors.
  tensors.json       for each initializer: data_type, dims and the element bit patterns that
                     numpy_helper.to_array decodes (floats as their IEEE bits, bools as 0/1).
  builders.onnx      a graph built with onnx.helper (make_attribute, make_tensor_value_info) that
                     the Go builders (AttrInt, ..., ValueInfo) must reproduce exactly.
  float16.bin.gz     numpy's float16 conversions, little-endian, each array delta-coded
                     (element i stored as a[i] - a[i-1], wrapping; a[-1] = 0) so gzip shrinks it:
                       65536 x uint32  float32 bits of every float16 bit pattern 0..65535;
                       then uint32 n, n x uint32 float32 inputs, n x uint16 float16 results.
  nodetests.txt.gz   one line per tensor .pb of /usr/share/libonnx-testdata/data:
                     "<path> <data_type> <dims,comma,separated|-> <sha256 of element bytes, 16 hex>"
"""
import gzip
import hashlib
import json
import os
import struct
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
TESTDATA = "/usr/share/libonnx-testdata/data"

# The dtypes the Go decoder supports, with values that exercise their edges.
F32 = np.float32
VALUES = {
    TensorProto.FLOAT: np.array(
        [0.0, -0.0, 1.5, -2.25, np.inf, -np.inf, np.nan, 1e-45, 3.4028235e38, -1.1754944e-38, 0.1, 1 / 3],
        dtype=F32),
    TensorProto.DOUBLE: np.array(
        [0.0, -0.0, 1.5, -2.25, np.inf, -np.inf, np.nan, 5e-324, 1.7976931348623157e308, 0.1, 1 / 3, -7.0]),
    TensorProto.FLOAT16: np.array(
        [0.0, -0.0, 1.5, -2.25, np.inf, -np.inf, np.nan, 6e-8, 65504, -6.1035e-05, 0.1, 1 / 3],
        dtype=np.float16),
    TensorProto.INT8: np.array([0, 1, -1, 127, -128, 42, -42, 7, 8, 9, 10, 11], dtype=np.int8),
    TensorProto.UINT8: np.array([0, 1, 255, 128, 127, 42, 3, 4, 5, 6, 7, 8], dtype=np.uint8),
    TensorProto.INT16: np.array([0, 1, -1, 32767, -32768, 1000, -1000, 7, 8, 9, 10, 11], dtype=np.int16),
    TensorProto.UINT16: np.array([0, 1, 65535, 32768, 32767, 1000, 3, 4, 5, 6, 7, 8], dtype=np.uint16),
    TensorProto.INT32: np.array(
        [0, 1, -1, 2**31 - 1, -2**31, 100000, -100000, 7, 8, 9, 10, 11], dtype=np.int32),
    TensorProto.UINT32: np.array([0, 1, 2**32 - 1, 2**31, 2**31 - 1, 100000, 3, 4, 5, 6, 7, 8], dtype=np.uint32),
    TensorProto.INT64: np.array(
        [0, 1, -1, 2**63 - 1, -2**63, 2**40, -2**40, 7, 8, 9, 10, 11], dtype=np.int64),
    TensorProto.UINT64: np.array(
        [0, 1, 2**64 - 1, 2**63, 2**63 - 1, 2**40, 3, 4, 5, 6, 7, 8], dtype=np.uint64),
    TensorProto.BOOL: np.array([True, False, True, True, False, False, True, False, True, False, False, True]),
}


def typed_tensor(name, dtype, arr):
    """A TensorProto storing arr in its typed field, the way helper.make_tensor does."""
    vals = arr.flatten().tolist()
    if dtype == TensorProto.FLOAT16:
        vals = arr.flatten()  # make_tensor converts float16 to its bits itself
    return helper.make_tensor(name, dtype, list(arr.shape), vals, raw=False)


def element_bits(arr):
    """The element bit patterns of arr as Python ints (floats as IEEE bits, bools as 0/1)."""
    flat = arr.flatten()
    if flat.dtype == np.float16:
        flat = flat.view(np.uint16)
    elif flat.dtype == np.float32:
        flat = flat.view(np.uint32)
    elif flat.dtype == np.float64:
        flat = flat.view(np.uint64)
    elif flat.dtype == np.bool_:
        flat = flat.astype(np.uint8)
    return [int(v) for v in flat]


def gen_tensors():
    inits, expected = [], {}
    for dtype, vals in VALUES.items():
        tname = TensorProto.DataType.Name(dtype).lower()
        shaped = {
            "": vals.reshape(3, 4),
            "_scalar": vals[2:3].reshape(()),
            "_empty": vals[:0].reshape(0, 3),
        }
        for suffix, arr in shaped.items():
            for kind, make in (("raw", lambda n, a: numpy_helper.from_array(a, n)),
                               ("typed", lambda n, a: typed_tensor(n, dtype, a))):
                name = f"{tname}{suffix}_{kind}"
                t = make(name, arr)
                assert t.data_type == dtype, (name, t.data_type)
                assert t.HasField("raw_data") == (kind == "raw"), name
                inits.append(t)
                got = numpy_helper.to_array(t)
                expected[name] = {"data_type": dtype, "dims": list(t.dims), "bits": element_bits(got)}
    graph = helper.make_graph([], "tensors", [], [], initializer=inits)
    model = helper.make_model(graph, producer_name="dcnet gen_fixtures.py")
    onnx.save(model, os.path.join(HERE, "tensors.onnx"))
    with open(os.path.join(HERE, "tensors.json"), "w") as f:
        json.dump(expected, f, indent=0, sort_keys=True)
        f.write("\n")


def gen_builders():
    value = numpy_helper.from_array(np.array([[1, 2], [3, 4]], dtype=np.int64), "value")
    node = helper.make_node(
        "Custom", ["x"], ["y"], name="n", domain="ai.dcnet",
        group=2, alpha=0.5, mode="constant", pads=[1, 2, 3, 4], scales=[1.5, -2.0], value=value)
    graph = helper.make_graph(
        [node], "builders",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 224, None]),
         helper.make_tensor_value_info("s", TensorProto.INT64, [])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT16, [1, "C"])])
    onnx.save(helper.make_model(graph, producer_name="dcnet gen_fixtures.py"), os.path.join(HERE, "builders.onnx"))


def f32_probe_inputs():
    """float32 inputs for float32->float16: every half, the midpoints between neighbouring halves,
    one float32 ulp either side of each midpoint, and values past the finite range."""
    halves = np.arange(0, 0x7C00, dtype=np.uint16).view(np.float16).astype(np.float64)
    nxt = np.append(halves[1:], 65536.0)  # 65536 is where rounding past the largest half goes
    mids = ((halves + nxt) / 2).astype(F32)  # exact: a midpoint needs 12 significant bits
    up = np.nextafter(mids, F32(np.inf))
    down = np.nextafter(mids, F32(0))
    extra = np.array([65519.996, 65520, 65536, 1e10, np.inf, np.nan, 2.0**-25, 2.0**-26,
                      np.float32(2.0**-25) * F32(1.0000001), 1e-45, 0.0], dtype=F32)
    pos = np.concatenate([halves.astype(F32), mids, up, down, extra])
    nans = np.array([0x7F800001, 0x7F802000, 0x7FC00000, 0x7FFFFFFF, 0x7FA00000], dtype=np.uint32).view(F32)
    allv = np.concatenate([pos, -pos, nans, -nans])
    return allv


def delta(a):
    """a[i] - a[i-1] with wrap-around, a[-1] = 0."""
    return np.diff(a, prepend=a.dtype.type(0))


def gen_float16():
    all_halves = np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.float16)
    to32 = all_halves.astype(F32).view(np.uint32)
    inputs = f32_probe_inputs()
    with np.errstate(over="ignore"):  # overflowing to infinity is part of the test
        to16 = inputs.astype(np.float16).view(np.uint16)
    with gzip.GzipFile(os.path.join(HERE, "float16.bin.gz"), "wb", mtime=0) as f:
        f.write(delta(to32).astype("<u4").tobytes())
        f.write(struct.pack("<I", len(inputs)))
        f.write(delta(inputs.view(np.uint32)).astype("<u4").tobytes())
        f.write(delta(to16).astype("<u2").tobytes())


def tensor_value_infos(model):
    """Indices of graph inputs/outputs whose type is a tensor (the rest are sequences etc.)."""
    ins = [i for i, v in enumerate(model.graph.input) if v.type.WhichOneof("value") == "tensor_type"]
    outs = [i for i, v in enumerate(model.graph.output) if v.type.WhichOneof("value") == "tensor_type"]
    return ins, outs


def gen_nodetests():
    lines = []
    for root, dirs, files in os.walk(TESTDATA):
        dirs.sort()
        if "model.onnx" not in files:
            continue
        model = onnx.load(os.path.join(root, "model.onnx"), load_external_data=False)
        ins, outs = tensor_value_infos(model)
        for ds in sorted(d for d in dirs if d.startswith("test_data_set_")):
            for prefix, idx in (("input", ins), ("output", outs)):
                for i in idx:
                    path = os.path.join(root, ds, f"{prefix}_{i}.pb")
                    if not os.path.exists(path):
                        continue
                    t = onnx.load_tensor(path)
                    rel = os.path.relpath(path, TESTDATA)
                    dims = ",".join(str(d) for d in t.dims) or "-"
                    try:
                        arr = numpy_helper.to_array(t)
                        digest = hashlib.sha256(arr.tobytes()).hexdigest()[:16]
                    except Exception:  # a dtype numpy cannot represent
                        digest = "-"
                    if t.data_type in (TensorProto.STRING, TensorProto.BFLOAT16,
                                       TensorProto.COMPLEX64, TensorProto.COMPLEX128):
                        digest = "-"  # not decoded by the Go package: only the error is checked
                    lines.append(f"{rel} {t.data_type} {dims} {digest}\n")
    with gzip.GzipFile(os.path.join(HERE, "nodetests.txt.gz"), "wb", mtime=0) as f:
        f.write("".join(lines).encode())
    return len(lines)


def main():
    if sys.byteorder != "little":
        sys.exit("run on a little-endian machine")
    gen_tensors()
    gen_builders()
    gen_float16()
    n = gen_nodetests() if os.path.isdir(TESTDATA) else 0
    print(f"wrote tensors.onnx, tensors.json, builders.onnx, float16.bin.gz, nodetests.txt.gz ({n} tensors)")


if __name__ == "__main__":
    main()
