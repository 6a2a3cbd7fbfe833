"""The evaluation sets of `python -m bench.evaluate`: handwriting as the page would receive it.

Pen strokes are drawn as the page's sketchpad draws them (a 280 px white canvas, a 24 px round
black brush, pen-up gaps left open); MNIST digits are redrawn on a 400 px canvas and scikit-learn's
8x8 digits are made to look like scans, with the recipe of bench/evaluate_preprocessing.py. Every
random choice comes from a fixed seed in SEEDS, so two runs draw the same pictures.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from bench.paths import SAMPLE, mnist_dir
from train.data import DataError, load_split, validation_split
from train.pendigits import find_file, read_pendigits, writer_splits

CANVAS = 280  # the page's sketchpad (demo/app.py CANVAS)
BRUSH = 24  # px: the page's brush radius of 12, as a diameter
DRAWN_SIZE = (0.60, 0.85)  # the drawing's longer side, brush included, as a share of the canvas
SUPERSAMPLE = 2  # strokes are drawn at 2x and box-averaged: anti-aliased like a browser canvas
REDRAW_CANVAS = 400
REDRAW_COUNT = 1000
REDRAW_BRUSH = (0.0, 0.06)  # widening per side, share of the height: 1x-2x MNIST's width
FAT_BRUSH = (0.06, 0.12)  # 2x-3x MNIST's width
BOX_SIDE = 16  # Semeion's scans: each digit stretched to fill 16x16, one bit a pixel
VALIDATION_SIZE = 5000  # the MNIST training digits the writers recipe holds out (val_size)
SEEDS = {"pendigits": 8001, "mnist_pick": 8002, "redrawn": 8003, "fat_brush": 8004, "scans": 8005}


@dataclass(frozen=True)
class EvalSet:
    """One row of the table: what to read, the truth, and where it came from."""

    name: str
    source: str
    images: list  # pictures for demo.preprocess.to_mnist, or MNIST-style 28x28 when direct
    labels: np.ndarray
    direct: bool = False  # already MNIST-style (28x28, 0..255, white on black): fed as is
    note: str = ""


def load_mnist_test(data_dir: str | Path | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """All 10,000 MNIST test digits (--data-dir, $HRNN_MNIST_DATA, ../shared), else the sample."""
    folder = Path(data_dir) if data_dir is not None else mnist_dir()
    if folder is not None:
        images, labels = load_split("test", folder, download=False)
        return images, labels, f"MNIST test set ({folder})"
    with np.load(SAMPLE) as sample:
        images, labels = sample["images"], sample["labels"].astype(np.int64)
    return images, labels, f"FALLBACK: {len(images)} MNIST test digits from {SAMPLE.name}"


def draw_strokes(
    strokes: tuple[np.ndarray, ...], rng: np.random.Generator, canvas: int = CANVAS
) -> np.ndarray:
    """Pen strokes (x, y down, any units) as the page's canvas holds them: uint8, black on white.

    Each stroke is a round-capped, round-jointed polyline; nothing joins one stroke to the next.
    """
    points = np.concatenate(strokes)
    low, high = points.min(axis=0), points.max(axis=0)
    size = rng.uniform(*DRAWN_SIZE) * canvas
    scale = (size - BRUSH) / max(float((high - low).max()), 1.0)
    corner = rng.uniform(0, canvas - ((high - low) * scale + BRUSH))  # top-left of the ink
    sheet = Image.new("L", (canvas * SUPERSAMPLE, canvas * SUPERSAMPLE), 255)
    pen = ImageDraw.Draw(sheet)
    radius = BRUSH * SUPERSAMPLE / 2
    for stroke in strokes:
        xy = ((stroke - low) * scale + corner + BRUSH / 2) * SUPERSAMPLE
        path = [(float(x), float(y)) for x, y in xy]
        if len(path) > 1:
            pen.line(path, fill=0, width=round(2 * radius), joint="curve")
        for x, y in path:
            pen.ellipse((x - radius, y - radius, x + radius, y + radius), fill=0)
    return np.asarray(sheet.resize((canvas, canvas), Image.Resampling.BOX))


def draw_on_canvas(
    digit: np.ndarray,
    rng: np.random.Generator,
    brush: tuple[float, float] = REDRAW_BRUSH,
    canvas: int = REDRAW_CANVAS,
) -> np.ndarray:
    """A 28x28 MNIST digit redrawn as a sketchpad composite: uint8, black ink on white.

    25-70% of the canvas, anywhere on it, strokes widened by a random share in `brush` of the
    height on each side (MNIST's strokes are ~12% of it: (0, 0.06) spans 1x-2x their width).
    """
    rows, cols = np.flatnonzero(digit.any(axis=1)), np.flatnonzero(digit.any(axis=0))
    crop = Image.fromarray(digit[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1])
    height = int(rng.uniform(0.25, 0.7) * canvas)
    width = min(round(crop.width * height / crop.height), int(0.7 * canvas))
    ink = crop.resize((max(1, width), height), Image.Resampling.BILINEAR)
    for _ in range(int(rng.uniform(*brush) * height)):
        ink = ink.filter(ImageFilter.MaxFilter(3))
    sheet = Image.new("L", (canvas, canvas))
    top = int(rng.integers(0, canvas - ink.height + 1))
    sheet.paste(ink, (int(rng.integers(0, canvas - ink.width + 1)), top))
    return 255 - np.asarray(sheet)


def scan_of(ink: np.ndarray, rng: np.random.Generator, size: int | None = None) -> np.ndarray:
    """Ink (0..1, 1 = ink) as a scanned uint8 grey page: 96-192 px, margins, shading, noise."""
    size = size or int(rng.integers(12, 25)) * 8
    ink = Image.fromarray(np.asarray(ink, dtype=np.float32))
    ink = np.asarray(ink.resize((size, size), Image.Resampling.BICUBIC)).clip(0, 1)
    margin = [int(m) for m in rng.integers(size // 8, size // 2, size=4)]
    ink = np.pad(ink, ((margin[0], margin[1]), (margin[2], margin[3])))
    paper, pen = rng.uniform(200, 245), rng.uniform(10, 70)
    shade = np.linspace(0, rng.uniform(-20, 20), ink.shape[1])[None, :]
    grey = paper + shade - (paper - pen) * ink + rng.normal(0, 6, ink.shape)
    return grey.clip(0, 255).astype(np.uint8)


def box_scan(digit: np.ndarray, side: int = BOX_SIDE) -> np.ndarray:
    """A 28x28 MNIST digit as some archives store scans: its ink stretched to fill a square
    (the aspect is not kept, so a 1 becomes a wide band), one bit a pixel, black on white."""
    rows, cols = np.flatnonzero(digit.any(axis=1)), np.flatnonzero(digit.any(axis=0))
    crop = Image.fromarray(digit[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1])
    small = np.asarray(crop.resize((side, side), Image.Resampling.BILINEAR))
    return np.where(small > 127, 0, 255).astype(np.uint8)


def load_mnist_validation(data_dir: str | Path | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """The 5,000 MNIST training digits training holds out: for choosing, never for reporting."""
    folder = Path(data_dir) if data_dir is not None else mnist_dir()
    if folder is None:
        raise DataError("MNIST validation needs the full training set (--data-dir)")
    images, labels = load_split("train", folder, download=False)
    index, _ = validation_split(len(images), VALIDATION_SIZE)
    return images[index], labels[index], f"MNIST validation ({len(index)} held out, {folder})"


def mnist_sets(
    data_dir: str | Path | None = None, validation: bool = False, count: int | None = None
) -> list[EvalSet]:
    """MNIST test (or validation) read directly and as pictures, and `count` of its digits
    redrawn, fat-brushed, and as box-stretched one-bit scans (the first REDRAW_COUNT of a larger
    count are the same drawings: a larger set only adds digits)."""
    load = load_mnist_validation if validation else load_mnist_test
    images, labels, source = load(data_dir)
    labels = labels.astype(np.int64)
    split = "validation" if validation else "test"
    suffix = "_validation" if validation else ""
    sets = [
        EvalSet(f"mnist_{split}", source, list(images), labels, direct=True),
        EvalSet(f"mnist_{split}_picture", f"{source}, through to_mnist", list(images), labels),
    ]
    count = REDRAW_COUNT if count is None else count
    pick = np.random.default_rng(SEEDS["mnist_pick"]).permutation(len(images))[:count]
    for name, brush, what in (
        ("mnist_redrawn", REDRAW_BRUSH, "1-2x"),
        ("mnist_fat_brush", FAT_BRUSH, "2-3x"),
    ):
        rng = np.random.default_rng(SEEDS[name.removeprefix("mnist_")])
        drawn = [draw_on_canvas(images[i], rng, brush) for i in pick]
        where = f"{source}: {len(pick)} digits redrawn on a {REDRAW_CANVAS} px canvas, {what} width"
        sets.append(EvalSet(name + suffix, where, drawn, labels[pick]))
    boxed = [box_scan(images[i]) for i in pick]
    where = f"{source}: {len(pick)} digits stretched to fill {BOX_SIDE}x{BOX_SIDE}, one bit a pixel"
    sets.append(EvalSet("mnist_box16" + suffix, where, boxed, labels[pick]))
    return sets


def pendigits_sets(path: str | Path | None = None) -> list[EvalSet]:
    """The held-out test writers, and the validation writers (marked: they pick and calibrate)."""
    file = find_file(path)
    _, validation, test = writer_splits(read_pendigits(file))
    sets = []
    for name, digits, note in (
        ("pendigits_test", test, "held-out writers: never trained or tuned on"),
        ("pendigits_validation", validation, "VALIDATION writers: used for selection/calibration"),
    ):
        rng = np.random.default_rng(SEEDS["pendigits"])
        writers = sorted({digit.writer for digit in digits})
        where = f"{file.name}, writers {writers}, drawn on the page's {CANVAS} px canvas"
        drawn = [draw_strokes(digit.strokes, rng) for digit in digits]
        labels = np.array([digit.label for digit in digits], dtype=np.int64)
        sets.append(EvalSet(name, where, drawn, labels, note=note))
    return sets


def sklearn_sets() -> list[EvalSet]:
    """scikit-learn's 1,797 8x8 digits (43 writers, UCI) as scans; a dev-only import."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    rng = np.random.default_rng(SEEDS["scans"])
    scans = [scan_of(image / 16.0, rng) for image in digits.images]  # 16 = all ink
    source = "sklearn.datasets.load_digits (43 writers), upsampled as scans"
    return [EvalSet("sklearn_digits", source, scans, digits.target.astype(np.int64))]
