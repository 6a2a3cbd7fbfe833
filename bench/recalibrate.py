"""Refit the calibration through the page's path, to compare it with the one training fitted.

    python -m bench.recalibrate [--model demo/hrnn_mnist.onnx] [--card weights/hrnn_mnist.json]
                                [--width-blind] [--out FILE]

The shipped recipe (`python -m train --recipe shipped`) fits the cautious width-aware
calibration itself, in its calibrate stage, on readings (logits, stroke widths, labels) that
training computes with torch on its validation sets (train.validation). This feeds the same
rule (train.calibrate.fit) the readings of the exported model on all the validation sets
`python -m bench.evaluate --validation` reads, with all 5,000 MNIST validation digits
redrawn, fat-brushed and box-stretched (1,000 were too few: the fat brush's cleared 99% by
luck), through the page's own path (the exported reader graph, demo.photo for pictures). The
rule: a temperature that warms past the familiar digits' stroke widths (the graph's
stroke_width output, so no re-export is needed to measure them), the least
at which answers shown at >= 90% are right >= 99% on every set with 95% confidence, while
MNIST's and the writers' ECE stay <= 0.03. The card keeps the training run's calibration
beside it (calibration_training). No test data is read.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from bench.evaluate import build_sets, read_set
from bench.handwriting import VALIDATION_SIZE
from bench.paths import REPO
from demo.reader import DEFAULT_MODEL, ModelError, Reader
from train.calibrate import Readings, calibrate, fit
from train.checkpoint import atomic_write_json
from train.data import DataError

DEFAULT_CARD = REPO / "weights" / "hrnn_mnist.json"
FAMILIAR = ("mnist_validation", "pendigits_validation")  # what a training run calibrates on


def validation_logits(
    classifier: Reader, data_dir: str | None, pendigits: str | None, count: int
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], dict[str, np.ndarray]]:
    """Raw logits and labels of every validation set (a picture with no ink counts as wrong),
    and the stroke width of every input (0 for those with no ink)."""
    sets = build_sets(data_dir, pendigits, [], validation=True, redraw_count=count)
    named, widths = {}, {}
    for each in sets:
        out = read_set(classifier, each.images, each.direct)
        labels = np.asarray(each.labels, dtype=np.int64).copy()
        labels[~out["ink_found"]] = -1  # no class: never right
        named[each.name] = (out["logits"], labels)
        widths[each.name] = out["stroke_width"].astype(np.float64)
    return named, widths


def recalibrated_card(
    card: dict,
    named: dict[str, tuple[np.ndarray, np.ndarray]],
    widths: dict[str, np.ndarray] | None = None,
) -> dict:
    """The card with the cautious calibration (the training run's kept: calibration_training)."""
    missing = [name for name in FAMILIAR if name not in named]
    if missing:
        raise DataError(f"the validation sets {missing} are needed to recalibrate")
    unfamiliar = [name for name in named if name not in FAMILIAR]
    updated = dict(card)
    updated.setdefault("calibration_training", card.get("calibration"))
    if widths is None:  # width-blind: one temperature for every digit, to compare
        updated["calibration"] = calibrate(
            {name: named[name] for name in FAMILIAR}, {name: named[name] for name in unfamiliar}
        )
    else:
        readings = {name: Readings(lg, widths[name], lb) for name, (lg, lb) in named.items()}
        updated["calibration"] = fit(
            {name: readings[name] for name in FAMILIAR},
            {name: readings[name] for name in unfamiliar},
        )
    return updated


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="the exported weights")
    parser.add_argument(
        "--card", type=Path, default=DEFAULT_CARD, help="the weights card to update"
    )
    parser.add_argument("--data-dir", help="MNIST folder (default: $HRNN_MNIST_DATA, ../shared)")
    parser.add_argument("--pendigits", help="pendigits file or folder (default: ../shared)")
    parser.add_argument(
        "--width-blind",
        action="store_true",
        help="one temperature for every digit, however wide its strokes (to compare)",
    )
    parser.add_argument("--out", type=Path, help="write the card here (default: --card itself)")
    parser.add_argument(
        "--redraw-count",
        type=int,
        default=VALIDATION_SIZE,
        help="validation digits redrawn, fat-brushed and box-stretched (default: all of them)",
    )
    args = parser.parse_args(argv)
    try:
        card = json.loads(args.card.read_text())
        classifier = Reader(args.model)
        if classifier.card.raw.get("weights_sha256") != card.get("weights_sha256"):
            raise ModelError(
                f"{args.model} was not exported from the weights {args.card} describes"
            )
        named, widths = validation_logits(
            classifier, args.data_dir, args.pendigits, args.redraw_count
        )
        updated = recalibrated_card(card, named, None if args.width_blind else widths)
    except (OSError, ValueError, ModelError, DataError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    calibration = updated["calibration"]
    warming = (
        f" x (width / {calibration['wide_from']:.2f}) ** {calibration['wide_power']:.2f} past "
        "that width"
        if "wide_power" in calibration
        else " for every width"
    )
    print(
        f"temperature {calibration['fitted_temperature']:.3f} (fitted) -> "
        f"{calibration['temperature']:.3f}{warming}: {calibration['temperature_rule']}; "
        f"sure at >= {calibration['sure_at']:.2f}"
    )
    for name, report in calibration["validation"].items():
        print(
            f"  {name:28s} n={report['n']:5d}  ECE {report['ece_before']:.3f} -> "
            f"{report['ece_after']:.3f}  right at >= 90%: {report['confident_accuracy']:.2%} "
            f"(95% low end {report['confident_lower_bound']:.2%})"
        )
    out = args.out or args.card
    atomic_write_json(updated, out)
    print(f"wrote {out}" + ("; now run: python -m export --quantize" if out == args.card else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
