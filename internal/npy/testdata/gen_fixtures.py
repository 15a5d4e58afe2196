#!/usr/bin/python3
"""Writes the .npy fixtures read by npy_test.go, using NumPy's own writer.

Run from this directory with Debian's Python (it has NumPy):
    /usr/bin/python3 gen_fixtures.py
The expected values are restated independently in npy_test.go.
"""
import numpy as np
from numpy.lib import format as npformat


def save(name, arr, version=None):
    with open(name, "wb") as f:
        npformat.write_array(f, arr, version=version, allow_pickle=False)


# Supported arrays.
save("f4_2x3.npy", (np.arange(6, dtype=np.float32).reshape(2, 3) * 0.5 - 1).astype("<f4"))
save("f8_3.npy", np.array([0.1, -2.5e300, 3.0], dtype="<f8"))
save("i8_2x2.npy", np.array([[-(2**62), 0], [7, 2**40]], dtype="<i8"))
save("i4_scalar.npy", np.array(-123456, dtype="<i4"))
save("u1_2x2x2.npy", (np.arange(8, dtype=np.uint8) * 30).reshape(2, 2, 2))
save("i1_4.npy", np.array([-128, -1, 0, 127], dtype=np.int8))
save("b1_3x1.npy", np.array([[True], [False], [True]]))
save("f4_empty_0x4.npy", np.zeros((0, 4), dtype="<f4"))
save("f4_v2.npy", np.array([1.5, -2.0], dtype="<f4"), version=(2, 0))
save("f4_v3.npy", np.array([1.5, -2.0], dtype="<f4"), version=(3, 0))

# Arrays Read must reject with a clear error.
save("bad_fortran.npy", np.asfortranarray(np.arange(6, dtype="<f4").reshape(2, 3)))
save("bad_bigendian.npy", np.array([1.0, 2.0], dtype=">f4"))
save("bad_float16.npy", np.array([1.0, 2.0], dtype="<f2"))
save("bad_complex.npy", np.array([1 + 2j], dtype="<c8"))
save("bad_structured.npy", np.zeros(2, dtype=[("a", "<f4"), ("b", "<i4")]))
