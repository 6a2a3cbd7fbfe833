"""Uploads and photos -> the ink plane the reader graph takes (0 paper to 1 ink).

A photo or scan needs cleaning a drawing does not: demo.pixels decodes it (any format, EXIF
turned, at most WORK_SIDE px), demo.page takes away a table or deep shadow around the page,
demo.ink finds the ink against uneven paper and keeps only the digit (demo.lines drops ruled
lines). What is left goes to demo.reader like a canvas' plane; cropping, fitting and centring
happen in the graph. A canvas drawing never comes through here.
"""

import numpy as np

from demo.ink import contrast, has_edges, keep_digit, soft_ink
from demo.page import above_noise, drop_table
from demo.pixels import read_planes
from demo.reader import MAX_COVERAGE, MOSTLY_INK, PreprocessError

_EDITOR_KEYS = ("background", "layers", "composite")

__all__ = ["PreprocessError", "photo_ink", "photo_inks"]


KEEPS = ("digit", "all")


def photo_ink(image: object, keep: str = "digit") -> np.ndarray | None:
    """The digit's ink, float32 (H, W) <= WORK_SIDE, 0 paper to 1 ink; None if there is none.

    Takes a path, bytes, an array, a PIL image or a sketchpad value; raises PreprocessError
    for what cannot be read (in one sentence). keep="digit" keeps the heaviest digit and what
    lies near it (one digit's read); keep="all" keeps every digit-sized piece wherever it lies
    (a number, for demo.numbers to cut into digits).
    """
    if keep not in KEEPS:
        raise ValueError(f"keep must be one of {KEEPS}, not {keep!r}")
    cleaned = _cleaned(image)
    if cleaned is None:
        return None
    ink, raw, on_paper, page = cleaned
    return keep_digit(ink, raw, lines=on_paper, page=page, every=keep == "all")


def photo_inks(image: object) -> tuple[np.ndarray | None, np.ndarray | None] | None:
    """(photo_ink(image), photo_ink(image, keep="all")) with the picture cleaned once; None if
    it holds no ink at all."""
    cleaned = _cleaned(image)
    if cleaned is None:
        return None
    ink, raw, on_paper, page = cleaned
    digit = keep_digit(ink, raw, lines=on_paper, page=page)
    every = keep_digit(ink, raw, lines=on_paper, page=page, every=True)
    return digit, every


def _cleaned(image: object) -> tuple[np.ndarray, np.ndarray, bool, np.ndarray | None] | None:
    """The soft ink, the raw contrast, whether it is paper, and the page mask; None if blank."""
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
    if not has_edges(raw):
        return None
    return ink, raw, on_paper, page


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
