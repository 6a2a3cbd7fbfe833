"""Read a whole number: cut an ink plane into digits, read them together, answer as one.

The reader reads one digit per plane, so a number is first segmented here (numpy only, no
reader inside): ink is cut into 8-connected pieces on a plane of at most WORK_SIDE px; pieces
that overlap horizontally (the two strokes of a 4, a 5's flag, a 7's crossbar) or almost touch
are one digit; specks are dropped; what is left is ordered left to right. A piece far wider
than a digit with no column gap in it is digits that touch: it is reported, not guessed.
`read_number` then reads every digit plane in one batch and answers with the number and the
digits, or for a single digit exactly the single-digit answer.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from demo.filters import components, label_min, max_filter
from demo.pixels import PreprocessError
from demo.reader import NumberReading, Reading

CORE = 0.5  # ink above this (0..1) makes pieces; fainter edges follow the piece they touch
WORK_SIDE = 512  # pieces are found on the ink block-maxed to at most this: bounded work
MAX_INPUT_PIXELS = 25_000_000  # a plane larger than this is refused unread
MAX_PIECES = 200  # more separate marks than this is scribble, text or a pattern, not a number
MAX_DIGITS = 12
MAX_RUNS = 4 * MAX_DIGITS  # ink runs per inked row: a row crosses at most ~4 strokes a digit
OVERLAP = 0.3  # pieces overlapping across this share of the narrower one are one digit
FRAGMENT = 0.5  # a piece shorter than this share of the tallest is part of a digit ...
REACH = 0.15  # ... and joins its nearest neighbour within this share of the tallest's height,
# unless the digit they would make is wider than WIDE
WIDE = 1.5  # a digit wider than this times its height, with no column gap: digits touching
SPECK = 0.15  # a digit smaller than this share of the tallest piece is a speck
MARGIN = 0.1  # each digit's plane: its box and this share of its longer side around it
TOO_MANY = (
    f"There are too many separate marks to read as a number: write at most {MAX_DIGITS} "
    "digits on a plain background."
)


class NumberError(PreprocessError):
    """Ink that cannot be read as a number; the message is one sentence for the user."""


@dataclass(frozen=True)
class Digit:
    """One digit's ink: its own pixels on its own plane, and where it lay in the input."""

    plane: np.ndarray  # float32 (h, w) 0..1: this digit's ink only, its box plus a margin
    box: tuple[int, int, int, int]  # (x, y, w, h) of its ink in the input's pixels
    touching: bool = False  # wider than a digit, no gap to cut at: digits that touch


@dataclass(frozen=True)
class Segmentation:
    digits: list[Digit]

    @property
    def touching(self) -> bool:
        return any(digit.touching for digit in self.digits)


def checked_ink(ink: object) -> np.ndarray:
    """The ink as float32 (H, W) in 0..1, or NumberError with one sentence."""
    if not isinstance(ink, np.ndarray) or ink.dtype.kind not in "biuf":
        raise NumberError("The ink must be a numeric array of height x width.")
    if ink.ndim != 2:
        raise NumberError(f"The ink must be 2-D (height, width), not {ink.ndim}-D.")
    if ink.size > MAX_INPUT_PIXELS:
        raise NumberError(f"The ink is too large: at most {MAX_INPUT_PIXELS:,} pixels.")
    ink = ink.astype(np.float32, copy=False)
    if not np.isfinite(ink).all():
        raise NumberError("The ink holds values that are not numbers (NaN or infinity).")
    if ink.size and (ink.min() < 0.0 or ink.max() > 1.0):
        raise NumberError("The ink must lie between 0 (paper) and 1 (ink).")
    return ink


def segment(ink: object) -> Segmentation:
    """An ink plane (0 paper, 1 ink) -> its digits, left to right; none if it is blank.

    Raises NumberError for input that is no ink plane, or holds too many marks.
    """
    ink = checked_ink(ink)
    if not ink.size or not (ink > CORE).any():
        return Segmentation([])
    core = ink > CORE
    runs = np.count_nonzero(core[:, 1:] & ~core[:, :-1]) + np.count_nonzero(core[:, 0])
    if runs > MAX_RUNS * np.count_nonzero(core.any(axis=1)):  # noise, a grid, a texture
        raise NumberError(TOO_MANY)
    factor = -(-max(ink.shape) // WORK_SIDE)
    cells = _block_max(core, factor)
    labels = components(cells)
    count = int(labels.max()) + 1 if cells.any() else 0
    if count > MAX_PIECES:
        raise NumberError(TOO_MANY)
    ys, xs = np.nonzero(cells)
    own = labels[ys, xs]
    top, left = label_min(own, ys, count), label_min(own, xs, count)
    bottom, right = -label_min(own, -ys, count) + 1, -label_min(own, -xs, count) + 1
    height = float((bottom - top).max())
    groups = _group(left, right, top, bottom, height)
    size = np.array([max(bottom[g].max() - top[g].min(), right[g].max() - left[g].min())
                     for g in groups])  # fmt: skip
    groups = [g for g, s in zip(groups, size, strict=True) if s >= SPECK * height]
    if len(groups) > MAX_DIGITS:
        raise NumberError(TOO_MANY)
    groups.sort(key=lambda g: left[g].min())
    owner = np.full(count, -1)
    for index, pieces in enumerate(groups):
        owner[pieces] = index
    cell_owner = np.where(cells, owner[labels], -1)
    digits = [_digit(ink, cell_owner, index, factor) for index in range(len(groups))]
    return Segmentation([digit for digit in digits if digit is not None])


def _block_max(mask: np.ndarray, factor: int) -> np.ndarray:
    if factor == 1:
        return mask.copy()
    height, width = mask.shape
    padded = np.zeros((-(-height // factor) * factor, -(-width // factor) * factor), bool)
    padded[:height, :width] = mask
    return padded.reshape(padded.shape[0] // factor, factor, -1, factor).any(axis=(1, 3))


def _group(left, right, top, bottom, height: float) -> list[np.ndarray]:
    """Pieces -> digits: join pieces whose column spans overlap, and a fragment (a piece
    shorter than FRAGMENT of the tallest) to its nearest neighbour within REACH, until
    nothing joins; work is bounded by MAX_PIECES squared per pass."""
    groups = [np.array([k]) for k in range(len(left))]
    span = np.stack([left, right, top, bottom], axis=1).astype(float)
    while len(groups) > 1:
        lo, hi, up, down = span.T
        overlap = np.minimum(hi[:, None], hi[None, :]) - np.maximum(lo[:, None], lo[None, :])
        narrow = np.minimum((hi - lo)[:, None], (hi - lo)[None, :])
        tall = np.maximum(down[:, None], down[None, :]) - np.minimum(up[:, None], up[None, :])
        wide = np.maximum(hi[:, None], hi[None, :]) - np.minimum(lo[:, None], lo[None, :])
        np.fill_diagonal(overlap, -np.inf)
        join = overlap >= OVERLAP * narrow
        near = (overlap >= -REACH * height) & (wide <= WIDE * tall)
        near &= overlap == overlap.max(axis=1, keepdims=True)  # the nearest neighbour only
        join |= near & ((down - up) < FRAGMENT * height)[:, None]
        join |= join.T
        if not join.any():
            break
        root = _roots(join)
        merged: dict[int, list[int]] = {}
        for index, r in enumerate(root):
            merged.setdefault(int(r), []).append(index)
        groups = [np.concatenate([groups[i] for i in members]) for members in merged.values()]
        span = np.array([[span[m, 0].min(), span[m, 1].max(), span[m, 2].min(), span[m, 3].max()]
                         for m in merged.values()])  # fmt: skip
    return groups


def _roots(join: np.ndarray) -> np.ndarray:
    """Connected components of a small symmetric graph, as each node's smallest member."""
    root = np.arange(len(join))
    while True:
        linked = np.where(join, root[None, :], len(join)).min(axis=1)
        new = np.minimum(root, linked)
        new = new[new]
        if np.array_equal(new, root):
            return root
        root = new


def _digit(ink: np.ndarray, cell_owner: np.ndarray, index: int, factor: int) -> Digit | None:
    """One group's own pixels (its cells, widened by two cells for soft edges, less other
    digits' cells) on a plane cut to its box plus a margin, and its box in input pixels."""
    mine = cell_owner == index
    rows, cols = np.flatnonzero(mine.any(axis=1)), np.flatnonzero(mine.any(axis=0))
    r0, r1 = max(0, rows[0] - 2), min(mine.shape[0], rows[-1] + 3)
    c0, c1 = max(0, cols[0] - 2), min(mine.shape[1], cols[-1] + 3)
    near = max_filter(mine[r0:r1, c0:c1].astype(np.float32), 5, 0.0) > 0
    allowed = near & ((cell_owner[r0:r1, c0:c1] == index) | (cell_owner[r0:r1, c0:c1] < 0))
    allowed = np.repeat(np.repeat(allowed, factor, axis=0), factor, axis=1)
    y0, x0 = r0 * factor, c0 * factor
    part = ink[y0 : y0 + allowed.shape[0], x0 : x0 + allowed.shape[1]]
    part = part * allowed[: part.shape[0], : part.shape[1]]
    core = part > CORE
    ys, xs = np.flatnonzero(core.any(axis=1)), np.flatnonzero(core.any(axis=0))
    if not ys.size:
        return None
    box = (int(x0 + xs[0]), int(y0 + ys[0]), int(xs[-1] - xs[0] + 1), int(ys[-1] - ys[0] + 1))
    gap = np.flatnonzero(~core[ys[0] : ys[-1] + 1, xs[0] : xs[-1] + 1].any(axis=0))
    touching = box[2] > WIDE * box[3] and not gap.size
    margin = 1 + round(MARGIN * max(box[2], box[3]))
    plane = np.zeros((box[3] + 2 * margin, box[2] + 2 * margin), np.float32)
    ly0, lx0 = max(0, ys[0] - margin), max(0, xs[0] - margin)
    ly1, lx1 = min(part.shape[0], ys[-1] + 1 + margin), min(part.shape[1], xs[-1] + 1 + margin)
    oy, ox = ly0 - (ys[0] - margin), lx0 - (xs[0] - margin)
    plane[oy : oy + ly1 - ly0, ox : ox + lx1 - lx0] = part[ly0:ly1, lx0:lx1]
    return Digit(plane, box, touching)


ReadBatch = Callable[[list[np.ndarray]], Sequence[Reading | None]]


def read_number(read_batch: ReadBatch, ink: object) -> NumberReading:
    """An ink plane -> the number on it; every digit plane goes to `read_batch` at once.

    Touching digits are reported without reading anything. Raises NumberError.
    """
    found = segment(ink)
    touching = [digit.box for digit in found.digits if digit.touching]
    if touching:
        return NumberReading(touching=touching)
    if not found.digits:
        return NumberReading()
    readings = list(read_batch([digit.plane for digit in found.digits]))
    return NumberReading.of(readings, [digit.box for digit in found.digits])
