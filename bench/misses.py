"""The answers a model gets wrong while showing >= 90%: a picture of each, to judge by eye.

    python -m bench.misses [--set mnist_fat_brush] [--model demo/hrnn_mnist.onnx] [--out PNG]

The evaluation's own sets (bench/handwriting.py, fixed seeds) read through the demo's path, as
bench.evaluate reads them. Each tile shows the picture as given (left) and the 28x28 the model
read (right), captioned "truth > read (confidence)". Whether a person could read the digit is
what tells a model's mistake from a drawing that no longer says which digit it is.
"""

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from bench import handwriting
from bench.evaluate import CONFIDENT, read_set
from demo.reader import DEFAULT_MODEL, ModelError, Reader
from train.data import DataError

TILE = 112  # px per image side: 4x the model's 28x28
CAPTION = 16
COLUMNS = 7


def find_set(name: str, data_dir: str | None, pendigits: str | None) -> handwriting.EvalSet:
    """One of the evaluation's sets by its row name."""
    if name.startswith("mnist"):
        sets = handwriting.mnist_sets(data_dir, validation="validation" in name)
    elif name.startswith("pendigits"):
        sets = handwriting.pendigits_sets(pendigits)
    else:
        sets = handwriting.sklearn_sets()
    for each in sets:
        if each.name == name:
            return each
    raise DataError(f"no set named {name!r}; its family has {', '.join(s.name for s in sets)}")


def confident_misses(classifier: Reader, each: handwriting.EvalSet) -> list[dict]:
    """Every input read wrong at >= CONFIDENT: its index, truth, answer, confidence, 28x28."""
    out = read_set(classifier, each.images, each.direct)
    probabilities, seen = out["probabilities"], out["image"]
    misses = []
    for index in np.flatnonzero(probabilities.max(axis=1) >= CONFIDENT):
        answer = int(probabilities[index].argmax())
        if answer != int(each.labels[index]):
            misses.append(
                {
                    "index": int(index),
                    "truth": int(each.labels[index]),
                    "read": answer,
                    "confidence": float(probabilities[index].max()),
                    "pixels": seen[int(index)],
                }
            )
    return misses


def _grey(image: object) -> Image.Image:
    """A picture of the sets as an 8-bit grey tile, a dark-on-light one cropped to its ink
    (a square with a margin) so a small drawing on a large canvas can still be judged."""
    array = np.asarray(image, dtype=np.float32)
    if array.ndim == 3:
        array = array[..., :3].mean(axis=-1)
    dark = array < 128
    if array.mean() > 127 and dark.any():
        rows, cols = np.flatnonzero(dark.any(axis=1)), np.flatnonzero(dark.any(axis=0))
        centre = ((rows[0] + rows[-1]) // 2, (cols[0] + cols[-1]) // 2)
        half = int(0.6 * max(rows[-1] - rows[0], cols[-1] - cols[0])) + 2
        array = np.pad(array, half, constant_values=255)
        array = array[centre[0] : centre[0] + 2 * half, centre[1] : centre[1] + 2 * half]
    return Image.fromarray(np.clip(array, 0, 255).astype(np.uint8)).resize((TILE, TILE))


def contact_sheet(each: handwriting.EvalSet, misses: list[dict]) -> Image.Image:
    rows = max(1, -(-len(misses) // COLUMNS))
    sheet = Image.new("L", (COLUMNS * (2 * TILE + 8), rows * (TILE + CAPTION)), 255)
    pen = ImageDraw.Draw(sheet)
    for k, miss in enumerate(misses):
        x, y = (k % COLUMNS) * (2 * TILE + 8), (k // COLUMNS) * (TILE + CAPTION)
        sheet.paste(_grey(each.images[miss["index"]]), (x, y + CAPTION))
        seen = Image.fromarray(miss["pixels"].astype(np.uint8)).resize((TILE, TILE), Image.NEAREST)
        sheet.paste(seen, (x + TILE, y + CAPTION))
        caption = f"{miss['truth']} > {miss['read']} ({miss['confidence']:.0%})"
        pen.text((x + 4, y + 2), caption, fill=0)
    return sheet


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", default="mnist_fat_brush", help="a row name of bench.evaluate")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--data-dir", help="MNIST folder (default: $HRNN_MNIST_DATA, ../shared)")
    parser.add_argument("--pendigits", help="pendigits file or folder (default: ../shared)")
    parser.add_argument("--out", type=Path, help="PNG to write (default: print only)")
    args = parser.parse_args(argv)
    try:
        each = find_set(args.set, args.data_dir, args.pendigits)
        misses = confident_misses(Reader(args.model), each)
    except (ModelError, DataError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    shown = ", ".join(f"{m['truth']}>{m['read']} {m['confidence']:.0%}" for m in misses)
    print(f"{args.set}: {len(misses)} of {len(each.labels)} read wrong at >= {CONFIDENT:.0%}")
    print(shown or "none")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        contact_sheet(each, misses).save(args.out)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
