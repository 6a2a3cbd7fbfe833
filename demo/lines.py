"""Ruled lines and margins: thin straight lines across the page, which are paper, not digit.

Found as rows of a sheared ink mask that are covered end to end; removed except where a
stroke of the digit crosses them (ink just above and just below the line) or lies on them
(clear ink thicker, across the line, than the line itself).
"""

import numpy as np

LINE_COVER = 0.5  # a straight run of ink across this share of the width is a ruled line...
LINE_THICK = 0.015  # ...when no thicker than this share of the height (min 1 px)...
LINE_FAMILY, LINE_ALONE = 3, 0.85  # ...and one of a family, or alone across nearly all of it
LINE_MIN_SIDE = 64  # pictures smaller than this (tiny scans) have no ruled lines to find
LINE_SLOPES = np.tan(np.radians(np.arange(-15, 15.5, 1.0)))  # tilts tried, each way round
PAGE_SPAN = 0.5  # cover is measured over the page, but never over less than this share
ALONG = 1  # clear ink over 1 px thicker than the line, across it, is a stroke on it: kept
SLIVER = 1  # ink under 2 * SLIVER + 1 px thick, over 2 px from thicker ink, is a line's remnant
SOLID = 0.6  # ...cut only where this share of the ink is thicker (else it is a thin pen)
DETECT_SIDE = 128  # lines are found at this size (fewer tilts to try), removed at full size


def ruled_lines(
    mask: np.ndarray, ink: np.ndarray, page: np.ndarray | None = None
) -> tuple[np.ndarray, int]:
    """Which pixels of `mask` (bool: faint ink too, so lines are whole) are ruled lines, near
    horizontal or vertical, and how many lines there are; where `ink` (bool: clear ink)
    crosses a line, the line stays. `page` (bool, if known) is the paper: a line's cover is
    measured across it, so a margin that runs the page's length counts even where a table
    shows around the page."""
    lines, count = np.zeros_like(mask), 0
    if min(mask.shape) < LINE_MIN_SIDE:
        return lines, count
    page = np.ones_like(mask) if page is None else page
    for transpose in (False, True):
        plane, strokes, paper = (mask.T, ink.T, page.T) if transpose else (mask, ink, page)
        found = _find(plane, paper)
        hits = _remove_mask(plane, strokes, found)
        lines |= hits.T if transpose else hits
        count += len(found)
    return lines, count


def _find(plane: np.ndarray, page: np.ndarray) -> list[tuple[float, float, float]]:
    """Lines as (slope, centre row at column 0, half thickness), in `plane`'s pixels."""
    factor = max(1, -(-max(plane.shape) // DETECT_SIDE))
    height, width = (size // factor for size in plane.shape)
    small, paper = (
        part[: height * factor, : width * factor]
        .reshape(height, factor, width, factor)
        .any(axis=(1, 3))  # keep thin lines
        for part in (plane, page)
    )
    thick = max(1, round(LINE_THICK * height))
    cols = np.arange(0, width, 2)  # every other column is enough to see a line's cover
    if small[:, cols].any(axis=0).mean() < LINE_COVER:
        return []  # too few columns hold ink for any line to cover LINE_COVER of them
    shifts = np.round(LINE_SLOPES[:, None] * cols[None, :]).astype(int)
    low = -int(shifts.max())  # sheared row r follows source rows r + shift
    source = np.arange(low, height - shifts.min())[None, :, None] + shifts[:, None, :]
    inside = (source >= 0) & (source < height)
    source = np.clip(source, 0, height - 1)
    inked = (small[source, cols] & inside).sum(axis=2)
    cover = inked / cols.size
    span = np.maximum((paper[source, cols] & inside).sum(axis=2), PAGE_SPAN * cols.size)
    found, family = [], 0
    for slope, row_cover, on_page in zip(LINE_SLOPES, cover, inked / span, strict=True):
        if row_cover.max() < LINE_COVER:
            continue
        bands = _thin_bands(row_cover, thick)
        family = max(family, len(bands))
        for band, peak in bands:
            centre = (band[0] + band[-1]) / 2 + low  # row at column 0, small pixels
            half = (band[-1] - band[0] + 1) / 2
            alone = on_page[band].max() >= LINE_ALONE  # across the page, if not the picture
            row, across = (centre + 0.5) * factor - 0.5, (half + 0.5) * factor
            found.append((slope, peak, alone, row, across))
    kept: list[tuple[float, float, float]] = []
    for slope, _peak, alone, centre, half in sorted(found, key=lambda line: -line[1]):
        if family < LINE_FAMILY and not alone:
            continue
        ends = np.array([0, plane.shape[1] - 1])  # the same line, found at a nearby tilt?
        gaps = [centre - c + (slope - s) * ends for s, c, _ in kept]
        if all(np.abs(gap).min() > 2 * factor and gap[0] * gap[1] > 0 for gap in gaps):
            kept.append((slope, centre, half))
    return kept


def _thin_bands(cover: np.ndarray, thick: int) -> list[tuple[np.ndarray, float]]:
    """Runs of rows covered over LINE_COVER, no thicker than `thick`, standing out from the
    rows beside them (under half their cover); each with its peak cover."""
    flags = cover >= LINE_COVER
    edges = np.flatnonzero(np.diff(np.concatenate([[0], flags.astype(np.int8), [0]])))
    bands = []
    for start, stop in zip(edges[::2], edges[1::2], strict=True):
        peak = float(cover[start:stop].max())
        beside = cover[max(0, start - thick - 1)], cover[min(len(cover) - 1, stop + thick)]
        if stop - start <= thick and max(beside) < 0.5 * peak:
            bands.append((np.arange(start, stop), peak))
    return bands


def _remove_mask(plane: np.ndarray, strokes: np.ndarray, lines: list) -> np.ndarray:
    """Ink pixels on the lines, except columns where a stroke crosses or runs along them (ink
    just beyond either side).

    A line found at the coarse size is re-measured here: only the rows near its centre that
    are inked along most of it are taken, so a crossing stroke loses a line's width, no more.
    """
    hits = np.zeros_like(plane)
    if not lines:
        return hits
    height, width = plane.shape
    cols = np.arange(width)
    runs = _runs(strokes)  # how thick the clear ink is across the (near-horizontal) lines
    thickest = max(1.0, LINE_THICK * height)
    for slope, start, half in lines:
        centre = np.round(start + slope * cols).astype(int)
        reach = int(np.ceil(half)) + 1
        offsets = np.arange(-reach, reach + 1)
        rows = centre[None, :] + offsets[:, None]
        inside = (rows >= 0) & (rows < height)
        inked = plane[np.clip(rows, 0, height - 1), cols] & inside
        cover = inked.mean(axis=1)
        band = offsets[cover >= 0.5 * cover.max()] if cover.max() > 0 else offsets[:0]
        if band.size == 0:
            continue
        low, high = band.min() - 2, band.max() + 2  # and its soft, wobbling edges
        thin = min(thickest, band.max() - band.min() + 1) + ALONG  # this line's own width
        crossed = _near(strokes, centre + low - 2, reach) | _near(strokes, centre + high + 2, reach)
        for offset in range(low, high + 1):
            row = centre + offset
            ok = (row >= 0) & (row < height) & ~crossed
            ok[ok] = runs[row[ok], cols[ok]] <= thin
            hits[row[ok], cols[ok]] |= plane[row[ok], cols[ok]]
    return hits


def _runs(mask: np.ndarray) -> np.ndarray:
    """For each pixel of `mask`, the length of the vertical run of True it lies in (else 0)."""
    down, up = np.zeros(mask.shape, np.int32), np.zeros(mask.shape, np.int32)
    for row in range(mask.shape[0]):
        above = down[row - 1] if row else 0
        down[row] = (above + 1) * mask[row]
        below = up[-row] if row else 0
        up[-row - 1] = (below + 1) * mask[-row - 1]
    return np.where(mask, down + up - 1, 0)


def _near(plane: np.ndarray, rows: np.ndarray, reach: int) -> np.ndarray:
    """Per column x: is there ink in row rows[x] within `reach` columns of x?"""
    height, width = plane.shape
    ok = (rows >= 0) & (rows < height)
    ink = plane[np.clip(rows, 0, height - 1), np.arange(width)] & ok
    padded = np.concatenate([np.zeros(reach, bool), ink, np.zeros(reach, bool)])
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * reach + 1)
    return windows.any(axis=1)


def slivers(mask: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Which pixels of `mask` are thin ink hanging off the digit's thicker strokes: what is
    left of a ruled line the finder missed or could not take whole, which would stretch the
    crop. None are, where most of the ink (by `weights`) is that thin: a thin pen's digit."""
    if min(mask.shape) < LINE_MIN_SIDE:
        return np.zeros_like(mask)
    solid = _spread(~_spread(~mask, SLIVER, True), SLIVER, True)  # opening: strokes, not lines
    if weights[solid].sum() < SOLID * weights[mask].sum():
        return np.zeros_like(mask)
    return mask & ~_spread(solid, SLIVER + 1)


def _spread(mask: np.ndarray, radius: int, cross: bool = False) -> np.ndarray:
    """Dilation of a bool mask by a (2 radius + 1) square, or a cross (a slanted stroke holds
    crosses where it holds no squares); nothing beyond the edges."""
    padded = np.pad(mask, radius)
    height, width = mask.shape
    out = np.zeros_like(mask)
    for dy in range(2 * radius + 1):
        for dx in range(2 * radius + 1):
            if not cross or dy == radius or dx == radius:
                out |= padded[dy : dy + height, dx : dx + width]
    return out
