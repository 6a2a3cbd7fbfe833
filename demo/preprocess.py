"""Make a live drawing or an upload look like an MNIST digit before the model reads it.

MNIST's authors cropped each digit to its ink, scaled the longer side to 20 px with
anti-aliasing and put its centre of mass at the centre of a 28x28 field, white ink on black.
A sketchpad drawing is none of that (black on white, anywhere on an 800 px canvas, drawn with
a fat brush), which is why MNIST models fail in live demos. `to_mnist` repeats MNIST's steps:

1. find the ink: alpha for transparent layers, otherwise the side of the paper colour (the
   median of the image border; white for a sketchpad composite, which Gradio flattens on
   white) that holds more contrast; faint noise below a quarter of the ink's peak and specks
   lighter than SPECK_FRACTION of the heaviest blob are dropped;
2. crop to the ink, scale the longer side to `digit_box` (area averaging), and shift the
   centre of mass to (image_size / 2, image_size / 2) in pixel-index coordinates, which is
   where MNIST's own digits have it (13.99, 14.01);
3. strokes far outside MNIST's widths are adjusted: eroded halfway back to MNIST's median
   width when over THIN_ABOVE times it, dilated up to it when under THICKEN_BELOW times it
   (hairlines). Halfway, because eroding all the way also erases the thin parts of a varying
   stroke: measured by `python -m tools.evaluate_preprocessing`, halfway reads 2-3x-thick
   drawings best (95.9% against 90.5% unadjusted; all the way measured worse than none).

Decisions: no ink, an all-transparent or uniform image, and a dot (a blob under DOT_RATIO
stroke widths long and DOT_EXTENT of the canvas) give None, the "nothing to read" state; a
canvas mostly covered in ink, NaN/inf pixels, unsupported dtypes (bool, ints other than
uint8/uint16, float16, complex), 0-pixel images and unreadable files raise PreprocessError;
float pixels are 0..1, or 0..255 when any value exceeds 1.
Reading files, bytes, Pillow images and arrays (dtypes, bombs, early downscaling) lives in
demo.pixels; PreprocessError is defined there and importable from here. Numpy + Pillow only.
"""

import math

import numpy as np
from PIL import Image

from demo.pixels import PreprocessError, block_mean, read_planes

SCAN_SIDE = 256  # ink peak, specks and blobs are judged at this coarser size
MIN_CONTRAST = 0.08  # a peak ink contrast below this (0..1) is blank paper or noise
SPECK_FRACTION = 0.05  # connected blobs lighter than this share of the heaviest are specks
MAX_COVERAGE = 0.5  # more ink than this share of the canvas is not a digit on paper
DOT_RATIO, DOT_EXTENT = 2.5, 0.1  # a blob < 2.5 stroke widths long and < 10% of the canvas
MNIST_STROKE = 2.4  # median stroke width of MNIST test digits, measured as `stroke_width` does
THIN_ABOVE, THICKEN_BELOW = 2.0, 0.45  # adjust strokes beyond MNIST's own range (5-95%: 0.6-1.6x)
THIN_FRACTION = 0.5  # remove half the excess: thin parts of a varying stroke survive
SUPERSAMPLE = 4  # strokes are measured and adjusted at this multiple of the output size
_EDITOR_KEYS = ("background", "layers", "composite")


def to_mnist(
    image: object, image_size: int = 28, digit_box: int = 20, *, strokes: bool = True
) -> np.ndarray | None:
    """MNIST-style float32 (image_size, image_size), 0..255 white-on-black; None if no ink.

    strokes=False skips the stroke-width adjustment (to measure what it buys).
    """
    if not (isinstance(image_size, int) and isinstance(digit_box, int) and digit_box > 0):
        raise ValueError("image_size and digit_box must be positive integers")
    if digit_box > image_size:
        raise ValueError(f"digit_box {digit_box} does not fit in image_size {image_size}")
    ink = find_ink(image)
    return None if ink is None else _normalise(ink, image_size, digit_box, strokes)


def find_ink(image: object) -> np.ndarray | None:
    """Ink map, float32 (H, W) <= WORK_SIDE, 0 paper to 1 ink, specks removed; None if none."""
    raw = _raw_ink(image)
    return None if raw is None else _clean(raw)


def stroke_width(mask: np.ndarray) -> float:
    """Mean stroke width of a binary mask in its pixels: twice the area over the outline length.

    A stroke of length L and width w has area L*w and outline ~2L; counting pixel-edge
    transitions overestimates an outline's length by 4/pi on average, so that is divided out.
    """
    mask = np.pad(np.asarray(mask, dtype=bool), 1)
    edges = np.count_nonzero(mask[1:] != mask[:-1]) + np.count_nonzero(mask[:, 1:] != mask[:, :-1])
    return 0.0 if edges == 0 else 2.0 * np.count_nonzero(mask) / (edges * math.pi / 4)


def _raw_ink(image: object, paper: str = "auto") -> np.ndarray | None:
    if image is None:
        return None
    if isinstance(image, dict):
        return _editor_ink(image)
    return _contrast(*read_planes(image), paper)


def _editor_ink(value: dict) -> np.ndarray | None:
    """A Gradio ImageEditor/Sketchpad value: the composite as seen (flattened on white paper),
    else the drawn layers (ink in their alpha), else the background."""
    if value and not any(key in value for key in _EDITOR_KEYS):
        raise PreprocessError("A dict input must be a sketchpad value with a composite or layers.")
    background, layers, composite = (value.get(key) for key in _EDITOR_KEYS)
    layers = [] if layers is None else layers
    if not isinstance(layers, (list, tuple)):
        raise PreprocessError("The sketchpad layers must be a list of images.")
    if any(isinstance(part, dict) for part in (background, composite, *layers)):
        raise PreprocessError("A sketchpad value cannot hold another sketchpad value.")
    if composite is not None:
        return _raw_ink(composite, paper="light")
    inks = [ink for ink in (_raw_ink(layer) for layer in layers) if ink is not None]
    if inks:
        if len({ink.shape for ink in inks}) > 1:
            raise PreprocessError("The sketchpad layers differ in size.")
        return np.maximum.reduce(inks)
    return _raw_ink(background)


def _border(plane: np.ndarray) -> np.ndarray:
    return np.concatenate([plane[0], plane[-1], plane[:, 0], plane[:, -1]])


def _contrast(luma: np.ndarray, alpha: np.ndarray | None, paper: str) -> np.ndarray:
    """Raw ink 0..1: alpha on a transparent background, else distance from the paper colour."""
    if alpha is not None:
        if np.median(_border(alpha)) < 0.5:
            return alpha
        luma = luma * alpha + (1.0 - alpha)  # flatten on white, as Gradio does
    paper_level = 1.0 if paper == "light" else float(np.median(_border(luma)))
    dark = np.clip(paper_level - luma, 0.0, None)
    light = np.clip(luma - paper_level, 0.0, None)
    return dark if dark.sum() >= light.sum() else light


def _clean(raw: np.ndarray) -> np.ndarray | None:
    """Drop faint noise relative to the ink's peak, then specks; None if no ink is left."""
    coarse, factor = _coarse(raw)
    peak = float(coarse.max())
    if peak < MIN_CONTRAST:
        return None
    ink = np.clip((raw - 0.25 * peak) / (0.5 * peak), 0.0, 1.0)
    if ink.mean() > MAX_COVERAGE:
        raise PreprocessError("The image is mostly ink; draw one digit on a plain background.")
    coarse, _ = _coarse(ink)
    mask = coarse > 0
    if not mask.any():
        return None
    labels = _components(mask)
    mass = np.bincount(labels[mask], weights=coarse[mask])
    keep = np.zeros(coarse.shape, dtype=np.float32)
    keep[mask] = mass[labels[mask]] >= SPECK_FRACTION * mass.max()
    keep = np.repeat(np.repeat(keep, factor, axis=0), factor, axis=1)
    return ink * keep[: ink.shape[0], : ink.shape[1]]


def _coarse(plane: np.ndarray) -> tuple[np.ndarray, int]:
    """Block-mean to <= SCAN_SIDE, padding with paper so every pixel lands in a block."""
    factor = math.ceil(max(plane.shape) / SCAN_SIDE)
    pad = [(0, -size % factor) for size in plane.shape]
    return block_mean(np.pad(plane, pad), factor, factor), factor


def _components(mask: np.ndarray) -> np.ndarray:
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


def _resize(plane: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Area-average when shrinking, bilinear when growing (no ringing), on a float image."""
    height, width = plane.shape
    shrinking = size[0] <= width and size[1] <= height
    method = Image.Resampling.BOX if shrinking else Image.Resampling.BILINEAR
    return np.array(Image.fromarray(plane.astype(np.float32)).resize(size, method))


def _fit(plane: np.ndarray, box: int) -> np.ndarray:
    """Crop to the ink's bounding box and scale its longer side to `box` px."""
    rows, cols = np.flatnonzero(plane.any(axis=1)), np.flatnonzero(plane.any(axis=0))
    plane = plane[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    scale = box / max(plane.shape)
    size = (max(1, round(plane.shape[1] * scale)), max(1, round(plane.shape[0] * scale)))
    return _resize(plane, size)


def _morph(plane: np.ndarray, radius: int, op) -> np.ndarray:
    """Grey erosion/dilation by a disc-like (alternating square and cross) element."""
    for step in range(radius):
        padded = np.pad(plane, 1)
        views = [
            padded[1 + dy : padded.shape[0] - 1 + dy, 1 + dx : padded.shape[1] - 1 + dx]
            for dy in (-1, 0, 1)
            for dx in (-1, 0, 1)
            if step % 2 == 0 or dy * dx == 0
        ]
        plane = op.reduce(views)
    return plane


def _normalise(
    ink: np.ndarray, image_size: int, digit_box: int, strokes: bool
) -> np.ndarray | None:
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    if rows.size == 0:
        return None
    crop = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    small = max(crop.shape) < DOT_EXTENT * max(ink.shape)
    if small and max(crop.shape) < DOT_RATIO * stroke_width(crop > 0.5):
        return None
    fine = _fit(crop, SUPERSAMPLE * digit_box)
    fine /= max(float(fine.max()), 1e-6)  # a hairline averages to grey: measure its shape
    width = stroke_width(fine > 0.5) / SUPERSAMPLE if strokes else MNIST_STROKE
    if width > THIN_ABOVE * MNIST_STROKE:
        excess = THIN_FRACTION * (width - MNIST_STROKE)
        thinned = _morph(fine, round(excess * SUPERSAMPLE / 2), np.minimum)
        fine = thinned if thinned.max() > 0.5 else fine
    elif 0 < width < THICKEN_BELOW * MNIST_STROKE:
        fine = _morph(fine, round((MNIST_STROKE - width) * SUPERSAMPLE / 2), np.maximum)
    digit = _fit(np.where(fine > 0.02, fine, 0.0), digit_box)
    digit = np.clip(digit, 0.0, None) * (255.0 / max(float(digit.max()), 1e-6))
    out = np.zeros((image_size, image_size), dtype=np.float32)
    mass = digit.sum()
    centre = [
        (digit.sum(axis=1 - axis) * np.arange(digit.shape[axis])).sum() / mass for axis in (0, 1)
    ]
    top, left = (
        int(np.clip(round(image_size / 2 - c), 0, image_size - n))
        for c, n in zip(centre, digit.shape, strict=True)
    )
    out[top : top + digit.shape[0], left : left + digit.shape[1]] = digit
    return out
