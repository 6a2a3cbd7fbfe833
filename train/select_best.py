"""Ship the run with the best validation accuracy: `python -m train.select_best RUN_DIR...`.

The test set plays no part in the choice; it is only reported.
"""

import argparse
import shutil
import sys
from pathlib import Path

from train.checkpoint import sha256_file
from train.report import load_json


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.select_best", description=__doc__)
    parser.add_argument("runs", nargs="+", type=Path, help="finished run folders")
    parser.add_argument("--weights-out", type=Path, default=Path("weights/hrnn_mnist.pt"))
    args = parser.parse_args(argv)
    cards = {}
    for run in args.runs:
        card_path = run / "hrnn_mnist.json"
        if not card_path.is_file():
            print(f"error: {run} has no hrnn_mnist.json: is the run finished?", file=sys.stderr)
            return 2
        card = load_json(card_path)
        if card.get("val_accuracy") is None:
            print(f"error: {run} has no validation accuracy to choose by", file=sys.stderr)
            return 2
        weights = run / "hrnn_mnist.pt"
        if not weights.is_file() or sha256_file(weights) != card.get("weights_sha256"):
            print(f"error: {weights} is missing or does not match its card", file=sys.stderr)
            return 2
        cards[run] = card
        test = card.get("test_accuracy")
        reported = "test not reported" if test is None else f"test {test:.4f} (reported only)"
        print(f"{run}: validation {card['val_accuracy']:.4f}, {reported}")
    if not args.weights_out.parent.is_dir():
        print(f"error: folder {args.weights_out.parent} does not exist", file=sys.stderr)
        return 2
    chosen = max(cards, key=lambda run: cards[run]["val_accuracy"])
    shutil.copyfile(chosen / "hrnn_mnist.pt", args.weights_out)
    shutil.copyfile(chosen / "hrnn_mnist.json", args.weights_out.with_suffix(".json"))
    print(f"shipped {chosen} -> {args.weights_out} (+ .json card)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
