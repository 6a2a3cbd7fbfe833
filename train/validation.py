"""The validation sets a run calibrates on, read by its own model with torch.

The plain calibration reads what the run held out (MNIST validation, the validation pen
writers). The cautious one adds the same MNIST validation digits as the model meets them from
strangers: redrawn with a fat marker and stretched into a box (train.augment's transforms,
without randomness), and measures each input's stroke width as the reader graph does,
so that the temperature may warm for strokes wider than familiar digits'. No test data here.
"""

import numpy as np
import torch

from train.augment import box_stretch, fat_marker
from train.calibrate import Readings, stroke_widths
from train.model import HRNN

CHUNK = 1000  # images per forward pass
FAMILIAR = {"val": "mnist_validation", "val_pen": "pendigits_validation"}
UNFAMILIAR = {"mnist_fat_marker_validation": fat_marker, "mnist_box_validation": box_stretch}


@torch.no_grad()
def read(model: HRNN, pixels: torch.Tensor, labels: torch.Tensor) -> Readings:
    """Logits, stroke widths and labels of (N, 28, 28) pixels in 0..1."""
    model.eval()
    logits = [model(pixels[i : i + CHUNK]) for i in range(0, len(pixels), CHUNK)]
    return Readings(
        torch.cat(logits).cpu().double().numpy() if logits else np.zeros((0, 10)),
        stroke_widths(pixels.cpu().numpy()),
        labels.cpu().numpy().astype(np.int64),
    )


def validation_readings(
    model: HRNN, data: dict[str, tuple[torch.Tensor, torch.Tensor]], cautious: bool
) -> tuple[dict[str, Readings], dict[str, Readings]]:
    """(familiar, unfamiliar) readings of a run's validation splits (uint8 images, labels).

    Plain: the held-out splits under their run names (val, val_pen), nothing unfamiliar.
    Cautious: under the names the evaluations use, plus the MNIST validation digits redrawn.
    """
    held_out = {k: v for k, v in data.items() if k in FAMILIAR and len(v[0])}
    familiar = {
        (FAMILIAR[k] if cautious else k): read(model, images.float() / 255, labels)
        for k, (images, labels) in held_out.items()
    }
    unfamiliar = {}
    if cautious and "val" in held_out:
        images, labels = held_out["val"]
        pixels = images.float().div(255).unsqueeze(1)
        for name, transform in UNFAMILIAR.items():
            drawn = torch.cat(
                [transform(pixels[i : i + CHUNK]) for i in range(0, len(pixels), CHUNK)]
            )
            unfamiliar[name] = read(model, drawn.squeeze(1).clamp(0, 1), labels)
    return familiar, unfamiliar
