"""Find the digit's ink in a photo or scan: uneven light, tinted paper, ruled lines, table edges.

Paper is estimated per region (ink is thin, paper is broad), ink is contrast against it, and
only the digit is kept: ruled lines, the table around the page and far-off specks are dropped.
"""

import math

import numpy as np
from PIL import Image

from demo.filters import block_mean, box_mean, components, label_min, max_filter, min_filter
from demo.lines import LINE_FAMILY, LINE_MIN_SIDE, ruled_lines, slivers

PAPER_SIDE = 96  # paper (the light falling on it) is estimated at this coarse size
PAPER_WINDOW = 0.3  # closing window: share of the shorter side (a small picture: the longer)
SHADOW_FLOOR = 0.45  # paper is never darker than this share of the lit paper: ink is
SCAN_SIDE = 256  # lines, specks and pieces are judged at this size
FLAT, TAIL = 0.15, 0.2  # ink is light only if nothing is FLAT darker than the paper (TAIL %)
STROKE_SHARE = 0.5  # light ink: at least this share of the light above the paper is strokes
FRAMED_SIDE = 128  # a picture this large (px, shorter side) with a dark rim is a framed page
MIN_CONTRAST = 0.1  # peak ink contrast (0..1, relative to the paper) below this is blank
LOW, HIGH = 0.25, 0.75  # soft ink cut, as shares of the peak contrast
FAINT = 0.1  # ruled lines are looked for in contrast over this share of the peak
BAND = 0.15  # ink touching an edge and lying mostly this close to it is table or frame
THIN_LINE = 0.03  # a piece thinner than this share of the picture, across it, is an edge
EDGE_LONG = 0.75  # an edge piece this long is table, not a part of a digit touching the edge
FRAME = 0.7  # a piece this wide and tall with ink inside it is a frame
INNER_DIGIT = 0.1  # ... if that ink spans this share of it: a speck in a 0's loop is no digit
SPECK_FRACTION = 0.1  # pieces lighter than this share of the digit's main piece are specks
NEAR = 0.35  # pieces within this share of the main piece's size belong to the same digit


def contrast(luma: np.ndarray, dark_ink: bool | None = None) -> np.ndarray:
    """Ink contrast 0..1 against the local paper, (H, W) float32; polarity found if None."""
    if min(luma.shape) < 2:
        return _contrast_flat(luma)
    factor = math.ceil(max(luma.shape) / PAPER_SIDE)
    small = block_mean(luma, factor)
    framed = min(luma.shape) >= FRAMED_SIDE
    # a small picture is a crop or a scan, not a page in changing light: its strokes may be
    # a third of its narrow side (a tight 1), so the paper is judged across its long side
    window = max(3, round(PAPER_WINDOW * (min if framed else max)(small.shape)) | 1)
    if dark_ink is None:
        dark_ink = _ink_is_dark(small, window, framed)
    if not dark_ink:
        luma, small = 1.0 - luma, 1.0 - small
    # closing: dark things narrower than the window go; the extra 2 px keep a hard shadow
    # edge's blend (after upsampling) on the lit side, where it cannot pass for ink
    paper = min_filter(max_filter(small, window), window + 2)
    # a stroke along an edge is half as wide to the window: there, if paper beyond the edge
    # shows it far darker than any shadow (a tight crop's stroke), it is ink
    edged = min_filter(max_filter(small, window, np.inf), window + 2, np.inf)
    edged = np.where(np.isfinite(edged), edged, paper)  # a picture smaller than the window
    paper = np.where(paper < SHADOW_FLOOR * edged, edged, paper)
    lit = float(np.percentile(paper, 90))
    paper = np.maximum(paper, SHADOW_FLOOR * lit)
    if factor > 1 or paper.shape != luma.shape:
        paper = np.asarray(
            Image.fromarray(paper.astype(np.float32)).resize(
                luma.shape[::-1], Image.Resampling.BILINEAR
            )
        )
    return np.clip((paper - luma) / np.maximum(paper, 1e-3), 0.0, 1.0).astype(np.float32)


def _contrast_flat(luma: np.ndarray) -> np.ndarray:
    """A line of pixels: against its median, on whichever side holds more contrast."""
    level = float(np.median(luma))
    dark, light = np.clip(level - luma, 0, None), np.clip(luma - level, 0, None)
    return (dark if dark.sum() >= light.sum() else light).astype(np.float32)


def _ink_is_dark(small: np.ndarray, window: int, large: bool = False) -> bool:
    """Dark ink unless nothing is clearly darker than the paper and something is clearly
    lighter: photos and scans are dark on light, MNIST is not. Paper is the border's tone;
    where the picture's median tone is lighter than that, a large picture is a page framed
    by a darker table (a shadow across it must not turn the page into ink), and in a small
    one (a light digit filling a dark scan) the thinner of the two tones is the ink."""
    border = float(np.median(np.concatenate([small[0], small[-1], small[:, 0], small[:, -1]])))
    middle = float(np.median(small))
    darkest, lightest = np.percentile(small, [TAIL, 100 - TAIL])
    if middle - border > FLAT:
        if large:
            return True
        dark = min_filter(max_filter(small, window), window) - small
        light = small - max_filter(min_filter(small, window), window)
        return float(dark.sum()) >= float(light.sum())
    if border - darkest >= FLAT or lightest - border < FLAT:
        return True
    if not large:
        return False
    # in a photo, light ink is strokes: most of what is lighter than the paper is narrower
    # than the window (an opening takes it away), unlike the lit part of a page in shadow
    lighter = np.clip(small - border, 0.0, None)
    strokes = np.minimum(lighter, small - max_filter(min_filter(small, window), window))
    return float(strokes.sum()) < STROKE_SHARE * float(lighter.sum())


def soft_ink(raw: np.ndarray) -> np.ndarray | None:
    """Contrast -> ink 0..1 with faint noise cut relative to the ink's peak; None if blank."""
    coarse, _ = coarsen(raw)
    peak = _peak(coarse)
    if peak < MIN_CONTRAST:
        return None
    return np.clip((raw - LOW * peak) / ((HIGH - LOW) * peak), 0.0, 1.0)


def has_edges(raw: np.ndarray) -> bool:
    """Whether any ink has an edge: uneven light leaves only a smooth residue of contrast."""
    coarse, _ = coarsen(raw)
    return float((coarse - box_mean(coarse, 5)).max()) >= MIN_CONTRAST / 2


def _peak(coarse: np.ndarray) -> float:
    """The ink's peak contrast, away from a table or frame along the edges if any is there."""
    height, width = coarse.shape
    rows, cols = int(BAND * height), int(BAND * width)
    inside = coarse[rows : height - rows, cols : width - cols]
    peak = float(inside.max()) if inside.size else 0.0
    return peak if peak >= MIN_CONTRAST else float(coarse.max())


def keep_digit(
    ink: np.ndarray,
    raw: np.ndarray,
    lines: bool = True,
    page: np.ndarray | None = None,
    every: bool = False,
) -> np.ndarray | None:
    """The digit's ink alone: ruled lines (if `lines`; found in the raw contrast, where faint
    lines are whole), the table or frame along the edges and far-off specks removed.

    With `every`, every digit-sized piece is kept wherever it lies (a number's digits), not
    only the heaviest digit and what is near it; table, frame, lines and specks still go."""
    coarse, factor = coarsen(ink)
    mask = coarse > 0
    ruled = False  # whether the paper is ruled: then thin remnants of its lines are cut too
    if lines:
        faint, _ = coarsen(raw)
        lined, count = ruled_lines(faint > FAINT * _peak(faint), coarse > 0.5, page)
        unlined = mask & ~lined
        if coarse[unlined].sum() > SPECK_FRACTION * coarse[mask].sum():
            mask, ruled = unlined, bool((mask & lined).any())
        elif count >= LINE_FAMILY:
            return None  # ruled paper and (next to) nothing else: a blank page
    if not mask.any():
        return None
    labels = components(mask)
    labels, weights = labels[mask], coarse[mask]
    keep = _digit_pieces(mask.shape, labels, np.nonzero(mask), weights, every)
    if keep is None:
        return None
    kept = np.zeros(coarse.shape, np.float32)
    kept[mask] = keep[labels]
    if ruled:
        kept[slivers(kept > 0, coarse)] = 0.0
    kept = np.repeat(np.repeat(kept, factor, axis=0), factor, axis=1)
    return ink * kept[: ink.shape[0], : ink.shape[1]]


def _digit_pieces(shape, labels, where, weights, every: bool = False) -> np.ndarray | None:
    """Which pieces are the digit: the heaviest, discounted for lying along the edges, then
    every piece within reach of those kept that is no speck and no edge band (with `every`:
    every such piece, near or far)."""
    ys, xs = where
    count = int(labels.max()) + 1
    mass = np.bincount(labels, weights=weights, minlength=count)
    top, left = label_min(labels, ys, count), label_min(labels, xs, count)
    bottom, right = -label_min(labels, -ys, count), -label_min(labels, -xs, count)
    height, width = shape
    touches = (top == 0) | (left == 0) | (bottom == height - 1) | (right == width - 1)
    band_y, band_x = max(1, BAND * height), max(1, BAND * width)
    in_band = (ys < band_y) | (ys >= height - band_y) | (xs < band_x) | (xs >= width - band_x)
    banded = np.bincount(labels[in_band], weights=weights[in_band], minlength=count) / mass
    edge = np.where(touches, banded, 0.0)  # share of a piece lying along an edge it touches
    tall, wide = bottom - top + 1, right - left + 1
    thin = mass / np.maximum(tall, wide) < THIN_LINE * min(shape)
    across = ((top == 0) & (bottom == height - 1)) | ((left == 0) & (right == width - 1))
    edge = np.where(across & thin, 1.0, edge)  # shadow edges, folds, the page's edge
    sides = (top == 0) * 1 + (left == 0) + (bottom == height - 1) + (right == width - 1)
    line = (sides >= 2) & (_spread_across(labels, ys, xs, count) < THIN_LINE * min(shape))
    line &= min(shape) >= LINE_MIN_SIDE  # not in a small scan or crop: its digit may be a bar
    main = int((mass * np.maximum(1 - edge, 0.1) ** 2).argmax())
    inner = ~touches & (top > top[main]) & (bottom < bottom[main])
    inner &= (left > left[main]) & (right < right[main])
    rim = np.count_nonzero((ys == 0) | (ys == height - 1) | (xs == 0) | (xs == width - 1))
    framed = rim > 0.5 * (2 * height + 2 * width - 4)  # ink all round: the page on a table
    if not framed:  # a big piece round a speck is a 0 or an 8 filling a tight crop, no frame
        inner &= np.maximum(tall, wide) >= INNER_DIGIT * max(tall[main], wide[main])
    if (framed or tall[main] >= FRAME * height and wide[main] >= FRAME * width) and inner.any():
        edge[touches] = 1.0  # a frame (the table around the page) with a digit inside it
        main = int(np.where(inner, mass, 0.0).argmax())
    if line[main]:
        return None  # nothing but such lines: no digit
    keep = np.zeros(count, bool)
    keep[main] = True
    long = (tall >= EDGE_LONG * height) | (wide >= EDGE_LONG * width)
    ok = ~((edge > 0.6) & long) & (mass >= SPECK_FRACTION * mass[main])  # not table, no speck
    if every:
        return keep | (ok & ~line)
    box = np.array([top[main], left[main], bottom[main], right[main]], float)
    while True:  # grow: a piece near the kept ones may bring another into reach
        reach = NEAR * max(box[2] - box[0], box[3] - box[1]) + 1
        near = (top <= box[2] + reach) & (bottom >= box[0] - reach)
        near &= (left <= box[3] + reach) & (right >= box[1] - reach)
        add = near & ok & ~keep
        if not add.any():
            return keep
        keep |= add
        box = np.array([top[keep].min(), left[keep].min(), bottom[keep].max(), right[keep].max()])


def _spread_across(labels, ys, xs, count) -> np.ndarray:
    """Each piece's spread (standard deviation, px) across its own long axis: a straight
    line's is about a third of its thickness, whatever its tilt; a digit's is far more."""
    n = np.maximum(np.bincount(labels, minlength=count), 1)
    y, x, yy, xx, xy = (
        np.bincount(labels, weights=w, minlength=count) / n
        for w in (ys, xs, ys * ys, xs * xs, ys * xs)
    )
    vy, vx, cxy = yy - y * y, xx - x * x, xy - y * x
    minor = (vy + vx) / 2 - np.sqrt(((vy - vx) / 2) ** 2 + cxy**2)
    return np.sqrt(np.maximum(minor, 0.0))


def coarsen(plane: np.ndarray) -> tuple[np.ndarray, int]:
    """Block-mean to <= SCAN_SIDE, padding with paper so every pixel lands in a block."""
    factor = math.ceil(max(plane.shape) / SCAN_SIDE)
    return block_mean(plane, factor), factor
