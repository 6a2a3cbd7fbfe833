"""A whole training run: set up, train (one loop, read it top to bottom), then train.stages
(select, calibrate, finish, report).

Every epoch's data order, augmentation and stroke renders come from (seed, epoch) alone, so a
run resumed from its last checkpoint replays exactly what the uninterrupted run would have.
Epochs are judged on validation only; the test split is read once, by the report stage.
"""

import os
import sys
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.utils.data import DistributedSampler

from train.augment import augment, for_recipe
from train.checkpoint import (
    CHECKPOINT_FORMAT,
    CheckpointError,
    atomic_save,
    atomic_write_json,
    build_model,
    load_weights,
    safe_load,
)
from train.config import Config, hyperparameters
from train.datasets import draw_strokes, split_data, stroke_data
from train.device import describe_device, pick_device, synchronize
from train.model import HRNN, HRNNConfig
from train.report import epoch_line
from train.stages import Stages, after_training
from train.step import (
    capture_step,
    evaluate,
    learning_rate,
    make_optimizer,
    make_step,
    set_learning_rate,
)


class TrainError(Exception):
    """A run that cannot start or continue; the message says why."""


@dataclass
class Run:
    """What setup() builds for the loop and the stages: model, optimiser, data on the device."""

    config: Config
    hparams: dict
    device: torch.device
    rank: int
    world_size: int
    model: HRNN
    optimizer: torch.optim.Optimizer
    step: object
    data: dict[str, tuple[torch.Tensor, torch.Tensor]]  # split -> (uint8 images, labels)
    strokes: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None  # pendigits to render
    training_data: list[dict]
    metrics: list[dict] = field(default_factory=list)
    best: dict | None = None
    start_epoch: int = 0

    def say(self, *args) -> None:
        if self.rank == 0:
            print(*args, flush=True)


def run(config: Config) -> dict:
    """Every stage of `config`'s recipe; with config.resume, the finished ones are skipped."""
    state = setup(config)
    stages = Stages(config.run_dir)
    if stages.finished("train") is None:
        started = time.perf_counter()
        train(state)
        if state.rank == 0:
            stages.record("train", started, epochs=config.epochs)
    if state.world_size > 1:
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    if state.rank != 0:
        return {}
    return after_training(state, stages)


def train(r: Run) -> None:
    config = r.config
    images, labels = r.data["train"]
    pen_count = len(r.strokes[2]) * config.pendigits if r.strokes else 0
    augmentation = for_recipe(config)  # the same for every step
    per_epoch = (len(images) + pen_count) // r.world_size // config.batch_size
    total_steps = per_epoch * config.epochs
    sampler = DistributedSampler(
        range(len(images) + pen_count),
        r.world_size,
        r.rank,
        shuffle=True,
        seed=config.seed,
        drop_last=True,
    )
    for epoch in range(r.start_epoch, config.epochs):
        sampler.set_epoch(epoch)
        order = torch.tensor(list(sampler), device=r.device)
        generator = torch.Generator(device=r.device)
        generator.manual_seed(config.seed * 1_000_003 + epoch * 1009 + r.rank)
        if pen_count:  # this epoch's renders of every training writer's digits, same on all ranks
            drawn, drawn_labels = draw_strokes(r.strokes, config.pendigits, config.seed, epoch)
            images = torch.cat([r.data["train"][0], drawn])
            labels = torch.cat([r.data["train"][1], drawn_labels])
        bar = progress_bar(
            per_epoch, f"epoch {epoch + 1}/{config.epochs}", config.progress and r.rank == 0
        )
        loss_sum = correct = torch.zeros((), device=r.device)
        synchronize(r.device)
        started = time.perf_counter()
        for index in range(per_epoch):
            batch = order[index * config.batch_size : (index + 1) * config.batch_size]
            x, y = images[batch].float().div_(255), labels[batch]
            set_learning_rate(
                r.optimizer, learning_rate(config, epoch * per_epoch + index, total_steps)
            )
            if config.augment:
                x = augment(x, augmentation, generator)
            loss, hits = r.step(x, y)
            loss_sum, correct = loss_sum + loss, correct + hits
            if bar is not None:
                bar.update(1)
                if index % 50 == 0 or index == per_epoch - 1:  # one device sync per 50 steps
                    seen = (index + 1) * config.batch_size
                    bar.set_postfix(
                        loss=f"{loss_sum.item() / seen:.4f}", acc=f"{correct.item() / seen:.4f}"
                    )
        if bar is not None:
            bar.close()
        synchronize(r.device)
        seen = per_epoch * config.batch_size
        row = {
            "epoch": epoch + 1,
            "train_loss": loss_sum.item() / seen,
            "train_acc": correct.item() / seen,
            "train_seconds": time.perf_counter() - started,
        }
        if r.world_size > 1:  # every rank saw its own share: report the mean over all of them
            shares = torch.tensor([row["train_loss"], row["train_acc"]], dtype=torch.float64)
            torch.distributed.all_reduce(shares)
            row["train_loss"], row["train_acc"] = (shares / r.world_size).tolist()
        if r.rank == 0:
            end_of_epoch(r, row)


def end_of_epoch(r: Run, row: dict) -> None:
    """Validate, keep the best epoch by validation, checkpoint, write metrics (no test)."""
    for split in ("val", "val_pen"):
        if split in r.data and len(r.data[split][0]):
            row[f"{split}_loss"], row[f"{split}_acc"], _ = evaluate(r.model, *r.data[split])
    r.metrics.append(row)
    r.say(epoch_line(row))
    score = selection_score(row)
    if r.best is None or score is None or score > r.best["score"]:
        state = {k: v.detach().cpu().clone() for k, v in r.model.state_dict().items()}
        r.best = {"epoch": row["epoch"], "score": score, "state_dict": state}
    checkpoint = {
        "format": CHECKPOINT_FORMAT,
        "model_config": r.model.config.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in r.model.state_dict().items()},
        "optimizer": r.optimizer.state_dict(),
        "epoch": row["epoch"],
        "metrics": r.metrics,
        "best": r.best,
        "hparams": r.hparams,
    }
    atomic_save(checkpoint, r.config.run_dir / "checkpoint.pt")
    atomic_write_json(r.metrics, r.config.run_dir / "metrics.json")


def selection_score(row: dict) -> float | None:
    """Validation accuracy, averaged over MNIST and held-out writers when both exist."""
    scores = [row[k] for k in ("val_acc", "val_pen_acc") if k in row]
    return sum(scores) / len(scores) if scores else None


def progress_bar(total: int, description: str, enabled: bool):
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    interval = 0.2 if sys.stderr.isatty() else 10
    return tqdm(total=total, desc=description, leave=False, mininterval=interval)


# --- setting up -----------------------------------------------------------------------------


def setup(config: Config) -> Run:
    rank, world_size = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    device = pick_device(config.device)
    if world_size > 1:
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
            torch.cuda.set_device(device)
        backend = "nccl" if device.type == "cuda" else "gloo"
        torch.distributed.init_process_group(backend, rank=rank, world_size=world_size)
    hparams = hyperparameters(config, world_size)
    torch.manual_seed(config.seed)
    model = HRNN(HRNNConfig(row_hidden=config.row_hidden, col_hidden=config.col_hidden))
    if config.init_from:
        start = load_weights(config.init_from, model.config)
        model.load_state_dict(start.state_dict())
    data, mnist_used = split_data(config)
    strokes, pen_val, pen_used = stroke_data(config)
    training_data = mnist_used + ([pen_used] if pen_used else [])
    if pen_val is not None:
        data["val_pen"] = pen_val
    if (
        len(data["train"][0]) + (len(strokes[2]) * config.pendigits if strokes else 0)
    ) // world_size < config.batch_size:
        raise TrainError(
            f"--batch-size {config.batch_size} is larger than the {len(data['train'][0])} training"
            " images" + (f" shared by {world_size} processes" if world_size > 1 else "")
        )
    checkpoint = start_or_resume(config, hparams, model, rank)
    data = {k: tuple(torch.from_numpy(np.array(a)).to(device) for a in v) for k, v in data.items()}
    if strokes is not None:
        strokes = tuple(torch.from_numpy(a).to(device) for a in strokes)
    model.to(device).train()
    use_graphs = config.cuda_graphs and device.type == "cuda" and world_size == 1
    optimizer = make_optimizer(model, config, capturable=use_graphs)
    r = Run(
        config,
        hparams,
        device,
        rank,
        world_size,
        model,
        optimizer,
        None,
        data,
        strokes,
        training_data,
    )
    r.say(f"device: {describe_device(device)}; world size {world_size}; recipe {config.recipe}")
    r.say(
        "data: "
        + ", ".join(f"{len(v[0])} {k}" for k, v in data.items())
        + " images"
        + (
            f"; {len(strokes[2])} pen digits x {config.pendigits} renders an epoch"
            if strokes
            else ""
        )
    )
    if checkpoint is not None:
        optimizer.load_state_dict(checkpoint["optimizer"])
        r.metrics, r.best, r.start_epoch = (
            checkpoint["metrics"],
            checkpoint["best"],
            checkpoint["epoch"],
        )
        r.say(f"resuming {config.run_dir} after epoch {r.start_epoch}")
    trained = torch.nn.parallel.DistributedDataParallel(model) if world_size > 1 else model
    r.step = make_step(trained, optimizer, config, bf16=config.bf16)
    if use_graphs and r.start_epoch < config.epochs:
        first = (
            data["train"][0][: config.batch_size].float().div_(255),
            data["train"][1][: config.batch_size],
        )
        try:
            r.step = capture_step(model, optimizer, r.step, *first)
            r.say("cuda graphs: the training step is captured once and replayed")
        except RuntimeError as error:  # e.g. an op that cannot be captured on this build
            r.say(f"cuda graphs unavailable ({str(error).splitlines()[0]}); running eagerly")
            r.optimizer = make_optimizer(model, config, capturable=False)
            r.step = make_step(trained, r.optimizer, config, bf16=config.bf16)
    return r


def start_or_resume(config: Config, hparams: dict, model: HRNN, rank: int) -> dict | None:
    """The checkpoint to continue from, or None for a fresh run; refuses to clobber a run."""
    checkpoint_path = config.run_dir / "checkpoint.pt"
    if config.resume:
        data = safe_load(checkpoint_path, "checkpoint")
        for stale in config.run_dir.glob(".*.tmp"):  # a save cut short by a kill
            stale.unlink(missing_ok=True)
        if data["format"] != CHECKPOINT_FORMAT:
            raise CheckpointError(f"{checkpoint_path} is a weights file, not a training checkpoint")
        if data["hparams"] != hparams:
            changed = sorted(k for k in hparams if data["hparams"].get(k) != hparams[k])
            raise TrainError(
                f"{checkpoint_path} was trained with other settings ({', '.join(changed)} "
                f"differ); resume with the same settings or start a new --run-dir"
            )
        model.load_state_dict(build_model(data, checkpoint_path, model.config).state_dict())
        return data
    if checkpoint_path.exists():
        raise TrainError(
            f"{config.run_dir} already holds a run; pass --resume to continue it "
            f"or choose another --run-dir"
        )
    if rank == 0:
        config.run_dir.mkdir(parents=True, exist_ok=True)
        run_config = {"command": config.command, "hparams": hparams, "torch": torch.__version__}
        atomic_write_json(run_config, config.run_dir / "config.json")
    return None
