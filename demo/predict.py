"""Read handwritten digits from image files, one JSON object per line per file.

    python -m demo.predict IMAGE... [--model PATH | --int8]

Each file goes through the app's own path (demo.preprocess.to_mnist, then the ONNX model) and
prints {"file", "label", "confidence", "probabilities": {class name: p}}; a file that cannot
be read, or holds no digit, prints {"file", "error"} instead. Every file is reported; the exit
status is 1 if any file had an error, 2 if the model itself cannot be loaded, else 0.
"""

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from demo.classifier import DEFAULT_MODEL, INT8_MODEL, Classifier, ModelError
from demo.preprocess import PreprocessError, to_mnist

NO_INK = "no ink found: the image looks blank (or holds only a dot)"


def read_digit(classifier: Classifier, image: object) -> dict:
    """Label, confidence and class probabilities for one image, or {"error": sentence}."""
    card = classifier.card
    try:
        digit = to_mnist(image, card.image_size, card.digit_box)
    except PreprocessError as error:
        return {"error": str(error)}
    if digit is None:
        return {"error": NO_INK}
    probabilities = classifier.predict(digit).probabilities[0]
    best = int(probabilities.argmax())
    return {
        "label": card.class_names[best],
        "confidence": round(float(probabilities[best]), 6),
        "probabilities": {
            name: round(float(p), 6)
            for name, p in zip(card.class_names, probabilities, strict=True)
        },
    }


def predict_files(classifier: Classifier, files: Iterable[str]) -> Iterator[dict]:
    for name in files:
        yield {"file": name, **read_digit(classifier, name)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m demo.predict", description=__doc__.split("\n")[0]
    )
    parser.add_argument("images", nargs="+", help="image files (PNG, JPEG, ...)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument(
        "--model", type=Path, default=None, help=f"ONNX model (default {DEFAULT_MODEL.name})"
    )
    which.add_argument("--int8", action="store_true", help=f"use {INT8_MODEL.name}")
    args = parser.parse_args(argv)
    model = args.model or (INT8_MODEL if args.int8 else DEFAULT_MODEL)
    try:
        classifier = Classifier(model)
    except ModelError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    failed = False
    for record in predict_files(classifier, args.images):
        failed |= "error" in record
        print(json.dumps(record), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
