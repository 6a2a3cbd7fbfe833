"""Train the HRNN: `python -m train` (the Keras example's recipe), `--recipe shipped` (every
stage of what ships: fine-tune `best`'s weights, select, calibrate, finish, report).

Stages: train (epochs, judged on validation) -> select (best validation epoch) -> calibrate
(on validation sets) -> finish (weights + card) -> report (MNIST test, once, reported only).
A killed run continues with the same command and --resume; finished stages are skipped.

Multi-GPU / multi-node: `torchrun --nproc_per_node=N -m train ...` (DDP; --batch-size is
per process).
"""

import argparse
import os
import shlex
import sys
from pathlib import Path

import torch

from train.checkpoint import CheckpointError
from train.config import RECIPES, make_config
from train.data import DATA_DIR_ENV, DataError
from train.device import DeviceError
from train.run import TrainError, run


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m train",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--recipe",
        default="seed",
        choices=sorted(RECIPES),
        help="seed = the Keras example (default); fast = seed's accuracy in fewest GPU seconds; "
        "best = strongest on MNIST (shipped's starting weights); writers = best fine-tuned on "
        "MNIST + pendigits strokes; shipped = what ships (writers, 8 epochs, box 0.1, bf16, "
        "cautious calibration); strangers = the writers data from a random start (a GPU run)",
    )
    parser.add_argument("--epochs", type=int, help="override the recipe's epochs")
    parser.add_argument("--batch-size", type=int, help="override the recipe's batch size")
    parser.add_argument("--lr", type=float, help="override the recipe's learning rate")
    parser.add_argument(
        "--init-from", help="start from these weights (writers: weights/hrnn_mnist_best.pt)"
    )
    parser.add_argument(
        "--box",
        type=float,
        help="with augmentation: share of digits stretched to fill a square, one bit a pixel",
    )
    parser.add_argument(
        "--marker", type=float, help="with augmentation: share of digits drawn with a fat marker"
    )
    parser.add_argument("--row-hidden", type=int, default=128, help="row LSTM units (default 128)")
    parser.add_argument(
        "--col-hidden", type=int, default=128, help="column LSTM units (default 128)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="weights, data order, augmentation (default 0)"
    )
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda[:N] or mps")
    parser.add_argument("--threads", type=int, help="CPU threads (default: PyTorch's choice)")
    parser.add_argument(
        "--data-dir",
        help=f"MNIST folder (default: ${DATA_DIR_ENV}, else ~/.cache/hrnn-mnist/mnist)",
    )
    parser.add_argument(
        "--pendigits",
        dest="pendigits_path",
        help="pendigits file or folder (default ../shared/data/pendigits)",
    )
    parser.add_argument("--offline", action="store_true", help="never download MNIST")
    parser.add_argument("--run-dir", type=Path, help="the run's folder (default runs/RECIPE)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --run-dir")
    parser.add_argument(
        "--weights-out", type=Path, help="also write the final weights here (card beside)"
    )
    parser.add_argument("--limit-train", type=int, help="train on the first N images only")
    parser.add_argument(
        "--limit-test", type=int, help="report on the first N test images only (decides nothing)"
    )
    parser.add_argument("--no-cuda-graphs", action="store_true", help="always run steps eagerly")
    parser.add_argument(
        "--bf16",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="bfloat16 autocast for the forward (default: the recipe's; shipped has it)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser.parse_args(argv)


def launcher() -> list[str]:
    """How this process was started, for the card: torchrun sets WORLD_SIZE."""
    world_size = int(os.environ.get("WORLD_SIZE", 1))
    return ["torchrun", f"--nproc_per_node={world_size}"] if world_size > 1 else ["python"]


def main(argv: list[str] | None = None) -> int:
    given = sys.argv[1:] if argv is None else argv
    args = parse_args(given)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        shares = (
            ("--box", args.box),
            ("--marker", args.marker),
        )
        for flag, share in shares:
            if share is not None and not 0 <= share <= 1:
                raise TrainError(f"{flag} is a share, from 0 to 1, not {share}")
        if any(limit is not None and limit < 1 for limit in (args.limit_train, args.limit_test)):
            raise TrainError("--limit-train and --limit-test must be at least 1")
        if args.weights_out is not None and not args.weights_out.parent.is_dir():
            raise TrainError(f"--weights-out folder {args.weights_out.parent} does not exist")
        config = make_config(
            args.recipe,
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            init_from=args.init_from,
            box=args.box,
            marker=args.marker,
            row_hidden=args.row_hidden,
            col_hidden=args.col_hidden,
            seed=args.seed,
            bf16=args.bf16,
            limit_train=args.limit_train,
            limit_test=args.limit_test,
            run_dir=args.run_dir,
            device=args.device,
            data_dir=args.data_dir,
            pendigits_path=args.pendigits_path,
            download=not args.offline,
            resume=args.resume,
            weights_out=args.weights_out,
            cuda_graphs=not args.no_cuda_graphs,
            progress=not args.no_progress,
            command=shlex.join([*launcher(), "-m", "train", *given]),
        )
        if min(config.epochs, config.batch_size, config.row_hidden, config.col_hidden) < 1:
            raise TrainError("--epochs, --batch-size and the hidden sizes must be at least 1")
        run(config)
    except (TrainError, DeviceError, DataError, CheckpointError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "interrupted: finished epochs and stages are kept; the same command with --resume "
            "continues",
            file=sys.stderr,
        )
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
