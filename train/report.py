"""What a run shows: one line an epoch, curves, and the test report's confusion matrix."""

import json
from pathlib import Path

import numpy as np


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, classes: int = 10) -> np.ndarray:
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (labels, predicted), 1)
    return matrix


def train_label(hparams: dict) -> str:
    """What the training curve measured: augmented or label-smoothed digits score lower."""
    harder = [
        name
        for name, on in (
            ("augmented", hparams.get("augment")),
            ("label-smoothed", hparams.get("label_smoothing")),
        )
        if on
    ]
    return f"train ({', '.join(harder)})" if harder else "train"


def save_plots(
    metrics: list[dict], matrix: np.ndarray | None, run_dir: Path, train_label: str = "train"
) -> list[Path]:
    """curves.png, and confusion_matrix.png of the test report when there is one; skipped
    (with a note) where matplotlib is absent."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no PNG plots (metrics.json has the numbers)")
        return []
    epochs = [m["epoch"] for m in metrics]
    figure, (loss_axis, acc_axis) = plt.subplots(1, 2, figsize=(10, 4))
    for split, label in (("train", train_label), ("val", "validation"), ("val_pen", "writers")):
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
    if matrix is None:
        return [curves]

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
    parts.append(f"{row['train_seconds']:.1f}s")
    return " | ".join(parts)
