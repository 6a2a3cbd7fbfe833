"""python -m export: weights -> demo/hrnn_mnist.onnx, proven equal to PyTorch before it ships.

Every file is written to a temporary name in the target folder and renamed over the old
one only after it passed: a failed export, parity check or int8 check leaves the
shipped model as it was.
"""

import argparse
import shlex
import sys
import time
from dataclasses import asdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_WEIGHTS = Path("weights") / "hrnn_mnist.pt"  # in the checkout, wherever it is run from
DEFAULT_OUTPUT = Path("demo") / "hrnn_mnist.onnx"
INT8_SUFFIX = "_int8"  # demo/hrnn_mnist.onnx -> demo/hrnn_mnist_int8.onnx


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m export",
        description="Export the trained HRNN to ONNX with its model card, check parity "
        "against PyTorch and a numpy reference through demo.reader, optionally add int8.",
    )
    parser.add_argument(
        "--weights", type=Path, default=None, help=f"default: {DEFAULT_WEIGHTS} in this checkout"
    )
    parser.add_argument(
        "--output", type=Path, default=None, help=f"default: {DEFAULT_OUTPUT} in this checkout"
    )
    parser.add_argument(
        "--quantize", action="store_true", help="also write <output>_int8.onnx if it qualifies"
    )
    digits = parser.add_mutually_exclusive_group()
    digits.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="MNIST folder whose validation split the parity check and the int8 gate read "
        "(default: $HRNN_MNIST_DATA, then ~/.cache/hrnn-mnist/mnist, downloading there if "
        "needed); the test split is never read",
    )
    digits.add_argument(
        "--sample",
        type=Path,
        default=None,
        help="check parity on this .npz (arrays images (N, 28, 28), labels (N,)) instead of MNIST",
    )
    parser.add_argument("--offline", action="store_true", help="never download MNIST")
    parser.add_argument(
        "--opset", type=int, default=None, help="ONNX opset (default: the exporter's choice)"
    )
    parser.add_argument(
        "--results", type=Path, default=None, help="also write the tables as JSON here"
    )
    args = parser.parse_args(argv)
    args.command = shlex.join(["python", "-m", "export", *map(str, argv)])
    args.weights = args.weights or REPO / DEFAULT_WEIGHTS
    args.output = args.output or REPO / DEFAULT_OUTPUT
    return args


class _Int8Rejected(Exception):
    """The int8 model failed a gate; raised inside the atomic write to discard it."""


def run(args: argparse.Namespace) -> int:
    # Heavy imports here, so --help and argument errors are instant.
    from export.onnx_export import (
        ExportError,
        add_to_card,
        build_card,
        card_path_for,
        check_proto,
        export_proto,
        load_model_and_card,
        set_card,
        write_model,
    )
    from export.parity import ALLOWED, check_parity
    from export.quantize import LIMITS, evaluate_int8, quantize_file, validation_digits
    from train.checkpoint import atomic_write, atomic_write_json, sha256_file

    start = time.perf_counter()
    output = args.output.resolve()
    if not output.parent.is_dir():
        raise ExportError(f"cannot write {output}: folder {output.parent} does not exist")
    if output.suffix != ".onnx":
        raise ExportError(f"output {output} must end in .onnx")
    model, training = load_model_and_card(args.weights)
    if training is None:
        print(
            f"WARNING: no weights card {card_path_for(args.weights)}; the model card will say "
            "'no weights card found' instead of how these weights were trained",
            file=sys.stderr,
        )
    images, labels, source = validation_digits(args.data_dir, args.sample, not args.offline)
    card = build_card(model, training, sha256_file(args.weights), {})
    proto, card["exporter"] = export_proto(model, card, args.opset)
    set_card(proto, card)
    check_proto(proto, model.config)
    exported = time.perf_counter()
    print(
        f"exported {args.weights} with {card['exporter']['method']}, "
        f"opset {card['exporter']['opset']} "
        f"({exported - start:.1f} s)"
    )

    measured = {"command": args.command, "allowed": ALLOWED, "exporter": card["exporter"]}

    def write_checked(tmp: Path) -> None:
        write_model(proto, tmp)
        report = check_parity(model, tmp, images, labels, source)
        measured["parity"] = [asdict(c) | {"passed": c.passed} for c in report.comparisons]
        measured["parity_notes"] = report.notes
        print(
            "parity, torch module and numpy reference vs demo.reader.Reader "
            f"({report.seconds:.1f} s):"
        )
        print("\n".join(report.lines()))
        if not report.passed:
            raise ExportError(f"parity check failed, so {output} was left unchanged")

    atomic_write(output, write_checked)
    size_mb = output.stat().st_size / 1e6
    print(f"wrote {output} ({size_mb:.2f} MB), export + parity {time.perf_counter() - start:.1f} s")

    if args.quantize:
        int8_path = output.with_name(output.stem + INT8_SUFFIX + output.suffix)

        def write_int8(tmp: Path) -> None:
            quantize_file(output, tmp)
            report = evaluate_int8(output, tmp, images, labels, source)
            print(report.line())
            measured["int8"] = asdict(report) | {"qualifies": report.qualifies, "allowed": LIMITS}
            if not report.qualifies:
                raise _Int8Rejected(report.why_not())
            add_to_card(tmp, report.card_fields())

        try:
            atomic_write(int8_path, write_int8)
            print(f"wrote {int8_path} ({int8_path.stat().st_size / 1e6:.2f} MB)")
        except _Int8Rejected as failed:
            stale = " and removed the stale one" if int8_path.exists() else ""
            int8_path.unlink(missing_ok=True)
            print(f"int8 model {failed}: not written{stale}")
    if args.results is not None:
        atomic_write_json(measured, args.results)
        print(f"wrote {args.results}")
    print(f"done in {time.perf_counter() - start:.1f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    from demo.reader import ModelError
    from export.onnx_export import ExportError
    from export.quantize import QuantizeError
    from train.checkpoint import CheckpointError
    from train.data import DataError

    try:
        return run(args)
    except (ExportError, CheckpointError, QuantizeError, ModelError, DataError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
