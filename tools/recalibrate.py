"""Refit the weights card's calibration on every validation set, unfamiliar ones included.

    python -m tools.recalibrate [--model demo/hrnn_mnist.onnx] [--card weights/hrnn_mnist.json]
    python -m export --quantize        # then carry the new calibration into the ONNX files

Training calibrates on what it holds out (MNIST validation, the pendigits validation writers).
Those are the digits the model knows best; fat pens and box-stretched scans are where it is
confidently wrong. This reads all the validation sets `python -m tools.evaluate --validation`
reads, through the page's own path (the exported model, demo.preprocess for pictures), and
applies train.calibrate's cautious rule: the least temperature at which answers shown at >= 90%
are right >= 99% on every one of them, while MNIST's and the writers' ECE stay <= 0.03. The
card keeps the training run's calibration beside it. No test data is read.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from demo.classifier import DEFAULT_MODEL, Classifier, ModelError
from tools.evaluate import build_sets, prepare, read_all
from tools.paths import REPO
from train.calibrate import calibrate
from train.checkpoint import atomic_write_json
from train.data import DataError

DEFAULT_CARD = REPO / "weights" / "hrnn_mnist.json"
FAMILIAR = ("mnist_validation", "pendigits_validation")  # what a training run calibrates on


def validation_logits(
    classifier: Classifier, data_dir: str | None, pendigits: str | None
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Raw logits and labels of every validation set; a picture with no ink counts as wrong."""
    card = classifier.card
    sets = build_sets(data_dir, pendigits, [], validation=True)
    named = {}
    for each in sets:
        batch, readable = prepare(each.images, each.direct, card.image_size, card.digit_box)
        logits = read_all(classifier, batch, readable, len(each.labels), logits=True)
        labels = np.asarray(each.labels, dtype=np.int64)
        unreadable = np.setdiff1d(np.arange(len(labels)), readable)
        labels[unreadable] = -1  # no class: never right
        named[each.name] = (logits, labels)
    return named


def recalibrated_card(card: dict, named: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict:
    """The card with the cautious calibration (the training run's kept: calibration_training)."""
    missing = [name for name in FAMILIAR if name not in named]
    if missing:
        raise DataError(f"the validation sets {missing} are needed to recalibrate")
    familiar = {name: named[name] for name in FAMILIAR}
    unfamiliar = {name: pair for name, pair in named.items() if name not in FAMILIAR}
    updated = dict(card)
    updated.setdefault("calibration_training", card.get("calibration"))
    updated["calibration"] = calibrate(familiar, unfamiliar)
    return updated


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="the exported weights")
    parser.add_argument(
        "--card", type=Path, default=DEFAULT_CARD, help="the weights card to update"
    )
    parser.add_argument("--data-dir", help="MNIST folder (default: $HRNN_MNIST_DATA, ../shared)")
    parser.add_argument("--pendigits", help="pendigits file or folder (default: ../shared)")
    args = parser.parse_args(argv)
    try:
        card = json.loads(args.card.read_text())
        classifier = Classifier(args.model)
        if classifier.card.raw.get("weights_sha256") != card.get("weights_sha256"):
            raise ModelError(
                f"{args.model} was not exported from the weights {args.card} describes"
            )
        named = validation_logits(classifier, args.data_dir, args.pendigits)
        updated = recalibrated_card(card, named)
    except (OSError, ValueError, ModelError, DataError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    calibration = updated["calibration"]
    print(
        f"temperature {calibration['fitted_temperature']:.3f} (fitted) -> "
        f"{calibration['temperature']:.3f}: {calibration['temperature_rule']}; "
        f"sure at >= {calibration['sure_at']:.2f}"
    )
    for name, report in calibration["validation"].items():
        print(
            f"  {name:28s} n={report['n']:5d}  ECE {report['ece_before']:.3f} -> "
            f"{report['ece_after']:.3f}  right at >= 90%: {report['confident_accuracy']:.2%}"
        )
    atomic_write_json(updated, args.card)
    print(f"wrote {args.card}; now run: python -m export --quantize")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
