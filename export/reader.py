"""The reader: ink plane in, calibrated beliefs out, as one torch module that exports to ONNX.

export/reference.py says the normalisation in numpy, one image at a time; this is the same
steps for a batch, in ops that onnxruntime and onnxruntime-web both run (ReduceMax/Min for the
ink's box, GridSample + AveragePool for crop-and-fit, MaxPool for evening strokes, sums for the
centre of mass), then the HRNN, then the width-warmed, calibrated softmax. The page, the API,
the CLI and the browser all hand this graph their ink plane, so they cannot read it differently.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from export import reference as ref
from train.model import HRNN


def stroke_widths(mask: torch.Tensor) -> torch.Tensor:
    """(N,) reference.stroke_width of (N, H, W) 0/1 masks (0 for an empty one)."""
    padded = F.pad(mask, (1, 1, 1, 1))
    edges = (padded[:, 1:] - padded[:, :-1]).abs().sum((1, 2))
    edges = edges + (padded[:, :, 1:] - padded[:, :, :-1]).abs().sum((1, 2))
    area = mask.sum((1, 2))
    return torch.where(edges > 0, 2.0 * area / (edges.clamp(min=1.0) * math.pi / 4), 0.0)


def bounds(mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """(top, bottom, left, right) inclusive float (N,) of each mask's true pixels, and (N,) bool
    whether there are any; an empty mask gets the box of its first pixel."""
    rows, cols = mask.amax(2), mask.amax(1)
    found = rows.amax(1) > 0
    out = []
    for line in (rows, cols):
        index = torch.arange(line.shape[1], dtype=line.dtype, device=line.device)
        first = torch.where(line > 0, index, float(2**24)).amin(1)
        last = torch.where(line > 0, index, -1.0).amax(1)
        out += [torch.where(found, first, 0.0), torch.where(found, last, 0.0)]
    return (*out, found)


def place(
    plane: torch.Tensor, size: int, origin: tuple, scale: torch.Tensor, at: tuple
) -> torch.Tensor:
    """reference.place for a batch: (N, H, W) -> (N, size, size); origin, scale, at are (N,)."""
    height, width = plane.shape[1], plane.shape[2]
    steps = (torch.arange(size * ref.SAMPLES, dtype=plane.dtype) + 0.5) / ref.SAMPLES
    ys = origin[0][:, None] + (steps[None] - at[0][:, None]) / scale[:, None]
    xs = origin[1][:, None] + (steps[None] - at[1][:, None]) / scale[:, None]
    gy = 2.0 * ys / height - 1.0
    gx = 2.0 * xs / width - 1.0
    count = size * ref.SAMPLES
    grid = torch.stack(
        [gx[:, None, :].expand(-1, count, -1), gy[:, :, None].expand(-1, -1, count)], dim=-1
    )
    fine = F.grid_sample(
        plane[:, None], grid, mode="bilinear", padding_mode="zeros", align_corners=False
    )
    return F.avg_pool2d(fine, ref.SAMPLES)[:, 0]


def _step(plane: torch.Tensor, step: int, sign: float) -> torch.Tensor:
    """reference.morph_step: dilation (sign 1) or erosion (sign -1) of (N, 1, h, w)."""
    x = sign * plane
    if step % 2 == 0:
        out = F.max_pool2d(x, 3, 1, 1)
    else:
        out = torch.maximum(F.max_pool2d(x, (3, 1), 1, (1, 0)), F.max_pool2d(x, (1, 3), 1, (0, 1)))
    return sign * out


def target_widths(width: torch.Tensor) -> torch.Tensor:
    """reference.target_width for (N,) widths."""
    low, high = (edge * ref.MNIST_STROKE for edge in ref.STROKE_RANGE)
    wide = high * (width.clamp(min=high) / high) ** ref.THICK_POWER
    thin = low * (width.clamp(min=1e-6) / low) ** ref.THIN_POWER
    return torch.where(width > high, wide, torch.where((width > 0) & (width < low), thin, width))


def even_strokes(fine: torch.Tensor) -> torch.Tensor:
    """reference.even_strokes for (N, h, w): all images step together, each blends its own."""
    width = stroke_widths((fine > 0.5).to(fine.dtype)) / ref.FINE
    radius = ((target_widths(width) - width) * ref.FINE / 2).clamp(-ref.MAX_STEPS, ref.MAX_STEPS)
    whole = radius.abs().floor()
    part = radius.abs() - whole
    grown, shrunk = [fine[:, None]], [fine[:, None]]
    for step in range(ref.MAX_STEPS + 1):
        grown.append(_step(grown[-1], step, 1.0))
        shrunk.append(_step(shrunk[-1], step, -1.0))
    moved = torch.zeros_like(fine)
    for k in range(ref.MAX_STEPS + 2):
        weight = torch.where(whole == k, 1 - part, 0.0) + torch.where(whole + 1 == k, part, 0.0)
        chosen = torch.where(radius[:, None, None] > 0, grown[k][:, 0], shrunk[k][:, 0])
        moved = moved + weight[:, None, None] * chosen
    lost = (radius < 0) & (moved.amax((1, 2)) <= 0.5)
    return torch.where(lost[:, None, None], fine, moved)


def normalise(ink: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, H, W) ink 0..1 -> ((N, 28, 28) 0..255 images, (N,) bool ink_found)."""
    ink = torch.where(ink == ink, ink, 0.0).clamp(0.0, 1.0)  # NaN is paper
    height, width = ink.shape[1], ink.shape[2]
    rows = torch.arange(height, dtype=ink.dtype)[None, :, None]
    cols = torch.arange(width, dtype=ink.dtype)[None, None, :]
    core = (ink > ref.CORE).to(ink.dtype)
    top, bottom, left, right, found = bounds(core)
    reach = 1 + torch.round(ref.SOFT_EDGE * torch.maximum(bottom - top, right - left))
    grown = (rows >= (top - reach)[:, None, None]) & (rows <= (bottom + reach)[:, None, None])
    grown = (
        grown & (cols >= (left - reach)[:, None, None]) & (cols <= (right + reach)[:, None, None])
    )
    top, bottom, left, right, _ = bounds((grown & (ink > 0)).to(ink.dtype))
    longer = torch.maximum(bottom - top, right - left) + 1
    extent = ref.DOT_EXTENT * torch.maximum(
        torch.ones_like(top) * height, torch.ones_like(top) * width
    )
    dot = (longer < extent) & (longer < ref.DOT_RATIO * stroke_widths(core))
    found = found & ~dot
    inside = (rows >= top[:, None, None]) & (rows <= bottom[:, None, None])
    inside = inside & (cols >= left[:, None, None]) & (cols <= right[:, None, None])
    side, fine_box = ref.FINE * ref.IMAGE_SIZE, ref.FINE * ref.DIGIT_BOX
    scale = fine_box / longer
    at = ((side - (bottom - top + 1) * scale) / 2, (side - (right - left + 1) * scale) / 2)
    fine = place(ink * inside.to(ink.dtype), side, (top, left), scale, at)
    fine = fine / fine.amax((1, 2), keepdim=True).clamp(min=1e-6)
    fine = even_strokes(fine)
    fine = torch.where(fine > ref.FAINT, fine, 0.0)
    top, bottom, left, right, _ = bounds(fine)
    scale = ref.DIGIT_BOX / (torch.maximum(bottom - top, right - left) + 1)
    mass = fine.sum((1, 2)).clamp(min=1e-6)
    index = torch.arange(side, dtype=ink.dtype) + 0.5
    centre = ((fine.sum(2) * index).sum(1) / mass, (fine.sum(1) * index).sum(1) / mass)
    at = tuple(
        torch.minimum(
            torch.round(ref.IMAGE_SIZE / 2 - ((c - edge) * scale - 0.5)).clamp(min=0.0),
            ref.IMAGE_SIZE - n * scale,
        )
        for c, edge, n in zip(
            centre, (top, left), (bottom - top + 1, right - left + 1), strict=True
        )
    )
    digit = place(fine, ref.IMAGE_SIZE, (top, left), scale, at).clamp(min=0.0)
    digit = digit * (255.0 / digit.amax((1, 2), keepdim=True).clamp(min=1e-6))
    return torch.where(found[:, None, None], digit, 0.0), found


class Reader(nn.Module):
    """Ink plane -> every output of OUTPUT_NAMES; the calibration constants are the card's."""

    def __init__(self, model: HRNN, temperature: float, wide_from: float, wide_power: float):
        super().__init__()
        self.model = model
        self.temperature, self.wide_from, self.wide_power = temperature, wide_from, wide_power

    def forward(self, ink: torch.Tensor) -> tuple[torch.Tensor, ...]:
        image, found = normalise(ink)
        logits, row_logits = self.model(image / 255.0, per_row=True)
        width = stroke_widths((image / 255.0 > ref.INK_AT).to(image.dtype))
        warmth = (width / self.wide_from).clamp(min=1.0) ** self.wide_power
        temperature = (self.temperature * warmth)[:, None]
        keep = found.to(image.dtype)[:, None]
        probabilities = torch.softmax(logits / temperature, dim=-1) * keep
        rows = torch.softmax(row_logits / temperature[:, :, None], dim=-1) * keep[:, :, None]
        share = torch.where(ink == ink, ink, 0.0).clamp(0.0, 1.0).mean((1, 2))  # NaN is paper
        return probabilities, rows, image, logits, row_logits, width, found, share
