"""Make a drawing, photo or scan look like an MNIST digit, because that is all the model knows.

demo.ink finds the digit's ink (demo.page first takes away a table or deep shadow around a
photographed page, demo.lines the ruled lines); this crops it, scales the longer side to
`digit_box`, brings strokes toward MNIST's width and puts the centre of mass at the centre, as
MNIST's authors did.
"""

import numpy as np
from PIL import Image

from demo.ink import contrast, has_edges, keep_digit, soft_ink
from demo.page import above_noise, drop_table
from demo.pixels import PreprocessError, read_planes
from demo.width import stroke_width

MAX_COVERAGE = 0.9  # ink over this share of the picture leaves no paper to read a digit on
CORE, SOFT_EDGE = 0.5, 0.1  # the crop: ink above CORE (0..1), and fainter ink this near it
DOT_RATIO, DOT_EXTENT = 2.5, 0.1  # a blob < 2.5 stroke widths long and < 10% of the canvas
MNIST_STROKE = 2.4  # median stroke width of MNIST test digits, measured as `stroke_width` does
# widths from just under MNIST's median to its 95th percentile (times MNIST_STROKE) are left
# as drawn; thinner strokes are brought up to that edge (taken only to MNIST's thinnest, 0.6,
# thin pens read 765 of 800 training digits, 770 at 0.9: the old preprocessing's 771), fatter
# ones move halfway toward it
STROKE_RANGE = (0.9, 1.6)
THIN_POWER, THICK_POWER = 0.0, 0.5  # outside it, width w -> edge * (w / edge) ** power
SUPERSAMPLE = 4  # strokes are measured and adjusted at this multiple of the output size
_EDITOR_KEYS = ("background", "layers", "composite")
MOSTLY_INK = "The image is mostly ink; draw one digit on a plain background."

__all__ = ["PreprocessError", "find_ink", "stroke_width", "to_mnist"]


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
    """The digit's ink, float32 (H, W) <= WORK_SIDE, 0 paper to 1 ink; None if there is none."""
    found = _raw_ink(image)
    if found is None:
        return None
    raw, on_paper = found
    raw, page = drop_table(raw) if on_paper else (raw, None)
    raw = above_noise(raw) if on_paper else raw  # after the table: its cut sees its grain
    ink = soft_ink(raw)
    if ink is None:
        return None
    if ink.mean() > MAX_COVERAGE:
        raise PreprocessError(MOSTLY_INK)
    return keep_digit(ink, raw, lines=on_paper, page=page) if has_edges(raw) else None


def _raw_ink(image: object, on_white: bool = False) -> tuple[np.ndarray, bool] | None:
    """(ink contrast 0..1, whether it may be a photo of paper with lines and a table)."""
    if image is None:
        return None
    if isinstance(image, dict):
        return _editor_ink(image)
    luma, alpha = read_planes(image)
    if alpha is not None:
        border = np.concatenate([alpha[0], alpha[-1], alpha[:, 0], alpha[:, -1]])
        if np.median(border) < 0.5:
            return alpha, False  # a transparent layer: the ink is its alpha
        luma = luma * alpha + (1.0 - alpha)  # flatten on white, as Gradio does
    if on_white:  # a sketchpad composite: the paper is exactly white
        return np.clip(1.0 - luma, 0.0, 1.0).astype(np.float32), False
    return contrast(luma), True


def _editor_ink(value: dict) -> tuple[np.ndarray, bool] | None:
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
        return _raw_ink(composite, on_white=True)
    inks = [found[0] for found in (_raw_ink(layer) for layer in layers) if found is not None]
    if inks:
        if len({ink.shape for ink in inks}) > 1:
            raise PreprocessError("The sketchpad layers differ in size.")
        return np.maximum.reduce(inks), False
    return _raw_ink(background)


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


def _morph_step(plane: np.ndarray, step: int, op) -> np.ndarray:
    """One step of grey erosion/dilation by a disc-like (alternating square, cross) element."""
    padded = np.pad(plane, 1)
    views = [
        padded[1 + dy : padded.shape[0] - 1 + dy, 1 + dx : padded.shape[1] - 1 + dx]
        for dy in (-1, 0, 1)
        for dx in (-1, 0, 1)
        if step % 2 == 0 or dy * dx == 0
    ]
    return op.reduce(views)


def _morph(plane: np.ndarray, radius: float, op) -> np.ndarray:
    """Grey erosion/dilation by a fractional radius: the two nearest whole radii blended."""
    whole = int(radius)
    for step in range(whole):
        plane = _morph_step(plane, step, op)
    part = radius - whole
    return plane if part <= 0 else (1 - part) * plane + part * _morph_step(plane, whole, op)


def target_width(width: float) -> float:
    """Widths in MNIST's own range stay; others move toward it, continuously in `width`."""
    low, high = (edge * MNIST_STROKE for edge in STROKE_RANGE)
    if width > high:
        return high * (width / high) ** THICK_POWER
    if 0 < width < low:
        return low * (width / low) ** THIN_POWER
    return width


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
