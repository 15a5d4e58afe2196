#!/usr/bin/python3
"""Writes the fixtures of dataset_test.go with NumPy and the standard library, independently of
the Go code: .npy samples and labels, and IDX files (raw and gzip'ed) laid out as MNIST's.

Run from this directory with Debian's Python: /usr/bin/python3 gen_fixtures.py
"""
import gzip
import struct

import numpy as np

# Samples [5, 2, 3, 4]: value = index/4 - 7.
np.save("images_f4.npy", (np.arange(5 * 2 * 3 * 4, dtype=np.float32) / 4 - 7).reshape(5, 2, 3, 4))
# float64 samples [3, 1, 2, 2]: value = index/8 + 0.1, narrowed to float32 by the reader.
np.save("images_f8.npy", (np.arange(12, dtype=np.float64) / 8 + 0.1).reshape(3, 1, 2, 2))
np.save("labels_i8.npy", np.array([3, 0, 4, 1, 2], dtype=np.int64))
np.save("labels_u1.npy", np.array([9, 8, 7, 6, 5], dtype=np.uint8))
np.save("labels_f4.npy", np.array([1, 2, 3, 4, 5], dtype=np.float32))
np.save("labels_neg.npy", np.array([1, -2, 3, 4, 5], dtype=np.int32))


def idx(array):
    """The IDX encoding of a uint8 array: magic 0x0000 08 ndim, big-endian dims, data."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(">" + "I" * array.ndim, *array.shape)
    return header + array.astype(np.uint8).tobytes()


# Images [4, 3, 2]: pixel = (37 * index) mod 256; labels 2, 7, 1, 0.
images = ((np.arange(4 * 3 * 2) * 37) % 256).astype(np.uint8).reshape(4, 3, 2)
labels = np.array([2, 7, 1, 0], dtype=np.uint8)
with open("images-idx3-ubyte", "wb") as f:
    f.write(idx(images))
with gzip.open("images-idx3-ubyte.gz", "wb") as f:
    f.write(idx(images))
with open("labels-idx1-ubyte", "wb") as f:
    f.write(idx(labels))
with gzip.open("labels-idx1-ubyte.gz", "wb") as f:
    f.write(idx(labels))
