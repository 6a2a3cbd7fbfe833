"""What a run leaves behind for people: curves, a confusion matrix, and the model card."""

import json
from pathlib import Path

import numpy as np


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, classes: int = 10) -> np.ndarray:
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (labels, predicted), 1)
    return matrix


def save_plots(metrics: list[dict], matrix: np.ndarray, run_dir: Path) -> list[Path]:
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
    for key, label in (("train_loss", "train"), ("val_loss", "validation"), ("test_loss", "test")):
        if metrics and key in metrics[0]:
            loss_axis.plot(epochs, [m[key] for m in metrics], marker="o", label=label)
    for key, label in (("train_acc", "train"), ("val_acc", "validation"), ("test_acc", "test")):
        if metrics and key in metrics[0]:
            acc_axis.plot(epochs, [m[key] for m in metrics], marker="o", label=label)
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
