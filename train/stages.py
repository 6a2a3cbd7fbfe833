"""What a run does after its epochs, stage by stage: select, calibrate, finish, report.

Every finished stage is recorded in the run folder's stages.json (what it found, how long it
took), so that a run killed anywhere and continued with --resume skips what is done. Validation
decides: `select` keeps the best validation epoch, `calibrate` fits on validation sets only.
The MNIST test split is read once, by `report`, after every choice was made; without it the
run still ships its weights and the report says that test is missing.
"""

import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from train.augment import for_recipe
from train.calibrate import fit
from train.checkpoint import atomic_write_json, save_weights, sha256_file
from train.data import DataError, dataset_checksums, load_split
from train.datasets import MNIST_LICENCE
from train.device import describe_device
from train.pendigits import LICENCE as PEN_LICENCE
from train.report import confusion_matrix, load_json, save_plots, train_label
from train.step import evaluate
from train.validation import validation_readings

STAGES = ("train", "select", "calibrate", "finish", "report")
MARKERS = "stages.json"


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Stages:
    """The run folder's record of finished stages (stages.json, written atomically)."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / MARKERS
        self.done: dict[str, dict] = load_json(self.path) if self.path.is_file() else {}

    def finished(self, name: str) -> dict | None:
        return self.done.get(name)

    def record(self, name: str, started: float, **found) -> dict:
        self.done[name] = {**found, "seconds": time.perf_counter() - started, "finished": now()}
        atomic_write_json(self.done, self.path)
        return self.done[name]


def after_training(r, stages: Stages) -> dict:
    """select -> calibrate -> finish -> report on rank 0; returns the card."""
    config = r.config
    r.model.load_state_dict(r.best["state_dict"])  # the best validation epoch, or the last
    selected = stages.finished("select") or select(r, stages)
    validation = {k: v for k, v in r.data.items() if k.startswith("val") and len(v[0])}
    calibrated = stages.finished("calibrate")
    if calibrated is None:
        started = time.perf_counter()
        cautious = config.calibration == "cautious"
        calibration = None
        if validation:
            familiar, unfamiliar = validation_readings(r.model, r.data, cautious)
            calibration = fit(familiar, unfamiliar)
            r.say(calibration_line(calibration))
        calibrated = stages.record("calibrate", started, calibration=calibration)
    finished = stages.finished("finish")
    if finished is None or not (config.run_dir / "hrnn_mnist.json").is_file():
        started = time.perf_counter()
        card = make_card(r, selected, calibrated["calibration"], stages)
        card = write_weights(r.model, card, config.run_dir, config.weights_out)
        stages.record("finish", started, weights_sha256=card["weights_sha256"])
    if stages.finished("report") is None:
        started = time.perf_counter()
        found = report(r, stages)
        stages.record("report", started, **found)
    card = load_json(config.run_dir / "hrnn_mnist.json")
    print(f"wrote {config.run_dir}/ (hrnn_mnist.pt, hrnn_mnist.json, metrics.json, stages.json)")
    return card


def select(r, stages: Stages) -> dict:
    """The epoch that validation chose (train.run keeps its weights as it goes)."""
    started = time.perf_counter()
    row = r.metrics[r.best["epoch"] - 1]
    has_validation = any(k in row for k in ("val_acc", "val_pen_acc"))
    found = {
        "epoch": r.best["epoch"],
        "by": "validation accuracy" if has_validation else "last epoch",
        "val_accuracy": row.get("val_acc"),
        "val_pen_accuracy": row.get("val_pen_acc"),
    }
    r.say(f"selected epoch {found['epoch']} by {found['by']}")
    return stages.record("select", started, **found)


def calibration_line(calibration: dict) -> str:
    warming = (
        f", x (width / {calibration['wide_from']:.2f}) ** {calibration['wide_power']:.2f}"
        if calibration.get("wide_power")
        else ""
    )
    return (
        f"calibration: temperature {calibration['temperature']:.3f}{warming}, "
        f"sure at >= {calibration['sure_at']:.2f}"
    )


def make_card(r, selected: dict, calibration: dict | None, stages: Stages) -> dict:
    """Everything that made these weights: recipe, command, settings, data, device, time."""
    config = r.config
    validation_data = []
    if len(r.data["val"][0]):
        validation_data.append(
            {
                "name": "MNIST training set, validation split (train.data.validation_split)",
                "licence": MNIST_LICENCE,
                "samples": len(r.data["val"][0]),
            }
        )
    if "val_pen" in r.data:
        validation_data.append(
            {
                "name": "UCI pendigits, validation writers",
                "licence": PEN_LICENCE,
                "samples": len(r.data["val_pen"][0]),
            }
        )
    card = {
        "model": "hrnn-mnist",
        "model_config": r.model.config.to_dict(),
        "recipe": config.recipe,
        "command": config.command,
        "config": r.hparams,
        "augment": for_recipe(config).to_dict() if config.augment else None,
        "training_data": r.training_data,
        "validation_data": validation_data,
        "selected_epoch": selected["epoch"],
        "selected_by": selected["by"],
        "val_accuracy": selected["val_accuracy"],
        "val_pen_accuracy": selected["val_pen_accuracy"],
        "images": {k: len(v[0]) for k, v in r.data.items()},  # as split and limited
        "train_seconds": sum(m["train_seconds"] for m in r.metrics),
        "stage_seconds": {k: round(v["seconds"], 1) for k, v in stages.done.items()},
        "device": describe_device(r.device),
        "world_size": r.world_size,
        "torch": torch.__version__,
        "data_sha256": dataset_checksums(config.data_dir),
        "finished": now(),
    }
    if calibration is not None:
        card["calibration"] = calibration
    return card


def write_weights(model, card: dict, run_dir: Path, weights_out: Path | None) -> dict:
    """The chosen weights and their card, in the run folder and at --weights-out."""
    weights_path = run_dir / "hrnn_mnist.pt"
    save_weights(model.cpu(), weights_path)
    card = {**card, "weights_sha256": sha256_file(weights_path), "date": card["finished"][:10]}
    atomic_write_json(card, run_dir / "hrnn_mnist.json")
    if weights_out is not None:
        save_weights(model, weights_out)
        atomic_write_json(card, weights_out.with_suffix(".json"))
    return card


def report(r, stages: Stages) -> dict:
    """Test the shipped weights once and add the numbers to the card; they change nothing."""
    config = r.config
    cards = [config.run_dir / "hrnn_mnist.json"]
    if config.weights_out is not None:
        cards.append(config.weights_out.with_suffix(".json"))
    try:
        images, labels = load_split("test", config.data_dir, download=config.download)
    except DataError as error:
        note = f"MNIST test set missing ({error}): no test accuracy to report"
        print(f"report: {note}")
        save_plots(r.metrics, None, config.run_dir, train_label(r.hparams))
        for path in cards:
            atomic_write_json(load_json(path) | {"test_accuracy": None, "test": note}, path)
        return {"test": "missing"}
    if config.limit_test:
        images, labels = images[: config.limit_test], labels[: config.limit_test]
    model = r.model.to(r.device)
    pixels, truth = (torch.from_numpy(np.array(a)).to(r.device) for a in (images, labels))
    test_loss, test_acc, predicted = evaluate(model, pixels, truth)
    matrix = confusion_matrix(labels, predicted.numpy())
    atomic_write_json(
        {"labels": list(range(10)), "matrix": matrix.tolist()},
        config.run_dir / "confusion_matrix.json",
    )
    save_plots(r.metrics, matrix, config.run_dir, train_label(r.hparams))
    found = {
        "test_accuracy": test_acc,
        "test_loss": test_loss,
        "test_errors": int(matrix.sum() - np.trace(matrix)),
        "test": "MNIST test set, read once after selection and calibration: reported, not used",
    }
    for path in cards:
        card = load_json(path)
        card["images"] = card["images"] | {"test": len(labels)}
        atomic_write_json(card | found, path)
    print(
        f"report: test loss {test_loss:.4f} | test accuracy {test_acc:.4f} "
        f"({found['test_errors']} errors) | epoch {r.best['epoch']} chosen by validation"
    )
    return {"test_accuracy": test_acc, "test_errors": found["test_errors"]}
