"""How well does the demo read pictures it never saw, through the reader graph and the earlier path?

    python -m bench.evaluate_preprocessing [--split test|train] [--scale 1.0] [--seed N]
                                           [--no-speed]

Each row is a kind of picture made from MNIST digits of `--split` (tune on train, report on
test) or from scikit-learn's 8x8 digits; each is cleaned by `demo.photo.photo_ink` and read by
the shipped reader graph ("new"), and by the path the page had before the graph ("before":
bench/legacy.py's normalisation and the bare model). An unreadable picture (nothing read, or
refused with PreprocessError) counts as wrong, except in the blank row, where nothing read
(the empty state) is the right answer. Prints a table and the speed of one 12-megapixel photo and of
a 280 px sketchpad drawing; writes results/preprocessing_eval.json. Seeds are fixed.
"""

import argparse
import gzip
import os
import platform
import time
from pathlib import Path

import numpy as np

from bench import handwriting, legacy, photos
from bench.handwriting import scan_of
from bench.paths import REPO, RESULTS, SAMPLE, SHARED_DATA, WEIGHTS, write_json
from bench.speed import measure_speed
from demo.photo import photo_ink
from demo.reader import DEFAULT_MODEL, PreprocessError, Reader
from export.onnx_export import load_model_and_card

SHARED_MNIST = SHARED_DATA / "mnist"
RESULTS_FILE = RESULTS / "preprocessing_eval.json"
CANVAS = 400
SEED = 20240601
TRAIN_SEED = 20240602  # tuning runs draw other photos, papers and blank pages than the report
# row: (pictures at --scale 1, what they are); the default run takes ~5 minutes on one core
ROWS = {
    "drawings": (300, "sketchpad drawings, 280 px, strokes 1-2x MNIST width"),
    "mnist": (600, "MNIST digits as 28x28 images"),
    # 1,000 photos: at 99% one point is three standard errors (150 could not tell 98 from 99)
    "photos": (1000, "phone photos: tint, shadow, tilt, ruled lines (JPEG q90)"),
    "photos_exif": (300, "the same, stored turned with an EXIF Orientation tag"),
    "photos_hard": (200, "on a table at a slant; half pencil, half blurred, half JPEG q30-60"),
    "tight_crops": (400, "scans cropped to the ink, 28-160 px, touching every edge"),
    "scans_16": (400, "16x16 scans, the digit filling the box, either polarity"),
    "strokes_thin": (200, "thin pen (1-4 px) on a 280 px sketchpad"),
    "strokes_medium": (200, "brush 1-2x MNIST width on a 280 px sketchpad"),
    "strokes_fat": (200, "brush 2-3x MNIST width on a 280 px sketchpad"),
    "sklearn_8x8": (600, "scikit-learn's 8x8 digits (43 writers), upscaled as scans"),
    "blank": (200, "photos as above with nothing written (half on a table): 'nothing to read'"),
    "scans_16_stretched": (400, "16x16 grey scans stretched to fill the box, either polarity"),
}


def load_mnist_test() -> tuple[np.ndarray, np.ndarray, str]:
    """Full MNIST test set when it is on disk ($HRNN_MNIST_DATA or ../shared), else the sample."""
    for folder in (os.environ.get("HRNN_MNIST_DATA"), SHARED_MNIST):
        if folder and (Path(folder) / "t10k-images-idx3-ubyte.gz").is_file():
            with gzip.open(Path(folder) / "t10k-images-idx3-ubyte.gz") as handle:
                images = np.frombuffer(handle.read(), np.uint8, offset=16).reshape(-1, 28, 28)
            with gzip.open(Path(folder) / "t10k-labels-idx1-ubyte.gz") as handle:
                labels = np.frombuffer(handle.read(), np.uint8, offset=8)
            return images, labels, f"MNIST test set ({folder})"
    with np.load(SAMPLE) as sample:
        return sample["images"], sample["labels"], "tests/data/mnist_test_sample.npz"


def draw_on_canvas(
    digit: np.ndarray,
    rng: np.random.Generator,
    canvas: int = CANVAS,
    brush: tuple[float, float] = (0.0, 0.06),
) -> np.ndarray:
    """handwriting.draw_on_canvas as the RGB composite a sketchpad hands over."""
    paper = handwriting.draw_on_canvas(digit, rng, brush, canvas)
    return np.repeat(paper[:, :, None], 3, axis=2)


def accuracy(guesses: np.ndarray, labels: np.ndarray) -> dict:
    """Accuracy counting an unreadable input (guess -1) as wrong; also how many were unread."""
    correct = int((guesses == np.asarray(labels)).sum())
    return {
        "correct": correct,
        "accuracy": round(correct / max(1, len(guesses)), 4),
        "unread": int((guesses < 0).sum()),
    }


def load_digits(split: str) -> tuple[np.ndarray, np.ndarray, str]:
    """MNIST digits of `split`: train for tuning constants, test for what gets reported."""
    if split == "test":
        return load_mnist_test()
    from train.data import load_split  # dev tooling may use train/; the demo never does

    images, labels = load_split("train", SHARED_MNIST, download=False)
    return images, labels, f"MNIST training set ({SHARED_MNIST})"


def make_rows(split: str, scale: float, seed: int) -> dict:
    """{row: (pictures, labels)}, each row from its own digits and its own seeded generator."""
    images, labels, source = load_digits(split)
    order = np.random.default_rng(seed).permutation(len(images))
    makers = {
        "drawings": lambda d, r: draw_on_canvas(d, r, canvas=280, brush=(0.0, 0.06)),
        "mnist": lambda d, r: d,
        "photos": lambda d, r: photos.photo(d, r),
        "photos_exif": lambda d, r: photos.photo(d, r, exif=True),
        "photos_hard": lambda d, r: photos.photo(d, r, hard=True),
        "tight_crops": photos.tight_crop,
        "scans_16": photos.small_scan,
        "strokes_thin": photos.pen_drawing,
        "strokes_medium": lambda d, r: draw_on_canvas(d, r, canvas=280, brush=(0.0, 0.06)),
        "strokes_fat": lambda d, r: draw_on_canvas(d, r, canvas=280, brush=(0.06, 0.12)),
        "blank": lambda d, r: photos.photo(d, r, hard=bool(r.random() < 0.5), blank=True),
        "scans_16_stretched": lambda d, r: photos.small_scan(d, r, stretch=True),
    }
    rows, used = {}, 0
    for index, (name, make) in enumerate(makers.items()):
        count = max(1, round(ROWS[name][0] * scale))
        pick = order[used : used + count]  # every row its own digits
        used += count
        rng = np.random.default_rng(seed + 1 + index)
        rows[name] = ([make(images[i], rng) for i in pick], labels[pick].astype(np.int64))
    from sklearn.datasets import load_digits as sklearn_digits  # dev-only dependency

    digits = sklearn_digits()
    count = min(len(digits.images), max(1, round(ROWS["sklearn_8x8"][0] * scale)))
    rng = np.random.default_rng(seed + 99)
    pick = slice(0, count) if split == "test" else slice(len(digits.images) - count, None)
    rows["sklearn_8x8"] = (  # tuning and the report use different ends of the 1,797
        [scan_of(digit / 16.0, rng) for digit in digits.images[pick]],
        digits.target[pick].astype(np.int64),
    )
    return rows, source


def clean_all(pictures: list) -> tuple[list, float, int]:
    """demo.photo's ink planes (None when nothing is there), ms per picture, how many refused."""
    out, refused = [], 0
    started = time.perf_counter()
    for picture in pictures:
        try:
            out.append(photo_ink(picture))
        except PreprocessError:
            out.append(None)
            refused += 1
    return out, 1000 * (time.perf_counter() - started) / max(1, len(pictures)), refused


def guesses_new(reader: Reader, inks: list) -> tuple[np.ndarray, float]:
    """The graph's top class per plane (-1: nothing read), and ms per plane."""
    started = time.perf_counter()
    out = np.full(len(inks), -1)
    for i, ink in enumerate(inks):
        if ink is not None:
            result = reader.run(ink)
            out[i] = result["probabilities"][0].argmax() if result["ink_found"][0] else -1
    return out, 1000 * (time.perf_counter() - started) / max(1, len(inks))


def guesses_before(model, calibration: dict, inks: list) -> tuple[np.ndarray, float]:
    """The earlier path's top class per plane (-1: nothing read), and ms per plane."""
    started = time.perf_counter()
    pixels = [None if ink is None else legacy._normalise(ink, 28, 20, True) for ink in inks]
    found = [i for i, p in enumerate(pixels) if p is not None]
    out = np.full(len(inks), -1)
    if found:
        batch = np.stack([pixels[i] for i in found])
        out[found] = legacy.probabilities(model, batch, calibration).argmax(axis=1)
    return out, 1000 * (time.perf_counter() - started) / max(1, len(inks))


def evaluate(model: Path, split: str, scale: float, seed: int | None = None) -> dict:
    default_seed = SEED if split == "test" else TRAIN_SEED
    seed = default_seed if seed is None else seed
    reader = Reader(model)
    weights, _ = load_model_and_card(WEIGHTS)
    calibration = reader.card.raw["calibration"]
    rows, source = make_rows(split, scale, seed)
    report = {}
    for name, (pictures, labels) in rows.items():
        row = {"what": ROWS[name][1], "n": len(pictures)}
        inks, clean_ms, refused = clean_all(pictures)
        for key, (guesses, ms) in (
            ("before", guesses_before(weights, calibration, inks)),
            ("new", guesses_new(reader, inks)),
        ):
            if name == "blank":  # right when nothing is read, not a digit nor an error
                empty = int((guesses < 0).sum()) - refused
                scored = {"correct": empty, "accuracy": round(empty / len(guesses), 4)}
                scored["unread"] = empty + refused
            else:
                scored = accuracy(guesses, labels)
            row[key] = scored | {"refused": refused, "ms_per_image": round(clean_ms + ms, 2)}
        report[name] = row
    return {
        "command": "python -m bench.evaluate_preprocessing"
        + (" --split train" if split == "train" else "")
        + (f" --scale {scale:g}" if scale != 1.0 else "")
        + (f" --seed {seed}" if seed != default_seed else ""),
        "split": split,
        "digits": source,
        "before": "bench/legacy.py: the normalisation and bare model the page had before the graph",
        "model": str(
            model.resolve().relative_to(REPO) if model.resolve().is_relative_to(REPO) else model
        ),
        "model_precision": reader.card.precision,
        "weights_sha256": reader.card.raw.get("weights_sha256"),
        "seed": seed,
        "scale": scale,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.python_version()}",
        "load_average": os.getloadavg()[0],
        "rows": report,
    }


def print_table(result: dict) -> None:
    print(f"{result['split']} digits: {result['digits']}; model {result['model']}")
    print(f"{'row':15} {'n':>5} {'before':>9} {'new':>8} {'ms bef.':>8} {'ms new':>7}  what")
    for name, row in result["rows"].items():
        base, new = row.get("before", {}), row["new"]
        base_acc = f"{base['accuracy']:9.2%}" if base else f"{'-':>9}"
        base_ms = f"{base['ms_per_image']:8.2f}" if base else f"{'-':>8}"
        print(
            f"{name:15} {row['n']:5d} {base_acc} {new['accuracy']:8.2%} {base_ms} "
            f"{new['ms_per_image']:7.2f}  {row['what']}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--split", choices=("test", "train"), default="test")
    parser.add_argument("--scale", type=float, default=1.0, help="share of each row's default n")
    parser.add_argument("--seed", type=int, default=None, help="default: one per split")
    parser.add_argument("--no-speed", action="store_true", help="skip the 12 MP / sketchpad timing")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    result = evaluate(args.model, args.split, args.scale, args.seed)
    print_table(result)
    if not args.no_speed:
        result["speed"] = measure_speed()
        for line in result["speed"]["summary"]:
            print(line)
    result["seconds"] = round(time.perf_counter() - started, 1)
    out = args.out or (
        RESULTS_FILE if args.split == "test" else RESULTS / "preprocessing_tune.json"
    )
    write_json(out, result)
    print(f"wrote {out} in {result['seconds']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
