"""Training augmentation: what each change does to a digit, and that it is reproducible."""

import numpy as np
import torch

from train.augment import AugmentConfig, augment

ONLY_MARKER = AugmentConfig(
    rotate_degrees=0, scale_range=0, shear=0, shift_pixels=0, elastic_pixels=0, thickness_prob=0
)


def four(open_top: bool = True) -> torch.Tensor:
    """An MNIST-like 4 (white on black, 0..1): two uprights and a bar, the top open or closed."""
    image = torch.zeros(28, 28)
    image[5:17, 11:13] = 1  # left upright, down to the bar
    image[5:24, 16:18] = 1  # right upright, to the bottom
    image[15:17, 8:20] = 1  # the bar
    if not open_top:
        image[5:7, 11:18] = 1
    return image


def test_a_marker_fattens_strokes_closes_small_gaps_and_keeps_the_digit_in_the_frame():
    digits = torch.stack([four()] * 4)
    config = AugmentConfig(**{**ONLY_MARKER.to_dict(), "marker_prob": 1.0})
    fat = augment(digits, config, torch.Generator().manual_seed(0))
    assert fat.sum() > 1.5 * digits.sum()  # strokes +2 px a side, then shrunk back
    rows, cols = np.nonzero(fat[0].numpy() > 0.5)
    assert rows.min() >= 2 and rows.max() <= 25 and cols.min() >= 2 and cols.max() <= 25
    gap = fat[0, 6:9, 13:16]  # between the uprights, at the top: the gap a fat pen closes
    assert gap.min() > 0.5 and four()[6:9, 13:16].max() == 0


def test_without_a_marker_share_no_digit_is_fattened():
    digits = torch.stack([four()] * 8)
    kept = augment(digits, ONLY_MARKER, torch.Generator().manual_seed(0))
    torch.testing.assert_close(kept, digits, atol=1e-5, rtol=0)


def test_the_marker_share_is_the_share_of_digits_drawn_fat():
    digits = torch.stack([four()] * 2000)
    config = AugmentConfig(**{**ONLY_MARKER.to_dict(), "marker_prob": 0.25})
    fat = augment(digits, config, torch.Generator().manual_seed(1))
    share = ((fat.sum((1, 2)) > 1.5 * digits.sum((1, 2))).float().mean()).item()
    assert abs(share - 0.25) < 0.03


def test_the_same_generator_seed_gives_the_same_augmentation():
    digits = torch.stack([four(), four(open_top=False)] * 4)
    config = AugmentConfig(marker_prob=0.5)
    first = augment(digits, config, torch.Generator().manual_seed(7))
    again = augment(digits, config, torch.Generator().manual_seed(7))
    torch.testing.assert_close(first, again, atol=0, rtol=0)
