"""How wide a digit's strokes are, and how much less sure that should make the model.

Preprocessing evens strokes toward MNIST's width with `stroke_width`. The classifier warms its
softmax for strokes wider than the familiar validation digits reach (`warm`): a fat pen closes
an 8's loops into a bar that the model, which never saw one, reads as 1 with conviction. Only
how sure an answer is shown changes, never the answer. numpy only: bench/recalibrate.py fits
the warming with the functions the demo (and demo/web/reader.js, its twin) applies.
"""

import math

import numpy as np

INK_AT = 0.5  # a pixel scaled to 0..1 above this is ink when measuring the width the model sees


def stroke_width(mask: np.ndarray) -> float:
    """Mean stroke width of a binary mask in its pixels: twice the area over the outline length.

    A stroke of length L and width w has area L*w and outline ~2L; counting pixel-edge
    transitions overestimates an outline's length by 4/pi on average, so that is divided out.
    """
    mask = np.pad(np.asarray(mask, dtype=bool), 1)
    edges = np.count_nonzero(mask[1:] != mask[:-1]) + np.count_nonzero(mask[:, 1:] != mask[:, :-1])
    return 0.0 if edges == 0 else 2.0 * np.count_nonzero(mask) / (edges * math.pi / 4)


def stroke_widths(batch: np.ndarray) -> np.ndarray:
    """(N,) stroke widths of (N, H, W) model inputs scaled to 0..1 (0 for a blank one)."""
    return np.array([stroke_width(image > INK_AT) for image in batch], dtype=np.float64)


def warm(widths: np.ndarray, temperature: float, wide_from: float, wide_power: float) -> np.ndarray:
    """(N,) temperatures: `temperature`, times (width / wide_from) ** wide_power for strokes
    wider than wide_from. Continuous in the width, so a slightly fatter stroke is never a
    cliff in the confidence shown."""
    excess = np.maximum(1.0, np.asarray(widths, dtype=np.float64) / wide_from)
    return temperature * excess**wide_power
