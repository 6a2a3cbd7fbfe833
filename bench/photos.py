"""Synthetic phone photos and scans of 28x28 digits, to test ink finding on what users upload.

Seeded and numpy + Pillow only; each function returns what a user would send (JPEG bytes, or a
uint8 array for scans), upright as a viewer shows it.
"""

import io
import math

import numpy as np
from PIL import Image, ImageFilter

FRAMES = ((640, 480), (480, 640))  # both ways round; small, so an evaluation stays quick
DIGIT_HEIGHT = (0.25, 0.6)  # of the frame's shorter side
ROTATION = 12.0  # degrees either way: a phone held a little crooked
SHADOW_DEPTH = (0.15, 0.55)  # share of the light a shadow takes away
EXIF_TURNS = {90: 6, 180: 3, 270: 8}  # stored counter-clockwise turn -> EXIF Orientation tag
PENS = ((0.05, 0.05, 0.08), (0.1, 0.15, 0.45), (0.2, 0.2, 0.22))  # black, blue, grey felt pen


def digit_ink(digit: np.ndarray, height: int, level: float) -> np.ndarray:
    """A 28x28 digit cropped and drawn `height` px tall: float ink 0..1, soft edges.

    `level` (0..1) is where the smooth upscaled strokes are cut: higher gives a thinner pen.
    """
    digit = np.asarray(digit, dtype=np.float32)
    rows, cols = np.flatnonzero(digit.any(axis=1)), np.flatnonzero(digit.any(axis=0))
    crop = digit[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1] / max(float(digit.max()), 1.0)
    width = max(1, round(crop.shape[1] * height / crop.shape[0]))
    big = Image.fromarray(crop).resize((width, height), Image.Resampling.BICUBIC)
    big = np.asarray(big)
    edge = 0.08
    return np.clip((big - level) / edge + 0.5, 0.0, 1.0).astype(np.float32)


def _upscaled(digit: np.ndarray, height: int) -> np.ndarray:
    """The digit's crop, bicubic to `height` px tall, float 0..1."""
    rows, cols = np.flatnonzero(digit.any(axis=1)), np.flatnonzero(digit.any(axis=0))
    crop = np.asarray(digit, np.float32)[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    width = max(1, round(crop.shape[1] * height / crop.shape[0]))
    big = Image.fromarray(crop / max(float(crop.max()), 1.0)).resize((width, height), 3)
    return np.asarray(big, np.float32)


def _soft_step(distance: np.ndarray, softness: float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(distance / max(softness, 1e-3), -30, 30)))


def _lighting(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Light falling on the page: a gradient, vignetting and one soft-edged shadow."""
    height, width = shape
    ys, xs = np.mgrid[:height, :width].astype(np.float32)
    ys, xs = ys / height - 0.5, xs / width - 0.5
    angle = rng.uniform(0, 2 * math.pi)
    light = 1.0 + rng.uniform(0.0, 0.25) * (np.cos(angle) * xs + np.sin(angle) * ys)
    light *= 1.0 - rng.uniform(0.0, 0.25) * (xs**2 + ys**2)
    angle, offset = rng.uniform(0, 2 * math.pi), rng.uniform(-0.35, 0.35)
    side = np.cos(angle) * xs + np.sin(angle) * ys - offset
    light *= 1.0 - rng.uniform(*SHADOW_DEPTH) * _soft_step(side, rng.uniform(0.005, 0.08))
    return light


def _sheet(
    digit: np.ndarray,
    size: tuple[int, int],
    rng: np.random.Generator,
    pencil: bool,
    pad: int,
    spread: tuple[float, float],
    blank: bool = False,
) -> np.ndarray:
    """The paper as an upright float RGB picture: tint, ruled lines, and the digit at least
    `pad` px inside the edges, placed at a random `spread` share of the room left (or, if
    `blank`, nothing written: the same random draws, so other pictures do not change)."""
    width, height = size
    paper = np.array([1.0, 1.0, 1.0]) - rng.uniform(0.0, 0.15, 3) * rng.uniform(0, 1)
    paper = paper * rng.uniform(0.8, 1.0)
    paper = paper.astype(np.float32)
    sheet = np.ones((height, width, 3), np.float32) * paper
    if rng.random() < 0.6:  # ruled paper: light blue or grey lines, sometimes a red margin
        spacing = rng.uniform(0.05, 0.1) * height
        colour = np.array([0.55, 0.7, 0.95]) if rng.random() < 0.7 else np.array([0.6, 0.6, 0.6])
        thick = rng.uniform(1.0, 3.0)
        ys = np.arange(height, dtype=np.float32)[:, None]
        phase = (ys - rng.uniform(0, spacing)) % spacing
        lines = np.clip(thick / 2 + 0.5 - np.minimum(phase, spacing - phase), 0, 1)
        lines = lines * rng.uniform(0.5, 1.0)
        sheet = sheet * (1 - lines[:, :, None]) + colour * paper * lines[:, :, None]
        if rng.random() < 0.4:
            x = rng.uniform(0.05, 0.2) * width
            xs = np.arange(width, dtype=np.float32)[None, :]
            red = np.clip(thick / 2 + 0.5 - np.abs(xs - x), 0, 1)[:, :, None] * 0.8
            sheet = sheet * (1 - red) + np.array([0.9, 0.35, 0.35]) * red
    short = min(width, height) - 2 * pad
    ink = digit_ink(digit, int(rng.uniform(*DIGIT_HEIGHT) * short), rng.uniform(0.25, 0.65))
    room = [max(0, size - 2 * pad - n) for size, n in zip((height, width), ink.shape, strict=True)]
    top, left = (pad + int(r * rng.uniform(*spread)) for r in room)
    if pencil:  # graphite: grey, faint and grainy
        pen = paper * rng.uniform(0.45, 0.75)
        ink = ink * rng.uniform(0.6, 1.0, ink.shape).astype(np.float32)
    else:
        pen = np.array(PENS[int(rng.integers(len(PENS)))]) * rng.uniform(0.7, 1.3)
    if blank:
        ink = np.zeros_like(ink)
    part = sheet[top : top + ink.shape[0], left : left + ink.shape[1]]
    part[:] = part * (1 - ink[:, :, None]) + pen * ink[:, :, None]
    return sheet


def _perspective_coeffs(source: list, target: list) -> list[float]:
    """PIL's PERSPECTIVE coefficients mapping each target corner back to its source corner."""
    rows, rhs = [], []
    for (sx, sy), (tx, ty) in zip(source, target, strict=True):
        rows.append([tx, ty, 1, 0, 0, 0, -sx * tx, -sx * ty])
        rows.append([0, 0, 0, tx, ty, 1, -sy * tx, -sy * ty])
        rhs += [sx, sy]
    return np.linalg.solve(np.array(rows, float), np.array(rhs, float)).tolist()


def _on_table(sheet: Image.Image, rng: np.random.Generator) -> Image.Image:
    """The page photographed at a slant: a perspective quad with the table showing around it."""
    width, height = sheet.size
    inset = rng.uniform(0.02, 0.14, size=(4, 2)) * [width, height]
    corners = [(0, 0), (width, 0), (width, height), (0, height)]
    signs = [(1, 1), (-1, 1), (-1, -1), (1, -1)]
    quad = [
        (x + sx * dx, y + sy * dy)
        for (x, y), (sx, sy), (dx, dy) in zip(corners, signs, inset, strict=True)
    ]
    warped = sheet.transform(
        sheet.size, Image.Transform.PERSPECTIVE, _perspective_coeffs(corners, quad), Image.BILINEAR
    )
    mask = Image.new("L", sheet.size, 255).transform(
        sheet.size, Image.Transform.PERSPECTIVE, _perspective_coeffs(corners, quad), Image.BILINEAR
    )
    wood = np.array([0.45, 0.3, 0.18]) * rng.uniform(0.5, 1.3)
    grain = rng.normal(0, 0.04, (height, 1, 1)) + rng.normal(0, 0.02, (height, width, 1))
    table = np.clip((wood + grain) * 255, 0, 255).astype(np.uint8)
    return Image.composite(warped, Image.fromarray(table), mask)


def photo(
    digit: np.ndarray,
    rng: np.random.Generator,
    *,
    hard: bool = False,
    exif: bool = False,
    blank: bool = False,
) -> bytes:
    """A JPEG phone photo of `digit` written on paper: tint, ruled lines, shadow, tilt, noise.

    hard: on a table seen at a slant, and maybe pencil, blur and heavy JPEG. exif: the pixels
    are stored turned, with the EXIF Orientation tag that turns them back upright. blank:
    the same photo with nothing written on the page (the answer must be "nothing to read").
    """
    frame = FRAMES[int(rng.integers(len(FRAMES)))]
    pencil = hard and rng.random() < 0.5
    if hard:  # the digit well inside the page, which the slant brings in by up to 14%
        margin = int(0.2 * min(frame))
        sheet = _sheet(digit, frame, rng, pencil, margin, (0.0, 1.0), blank)
        image = _on_table(Image.fromarray((np.clip(sheet, 0, 1) * 255).astype(np.uint8)), rng)
    else:  # a larger sheet, turned, then framed: the digit stays near enough the middle
        pad = max(frame) // 5
        size = (frame[0] + 2 * pad, frame[1] + 2 * pad)
        sheet = _sheet(digit, size, rng, pencil, pad + min(frame) // 12, (0.15, 0.85), blank)
        big = Image.fromarray((np.clip(sheet, 0, 1) * 255).astype(np.uint8))
        big = big.rotate(rng.uniform(-ROTATION, ROTATION), Image.BILINEAR)
        image = big.crop((pad, pad, pad + frame[0], pad + frame[1]))
    pixels = np.asarray(image, np.float32) * _lighting(image.size[::-1], rng)[:, :, None]
    pixels += rng.normal(0, rng.uniform(2, 6), pixels.shape)
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    if hard and rng.random() < 0.5:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(1.0, 2.5)))
    quality = int(rng.integers(30, 60)) if hard and rng.random() < 0.5 else 90
    extra = {}
    if exif:
        turn = int(rng.choice(list(EXIF_TURNS)))
        image = image.rotate(turn, expand=True)
        tags = Image.Exif()
        tags[0x0112] = EXIF_TURNS[turn]
        extra["exif"] = tags
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality, **extra)
    return buffer.getvalue()


def tight_crop(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A scan cropped to its ink: dark on light grey, the digit touching every edge, uint8."""
    height = int(rng.integers(28, 160))
    ink = digit_ink(digit, height, rng.uniform(0.15, 0.6))
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    ink = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    paper, pen = rng.uniform(190, 250), rng.uniform(0, 80)
    grey = paper - (paper - pen) * ink + rng.normal(0, 3, ink.shape)
    return np.clip(grey, 0, 255).astype(np.uint8)


def small_scan(
    digit: np.ndarray, rng: np.random.Generator, side: int = 16, stretch: bool = False
) -> np.ndarray:
    """A side x side scan (postal-digit style): the digit fills the box, either polarity, uint8.

    stretch: both sides fill it, the aspect lost, as some postal archives store digits.
    """
    rows, cols = np.flatnonzero(digit.any(axis=1)), np.flatnonzero(digit.any(axis=0))
    crop = Image.fromarray(digit[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1])
    scale = side / max(crop.size)
    size = (max(1, round(crop.width * scale)), max(1, round(crop.height * scale)))
    size = (side, side) if stretch else size
    small = np.asarray(crop.resize(size, Image.Resampling.BOX), np.float32) / 255
    ink = np.zeros((side, side), np.float32)
    top, left = (side - size[1]) // 2, (side - size[0]) // 2
    ink[top : top + size[1], left : left + size[0]] = small
    ink = ink / max(float(ink.max()), 1e-6)
    grey = 235 - 215 * ink + rng.normal(0, 4, ink.shape)
    grey = 255 - grey if rng.random() < 0.5 else grey
    return np.clip(grey, 0, 255).astype(np.uint8)


def pen_drawing(
    digit: np.ndarray, rng: np.random.Generator, pen: tuple[int, int] = (1, 4), canvas: int = 280
) -> np.ndarray:
    """A digit traced with a thin pen (`pen` px, on a `canvas` px sketchpad): uint8 RGB, black
    on white. The trace is the ridge of the upscaled MNIST strokes, so the shape is MNIST's."""
    height = int(rng.uniform(0.4, 0.75) * canvas)
    from scipy.ndimage import gaussian_filter  # dev-only (scikit-learn brings it)

    big = gaussian_filter(_upscaled(digit, height), height / 30)
    inner = big[1:-1, 1:-1]
    across = (inner > big[1:-1, :-2]) & (inner >= big[1:-1, 2:])
    down = (inner > big[:-2, 1:-1]) & (inner >= big[2:, 1:-1])
    bend_x = big[1:-1, :-2] + big[1:-1, 2:] - 2 * inner
    bend_y = big[:-2, 1:-1] + big[2:, 1:-1] - 2 * inner
    peak = np.where(bend_x <= bend_y, across, down)  # along the sharper fall-off only
    ridge = np.pad(peak & (inner > 0.35 * big.max()), 1)
    line = Image.fromarray((ridge * 255).astype(np.uint8))
    size = int(rng.integers(pen[0], pen[1] + 1))
    if size > 1:
        line = line.filter(ImageFilter.MaxFilter(size | 1))
    sheet = Image.new("L", (canvas, canvas))
    room = (max(0, canvas - line.width), max(0, canvas - line.height))
    sheet.paste(line, (int(rng.integers(0, room[0] + 1)), int(rng.integers(0, room[1] + 1))))
    paper = 255 - np.asarray(sheet)
    return np.repeat(paper[:, :, None], 3, axis=2)
