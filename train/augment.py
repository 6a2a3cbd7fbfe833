"""Make training digits look like the ways people really draw and write.

Everything is batched tensor work on the training device (a GPU does a batch in well
under a millisecond), driven by an explicit generator so that runs are reproducible.
"""

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from train.config import Config


@dataclass(frozen=True)
class AugmentConfig:
    rotate_degrees: float = 12.0  # people tilt their digits
    scale_range: float = 0.12  # ... draw them a little bigger or smaller
    shear: float = 0.15  # ... slant them
    shift_pixels: float = 2.5  # ... and off centre
    elastic_pixels: float = 1.5  # wobbly strokes: largest displacement of a smooth field
    elastic_grid: int = 4  # the field's coarseness: control points per side
    thickness_prob: float = 0.3  # share of digits whose strokes get thicker or thinner
    marker_prob: float = 0.0  # share drawn with a marker: strokes +2 px a side, digit refitted
    box_prob: float = 0.0  # share scanned as some archives store digits: stretched to a square

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def for_recipe(config: Config) -> AugmentConfig:
    """A run's augmentation: the defaults plus its recipe's marker and box shares."""
    return AugmentConfig(marker_prob=config.marker, box_prob=config.box)


def _uniform(shape: tuple[int, ...], low: float, high: float, generator: torch.Generator, device):
    values = torch.rand(shape, generator=generator, device=generator.device)
    return (low + (high - low) * values).to(device)


def augment(
    images: torch.Tensor, config: AugmentConfig, generator: torch.Generator
) -> torch.Tensor:
    """Random affine + elastic warp + stroke-width change of a batch (B, H, W) in [0, 1]."""
    batch, height, width = images.shape
    device = images.device
    angle = torch.deg2rad(_uniform((batch,), -1, 1, generator, device) * config.rotate_degrees)
    scale = 1 + _uniform((batch,), -1, 1, generator, device) * config.scale_range
    shear = _uniform((batch,), -1, 1, generator, device) * config.shear
    shift = _uniform((batch, 2), -1, 1, generator, device) * config.shift_pixels * 2 / width
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    # Maps output coordinates to input coordinates (affine_grid's convention).
    theta = torch.stack(
        [
            torch.stack([cos, -sin + shear * cos, shift[:, 0]], dim=1),
            torch.stack([sin, cos + shear * sin, shift[:, 1]], dim=1),
        ],
        dim=1,
    )
    grid = F.affine_grid(theta, (batch, 1, height, width), align_corners=False)
    if config.elastic_pixels > 0:
        points = (batch, 2, config.elastic_grid, config.elastic_grid)
        coarse = _uniform(points, -1, 1, generator, device)
        field = F.interpolate(coarse, size=(height, width), mode="bicubic", align_corners=True)
        grid = grid + field.permute(0, 2, 3, 1) * config.elastic_pixels * 2 / width
    warped = F.grid_sample(images.unsqueeze(1), grid, align_corners=False, padding_mode="zeros")
    if config.thickness_prob > 0:
        choice = _uniform((batch, 1, 1, 1), 0, 1, generator, device)
        thicker = F.max_pool2d(warped, 3, stride=1, padding=1)
        # A full 3x3 erosion wipes out MNIST's 2-px strokes; half of it only thins them.
        thinner = 0.5 * (warped - F.max_pool2d(-warped, 3, stride=1, padding=1))
        half = config.thickness_prob / 2
        warped = torch.where(choice > 1 - half, thinner, warped)
        warped = torch.where(choice < half, thicker, warped)
    if config.marker_prob > 0:
        chosen = _uniform((batch, 1, 1, 1), 0, 1, generator, device) < config.marker_prob
        warped = torch.where(chosen, fat_marker(warped), warped)
    if config.box_prob > 0:
        chosen = _uniform((batch, 1, 1, 1), 0, 1, generator, device) < config.box_prob
        warped = torch.where(chosen, box_stretch(warped), warped)
    return warped.squeeze(1).clamp_(0, 1)


def fat_marker(images: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) digits as drawn with a fat marker: strokes +2 px a side, refitted.

    A fat marker closes small loops (a 4's top, a 9's), so the shape itself turns ambiguous:
    seeing such digits teaches the model to be unsure of them, not to guess. Deterministic,
    so the cautious calibration (train.validation) draws its validation digits with it too.
    """
    height = images.shape[-2]
    return _refit(F.max_pool2d(images, 5, stride=1, padding=2), (height + 4) / height)


def box_stretch(images: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) digits as some scanned archives store them (Semeion's 16x16): stretched
    to fill a square box, one bit a pixel. A slanted 1 becomes a wide band MNIST never shows."""
    stretched = _fill_square(images)
    peak = stretched.amax(dim=(2, 3), keepdim=True)
    return (stretched > 0.5 * peak).to(images.dtype)  # half the digit's own darkest ink


def _refit(images: torch.Tensor, factor: float) -> torch.Tensor:
    """Shrink (B, 1, H, W) about the centre by `factor`: a thickened digit back in its box."""
    theta = torch.zeros(len(images), 2, 3, device=images.device, dtype=images.dtype)
    theta[:, 0, 0] = theta[:, 1, 1] = factor
    grid = F.affine_grid(theta, images.shape, align_corners=False)
    return F.grid_sample(images, grid, align_corners=False, padding_mode="zeros")


def _fill_square(images: torch.Tensor, ink: float = 0.25) -> torch.Tensor:
    """Stretch each (B, 1, H, W) digit's shorter side about its centre to its longer side."""
    batch, _, height, width = images.shape
    occupied = images[:, 0] > ink
    scale, centre = [], []
    for axis, size in ((1, width), (2, height)):  # x from the columns, then y from the rows
        seen = occupied.any(dim=axis)  # (B, size)
        first = seen.float().argmax(dim=1)
        last = size - 1 - seen.flip(1).float().argmax(dim=1)
        scale.append((last - first + 1).float())
        centre.append((first + last + 1).float() / size - 1)  # normalised, align_corners=False
    side = torch.maximum(scale[0] * height / width, scale[1])  # in rows; frames are square
    blank = ~occupied.flatten(1).any(dim=1)
    theta = torch.zeros(batch, 2, 3, device=images.device, dtype=images.dtype)
    for k, extent in enumerate((scale[0] * height / width, scale[1])):
        factor = torch.where(blank, torch.ones_like(side), extent / side.clamp(min=1))
        theta[:, k, k] = factor
        theta[:, k, 2] = centre[k] * (1 - factor)  # the digit's centre stays where it was
    grid = F.affine_grid(theta, images.shape, align_corners=False)
    return F.grid_sample(images, grid, align_corners=False, padding_mode="zeros")
