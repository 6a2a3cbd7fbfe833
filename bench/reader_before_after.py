"""Before and after the reader graph, on the same inputs in one run: did any reader get worse?

    python -m bench.reader_before_after [--split test|validation] [--mnist N] [--n 500] [--out FILE]

before: the Python path the page used (bench/legacy.py: photo cleaning for every picture,
numpy/Pillow normalisation, the bare model, the warmed softmax in Python); MNIST test digits
were fed to the model as they are. after: demo.reader on the shipped reader graph; a drawing's
plane (alpha = ink) goes straight in, a photo's through demo.photo first, MNIST as pixels / 255.
Accuracy counts a picture with nothing read as wrong; ECE over 15 bins of the top probability.
--split validation builds every set from the MNIST validation split and the validation pen
writers instead (the data that may decide: larger sets, same rules). Writes
results/reader_before_after[_validation].json and prints the markdown table for docs/reader.md.
"""

import argparse
import os
import platform
import sys
import time

import numpy as np

from bench import handwriting, legacy, photos
from bench.paths import RESULTS, WEIGHTS, write_json
from demo.photo import photo_ink
from demo.reader import DEFAULT_MODEL, PreprocessError, Reader
from export.onnx_export import load_model_and_card
from train.calibrate import calibration_error

RESULTS_FILE = RESULTS / "reader_before_after.json"
SEED = 20261205
LOSS = 0.001  # any set losing more accuracy than this (0.1 point) is a defect


def drawing_rgba(composite: np.ndarray) -> np.ndarray:
    """A black-on-white sketchpad composite as the page's canvas sends it: black, alpha = ink."""
    rgba = np.zeros((*composite.shape, 4), np.uint8)
    rgba[:, :, 3] = 255 - np.asarray(composite, np.uint8)
    return rgba


def scores(probabilities: np.ndarray, labels: np.ndarray, sure_at: float) -> dict:
    """Accuracy, ECE, the 'not sure' share; an all-zero row was read as nothing (wrong)."""
    top = probabilities.max(axis=1)
    right = (probabilities.argmax(axis=1) == labels) & (top > 0)
    return {
        "accuracy": round(float(right.mean()), 4),
        "ece": round(calibration_error(top, right), 4),
        "not_sure": round(float((top < sure_at).mean()), 4),
        "nothing_read": int((top == 0).sum()),
    }


def before(model, calibration: dict, images: list, kind: str) -> np.ndarray:
    """(N, 10) probabilities through the old path (zeros where it read nothing)."""
    if kind == "mnist":
        return legacy.probabilities(model, np.asarray(images), calibration)
    pixels = [legacy.to_mnist(image) for image in images]
    found = [i for i, p in enumerate(pixels) if p is not None]
    out = np.zeros((len(images), 10))
    if found:
        out[found] = legacy.probabilities(model, np.stack([pixels[i] for i in found]), calibration)
    return out


def planes_of(images: list, kind: str) -> list:
    """The ink planes the new path hands the graph (None: demo.photo found nothing)."""
    if kind == "mnist":
        return [np.asarray(image, np.float32) / 255 for image in images]
    if kind == "drawing":
        return [np.asarray(image[:, :, 3], np.float32) / 255 for image in images]
    found = []
    for image in images:
        try:
            found.append(photo_ink(image))
        except PreprocessError:
            found.append(None)
    return found


def after(reader: Reader, images: list, kind: str) -> np.ndarray:
    """(N, 10) probabilities through the graph (zeros where it read nothing)."""
    out = np.zeros((len(images), 10))
    planes = planes_of(images, kind)
    if kind in ("mnist", "drawing"):  # one size: batches
        stack = np.stack(planes)
        for start in range(0, len(stack), 64):
            out[start : start + 64] = reader.run(stack[start : start + 64])["probabilities"]
        return out
    for i, plane in enumerate(planes):
        if plane is not None:
            out[i] = reader.run(plane)["probabilities"][0]
    return out


def build_sets(
    mnist_count: int, count: int, split: str = "test"
) -> list[tuple[str, str, list, np.ndarray, str]]:
    """(name, what, inputs, labels, kind) for every row; seeds fixed."""
    validation = split == "validation"
    load = handwriting.load_mnist_validation if validation else handwriting.load_mnist_test
    images, labels, source = load()
    labels = labels.astype(np.int64)
    pick = np.random.default_rng(SEED).permutation(len(images))
    mnist = pick[:mnist_count]
    rows = [(f"mnist_{split}", f"{source}, 28x28", list(images[mnist]), labels[mnist], "mnist")]
    used = 0
    for name, canvas, brush, what in (
        ("mnist_redrawn_280", 280, handwriting.REDRAW_BRUSH, "redrawn on a 280 px canvas, 1-2x"),
        ("mnist_redrawn_400", 400, handwriting.REDRAW_BRUSH, "redrawn on a 400 px canvas, 1-2x"),
        ("mnist_fat_brush", 400, handwriting.FAT_BRUSH, "fat brush on a 400 px canvas, 2-3x"),
    ):
        rng = np.random.default_rng(SEED + len(rows))
        chosen = pick[used : used + count]
        used += count
        drawn = [
            drawing_rgba(handwriting.draw_on_canvas(images[i], rng, brush, canvas)) for i in chosen
        ]
        rows.append((name, f"MNIST test {what} width", drawn, labels[chosen], "drawing"))
    pen = next(s for s in handwriting.pendigits_sets() if s.name == f"pendigits_{split}")
    rows.append(
        (
            f"pendigits_{split}",
            f"{split} pen writers drawn on the 280 px canvas",
            [drawing_rgba(image) for image in pen.images[:count]],
            pen.labels[:count],
            "drawing",
        )
    )
    for name, make, what in (
        ("photos", photos.photo, "phone photos: tint, shadow, tilt, ruled lines"),
        ("tight_crops", photos.tight_crop, "scans cropped to the ink, touching every edge"),
    ):
        rng = np.random.default_rng(SEED + len(rows))
        chosen = pick[used : used + count]
        used += count
        rows.append((name, what, [make(images[i], rng) for i in chosen], labels[chosen], "photo"))
    return rows


def markdown(result: dict) -> str:
    lines = [
        "| set | n | accuracy before | accuracy after | ECE before | ECE after "
        "| nothing read before / after |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, row in result["sets"].items():
        b, a = row["before"], row["after"]
        lines.append(
            f"| {name} | {row['n']} | {b['accuracy']:.2%} | {a['accuracy']:.2%} | {b['ece']:.3f} "
            f"| {a['ece']:.3f} | {b['nothing_read']} / {a['nothing_read']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=("test", "validation"), default="test")
    parser.add_argument("--mnist", type=int, default=10000, help="MNIST digits read as 28x28")
    parser.add_argument("--n", type=int, default=500, help="pictures in every other set")
    parser.add_argument("--out", default=None, help="default: results/reader_before_after*.json")
    args = parser.parse_args(argv)
    suffix = "" if args.split == "test" else f"_{args.split}"
    args.out = args.out or str(RESULTS_FILE.with_name(f"reader_before_after{suffix}.json"))
    argv = sys.argv[1:] if argv is None else argv
    started = time.perf_counter()
    reader = Reader(DEFAULT_MODEL)
    model, training = load_model_and_card(WEIGHTS)
    calibration = reader.card.raw["calibration"]
    result = {
        "command": " ".join(["python -m bench.reader_before_after", *argv]),
        "before": "bench/legacy.py: photo cleaning, numpy/Pillow normalisation, bare model",
        "after": f"demo.reader on demo/{DEFAULT_MODEL.name}",
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.python_version()}",
        "sets": {},
    }
    for name, what, images, labels, kind in build_sets(args.mnist, args.n, args.split):
        row = {"what": what, "n": len(labels), "fed_after": kind}
        for side, probabilities in (
            ("before", before(model, calibration, images, kind)),
            ("after", after(reader, images, kind)),
        ):
            row[side] = scores(probabilities, labels, reader.card.sure_at)
        row["accuracy_change"] = round(row["after"]["accuracy"] - row["before"]["accuracy"], 4)
        result["sets"][name] = row
        print(f"{name}: before {row['before']} after {row['after']}", flush=True)
    result["seconds"] = round(time.perf_counter() - started, 1)
    worse = [n for n, r in result["sets"].items() if r["accuracy_change"] < -LOSS]
    result["worse_by_more_than_0.1_point"] = worse
    print(markdown(result))
    write_json(type(RESULTS_FILE)(args.out), result)
    print(f"wrote {args.out} ({result['seconds']} s)")
    return 1 if worse else 0


if __name__ == "__main__":
    raise SystemExit(main())
