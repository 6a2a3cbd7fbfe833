"""Plain-numpy image filters the ink finder is built from (no SciPy in the Space).

Running min/max in O(log size) passes, box and block means, and 8-connected components:
each small enough to check by eye, and tested through demo.ink and demo.page.
"""

import numpy as np
from PIL import Image


def block_mean(plane: np.ndarray, factor: int) -> np.ndarray:
    """Mean over factor x factor blocks (the last ones partial), float32."""
    plane = np.asarray(plane, dtype=np.float32)
    return plane if factor == 1 else np.asarray(Image.fromarray(plane).reduce(factor))


def label_min(labels: np.ndarray, values: np.ndarray, count: int) -> np.ndarray:
    out = np.full(count, np.iinfo(np.int64).max)
    np.minimum.at(out, labels, values)
    return out


def _running(plane: np.ndarray, size: int, op, axis: int, fill: float | None) -> np.ndarray:
    """1-D running max/min of odd `size` along `axis`, edges repeated, in O(log size) passes."""
    half = size // 2
    pad = [(0, 0), (0, 0)]
    pad[axis] = (half, half)
    if fill is None:
        padded = np.pad(plane, pad, mode="edge")
    else:
        padded = np.pad(plane, pad, constant_values=fill)
    length = plane.shape[axis]
    span, out = 1, padded
    while span * 2 <= size:
        shifted = np.take(out, np.arange(span, out.shape[axis]), axis=axis)
        out = op(np.take(out, np.arange(out.shape[axis] - span), axis=axis), shifted)
        span *= 2
    rest = size - span
    first = np.take(out, np.arange(length), axis=axis)
    last = np.take(out, np.arange(rest, rest + length), axis=axis)
    return op(first, last)


def max_filter(plane: np.ndarray, size: int, fill: float | None = None) -> np.ndarray:
    """Running max over size x size; beyond the edges: the edge repeated, or `fill`."""
    return _running(_running(plane, size, np.maximum, 0, fill), size, np.maximum, 1, fill)


def min_filter(plane: np.ndarray, size: int, fill: float | None = None) -> np.ndarray:
    return _running(_running(plane, size, np.minimum, 0, fill), size, np.minimum, 1, fill)


def box_mean(plane: np.ndarray, size: int) -> np.ndarray:
    """Mean over size x size (odd), edges repeated, by cumulative sums."""
    half = size // 2
    padded = np.pad(plane.astype(np.float64), half, mode="edge")
    total = np.cumsum(np.cumsum(np.pad(padded, ((1, 0), (1, 0))), axis=0), axis=1)
    height, width = plane.shape
    window = (
        total[size : size + height, size : size + width]
        - total[:height, size : size + width]
        - total[size : size + height, :width]
        + total[:height, :width]
    )
    return (window / (size * size)).astype(np.float32)


def components(mask: np.ndarray) -> np.ndarray:
    """8-connected component labels (dense 0..n-1 over `mask`) by hooking and pointer jumping."""
    height, width = mask.shape
    index = np.arange(height * width).reshape(height, width)
    parent = index.ravel().copy()
    starts, ends = [], []
    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
        a = (slice(0, height - dy), slice(max(0, -dx), width - max(0, dx)))
        b = (slice(dy, height), slice(max(0, dx), width - max(0, -dx)))
        both = mask[a] & mask[b]
        starts.append(index[a][both])
        ends.append(index[b][both])
    starts, ends = np.concatenate(starts), np.concatenate(ends)
    while True:
        left, right = parent[starts], parent[ends]
        differ = left != right
        if not differ.any():
            break
        np.minimum.at(parent, np.maximum(left, right)[differ], np.minimum(left, right)[differ])
        while True:
            jumped = parent[parent]
            if np.array_equal(jumped, parent):
                break
            parent = jumped
    _, dense = np.unique(parent.reshape(height, width)[mask], return_inverse=True)
    labels = np.zeros((height, width), dtype=np.int64)
    labels[mask] = dense
    return labels
