"""Weights side by side on the validation sets a run decides with (never test):

    python -m bench.validation_compare runs/shipped/hrnn_mnist.pt weights/hrnn_mnist.pt
                                       [--data-dir DIR] [--pendigits FILE] [--out FILE]

The sets are the shipped recipe's: all 5,000 MNIST validation digits, the 1,000 validation
writers' digits drawn as training draws them, and the MNIST validation digits fat-markered and
box-stretched (train.validation). For each: accuracy, and how often answers shown at >= 90%
under the weights' own card calibration are right.
"""

import argparse
import json
import shlex
import sys
from pathlib import Path

import numpy as np
import torch

from bench.paths import write_json
from train.calibrate import confident_accuracy, softmax, warm
from train.checkpoint import CheckpointError, load_weights
from train.config import make_config
from train.data import DataError
from train.datasets import split_data, stroke_data
from train.validation import validation_readings


def validation_data(data_dir: str | None, pendigits: str | None) -> dict:
    config = make_config("shipped", data_dir=data_dir, pendigits_path=pendigits, download=False)
    data, _ = split_data(config)
    _, pen_val, _ = stroke_data(config)
    data["val_pen"] = pen_val
    return {k: tuple(torch.from_numpy(np.array(a)) for a in v) for k, v in data.items()}


def scores(weights: Path, data: dict) -> dict:
    """Per set: n, accuracy, and right-when-confident under the card's calibration."""
    model = load_weights(weights)
    card_path = weights.with_suffix(".json")
    card = json.loads(card_path.read_text()) if card_path.is_file() else {}
    calibration = card.get("calibration") or {"temperature": 1.0}
    familiar, unfamiliar = validation_readings(model, data, cautious=True)
    out = {}
    for name, r in {**familiar, **unfamiliar}.items():
        temperatures = warm(
            r.widths,
            calibration["temperature"],
            calibration.get("wide_from", 1.0),
            calibration.get("wide_power", 0.0),
        )
        probs = softmax(r.logits, temperatures[:, None])
        out[name] = {
            "n": len(r.labels),
            "accuracy": float((r.logits.argmax(1) == r.labels).mean()),
            "confident_accuracy": confident_accuracy(probs, r.labels),
            "confident_share": float((probs.max(1) >= 0.9).mean()),
        }
    return {"weights": str(weights), "recipe": card.get("recipe"), "sets": out}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", nargs="+", type=Path, help="weights files (cards beside)")
    parser.add_argument("--data-dir", help="MNIST folder (default: $HRNN_MNIST_DATA, cache)")
    parser.add_argument("--pendigits", help="pendigits file or folder (default: ../shared)")
    parser.add_argument("--out", type=Path, help="also write the table as JSON here")
    args = parser.parse_args(argv)
    torch.set_num_threads(min(2, torch.get_num_threads()))
    try:
        data = validation_data(args.data_dir, args.pendigits)
        results = [scores(path, data) for path in args.weights]
    except (OSError, ValueError, DataError, CheckpointError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for result in results:
        print(f"{result['weights']} (recipe {result['recipe']}):")
        for name, s in result["sets"].items():
            print(
                f"  {name:30s} n={s['n']:5d}  accuracy {s['accuracy']:.2%}  "
                f"right at >= 90%: {s['confident_accuracy']:.2%} of {s['confident_share']:.1%}"
            )
    if args.out is not None:
        given = sys.argv[1:] if argv is None else argv
        command = shlex.join(["python", "-m", "bench.validation_compare", *given])
        write_json(args.out, {"command": command, "results": results})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
