"""The reader's normalisation in plain numpy: what export/reader.py computes as ONNX ops.

One ink plane (H, W), 0 paper to 1 ink, becomes the 28x28 0..255 image the model reads, the
way MNIST's authors made theirs: crop to the ink, fit the longer side to the digit box, even
the stroke width toward MNIST's, centre of mass to the centre. Parity checks the graph against
this file, so it is written for reading, one image at a time, numpy only.
"""

import numpy as np

from train.calibrate import INK_AT, stroke_width  # noqa: F401  (the graph measures widths so)

IMAGE_SIZE, DIGIT_BOX = 28, 20  # MNIST centred each digit's 20x20 box in a 28x28 frame
CORE, SOFT_EDGE = 0.5, 0.1  # the crop: ink above CORE, and fainter ink this near it
DOT_RATIO, DOT_EXTENT = 2.5, 0.1  # a blob < 2.5 stroke widths long and < 10% of the plane
MNIST_STROKE = 2.4  # median stroke width of MNIST test digits, measured as `stroke_width` does
STROKE_RANGE = (0.9, 1.6)  # widths in this range (times MNIST_STROKE) are left as drawn
THIN_POWER, THICK_POWER = 0.0, 0.5  # outside it, width w -> edge * (w / edge) ** power
FINE = 4  # strokes are measured and evened at this multiple of the output size
SAMPLES = 4  # each pixel of a resampled plane averages SAMPLES x SAMPLES bilinear samples
MAX_STEPS = 8  # evening erodes or dilates by at most this many fine pixels
FAINT = 0.02  # after evening, fine ink below this is dropped before the final fit
NORMALISATION = {
    "core": CORE,
    "soft_edge": SOFT_EDGE,
    "dot_ratio": DOT_RATIO,
    "dot_extent": DOT_EXTENT,
    "mnist_stroke": MNIST_STROKE,
    "stroke_range": list(STROKE_RANGE),
    "thin_power": THIN_POWER,
    "thick_power": THICK_POWER,
    "fine": FINE,
    "samples": SAMPLES,
    "max_steps": MAX_STEPS,
    "faint": FAINT,
}


def target_width(width: float) -> float:
    """Widths in MNIST's own range stay; others move toward it, continuously in `width`."""
    low, high = (edge * MNIST_STROKE for edge in STROKE_RANGE)
    if width > high:
        return high * (width / high) ** THICK_POWER
    if 0 < width < low:
        return low * (width / low) ** THIN_POWER
    return width


def warm(width: float, temperature: float, wide_from: float, wide_power: float) -> float:
    """The softmax temperature for a digit whose strokes are `width` px wide on the 28x28."""
    return temperature * max(1.0, width / wide_from) ** wide_power


def bilinear(plane: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Samples at continuous coordinates (pixel i spans [i, i+1)), zero beyond the plane."""
    height, width = plane.shape
    y, x = ys - 0.5, xs - 0.5
    y0, x0 = np.floor(y).astype(np.int64), np.floor(x).astype(np.int64)
    fy, fx = y - y0, x - x0
    padded = np.pad(plane, 1)

    def at(row: np.ndarray, col: np.ndarray) -> np.ndarray:
        inside = (row >= -1) & (row <= height) & (col >= -1) & (col <= width)
        return np.where(
            inside, padded[np.clip(row + 1, 0, height + 1), np.clip(col + 1, 0, width + 1)], 0
        )

    top = at(y0[:, None], x0[None]) * (1 - fx)[None] + at(y0[:, None], x0[None] + 1) * fx[None]
    low = (
        at(y0[:, None] + 1, x0[None]) * (1 - fx)[None]
        + at(y0[:, None] + 1, x0[None] + 1) * fx[None]
    )
    return top * (1 - fy)[:, None] + low * fy[:, None]


def place(plane: np.ndarray, size: int, origin: tuple, scale: float, at: tuple) -> np.ndarray:
    """A size x size plane whose point `at` shows `plane`'s point `origin`, `scale` output px per
    source px: SAMPLES x SAMPLES bilinear samples averaged per output pixel (box-like)."""
    steps = (np.arange(size * SAMPLES) + 0.5) / SAMPLES
    ys = origin[0] + (steps - at[0]) / scale
    xs = origin[1] + (steps - at[1]) / scale
    fine = bilinear(plane, ys, xs)
    return fine.reshape(size, SAMPLES, size, SAMPLES).mean(axis=(1, 3))


def bounds(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right), inclusive, of a mask's true pixels; None if it has none."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return None if rows.size == 0 else (rows[0], rows[-1], cols[0], cols[-1])


def crop_box(ink: np.ndarray) -> tuple[int, int, int, int] | None:
    """The ink's box: the core's, grown by a soft edge, then tightened to what ink is in it."""
    core = bounds(ink > CORE)
    if core is None:
        return None
    top, bottom, left, right = core
    reach = 1 + round(SOFT_EDGE * max(bottom - top, right - left))
    grown = np.zeros(ink.shape, bool)
    grown[max(0, top - reach) : bottom + reach + 1, max(0, left - reach) : right + reach + 1] = True
    return bounds(grown & (ink > 0))


def morph_step(plane: np.ndarray, step: int, op) -> np.ndarray:
    """One grey erosion/dilation by a disc-like element: square on even steps, cross on odd."""
    padded = np.pad(plane, 1)
    views = [
        padded[1 + dy : padded.shape[0] - 1 + dy, 1 + dx : padded.shape[1] - 1 + dx]
        for dy in (-1, 0, 1)
        for dx in (-1, 0, 1)
        if step % 2 == 0 or dy * dx == 0
    ]
    return op.reduce(views)


def even_strokes(fine: np.ndarray) -> np.ndarray:
    """Erode or dilate (fine px, at most MAX_STEPS) so the stroke width moves to `target_width`."""
    width = stroke_width(fine > 0.5) / FINE
    radius = float(np.clip((target_width(width) - width) * FINE / 2, -MAX_STEPS, MAX_STEPS))
    op = np.maximum if radius > 0 else np.minimum
    whole, part = int(abs(radius)), abs(radius) - int(abs(radius))
    moved = fine
    for step in range(whole):
        moved = morph_step(moved, step, op)
    moved = (1 - part) * moved + part * morph_step(moved, whole, op)
    return fine if radius < 0 and moved.max() <= 0.5 else moved


def normalise(ink: np.ndarray) -> np.ndarray | None:
    """(H, W) ink 0..1 -> the (28, 28) float32 0..255 image; None when nothing is there to read
    (no ink over CORE, or only a dot)."""
    ink = np.clip(np.nan_to_num(np.asarray(ink, np.float64)), 0.0, 1.0)
    box = crop_box(ink)
    if box is None:
        return None
    top, bottom, left, right = box
    longer = max(bottom - top, right - left) + 1
    if longer < DOT_EXTENT * max(ink.shape) and longer < DOT_RATIO * stroke_width(ink > CORE):
        return None
    inside = np.zeros(ink.shape)
    inside[top : bottom + 1, left : right + 1] = 1.0
    side, fine_box = FINE * IMAGE_SIZE, FINE * DIGIT_BOX
    scale = fine_box / longer
    at = ((side - (bottom - top + 1) * scale) / 2, (side - (right - left + 1) * scale) / 2)
    fine = place(ink * inside, side, (top, left), scale, at)
    fine = even_strokes(fine / max(fine.max(), 1e-6))
    fine = np.where(fine > FAINT, fine, 0.0)
    top, bottom, left, right = bounds(fine > 0)
    scale = DIGIT_BOX / (max(bottom - top, right - left) + 1)
    mass = fine.sum()
    centre = [(fine.sum(axis=1 - axis) * (np.arange(side) + 0.5)).sum() / mass for axis in (0, 1)]
    at = [
        float(
            np.clip(
                np.round(IMAGE_SIZE / 2 - ((c - edge) * scale - 0.5)), 0, IMAGE_SIZE - n * scale
            )
        )
        for c, edge, n in zip(
            centre, (top, left), (bottom - top + 1, right - left + 1), strict=True
        )
    ]
    digit = np.clip(place(fine, IMAGE_SIZE, (top, left), scale, at), 0.0, None)
    return (digit * (255.0 / max(digit.max(), 1e-6))).astype(np.float32)
