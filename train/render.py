"""Pen strokes -> MNIST-style 28x28 drawings, batched on the training device.

A digit drawn on the page is cropped, scaled to a 20-px box and centred by its centre of
mass before the model sees it; this draws strokes the same way, with each sample's brush
width, sampling density, slant, rotation, aspect and jitter drawn at random, so that the
model learns the writer's shapes rather than one way of rendering them.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class RenderConfig:
    image_size: int = 28
    digit_box: float = 20.0  # the longer side of the ink, stroke width included (MNIST's)
    # brush width in output pixels (MNIST's ~2.4): a fine pen to a marker
    width_range: tuple[float, float] = (1.4, 4.8)
    plain_width: float = 2.5  # validation's brush: MNIST's typical stroke
    keep_range: tuple[float, float] = (0.5, 1.0)  # share of pen samples kept: sparser polylines
    sharp_turn: float = 0.7  # a sample where the pen turns more than acos(this) is always kept
    rotate_degrees: float = 10.0
    shear: float = 0.25  # slant
    aspect: float = 0.15  # x squeezed or stretched by up to this share
    jitter: float = 0.012  # per-point noise, as a share of the digit's size


def _uniform(shape, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(shape, generator=generator, device=generator.device)


def render(
    points: torch.Tensor,
    stroke_ids: torch.Tensor,
    generator: torch.Generator | None,
    config: RenderConfig = RenderConfig(),
) -> torch.Tensor:
    """(B, P, 2) points + (B, P) stroke ids (-1 = padding) -> (B, size, size) ink in [0, 1].

    generator None draws every digit plainly (plain_width brush, no distortion): for validation.
    """
    device = points.device
    batch, _, _ = points.shape
    valid = stroke_ids >= 0
    longest = int(valid.sum(1).max())
    points, stroke_ids, valid = points[:, :longest], stroke_ids[:, :longest], valid[:, :longest]

    def draw(low: float, high: float, shape=(batch,)) -> torch.Tensor:
        if generator is None:
            return torch.full(shape, (low + high) / 2, device=device)
        return _uniform(shape, low, high, generator).to(device)

    # Centre each digit on its box and scale to unit size, then distort (y points down).
    low = torch.where(valid[..., None], points, torch.inf).amin(1, keepdim=True)
    high = torch.where(valid[..., None], points, -torch.inf).amax(1, keepdim=True)
    size = (high - low).amax(-1, keepdim=True).clamp_min(1.0)
    xy = (points - (low + high) / 2) / size
    jitter = draw(-1, 1, xy.shape) * (config.jitter if generator is not None else 0.0)
    angle = torch.deg2rad(draw(-1, 1) * config.rotate_degrees)
    shear, aspect = draw(-1, 1) * config.shear, 1 + draw(-1, 1) * config.aspect
    x, y = xy[..., 0] + jitter[..., 0], xy[..., 1] + jitter[..., 1]
    x = (x - shear[:, None] * y) * aspect[:, None]
    cos, sin = torch.cos(angle)[:, None], torch.sin(angle)[:, None]
    xy = torch.stack([cos * x - sin * y, sin * x + cos * y], dim=-1)

    # Sparser sampling: drop pen samples, always keeping each stroke's first and last and its
    # corners (dropping the corner of a 7 would cut it off and draw a different digit).
    first = torch.ones_like(valid)
    first[:, 1:] = stroke_ids[:, 1:] != stroke_ids[:, :-1]
    last = torch.ones_like(valid)
    last[:, :-1] = stroke_ids[:, :-1] != stroke_ids[:, 1:]
    coming, going = xy - xy.roll(1, 1), xy.roll(-1, 1) - xy
    turn = (coming * going).sum(-1) / (coming.norm(dim=-1) * going.norm(dim=-1)).clamp_min(1e-9)
    corner = ~first & ~last & (turn < config.sharp_turn)
    keep_share = draw(*config.keep_range)[:, None]
    kept = valid & (first | last | corner | (draw(0, 1, valid.shape) < keep_share))
    index = torch.arange(longest, device=device).expand(batch, -1)
    previous = torch.where(kept, index, -1).cummax(1).values.roll(1, 1)
    previous[:, 0] = -1
    joined = (previous >= 0) & (stroke_ids.gather(1, previous.clamp_min(0)) == stroke_ids)
    start = torch.where(
        joined[..., None], xy.gather(1, previous.clamp_min(0)[..., None].expand_as(xy)), xy
    )

    # Scale the ink (stroke width included) to the digit box, centre of mass to the middle.
    width = draw(*config.width_range)
    if generator is None:
        width = torch.full_like(width, config.plain_width)
    low = torch.where(kept[..., None], xy, torch.inf).amin(1)
    high = torch.where(kept[..., None], xy, -torch.inf).amax(1)
    scale = (config.digit_box - width) / (high - low).amax(-1).clamp_min(1e-3)
    length = (xy - start).norm(dim=-1) + (width / (2 * scale))[:, None]  # caps weigh a little
    mass = torch.where(kept, length, 0.0)
    middle = (xy + start) / 2
    centre = (middle * mass[..., None]).sum(1) / mass.sum(1, keepdim=True)
    offset = (config.image_size - 1) / 2 + 0.5
    to_pixels = lambda p: (p - centre[:, None]) * scale[:, None, None] + offset  # noqa: E731
    ink = _draw_segments(to_pixels(start), to_pixels(xy), kept, width, config.image_size)
    ink = _centre_of_mass_to(ink, offset)
    # The sub-pixel move blurs thin strokes; a pen's ink is full black wherever it is thickest.
    return ink / ink.amax((1, 2), keepdim=True).clamp_min(1e-6)


def _centre_of_mass_to(ink: torch.Tensor, target: float) -> torch.Tensor:
    """Move each image's centre of mass to (target, target), as the page's preprocessing does.

    The estimate above counts retraced ink twice (the flag of a 1); this measures the drawing.
    """
    batch, size, _ = ink.shape
    grid = torch.arange(size, device=ink.device, dtype=ink.dtype)
    mass = ink.sum((1, 2)).clamp_min(1e-6)
    cx = (ink.sum(1) * grid).sum(1) / mass
    cy = (ink.sum(2) * grid).sum(1) / mass
    theta = torch.zeros(batch, 2, 3, device=ink.device, dtype=ink.dtype)
    theta[:, 0, 0] = theta[:, 1, 1] = 1
    theta[:, 0, 2], theta[:, 1, 2] = (cx - target) * 2 / size, (cy - target) * 2 / size
    grid = F.affine_grid(theta, (batch, 1, size, size), align_corners=False)
    return F.grid_sample(ink[:, None], grid, align_corners=False).squeeze(1)


def _draw_segments(
    start: torch.Tensor, end: torch.Tensor, kept: torch.Tensor, width: torch.Tensor, size: int
) -> torch.Tensor:
    """Anti-aliased round-capped segments: coverage from each pixel centre's distance.

    x and y are kept apart (no (B, P, pixels, 2) tensors): this is the renderer's hot loop.
    """
    grid = torch.arange(size, device=start.device, dtype=start.dtype)
    px, py = grid.repeat(size).view(1, 1, -1), grid.repeat_interleave(size).view(1, 1, -1)
    ax, ay = start[..., 0:1], start[..., 1:2]  # (B, P, 1)
    dx, dy = end[..., 0:1] - ax, end[..., 1:2] - ay
    span = (dx * dx + dy * dy).clamp_min(1e-9)
    rx, ry = px - ax, py - ay  # (B, P, pixels)
    along = ((rx * dx + ry * dy) / span).clamp_(0, 1)
    rx.sub_(along * dx)
    ry.sub_(along * dy)
    squared = rx.mul_(rx).add_(ry.mul_(ry))
    squared.masked_fill_(~kept[..., None], torch.inf)
    distance = squared.amin(1).sqrt_()
    ink = (width[:, None] / 2 + 0.5 - distance).clamp_(0, 1)
    return ink.view(-1, size, size)
