"""What a run trains and validates on: MNIST's splits and, for the writers recipe, pen strokes.

The validation split and the validation writers' drawings never move with --seed; training
strokes are drawn afresh every epoch from (seed, epoch), identically on every rank.
"""

import torch

from train import pendigits
from train.config import Config
from train.data import VALIDATION_SEED, load_split, validation_split
from train.render import render

MNIST_LICENCE = "CC BY-SA 3.0"
RENDER_CHUNK = 512  # digits rendered at once: bounds the renderer's memory


def split_data(config: Config) -> tuple[dict, list[dict]]:
    """MNIST train / validation as uint8 arrays; validation is carved from train. The test
    split is not read here: only the report stage (train.stages) reads it, once."""
    images, labels = load_split("train", config.data_dir, download=config.download)
    val_index, train_index = validation_split(len(images), config.val_size)
    if config.limit_train:
        train_index = train_index[: config.limit_train]
        val_index = val_index[: config.limit_train // 4 if config.val_size else 0]
    data = {
        "train": (images[train_index], labels[train_index]),
        "val": (images[val_index], labels[val_index]),
    }
    used = [
        {
            "name": "MNIST training set (LeCun & Cortes)",
            "licence": MNIST_LICENCE,
            "samples": len(train_index),
        }
    ]
    return data, used


def stroke_data(config: Config) -> tuple[tuple | None, tuple | None, dict | None]:
    """Packed pendigits training writers, the validation writers drawn once (fixed seed), and
    the card's entry for them; three Nones when the recipe trains on MNIST alone."""
    if not config.pendigits:
        return None, None, None
    train_digits, val_digits, _ = pendigits.writer_splits(
        pendigits.read_pendigits(pendigits.find_file(config.pendigits_path))
    )
    if config.limit_train:
        train_digits, val_digits = (
            train_digits[: config.limit_train],
            val_digits[: config.limit_train // 4],
        )
    used = {
        "name": pendigits.SOURCE,
        "licence": pendigits.LICENCE,
        "samples": len(train_digits),
        "writers": len({d.writer for d in train_digits}),
        "renders_per_epoch": config.pendigits,
    }
    points, ids, labels = (torch.from_numpy(a) for a in pendigits.pack(val_digits))
    # One batch, as the shipped run drew them: chunks would draw other random numbers.
    drawn = draw(points, ids, torch.Generator().manual_seed(VALIDATION_SEED), chunk=len(points))
    return pendigits.pack(train_digits), (drawn.numpy(), labels.numpy()), used


def draw_strokes(strokes, copies: int, seed: int, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`copies` fresh renders of every stroke digit as uint8 images, from (seed, epoch) alone."""
    points, stroke_ids, labels = strokes
    generator = torch.Generator(device=points.device)
    generator.manual_seed(seed * 7_919 + epoch * 104_729 + 1)
    drawn = torch.cat([draw(points, stroke_ids, generator) for _ in range(copies)])
    return drawn, labels.repeat(copies)


def draw(
    points: torch.Tensor, stroke_ids: torch.Tensor, generator, chunk: int = RENDER_CHUNK
) -> torch.Tensor:
    """Render in chunks (bounded memory) to uint8 images, as MNIST's are stored."""
    chunks = [
        render(points[start : start + chunk], stroke_ids[start : start + chunk], generator)
        for start in range(0, len(points), chunk)
    ]
    return torch.cat(chunks).mul_(255).round_().to(torch.uint8)
