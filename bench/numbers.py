"""How well whole numbers are read: segmentation, then every digit right, against the same
digits read alone.

    python -m bench.numbers [--count 300] [--photo-count 100] [--validation] [--out FILE]

Numbers of 2-6 digits are composed side by side (random gaps of GAP x the digit height,
baseline jitter, sizes varied) from one held-out pen writer's real strokes (drawn with the
page's brush by bench/handwriting.py) or from MNIST test digits (redrawn as on the page), as
drawn ink planes and as phone photos (bench/photos.py; demo.photo.photo_ink cleans them).
Columns: the right number of digits found; each true digit's box matched at IoU >= 0.5; the
whole number right; the same digits read alone (each on its own plane): the share of numbers
with every digit right that way, and the per-digit accuracy raised to the number's length.
--validation measures the validation writers and MNIST's held-out training digits instead:
segmentation's constants are chosen there, never on the sets the report shows.
"""

import argparse
import contextlib
import os
import platform
import time
from pathlib import Path

import numpy as np
from PIL import Image

from bench import handwriting, photos
from bench.paths import RESULTS, write_json
from demo.numbers import NumberError, read_number, segment
from demo.photo import photo_ink
from demo.reader import DEFAULT_MODEL, PreprocessError, Reader
from train.pendigits import find_file, read_pendigits, writer_splits

RESULTS_FILE = RESULTS / "numbers.json"
LENGTHS = (2, 6)
HEIGHT = 140  # px: a digit's height on the composed plane (half the page's 280 px canvas)
SIZE = (0.85, 1.1)  # each digit's height, times HEIGHT
GAP = (0.05, 0.35)  # blank between neighbouring digits' ink, times HEIGHT
JITTER = 0.06  # baseline up or down, times HEIGHT
PAD = (20, 40)  # px of paper around the number
IOU = 0.5
PHOTO_FRAME = (800, 480)
SEEDS = {"pen": 9101, "mnist": 9102, "photo": 9103}


def ink_of(picture: np.ndarray) -> np.ndarray:
    """A black-on-white uint8 drawing -> its ink 0..1, cropped to the ink."""
    ink = 1.0 - np.asarray(picture, np.float32) / 255.0
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    return ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def scaled(ink: np.ndarray, height: int) -> np.ndarray:
    width = max(1, round(ink.shape[1] * height / ink.shape[0]))
    return np.asarray(Image.fromarray(ink).resize((width, height), Image.Resampling.BILINEAR))


def compose(inks: list[np.ndarray], rng: np.random.Generator) -> tuple[np.ndarray, list]:
    """Digits side by side -> (ink plane, each digit's true (x, y, w, h) box of ink > 0.5)."""
    parts = [scaled(ink, round(HEIGHT * rng.uniform(*SIZE))) for ink in inks]
    pad = int(rng.integers(*PAD))
    gaps = [round(HEIGHT * rng.uniform(*GAP)) for _ in parts[1:]] + [0]
    drops = [round(HEIGHT * rng.uniform(-JITTER, JITTER)) for _ in parts]
    tallest, jitter = max(p.shape[0] for p in parts), round(JITTER * HEIGHT)
    width = sum(p.shape[1] for p in parts) + sum(gaps) + 2 * pad
    plane = np.zeros((tallest + 2 * jitter + 2 * pad, width), np.float32)
    baseline, boxes, x = pad + jitter + tallest, [], pad
    for part, gap, drop in zip(parts, gaps, drops, strict=True):
        y = baseline + drop - part.shape[0]
        region = plane[y : y + part.shape[0], x : x + part.shape[1]]
        np.maximum(region, part, out=region)
        rows = np.flatnonzero((part > 0.5).any(axis=1))
        cols = np.flatnonzero((part > 0.5).any(axis=0))
        boxes.append((x + cols[0], y + rows[0], cols[-1] - cols[0] + 1, rows[-1] - rows[0] + 1))
        x += part.shape[1] + gap
    return plane, boxes


def alone(ink: np.ndarray) -> np.ndarray:
    """One digit on its own plane, as segmentation would hand it over."""
    height = round(HEIGHT * np.mean(SIZE))
    return np.pad(scaled(ink, height), round(0.1 * height))


def iou(a: tuple, b: tuple) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0, x1 - x0) * max(0, y1 - y0)
    return inter / float(a[2] * a[3] + b[2] * b[3] - inter)


@contextlib.contextmanager
def number_photos(aspect: float):
    """bench/photos.py frames one digit; a number needs a wide frame and a height that fits."""
    saved = photos.FRAMES, photos.DIGIT_HEIGHT
    share = min(0.6, 0.9 * (PHOTO_FRAME[0] * 0.6) / (aspect * PHOTO_FRAME[1] * 0.75))
    photos.FRAMES, photos.DIGIT_HEIGHT = (PHOTO_FRAME,), (0.6 * share, share)
    try:
        yield
    finally:
        photos.FRAMES, photos.DIGIT_HEIGHT = saved


def photos_of(plane: np.ndarray, rng: np.random.Generator) -> bytes:
    """A JPEG phone photo of the ink written on paper."""
    with number_photos(plane.shape[1] / plane.shape[0]):
        return photos.photo(plane, rng)


def found_ink(picture: bytes, keep: str = "digit") -> np.ndarray:
    """What demo.photo.photo_ink cleans from a photo; an empty plane where it finds none.

    keep="all" for a number's photo, as the page and the CLI clean one; "digit" for one digit."""
    ink = photo_ink(picture, keep=keep)
    return np.zeros((1, 1), np.float32) if ink is None else ink


def ink_of_photo(plane: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return found_ink(photos_of(plane, rng))


def pen_pool(validation: bool) -> tuple[list[list], str]:
    """Each held-out writer's digits as drawn inks with labels (validation writers if asked)."""
    _, valid, test = writer_splits(read_pendigits(find_file()))
    digits = valid if validation else test
    rng = np.random.default_rng(SEEDS["pen"])
    writers = sorted({d.writer for d in digits})
    pools = [
        [
            (ink_of(handwriting.draw_strokes(d.strokes, rng)), d.label)
            for d in digits
            if d.writer == w
        ]
        for w in writers
    ]
    which = "validation" if validation else "held-out test"
    return pools, f"pendigits {which} writers {writers}, the page's brush"


def mnist_pool(validation: bool, count: int) -> tuple[list[list], str]:
    load = handwriting.load_mnist_validation if validation else handwriting.load_mnist_test
    images, labels, source = load()
    rng = np.random.default_rng(SEEDS["mnist"])
    pick = rng.permutation(len(images))[:count]
    inks = [(ink_of(handwriting.draw_on_canvas(images[i], rng)), int(labels[i])) for i in pick]
    return [inks], f"{source}: {len(pick)} digits redrawn as on the page"


def numbers(pools: list[list], count: int, rng: np.random.Generator) -> list[list]:
    """`count` numbers, each from one writer's pool, lengths uniform in LENGTHS."""
    out = []
    for _ in range(count):
        pool = pools[int(rng.integers(len(pools)))]
        length = int(rng.integers(LENGTHS[0], LENGTHS[1] + 1))
        out.append([pool[int(k)] for k in rng.integers(len(pool), size=length)])
    return out


def measure(read_batch, made: list[list], rng: np.random.Generator, photo: bool) -> dict:
    """Every column of one set (see the module's docstring)."""
    found_right = boxes_right = number_right = alone_right = touching = errors = 0
    digit_right = digit_count = 0
    lengths = []
    for digits in made:
        plane, boxes = compose([ink for ink, _ in digits], rng)
        truth = "".join(str(label) for _, label in digits)
        if photo:
            picture = photos_of(plane, rng)
        try:
            if photo:
                plane = found_ink(picture, keep="all")
            found = segment(plane)
            reading = read_number(read_batch, plane)
        except (NumberError, PreprocessError):
            errors += 1
            found, reading = None, None
        if found is not None:
            touching += found.touching
            right_count = len(found.digits) == len(digits) and not found.touching
            found_right += right_count
            if not photo and right_count:
                got = [d.box for d in found.digits]
                boxes_right += all(max(iou(t, g) for g in got) >= IOU for t in boxes)
            number_right += reading.text == truth
        singles = [alone(ink) for ink, _ in digits]
        if photo:
            singles = [ink_of_photo(single, rng) for single in singles]
        read_alone = read_batch(singles)
        right = [
            r is not None and r.label == str(label)
            for r, (_, label) in zip(read_alone, digits, strict=True)
        ]
        alone_right += all(right)
        digit_right, digit_count = digit_right + sum(right), digit_count + len(right)
        lengths.append(len(digits))
    n = len(made)
    per_digit = digit_right / digit_count
    return {
        "n": n,
        "digits": digit_count,
        "count_right": round(found_right / n, 4),
        "boxes_right": None if photo else round(boxes_right / n, 4),
        "touching_flagged": round(touching / n, 4),
        "refused": round(errors / n, 4),
        "number_right": round(number_right / n, 4),
        "alone_all_right": round(alone_right / n, 4),
        "alone_digit_accuracy": round(per_digit, 4),
        "alone_product": round(float(np.mean([per_digit**k for k in lengths])), 4),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.numbers", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--count", type=int, default=300, help="numbers per drawn set")
    parser.add_argument("--photo-count", type=int, default=100, help="numbers per photo set")
    parser.add_argument("--validation", action="store_true", help="validation data instead")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    out = args.out or (RESULTS / "numbers_validation.json" if args.validation else RESULTS_FILE)
    started, cpu = time.perf_counter(), time.process_time()
    read_batch = Reader(DEFAULT_MODEL).read_each
    pools = {"pen": pen_pool(args.validation), "mnist": mnist_pool(args.validation, 2000)}
    sets = {}
    for source, (pool, where) in pools.items():
        for photo, count in ((False, args.count), (True, args.photo_count)):
            name = f"{source}_{'photo' if photo else 'drawn'}"
            rng = np.random.default_rng([SEEDS[source], SEEDS["photo"] * photo])
            began = time.perf_counter()
            row = measure(read_batch, numbers(pool, count, rng), rng, photo)
            row["seconds"] = round(time.perf_counter() - began, 1)
            sets[name] = {"source": where, **row}
            print(name, row, flush=True)
    result = {
        "command": "python -m bench.numbers" + (" --validation" if args.validation else ""),
        "split": "validation" if args.validation else "test",
        "model": DEFAULT_MODEL.name,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.python_version()}",
        "seconds": round(time.perf_counter() - started, 1),
        "cpu_seconds": round(time.process_time() - cpu, 1),
        "sets": sets,
    }
    write_json(out, result)
    print(f"wrote {out}: {result['seconds']} s wall")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
