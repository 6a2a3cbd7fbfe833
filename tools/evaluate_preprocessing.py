"""How well does the demo read handwriting the model never saw, with and without preprocessing?

    python -m tools.evaluate_preprocessing [--model demo/hrnn_mnist.onnx] [--count 1500]

Foreign handwriting, each read twice: through `demo.preprocess.to_mnist`, and through a
naive resize of the whole canvas to 28x28 (polarity fixed, nothing else):
  mnist_redrawn    MNIST test digits redrawn as a sketchpad would hold them: black on a white
                   400x400 canvas, random size (25-70% of the canvas) and position, strokes
                   widened by 0-6% of the height per side (1x to 2x MNIST's stroke width);
  mnist_fat_brush  the same with 6-12% per side (2x to 3x): where thinning strokes matters;
  sklearn_digits   scikit-learn's 1,797 8x8 digits (43 writers, UCI), made to look like scans:
                   upsampled to 96-192 px, dark on light paper, margins, shading, noise;
plus the original MNIST digits as they are (the model's home ground) and through to_mnist.
The "no strokes" column is to_mnist(..., strokes=False): what the stroke-width step buys.
Seeds are fixed; prints a table and writes results/preprocessing_eval.json. scikit-learn is a
dev dependency, imported only here and only when this command runs.
"""

import argparse
import gzip
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from demo.classifier import DEFAULT_MODEL, Classifier
from demo.preprocess import to_mnist
from tools.paths import REPO, RESULTS, SAMPLE, SHARED_DATA

SHARED_MNIST = SHARED_DATA / "mnist"
RESULTS_FILE = RESULTS / "preprocessing_eval.json"
CANVAS = 400
SEED = 20240601


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
    """A 28x28 MNIST digit redrawn like a sketchpad composite: uint8 RGB, black ink on white.

    Strokes widen by a random fraction in `brush` of the digit's height on each side; MNIST's
    own strokes are ~12% of the height, so (0, 0.06) spans 1x to 2x MNIST's width.
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
    paper = 255 - np.asarray(sheet)
    return np.repeat(paper[:, :, None], 3, axis=2)


def scan_of(ink: np.ndarray, rng: np.random.Generator, size: int | None = None) -> np.ndarray:
    """Ink (0..1, 1 = ink, any size) made to look like a scanned uint8 grey image of it."""
    size = size or int(rng.integers(12, 25)) * 8
    ink = Image.fromarray(np.asarray(ink, dtype=np.float32))
    ink = np.asarray(ink.resize((size, size), Image.Resampling.BICUBIC)).clip(0, 1)
    margin = [int(m) for m in rng.integers(size // 8, size // 2, size=4)]
    ink = np.pad(ink, ((margin[0], margin[1]), (margin[2], margin[3])))
    paper, pen = rng.uniform(200, 245), rng.uniform(10, 70)
    shade = np.linspace(0, rng.uniform(-20, 20), ink.shape[1])[None, :]
    grey = paper + shade - (paper - pen) * ink + rng.normal(0, 6, ink.shape)
    return grey.clip(0, 255).astype(np.uint8)


def naive(image: np.ndarray, image_size: int) -> np.ndarray:
    """The usual live-demo shortcut: shrink the whole canvas, invert dark-on-light to MNIST's."""
    grey = Image.fromarray(image).convert("L").resize((image_size, image_size), Image.BOX)
    return 255.0 - np.asarray(grey, dtype=np.float32)


def accuracy(classifier: Classifier, images: list, labels: np.ndarray) -> dict:
    """Accuracy counting an unreadable input (None) as wrong; also how many were None."""
    size = classifier.card.image_size
    readable = [i for i, image in enumerate(images) if image is not None]
    batch = np.stack([images[i] for i in readable]) if readable else np.zeros((0, size, size))
    guesses = np.full(len(images), -1)
    for start in range(0, len(batch), 512):
        probabilities = classifier.predict(batch[start : start + 512]).probabilities
        guesses[readable[start : start + 512]] = probabilities.argmax(axis=1)
    correct = int((guesses == np.asarray(labels)).sum())
    return {
        "n": len(images),
        "correct": correct,
        "accuracy": round(correct / max(1, len(images)), 4),
        "no_ink": len(images) - len(readable),
    }


def evaluate(model: Path, count: int, seed: int = SEED) -> dict:
    classifier = Classifier(model)
    card = classifier.card
    size, box = card.image_size, card.digit_box
    images, labels, source = load_mnist_test()
    pick = np.random.default_rng(seed).permutation(len(images))[: min(count, len(images))]
    images, labels = images[pick], labels[pick].astype(np.int64)
    rng = np.random.default_rng(seed + 1)
    drawn = [draw_on_canvas(digit, rng) for digit in images]
    rng = np.random.default_rng(seed + 3)
    fat = [draw_on_canvas(digit, rng, brush=(0.06, 0.12)) for digit in images[: count // 2]]

    from sklearn.datasets import load_digits  # dev-only dependency; never in the demo runtime

    digits = load_digits()
    rng = np.random.default_rng(seed + 2)
    scans = [scan_of(digit / 16.0, rng) for digit in digits.images]  # 16 = all ink

    datasets = {  # name: (source, cases, labels[, baseline images, what the baseline is])
        "mnist_original": (source, list(images), labels, list(images), "as is"),
        "mnist_redrawn": (f"{source}, redrawn on {CANVAS}x{CANVAS}, 1-2x width", drawn, labels),
        "mnist_fat_brush": (f"{source}, redrawn, 2-3x stroke width", fat, labels),
        "sklearn_digits": ("sklearn.datasets.load_digits, as scans", scans, digits.target),
    }
    report = {}
    for name, (where, cases, truth, *baseline) in datasets.items():
        truth = truth[: len(cases)]
        base, note = baseline or ([naive(c, size) for c in cases], "naive resize of the canvas")
        started = time.perf_counter()
        preprocessed = [to_mnist(case, size, box) for case in cases]
        seconds = time.perf_counter() - started
        plain = [to_mnist(case, size, box, strokes=False) for case in cases]
        report[name] = {
            "source": where,
            "baseline": note,
            "baseline_result": accuracy(classifier, base, truth),
            "preprocessed_result": accuracy(classifier, preprocessed, truth),
            "no_stroke_adjustment_result": accuracy(classifier, plain, truth),
            "preprocess_ms_per_image": round(1000 * seconds / max(1, len(cases)), 2),
        }
    return {
        "command": "python -m tools.evaluate_preprocessing",
        "model": str(
            model.resolve().relative_to(REPO) if model.resolve().is_relative_to(REPO) else model
        ),
        "model_precision": card.precision,
        "model_test_accuracy": card.raw.get("training", {}).get("test_accuracy"),
        "weights_sha256": card.raw.get("weights_sha256"),
        "seed": seed,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.python_version()}",
        "image_size": size,
        "digit_box": box,
        "datasets": report,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument(
        "--count", type=int, default=1500, help="MNIST digits to redraw (half again, fat)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS_FILE)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    result = evaluate(args.model, args.count)
    result["seconds"] = round(time.perf_counter() - started, 1)
    print(f"model {args.model} ({result['model_precision']}), seed {result['seed']}")
    print(
        f"{'dataset':16} {'n':>5} {'baseline':>9} {'preprocessed':>13} {'no strokes':>11}", end=""
    )
    print(f" {'ms/img':>7}  baseline is")
    for name, row in result["datasets"].items():
        base, prep = row["baseline_result"], row["preprocessed_result"]
        plain = row["no_stroke_adjustment_result"]
        print(
            f"{name:16} {base['n']:5d} {base['accuracy']:9.2%} {prep['accuracy']:13.2%} "
            f"{plain['accuracy']:11.2%} {row['preprocess_ms_per_image']:7.2f}  {row['baseline']}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out} in {result['seconds']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
