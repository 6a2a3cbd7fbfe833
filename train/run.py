"""A whole training run: data, model, epochs, checkpoints, and what is left behind.

Every epoch's data order and augmentation come from (seed, epoch) alone, so a run
resumed from its last checkpoint replays exactly what the uninterrupted run would have.
"""

import os
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DistributedSampler

from train import loop
from train.augment import AugmentConfig, augment
from train.checkpoint import (
    CHECKPOINT_FORMAT,
    CheckpointError,
    atomic_save,
    atomic_write_json,
    build_model,
    safe_load,
)
from train.data import dataset_checksums, load_split
from train.device import describe_device, pick_device, synchronize
from train.model import HRNN, HRNNConfig
from train.recipes import Recipe
from train.report import epoch_line, write_outputs

VALIDATION_SEED = 20150601  # the validation split never moves with --seed


class TrainError(Exception):
    """A run that cannot start or continue; the message says why."""


@dataclass
class RunOptions:
    recipe: Recipe
    run_dir: Path
    seed: int = 0
    device: str = "auto"
    data_dir: str | None = None
    download: bool = True
    resume: bool = False
    weights_out: Path | None = None
    limit_train: int | None = None  # small subsets, for tests and smoke runs
    limit_test: int | None = None
    cuda_graphs: bool = True
    bf16: bool = False  # autocast the forward pass to bfloat16 (weights stay float32)
    progress: bool = True
    command: str = ""
    model_config: HRNNConfig = HRNNConfig()


def hyperparameters(options: RunOptions, world_size: int) -> dict:
    """Everything that changes the result; a resume must match it exactly."""
    return {
        "recipe": options.recipe.to_dict(),
        "augment": AugmentConfig().to_dict() if options.recipe.augment else None,
        "model_config": options.model_config.to_dict(),
        "seed": options.seed,
        "limit_train": options.limit_train,
        "limit_test": options.limit_test,
        "world_size": world_size,
        "bf16": options.bf16,
    }


def split_data(options: RunOptions):
    """Train / validation / test as uint8 arrays; validation is carved from the training set."""
    images, labels = load_split("train", options.data_dir, download=options.download)
    test_images, test_labels = load_split("test", options.data_dir, download=options.download)
    val_size = options.recipe.val_size
    order = np.random.default_rng(VALIDATION_SEED).permutation(len(images))
    val_index, train_index = np.sort(order[:val_size]), np.sort(order[val_size:])
    if options.limit_train:
        train_index = train_index[: options.limit_train]
        val_index = val_index[: options.limit_train // 4 if val_size else 0]
    if options.limit_test:
        test_images = test_images[: options.limit_test]
        test_labels = test_labels[: options.limit_test]
    return (
        (images[train_index], labels[train_index]),
        (images[val_index], labels[val_index]),
        (test_images, test_labels),
    )


def start_or_resume(options: RunOptions, hparams: dict, model: HRNN, rank: int) -> dict | None:
    """The checkpoint to continue from, or None for a fresh run; refuses to clobber a run."""
    checkpoint_path = options.run_dir / "checkpoint.pt"
    if options.resume:
        data = safe_load(checkpoint_path, "checkpoint")
        for stale in options.run_dir.glob(".*.tmp"):  # a save cut short by a kill
            stale.unlink(missing_ok=True)
        if data["format"] != CHECKPOINT_FORMAT:
            raise CheckpointError(f"{checkpoint_path} is a weights file, not a training checkpoint")
        if data["hparams"] != hparams:
            changed = sorted(k for k in hparams if data["hparams"].get(k) != hparams[k])
            raise TrainError(
                f"{checkpoint_path} was trained with other settings ({', '.join(changed)} "
                f"differ); resume with the same settings or start a new --run-dir"
            )
        model.load_state_dict(build_model(data, checkpoint_path, options.model_config).state_dict())
        return data
    if checkpoint_path.exists():
        raise TrainError(
            f"{options.run_dir} already holds a run; pass --resume to continue it "
            f"or choose another --run-dir"
        )
    if rank == 0:
        options.run_dir.mkdir(parents=True, exist_ok=True)
        config = {"command": options.command, "hparams": hparams, "torch": torch.__version__}
        atomic_write_json(config, options.run_dir / "config.json")
    return None


def run(options: RunOptions) -> dict:
    rank, world_size = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    device = pick_device(options.device)
    if world_size > 1:
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
            torch.cuda.set_device(device)
        backend = "nccl" if device.type == "cuda" else "gloo"
        torch.distributed.init_process_group(backend, rank=rank, world_size=world_size)
    is_main = rank == 0
    say = print if is_main else (lambda *a, **k: None)
    recipe = options.recipe
    hparams = hyperparameters(options, world_size)

    torch.manual_seed(options.seed)
    model = HRNN(options.model_config)
    (train_x, train_y), (val_x, val_y), (test_x, test_y) = split_data(options)
    if len(train_x) // world_size < recipe.batch_size:
        raise TrainError(
            f"--batch-size {recipe.batch_size} is larger than the {len(train_x)} training images"
            + (f" shared by {world_size} processes" if world_size > 1 else "")
        )
    images = {"train": len(train_x), "validation": len(val_x), "test": len(test_x)}
    checkpoint = start_or_resume(options, hparams, model, rank)
    say(f"device: {describe_device(device)}; world size {world_size}; recipe {recipe.name}")
    say(f"data: {len(train_x)} train, {len(val_x)} validation, {len(test_x)} test images")

    def to_device(array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.array(array)).to(device)

    train_x, train_y, val_x, val_y, test_x, test_y = map(
        to_device, (train_x, train_y, val_x, val_y, test_x, test_y)
    )
    model.to(device).train()
    use_graphs = options.cuda_graphs and device.type == "cuda" and world_size == 1
    optimizer = loop.make_optimizer(model, recipe, capturable=use_graphs)
    metrics, best, start_epoch = [], None, 0
    if checkpoint is not None:
        optimizer.load_state_dict(checkpoint["optimizer"])
        metrics, best, start_epoch = checkpoint["metrics"], checkpoint["best"], checkpoint["epoch"]
        say(f"resuming {options.run_dir} after epoch {start_epoch}")

    trained = model
    if world_size > 1:
        trained = torch.nn.parallel.DistributedDataParallel(model)
    step = loop.make_step(trained, optimizer, recipe, bf16=options.bf16)
    per_epoch = len(train_x) // world_size // recipe.batch_size
    total_steps = per_epoch * recipe.epochs
    if use_graphs and start_epoch < recipe.epochs:
        first = next(
            loop.batches(
                train_x, train_y, torch.arange(len(train_x), device=device), recipe.batch_size
            )
        )
        try:
            step = loop.capture_step(model, optimizer, step, *first)
            say("cuda graphs: the training step is captured once and replayed")
        except RuntimeError as error:  # e.g. an op that cannot be captured on this build
            say(f"cuda graphs unavailable ({str(error).splitlines()[0]}); running eagerly")
            optimizer = loop.make_optimizer(model, recipe, capturable=False)
            step = loop.make_step(trained, optimizer, recipe, bf16=options.bf16)

    sampler = DistributedSampler(
        range(len(train_x)),
        num_replicas=world_size,
        rank=rank,
        shuffle=True,
        seed=options.seed,
        drop_last=True,
    )
    for epoch in range(start_epoch, recipe.epochs):
        sampler.set_epoch(epoch)
        order = torch.tensor(list(sampler), device=device)
        generator = torch.Generator(device=device)
        generator.manual_seed(options.seed * 1_000_003 + epoch * 1009 + rank)
        augmenter = None
        if recipe.augment:
            augmenter = partial(augment, config=AugmentConfig(), generator=generator)

        def on_step(index: int, epoch: int = epoch) -> None:
            global_step = epoch * per_epoch + index
            loop.set_learning_rate(optimizer, loop.learning_rate(recipe, global_step, total_steps))

        synchronize(device)
        started = time.perf_counter()
        train_loss, train_acc = loop.train_epoch(
            step,
            loop.batches(train_x, train_y, order, recipe.batch_size),
            per_epoch,
            on_step,
            augmenter,
            progress=options.progress and is_main,
            description=f"epoch {epoch + 1}/{recipe.epochs}",
        )
        synchronize(device)
        row = {
            "epoch": epoch + 1,
            "train_loss": train_loss,
            "train_acc": train_acc,
            "train_seconds": time.perf_counter() - started,
        }
        if world_size > 1:  # every rank saw its own share: report the mean over all of them
            shares = torch.tensor([train_loss, train_acc], dtype=torch.float64)
            torch.distributed.all_reduce(shares)
            row["train_loss"], row["train_acc"] = (shares / world_size).tolist()
        if is_main:
            if len(val_x):
                row["val_loss"], row["val_acc"], _ = loop.evaluate(model, val_x, val_y)
            row["test_loss"], row["test_acc"], _ = loop.evaluate(model, test_x, test_y)
            metrics.append(row)
            say(epoch_line(row))
            if best is None or not len(val_x) or row["val_acc"] > best["val_acc"]:
                state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
                best = {"epoch": epoch + 1, "val_acc": row.get("val_acc"), "state_dict": state}
            atomic_save(
                _checkpoint(options, hparams, model, optimizer, epoch + 1, metrics, best),
                options.run_dir / "checkpoint.pt",
            )
            atomic_write_json(metrics, options.run_dir / "metrics.json")
    if world_size > 1:
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    if not is_main:
        return {}
    model.load_state_dict(best["state_dict"])  # the best validation epoch, or the last
    card = {
        "model": "hrnn-mnist",
        "model_config": options.model_config.to_dict(),
        "recipe": recipe.to_dict(),
        "augment": hparams["augment"],
        "bf16": options.bf16,
        "seed": options.seed,
        "command": options.command,
        "epochs": recipe.epochs,
        "selected_epoch": best["epoch"],
        "selected_by": "validation accuracy" if len(val_x) else "last epoch",
        "val_accuracy": metrics[best["epoch"] - 1].get("val_acc"),
        "images": images,  # as split and limited, not as the recipe asks
        "train_seconds": sum(m["train_seconds"] for m in metrics),
        "device": describe_device(device),
        "world_size": world_size,
        "torch": torch.__version__,
        "data_sha256": dataset_checksums(options.data_dir),
    }
    return write_outputs(
        model, card, metrics, (test_x, test_y), options.run_dir, options.weights_out
    )


def _checkpoint(options, hparams, model, optimizer, epoch, metrics, best) -> dict:
    return {
        "format": CHECKPOINT_FORMAT,
        "model_config": options.model_config.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": optimizer.state_dict(),
        "epoch": epoch,
        "metrics": metrics,
        "best": best,
        "hparams": hparams,
    }
