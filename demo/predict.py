"""Read handwritten digits from image files, one JSON object per line per file.

    python -m demo.predict IMAGE... [--model PATH | --int8]

Each file goes through the app's own upload path (demo.photo's ink, demo.numbers' digits,
the reader graph through demo.reader). One digit prints {"file", "label", "confidence",
"sure", "probabilities": {class name: p}}; "sure" is false when the calibrated confidence is
under the card's threshold. Several digits print {"file", "number", "confidence", "sure",
"digits": [{"label", "confidence", "sure", "runner_up", "box"}, ...]} (docs/numbers.md); no
flag is needed, the ink decides. Digits that touch print {"file", "error", "touching"}. A
file that cannot be read, or holds no digit, prints {"file", "error"} instead. Every file is
reported; the exit status is 1 if any file had an error, 2 if the model itself cannot be
loaded, else 0.
"""

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from demo.reader import DEFAULT_MODEL, INT8_MODEL, ModelError, PreprocessError, Reader
from demo.reading import read_picture, record

NO_INK = "no ink found: the image looks blank (or holds only a dot)"


def read_digit(reader: Reader, image: object) -> dict:
    """The JSON record for one image (a digit's or a number's), or {"error": sentence}."""
    try:
        return record(read_picture(reader, image), NO_INK)
    except (PreprocessError, ModelError) as error:
        return {"error": str(error)}


def predict_files(reader: Reader, files: Iterable[str]) -> Iterator[dict]:
    for name in files:
        yield {"file": name, **read_digit(reader, name)}


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
        reader = Reader(model)
    except ModelError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    failed = False
    for line in predict_files(reader, args.images):
        failed |= "error" in line
        print(json.dumps(line), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
