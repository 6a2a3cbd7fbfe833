"""What a run leaves behind: weights, the model card, a confusion matrix and curves."""

import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from train.checkpoint import atomic_write_json, save_weights, sha256_file
from train.model import HRNN
from train.step import evaluate


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, classes: int = 10) -> np.ndarray:
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (labels, predicted), 1)
    return matrix


def save_plots(
    metrics: list[dict], matrix: np.ndarray, run_dir: Path, train_label: str = "train"
) -> list[Path]:
    """curves.png and confusion_matrix.png; skipped (with a note) where matplotlib is absent."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no PNG plots (metrics.json has the numbers)")
        return []
    epochs = [m["epoch"] for m in metrics]
    figure, (loss_axis, acc_axis) = plt.subplots(1, 2, figsize=(10, 4))
    for split, label in (("train", train_label), ("val", "validation"), ("test", "test")):
        if metrics and f"{split}_loss" in metrics[0]:
            loss_axis.plot(epochs, [m[f"{split}_loss"] for m in metrics], marker="o", label=label)
            acc_axis.plot(epochs, [m[f"{split}_acc"] for m in metrics], marker="o", label=label)
    loss_axis.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    acc_axis.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    for axis in (loss_axis, acc_axis):
        axis.grid(alpha=0.3)
        axis.legend()
    figure.tight_layout()
    curves = run_dir / "curves.png"
    figure.savefig(curves, dpi=100)
    plt.close(figure)

    figure, axis = plt.subplots(figsize=(6, 5.5))
    axis.imshow(np.log1p(matrix), cmap="Blues")
    for (row, col), count in np.ndenumerate(matrix):
        if count:
            colour = "white" if row == col else "black"
            axis.text(col, row, str(count), ha="center", va="center", fontsize=7, color=colour)
    axis.set(xlabel="predicted", ylabel="true", xticks=range(10), yticks=range(10))
    errors = int(matrix.sum() - np.trace(matrix))
    axis.set_title(f"MNIST test set: {errors} errors in {int(matrix.sum())}")
    figure.tight_layout()
    matrix_png = run_dir / "confusion_matrix.png"
    figure.savefig(matrix_png, dpi=100)
    plt.close(figure)
    return [curves, matrix_png]


def load_json(path: Path) -> dict | list:
    return json.loads(Path(path).read_text())


def epoch_line(row: dict) -> str:
    parts = [f"epoch {row['epoch']}"]
    parts.append(f"train loss {row['train_loss']:.4f} acc {row['train_acc']:.4f}")
    if "val_acc" in row:
        parts.append(f"val loss {row['val_loss']:.4f} acc {row['val_acc']:.4f}")
    if "val_pen_acc" in row:
        parts.append(f"writers loss {row['val_pen_loss']:.4f} acc {row['val_pen_acc']:.4f}")
    parts.append(f"test loss {row['test_loss']:.4f} acc {row['test_acc']:.4f}")
    parts.append(f"{row['train_seconds']:.1f}s")
    return " | ".join(parts)


def write_outputs(
    model: HRNN,
    card: dict,
    metrics: list[dict],
    test_set: tuple[torch.Tensor, torch.Tensor],
    run_dir: Path,
    weights_out: Path | None = None,
) -> dict:
    """Test the chosen weights once more, then write them with their card, matrix and plots."""
    test_loss, test_acc, predicted = evaluate(model, *test_set)
    matrix = confusion_matrix(test_set[1].cpu().numpy(), predicted.numpy())
    atomic_write_json(
        {"labels": list(range(10)), "matrix": matrix.tolist()}, run_dir / "confusion_matrix.json"
    )
    recipe = card.get("config", {})
    harder = [
        name
        for name, on in (
            ("augmented", recipe.get("augment")),
            ("label-smoothed", recipe.get("label_smoothing")),
        )
        if on
    ]
    train_label = f"train ({', '.join(harder)})" if harder else "train"
    save_plots(metrics, matrix, run_dir, train_label)
    weights_path = run_dir / "hrnn_mnist.pt"
    save_weights(model.cpu(), weights_path)
    card = {
        **card,
        "test_accuracy": test_acc,
        "test_loss": test_loss,
        "test_errors": int(matrix.sum() - np.trace(matrix)),
        "weights_sha256": sha256_file(weights_path),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
    }
    atomic_write_json(card, run_dir / "hrnn_mnist.json")
    if weights_out is not None:
        save_weights(model, weights_out)
        atomic_write_json(card, weights_out.with_suffix(".json"))
    print(
        f"final: test loss {test_loss:.4f} | test accuracy {test_acc:.4f} "
        f"({card['test_errors']} errors) | epoch {card['selected_epoch']} by {card['selected_by']}"
    )
    print(f"wrote {run_dir}/ (checkpoint.pt, metrics.json, hrnn_mnist.pt, hrnn_mnist.json, plots)")
    return card
