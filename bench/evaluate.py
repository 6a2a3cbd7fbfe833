"""Side by side: how often each model is right, and whether its confidence means what it says.

    python -m bench.evaluate [--models NAME=PATH.onnx ...] [--data-dir DIR] [--out FILE]

Every model goes through the demo's own path: the reader graph through demo.reader.Reader
(calibrated inside the graph), MNIST-style 28x28 digits as ink = pixels / 255 and pictures as
uploads (demo.photo.photo_ink first). The sets are built by bench/handwriting.py with fixed
seeds. Columns: accuracy; ECE (15 equal-width bins of the top probability); the share of
answers shown at >= 90% and how often those are right; the share below the card's sure_at
("not sure"). A picture with nothing read in it, or refused, counts as wrong at confidence 0
("unreadable"; "read as nothing" in the worst classes).
Prints markdown and writes results/evaluation.json.
"""

import argparse
import hashlib
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bench import handwriting
from bench.paths import REPO, RESULTS, write_json
from demo.photo import photo_ink
from demo.reader import DEFAULT_MODEL, ModelError, PreprocessError, Reader
from train.calibrate import CONFIDENT, ECE_BINS, calibration_error, wilson
from train.data import DataError

RESULTS_FILE = RESULTS / "evaluation.json"
SEED_MODEL = RESULTS / "seed" / "hrnn_mnist_seed.onnx"
WORST_CLASSES = 3
CHUNK = 64  # planes of one size per Reader.run call; it runs them RUN_BATCH at a time


def score(probabilities: np.ndarray, labels: np.ndarray, sure_at: float, classes: int) -> dict:
    """Every number of one (model, set) cell; an all-zero row is an unreadable picture."""
    top = probabilities.max(axis=1)
    guess = np.where(top > 0, probabilities.argmax(axis=1), -1)
    right = guess == labels
    confident = top >= CONFIDENT
    unsure = top < sure_at
    confusion = np.zeros((classes, classes + 1), dtype=np.int64)  # last column: unreadable
    np.add.at(confusion, (labels, np.where(guess < 0, classes, guess)), 1)
    n = len(labels)
    return {
        "n": n,
        "correct": int(right.sum()),
        "accuracy": _ratio(right.sum(), n),
        "ece": round(calibration_error(top, right), 4),
        "mean_confidence": round(float(top.mean()), 4) if n else None,
        "confident_share": _ratio(confident.sum(), n),
        "confident_accuracy": _ratio(right[confident].sum(), confident.sum()),
        "wrong_at_confident": int((~right & confident).sum()),
        "confident_accuracy_95": interval(int(right[confident].sum()), int(confident.sum())),
        "not_sure_share": _ratio(unsure.sum(), n) if sure_at > 0 else None,
        "sure_accuracy": _ratio(right[~unsure].sum(), (~unsure).sum()) if sure_at > 0 else None,
        "unreadable": int((guess < 0).sum()),  # no ink, or refused
        "confusion": confusion.tolist(),
        "worst_classes": worst_classes(confusion, WORST_CLASSES),
    }


def worst_classes(confusion: np.ndarray, count: int) -> list[str]:
    """'1: 12/105 wrong, mostly read as 7' for the classes with the highest error rates."""
    classes = len(confusion)
    totals = confusion.sum(axis=1)
    wrong = totals - confusion[np.arange(classes), np.arange(classes)]
    rates = wrong / np.maximum(totals, 1)
    lines = []
    for label in sorted(range(classes), key=lambda c: (-rates[c], -wrong[c], c))[:count]:
        if wrong[label] == 0:
            break
        errors = confusion[label].copy()
        errors[label] = 0
        read_as = int(errors.argmax())
        what = "nothing" if read_as == classes else str(read_as)
        lines.append(
            f"{label}: {wrong[label]}/{totals[label]} wrong, mostly read as {what} "
            f"({errors[read_as]})"
        )
    return lines


def interval(right: int, shown: int) -> list[float] | None:
    """train.calibrate.wilson, rounded for the JSON."""
    bounds = wilson(right, shown)
    return None if bounds is None else [round(bound, 4) for bound in bounds]


def _ratio(part, whole) -> float | None:
    return round(float(part) / float(whole), 4) if whole else None


def _recipe_name(recipe: object) -> str | None:
    """Cards name their recipe; cards before the one-Config change held the recipe's dict."""
    return recipe.get("name") if isinstance(recipe, dict) else recipe


def model_facts(name: str, path: Path, classifier: Reader) -> dict:
    """What the JSON needs to say which model this was: file, weights and recipe."""
    card = classifier.card.raw
    training = card.get("training", {})
    return {
        "name": name,
        "path": _shown(path),
        "file_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "weights_sha256": card.get("weights_sha256"),
        "recipe": _recipe_name(training.get("recipe")),
        "training_command": training.get("command"),
        "precision": card.get("precision"),
        "temperature": classifier.card.temperature,
        "wide_from": classifier.card.wide_from,  # past this stroke width the temperature warms
        "wide_power": classifier.card.wide_power,  # ... this fast (0: width never matters)
        "sure_at": classifier.card.sure_at,
        "card_mnist_test_accuracy": training.get("test_accuracy"),
    }


def code_version() -> dict:
    """The commit, and which files the preprocessing and models depend on were edited since."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--", "demo", "bench", "train"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "edited": None}
    return {"commit": commit, "edited": sorted(line[3:] for line in status.splitlines())}


def _shown(path: Path) -> str:
    resolved = path.resolve()
    return str(resolved.relative_to(REPO)) if resolved.is_relative_to(REPO) else str(path)


def build_sets(
    data_dir: str | None,
    pendigits: str | None,
    notes: list[str],
    validation: bool = False,
    redraw_count: int | None = None,
) -> list:
    """Every set the table has rows for; a missing optional source is a note, not a failure.

    validation: only sets made of validation data (MNIST's held-out training digits, the
    pendigits validation writers), for choosing between models without looking at test.
    """
    sets = handwriting.mnist_sets(data_dir, validation, redraw_count)
    if sets[0].source.startswith("FALLBACK"):
        notes.append(f"MNIST test: full set not found, using {sets[0].source}")
    try:
        pen = handwriting.pendigits_sets(pendigits)
        sets += [each for each in pen if each.name.endswith("validation") or not validation]
    except DataError as error:
        notes.append(f"pendigits rows left out: {error}")
    if validation:
        return sets
    try:
        sets += handwriting.sklearn_sets()
    except ImportError:
        notes.append("sklearn_digits row left out: scikit-learn is not installed (dev extra)")
    return sets


def ink_of(image: object, direct: bool) -> np.ndarray | None:
    """The plane the page hands the graph: a 28x28 digit's pixels / 255, a picture's photo ink
    (None where demo.photo finds nothing, or the page would refuse it)."""
    if direct:
        return np.asarray(image, np.float32) / np.float32(255)
    try:
        return photo_ink(image)
    except PreprocessError:
        return None


def read_set(reader: Reader, images: list, direct: bool) -> dict[str, np.ndarray]:
    """Every graph output for every input (zeros, ink_found false, where nothing was read)."""
    card = reader.card
    n, classes, size = len(images), len(card.class_names), card.image_size
    out = {
        "probabilities": np.zeros((n, classes), np.float32),
        "logits": np.zeros((n, classes), np.float32),
        "image": np.zeros((n, size, size), np.float32),
        "stroke_width": np.zeros(n, np.float32),
        "ink_found": np.zeros(n, bool),
    }
    planes = [ink_of(image, direct) for image in images]
    shapes: dict[tuple, list[int]] = {}
    for index, plane in enumerate(planes):
        if plane is not None:
            shapes.setdefault(plane.shape, []).append(index)
    for indices in shapes.values():  # planes of one size run together
        for start in range(0, len(indices), CHUNK):
            chunk = indices[start : start + CHUNK]
            result = reader.run(np.stack([planes[i] for i in chunk]))
            for key, array in out.items():
                array[chunk] = result[key]
    return out


def evaluate(
    models: dict[str, Path],
    data_dir: str | None = None,
    pendigits: str | None = None,
    command: str = "python -m bench.evaluate",
    validation: bool = False,
    redraw_count: int | None = None,
) -> dict:
    """The whole table as a dict: models, sets, and every (set, model) cell's numbers."""
    started, cpu_started, load = time.perf_counter(), time.process_time(), os.getloadavg()[0]
    classifiers = {name: Reader(path) for name, path in models.items()}
    facts = {name: model_facts(name, path, classifiers[name]) for name, path in models.items()}
    notes: list[str] = []
    sets = build_sets(data_dir, pendigits, notes, validation, redraw_count)
    rows = {}
    for each in sets:
        cells = {}
        for name, classifier in classifiers.items():
            card = classifier.card
            probabilities = read_set(classifier, each.images, each.direct)["probabilities"]
            classes = len(card.class_names)
            cells[name] = score(probabilities, each.labels, card.sure_at, classes)
        rows[each.name] = {
            "source": each.source,
            "note": each.note,
            "fed": "28x28 as ink = pixels / 255" if each.direct else "picture through demo.photo",
            "n": len(each.labels),
            "models": cells,
        }
    return {
        "command": command,
        "code": code_version(),
        "models": facts,
        "seeds": handwriting.SEEDS,
        "canvas": {"pendigits": handwriting.CANVAS, "brush_px": handwriting.BRUSH},
        "ece_bins": ECE_BINS,
        "confident_at": CONFIDENT,
        "notes": notes,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.python_version()}",
        "sets": rows,
        "seconds": round(time.perf_counter() - started, 1),
        "cpu_seconds": round(time.process_time() - cpu_started, 1),  # this process, all threads
        "load_average_1min": {"start": round(load, 2), "end": round(os.getloadavg()[0], 2)},
    }


def markdown(result: dict) -> str:
    """The side-by-side table, then the worst classes per set and model."""

    def pct(value) -> str:
        return "-" if value is None else f"{value:.2%}"

    lines = [
        "| set | n | model | accuracy | ECE | shown >= 90%: share (accuracy) | not sure |",
        "|---|---:|---|---:|---:|---|---:|",
    ]
    worst = ["| set | model | worst classes |", "|---|---|---|"]
    for set_name, row in result["sets"].items():
        label = set_name + (" (validation)" if "VALIDATION" in row["note"] else "")
        for model, cell in row["models"].items():
            confident = f"{pct(cell['confident_share'])} ({pct(cell['confident_accuracy'])})"
            lines.append(
                f"| {label} | {row['n']} | {model} | {pct(cell['accuracy'])} | {cell['ece']:.3f} "
                f"| {confident} | {pct(cell['not_sure_share'])} |"
            )
            worst.append(f"| {label} | {model} | {'; '.join(cell['worst_classes']) or '-'} |")
    return "\n".join(lines + [""] + worst)


def parse_models(values: list[str] | None) -> dict[str, Path]:
    """NAME=PATH pairs; by default the shipped model, and the seed model once it is exported."""
    if not values:
        models = {"shipped": DEFAULT_MODEL}
        if SEED_MODEL.is_file():
            models = {"seed": SEED_MODEL, **models}
        return models
    models = {}
    for value in values:
        name, _, path = value.partition("=")
        if not name or not path:
            raise SystemExit(f"--models takes NAME=PATH.onnx, not {value!r}")
        models[name] = Path(path)
    return models


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", metavar="NAME=PATH.onnx")
    parser.add_argument("--data-dir", help="MNIST folder (default: $HRNN_MNIST_DATA, ../shared)")
    parser.add_argument("--pendigits", help="pendigits file or folder (default: ../shared)")
    parser.add_argument("--out", type=Path, default=RESULTS_FILE)
    parser.add_argument(
        "--validation",
        action="store_true",
        help="validation sets only (to choose between models); needs the full MNIST",
    )
    parser.add_argument(
        "--redraw-count",
        type=int,
        default=handwriting.REDRAW_COUNT,
        help="MNIST digits in the redrawn, fat-brush and box sets (more: tighter intervals)",
    )
    args = parser.parse_args(argv)
    argv = sys.argv[1:] if argv is None else argv
    command = " ".join(["python -m bench.evaluate", *argv])
    try:
        models = parse_models(args.models)
        if args.redraw_count < 1:
            parser.error("--redraw-count must be at least 1")
        result = evaluate(
            models, args.data_dir, args.pendigits, command, args.validation, args.redraw_count
        )
    except (ModelError, DataError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for note in result["notes"]:
        print(f"note: {note}")
    print(markdown(result))
    write_json(args.out, result)
    print(f"wrote {args.out}: {result['seconds']} s wall, {result['cpu_seconds']} s CPU")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
