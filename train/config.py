"""Every setting of a training run in one object, from the command line to the model card.

A recipe is a named set of overrides of the defaults below (which are the Keras example's);
`python -m train --recipe NAME` runs it, and its card records the name and the command.
"""

from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path


@dataclass(frozen=True)
class Config:
    recipe: str = "seed"
    # optimisation
    epochs: int = 5
    batch_size: int = 32  # per process under torchrun
    optimizer: str = "rmsprop"  # "rmsprop" (as Keras defines it) or "adamw"
    lr: float = 1e-3
    weight_decay: float = 0.0
    schedule: str = "constant"  # or "onecycle": linear warm-up, then cosine decay
    warmup_fraction: float = 0.0
    grad_clip: float = 0.0  # max global gradient norm; 0 = no clipping
    label_smoothing: float = 0.0
    augment: bool = False  # train/augment.py: shifts, rotations, scalings, elastic, thickness
    marker: float = 0.0  # with augment: share of digits redrawn as with a fat marker
    box: float = 0.0  # with augment: share stretched to fill a square, one bit a pixel (--box)
    val_size: int = 0  # MNIST training images held out for every choice a run makes
    pendigits: int = 0  # fresh renders of each pendigits training digit per epoch; 0 = MNIST only
    init_from: str | None = None  # start from these weights instead of a random init
    # "plain": the temperature with the least validation cross-entropy (train.calibrate);
    # "cautious": also fat-marker and box-stretched validation digits, width-aware
    calibration: str = "plain"
    # model
    row_hidden: int = 128
    col_hidden: int = 128
    # the run
    seed: int = 0
    bf16: bool = False  # autocast the forward pass to bfloat16 (weights stay float32)
    limit_train: int | None = None  # small subsets, for tests and smoke runs
    limit_test: int | None = None  # the final report only: test data decides nothing
    # where and how: these never change the weights
    run_dir: Path = Path("runs/seed")
    device: str = "auto"
    data_dir: str | None = None
    pendigits_path: str | None = None
    download: bool = True
    resume: bool = False
    weights_out: Path | None = None
    cuda_graphs: bool = True
    progress: bool = True
    command: str = ""


WHERE_AND_HOW = {
    "run_dir", "device", "data_dir", "pendigits_path", "download", "resume", "weights_out",
    "cuda_graphs", "progress", "command",
}  # fmt: skip

# fmt: off
RECIPES = {
    # The Keras example as published: RMSprop(lr=1e-3, rho=0.9, epsilon=1e-7), batch 32,
    # 5 epochs, all 60,000 training images, nothing chosen from results.
    "seed": {},
    # Fewest seconds to the seed's accuracy on a GPU: larger batches, a one-cycle schedule.
    "fast": dict(
        epochs=4, batch_size=128, optimizer="adamw", lr=4e-3, weight_decay=0.01,
        schedule="onecycle", warmup_fraction=0.15, grad_clip=1.0,
    ),
    # Furthest the 128/128 architecture goes on MNIST: augmentation, AdamW, one-cycle,
    # clipping, label smoothing; best epoch by validation.
    "best": dict(
        epochs=60, batch_size=128, optimizer="adamw", lr=3e-3, weight_decay=0.01,
        schedule="onecycle", warmup_fraction=0.05, grad_clip=1.0, label_smoothing=0.1,
        augment=True, val_size=5000,
    ),
    # For strangers' handwriting: `best`'s weights fine-tuned on MNIST plus real pen strokes by
    # 22 pendigits writers (4 more validate, 4 are only evaluated), without label smoothing
    # so that confidences can be calibrated afterwards, and with some marker-fat digits so
    # that a blob is not read with confidence. Short enough for a CPU. (`--box 0.1` adds
    # box-stretched one-bit scans: tried, it cost more on fat brushes than it won on scans.)
    "writers": dict(
        epochs=2, batch_size=128, optimizer="adamw", lr=1e-3, weight_decay=0.01,
        schedule="onecycle", warmup_fraction=0.1, grad_clip=1.0, augment=True, val_size=5000,
        marker=0.25, pendigits=2, init_from="weights/hrnn_mnist_best.pt",
    ),
    # The same data from a random start, long enough for a GPU (about 25 epochs there): the
    # model meets pen strokes, marker-fat and box-stretched digits from its first step instead
    # of having MNIST-only features bent towards them in 2 epochs.
    # What ships (weights/hrnn_mnist.pt): `writers` with 8 epochs, 10% box-stretched digits
    # and a bfloat16 forward, from `best`'s weights, then the cautious width-aware calibration
    # on validation digits redrawn with a fat marker and stretched into a box.
    "shipped": dict(
        epochs=8, batch_size=128, optimizer="adamw", lr=1e-3, weight_decay=0.01,
        schedule="onecycle", warmup_fraction=0.1, grad_clip=1.0, augment=True, val_size=5000,
        marker=0.25, box=0.1, pendigits=2, init_from="weights/hrnn_mnist_best.pt", bf16=True,
        calibration="cautious",
    ),
    "strangers": dict(
        epochs=24, batch_size=128, optimizer="adamw", lr=3e-3, weight_decay=0.01,
        schedule="onecycle", warmup_fraction=0.05, grad_clip=1.0, augment=True, val_size=5000,
        marker=0.25, box=0.1, pendigits=2,
    ),
}
# fmt: on


def make_config(recipe: str, **overrides) -> Config:
    """The recipe's settings with `overrides` (None means: keep the recipe's)."""
    if recipe not in RECIPES:
        raise ValueError(f"unknown recipe {recipe!r}; choose from {', '.join(RECIPES)}")
    known = {f.name for f in fields(Config)}
    unknown = set(overrides) - known
    if unknown:
        raise ValueError(f"unknown settings {sorted(unknown)}")
    given = {k: v for k, v in overrides.items() if v is not None}
    base = Config(recipe=recipe, run_dir=Path("runs") / recipe)
    return replace(base, **{**RECIPES[recipe], **given})


def hyperparameters(config: Config, world_size: int) -> dict:
    """What changes the weights: a resumed run must match it exactly; the card records it."""
    values = {k: v for k, v in asdict(config).items() if k not in WHERE_AND_HOW}
    return {**values, "world_size": world_size}
