"""The reading the page did before the reader graph: kept frozen so bench/reader_before_after.py
can measure both on the same inputs in one run.

The drawing or photo went through the photo cleaning (demo.photo.photo_ink), then this numpy
and Pillow normalisation, then the bare model with the width-warmed softmax applied in Python.
Only the benchmark imports it; the demo reads through the graph.
"""

import numpy as np
import torch
from PIL import Image

from demo.photo import photo_ink
from demo.reader import PreprocessError
from export.reference import (  # the constants and steps the graph kept as they were
    CORE,
    DOT_EXTENT,
    DOT_RATIO,
    INK_AT,
    SOFT_EDGE,
    morph_step,
    stroke_width,
    target_width,
    warm,
)
from train.model import HRNN

SUPERSAMPLE = 4


def to_mnist(image: object, image_size: int = 28, digit_box: int = 20) -> np.ndarray | None:
    """The 28x28 0..255 image the page used to read, or None (nothing to read, or refused)."""
    try:
        ink = photo_ink(image)
    except PreprocessError:
        return None
    return None if ink is None else _normalise(ink, image_size, digit_box, True)


def probabilities(model: HRNN, images: np.ndarray, calibration: dict) -> np.ndarray:
    """The bare model's logits, softmax warmed as the page's Python did (float64)."""
    with torch.inference_mode():
        logits = (
            np.concatenate(
                [
                    model(
                        torch.from_numpy(np.asarray(images[s : s + 64], np.float32) / 255.0)
                    ).numpy()
                    for s in range(0, len(images), 64)
                ]
            )
            if len(images)
            else np.zeros((0, 10), np.float32)
        )
    widths = [stroke_width(np.asarray(image) / 255.0 > INK_AT) for image in images]
    keys = ("temperature", "wide_from", "wide_power")
    temperature = np.array([warm(w, *(calibration[k] for k in keys)) for w in widths])
    scaled = logits.astype(np.float64) / temperature[:, None] if len(images) else logits
    exp = np.exp(scaled - scaled.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


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


def _morph(plane: np.ndarray, radius: float, op) -> np.ndarray:
    """Grey erosion/dilation by a fractional radius: the two nearest whole radii blended."""
    whole = int(radius)
    for step in range(whole):
        plane = morph_step(plane, step, op)
    part = radius - whole
    return plane if part <= 0 else (1 - part) * plane + part * morph_step(plane, whole, op)


def _even_strokes(fine: np.ndarray) -> np.ndarray:
    """Erode or dilate (fine px) so the stroke width moves to `target_width`."""
    width = stroke_width(fine > 0.5) / SUPERSAMPLE
    radius = (target_width(width) - width) * SUPERSAMPLE / 2
    if radius > 0:
        return _morph(fine, radius, np.maximum)
    if radius < 0:
        thinned = _morph(fine, -radius, np.minimum)
        return thinned if thinned.max() > 0.5 else fine
    return fine


def _normalise(
    ink: np.ndarray, image_size: int, digit_box: int, strokes: bool
) -> np.ndarray | None:
    core = ink > CORE  # faint tails (a remnant of a ruled line) do not stretch the crop,
    rows, cols = np.flatnonzero(core.any(axis=1)), np.flatnonzero(core.any(axis=0))
    if rows.size == 0:
        return None
    reach = 1 + round(SOFT_EDGE * max(rows[-1] - rows[0], cols[-1] - cols[0]))  # soft edges do
    box = [
        max(0, rows[0] - reach),
        rows[-1] + reach + 1,
        max(0, cols[0] - reach),
        cols[-1] + reach + 1,
    ]
    crop = ink[box[0] : box[1], box[2] : box[3]]
    rows, cols = np.flatnonzero(crop.any(axis=1)), np.flatnonzero(crop.any(axis=0))
    crop = crop[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    small = max(crop.shape) < DOT_EXTENT * max(ink.shape)
    if small and max(crop.shape) < DOT_RATIO * stroke_width(crop > 0.5):
        return None
    fine = _fit(crop, SUPERSAMPLE * digit_box)
    fine /= max(float(fine.max()), 1e-6)  # a hairline averages to grey: measure its shape
    if strokes:
        fine = _even_strokes(fine)
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
