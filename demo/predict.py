"""Read handwritten digits from image files, one JSON object per line per file.

    python -m demo.predict IMAGE... [--model PATH | --int8]

Each file goes through the app's own upload path (demo.photo's ink, then the reader graph
through demo.reader) and prints {"file", "label", "confidence", "sure", "probabilities":
{class name: p}};
"sure" is false when the calibrated confidence is under the card's threshold. A file that
cannot be read, or holds no digit, prints {"file", "error"} instead. Every file is reported;
the exit status is 1 if any file had an error, 2 if the model itself cannot be loaded, else 0.
"""

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from demo.photo import photo_ink
from demo.reader import DEFAULT_MODEL, INT8_MODEL, ModelError, PreprocessError, Reader

NO_INK = "no ink found: the image looks blank (or holds only a dot)"


def read_digit(reader: Reader, image: object) -> dict:
    """The JSON record for one image, or {"error": sentence}."""
    try:
        ink = photo_ink(image)
        reading = None if ink is None else reader.read(ink)
    except (PreprocessError, ModelError) as error:
        return {"error": str(error)}
    return {"error": NO_INK} if reading is None else reading.record()


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
    for record in predict_files(reader, args.images):
        failed |= "error" in record
        print(json.dumps(record), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
