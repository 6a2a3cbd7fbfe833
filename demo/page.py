"""The page in a photo: what lies around it (a table, a desk, the dark beyond a scanner's lid)
is not ink, even though it is darker than the paper and touches the digit through ruled lines;
nor is a deep shadow along the picture's edge (broader than any pen, fainter than the ink).

Found before any ink is cut, so that neither the cut (relative to the ink's peak) nor the
choice of the digit's pieces is made on the table: broad contrast along the picture's edges,
with ruled lines cut off it (an opening wider than a line), framing ink left inside the page.
Then the paper's own noise (grain, JPEG, a shadow's texture) is taken off the contrast, so a
blank page leaves no ink to read.
"""

import math

import numpy as np

from demo.filters import components, max_filter, min_filter
from demo.ink import BAND, FRAMED_SIDE, coarsen

INK_FLOOR = 0.1  # contrast (0..1) that is surely not paper noise, even for faint pencil
TABLE_CUT = 0.25  # share of the peak contrast that counts as table (a table is never faint)
LINE_GAP = 5  # opening window (coarse px): cuts ruled lines off the table, keeps broad areas
RIM = 0.5  # a piece covering this share of the picture's rim frames the page...
EDGE_SHARE, EDGE_LONG = 0.8, 0.75  # ...as does one lying along an edge and most of it long,
WIDE, SOLID = 0.08, 0.5  # or one mostly wider than this share of the side (a pen's stroke
SHADE = 0.65  # is not, unless in a tight crop) and fainter than this share of the peak: a shadow
INSIDE = 0.002  # and some ink (this share of the picture) must remain inside the page
BLANK_PAGE = 0.5  # an empty page this large (share) inside a table is blank paper, no digit
RIM_OFF = 0.05  # ink inside may reach the rim here and there (ruled lines), not along it
MIN_SIDE = 64  # a picture smaller than this (coarse px) is a scan or crop: no table to find
NOISE_BLOCK, NOISE_SIGMAS = 16, 3.0  # ink stands 3 sigmas above the paper's noise (per block)


def drop_table(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """`raw` contrast with the table or frame around the page set to paper (0), if there is
    one with ink inside it, and the page (bool, at `coarsen`'s size); otherwise `raw`
    unchanged and None (a tight crop's digit touching the edges is no table: nothing is left
    inside it)."""
    coarse, factor = coarsen(raw)
    peak = float(coarse.max())
    if peak < INK_FLOOR or min(coarse.shape) < MIN_SIDE:
        return raw, None
    mask = coarse > TABLE_CUT * peak
    if not (mask[[0, -1]].any() or mask[:, [0, -1]].any()):
        return raw, None  # nothing reaches the rim: no table in view
    broad = max_filter(min_filter(mask.astype(np.float32), LINE_GAP, 1.0), LINE_GAP, 0.0) > 0
    if not broad.any():
        return raw, None
    side = max(3, round(WIDE * min(broad.shape)) | 1)
    wide = max_filter(min_filter(mask.astype(np.float32), side, 1.0), side, 0.0) > 0
    labels = components(broad)
    table = np.zeros(int(labels.max()) + 1, bool)
    height, width = broad.shape
    rim = np.zeros_like(broad)
    rim[[0, -1], :] = rim[:, [0, -1]] = True
    band = np.zeros_like(broad)
    rows, cols = max(1, int(BAND * height)), max(1, int(BAND * width))
    band[:rows], band[-rows:], band[:, :cols], band[:, -cols:] = True, True, True, True
    for label in np.unique(labels[broad & rim]):
        piece = broad & (labels == label)
        ys, xs = np.nonzero(piece)
        long = np.ptp(ys) + 1 >= EDGE_LONG * height or np.ptp(xs) + 1 >= EDGE_LONG * width
        covers = np.count_nonzero(piece & rim) / np.count_nonzero(rim)
        along = np.count_nonzero(piece & band) / ys.size
        solid = np.count_nonzero(piece & wide) >= SOLID * ys.size
        shade = solid and float(coarse[piece].mean()) < SHADE * peak  # no stroke: a shadow
        table[label] = covers >= RIM or (long and along >= EDGE_SHARE) or shade
    found = table[labels] & broad
    if not found.any():
        return raw, None
    around = max_filter(found.astype(np.float32), 2 * LINE_GAP + 1, 0.0) > 0
    inside = (coarse > INK_FLOOR) & ~around  # faint pencil too: not cut by the table's peak
    off = np.count_nonzero(mask & ~around & rim) / np.count_nonzero(rim)
    if np.count_nonzero(inside) < INSIDE * mask.size and np.mean(~around) >= BLANK_PAGE:
        return np.zeros_like(raw), ~around  # a blank page on a table: the empty state
    if np.count_nonzero(inside) < INSIDE * mask.size or off > RIM_OFF:
        return raw, None  # nothing inside, or ink running off: a digit touching the edges
    keep = np.repeat(np.repeat(~around, factor, axis=0), factor, axis=1)
    return raw * keep[: raw.shape[0], : raw.shape[1]], ~around


def above_noise(raw: np.ndarray) -> np.ndarray:
    """Contrast less NOISE_SIGMAS times the paper's own noise there, float32: grain, JPEG
    noise and a shadow's texture are no ink. The noise is measured per NOISE_BLOCK px block
    from neighbouring pixels' differences (their median, so strokes barely count), and the
    quietest block around each one is taken: ink crowding a block does not raise it."""
    raw = raw.astype(np.float32)
    if min(raw.shape) < FRAMED_SIDE:  # a scan or crop: judged by its peak alone
        return raw
    steps = np.abs(np.diff(raw, axis=1))
    rows, cols = (size // NOISE_BLOCK * NOISE_BLOCK for size in steps.shape)
    steps = steps[:rows, :cols].reshape(rows // NOISE_BLOCK, NOISE_BLOCK, -1, NOISE_BLOCK)
    sigma = np.median(steps.transpose(0, 2, 1, 3).reshape(*steps.shape[::2], -1), axis=2)
    sigma = min_filter(sigma / (0.6745 * math.sqrt(2)), 3)  # median |N(0, 2 s^2)| -> s
    sigma = np.pad(np.repeat(np.repeat(sigma, NOISE_BLOCK, 0), NOISE_BLOCK, 1),
                   [(0, raw.shape[0] - rows), (0, raw.shape[1] - cols)], mode="edge")  # fmt: skip
    return np.clip(raw - NOISE_SIGMAS * sigma, 0.0, 1.0)
