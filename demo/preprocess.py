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
   stroke: measured by `python -m demo.evaluate_preprocessing`, halfway reads 2-3x-thick
   drawings best (95.9% against 90.5% unadjusted; all the way measured worse than none).

Decisions: no ink, an all-transparent or uniform image, and a dot (a blob under DOT_RATIO
stroke widths long and DOT_EXTENT of the canvas) give None, the "nothing to read" state; a
canvas mostly covered in ink, NaN/inf pixels, unsupported dtypes (bool, ints other than
uint8/uint16, float16, complex), 0-pixel images and unreadable files raise PreprocessError.
Float pixels are 0..1, or 0..255 when any value exceeds 1. Numpy + Pillow only (no torch).
"""

import io
import math
import os
import warnings

import numpy as np
from PIL import Image

MAX_PIXELS = 12_000 * 12_000  # decoded images beyond this are refused (decompression bombs)
MAX_FILE_BYTES = 256 * 2**20
WORK_SIDE = 1024  # inputs are area-averaged to at most this before any analysis
SCAN_SIDE = 256  # ink peak, specks and blobs are judged at this coarser size
MIN_CONTRAST = 0.08  # a peak ink contrast below this (0..1) is blank paper or noise
SPECK_FRACTION = 0.05  # connected blobs lighter than this share of the heaviest are specks
MAX_COVERAGE = 0.5  # more ink than this share of the canvas is not a digit on paper
DOT_RATIO, DOT_EXTENT = 2.5, 0.1  # a blob < 2.5 stroke widths long and < 10% of the canvas
MNIST_STROKE = 2.4  # median stroke width of MNIST test digits, measured as `stroke_width` does
THIN_ABOVE, THICKEN_BELOW = 2.0, 0.45  # adjust strokes beyond MNIST's own range (5-95%: 0.6-1.6x)
THIN_FRACTION = 0.5  # remove half the excess: thin parts of a varying stroke survive
SUPERSAMPLE = 4  # strokes are measured and adjusted at this multiple of the output size
_FULL_SCALE = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_EDITOR_KEYS = ("background", "layers", "composite")


class PreprocessError(ValueError):
    """Unreadable or unusable input; the message is one sentence meant for the user."""


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
    if isinstance(image, (str, os.PathLike, bytes, bytearray, memoryview)):
        image = _decode(image)
    if isinstance(image, Image.Image):
        luma, alpha = _planes(_pil_array(image))
    elif isinstance(image, np.ndarray):
        luma, alpha = _planes(image)
    else:
        raise PreprocessError(f"Cannot read a {type(image).__name__} as an image.")
    return _contrast(luma, alpha, paper)


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


def _decode(source: str | os.PathLike | bytes | bytearray | memoryview) -> Image.Image:
    """Open a path or encoded bytes with Pillow, refusing bombs before decoding pixels."""
    try:
        if isinstance(source, (bytes, bytearray, memoryview)):
            data = bytes(source)
        else:
            if os.path.getsize(source) > MAX_FILE_BYTES:
                raise PreprocessError("The image file is larger than 256 MiB.")
            with open(source, "rb") as handle:
                data = handle.read()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # bomb warnings and broken-file chatter
            image = Image.open(io.BytesIO(data))
            if image.width * image.height > MAX_PIXELS:
                raise PreprocessError(
                    f"The image is {image.width}x{image.height} pixels, more than this demo "
                    "decodes (a decompression-bomb guard); send a smaller picture."
                )
            image.draft(image.mode, (WORK_SIDE, WORK_SIDE))  # JPEG decodes at a reduced scale
            image.load()
        return image
    except PreprocessError:
        raise
    except Image.DecompressionBombError:
        raise PreprocessError("The image has too many pixels to decode safely.") from None
    except OSError as error:
        if isinstance(error, FileNotFoundError | IsADirectoryError):
            raise PreprocessError(f"No image file at {os.fspath(source)!r}.") from None
        raise PreprocessError("The file is not an image this demo can read.") from None
    except Exception:  # Pillow's decoders raise many types on hostile bytes
        raise PreprocessError("The file is not an image this demo can read.") from None


def _pil_array(image: Image.Image) -> np.ndarray:
    """Pillow image -> uint8/uint16/float32 array with 1..4 channels, reduced to <= WORK_SIDE."""
    if image.width * image.height > MAX_PIXELS:
        raise PreprocessError("The image has too many pixels to process safely.")
    try:
        if image.mode.startswith("I"):  # 16-bit greyscale PNG and friends
            image = image.convert("I")
        elif image.mode not in ("L", "LA", "RGB", "RGBA", "F"):
            alpha = "A" in image.getbands() or "transparency" in image.info
            image = image.convert("RGBA" if alpha else "L" if image.mode == "1" else "RGB")
        factor = math.ceil(max(image.size) / WORK_SIDE)
        if factor > 1:
            image = image.reduce(factor)
        pixels = np.asarray(image)
    except Exception:  # an exotic mode Pillow cannot convert, or a lazily opened broken file
        raise PreprocessError(f"Cannot read a Pillow image in mode {image.mode}.") from None
    if image.mode != "I":
        return pixels
    pixels = pixels.astype(np.float32)
    peak = 65535.0 if pixels.size and pixels.max() > 255 else 255.0
    return np.clip(pixels / peak, 0.0, 1.0)


def _planes(array: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Validate an array image and return its luma and alpha (or None), float32 in 0..1."""
    if array.dtype not in _FULL_SCALE and array.dtype not in _FLOATS:
        raise PreprocessError(
            f"Unsupported pixel type {array.dtype}; send uint8, uint16 or float32/64 pixels."
        )
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or not 1 <= array.shape[2] <= 4:
        raise PreprocessError(f"Expected an HxW image with 1 to 4 channels, got {array.shape}.")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise PreprocessError("The image has no pixels.")
    pixels = _shrink(array)
    if not np.isfinite(pixels).all():
        raise PreprocessError("The image contains NaN or infinite pixel values.")
    if array.dtype in _FULL_SCALE:
        pixels /= _FULL_SCALE[array.dtype]
    elif pixels.min() < 0 or pixels.max() > 255:
        raise PreprocessError("Float pixel values must lie in 0..1 or 0..255.")
    elif pixels.max() > 1:
        pixels /= 255.0
    channels = pixels.shape[2]
    if channels <= 2:
        luma = pixels[:, :, 0]
    else:
        luma = pixels[:, :, :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return luma, (pixels[:, :, -1] if channels in (2, 4) else None)


def _shrink(array: np.ndarray, side: int = WORK_SIDE) -> np.ndarray:
    """Area-average (H, W, C) to at most `side` px, chunk by chunk so huge inputs stay cheap."""
    height, width, _ = array.shape
    factor = math.ceil(max(height, width) / side)
    fy, fx = min(factor, height), min(factor, width)
    if fy == fx == 1:
        return array.astype(np.float32)
    rows, cols = height // fy, width // fx
    step = max(1, 2**22 // (fy * array[0].size))
    return np.concatenate(
        [
            _block_mean(array[start * fy : min(start + step, rows) * fy, : cols * fx], fy, fx)
            for start in range(0, rows, step)
        ]
    )


def _block_mean(array: np.ndarray, fy: int, fx: int) -> np.ndarray:
    """Mean over fy x fx blocks of (H, W, ...) with H, W multiples of them; rows first (fast)."""
    height, width = array.shape[:2]
    rest = array.shape[2:]
    summed = array.reshape(height // fy, fy, width, *rest).sum(axis=1, dtype=np.float32)
    summed = summed.reshape(height // fy, width // fx, fx, *rest).sum(axis=2)
    return summed / np.float32(fy * fx)


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
    return _block_mean(np.pad(plane, pad), factor, factor), factor


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
